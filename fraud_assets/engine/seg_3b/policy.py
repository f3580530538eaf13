"""3B policy validation and the S0 summary contract: pure functions S0's checks, S1 and S5 share.

`policy_problems` is `3B-S0-004 POLICY_SCHEMA_INVALID` (every rule MCC in `mcc_codes`,
ranges filtered to existing codes, exactly one `default: true` rule per channel, mix rows
and bucket probabilities summing to 1 ± 1e-9, value bounds); `rule_mcc_set` is the one
definition of a rule's MCC set (S1 matches against it); `summary_problems` is the
`s0_gate_summary_3B` schema (`3B-S0-007`, `3B-S1-001`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import polars as pl

from fraud_assets.core.digest import content_digest
from fraud_assets.engine.seg_3b import datasets as ds
from fraud_assets.engine.seg_3b.config import CHANNELS, CLASSES, POLICY_FILES, Config3B
from fraud_assets.engine.state import StateContext

SUM_TOL = 1e-9
SUMMARY_FIELDS = {"segment": str, "manifest_fingerprint": str, "parameter_hash": str, "seed": int, "preset": str,
                  "registered_utc": str, "checks": dict, "policy_versions": dict, "policy_digests": dict,
                  "inputs": dict, "passed": bool}
_ISO2 = re.compile(r"^[A-Z]{2}$")
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d:[0-5]\d$")

# the realism gate names S5 evaluates (spec "Realism gates"), so an unknown name is a policy error
REALISM_GATES = (
    "edges_per_merchant_cv", "countries_per_merchant_cv", "median_top1_edge_weight", "median_pairwise_js",
    "median_settlement_country_share", "p75_settlement_country_share", "median_edge_distance_km",
    "median_weighted_median_distance_km", "median_weight_gini", "top1_ge_010_share", "zero_settlement_share",
    "rule_lineage_rate", "distinct_virtual_rule_ids", "mixed_outcome_cell_share", "virtual_only_share",
    "any_edge_share", "unique_settlement_coord_share", "duplicate_exposure", "top1_settlement_tzid_share",
    "top1_settlement_city_share", "max_alias_abs_error", "polygon_tz_share", "outside_polygon_share",
)


def missing_policies(cfg: Config3B) -> list[str]:
    return [f"{name}.yaml missing" for name in POLICY_FILES if getattr(cfg, name) is None]


def rule_mcc_set(rule: Any, known: frozenset[int]) -> frozenset[int] | None:
    """A rule's MCC set (explicit codes ∪ ranges filtered to `known`); None for `mcc: any`."""
    if rule.mcc == "any":
        return None
    codes = set(rule.mccs)
    for lo, hi in rule.mcc_ranges:
        codes.update(c for c in known if lo <= c <= hi)
    return frozenset(codes)


def _sums_to_one(values: Any) -> bool:
    return all(v >= 0 and math.isfinite(v) for v in values) and abs(sum(values) - 1.0) <= SUM_TOL


def rules_problems(cfg: Config3B, known: frozenset[int]) -> list[str]:
    vr = cfg.virtual_rules
    if vr is None:
        return []
    problems: list[str] = []
    ids = [r.rule_id for r in vr.rules]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        problems.append(f"duplicate rule_id {dup}")
    for ch in CHANNELS:
        defaults = [r.rule_id for r in vr.rules if r.channel == ch and r.default]
        if len(defaults) != 1:
            problems.append(f"channel {ch} has {len(defaults)} default rules {defaults} (exactly one required)")
    for r in vr.rules:
        unknown = sorted(c for c in r.mccs if c not in known)
        if unknown:
            problems.append(f"rule {r.rule_id}: MCCs not in mcc_codes {unknown[:10]}")
        for lo, hi in r.mcc_ranges:
            if lo > hi or lo < 0 or hi > 9999:
                problems.append(f"rule {r.rule_id}: range [{lo}, {hi}] invalid")
        if r.default and r.mcc != "any":
            problems.append(f"rule {r.rule_id}: a default rule must have `mcc: any`")
        if r.mcc != "any" and not r.mccs and not r.mcc_ranges:
            problems.append(f"rule {r.rule_id}: no MCC, range or `mcc: any`")
        if r.mcc != "any" and not rule_mcc_set(r, known):
            problems.append(f"rule {r.rule_id}: no MCC of its ranges exists in mcc_codes")
        if not (0.0 <= r.propensity <= 1.0):
            problems.append(f"rule {r.rule_id}: propensity {r.propensity} outside [0, 1]")
        if not r.rule_version or not r.group:
            problems.append(f"rule {r.rule_id}: empty rule_version or group")
    m = vr.modifiers
    if not (0.0 < m.propensity_cap <= 1.0):
        problems.append(f"propensity_cap {m.propensity_cap} outside (0, 1]")
    if sorted(m.gdp_bucket) != [1, 2, 3, 4, 5] or any(v < 0 for v in m.gdp_bucket.values()):
        problems.append("gdp_bucket modifiers must give every bucket 1..5 a multiplier ≥ 0")
    expect = 1
    for lo, hi, mult in m.size:
        if lo != expect or (hi is not None and hi < lo) or mult < 0:
            problems.append(f"size modifier row [{lo}, {hi}, {mult}] breaks the contiguous cover from 1")
            break
        expect = (hi + 1) if hi is not None else None
    if m.size and m.size[-1][1] is not None:
        problems.append("the last size modifier row must be open (hi = null)")
    oids = [o.merchant_id for o in vr.overrides]
    if len(oids) != len(set(oids)) or any(i < 0 for i in oids):
        problems.append("override merchant_ids must be unique and non-negative")
    return problems


def settlement_problems(cfg: Config3B) -> list[str]:
    sp = cfg.settlement_policy
    if sp is None:
        return []
    problems: list[str] = []
    if sp.candidate_limit < 1:
        problems.append(f"candidate_limit {sp.candidate_limit} < 1")
    if not _sums_to_one([b.probability for b in sp.buckets]):
        problems.append(f"bucket probabilities {[b.probability for b in sp.buckets]} do not sum to 1 ± {SUM_TOL}")
    seen: set[int] = set()
    for b in sp.buckets:
        lo, hi = b.ranks
        if lo < 0 or hi < lo or hi >= sp.candidate_limit:
            problems.append(f"bucket {b.bucket}: ranks [{lo}, {hi}] outside [0, candidate_limit)")
        elif seen & set(range(lo, hi + 1)):
            problems.append(f"bucket {b.bucket}: ranks overlap an earlier bucket")
        seen |= set(range(max(lo, 0), max(hi, lo) + 1))
    if sum(b.include_capital for b in sp.buckets) > 1:
        problems.append("at most one bucket may include the capital")
    if sp.within_bucket.exponent <= 0 or sp.within_bucket.population_offset < 0:
        problems.append("within_bucket exponent must be > 0 and population_offset ≥ 0")
    if not (sp.address_offset_km >= 0):
        problems.append(f"address_offset_km {sp.address_offset_km} < 0")
    return problems


def topology_problems(cfg: Config3B) -> list[str]:
    et = cfg.edge_topology
    if et is None:
        return []
    problems: list[str] = []
    missing = [c for c in CLASSES if c not in et.classes]
    if missing:
        problems.append(f"classes missing {missing}")
    for name, k in et.classes.items():
        if not (1 <= k.edge_count_min <= k.edge_count_median <= k.edge_count_max):
            problems.append(f"class {name}: need 1 ≤ min ≤ median ≤ max")
        if k.edge_count_sigma < 0 or k.locality_tau_km <= 0 or k.weight_tau_km <= 0 or k.settlement_boost <= 0:
            problems.append(f"class {name}: sigma ≥ 0, tau > 0 and boost > 0 required")
        if not (0.0 <= k.locality_lambda <= 1.0):
            problems.append(f"class {name}: locality_lambda outside [0, 1]")
        if not (0.0 <= k.settlement_share_floor <= k.settlement_share_cap < 1.0):
            problems.append(f"class {name}: need 0 ≤ floor ≤ cap < 1")
    for group in ("default", "HYBRID"):
        if group not in et.footprint_mix:
            problems.append(f"footprint_mix lacks the {group} row")
    for group, row in et.footprint_mix.items():
        if not _sums_to_one(row):
            problems.append(f"footprint_mix {group} {list(row)} does not sum to 1 ± {SUM_TOL}")
    sm = et.size_multiplier
    if sm.reference_outlets <= 0 or not (0 < sm.min <= sm.max):
        problems.append("size_multiplier: reference_outlets > 0 and 0 < min ≤ max required")
    if et.hybrid_edge_count_multiplier <= 0 or et.jitter_radius_km < 0 or et.weight.capacity_sigma < 0:
        problems.append("hybrid_edge_count_multiplier > 0, jitter_radius_km ≥ 0, capacity_sigma ≥ 0 required")
    if et.cdn_base.gdp_exponent <= 0 or et.cdn_base.edge_city_min_population < 0:
        problems.append("cdn_base: gdp_exponent > 0 and edge_city_min_population ≥ 0 required")
    bad_iso = [c for c in et.cdn_base.excluded_countries if not _ISO2.match(c)]
    if bad_iso:
        problems.append(f"excluded_countries not ISO-2: {bad_iso}")
    return problems


def routing_problems(cfg: Config3B) -> list[str]:
    rp = cfg.virtual_routing_policy
    if rp is None:
        return []
    problems: list[str] = []
    lo, hi = rp.hybrid_edge_share
    if not (0.0 <= lo <= hi <= 1.0):
        problems.append(f"hybrid_edge_share [{lo}, {hi}] not within 0 ≤ lo ≤ hi ≤ 1")
    if not _TIME.match(rp.settlement_cutoff_local_time):
        problems.append(f"settlement_cutoff_local_time {rp.settlement_cutoff_local_time!r} is not HH:MM:SS")
    for name, fam in rp.consumer_rng_families.model_dump().items():
        if not fam.startswith("5B."):
            problems.append(f"consumer_rng_families.{name} = {fam!r}: consumer families belong to 5B")
    return problems


def validation_problems(cfg: Config3B) -> list[str]:
    vv = cfg.virtual_validation
    if vv is None:
        return []
    problems: list[str] = []
    unknown = sorted(set(vv.realism) - set(REALISM_GATES))
    if unknown:
        problems.append(f"unknown realism gates {unknown}")
    if vv.min_virtual_merchants < 1 or vv.js_sample_pairs < 1:
        problems.append("min_virtual_merchants and js_sample_pairs must be ≥ 1")
    return problems


def policy_problems(cfg: Config3B, known_mccs: frozenset[int]) -> list[str]:
    return (rules_problems(cfg, known_mccs) + settlement_problems(cfg) + topology_problems(cfg)
            + routing_problems(cfg) + validation_problems(cfg))


def contract_problems(frame: pl.DataFrame | None, columns: Mapping[str, pl.DataType], name: str) -> list[str]:
    if frame is None:
        return [f"{name}: missing"]
    problems = []
    for col, dtype in columns.items():
        if col not in frame.columns:
            problems.append(f"{name}: missing column {col}")
        elif frame.schema[col] != dtype:
            problems.append(f"{name}: column {col} is {frame.schema[col]}, expected {dtype}")
    return problems


def upstream_problems(inputs: Mapping[str, Any], ctx: StateContext) -> list[str]:
    mids, oc = inputs.get(ds.MERCHANT_IDS), inputs.get(ds.OUTLET_CATALOGUE)
    problems = contract_problems(mids, ds.MERCHANT_IDS_COLUMNS, ds.MERCHANT_IDS)
    problems += contract_problems(oc, ds.OUTLET_COLUMNS, ds.OUTLET_CATALOGUE)
    if oc is not None and "manifest_fingerprint" in oc.columns \
            and oc.filter(pl.col("manifest_fingerprint") != ctx.world.manifest_fingerprint).height:
        problems.append("outlet_catalogue: manifest_fingerprint differs from the world")
    if oc is not None and "global_seed" in oc.columns and oc.filter(pl.col("global_seed") != ctx.world.seed).height:
        problems.append("outlet_catalogue: global_seed differs from the world's seed")
    if mids is not None and "merchant_id" in mids.columns and mids.height:
        if mids.get_column("merchant_id").is_duplicated().any():
            problems.append("merchant_ids: duplicate merchant_id")
        if mids.get_column("merchant_id").min() < 0:
            problems.append("merchant_ids: negative merchant_id")
    return problems


def input_digests(inputs: Mapping[str, Any]) -> dict[str, dict]:
    """Rows and content digest of the consumed 1A columns (S5 recomputes them)."""
    out = {}
    for name, cols, key in ((ds.MERCHANT_IDS, ds.MERCHANT_IDS_COLUMNS, ["merchant_id"]),
                            (ds.OUTLET_CATALOGUE, ds.OUTLET_COLUMNS, ["merchant_id", "legal_country_iso"])):
        frame = inputs.get(name)
        if frame is None or any(c not in frame.columns for c in cols):
            out[name] = {"rows": None, "content_digest": None}
            continue
        out[name] = {"rows": frame.height, "content_digest": content_digest(frame, list(cols), key)}
    return out


def summary_problems(doc: Any, ctx: StateContext) -> list[str]:
    """`3B-S0-007`: every field present with its type, and the world's identity."""
    if not isinstance(doc, Mapping):
        return ["gate summary missing"]
    problems = [f"field {k} missing or not {t.__name__}" for k, t in SUMMARY_FIELDS.items()
                if not isinstance(doc.get(k), t)]
    w = ctx.world
    for k in ("manifest_fingerprint", "parameter_hash", "registered_utc"):
        if doc.get(k) != getattr(w, k):
            problems.append(f"{k} differs from the world")
    if doc.get("seed") != w.seed or doc.get("segment") != ds.SEGMENT:
        problems.append("seed or segment differs from the world")
    return problems
