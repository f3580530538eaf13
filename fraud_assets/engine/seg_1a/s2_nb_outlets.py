"""1A S2 — NB2 outlet count for multi-site merchants, truncated at N ≥ 2.

Spec: spec/engine/1A.md, section "S2 — NB2 outlet count". Per attempt a Gamma(φ, 1)
from `1A.s2.nb_gamma` and a Poisson((μ/φ)·G) from `1A.s2.nb_poisson` (separate
sequential streams, so gamma retries never shift Poisson draws); the first K ≥ 2
is N. The rejection sampler is a numba kernel (`nb_sample_nb`) beside its
plain-Python reference (`nb_sample_py`); tests pin them equal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numba
import numpy as np
import polars as pl

from fraud_assets.core.errors import EngineFailure
from fraud_assets.core.rng import gamma_nb, gamma_py, poisson_nb, poisson_py
from fraud_assets.engine.seg_1a import datasets as ds
from fraud_assets.engine.seg_1a.common import key_list, missing_output, outcome, tally
from fraud_assets.engine.seg_1a.config import Nb
from fraud_assets.engine.state import CheckOutcome, StateContext, StateResult

FAMILY_GAMMA = "1A.s2.nb_gamma"
FAMILY_POISSON = "1A.s2.nb_poisson"

CHECK_NB_NUMERIC, CODE_NB_NUMERIC = "nb_numeric_invalid", "1A-S2-001"
CHECK_NB_EXHAUSTED, CODE_NB_EXHAUSTED = "nb_rejection_exhausted", "1A-S2-002"

_P0 = np.uint64(0)


def add_mu_phi(hurdle: pl.DataFrame, features: pl.DataFrame, coefficients: pl.DataFrame,
               cfg: Nb) -> pl.DataFrame:
    """μ = exp(γ0 + γ_ch + β_mu) and φ = exp(δ0 + δ_ch + δ_gdp·(ln gdp − c) + β_phi) for multi-site merchants."""
    multi = hurdle.filter(pl.col("is_multi")).select("merchant_id")
    f = (multi.join(features, on="merchant_id", how="left")
         .join(coefficients.select("mcc", "beta_mu_mcc", "beta_phi_mcc"), on="mcc", how="left")
         .sort("merchant_id"))
    sym = f.get_column("channel_sym").to_list()
    lng = f.get_column("ln_gdp_pc").to_list()
    bmu = f.get_column("beta_mu_mcc").fill_null(0.0).to_list()
    bphi = f.get_column("beta_phi_mcc").fill_null(0.0).to_list()
    m, d = cfg.mean, cfg.dispersion
    mu = [_exp(math.fsum((m.intercept, getattr(m.channel, s), b))) for s, b in zip(sym, bmu, strict=True)]
    phi = [_exp(math.fsum((d.intercept, getattr(d.channel, s), d.ln_gdp_pc_slope * (g - d.ln_gdp_pc_center), b)))
           if g is not None else math.nan for s, g, b in zip(sym, lng, bphi, strict=True)]
    return f.select("merchant_id").with_columns(
        pl.Series("mu", mu, dtype=pl.Float64), pl.Series("phi", phi, dtype=pl.Float64))


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


# ---- the rejection sampler -------------------------------------------------------------------


def nb_sample_py(gk: int, gch: int, gcl: int, pk: int, pch: int, pcl: int, mu: float, phi: float,
                 max_attempts: int) -> tuple[int, int, int, int, int, int]:
    """Reference: (N or -1, rejections, gamma uniforms, gamma blocks, poisson uniforms, poisson blocks)."""
    qg = 0
    qp = 0
    gu = gb = pu = pb = 0
    ratio = mu / phi
    for t in range(max_attempts):
        g = gamma_py(gk, gch, gcl, 0, qg, phi)
        qg = g.next_q
        gu += g.uniforms
        gb += g.blocks
        lam = ratio * g.value
        k = poisson_py(pk, pch, pcl, 0, qp, lam)
        qp = k.next_q
        pu += k.uniforms
        pb += k.blocks
        if k.value >= 2:
            return k.value, t, gu, gb, pu, pb
    return -1, max_attempts, gu, gb, pu, pb


@numba.njit(cache=True)
def _nb_one_nb(gk, gch, gcl, pk, pch, pcl, mu, phi, max_attempts):
    qg = np.uint64(0)
    qp = np.uint64(0)
    gu = 0
    gb = 0
    pu = 0
    pb = 0
    ratio = mu / phi
    for t in range(max_attempts):
        g, u1, b1, qg = gamma_nb(gk, gch, gcl, _P0, qg, phi)
        gu += u1
        gb += b1
        lam = ratio * g
        k, u2, b2, qp = poisson_nb(pk, pch, pcl, _P0, qp, lam)
        pu += u2
        pb += b2
        if k >= 2:
            return k, t, gu, gb, pu, pb
    return np.int64(-1), max_attempts, gu, gb, pu, pb


@numba.njit(cache=True)
def nb_sample_nb(gk, gch, gcl, pk, pch, pcl, mu, phi, max_attempts):
    """Kernel over merchants: arrays (N or -1, rejections, gamma u, gamma b, poisson u, poisson b)."""
    n = mu.shape[0]
    out = np.empty((n, 6), dtype=np.int64)
    for i in range(n):
        r = _nb_one_nb(gk[i], gch[i], gcl[i], pk[i], pch[i], pcl[i], mu[i], phi[i], max_attempts)
        for j in range(6):
            out[i, j] = r[j]
    return out


def sample(ids: np.ndarray, mu: np.ndarray, phi: np.ndarray, root, seed: int, max_attempts: int,
           *, reference: bool = False) -> np.ndarray:
    """(n, 6) int64 results for merchants `ids` (numba kernel, or the Python reference)."""
    if ids.size == 0:
        return np.zeros((0, 6), dtype=np.int64)
    g = root.streams(FAMILY_GAMMA, ids.astype(np.int64), seed=seed)
    p = root.streams(FAMILY_POISSON, ids.astype(np.int64), seed=seed)
    if not reference:
        return nb_sample_nb(g.k, g.c_hi, g.c_lo, p.k, p.c_hi, p.c_lo,
                            np.ascontiguousarray(mu, dtype=np.float64),
                            np.ascontiguousarray(phi, dtype=np.float64), int(max_attempts))
    rows = [nb_sample_py(int(g.k[i]), int(g.c_hi[i]), int(g.c_lo[i]), int(p.k[i]), int(p.c_hi[i]),
                         int(p.c_lo[i]), float(mu[i]), float(phi[i]), int(max_attempts))
            for i in range(ids.size)]
    return np.array(rows, dtype=np.int64).reshape(ids.size, 6)


def run(inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> StateResult:
    cfg: Nb = ctx.config.nb
    frame = add_mu_phi(inputs[ds.HURDLE_DECISIONS], inputs[ds.MERCHANT_FEATURES],
                       inputs[ds.MODEL_COEFFICIENTS], cfg)
    bad = frame.filter(~(pl.col("mu").is_finite() & (pl.col("mu") > 0) & pl.col("phi").is_finite()
                         & (pl.col("phi") > 0)) | pl.col("mu").is_null() | pl.col("phi").is_null())
    if bad.height:
        raise EngineFailure(CODE_NB_NUMERIC, f"{bad.height} merchants with non-finite or non-positive mu/phi",
                            dataset=ds.NB_OUTLET_DRAWS, keys=key_list(bad, ["merchant_id"]))
    ids = frame.get_column("merchant_id").to_numpy()
    res = sample(ids, frame.get_column("mu").to_numpy(), frame.get_column("phi").to_numpy(),
                 ctx.world.rng, ctx.world.seed, cfg.max_attempts)
    exhausted = ids[res[:, 0] < 0] if ids.size else ids
    if exhausted.size:
        raise EngineFailure(CODE_NB_EXHAUSTED, f"{exhausted.size} merchants without K >= 2 in "
                            f"{cfg.max_attempts} attempts", dataset=ds.NB_OUTLET_DRAWS,
                            keys=exhausted.tolist())
    out = ds.conform(frame.with_columns(
        pl.Series("n_outlets", res[:, 0]), pl.Series("nb_rejections", res[:, 1]),
        pl.Series("gamma_draws", res[:, 2]), pl.Series("poisson_draws", res[:, 4]),
    ), ds.NB_OUTLET_DRAWS)
    n = out.height
    rej = int(res[:, 1].sum())
    return StateResult(
        outputs={ds.NB_OUTLET_DRAWS: out},
        rng=[tally(FAMILY_GAMMA, n, res[:, 2].sum(), res[:, 3].sum()),
             tally(FAMILY_POISSON, n, res[:, 4].sum(), res[:, 5].sum())],
        report={"multi_site": n, "median_n": float(np.median(res[:, 0])) if n else None,
                "max_n": int(res[:, 0].max()) if n else None,
                "rejection_rate": rej / (rej + n) if n else None},
    )


def check_nb_numeric(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    """1A-S2-001: μ and φ finite and > 0."""
    nb = result.outputs.get(ds.NB_OUTLET_DRAWS)
    if nb is None:
        return missing_output(CODE_NB_NUMERIC, ds.NB_OUTLET_DRAWS)
    ok = pl.col("mu").is_finite() & (pl.col("mu") > 0) & pl.col("phi").is_finite() & (pl.col("phi") > 0)
    bad = nb.filter(~ok.fill_null(False))
    return outcome(CODE_NB_NUMERIC, key_list(bad, ["merchant_id"]), nb.height)


def check_nb_exhausted(result: StateResult, inputs: Mapping[str, pl.DataFrame],
                       ctx: StateContext) -> CheckOutcome:
    """1A-S2-002: every row accepted (N ≥ 2) within max_attempts, draw counts consistent."""
    nb = result.outputs.get(ds.NB_OUTLET_DRAWS)
    if nb is None:
        return missing_output(CODE_NB_EXHAUSTED, ds.NB_OUTLET_DRAWS)
    max_att = ctx.config.nb.max_attempts
    attempts = pl.col("nb_rejections") + 1
    ok = ((pl.col("n_outlets") >= 2) & (pl.col("nb_rejections") >= 0) & (pl.col("nb_rejections") < max_att)
          & (pl.col("gamma_draws") >= 3 * attempts) & (pl.col("poisson_draws") >= attempts))
    bad = nb.filter(~ok.fill_null(False))
    return outcome(CODE_NB_EXHAUSTED, key_list(bad, ["merchant_id"]), nb.height, max_attempts=max_att)
