"""Every dataset segment 3A writes: scope, sort keys, exact schema (spec/engine/3A.md).

Table rows embed `manifest_fingerprint` and (FS) `seed`, equal to the path tokens
(spec "Conventions"). S2's two tables are seed-free (`F`): they depend only on config
and reference bytes, and every seed's build re-publishes them as `ALREADY_PUBLISHED`.
Besides the spec's outputs S0 publishes `s0_gate_3A` (JSON, FS): the validated policy
versions and digests, the consumed-contract and world-partition checks of the sealed
upstream inputs, and their content digests (the runner's generic receipt carries the
upstream flags and the sealed file digests). S7 writes no dataset: its bundle is the
runner's `validation/` directory.
"""

from __future__ import annotations

import polars as pl

from fraud_assets.core.dictionary import Scope
from fraud_assets.engine.common.tables import SegmentTables

SEGMENT = "3A"
LAYER = 1

S0_GATE = "s0_gate_3A"
S1_ESCALATION = "s1_escalation_queue"
S2_PRIORS = "s2_country_zone_priors"
S2_UNIVERSE = "s2_zone_universe_3A"
S3_SHARES = "s3_zone_shares"
S4_COUNTS = "s4_zone_counts"
ZONE_ALLOC = "zone_alloc"
UNIVERSE_HASH = "zone_alloc_universe_hash"
S6_REPORT = "s6_validation_report_3A"
S6_ISSUES = "s6_issue_table_3A"
RNG_TRACE = "rng_trace_3A"

# upstream datasets (INTEGRATION B.1)
OUTLET_CATALOGUE = "outlet_catalogue"
SITE_TIMEZONES = "site_timezones"

# reference inputs (ARCHITECTURE §9)
REF_ISO = "ref.iso3166_canonical"
REF_ZONE_TAB = "ref.tzdb_zone_tab"
REF_LINKS = "ref.tzdb_links"
REF_CITIES = "ref.cities"
REF_TZ_WORLD = "ref.tz_world"
REF_COUNTRIES = "ref.world_countries"
REFERENCE_READS = (REF_ISO, REF_ZONE_TAB, REF_LINKS, REF_CITIES, REF_TZ_WORLD, REF_COUNTRIES)

# RNG families (spec S1 rule e, S3 steps 4 and 6)
FAMILY_ESCALATION = "3A.s1.escalation"
FAMILY_DISPERSION = "3A.s3.dispersion"
FAMILY_DIRICHLET = "3A.s3.dirichlet"

I64, I32, U64 = pl.Int64, pl.Int32, pl.UInt64
F64, STR, BOOL = pl.Float64, pl.String, pl.Boolean

PAIR_SORT = ("merchant_id", "legal_country_iso")
PAIR_ZONE_SORT = ("merchant_id", "legal_country_iso", "tzid")
COUNTRY_ZONE_SORT = ("country_iso", "tzid")

# what 3A consumes of its upstream (INTEGRATION B.1); extra columns are allowed
OUTLET_COLUMNS = {"merchant_id": I64, "legal_country_iso": STR, "site_order": I32}
SITE_TZ_COLUMNS = {"merchant_id": I64, "legal_country_iso": STR, "site_order": I32, "tzid": STR}

_FS = {"manifest_fingerprint": STR, "seed": U64}

_TABLE: dict[str, tuple[Scope, tuple[str, ...], dict[str, pl.DataType]]] = {
    S2_PRIORS: (Scope.F, COUNTRY_ZONE_SORT, {
        "manifest_fingerprint": STR, "country_iso": STR, "tzid": STR, "mass_basis": STR,
        "share_raw": F64, "share_merged": F64, "prior_share": F64, "alpha_raw": F64, "alpha_effective": F64,
        "floor_applied": BOOL, "share_effective": F64, "alpha_sum_country": F64, "zone_count_country": I32,
        "effective_zone_count": F64, "prior_policy_version": STR, "floor_policy_version": STR,
    }),
    S2_UNIVERSE: (Scope.F, COUNTRY_ZONE_SORT, {
        "manifest_fingerprint": STR, "country_iso": STR, "tzid": STR, "zone_source": STR,
        "ref_lat_deg": F64, "ref_lon_deg": F64, "population_mass": F64, "share_raw": F64,
        "is_material": BOOL, "merged_into_tzid": STR,
    }),
    S1_ESCALATION: (Scope.FS, PAIR_SORT, {
        **_FS, "merchant_id": I64, "legal_country_iso": STR, "site_count": I32, "zone_count_country": I32,
        "effective_zone_count": F64, "top1_prior_share": F64, "expected_secondary_sites": F64,
        "is_escalated": BOOL, "decision_reason": STR, "escalation_prob": F64, "mixture_policy_version": STR,
    }),
    S3_SHARES: (Scope.FS, PAIR_ZONE_SORT, {
        **_FS, "merchant_id": I64, "legal_country_iso": STR, "tzid": STR, "site_count": I32,
        "prior_share": F64, "site_share": F64, "center_share": F64, "kappa": F64, "alpha": F64,
        "share_drawn": F64, "share_sum_country": F64, "prior_policy_version": STR, "mixture_policy_version": STR,
    }),
    S4_COUNTS: (Scope.FS, PAIR_ZONE_SORT, {
        **_FS, "merchant_id": I64, "legal_country_iso": STR, "tzid": STR, "site_count": I32,
        "share_drawn": F64, "fractional_target": F64, "base_count": I32, "residual": F64,
        "residual_rank": I32, "zone_site_count": I32,
    }),
    ZONE_ALLOC: (Scope.FS, PAIR_ZONE_SORT, {
        **_FS, "merchant_id": I64, "legal_country_iso": STR, "tzid": STR, "zone_site_count": I32,
        "site_count": I32, "zone_share": F64, "is_escalated": BOOL, "decision_reason": STR,
        "alpha_sum_country": F64, "prior_policy_version": STR, "floor_policy_version": STR,
        "mixture_policy_version": STR, "routing_universe_hash": STR,
    }),
    S6_ISSUES: (Scope.FS, ("severity", "issue_code", "merchant_id", "legal_country_iso", "tzid"), {
        **_FS, "check_id": STR, "issue_code": STR, "severity": STR, "merchant_id": I64,
        "legal_country_iso": STR, "tzid": STR, "detail": STR,
    }),
}

_JSON: dict[str, Scope] = {
    S0_GATE: Scope.FS,
    UNIVERSE_HASH: Scope.FS,
    S6_REPORT: Scope.FS,
}

TABLES = SegmentTables(SEGMENT, LAYER, _TABLE, _JSON)
SCHEMAS = TABLES.schemas
SORT = TABLES.sort
SCOPES = TABLES.scopes
DATASETS = TABLES.datasets
JSON_IDS = frozenset(_JSON)
empty = TABLES.empty
conform = TABLES.conform
