"""3B S2 — edge catalogue (spec/engine/3B.md, "S2"; the law is `topology`).

Writes `edge_catalogue_3B` (one row per edge, sort merchant_id, edge_seq_index) and
`edge_catalogue_index_3B` (GLOBAL row first, then one MERCHANT row per virtual
merchant). An empty virtual set is legal: an empty catalogue and the GLOBAL row.

Checks: `3B-S2-001` merchant set = S1's `is_virtual` set; `-002` Σ weight = 1 ± 1e-12,
0 < w ≤ 1; `-003` N within the class bounds; `-004` edge_id = the `core.ids` recipe,
unique per merchant and across the world; `-005` tzids load; `-006` the index equals the
index re-derived from the catalogue; `-007` RNG uniforms = 3 + 6N per merchant, per family;
`-008` (added: the spec names no code) edge counts are not degenerate — with at least
`min_virtual_merchants` merchants their CV is > 0 and N rises with merchant size
(Spearman ρ(size multiplier, N) > 0 among merchants of one class).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

from fraud_assets.core.ids import edge_ids_from_keys
from fraud_assets.engine.seg_3b import common, topology
from fraud_assets.engine.seg_3b import datasets as ds
from fraud_assets.engine.seg_3b.config import Config3B
from fraud_assets.engine.state import CheckOutcome, StateContext, StateResult

FAMILIES = topology.FAMILIES

CODE_S1_CONTRACT = "3B-S2-001"
CODE_WEIGHT = "3B-S2-002"
CODE_EDGE_COUNT = "3B-S2-003"
CODE_EDGE_ID = "3B-S2-004"
CODE_TZID = "3B-S2-005"
CODE_INDEX = "3B-S2-006"
CODE_RNG = "3B-S2-007"
CODE_HETEROGENEITY = "3B-S2-008"

CHECK_S1_CONTRACT = "edges_s1_contract_3B"
CHECK_WEIGHT = "edge_weights_valid_3B"
CHECK_EDGE_COUNT = "edge_count_bounds_3B"
CHECK_EDGE_ID = "edge_id_unique_3B"
CHECK_TZID = "edge_tzid_valid_3B"
CHECK_INDEX = "edge_index_consistent_3B"
CHECK_RNG = "edge_rng_accounting_3B"
CHECK_HETEROGENEITY = "edge_count_heterogeneity_3B"

WEIGHT_TOL = 1e-12


def run(inputs: Mapping[str, Any], ctx: StateContext) -> StateResult:
    cat = topology.build(inputs[ds.VIRTUAL_CLASSIFICATION], inputs[ds.VIRTUAL_SETTLEMENT], inputs, ctx.config,
                         ctx.world)
    rng = [common.tally(f, k, u, b) for f, (k, u, b) in topology.family_counts(cat.edge_counts).items() if k]
    n = cat.edge_counts
    report = common.jsonable({
        **cat.figures,
        "edges_per_merchant": {"min": int(n.min()) if n.size else None, "max": int(n.max()) if n.size else None,
                               "mean": float(n.mean()) if n.size else None,
                               "cv": float(n.std() / n.mean()) if n.size and n.mean() > 0 else None},
        "draws": {f: u for f, (_, u, _) in topology.family_counts(n).items()},
    })
    return StateResult(outputs={ds.EDGE_CATALOGUE: cat.edges, ds.EDGE_CATALOGUE_INDEX: cat.index}, rng=rng,
                       report=report)


# ---- checks ---------------------------------------------------------------------------------------


def _edges(result: StateResult) -> pl.DataFrame | None:
    v = result.outputs.get(ds.EDGE_CATALOGUE)
    return v if isinstance(v, pl.DataFrame) else None


def _index(result: StateResult) -> pl.DataFrame | None:
    v = result.outputs.get(ds.EDGE_CATALOGUE_INDEX)
    return v if isinstance(v, pl.DataFrame) else None


def check_s1_contract(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    edges, index = _edges(result), _index(result)
    if edges is None or index is None:
        return common.missing_output(CODE_S1_CONTRACT, ds.EDGE_CATALOGUE)
    virt = set(inputs[ds.VIRTUAL_CLASSIFICATION].filter(pl.col("is_virtual")).get_column("merchant_id").to_list())
    settled = set(inputs[ds.VIRTUAL_SETTLEMENT].get_column("merchant_id").to_list())
    with_edges = set(edges.get_column("merchant_id").unique().to_list())
    indexed = set(index.filter(pl.col("scope") == ds.SCOPE_MERCHANT).get_column("merchant_id").to_list())
    bad = sorted((virt ^ with_edges) | (virt ^ indexed) | (virt ^ settled))
    return common.outcome(CODE_S1_CONTRACT, bad, len(virt), merchants_with_edges=len(with_edges))


def check_weight(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    edges = _edges(result)
    if edges is None:
        return common.missing_output(CODE_WEIGHT, ds.EDGE_CATALOGUE)
    per = edges.group_by("merchant_id").agg(pl.col("edge_weight").sum().alias("total"),
                                            pl.col("edge_weight").min().alias("lo"),
                                            pl.col("edge_weight").max().alias("hi"))
    bad = per.filter(((pl.col("total") - 1.0).abs() > WEIGHT_TOL) | (pl.col("lo") <= 0.0) | (pl.col("hi") > 1.0)
                     | pl.col("total").is_nan()).sort("merchant_id")
    worst = float((per.get_column("total") - 1.0).abs().max()) if per.height else 0.0
    return common.outcome(CODE_WEIGHT, bad.get_column("merchant_id").to_list(), per.height,
                          max_abs_sum_error=worst)


def check_edge_count(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    index = _index(result)
    if index is None:
        return common.missing_output(CODE_EDGE_COUNT, ds.EDGE_CATALOGUE_INDEX)
    classes = ctx.config.edge_topology.classes
    bounds = pl.DataFrame({"footprint_class": list(classes), "lo": [k.edge_count_min for k in classes.values()],
                           "hi": [k.edge_count_max for k in classes.values()]})
    rows = index.filter(pl.col("scope") == ds.SCOPE_MERCHANT).join(bounds, on="footprint_class", how="left")
    bad = rows.filter(pl.col("lo").is_null() | (pl.col("edge_count_total") < pl.col("lo"))
                      | (pl.col("edge_count_total") > pl.col("hi")))
    return common.outcome(CODE_EDGE_COUNT, bad.get_column("merchant_id").to_list(), rows.height)


def check_edge_id(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    edges = _edges(result)
    if edges is None:
        return common.missing_output(CODE_EDGE_ID, ds.EDGE_CATALOGUE)
    dup = edges.filter(pl.col("edge_id").is_duplicated())
    bad = common.key_list(dup.sort("merchant_id", "edge_seq_index"), ["merchant_id", "edge_seq_index"])
    if edges.height:
        again = edge_ids_from_keys(edges.get_column("merchant_id"), edges.get_column("edge_seq_index"))
        off = edges.filter(pl.Series(again.to_numpy() != edges.get_column("edge_id").to_numpy()))
        bad += common.key_list(off, ["merchant_id", "edge_seq_index"])
        seq = edges.group_by("merchant_id").agg(pl.len().alias("n"), pl.col("edge_seq_index").min().alias("lo"),
                                                pl.col("edge_seq_index").max().alias("hi"),
                                                pl.col("edge_seq_index").n_unique().alias("u"))
        gaps = seq.filter((pl.col("lo") != 0) | (pl.col("hi") != pl.col("n") - 1) | (pl.col("u") != pl.col("n")))
        bad += [[m, None] for m in gaps.get_column("merchant_id").to_list()]
    return common.outcome(CODE_EDGE_ID, bad, edges.height, duplicates=dup.height)


def check_tzid(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    edges = _edges(result)
    if edges is None:
        return common.missing_output(CODE_TZID, ds.EDGE_CATALOGUE)
    loads = sorted(common.loadable_tzids(inputs[ds.REF_TZIF_DIGEST]))
    bad = edges.filter(pl.col("tzid_operational").is_null() | ~pl.col("tzid_operational").is_in(loads)
                       | ~pl.col("tz_source").is_in(list(topology.TZ_SOURCES)))
    return common.outcome(CODE_TZID, common.key_list(bad, ["merchant_id", "edge_seq_index"]), edges.height)


def check_index(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    edges, index = _edges(result), _index(result)
    if edges is None or index is None:
        return common.missing_output(CODE_INDEX, ds.EDGE_CATALOGUE_INDEX)
    merchants = topology.virtual_merchants(inputs[ds.VIRTUAL_CLASSIFICATION], inputs[ds.VIRTUAL_SETTLEMENT])
    again = topology.build_index(edges, merchants, ctx.world)
    if again.equals(index):
        return common.outcome(CODE_INDEX, [], index.height)
    key = ["scope", "merchant_id"]
    diff = pl.concat([index.join(again, on=list(again.columns), how="anti", nulls_equal=True).select(key),
                      again.join(index, on=list(again.columns), how="anti", nulls_equal=True).select(key)])
    return common.outcome(CODE_INDEX, common.key_list(diff.unique().sort(key, nulls_last=False), key) or ["order"],
                          index.height)


def check_rng(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    index = _index(result)
    if index is None:
        return common.missing_output(CODE_RNG, ds.EDGE_CATALOGUE_INDEX)
    n = index.filter(pl.col("scope") == ds.SCOPE_MERCHANT).get_column("edge_count_total").to_numpy()
    expected = topology.family_counts(n)
    got = {t.family: (t.keys, t.draws, t.blocks) for t in result.rng}
    bad = [f for f, v in expected.items() if got.get(f, (0, 0, 0)) != v]
    bad += [f for f in got if f not in expected]
    total = sum(topology.expected_uniforms(x) for x in n.tolist())
    return common.outcome(CODE_RNG, bad, len(expected), expected_uniforms=total,
                          traced_uniforms=sum(v[1] for v in got.values()))


def spearman(x: np.ndarray, y: np.ndarray) -> float | None:
    if x.size < 3 or np.all(x == x[0]) or np.all(y == y[0]):
        return None
    rx = pl.Series(x).rank("average").to_numpy()
    ry = pl.Series(y).rank("average").to_numpy()
    return float(np.corrcoef(rx, ry)[0, 1])


def heterogeneity(index: pl.DataFrame, classification: pl.DataFrame, cfg: Config3B) -> dict:
    """CV of edge counts and ρ(size multiplier, N) per footprint class (VIRTUAL_ONLY merchants)."""
    rows = (index.filter(pl.col("scope") == ds.SCOPE_MERCHANT)
            .join(classification.select("merchant_id", "outlet_count"), on="merchant_id", how="left"))
    n = rows.get_column("edge_count_total").to_numpy().astype(np.float64)
    cv = float(n.std() / n.mean()) if n.size and n.mean() > 0 else None
    rho = {}
    for (cls,), g in rows.filter(pl.col("virtual_mode") == "VIRTUAL_ONLY").group_by(["footprint_class"], maintain_order=True):
        size = np.array([topology.size_multiplier(o, cfg.edge_topology) for o in g.get_column("outlet_count")])
        rho[cls] = spearman(size, g.get_column("edge_count_total").to_numpy().astype(np.float64))
    return {"merchants": int(n.size), "edge_count_cv": cv, "distinct_edge_counts": int(np.unique(n).size),
            "spearman_size_edges": rho}


def check_heterogeneity(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    """`3B-S2-008`: N varies (CV > 0) and does not fall with merchant size (pooled ρ ≥ 0 where defined);
    skipped below `min_virtual_merchants`."""
    index = _index(result)
    if index is None:
        return common.missing_output(CODE_HETEROGENEITY, ds.EDGE_CATALOGUE_INDEX)
    h = heterogeneity(index, inputs[ds.VIRTUAL_CLASSIFICATION], ctx.config)
    floor = ctx.config.virtual_validation.min_virtual_merchants
    if h["merchants"] < floor:
        return common.outcome(CODE_HETEROGENEITY, [], h["merchants"], status="SKIPPED", **h)
    bad = []
    if not h["edge_count_cv"]:
        bad.append("edge counts are constant")
    defined = [r for r in h["spearman_size_edges"].values() if r is not None]
    if defined and float(np.mean(defined)) < 0:
        bad.append(f"edge count falls with merchant size (mean ρ {np.mean(defined):.3f})")
    return common.outcome(CODE_HETEROGENEITY, bad, h["merchants"], status="EVALUATED", **h)
