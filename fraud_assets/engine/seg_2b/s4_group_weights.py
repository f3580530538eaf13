"""2B S4 — group weights (spec/engine/2B.md, "S4"; `s4_group_weights`, no RNG).

Per (m, d): `mass_raw_g = base_share_mg·γ_mgd`, `p_group = mass_raw/Σ_g mass_raw` (serial in
`group_index` order), `mass_q31 = q31(p_group)` (largest remainder, exactly 2^31 per (m, d)).
No regulariser, floor or flattening: concentration comes from S1 geography and S3 volatility.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from fraud_assets.engine.seg_2b import common, laws
from fraud_assets.engine.seg_2b import datasets as ds
from fraud_assets.engine.state import CheckOutcome, StateContext, StateResult

CODE_COVERAGE = "2B-S4-001"
CODE_NORMALISATION = "2B-S4-002"
CODE_GAMMA_ECHO = "2B-S4-003"
CODE_BASE_SHARE_ECHO = "2B-S4-004"

CHECK_COVERAGE = "coverage_2B_S4"
CHECK_NORMALISATION = "normalisation_2B_S4"
CHECK_GAMMA_ECHO = "gamma_echo_2B_S4"
CHECK_BASE_SHARE_ECHO = "base_share_echo_2B_S4"



def run(inputs: Mapping[str, Any], ctx: StateContext) -> StateResult:
    out = ds.shape(laws.group_weight_table(inputs[ds.S3_DAY_EFFECTS], inputs[ds.S1_SITE_WEIGHTS]),
                   ds.S4_GROUP_WEIGHTS, ctx.world)
    md = out.group_by("merchant_id", "utc_day").agg(pl.col("p_group").max().alias("top"), pl.len().alias("k"))
    multi = md.filter(pl.col("k") >= 2)
    report = common.jsonable({"rows": out.height, "merchant_days": md.height, "multi_group_merchant_days": multi.height,
                              "median_max_p_group_multi": multi.get_column("top").median() if multi.height else None})
    return StateResult(outputs={ds.S4_GROUP_WEIGHTS: out}, report=report)


# ---- checks ---------------------------------------------------------------------------------------


def _out(result: StateResult) -> pl.DataFrame | None:
    v = result.outputs.get(ds.S4_GROUP_WEIGHTS)
    return v if isinstance(v, pl.DataFrame) else None


def check_coverage(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    out = _out(result)
    if out is None:
        return common.missing_output(CODE_COVERAGE, ds.S4_GROUP_WEIGHTS)
    return common.outcome(CODE_COVERAGE, laws.coverage_errors(out, inputs[ds.S3_DAY_EFFECTS]), out.height)


def check_normalisation(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    out = _out(result)
    if out is None:
        return common.missing_output(CODE_NORMALISATION, ds.S4_GROUP_WEIGHTS)
    bad, worst = laws.s4_normalisation_errors(out)
    return common.outcome(CODE_NORMALISATION, bad, out.height, max_p_error=worst)


def check_gamma_echo(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    out = _out(result)
    if out is None:
        return common.missing_output(CODE_GAMMA_ECHO, ds.S4_GROUP_WEIGHTS)
    return common.outcome(CODE_GAMMA_ECHO, laws.gamma_echo_errors(out, inputs[ds.S3_DAY_EFFECTS]), out.height)


def check_base_share_echo(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    out = _out(result)
    if out is None:
        return common.missing_output(CODE_BASE_SHARE_ECHO, ds.S4_GROUP_WEIGHTS)
    return common.outcome(CODE_BASE_SHARE_ECHO, laws.base_share_echo_errors(out, inputs[ds.S1_SITE_WEIGHTS]),
                          out.height)
