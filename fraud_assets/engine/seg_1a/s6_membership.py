"""1A S6 — foreign set selection by Gumbel top-K.

Spec: spec/engine/1A.md, section "S6". For merchants with k_target ≥ 1, every
considered foreign candidate gets w = (1−ω)·p̃ + ω·q̃ (S3 gravity blended with the
S5 weights of the merchant's currency), one uniform from
`1A.s6.gumbel(merchant_id, country_iso)` and key = ln w − ln(−ln u); the top
K_realized = min(k_target, |eligible|, N − 1) keys are selected. S6 never creates
order: rows keep S3's candidate_rank, `selection_order` is diagnostic.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import polars as pl

from fraud_assets.core.rng import blocks, u01
from fraud_assets.engine.seg_1a import datasets as ds
from fraud_assets.engine.seg_1a.common import missing_output, outcome, tally
from fraud_assets.engine.seg_1a.config import Selection
from fraud_assets.engine.state import CheckOutcome, StateContext, StateResult

FAMILY_GUMBEL = "1A.s6.gumbel"

CHECK_MEMBERSHIP, CODE_MEMBERSHIP = "membership_mismatch", "1A-S6-001"


def considered(target: pl.DataFrame, candidates: pl.DataFrame, mc: pl.DataFrame, weights: pl.DataFrame,
               nb: pl.DataFrame, cfg: Selection) -> pl.DataFrame:
    """Foreign candidates of merchants with k_target ≥ 1, with base weight, S5 weight, k_target and N."""
    t = target.filter(pl.col("k_target") >= 1).select("merchant_id", "k_target")
    c = candidates.filter(~pl.col("is_home")).select("merchant_id", "country_iso", "candidate_rank", "base_weight")
    if cfg.max_candidates_cap > 0:
        c = c.filter(pl.col("candidate_rank") <= cfg.max_candidates_cap)
    return (t.join(c, on="merchant_id", how="inner")
            .join(nb.select("merchant_id", "n_outlets"), on="merchant_id", how="left")
            .join(mc.select("merchant_id", "kappa"), on="merchant_id", how="left")
            .join(weights.select(pl.col("currency").alias("kappa"), "country_iso", pl.col("weight").alias("_q")),
                  on=["kappa", "country_iso"], how="left")
            .with_columns(pl.col("_q").fill_null(0.0))
            .sort("merchant_id", "candidate_rank"))


def blend_weights(frame: pl.DataFrame, omega: float) -> np.ndarray:
    """w = (1−ω)·p̃ + ω·q̃ renormalised per merchant (fsum); q̃ all zero when κ has no weight there."""
    ids = frame.get_column("merchant_id").to_numpy()
    p = frame.get_column("base_weight").fill_null(0.0).to_numpy()
    q = frame.get_column("_q").to_numpy()
    w = np.zeros(ids.size)
    if ids.size == 0:
        return w
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    ends = np.r_[starts[1:], ids.size]
    for s, e in zip(starts, ends, strict=True):
        ps = math.fsum(p[s:e].tolist())
        qs = math.fsum(q[s:e].tolist())
        pt = p[s:e] / ps if ps > 0 else np.zeros(e - s)
        qt = q[s:e] / qs if qs > 0 else np.zeros(e - s)
        raw = (1.0 - omega) * pt + omega * qt
        tot = math.fsum(raw.tolist())
        w[s:e] = raw / tot if tot > 0 else 0.0
    return w


def gumbel_keys(weight: np.ndarray, u: np.ndarray) -> np.ndarray:
    return np.log(weight) - np.log(-np.log(u))


def select_top(frame: pl.DataFrame) -> pl.DataFrame:
    """selected / selection_order: top K_realized = min(k_target, rows, N−1) by (key desc, rank, ISO)."""
    ranked = frame.with_columns(
        pl.min_horizontal(pl.col("k_target"), pl.len().over("merchant_id"), pl.col("n_outlets") - 1)
        .alias("_k"))
    ranked = ranked.sort(["merchant_id", "gumbel_key", "candidate_rank", "country_iso"],
                         descending=[False, True, False, False])
    ranked = ranked.with_columns(pl.int_range(1, pl.len() + 1).over("merchant_id").alias("_pos"))
    return ranked.with_columns(
        (pl.col("_pos") <= pl.col("_k")).alias("selected"),
        pl.when(pl.col("_pos") <= pl.col("_k")).then(pl.col("_pos")).otherwise(None).alias("selection_order"),
    )


def build_membership(frame: pl.DataFrame, root, seed: int, omega: float) -> pl.DataFrame:
    f = frame.with_columns(pl.Series("weight", blend_weights(frame, omega), dtype=pl.Float64))
    f = f.filter(pl.col("weight") > 0.0)  # zero_weight_rule = exclude
    ids = f.get_column("merchant_id").to_list()
    isos = f.get_column("country_iso").to_list()
    if ids:
        sa = root.streams(FAMILY_GUMBEL, list(zip(ids, isos, strict=True)), seed=seed)
        w0, _ = blocks(sa.k, sa.c_hi, sa.c_lo, 0, 0)
        u = u01(w0)
    else:
        u = np.zeros(0)
    f = f.with_columns(pl.Series("u", u, dtype=pl.Float64))
    f = f.with_columns(pl.Series("gumbel_key", gumbel_keys(f.get_column("weight").to_numpy(), u), dtype=pl.Float64))
    return ds.conform(select_top(f), ds.S6_MEMBERSHIP)


def run(inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> StateResult:
    cfg: Selection = ctx.config.crossborder.selection
    frame = considered(inputs[ds.S4_FOREIGN_TARGET], inputs[ds.S3_CANDIDATE_SET], inputs[ds.MERCHANT_CURRENCY],
                       inputs[ds.CCY_COUNTRY_WEIGHTS], inputs[ds.NB_OUTLET_DRAWS], cfg)
    out = build_membership(frame, ctx.world.rng, ctx.world.seed, cfg.currency_blend)
    n = out.height
    return StateResult(outputs={ds.S6_MEMBERSHIP: out}, rng=[tally(FAMILY_GUMBEL, n, n, n)],
                       report={"rows": n, "merchants": out.get_column("merchant_id").n_unique(),
                               "selected": int(out.get_column("selected").sum())})


def check_membership(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    """1A-S6-001: selection = top-K_realized by key; key = ln w − ln(−ln u); K_realized ≤ N−1;
    the considered set is the merchant's foreign candidates."""
    sm = result.outputs.get(ds.S6_MEMBERSHIP)
    if sm is None:
        return missing_output(CODE_MEMBERSHIP, ds.S6_MEMBERSHIP)
    cap = ctx.config.crossborder.selection.max_candidates_cap
    f = sm.join(inputs[ds.S4_FOREIGN_TARGET].select("merchant_id", "k_target"), on="merchant_id", how="left").join(
        inputs[ds.NB_OUTLET_DRAWS].select("merchant_id", "n_outlets"), on="merchant_id", how="left")
    f = f.with_columns(pl.Series("_key", gumbel_keys(f.get_column("weight").to_numpy(), f.get_column("u").to_numpy())))
    exp = select_top(f.rename({"selected": "_sel_w", "selection_order": "_ord_w"})
                     .with_columns(pl.col("_key").alias("gumbel_key")))
    bad_rows = exp.filter(
        (pl.col("selected") != pl.col("_sel_w"))
        | (pl.col("selection_order").fill_null(0) != pl.col("_ord_w").fill_null(0))
        | pl.col("k_target").is_null() | (pl.col("k_target") < 1)
        | ~((pl.col("u") > 0) & (pl.col("u") < 1)) | ~(pl.col("weight") > 0)
    )
    key_bad = f.filter(pl.col("_key") != pl.col("gumbel_key"))
    per = sm.group_by("merchant_id").agg(pl.col("selected").sum().alias("_r"), pl.len().alias("_rows")).join(
        inputs[ds.NB_OUTLET_DRAWS].select("merchant_id", "n_outlets"), on="merchant_id", how="left")
    cand = inputs[ds.S3_CANDIDATE_SET].filter(~pl.col("is_home"))
    if cap > 0:
        cand = cand.filter(pl.col("candidate_rank") <= cap)
    cand_n = cand.group_by("merchant_id").len()
    per = per.join(cand_n, on="merchant_id", how="left")
    over = per.filter((pl.col("_r") > pl.col("n_outlets") - 1) | (pl.col("_rows") != pl.col("len"))
                      | pl.col("n_outlets").is_null())
    bad = sorted(set(bad_rows.get_column("merchant_id").to_list()) | set(key_bad.get_column("merchant_id").to_list())
                 | set(over.get_column("merchant_id").to_list()))
    return outcome(CODE_MEMBERSHIP, bad, per.height, selection_mismatch=bad_rows.height,
                   key_mismatch=key_bad.height, k_realized_or_set_invalid=over.height)
