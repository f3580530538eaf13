"""3B realism metrics and gates (spec/engine/3B.md, "Realism gates"; evaluated by S5 from the contract).

Not a state. `metrics(...)` computes V01–V18 over the written outputs (merchants with
edges for the edge gates, all merchants for the classification gates); `evaluate(...)`
checks them against the enabled stage-3B.S5 contract rows (`[min, max]`, null = open) and
V19 (the contract itself). Below `min_virtual_merchants` merchants with edges every gate is
`SKIPPED`. Cross-seed gates (X01, X02) need several seeds and belong to realism
certification (`benchmarks/realism/3B`); `cross_seed(...)` computes X01 from per-seed metrics.

V04 samples ≤ `js_sample_pairs` merchant pairs by hash: pair k is
`(a, b)` = the two 32-bit halves of sha256(b"fa.3B.js" \\x1f dec(k))[0:8] reduced modulo M
(b shifted past a), so the sample depends only on the merchant set (all pairs when there
are fewer than the budget).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from fraud_assets.engine.seg_3b import contract
from fraud_assets.engine.seg_3b import datasets as ds

SKIPPED, PASS, FAIL, UNEVALUATED = "SKIPPED", "PASS", "FAIL", "NOT_EVALUATED"
MIN_CELL_MERCHANTS = 10


def _cv(x: np.ndarray) -> float | None:
    x = np.asarray(x, dtype=np.float64)
    return float(x.std() / x.mean()) if x.size and x.mean() > 0 else None


def _median(x: Any) -> float | None:
    x = np.asarray(x, dtype=np.float64)
    return float(np.median(x)) if x.size else None


def _quantile(x: Any, q: float) -> float | None:
    x = np.asarray(x, dtype=np.float64)
    return float(np.quantile(x, q)) if x.size else None


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen–Shannon divergence in bits of two distributions on the same support."""
    p = p / p.sum()
    q = q / q.sum()
    m = 0.5 * (p + q)

    def kl(a: np.ndarray) -> float:
        nz = a > 0
        return float((a[nz] * np.log2(a[nz] / m[nz])).sum())

    return max(0.0, 0.5 * kl(p) + 0.5 * kl(q))


def sample_pairs(m: int, budget: int) -> list[tuple[int, int]]:
    if m < 2:
        return []
    if m * (m - 1) // 2 <= budget:
        return [(a, b) for a in range(m) for b in range(a + 1, m)]
    out = []
    for k in range(budget):
        h = int.from_bytes(hashlib.sha256(b"fa.3B.js\x1f%d" % k).digest()[0:8], "little")
        a = (h & 0xFFFFFFFF) % m
        b = ((h >> 32) % (m - 1) + a + 1) % m
        out.append((min(a, b), max(a, b)))
    return out


def median_pairwise_js(edges: pl.DataFrame, budget: int) -> tuple[float | None, int]:
    if edges.height == 0:
        return None, 0
    cw = edges.group_by("merchant_id", "country_iso").agg(pl.col("edge_weight").sum()).sort("merchant_id",
                                                                                            "country_iso")
    countries = sorted(cw.get_column("country_iso").unique().to_list())
    col = {c: i for i, c in enumerate(countries)}
    mids = sorted(cw.get_column("merchant_id").unique().to_list())
    row = {m: i for i, m in enumerate(mids)}
    mat = np.zeros((len(mids), len(countries)))
    for m, c, w in cw.iter_rows():
        mat[row[m], col[c]] += w
    pairs = sample_pairs(len(mids), budget)
    vals = [js_divergence(mat[a], mat[b]) for a, b in pairs]
    return _median(vals), len(pairs)


def mixed_outcome_cells(classification: pl.DataFrame) -> tuple[float | None, int]:
    """V13: MCC×channel cells with ≥ 10 merchants whose rule has 0 < p < 1 showing both outcomes."""
    eligible = classification.filter(pl.col("p_virtual").is_not_null() & (pl.col("p_virtual") > 0)
                                     & (pl.col("p_virtual") < 1))
    cells = (eligible.group_by("mcc", "channel").agg(pl.len().alias("n"), pl.col("is_virtual").any().alias("any"),
                                                    (~pl.col("is_virtual")).any().alias("none"))
             .filter(pl.col("n") >= MIN_CELL_MERCHANTS))
    if cells.height == 0:
        return None, 0
    return float((cells.get_column("any") & cells.get_column("none")).mean()), cells.height


def metrics(classification: pl.DataFrame, settlement: pl.DataFrame, edges: pl.DataFrame, index: pl.DataFrame,
            max_alias_abs_error: float | None, outside: np.ndarray, js_budget: int) -> dict[str, Any]:
    per = index.filter(pl.col("scope") == ds.SCOPE_MERCHANT)
    n_all = classification.height
    virt = classification.filter(pl.col("is_virtual"))
    js, pairs = median_pairwise_js(edges, js_budget)
    cells, n_cells = mixed_outcome_cells(classification)
    share = per.get_column("settlement_country_share").to_numpy() if per.height else np.zeros(0)
    coords = settlement.select("lat_deg", "lon_deg")
    dup_mask = coords.is_duplicated() if coords.height else pl.Series([], dtype=pl.Boolean)
    city_key = settlement.select(pl.coalesce(pl.col("city_geonameid").cast(pl.String),
                                             pl.lit("country:") + pl.col("settlement_country_iso")).alias("k"))
    top_share = (lambda s: float(s.value_counts().get_column("count").max() / s.len()) if s.len() else None)
    tz_src = edges.get_column("tz_source") if edges.height else pl.Series([], dtype=pl.String)
    return {
        "merchants": n_all, "merchants_with_edges": per.height, "edges": edges.height,
        "edges_per_merchant_cv": _cv(per.get_column("edge_count_total").to_numpy()),
        "countries_per_merchant_cv": _cv(per.get_column("country_count").to_numpy()),
        "median_top1_edge_weight": _median(per.get_column("top1_edge_share").to_numpy()),
        "median_pairwise_js": js, "js_pairs": pairs,
        "median_settlement_country_share": _median(share),
        "p75_settlement_country_share": _quantile(share, 0.75),
        "median_edge_distance_km": _median(edges.get_column("distance_to_settlement_km").to_numpy())
        if edges.height else None,
        "median_weighted_median_distance_km": _median(per.get_column("weighted_median_distance_km").to_numpy()),
        "median_weight_gini": _median(per.get_column("weight_gini").to_numpy()),
        "top1_ge_010_share": float((per.get_column("top1_edge_share") >= 0.10).mean()) if per.height else None,
        "zero_settlement_share": float((share <= 0.0).mean()) if share.size else None,
        "rule_lineage_rate": float((classification.get_column("rule_id").is_not_null()
                                    & classification.get_column("rule_version").is_not_null()).mean())
        if n_all else None,
        "distinct_virtual_rule_ids": virt.get_column("rule_id").drop_nulls().n_unique(),
        "mixed_outcome_cell_share": cells, "mixed_outcome_cells": n_cells,
        "virtual_only_share": float((classification.get_column("virtual_mode") == "VIRTUAL_ONLY").mean())
        if n_all else None,
        "any_edge_share": float(classification.get_column("is_virtual").mean()) if n_all else None,
        "unique_settlement_coord_share": float(coords.unique().height / coords.height) if coords.height else None,
        "duplicate_exposure": float(dup_mask.mean()) if coords.height else None,
        "top1_settlement_tzid_share": top_share(settlement.get_column("tzid_settlement")),
        "top1_settlement_city_share": top_share(city_key.get_column("k")),
        "max_alias_abs_error": max_alias_abs_error,
        "polygon_tz_share": float((tz_src == "POLYGON").mean()) if edges.height else None,
        "outside_polygon_share": float(np.asarray(outside).mean()) if edges.height else None,
    }


def _within(value: Any, bound: Sequence[Any]) -> bool | None:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    lo, hi = bound
    return (lo is None or value >= lo) and (hi is None or value <= hi)


def evaluate(values: Mapping[str, Any], contract_frame: pl.DataFrame, enforce: bool,
             min_merchants_default: int) -> dict[str, Any]:
    """Gate results from the enabled stage-3B.S5 rows (+ V19); `blocking_failed` lists what blocks."""
    rows = contract_frame.filter((pl.col("stage") == contract.STAGE_S5) & pl.col("enabled")).sort("test_id")
    gates: dict[str, dict] = {}
    floor = min_merchants_default
    for r in rows.iter_rows(named=True):
        t = json.loads(r["thresholds_json"])
        floor = int(t.get("min_virtual_merchants", floor))
        skipped = values.get("merchants_with_edges", 0) < floor
        for gate, bound in sorted((t.get("gates") or {}).items()):
            ok = None if skipped else _within(values.get(gate), bound)
            status = SKIPPED if skipped else (UNEVALUATED if ok is None else (PASS if ok else FAIL))
            gates[gate] = {"gate_id": contract.GATES.get(gate, ("", "?"))[1], "test_id": r["test_id"],
                           "value": values.get(gate), "bound": list(bound), "status": status,
                           "severity": r["severity"]}
    required = {t: rows.filter((pl.col("test_type") == t) & (pl.col("severity") == "BLOCKING")).height > 0
                for t in contract.REQUIRED_S5_TYPES}
    v19 = all(required.values()) and enforce
    gates["contract_enforced"] = {"gate_id": "V19", "test_id": None, "value": {"types": required, "enforce": enforce},
                                  "bound": "required", "status": PASS if v19 else FAIL, "severity": "BLOCKING"}
    failed = sorted(g for g, d in gates.items() if d["status"] == FAIL)
    blocking = sorted(g for g in failed if gates[g]["severity"] == "BLOCKING")
    return {"gates": gates, "failed_gates": failed, "blocking_failed": blocking,
            "skipped": values.get("merchants_with_edges", 0) < floor, "min_virtual_merchants": floor,
            "unevaluated_gates": sorted(g for g, d in gates.items() if d["status"] == UNEVALUATED),
            "gates_passed": not blocking}


X01_GATES = ("median_top1_edge_weight", "median_settlement_country_share", "median_edge_distance_km",
             "median_pairwise_js")


def cross_seed(per_seed: Mapping[int, Mapping[str, Any]], cv_max: float = 0.25) -> dict[str, Any]:
    """X01: cross-seed CV of the medians of V03, V05, V07, V04 (≤ cv_max)."""
    out = {}
    for g in X01_GATES:
        vals = np.array([m[g] for m in per_seed.values() if m.get(g) is not None], dtype=np.float64)
        cv = float(vals.std() / vals.mean()) if vals.size >= 2 and vals.mean() > 0 else None
        out[g] = {"values": vals.tolist(), "cv": cv, "passed": cv is not None and cv <= cv_max}
    return out
