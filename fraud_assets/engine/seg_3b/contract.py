"""The virtual routing policy and the virtual validation contract (spec/engine/3B.md, "S4").

Not a state: `s4_routing` writes them, S5 reads the contract's stage-3B.S5 rows to know
which realism gates to evaluate and re-checks the policy against S3.

Contract rows (`test_id = f"{test_type}:{scope}:{stage}"`; policy-only, identical for every
seed): the 3B.S5 rows carry the realism gates of `virtual_validation.realism` grouped by
test type; the downstream rows are statistical usage checks in z-score / χ² form (5B, 6B).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import polars as pl

from fraud_assets.core import alias as core_alias
from fraud_assets.core.canonical import canonical_json
from fraud_assets.engine.seg_3b import datasets as ds
from fraud_assets.engine.seg_3b.config import Config3B

STAGE_S5, STAGE_5B, STAGE_6B = "3B.S5", "5B", "6B"
STAGES = (STAGE_S5, STAGE_5B, STAGE_6B)
SCOPES = ("GLOBAL", "PER_MERCHANT")
SEVERITIES = ("BLOCKING", "WARNING", "INFO")
TEST_TYPES = ("EDGE_HETEROGENEITY", "SETTLEMENT_COHERENCE", "CLASSIFICATION_EXPLAINABILITY",
              "SETTLEMENT_DIVERSITY", "ALIAS_FIDELITY", "VIRTUAL_PREVALENCE", "IP_COUNTRY_MIX",
              "EDGE_USAGE_VS_WEIGHT", "SETTLEMENT_CUTOFF", "ROUTING_RECEIPT")
# V19: these must be enabled BLOCKING stage-3B.S5 rows
REQUIRED_S5_TYPES = ("EDGE_HETEROGENEITY", "SETTLEMENT_COHERENCE", "CLASSIFICATION_EXPLAINABILITY",
                     "ALIAS_FIDELITY")

# realism gate → (test type, spec gate id)
GATES: dict[str, tuple[str, str]] = {
    "edges_per_merchant_cv": ("EDGE_HETEROGENEITY", "V01"),
    "countries_per_merchant_cv": ("EDGE_HETEROGENEITY", "V02"),
    "median_top1_edge_weight": ("EDGE_HETEROGENEITY", "V03"),
    "median_pairwise_js": ("EDGE_HETEROGENEITY", "V04"),
    "median_weight_gini": ("EDGE_HETEROGENEITY", "V09"),
    "top1_ge_010_share": ("EDGE_HETEROGENEITY", "V09"),
    "median_settlement_country_share": ("SETTLEMENT_COHERENCE", "V05"),
    "p75_settlement_country_share": ("SETTLEMENT_COHERENCE", "V06"),
    "median_edge_distance_km": ("SETTLEMENT_COHERENCE", "V07"),
    "median_weighted_median_distance_km": ("SETTLEMENT_COHERENCE", "V08"),
    "zero_settlement_share": ("SETTLEMENT_COHERENCE", "V10"),
    "polygon_tz_share": ("SETTLEMENT_COHERENCE", "V18"),
    "outside_polygon_share": ("SETTLEMENT_COHERENCE", "V18"),
    "rule_lineage_rate": ("CLASSIFICATION_EXPLAINABILITY", "V11"),
    "distinct_virtual_rule_ids": ("CLASSIFICATION_EXPLAINABILITY", "V12"),
    "mixed_outcome_cell_share": ("CLASSIFICATION_EXPLAINABILITY", "V13"),
    "unique_settlement_coord_share": ("SETTLEMENT_DIVERSITY", "V15"),
    "duplicate_exposure": ("SETTLEMENT_DIVERSITY", "V15"),
    "top1_settlement_tzid_share": ("SETTLEMENT_DIVERSITY", "V16"),
    "top1_settlement_city_share": ("SETTLEMENT_DIVERSITY", "V16"),
    "max_alias_abs_error": ("ALIAS_FIDELITY", "V17"),
    "virtual_only_share": ("VIRTUAL_PREVALENCE", "V14"),
    "any_edge_share": ("VIRTUAL_PREVALENCE", "V14"),
}
# value domain of each gate's bounds (3B-S4-005)
UNBOUNDED_ABOVE = {"edges_per_merchant_cv", "countries_per_merchant_cv", "median_edge_distance_km",
                   "median_weighted_median_distance_km", "distinct_virtual_rule_ids", "max_alias_abs_error"}
DESCRIPTIONS = {
    "EDGE_HETEROGENEITY": "edge counts, country spread and weight concentration differ between merchants",
    "SETTLEMENT_COHERENCE": "edges overlap the settlement country and sit near the settlement anchor",
    "CLASSIFICATION_EXPLAINABILITY": "every decision carries rule lineage; outcomes vary within MCC×channel cells",
    "SETTLEMENT_DIVERSITY": "settlement anchors are distinct addresses spread over cities and zones",
    "ALIAS_FIDELITY": "alias tables decode to the edge weights",
    "VIRTUAL_PREVALENCE": "VIRTUAL_ONLY and any-edge shares of merchants are in band",
    "IP_COUNTRY_MIX": "per merchant with ≥ min_arrivals virtual arrivals, ip_country frequencies follow the edge "
                      "country weights: pooled χ² over (merchant, country) cells with expected ≥ min_expected, "
                      "(χ² − df)/√(2df) ≤ z_max",
    "EDGE_USAGE_VS_WEIGHT": "edge usage follows edge_weight: pooled χ² over (merchant, edge) cells "
                            "(GLOBAL) and per cell |f − w|/√(w(1−w)/n) ≤ cell_z_max (PER_MERCHANT)",
    "SETTLEMENT_CUTOFF": "settlement day = local date of ts_utc in tzid_settlement from the cutoff, within "
                         "tolerance_seconds",
    "ROUTING_RECEIPT": "every virtual arrival echoes edge_universe_hash of its world",
}


def thresholds_json(value: Mapping[str, Any]) -> str:
    return canonical_json(dict(value)).decode("utf-8")


def contract_rows(cfg: Config3B) -> list[dict]:
    vv = cfg.virtual_validation
    rows: list[dict] = []
    by_type: dict[str, dict[str, list]] = {}
    for gate, bound in vv.realism.items():
        t = GATES.get(gate, ("UNKNOWN", "?"))[0]
        by_type.setdefault(t, {})[gate] = list(bound)
    for t in TEST_TYPES:
        if t not in by_type:
            continue
        gates = by_type[t]
        rows.append({"test_type": t, "scope": "GLOBAL", "stage": STAGE_S5, "severity": "BLOCKING", "enabled": True,
                     "thresholds": {"gates": gates, "gate_ids": {g: GATES[g][1] for g in sorted(gates)},
                                    "min_virtual_merchants": vv.min_virtual_merchants,
                                    **({"js_sample_pairs": vv.js_sample_pairs} if t == "EDGE_HETEROGENEITY" else {})}})
    d = vv.downstream
    rows += [
        {"test_type": "IP_COUNTRY_MIX", "scope": "GLOBAL", "stage": STAGE_6B, "severity": "BLOCKING", "enabled": True,
         "thresholds": {"statistic": "pooled_chi2_z", "z_max": d.chi2_z_max, "min_expected": d.min_expected,
                        "min_arrivals_per_merchant": d.min_arrivals_per_merchant}},
        {"test_type": "EDGE_USAGE_VS_WEIGHT", "scope": "GLOBAL", "stage": STAGE_5B, "severity": "BLOCKING",
         "enabled": True,
         "thresholds": {"statistic": "pooled_chi2_z", "z_max": d.chi2_z_max, "min_expected": d.min_expected,
                        "min_arrivals_per_merchant": d.min_arrivals_per_merchant}},
        {"test_type": "EDGE_USAGE_VS_WEIGHT", "scope": "PER_MERCHANT", "stage": STAGE_5B, "severity": "BLOCKING",
         "enabled": True,
         "thresholds": {"statistic": "cell_z", "cell_z_max": d.edge_z_max,
                        "min_arrivals_per_merchant": d.min_arrivals_per_merchant}},
        {"test_type": "SETTLEMENT_CUTOFF", "scope": "GLOBAL", "stage": STAGE_5B, "severity": "BLOCKING",
         "enabled": True,
         "thresholds": {"cutoff_local_time": cfg.virtual_routing_policy.settlement_cutoff_local_time,
                        "tolerance_seconds": d.cutoff_tolerance_seconds}},
        {"test_type": "ROUTING_RECEIPT", "scope": "GLOBAL", "stage": STAGE_5B, "severity": "BLOCKING", "enabled": True,
         "thresholds": {"echo_field": "edge_universe_hash", "source": f"{ds.EDGE_UNIVERSE_HASH}.json",
                        "missing_allowed": 0}},
    ]
    for r in rows:
        r["test_id"] = f"{r['test_type']}:{r['scope']}:{r['stage']}"
        r["description"] = DESCRIPTIONS[r["test_type"]]
    return rows


def contract_frame(cfg: Config3B, manifest_fingerprint: str) -> pl.DataFrame:
    rows = contract_rows(cfg)
    frame = pl.DataFrame({
        "test_id": [r["test_id"] for r in rows], "test_type": [r["test_type"] for r in rows],
        "stage": [r["stage"] for r in rows], "scope": [r["scope"] for r in rows],
        "thresholds_json": [thresholds_json(r["thresholds"]) for r in rows],
        "severity": [r["severity"] for r in rows], "enabled": pl.Series([r["enabled"] for r in rows], dtype=pl.Boolean),
        "description": [r["description"] for r in rows],
    })
    return ds.conform(ds.with_partition(frame, manifest_fingerprint), ds.VIRTUAL_VALIDATION_CONTRACT)


def _bad_bound(name: str, lo: Any, hi: Any) -> str | None:
    for v in (lo, hi):
        if v is not None and (not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0):
            return f"{name}: bound {v!r} is not a finite non-negative number"
        if v is not None and name not in UNBOUNDED_ABOVE and v > 1:
            return f"{name}: bound {v!r} outside [0, 1]"
    if lo is not None and hi is not None and lo > hi:
        return f"{name}: min {lo} > max {hi}"
    if lo is None and hi is None:
        return f"{name}: both bounds open"
    return None


def threshold_problems(contract: pl.DataFrame) -> list[str]:
    """`3B-S4-005`: every threshold in its domain (shares in [0, 1], z and counts positive, min ≤ max)."""
    import json

    problems: list[str] = []
    for r in contract.iter_rows(named=True):
        try:
            t = json.loads(r["thresholds_json"])
        except (TypeError, ValueError):
            problems.append(f"{r['test_id']}: thresholds_json does not parse")
            continue
        if r["test_type"] not in TEST_TYPES or r["stage"] not in STAGES or r["scope"] not in SCOPES \
                or r["severity"] not in SEVERITIES:
            problems.append(f"{r['test_id']}: test_type/stage/scope/severity outside the enums")
        if r["test_id"] != f"{r['test_type']}:{r['scope']}:{r['stage']}":
            problems.append(f"{r['test_id']}: test_id is not test_type:scope:stage")
        if r["stage"] == STAGE_S5:
            for gate, bound in (t.get("gates") or {}).items():
                if gate not in GATES or GATES[gate][0] != r["test_type"]:
                    problems.append(f"{r['test_id']}: unknown gate {gate}")
                    continue
                if not isinstance(bound, list) or len(bound) != 2:
                    problems.append(f"{r['test_id']}: {gate} bound is not [min, max]")
                    continue
                why = _bad_bound(gate, *bound)
                if why:
                    problems.append(f"{r['test_id']}: {why}")
            if not isinstance(t.get("min_virtual_merchants"), int) or t["min_virtual_merchants"] < 1:
                problems.append(f"{r['test_id']}: min_virtual_merchants must be an integer ≥ 1")
        else:
            for key in ("z_max", "cell_z_max", "min_expected", "min_arrivals_per_merchant"):
                if key in t and not (isinstance(t[key], (int, float)) and math.isfinite(t[key]) and t[key] > 0):
                    problems.append(f"{r['test_id']}: {key} = {t[key]!r} must be > 0")
            if "tolerance_seconds" in t and not (isinstance(t["tolerance_seconds"], (int, float))
                                                 and 0 <= t["tolerance_seconds"] <= 86_400):
                problems.append(f"{r['test_id']}: tolerance_seconds outside [0, 86400]")
    return problems


# ---- the routing policy ---------------------------------------------------------------------------

SETTLEMENT_DAY_RULE = ("local date of ts_utc in tzid_settlement, the day starting at settlement_cutoff_local_time")


def field_bindings() -> dict[str, dict[str, str]]:
    return {
        "dual_timezone_semantics": {
            "tzid_settlement_field": f"{ds.VIRTUAL_SETTLEMENT}.tzid_settlement",
            "tzid_operational_field": f"{ds.EDGE_CATALOGUE}.tzid_operational",
        },
        "geo_field_bindings": {
            "ip_country": f"{ds.EDGE_CATALOGUE}.country_iso",
            "ip_latitude": f"{ds.EDGE_CATALOGUE}.lat_deg",
            "ip_longitude": f"{ds.EDGE_CATALOGUE}.lon_deg",
            "ip_tzid": f"{ds.EDGE_CATALOGUE}.tzid_operational",
        },
    }


def routing_policy(cfg: Config3B, universe_doc: Mapping[str, Any], alias_global: Mapping[str, Any],
                   classification: pl.DataFrame, world: Any) -> dict:
    rp = cfg.virtual_routing_policy
    bindings = field_bindings()
    modes = dict(classification.group_by("virtual_mode").len().iter_rows())
    return {
        "manifest_fingerprint": world.manifest_fingerprint, "seed": world.seed,
        "parameter_hash": world.parameter_hash,
        "edge_universe_hash": universe_doc.get("edge_universe_hash"),
        "routing_policy_version": rp.version,
        "alias": {"codec": core_alias.CODEC, "qbits": core_alias.PROB_QBITS,
                  "layout_version": core_alias.LAYOUT_VERSION, "blob": ds.EDGE_ALIAS_BLOB,
                  "blob_file": ds.EDGE_ALIAS_BLOB_FILE, "index": ds.EDGE_ALIAS_INDEX,
                  "blob_sha256_hex": alias_global.get("blob_sha256_hex"),
                  "decode_law": "x: one raw 64-bit word; n = table length; j = ((x >> 32)·n) >> 32; "
                                "r = x & (2^31 − 1); edge_seq_index = j if r < prob[j] else alias[j]"},
        "modes": {
            "VIRTUAL_ONLY": "every arrival routes to an edge (alias pick)",
            "HYBRID": "an arrival routes to an edge with probability edge_share (2B's edge_threshold_q31 law on "
                      "one mode_pick word), else to a physical site",
            "NON_VIRTUAL": "every arrival routes to a physical site",
        },
        "dual_timezone_semantics": {
            **bindings["dual_timezone_semantics"], "primary_clock": rp.primary_clock,
            "settlement_cutoff_local_time": rp.settlement_cutoff_local_time,
            "settlement_day_rule": SETTLEMENT_DAY_RULE,
        },
        "geo_field_bindings": bindings["geo_field_bindings"],
        "consumer_rng": {
            "edge_pick": {"family": rp.consumer_rng_families.edge_pick, "owner": "5B",
                          "draws": "one raw 64-bit word per edge-routed arrival"},
            "mode_pick": {"family": rp.consumer_rng_families.mode_pick, "owner": "5B",
                          "draws": "one raw 64-bit word per arrival of a HYBRID merchant"},
        },
        "counts": {"merchants": classification.height,
                   "virtual_only": int(modes.get("VIRTUAL_ONLY", 0)), "hybrid": int(modes.get("HYBRID", 0)),
                   "non_virtual": int(modes.get("NON_VIRTUAL", 0)),
                   "alias_tables": alias_global.get("merchant_count"),
                   "edges": alias_global.get("edge_count_total")},
    }


def binding_problems(policy: Mapping[str, Any]) -> list[str]:
    """`3B-S4-002`: every bound `dataset.column` exists in the named dataset's schema."""
    problems = []
    fields = dict(policy.get("geo_field_bindings") or {})
    dts = policy.get("dual_timezone_semantics") or {}
    fields.update({k: dts.get(k) for k in ("tzid_settlement_field", "tzid_operational_field")})
    expected = {**field_bindings()["geo_field_bindings"], **field_bindings()["dual_timezone_semantics"]}
    for name, target in sorted(fields.items()):
        if not isinstance(target, str) or "." not in target:
            problems.append(f"{name}: {target!r} is not dataset.column")
            continue
        dataset, column = target.split(".", 1)
        if column not in ds.SCHEMAS.get(dataset, {}):
            problems.append(f"{name}: {target} names no column of a 3B dataset")
    missing = sorted(set(expected) - set(fields))
    if missing:
        problems.append(f"bindings missing: {missing}")
    if policy.get("dual_timezone_semantics", {}).get("primary_clock") != "operational":
        problems.append("primary_clock is not operational")
    return problems
