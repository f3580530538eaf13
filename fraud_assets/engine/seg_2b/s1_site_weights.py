"""2B S1 — site weights (spec/engine/2B.md, "S1"; `s1_site_weights`, no RNG).

Per merchant: `site_locations ⋈ site_timezones` on the site key (both sides exactly,
else `2B-S1-001 SITE_SET_MISMATCH`), local density ρ from the sealed population raster
(one gather per band of rows that holds a site; bad samples `2B-S1-004`), then the
law of `laws.site_weight_table`: `a = (ρ + ρ0)^η`, a home-country flagship boost, `p = a/Σa`,
a uniform mix and one closed-form top-1 cap; groups are the merchant's distinct tzids in
ASCII order, members ranked by `(legal_country_iso, site_order)`. `site_id` comes from
`core.ids.site_ids_from_keys` and must be unique over the world (`2B-S1-006`).

Sort `merchant_id, group_index, member_index`: the rows of one alias slice are contiguous
and `member_row_offset + j` addresses member j.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

from fraud_assets.core.ids import site_ids_from_keys
from fraud_assets.engine.seg_2b import common, laws
from fraud_assets.engine.seg_2b import datasets as ds
from fraud_assets.engine.seg_2b.config import Config2B
from fraud_assets.engine.state import CheckOutcome, StateContext, StateResult

CODE_SITE_SET_MISMATCH = laws.CODE_SITE_SET_MISMATCH  # 2B-S1-001
CODE_WEIGHT_INVALID = "2B-S1-002"
CODE_NORMALISATION = "2B-S1-003"
CODE_RASTER_SAMPLE_INVALID = laws.CODE_RASTER_SAMPLE_INVALID  # 2B-S1-004
CODE_MEMBER_INDEX_INVALID = "2B-S1-005"
CODE_SITE_ID_COLLISION = "2B-S1-006"

CHECK_SITE_SET = "site_set_2B_S1"
CHECK_WEIGHT = "weight_valid_2B_S1"
CHECK_NORMALISATION = "normalisation_2B_S1"
CHECK_RASTER = "raster_sample_2B_S1"
CHECK_MEMBER_INDEX = "member_index_2B_S1"
CHECK_SITE_ID = "site_id_unique_2B_S1"

KEY = ds.KEY


def run(inputs: Mapping[str, Any], ctx: StateContext) -> StateResult:
    cfg: Config2B = ctx.config
    out = ds.shape(laws.site_weights(inputs, cfg.site_weights), ds.S1_SITE_WEIGHTS, ctx.world)
    per_m = out.group_by("merchant_id").agg(pl.len().alias("n"), pl.col("group_index").max() + 1,
                                            pl.col("p_weight").max().alias("top1"))
    report = common.jsonable({
        "sites": out.height, "merchants": per_m.height,
        "groups": out.select("merchant_id", "group_index").unique().height,
        "single_site_merchants": per_m.filter(pl.col("n") == 1).height,
        "capped_merchants": out.filter(pl.col("cap_applied")).get_column("merchant_id").n_unique(),
        "median_top1_multi_site": per_m.filter(pl.col("n") >= 2).get_column("top1").median(),
        "max_density": out.get_column("density").max() if out.height else None,
    })
    return StateResult(outputs={ds.S1_SITE_WEIGHTS: out}, report=report)


# ---- checks (pure; S7 and S8 re-run them on the written data) ------------------------------------


def _out(result: StateResult) -> pl.DataFrame | None:
    value = result.outputs.get(ds.S1_SITE_WEIGHTS)
    return value if isinstance(value, pl.DataFrame) else None


def check_site_set(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    out = _out(result)
    if out is None:
        return common.missing_output(CODE_SITE_SET_MISMATCH, ds.S1_SITE_WEIGHTS)
    keys = out.select(KEY)
    bad = []
    for dataset_id in (ds.SITE_LOCATIONS, ds.SITE_TIMEZONES):
        ref = inputs[dataset_id].select(KEY)
        diff = pl.concat([ref.join(keys, on=KEY, how="anti"), keys.join(ref, on=KEY, how="anti")]).sort(KEY)
        bad += common.key_list(diff, KEY)
    dup = keys.filter(pl.struct(KEY).is_duplicated())
    bad += common.key_list(dup.sort(KEY), KEY)
    return common.outcome(CODE_SITE_SET_MISMATCH, bad, out.height)


def check_weight(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    out = _out(result)
    if out is None:
        return common.missing_output(CODE_WEIGHT_INVALID, ds.S1_SITE_WEIGHTS)
    bad = out.filter(~(pl.col("p_weight").is_finite() & (pl.col("p_weight") > 0)
                       & pl.col("p_within").is_finite() & (pl.col("p_within") > 0)))
    return common.outcome(CODE_WEIGHT_INVALID, common.key_list(bad.head(10), KEY), out.height)


def normalisation_errors(out: pl.DataFrame, tol: float) -> tuple[list, float, float]:
    """Merchants whose Σ p differs from 1, and groups whose Σ p_within does, beyond `tol`."""
    m = out.group_by("merchant_id").agg(pl.col("p_weight").sum().alias("s"))
    g = out.group_by("merchant_id", "group_index").agg(pl.col("p_within").sum().alias("s"))
    bad_m = m.filter((pl.col("s") - 1.0).abs() > tol).sort("merchant_id")
    bad_g = g.filter((pl.col("s") - 1.0).abs() > tol).sort("merchant_id", "group_index")
    worst_m = float((m.get_column("s") - 1.0).abs().max() or 0.0) if m.height else 0.0
    worst_g = float((g.get_column("s") - 1.0).abs().max() or 0.0) if g.height else 0.0
    return (common.key_list(bad_m, ["merchant_id"]) + common.key_list(bad_g, ["merchant_id", "group_index"]),
            worst_m, worst_g)


def check_normalisation(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    out = _out(result)
    if out is None:
        return common.missing_output(CODE_NORMALISATION, ds.S1_SITE_WEIGHTS)
    tol = ctx.config.site_weights.normalisation_tolerance
    bad, worst_m, worst_g = normalisation_errors(out, tol)
    return common.outcome(CODE_NORMALISATION, bad, out.height, max_merchant_error=worst_m,
                          max_group_error=worst_g, tolerance=tol)


def check_raster(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    out = _out(result)
    if out is None:
        return common.missing_output(CODE_RASTER_SAMPLE_INVALID, ds.S1_SITE_WEIGHTS)
    bad = out.filter(~(pl.col("density").is_finite() & (pl.col("density") >= 0)))
    return common.outcome(CODE_RASTER_SAMPLE_INVALID, common.key_list(bad.head(10), KEY), out.height)


def member_index_errors(out: pl.DataFrame) -> list:
    g = out.group_by("merchant_id", "group_index").agg(
        pl.len().alias("n"), pl.col("member_index").min().alias("lo"), pl.col("member_index").max().alias("hi"),
        pl.col("member_index").n_unique().alias("u"))
    bad = g.filter((pl.col("lo") != 0) | (pl.col("hi") != pl.col("n") - 1) | (pl.col("u") != pl.col("n")))
    gi = out.group_by("merchant_id").agg(pl.col("group_index").n_unique().alias("u"),
                                         pl.col("group_index").max().alias("hi"))
    bad_gi = gi.filter(pl.col("hi") != pl.col("u") - 1)
    return (common.key_list(bad.sort("merchant_id", "group_index"), ["merchant_id", "group_index"])
            + common.key_list(bad_gi.sort("merchant_id"), ["merchant_id"]))


def check_member_index(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    out = _out(result)
    if out is None:
        return common.missing_output(CODE_MEMBER_INDEX_INVALID, ds.S1_SITE_WEIGHTS)
    return common.outcome(CODE_MEMBER_INDEX_INVALID, member_index_errors(out), out.height)


def check_site_id(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    out = _out(result)
    if out is None:
        return common.missing_output(CODE_SITE_ID_COLLISION, ds.S1_SITE_WEIGHTS)
    ids = out.get_column("site_id")
    dup = out.filter(ids.is_duplicated()).sort("site_id", *KEY)
    bad = common.key_list(dup, ["site_id", *KEY])
    expected = site_ids_from_keys(out.get_column("merchant_id"), out.get_column("legal_country_iso"),
                                  out.get_column("site_order"))
    wrong = out.filter(pl.Series(expected.to_numpy() != ids.to_numpy()))
    bad += common.key_list(wrong.head(10), KEY)
    return common.outcome(CODE_SITE_ID_COLLISION, bad, out.height, distinct=ids.n_unique(),
                          negative=int(np.sum(ids.to_numpy() < 0)))
