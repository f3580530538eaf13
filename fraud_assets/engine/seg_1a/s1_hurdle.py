"""1A S1 — hurdle: single- vs multi-site (spec/engine/1A.md, section "S1 — Hurdle").

η = β0 + β_ch + β_bucket + beta_hurdle_mcc (fsum), π = σ(η) in stable form; a
uniform from `1A.s1.hurdle(merchant_id)` only when 0 < π < 1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import polars as pl

from fraud_assets.core.rng import blocks, u01
from fraud_assets.engine.seg_1a import datasets as ds
from fraud_assets.engine.seg_1a.common import key_list, logistic, missing_output, outcome, tally
from fraud_assets.engine.seg_1a.config import Hurdle
from fraud_assets.engine.state import CheckOutcome, StateContext, StateResult

FAMILY_HURDLE = "1A.s1.hurdle"

CHECK_HURDLE_CARDINALITY, CODE_HURDLE_CARDINALITY = "hurdle_cardinality", "1A-S1-001"
CHECK_HURDLE_U, CODE_HURDLE_U = "hurdle_u_invalid", "1A-S1-002"


def add_eta(features: pl.DataFrame, coefficients: pl.DataFrame, cfg: Hurdle) -> pl.DataFrame:
    """η per merchant (fsum of intercept, channel, bucket and MCC terms) and π = σ(η)."""
    f = features.sort("merchant_id").join(
        coefficients.select("mcc", "beta_hurdle_mcc"), on="mcc", how="left")
    sym = f.get_column("channel_sym").to_list()
    bucket = f.get_column("gdp_bucket").to_list()
    beta = f.get_column("beta_hurdle_mcc").fill_null(0.0).to_list()
    eta = [math.fsum((cfg.intercept, getattr(cfg.channel, s), cfg.gdp_bucket[int(b)], m))
           for s, b, m in zip(sym, bucket, beta, strict=True)]
    return f.select("merchant_id").with_columns(
        pl.Series("eta", eta, dtype=pl.Float64),
        pl.Series("pi", [logistic(e) for e in eta], dtype=pl.Float64),
    )


def draw(frame: pl.DataFrame, root, seed: int) -> tuple[pl.DataFrame, int]:
    """u for every merchant with 0 < π < 1; is_multi = u < π, or π == 1 when deterministic."""
    pi = frame.get_column("pi").to_numpy()
    ids = frame.get_column("merchant_id").to_numpy()
    drawn = (pi > 0.0) & (pi < 1.0)
    u = np.full(pi.shape, np.nan)
    if drawn.any():
        sa = root.streams(FAMILY_HURDLE, ids[drawn].astype(np.int64), seed=seed)
        w0, _ = blocks(sa.k, sa.c_hi, sa.c_lo, 0, 0)
        u[drawn] = u01(w0)
    is_multi = np.where(drawn, u < pi, pi == 1.0)
    out = frame.with_columns(
        pl.Series("u", u, dtype=pl.Float64).fill_nan(None),
        pl.Series("is_multi", is_multi, dtype=pl.Boolean),
        pl.Series("deterministic", ~drawn, dtype=pl.Boolean),
    )
    return out, int(drawn.sum())


def run(inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> StateResult:
    cfg = ctx.config.hurdle
    frame = add_eta(inputs[ds.MERCHANT_FEATURES], inputs[ds.MODEL_COEFFICIENTS], cfg)
    out, n_drawn = draw(frame, ctx.world.rng, ctx.world.seed)
    out = ds.conform(out, ds.HURDLE_DECISIONS)
    n = out.height
    multi = int(out.get_column("is_multi").sum())
    return StateResult(
        outputs={ds.HURDLE_DECISIONS: out},
        rng=[tally(FAMILY_HURDLE, n_drawn, n_drawn, n_drawn)],
        report={"merchants": n, "multi_site": multi, "single_site_share": (n - multi) / n if n else None,
                "deterministic": n - n_drawn},
    )


def check_hurdle_cardinality(result: StateResult, inputs: Mapping[str, pl.DataFrame],
                             ctx: StateContext) -> CheckOutcome:
    """1A-S1-001: exactly one row per merchant of merchant_features."""
    hd = result.outputs.get(ds.HURDLE_DECISIONS)
    if hd is None:
        return missing_output(CODE_HURDLE_CARDINALITY, ds.HURDLE_DECISIONS)
    feats = inputs[ds.MERCHANT_FEATURES].select("merchant_id")
    counts = hd.group_by("merchant_id").len()
    dup = counts.filter(pl.col("len") != 1).sort("merchant_id")
    missing = feats.join(hd.select("merchant_id"), on="merchant_id", how="anti").sort("merchant_id")
    extra = hd.select("merchant_id").join(feats, on="merchant_id", how="anti").sort("merchant_id")
    bad = key_list(dup, ["merchant_id"]) + key_list(missing, ["merchant_id"]) + key_list(extra, ["merchant_id"])
    return outcome(CODE_HURDLE_CARDINALITY, bad, feats.height, rows=hd.height, duplicated=dup.height,
                   missing=missing.height, extra=extra.height)


def check_hurdle_u(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    """1A-S1-002: u present iff 0<π<1, u ∈ (0,1), is_multi == (u < π) (or π == 1 when deterministic)."""
    hd = result.outputs.get(ds.HURDLE_DECISIONS)
    if hd is None:
        return missing_output(CODE_HURDLE_U, ds.HURDLE_DECISIONS)
    interior = (pl.col("pi") > 0.0) & (pl.col("pi") < 1.0)
    bad_rows = hd.filter(
        (interior != pl.col("u").is_not_null())
        | (pl.col("deterministic") != pl.col("u").is_null())
        | (pl.col("u").is_not_null() & ((pl.col("u") <= 0.0) | (pl.col("u") >= 1.0)))
        | (pl.col("u").is_not_null() & (pl.col("is_multi") != (pl.col("u") < pl.col("pi"))))
        | (pl.col("u").is_null() & (pl.col("is_multi") != (pl.col("pi") == 1.0)))
        | pl.col("pi").is_null() | pl.col("is_multi").is_null()
    ).sort("merchant_id")
    return outcome(CODE_HURDLE_U, key_list(bad_rows, ["merchant_id"]), hd.height)
