"""Every dataset segment 3B writes: scope, sort keys, exact schema (spec/engine/3B.md, INTEGRATION B.1).

Table rows embed `manifest_fingerprint` and (FS) `seed`, equal to the path tokens. Every
3B dataset is `[manifest_fingerprint, seed]` except the policy-only validation contract
(`[manifest_fingerprint]`, identical for every seed). The alias blob is a binary file:
a `Kind.FILES` dataset (`{EDGE_ALIAS_BLOB_FILE: bytes}`) the runner publishes as a
directory. Besides the spec's outputs S0 publishes `s0_gate_summary_3B` (JSON): the
validated policy figures, the consumed 1A contract and the content digests of the 1A
inputs, which its checks and S5 read.

Columns beyond the spec (all derivable, kept so the checks and S5 never re-derive them):
`virtual_classification_3B.gdp_bucket` (the modifier input) and `p_virtual` (the
effective probability, null when no uniform is drawn).
"""

from __future__ import annotations

import polars as pl

from fraud_assets.core.dictionary import DatasetSpec, Kind, Scope
from fraud_assets.engine.common.tables import SegmentTables

SEGMENT = "3B"
LAYER = 1

S0_GATE_SUMMARY = "s0_gate_summary_3B"
VIRTUAL_CLASSIFICATION = "virtual_classification_3B"
VIRTUAL_SETTLEMENT = "virtual_settlement_3B"
EDGE_CATALOGUE = "edge_catalogue_3B"
EDGE_CATALOGUE_INDEX = "edge_catalogue_index_3B"
EDGE_ALIAS_BLOB = "edge_alias_blob_3B"
EDGE_ALIAS_BLOB_FILE = "edge_alias_blob_3B.bin"
EDGE_ALIAS_INDEX = "edge_alias_index_3B"
EDGE_UNIVERSE_HASH = "edge_universe_hash_3B"
VIRTUAL_ROUTING_POLICY = "virtual_routing_policy_3B"
VIRTUAL_VALIDATION_CONTRACT = "virtual_validation_contract_3B"
RNG_TRACE = "rng_trace_3B"

# upstream datasets (INTEGRATION B.1)
MERCHANT_IDS = "merchant_ids"
OUTLET_CATALOGUE = "outlet_catalogue"

# reference inputs (ARCHITECTURE §9)
REF_CITIES = "ref.cities"
REF_COUNTRIES = "ref.world_countries"
REF_GDP_BUCKET = "ref.gdp_bucket_map"
REF_TZ_WORLD = "ref.tz_world"
REF_ZONE_TAB = "ref.tzdb_zone_tab"
REF_ZONE1970_TAB = "ref.tzdb_zone1970_tab"
REF_LINKS = "ref.tzdb_links"
REF_TZIF_DIGEST = "ref.tzif_digest"
REF_MCC = "ref.mcc_codes"

I64, I32, I8, U64 = pl.Int64, pl.Int32, pl.Int8, pl.UInt64
F64, STR, BOOL = pl.Float64, pl.String, pl.Boolean

# what 3B consumes of 1A (INTEGRATION B.1)
MERCHANT_IDS_COLUMNS = {"merchant_id": I64, "mcc": I32, "channel": STR, "home_country_iso": STR}
OUTLET_COLUMNS = {"merchant_id": I64, "legal_country_iso": STR}

SCOPE_GLOBAL = "GLOBAL"
SCOPE_MERCHANT = "MERCHANT"

_TABLE: dict[str, tuple[Scope, tuple[str, ...], dict[str, pl.DataType]]] = {
    VIRTUAL_CLASSIFICATION: (Scope.FS, ("merchant_id",), {
        "manifest_fingerprint": STR, "seed": U64,
        "merchant_id": I64, "mcc": I32, "channel": STR, "home_country_iso": STR, "outlet_count": I32,
        "gdp_bucket": I8, "is_virtual": BOOL, "virtual_mode": STR, "edge_share": F64, "decision_reason": STR,
        "rule_id": STR, "rule_version": STR, "rule_group": STR, "propensity": F64, "p_virtual": F64,
        "rules_policy_version": STR,
    }),
    VIRTUAL_SETTLEMENT: (Scope.FS, ("merchant_id",), {
        "manifest_fingerprint": STR, "seed": U64,
        "merchant_id": I64, "settlement_site_id": STR, "settlement_country_iso": STR, "city_geonameid": I64,
        "city_name": STR, "city_population": I64, "city_bucket": STR, "lat_deg": F64, "lon_deg": F64,
        "tzid_settlement": STR, "tz_source": STR, "coord_source": STR, "offset_km": F64, "evidence_url": STR,
        "settlement_policy_version": STR,
    }),
    EDGE_CATALOGUE: (Scope.FS, ("merchant_id", "edge_seq_index"), {
        "manifest_fingerprint": STR, "seed": U64,
        "merchant_id": I64, "edge_id": I64, "edge_seq_index": I32, "country_iso": STR, "city_geonameid": I64,
        "lat_deg": F64, "lon_deg": F64, "tzid_operational": STR, "tz_source": STR, "edge_weight": F64,
        "capacity_factor": F64, "distance_to_settlement_km": F64, "is_settlement_country": BOOL,
        "footprint_class": STR, "topology_policy_version": STR,
    }),
    EDGE_CATALOGUE_INDEX: (Scope.FS, ("scope", "merchant_id"), {
        "manifest_fingerprint": STR, "seed": U64,
        "scope": STR, "merchant_id": I64, "virtual_mode": STR, "footprint_class": STR,
        "edge_count_total": I32, "country_count": I32, "settlement_country_iso": STR,
        "settlement_country_share": F64, "top1_edge_share": F64, "weight_gini": F64,
        "weighted_median_distance_km": F64, "merchant_edge_digest": STR, "merchant_count": I32,
        "edge_catalogue_digest": STR,
    }),
    EDGE_ALIAS_INDEX: (Scope.FS, ("scope", "merchant_id"), {
        "manifest_fingerprint": STR, "seed": U64,
        "scope": STR, "merchant_id": I64, "blob_offset_bytes": I64, "blob_length_bytes": I32,
        "edge_count_total": I32, "alias_table_length": I32, "merchant_alias_checksum": STR, "qbits": I32,
        "layout_version": I32, "blob_sha256_hex": STR, "blob_size_bytes": I64, "merchant_count": I32,
    }),
    VIRTUAL_VALIDATION_CONTRACT: (Scope.F, ("test_id",), {
        "manifest_fingerprint": STR,
        "test_id": STR, "test_type": STR, "stage": STR, "scope": STR, "thresholds_json": STR, "severity": STR,
        "enabled": BOOL, "description": STR,
    }),
}

_JSON: dict[str, Scope] = {
    S0_GATE_SUMMARY: Scope.FS,
    EDGE_UNIVERSE_HASH: Scope.FS,
    VIRTUAL_ROUTING_POLICY: Scope.FS,
}

TABLES = SegmentTables(SEGMENT, LAYER, _TABLE, _JSON)
SCHEMAS = TABLES.schemas
SORT = TABLES.sort
SCOPES = TABLES.scopes
BLOB_DATASET = DatasetSpec(id=EDGE_ALIAS_BLOB, segment=SEGMENT, layer=LAYER, scope=Scope.FS, kind=Kind.FILES)
DATASETS: list[DatasetSpec] = [*TABLES.datasets, BLOB_DATASET]
JSON_IDS = frozenset(_JSON)
empty = TABLES.empty
conform = TABLES.conform

# catalogue columns that carry the edge law (digests skip the partition columns)
EDGE_LAW_COLUMNS = tuple(c for c in SCHEMAS[EDGE_CATALOGUE] if c not in ("manifest_fingerprint", "seed"))
INDEX_LAW_COLUMNS = tuple(c for c in SCHEMAS[EDGE_CATALOGUE_INDEX] if c not in ("manifest_fingerprint", "seed"))
ALIAS_INDEX_LAW_COLUMNS = tuple(c for c in SCHEMAS[EDGE_ALIAS_INDEX] if c not in ("manifest_fingerprint", "seed"))


def with_partition(frame: pl.DataFrame, manifest_fingerprint: str, seed: int | None = None) -> pl.DataFrame:
    """Embed the partition tokens as columns (seed only for FS datasets)."""
    cols = [pl.lit(manifest_fingerprint, dtype=STR).alias("manifest_fingerprint")]
    if seed is not None:
        cols.append(pl.lit(seed, dtype=U64).alias("seed"))
    return frame.with_columns(cols)
