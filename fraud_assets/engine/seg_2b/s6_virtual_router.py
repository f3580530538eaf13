"""2B S6 — virtual edge router (spec/engine/2B.md, "S6"; `s6_virtual_routing_plan`, `s6_virtual_manifest`,
`s6_edge_route_audit_sample`).

1. Plan: one row per `is_virtual` merchant of `virtual_classification_3B` (sort `merchant_id`):
   `edge_threshold_q31` = 2^31 for VIRTUAL_ONLY, else `round_half_even(edge_share·2^31)` clamped to
   [0, 2^31] (the one integer mode law, INTEGRATION (e)#3); the merchant's 3B slice (offset, length,
   `edge_count` = `edge_count_total`) from `edge_alias_index_3B`; `has_sites`.
2. Manifest: `edge_universe_hash` (3B's file), `edge_blob_sha256` recomputed (= 3B's GLOBAL index row),
   `prob_qbits` read from the 3B blob header, the plan's content digest, the day grid.
3. The library stage is `RoutingFabric.route_virtual` (edge iff `(w_mode >> 33) < threshold`, edge =
   decode(`w_edge`) on the merchant's 3B slice).
4. Audit roster: every plan merchant × `d ∈ D` × `k < K_v` (`K_v = clamp(⌊max_rows/(plan·|D|)⌋, 2,
   max_k_edge)`), words from `2B.s6.audit_edge` (key `merchant_id|utc_day|k`, block (0, 0): lane 0
   `w_mode`, lane 1 `w_edge`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

from fraud_assets.engine.seg_2b import common, laws, router
from fraud_assets.engine.seg_2b import datasets as ds
from fraud_assets.engine.seg_2b.config import Config2B
from fraud_assets.engine.seg_2b.rosters import audit_words
from fraud_assets.engine.seg_2b.virtual import (audit_k, build_plan, edge_attr_errors, edge_slice_errors,
                                               hybrid_errors, universe_errors, virtual_manifest,
                                               virtual_set_errors)
from fraud_assets.engine.state import CheckOutcome, StateContext, StateResult

CODE_VIRTUAL_SET_MISMATCH = "2B-S6-001"
CODE_EDGE_SLICE_INVALID = "2B-S6-002"
CODE_EDGE_UNIVERSE_HASH_MISMATCH = "2B-S6-003"
CODE_EDGE_ATTR_MISSING = "2B-S6-004"
CODE_HYBRID_WITHOUT_SITES = "2B-S6-005"
CODE_RNG_ACCOUNTING = "2B-S6-006"

CHECK_VIRTUAL_SET = "virtual_set_2B_S6"
CHECK_EDGE_SLICE = "edge_slice_2B_S6"
CHECK_UNIVERSE = "edge_universe_hash_2B_S6"
CHECK_EDGE_ATTR = "edge_attr_2B_S6"
CHECK_HYBRID = "hybrid_sites_2B_S6"
CHECK_RNG = "rng_accounting_2B_S6"

FAMILY = laws.FAMILY_AUDIT_EDGE


def run(inputs: Mapping[str, Any], ctx: StateContext) -> StateResult:
    cfg: Config2B = ctx.config
    w = ctx.world
    days = common.day_grid(w.preset)
    edge_blob = common.blob_bytes(inputs[ds.EDGE_ALIAS_BLOB], ds.EDGE_ALIAS_BLOB)
    plan = ds.shape(build_plan(inputs[ds.VIRTUAL_CLASSIFICATION], inputs[ds.EDGE_ALIAS_INDEX],
                               inputs[ds.S1_SITE_WEIGHTS]), ds.S6_PLAN, w)
    manifest = virtual_manifest(plan, edge_blob, inputs[ds.EDGE_ALIAS_INDEX],
                                common.json_input(inputs[ds.EDGE_UNIVERSE_HASH]), days)
    k_count = audit_k(plan.height, len(days), cfg.routing.audit.max_rows, cfg.routing.audit.max_k_edge)
    roster = plan.select("merchant_id").join(pl.DataFrame({"utc_day": common.day_series(days)}), how="cross").join(
        pl.DataFrame({"k": pl.Series(np.arange(k_count), dtype=pl.Int16)}), how="cross").sort(
        "merchant_id", "utc_day", "k")
    w_mode, w_edge = audit_words(roster, FAMILY, w.rng, w.seed)
    usable = plan.filter((pl.col("edge_count") > 0) & (pl.col("edge_slice_offset_bytes") >= 0))
    if roster.height and usable.height == plan.height:
        virtual = router.VirtualRouter.build(plan, edge_blob, inputs.get(ds.EDGE_CATALOGUE))
        routes = virtual.route(roster.get_column("merchant_id"), w_mode, w_edge).frame()
    else:  # a plan merchant without a usable slice: -002 reports it; no routes are invented
        routes = pl.DataFrame({"channel": pl.Series([None] * roster.height, dtype=pl.String),
                               "edge_seq_index": pl.Series([None] * roster.height, dtype=pl.Int32)})
    sample = roster.with_columns(routes.get_column("channel"), routes.get_column("edge_seq_index"),
                                 pl.Series("w_mode", w_mode, dtype=pl.UInt64),
                                 pl.Series("w_edge", w_edge, dtype=pl.UInt64))
    out = ds.shape(sample, ds.S6_EDGE_AUDIT, w)
    manifest["audit"] = {"k": k_count, "rows": out.height}
    channels = dict(out.group_by("channel").len().sort("channel").iter_rows()) if out.height else {}
    report = common.jsonable({"plan_merchants": plan.height, "modes": manifest["modes"], "audit_rows": out.height,
                              "k": k_count, "channels": channels})
    return StateResult(outputs={ds.S6_PLAN: plan, ds.S6_MANIFEST: manifest, ds.S6_EDGE_AUDIT: out},
                       rng=[common.tally(FAMILY, out.height, 2 * out.height, out.height)], report=report)


# ---- checks ---------------------------------------------------------------------------------------


def _outputs(result: StateResult) -> tuple[pl.DataFrame | None, dict, pl.DataFrame | None]:
    plan = result.outputs.get(ds.S6_PLAN)
    sample = result.outputs.get(ds.S6_EDGE_AUDIT)
    return (plan if isinstance(plan, pl.DataFrame) else None, common.json_input(result.outputs.get(ds.S6_MANIFEST)),
            sample if isinstance(sample, pl.DataFrame) else None)


def check_virtual_set(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    plan, _, _ = _outputs(result)
    if plan is None:
        return common.missing_output(CODE_VIRTUAL_SET_MISMATCH, ds.S6_PLAN)
    return common.outcome(CODE_VIRTUAL_SET_MISMATCH, virtual_set_errors(plan, inputs[ds.VIRTUAL_CLASSIFICATION]),
                          plan.height)


def check_edge_slice(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    plan, _, _ = _outputs(result)
    if plan is None:
        return common.missing_output(CODE_EDGE_SLICE_INVALID, ds.S6_PLAN)
    blob = common.blob_bytes(inputs[ds.EDGE_ALIAS_BLOB], ds.EDGE_ALIAS_BLOB)
    return common.outcome(CODE_EDGE_SLICE_INVALID, edge_slice_errors(plan, inputs[ds.EDGE_ALIAS_INDEX], blob),
                          plan.height)


def check_universe(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    _, manifest, _ = _outputs(result)
    blob = common.blob_bytes(inputs[ds.EDGE_ALIAS_BLOB], ds.EDGE_ALIAS_BLOB)
    bad = universe_errors(manifest, blob, inputs[ds.EDGE_ALIAS_INDEX], common.json_input(inputs[ds.EDGE_UNIVERSE_HASH]))
    return common.outcome(CODE_EDGE_UNIVERSE_HASH_MISMATCH, bad, 4, edge_universe_hash=manifest.get("edge_universe_hash"))


def check_edge_attr(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    _, _, sample = _outputs(result)
    if sample is None:
        return common.missing_output(CODE_EDGE_ATTR_MISSING, ds.S6_EDGE_AUDIT)
    return common.outcome(CODE_EDGE_ATTR_MISSING, edge_attr_errors(sample, inputs[ds.EDGE_CATALOGUE]), sample.height)


def check_hybrid(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    plan, _, _ = _outputs(result)
    if plan is None:
        return common.missing_output(CODE_HYBRID_WITHOUT_SITES, ds.S6_PLAN)
    return common.outcome(CODE_HYBRID_WITHOUT_SITES, hybrid_errors(plan, inputs[ds.S1_SITE_WEIGHTS]), plan.height)


def check_rng(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    _, _, sample = _outputs(result)
    if sample is None:
        return common.missing_output(CODE_RNG_ACCOUNTING, ds.S6_EDGE_AUDIT)
    got = {t.family: (t.keys, t.draws, t.blocks) for t in result.rng}
    want = {FAMILY: (sample.height, 2 * sample.height, sample.height)}
    bad = [[f, list(got.get(f, (0, 0, 0))), list(v)] for f, v in want.items() if got.get(f) != v]
    bad += [[f, "undeclared"] for f in sorted(set(got) - set(want))]
    return common.outcome(CODE_RNG_ACCOUNTING, bad, 1, tallies={f: list(v) for f, v in got.items()})
