"""1A S4 — foreign-country target: expansion hurdle, then zero-truncated Poisson.

Spec: spec/engine/1A.md, section "S4". One row per multi-site merchant. Ineligible
merchants and those without foreign candidates draw nothing; the others draw one
uniform from `1A.s4.expand`, and the expanded ones Poisson(λ) draws from
`1A.s4.ztp` until the first K ≥ 1 (at most `max_zero_attempts`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import polars as pl

from fraud_assets.core.rng import StreamArray, blocks, sample_poisson, u01
from fraud_assets.engine.seg_1a import datasets as ds
from fraud_assets.engine.seg_1a.common import key_list, logistic, missing_output, outcome, tally
from fraud_assets.engine.seg_1a.config import Crossborder
from fraud_assets.engine.state import CheckOutcome, StateContext, StateResult

FAMILY_EXPAND = "1A.s4.expand"
FAMILY_ZTP = "1A.s4.ztp"

NOT_ELIGIBLE, NO_ADMISSIBLE, NO_EXPANSION = "NOT_ELIGIBLE", "NO_ADMISSIBLE", "NO_EXPANSION"
ACCEPTED, ZTP_EXHAUSTED = "ACCEPTED", "ZTP_EXHAUSTED"
REASONS = (ACCEPTED, NO_ADMISSIBLE, NO_EXPANSION, NOT_ELIGIBLE, ZTP_EXHAUSTED)

CHECK_ZTP_INVALID, CODE_ZTP_INVALID = "ztp_invalid", "1A-S4-001"


def base_frame(nb: pl.DataFrame, features: pl.DataFrame, candidates: pl.DataFrame,
               cfg: Crossborder) -> pl.DataFrame:
    """Multi-site merchants with N, openness, eligibility, A and the link values p_x and λ."""
    a = candidates.filter(~pl.col("is_home")).group_by("merchant_id").agg(pl.len().alias("admissible_count"))
    f = (nb.select("merchant_id", "n_outlets")
         .join(features.select("merchant_id", "openness", "is_eligible"), on="merchant_id", how="left")
         .join(a, on="merchant_id", how="left")
         .with_columns(pl.col("admissible_count").fill_null(0))
         .sort("merchant_id"))
    lnn = [math.log(n) for n in f.get_column("n_outlets").to_list()]
    op = f.get_column("openness").to_list()
    x, z = cfg.expansion, cfg.ztp
    px = [logistic(math.fsum((x.intercept, x.ln_n * a_, x.openness * o))) for a_, o in zip(lnn, op, strict=True)]
    lam = [math.exp(math.fsum((z.intercept, z.ln_n * a_, z.openness * o))) for a_, o in zip(lnn, op, strict=True)]
    return f.with_columns(pl.Series("_px", px, dtype=pl.Float64), pl.Series("_lam", lam, dtype=pl.Float64))


def ztp_draws(sa: StreamArray, lam: np.ndarray, max_attempts: int) -> tuple[np.ndarray, ...]:
    """Per key: (k_target, attempts, zero draws, uniforms, blocks); sequential q per key."""
    n = sa.size
    k = np.zeros(n, dtype=np.int64)
    attempts = np.zeros(n, dtype=np.int64)
    uni = np.zeros(n, dtype=np.int64)
    blk = np.zeros(n, dtype=np.int64)
    q = np.zeros(n, dtype=np.uint64)
    pending = np.arange(n)
    for _ in range(max_attempts):
        if pending.size == 0:
            break
        sub = StreamArray(sa.k[pending], sa.c_hi[pending], sa.c_lo[pending])
        d = sample_poisson(sub, lam[pending], q=q[pending])
        attempts[pending] += 1
        uni[pending] += d.uniforms
        blk[pending] += d.blocks
        q[pending] = d.next_q
        hit = d.values >= 1
        k[pending[hit]] = d.values[hit]
        pending = pending[~hit]
    zeros = np.where(k >= 1, attempts - 1, attempts)
    return k, attempts, zeros, uni, blk


def build_target(frame: pl.DataFrame, root, seed: int, cfg: Crossborder) -> tuple[pl.DataFrame, list]:
    n = frame.height
    ids = frame.get_column("merchant_id").to_numpy().astype(np.int64)
    elig = frame.get_column("is_eligible").fill_null(False).to_numpy()
    adm = frame.get_column("admissible_count").to_numpy()
    px = frame.get_column("_px").to_numpy()
    lam = frame.get_column("_lam").to_numpy()
    reason = np.where(~elig, NOT_ELIGIBLE, np.where(adm == 0, NO_ADMISSIBLE, "")).astype(object)
    draw_x = reason == ""
    u = np.full(n, np.nan)
    if draw_x.any():
        sa = root.streams(FAMILY_EXPAND, ids[draw_x], seed=seed)
        w0, _ = blocks(sa.k, sa.c_hi, sa.c_lo, 0, 0)
        u[draw_x] = u01(w0)
    expanded = draw_x & (u < px)
    reason[draw_x & ~expanded] = NO_EXPANSION
    k = np.zeros(n, dtype=np.int64)
    att = np.zeros(n, dtype=np.int64)
    zer = np.zeros(n, dtype=np.int64)
    z_uni = z_blk = 0
    if expanded.any():
        sa = root.streams(FAMILY_ZTP, ids[expanded], seed=seed)
        kk, aa, zz, uu, bb = ztp_draws(sa, lam[expanded], cfg.ztp.max_zero_attempts)
        k[expanded], att[expanded], zer[expanded] = kk, aa, zz
        z_uni, z_blk = int(uu.sum()), int(bb.sum())
    exhausted = expanded & (k == 0)
    reason[expanded & (k >= 1)] = ACCEPTED
    reason[exhausted] = ZTP_EXHAUSTED
    out = frame.select("merchant_id", "admissible_count", "openness").with_columns(
        pl.Series("p_expand", np.where(draw_x, px, np.nan)).fill_nan(None),
        pl.Series("u_expand", u).fill_nan(None),
        pl.Series("expanded", expanded, dtype=pl.Boolean),
        pl.Series("lambda_extra", np.where(expanded, lam, np.nan)).fill_nan(None),
        pl.Series("k_target", k), pl.Series("ztp_attempts", att), pl.Series("ztp_zero_draws", zer),
        pl.Series("exhausted", exhausted, dtype=pl.Boolean),
        pl.Series("reason", reason.tolist(), dtype=pl.String),
    )
    n_x, n_z = int(draw_x.sum()), int(expanded.sum())
    return ds.conform(out, ds.S4_FOREIGN_TARGET), [tally(FAMILY_EXPAND, n_x, n_x, n_x),
                                                   tally(FAMILY_ZTP, n_z, z_uni, z_blk)]


def run(inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> StateResult:
    cfg = ctx.config.crossborder
    frame = base_frame(inputs[ds.NB_OUTLET_DRAWS], inputs[ds.MERCHANT_FEATURES], inputs[ds.S3_CANDIDATE_SET], cfg)
    out, rng = build_target(frame, ctx.world.rng, ctx.world.seed, cfg)
    counts = dict(out.group_by("reason").len().sort("reason").iter_rows())
    return StateResult(outputs={ds.S4_FOREIGN_TARGET: out}, rng=rng,
                       report={"rows": out.height, "reasons": counts})


def check_ztp_invalid(result: StateResult, inputs: Mapping[str, pl.DataFrame],
                      ctx: StateContext) -> CheckOutcome:
    """1A-S4-001: reason, k_target, attempts, draws and A consistent; one row per multi-site merchant."""
    st = result.outputs.get(ds.S4_FOREIGN_TARGET)
    if st is None:
        return missing_output(CODE_ZTP_INVALID, ds.S4_FOREIGN_TARGET)
    cfg = ctx.config.crossborder
    max_a = cfg.ztp.max_zero_attempts
    a = (inputs[ds.S3_CANDIDATE_SET].filter(~pl.col("is_home")).group_by("merchant_id")
         .agg(pl.len().cast(pl.Int32).alias("_a")))
    f = (st.join(inputs[ds.MERCHANT_FEATURES].select("merchant_id", pl.col("is_eligible").alias("_elig")),
                 on="merchant_id", how="left")
         .join(a, on="merchant_id", how="left").with_columns(pl.col("_a").fill_null(0)))
    c = pl.col
    no_draw = (c("p_expand").is_null() & c("u_expand").is_null() & ~c("expanded") & c("lambda_extra").is_null()
               & (c("k_target") == 0) & (c("ztp_attempts") == 0) & (c("ztp_zero_draws") == 0) & ~c("exhausted"))
    drew_x = (c("p_expand").is_not_null() & c("u_expand").is_not_null() & (c("u_expand") > 0)
              & (c("u_expand") < 1) & (c("expanded") == (c("u_expand") < c("p_expand"))))
    ok = (
        ((c("reason") == NOT_ELIGIBLE) & no_draw & ~c("_elig"))
        | ((c("reason") == NO_ADMISSIBLE) & no_draw & c("_elig") & (c("admissible_count") == 0))
        | ((c("reason") == NO_EXPANSION) & drew_x & ~c("expanded") & c("lambda_extra").is_null()
           & (c("k_target") == 0) & (c("ztp_attempts") == 0) & (c("ztp_zero_draws") == 0) & ~c("exhausted"))
        | ((c("reason") == ACCEPTED) & drew_x & c("expanded") & (c("lambda_extra") > 0) & (c("k_target") >= 1)
           & (c("ztp_attempts") >= 1) & (c("ztp_attempts") <= max_a)
           & (c("ztp_zero_draws") == c("ztp_attempts") - 1) & ~c("exhausted"))
        | ((c("reason") == ZTP_EXHAUSTED) & drew_x & c("expanded") & (c("lambda_extra") > 0)
           & (c("k_target") == 0) & (c("ztp_attempts") == max_a) & (c("ztp_zero_draws") == max_a)
           & c("exhausted"))
    ) & (c("admissible_count") == c("_a"))
    bad_rows = f.filter(~ok.fill_null(False)).sort("merchant_id")
    nb_ids = inputs[ds.NB_OUTLET_DRAWS].select("merchant_id")
    missing = nb_ids.join(st.select("merchant_id"), on="merchant_id", how="anti")
    extra = st.select("merchant_id").join(nb_ids, on="merchant_id", how="anti")
    dup = st.filter(pl.col("merchant_id").is_duplicated())
    bad = (key_list(bad_rows, ["merchant_id"]) + key_list(missing.sort("merchant_id"), ["merchant_id"])
           + key_list(extra.sort("merchant_id"), ["merchant_id"]) + key_list(dup, ["merchant_id"]))
    return outcome(CODE_ZTP_INVALID, bad, st.height, inconsistent=bad_rows.height, missing=missing.height,
                   extra=extra.height, duplicated=dup.height)
