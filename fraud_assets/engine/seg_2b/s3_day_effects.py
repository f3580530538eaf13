"""2B S3 — day effects (spec/engine/2B.md, "S3"; `s3_day_effects`, `s3_merchant_sigma`).

Rows for every `(m, g) ∈ G(m)` × `d ∈ D` (all merchants, single-group ones included).
`D` is the world's own day grid (`common.day_grid(ctx.world.preset)`): no date comes from
a policy file. Law in `laws.merchant_sigma` / `laws.day_effects`: a merchant volatility
regime σ_m (`2B.s3.sigma`, key `merchant_id`), thin groups noisier, AR(1) innovations
(`2B.s3.day_effect`, key `merchant_id|tz_group_id|utc_day`, one normal = 2 uniforms = 1 block
each), `γ = clip(exp(−σ²/2 + σZ), 0.5, 2.0)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from fraud_assets.engine.seg_2b import common, laws
from fraud_assets.engine.seg_2b import datasets as ds
from fraud_assets.engine.state import CheckOutcome, StateContext, StateResult

CODE_DAY_GRID_MISMATCH = "2B-S3-001"
CODE_GAMMA_INVALID = "2B-S3-002"
CODE_RNG_ACCOUNTING = "2B-S3-003"

CHECK_GRID = "day_grid_2B_S3"
CHECK_GAMMA = "gamma_valid_2B_S3"
CHECK_RNG = "rng_accounting_2B_S3"

FAMILY_SIGMA = laws.FAMILY_SIGMA
FAMILY_DAY_EFFECT = laws.FAMILY_DAY_EFFECT


def run(inputs: Mapping[str, Any], ctx: StateContext) -> StateResult:
    sigma, effects = laws.day_effect_tables(inputs[ds.S1_SITE_WEIGHTS], ctx.world, ctx.config.day_effects)
    w = ctx.world
    rng = [common.tally(FAMILY_SIGMA, sigma.height, 2 * sigma.height, sigma.height),
           common.tally(FAMILY_DAY_EFFECT, effects.height, 2 * effects.height, effects.height)]
    report = common.jsonable({
        "merchants": sigma.height, "rows": effects.height, "days": len(common.day_grid(w.preset)),
        "mean_gamma": effects.get_column("gamma").mean() if effects.height else None,
        "clip_rate": effects.get_column("clipped").mean() if effects.height else None,
        "sigma_merchant_mean": sigma.get_column("sigma_merchant").mean() if sigma.height else None,
    })
    return StateResult(outputs={ds.S3_DAY_EFFECTS: ds.shape(effects, ds.S3_DAY_EFFECTS, w),
                                ds.S3_MERCHANT_SIGMA: ds.shape(sigma, ds.S3_MERCHANT_SIGMA, w)},
                       rng=rng, report=report)


# ---- checks ---------------------------------------------------------------------------------------


def check_grid(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    effects = result.outputs.get(ds.S3_DAY_EFFECTS)
    if not isinstance(effects, pl.DataFrame):
        return common.missing_output(CODE_DAY_GRID_MISMATCH, ds.S3_DAY_EFFECTS)
    days = common.day_grid(ctx.world.preset)
    bad = laws.grid_errors(effects, inputs[ds.S1_SITE_WEIGHTS], days)
    index_ok = effects.filter(pl.col("day_index").cast(pl.Int64)
                              != (pl.col("utc_day") - pl.lit(days[0])).dt.total_days())
    bad += common.key_list(index_ok.head(10), ["merchant_id", "group_index", "utc_day"])
    return common.outcome(CODE_DAY_GRID_MISMATCH, bad, effects.height,
                          n_days=len(days), first_day=days[0].isoformat(), last_day=days[-1].isoformat())


def check_gamma(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    effects = result.outputs.get(ds.S3_DAY_EFFECTS)
    if not isinstance(effects, pl.DataFrame):
        return common.missing_output(CODE_GAMMA_INVALID, ds.S3_DAY_EFFECTS)
    lo, hi = ctx.config.day_effects.gamma_clip
    bad = effects.filter(~(pl.col("gamma").is_finite() & (pl.col("gamma") > 0)
                           & (pl.col("gamma") >= lo) & (pl.col("gamma") <= hi)))
    return common.outcome(CODE_GAMMA_INVALID, common.key_list(bad.head(10), ["merchant_id", "group_index", "utc_day"]),
                          effects.height)


def expected_tallies(sigma_rows: int, effect_rows: int) -> dict[str, tuple[int, int, int]]:
    return {FAMILY_SIGMA: (sigma_rows, 2 * sigma_rows, sigma_rows),
            FAMILY_DAY_EFFECT: (effect_rows, 2 * effect_rows, effect_rows)}


def tally_errors(tallies, expected: Mapping[str, tuple[int, int, int]]) -> list:  # noqa: ANN001
    got = {t.family: (t.keys, t.draws, t.blocks) for t in tallies}
    return [[fam, list(got.get(fam, (0, 0, 0))), list(exp)] for fam, exp in sorted(expected.items())
            if got.get(fam, (0, 0, 0)) != exp] + [[fam, "undeclared"] for fam in sorted(set(got) - set(expected))]


def check_rng(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    effects = result.outputs.get(ds.S3_DAY_EFFECTS)
    sigma = result.outputs.get(ds.S3_MERCHANT_SIGMA)
    if not isinstance(effects, pl.DataFrame) or not isinstance(sigma, pl.DataFrame):
        return common.missing_output(CODE_RNG_ACCOUNTING, ds.S3_DAY_EFFECTS)
    merchants = inputs[ds.S1_SITE_WEIGHTS].get_column("merchant_id").n_unique()
    bad = tally_errors(result.rng, expected_tallies(sigma.height, effects.height))
    if sigma.height != merchants:
        bad.append(["sigma_rows", sigma.height, merchants])
    return common.outcome(CODE_RNG_ACCOUNTING, bad, 2, tallies={t.family: [t.keys, t.draws, t.blocks]
                                                                for t in result.rng})
