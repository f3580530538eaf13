"""Every dataset segment 2A writes: scope, sort keys, exact schema (spec/engine/2A.md).

Table rows embed `manifest_fingerprint` and (FS) `seed`, equal to the path tokens
(spec "Conventions"). Besides the spec's outputs S0 publishes two small seed-free
tables so later states never re-derive them: `s0_country_zones` (the zone sets
`Z(c)`, ranks and `Z_tab` membership, computed once) and `s0_tz_world_summary`
(one row per `tz_world` tzid: `TW` for S2/S4/S5 without re-reading 97 MB of
polygons), and the JSON `s0_tz_receipt` with the civil-time facts of the
receipt (tzdata/IANA versions, `tzif_digest`, `tz_world` data version, horizon,
validated policy figures).
"""

from __future__ import annotations

import polars as pl

from fraud_assets.core.dictionary import Scope
from fraud_assets.engine.common.tables import SegmentTables

SEGMENT = "2A"
LAYER = 1

S0_TZ_RECEIPT = "s0_tz_receipt"
S0_COUNTRY_ZONES = "s0_country_zones"
S0_TZ_WORLD_SUMMARY = "s0_tz_world_summary"
S1_TZ_LOOKUP = "s1_tz_lookup"
SITE_TIMEZONES = "site_timezones"
TZ_TIMETABLE = "tz_timetable"
TZ_TIMETABLE_MANIFEST = "tz_timetable_manifest"
S4_TZ_WINDOWS = "s4_tz_windows"
S4_LEGALITY_REPORT = "s4_legality_report"
RNG_TRACE = "rng_trace_2A"

# upstream datasets (INTEGRATION B.1)
SITE_LOCATIONS = "site_locations"
MERCHANT_IDS = "merchant_ids"

# reference inputs (ARCHITECTURE §9)
REF_TZ_WORLD = "ref.tz_world"
REF_TZIF_DIGEST = "ref.tzif_digest"
REF_ZONE_TAB = "ref.tzdb_zone_tab"
REF_ZONE1970_TAB = "ref.tzdb_zone1970_tab"
REF_CITIES = "ref.cities"
REF_MCC = "ref.mcc_codes"
REF_ISO = "ref.iso3166_canonical"

I64, I32, I8, U64 = pl.Int64, pl.Int32, pl.Int8, pl.UInt64
F64, STR, BOOL = pl.Float64, pl.String, pl.Boolean

SITE_KEY = ("merchant_id", "legal_country_iso", "site_order")
KEY = list(SITE_KEY)
SITE_LOCATIONS_SCHEMA = {"merchant_id": I64, "legal_country_iso": STR, "site_order": I32,
                         "lat_deg": F64, "lon_deg": F64}

_TABLE: dict[str, tuple[Scope, tuple[str, ...], dict[str, pl.DataType]]] = {
    S0_COUNTRY_ZONES: (Scope.F, ("country_iso", "rank"), {
        "manifest_fingerprint": STR, "country_iso": STR, "tzid": STR, "rank": I32, "in_zone_tab": BOOL,
    }),
    S0_TZ_WORLD_SUMMARY: (Scope.F, ("tzid",), {
        "manifest_fingerprint": STR, "tzid": STR, "is_civil": BOOL, "parts": I32, "n_vertices": I64,
        "min_lon_deg": F64, "min_lat_deg": F64, "max_lon_deg": F64, "max_lat_deg": F64,
    }),
    S1_TZ_LOOKUP: (Scope.FS, SITE_KEY, {
        "manifest_fingerprint": STR, "seed": U64,
        "merchant_id": I64, "legal_country_iso": STR, "site_order": I32, "lat_deg": F64, "lon_deg": F64,
        "tzid_provisional": STR, "resolution": STR, "candidate_count": I8, "candidate_tzids": STR,
        "nudge_lat_deg": F64, "nudge_lon_deg": F64, "override_scope": STR, "fallback_distance_m": F64,
        "fallback_exception": BOOL, "in_country": BOOL,
    }),
    SITE_TIMEZONES: (Scope.FS, SITE_KEY, {
        "manifest_fingerprint": STR, "seed": U64,
        "merchant_id": I64, "legal_country_iso": STR, "site_order": I32, "tzid": STR, "tzid_source": STR,
        "resolution": STR, "override_scope": STR, "nudge_lat_deg": F64, "nudge_lon_deg": F64, "in_country": BOOL,
    }),
    TZ_TIMETABLE: (Scope.F, ("tzid", "seq"), {
        "manifest_fingerprint": STR, "tzid": STR, "seq": I32, "utc_start_s": I64, "utc_end_s": I64,
        "offset_s": I32, "dst_s": I32, "is_dst": BOOL, "abbrev": STR, "delta_prev_s": I32,
    }),
    S4_TZ_WINDOWS: (Scope.FS, ("tzid", "utc_instant_s"), {
        "manifest_fingerprint": STR, "seed": U64,
        "tzid": STR, "kind": STR, "utc_instant_s": I64, "local_start_s": I64, "local_end_s": I64,
        "delta_s": I32, "in_horizon": BOOL, "sites_using": I32,
    }),
}

_JSON: dict[str, Scope] = {
    S0_TZ_RECEIPT: Scope.FS,
    TZ_TIMETABLE_MANIFEST: Scope.F,
    S4_LEGALITY_REPORT: Scope.FS,
}

TABLES = SegmentTables(SEGMENT, LAYER, _TABLE, _JSON)
SCHEMAS = TABLES.schemas
SORT = TABLES.sort
SCOPES = TABLES.scopes
DATASETS = TABLES.datasets
empty = TABLES.empty
conform = TABLES.conform


def with_partition(frame: pl.DataFrame, manifest_fingerprint: str, seed: int | None = None) -> pl.DataFrame:
    """Embed the partition tokens as columns (seed only for FS datasets)."""
    cols = [pl.lit(manifest_fingerprint, dtype=STR).alias("manifest_fingerprint")]
    if seed is not None:
        cols.append(pl.lit(seed, dtype=U64).alias("seed"))
    return frame.with_columns(cols)
