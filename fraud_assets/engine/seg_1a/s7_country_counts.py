"""1A S7 — integer allocation of N outlets across the legal countries.

Spec: spec/engine/1A.md, section "S7". Domain D = home plus the S6-selected
countries in candidate_rank order. Single-site merchants get one home row (count
1), multi-site merchants with |D| = 1 one row (count N); neither draws. Otherwise
Dirichlet shares from Gammas of `1A.s7.dirichlet` (one per country, D order), a
home floor, then bounded largest remainder with floor 1 per country. The
per-merchant loop is a numba kernel (`allocate_nb`) beside its plain-Python
reference (`allocate_py`); tests pin them equal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numba
import numpy as np
import polars as pl

from fraud_assets.core.rng import gamma_nb, gamma_py
from fraud_assets.engine.seg_1a import datasets as ds
from fraud_assets.engine.seg_1a.common import iso_codes, key_list, missing_output, outcome, tally
from fraud_assets.engine.seg_1a.config import Allocation
from fraud_assets.engine.state import CheckOutcome, StateContext, StateResult

FAMILY_DIRICHLET = "1A.s7.dirichlet"

CHECK_SUM_MISMATCH, CODE_SUM_MISMATCH = "sum_mismatch", "1A-S7-001"
CHECK_PROXIMITY, CODE_PROXIMITY = "proximity", "1A-S7-002"

_P0 = np.uint64(0)


# ---- fsum, identical in Python and numba ---------------------------------------------------------


@numba.njit(cache=True)
def fsum_nb(xs):
    """CPython's math.fsum (Shewchuk partials, correctly rounded) for finite inputs."""
    partials = np.empty(xs.shape[0] + 1, dtype=np.float64)
    np_ = 0
    for j in range(xs.shape[0]):
        x = xs[j]
        i = 0
        for t in range(np_):
            y = partials[t]
            if abs(x) < abs(y):
                x, y = y, x
            hi = x + y
            lo = y - (hi - x)
            if lo != 0.0:
                partials[i] = lo
                i += 1
            x = hi
        partials[i] = x
        np_ = i + 1
    hi = 0.0
    n = np_
    if n > 0:
        n -= 1
        hi = partials[n]
        lo = 0.0
        while n > 0:
            x = hi
            n -= 1
            y = partials[n]
            hi = x + y
            yr = hi - x
            lo = y - yr
            if lo != 0.0:
                break
        if n > 0 and ((lo < 0.0 and partials[n - 1] < 0.0) or (lo > 0.0 and partials[n - 1] > 0.0)):
            y = lo * 2.0
            x = hi + y
            yr = x - hi
            if y == yr:
                hi = x
    return hi


# ---- one merchant: Dirichlet + home floor + bounded largest remainder -------------------------------


def allocate_py(k: int, c_hi: int, c_lo: int, alpha: np.ndarray, iso: np.ndarray, rank: np.ndarray,
                n_total: int, h_min: float, dp: int):
    """Reference: (share, count, residual, residual_rank, uniforms, blocks) for one merchant."""
    m = alpha.shape[0]
    g = np.empty(m)
    q = 0
    uni = blk = 0
    for i in range(m):
        d = gamma_py(k, c_hi, c_lo, 0, q, float(alpha[i]))
        g[i] = d.value
        q = d.next_q
        uni += d.uniforms
        blk += d.blocks
    tot = math.fsum(g.tolist())
    s = g / tot
    if s[0] < h_min:
        rest = math.fsum(s[1:].tolist())
        s[0] = h_min
        s[1:] = s[1:] * ((1.0 - h_min) / rest)
    r_total = n_total - m
    scale = 10.0 ** dp
    a = r_total * s
    b = np.floor(a)
    resid = np.array([round((a[i] - b[i]) * scale) / scale for i in range(m)])
    d_left = r_total - int(b.sum())
    order = sorted(range(m), key=lambda i: (-resid[i], iso[i], rank[i]))
    count = np.ones(m, dtype=np.int64) + b.astype(np.int64)
    rr = np.empty(m, dtype=np.int64)
    for pos, i in enumerate(order):
        rr[i] = pos + 1
        if pos < d_left:
            count[i] += 1
    return s, count, resid, rr, uni, blk


@numba.njit(cache=True)
def _allocate_one_nb(k, c_hi, c_lo, alpha, iso, rank, n_total, h_min, dp, s, count, resid, rr):
    m = alpha.shape[0]
    g = np.empty(m)
    q = np.uint64(0)
    uni = 0
    blk = 0
    for i in range(m):
        v, u1, b1, q = gamma_nb(k, c_hi, c_lo, _P0, q, alpha[i])
        g[i] = v
        uni += u1
        blk += b1
    tot = fsum_nb(g)
    for i in range(m):
        s[i] = g[i] / tot
    if s[0] < h_min:
        rest = fsum_nb(s[1:])
        s[0] = h_min
        f = (1.0 - h_min) / rest
        for i in range(1, m):
            s[i] = s[i] * f
    r_total = n_total - m
    scale = 10.0 ** dp
    bsum = 0
    for i in range(m):
        a = r_total * s[i]
        b = np.floor(a)
        resid[i] = np.rint((a - b) * scale) / scale
        count[i] = 1 + np.int64(b)
        bsum += np.int64(b)
    d_left = r_total - bsum
    order = np.arange(m)
    for x in range(1, m):  # insertion sort by (resid desc, iso asc, rank asc)
        j = x
        while j > 0:
            a_ = order[j - 1]
            b_ = order[j]
            before = (resid[b_] > resid[a_]) or (resid[b_] == resid[a_] and (
                iso[b_] < iso[a_] or (iso[b_] == iso[a_] and rank[b_] < rank[a_])))
            if not before:
                break
            order[j - 1] = b_
            order[j] = a_
            j -= 1
    for pos in range(m):
        i = order[pos]
        rr[i] = pos + 1
        if pos < d_left:
            count[i] += 1
    return uni, blk


@numba.njit(cache=True)
def allocate_nb(k, c_hi, c_lo, offsets, alpha, iso, rank, n_total, h_min, dp):
    """Kernel over merchants (CSR `offsets` into the flat per-country arrays)."""
    n_rows = alpha.shape[0]
    s = np.empty(n_rows)
    count = np.empty(n_rows, dtype=np.int64)
    resid = np.empty(n_rows)
    rr = np.empty(n_rows, dtype=np.int64)
    n_m = offsets.shape[0] - 1
    uni = np.zeros(n_m, dtype=np.int64)
    blk = np.zeros(n_m, dtype=np.int64)
    for j in range(n_m):
        a0 = offsets[j]
        a1 = offsets[j + 1]
        uni[j], blk[j] = _allocate_one_nb(k[j], c_hi[j], c_lo[j], alpha[a0:a1], iso[a0:a1], rank[a0:a1],
                                          n_total[j], h_min[j], dp, s[a0:a1], count[a0:a1], resid[a0:a1],
                                          rr[a0:a1])
    return s, count, resid, rr, uni, blk


def allocate(ids: np.ndarray, offsets: np.ndarray, alpha: np.ndarray, iso: np.ndarray, rank: np.ndarray,
             n_total: np.ndarray, h_min: np.ndarray, dp: int, root, seed: int, *, reference: bool = False):
    """All Dirichlet merchants: flat (share, count, residual, residual_rank), per-merchant (uniforms, blocks)."""
    if ids.size == 0:
        z = np.zeros(0)
        zi = np.zeros(0, dtype=np.int64)
        return z, zi, z, zi, zi, zi
    sa = root.streams(FAMILY_DIRICHLET, ids.astype(np.int64), seed=seed)
    if not reference:
        return allocate_nb(sa.k, sa.c_hi, sa.c_lo, offsets.astype(np.int64), alpha.astype(np.float64),
                           iso.astype(np.int64), rank.astype(np.int64), n_total.astype(np.int64),
                           h_min.astype(np.float64), int(dp))
    parts = []
    for j in range(ids.size):
        a0, a1 = int(offsets[j]), int(offsets[j + 1])
        parts.append(allocate_py(int(sa.k[j]), int(sa.c_hi[j]), int(sa.c_lo[j]), alpha[a0:a1], iso[a0:a1],
                                 rank[a0:a1], int(n_total[j]), float(h_min[j]), int(dp)))
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]), np.concatenate([p[3] for p in parts]),
            np.array([p[4] for p in parts], dtype=np.int64), np.array([p[5] for p in parts], dtype=np.int64))


# ---- the state --------------------------------------------------------------------------------------


def domains(hurdle: pl.DataFrame, nb: pl.DataFrame, membership: pl.DataFrame,
            candidates: pl.DataFrame) -> pl.DataFrame:
    """One row per (merchant, legal country): home (rank 0) plus selected countries, with N and S6 weight."""
    home = candidates.filter(pl.col("is_home")).select("merchant_id", "country_iso", "candidate_rank",
                                                        pl.lit(None, dtype=pl.Float64).alias("weight"))
    sel = membership.filter(pl.col("selected")).select("merchant_id", "country_iso", "candidate_rank", "weight")
    d = pl.concat([home, sel], how="vertical").join(
        hurdle.select("merchant_id", "is_multi"), on="merchant_id", how="inner").join(
        nb.select("merchant_id", "n_outlets"), on="merchant_id", how="left")
    d = d.with_columns(pl.when(pl.col("is_multi")).then(pl.col("n_outlets")).otherwise(1).alias("n_total"),
                       pl.len().over("merchant_id").alias("_d"))
    return d.sort("merchant_id", "candidate_rank")


def alphas(d: pl.DataFrame, cfg: Allocation) -> tuple[np.ndarray, np.ndarray]:
    """α over each Dirichlet domain (home first) and the per-row home floor."""
    ids = d.get_column("merchant_id").to_numpy()
    w = d.get_column("weight").fill_null(0.0).to_numpy()
    n_total = d.get_column("n_total").to_numpy()
    alpha = np.empty(ids.size)
    floor = np.empty(ids.size)
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if ids.size else np.zeros(0, dtype=np.int64)
    ends = np.r_[starts[1:], ids.size]
    for s, e in zip(starts, ends, strict=True):
        tier = cfg.home_tier(int(n_total[s]))
        wt = math.fsum(w[s + 1:e].tolist())
        m = np.r_[tier.mean, (1.0 - tier.mean) * w[s + 1:e] / wt]
        alpha[s:e] = np.maximum(cfg.alpha0 * m, cfg.alpha_min)
        floor[s:e] = tier.floor
    return alpha, floor


def build_counts(d: pl.DataFrame, cfg: Allocation, root, seed: int, *, reference: bool = False):
    trivial = d.filter(pl.col("_d") == 1).with_columns(
        pl.lit(True).alias("is_home"), pl.lit(None, dtype=pl.Float64).alias("alpha"),
        pl.lit(1.0).alias("share"), pl.col("n_total").alias("count"), pl.lit(0.0).alias("residual"),
        pl.lit(1).alias("residual_rank"))
    dir_ = d.filter(pl.col("_d") > 1)
    parts = [trivial]
    uni = blk = np.zeros(0, dtype=np.int64)
    if dir_.height:
        alpha, floor = alphas(dir_, cfg)
        ids_rows = dir_.get_column("merchant_id").to_numpy()
        starts = np.flatnonzero(np.r_[True, ids_rows[1:] != ids_rows[:-1]])
        offsets = np.r_[starts, ids_rows.size].astype(np.int64)
        ids = ids_rows[starts]
        s, count, resid, rr, uni, blk = allocate(
            ids, offsets, alpha, iso_codes(dir_.get_column("country_iso").to_list()),
            dir_.get_column("candidate_rank").to_numpy(), dir_.get_column("n_total").to_numpy()[starts],
            floor[starts], cfg.dp_resid, root, seed, reference=reference)
        parts.append(dir_.with_columns(
            (pl.col("candidate_rank") == 0).alias("is_home"), pl.Series("alpha", alpha), pl.Series("share", s),
            pl.Series("count", count), pl.Series("residual", resid), pl.Series("residual_rank", rr)))
    cols = ["merchant_id", "country_iso", "candidate_rank", "is_home", "alpha", "share", "count", "residual",
            "residual_rank"]
    out = pl.concat([p.select([pl.col(c).cast(ds.SCHEMAS[ds.S7_COUNTRY_COUNTS][c]) for c in cols]) for p in parts],
                    how="vertical")
    return ds.conform(out, ds.S7_COUNTRY_COUNTS), int(uni.size), int(uni.sum()), int(blk.sum())


def run(inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> StateResult:
    cfg: Allocation = ctx.config.allocation
    d = domains(inputs[ds.HURDLE_DECISIONS], inputs[ds.NB_OUTLET_DRAWS], inputs[ds.S6_MEMBERSHIP],
                inputs[ds.S3_CANDIDATE_SET])
    out, keys, draws, blocks_ = build_counts(d, cfg, ctx.world.rng, ctx.world.seed)
    return StateResult(outputs={ds.S7_COUNTRY_COUNTS: out}, rng=[tally(FAMILY_DIRICHLET, keys, draws, blocks_)],
                       report={"rows": out.height, "dirichlet_merchants": keys,
                               "outlets": int(out.get_column("count").sum())})


def _expected_n(result: StateResult, inputs: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    return inputs[ds.HURDLE_DECISIONS].select("merchant_id", "is_multi").join(
        inputs[ds.NB_OUTLET_DRAWS].select("merchant_id", "n_outlets"), on="merchant_id", how="left").with_columns(
        pl.when(pl.col("is_multi")).then(pl.col("n_outlets")).otherwise(1).alias("_n"))


def check_sum_mismatch(result: StateResult, inputs: Mapping[str, pl.DataFrame],
                       ctx: StateContext) -> CheckOutcome:
    """1A-S7-001: Σ count = N per merchant (1 for single-site), every count ≥ 1, every merchant present."""
    sc = result.outputs.get(ds.S7_COUNTRY_COUNTS)
    if sc is None:
        return missing_output(CODE_SUM_MISMATCH, ds.S7_COUNTRY_COUNTS)
    per = sc.group_by("merchant_id").agg(pl.col("count").sum().alias("_s"), pl.col("count").min().alias("_min"))
    j = _expected_n(result, inputs).join(per, on="merchant_id", how="full", coalesce=True)
    bad = j.filter(~((pl.col("_s") == pl.col("_n")) & (pl.col("_min") >= 1)).fill_null(False)).sort("merchant_id")
    return outcome(CODE_SUM_MISMATCH, key_list(bad, ["merchant_id"]), j.height)


def check_proximity(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    """1A-S7-002: |count_i − (1 + R·s_i)| < 1 with R = N − |D|; shares sum to 1; home share ≥ floor."""
    sc = result.outputs.get(ds.S7_COUNTRY_COUNTS)
    if sc is None:
        return missing_output(CODE_PROXIMITY, ds.S7_COUNTRY_COUNTS)
    cfg: Allocation = ctx.config.allocation
    j = sc.join(_expected_n(result, inputs).select("merchant_id", "_n"), on="merchant_id", how="left").with_columns(
        (pl.col("_n") - pl.len().over("merchant_id")).alias("_r"))
    far = j.filter(~((pl.col("count") - (1 + pl.col("_r") * pl.col("share"))).abs() < 1).fill_null(False))
    floors = [(t.n_max if t.n_max is not None else 2**31 - 1, t.floor) for t in cfg.home_share]
    floor_expr = pl.lit(floors[-1][1])
    for n_max, fl in reversed(floors[:-1]):
        floor_expr = pl.when(pl.col("_n") <= n_max).then(pl.lit(fl)).otherwise(floor_expr)
    low_home = j.filter(pl.col("is_home") & (pl.len().over("merchant_id") > 1)
                        & (pl.col("share") < floor_expr - 1e-12))
    sums = j.group_by("merchant_id").agg(pl.col("share").sum().alias("_ss")).filter((pl.col("_ss") - 1).abs() > 1e-9)
    bad = sorted(set(far.get_column("merchant_id").to_list()) | set(low_home.get_column("merchant_id").to_list())
                 | set(sums.get_column("merchant_id").to_list()))
    return outcome(CODE_PROXIMITY, bad, sc.height, far=far.height, home_below_floor=low_home.height,
                   share_sum_off=sums.height)
