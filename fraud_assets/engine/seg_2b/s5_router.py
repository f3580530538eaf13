"""2B S5 — physical router (spec/engine/2B.md, "S5"; `s5_router_manifest`, `s5_route_audit_sample`).

The routing law itself is the library `engine.seg_2b.router` (`RoutingFabric`); this state
publishes its manifest (codec and `prob_qbits` read from the blob header, content digests of
`s1_site_weights`, `s2_alias_index`, `s4_group_weights`, the blob sha256, counts, the day grid)
and proves the fabric on a deterministic **audit roster**: every merchant × every `d ∈ D` ×
`k < K`, `K = clamp(⌊max_rows/(merchants·|D|)⌋, 2, max_k)`, zone by `k mod 4` (identity
`zone_of`): 0 → null (day mix); 1, 3 → `G(m)[(k + ⌊k/4⌋) mod |G(m)|]` with the country of that
group's member 0 (zone-pinned); 2 → `"Etc/Orphan"` with the flagship's country (orphan path).
Two raw words per row from `2B.s5.audit_route` (key `merchant_id|utc_day|k`, block (0, 0):
lane 0 `w_group`, lane 1 `w_site`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from fraud_assets.engine.seg_2b import common, laws, router
from fraud_assets.engine.seg_2b import datasets as ds
from fraud_assets.engine.seg_2b.config import Config2B
from fraud_assets.engine.seg_2b.rosters import (audit_k, audit_words, empty_group_errors, group_site_errors,
                                               roster, route_roster, router_manifest)
from fraud_assets.engine.state import CheckOutcome, StateContext, StateResult

CODE_GROUP_SITE_MISMATCH = "2B-S5-002"
CODE_EMPTY_GROUP = "2B-S5-004"
CODE_RNG_ACCOUNTING = "2B-S5-005"

CHECK_GROUP_SITE = "group_site_coherence_2B_S5"
CHECK_EMPTY_GROUP = "empty_group_2B_S5"
CHECK_RNG = "rng_accounting_2B_S5"

FAMILY = laws.FAMILY_AUDIT_ROUTE


def run(inputs: Mapping[str, Any], ctx: StateContext) -> StateResult:
    cfg: Config2B = ctx.config
    w = ctx.world
    days = common.day_grid(w.preset)
    weights = inputs[ds.S1_SITE_WEIGHTS]
    fabric = router.RoutingFabric.from_inputs(inputs, w)
    merchants = weights.get_column("merchant_id").n_unique()
    k_count = audit_k(merchants, len(days), cfg.routing.audit.max_rows, cfg.routing.audit.max_k)
    plan = roster(weights, days, k_count)
    w_group, w_site = audit_words(plan, FAMILY, w.rng, w.seed)
    sample = route_roster(fabric, plan, w_group, w_site)
    out = ds.shape(sample, ds.S5_ROUTE_AUDIT, w)
    manifest = router_manifest(inputs, days)
    manifest["audit"] = {"k": k_count, "rows": out.height}
    paths = dict(out.group_by("route_path").len().sort("route_path").iter_rows())
    report = common.jsonable({"audit_rows": out.height, "k": k_count, "merchants": merchants, "route_paths": paths,
                              "tables_packed": len(fabric.tables), "entries_packed": int(fabric.packed.prob.shape[0])})
    return StateResult(outputs={ds.S5_ROUTER_MANIFEST: manifest, ds.S5_ROUTE_AUDIT: out},
                       rng=[common.tally(FAMILY, out.height, 2 * out.height, out.height)], report=report)


# ---- checks ---------------------------------------------------------------------------------------


def check_group_site(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    sample = result.outputs.get(ds.S5_ROUTE_AUDIT)
    if not isinstance(sample, pl.DataFrame):
        return common.missing_output(CODE_GROUP_SITE_MISMATCH, ds.S5_ROUTE_AUDIT)
    bad = group_site_errors(sample, inputs[ds.S4_GROUP_WEIGHTS], inputs[ds.S1_SITE_WEIGHTS])
    paths = dict(sample.group_by("route_path").len().iter_rows())
    return common.outcome(CODE_GROUP_SITE_MISMATCH, bad, sample.height, route_paths=paths)


def check_empty_group(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    index = inputs[ds.S2_ALIAS_INDEX]
    return common.outcome(CODE_EMPTY_GROUP, empty_group_errors(index, inputs[ds.S1_SITE_WEIGHTS]), index.height)


def check_rng(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    sample = result.outputs.get(ds.S5_ROUTE_AUDIT)
    if not isinstance(sample, pl.DataFrame):
        return common.missing_output(CODE_RNG_ACCOUNTING, ds.S5_ROUTE_AUDIT)
    got = {t.family: (t.keys, t.draws, t.blocks) for t in result.rng}
    want = {FAMILY: (sample.height, 2 * sample.height, sample.height)}
    bad = [[f, list(got.get(f, (0, 0, 0))), list(v)] for f, v in want.items() if got.get(f) != v]
    bad += [[f, "undeclared"] for f in sorted(set(got) - set(want))]
    return common.outcome(CODE_RNG_ACCOUNTING, bad, 1, tallies={f: list(v) for f, v in got.items()})
