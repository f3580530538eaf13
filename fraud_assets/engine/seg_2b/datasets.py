"""Every dataset segment 2B writes: scope, sort keys, exact schema (spec/engine/2B.md).

Every 2B dataset is FS; table rows embed `manifest_fingerprint` and `seed`, equal to
the path tokens (spec "Conventions"). Besides the spec's outputs S0 publishes
`s0_gate_receipt_2B` (JSON: day grid, codec, validated policy figures): the runner's
own `s0_gate_receipt.json` carries the upstream flags and sealed inputs, this one the
facts the spec adds (`day_grid`, `codec`).

`s2_alias_blob` is the binary alias blob: a `Kind.FILES` dataset holding one file,
`alias.bin` (`{ALIAS_BLOB_FILE: bytes}`), which the runner publishes as a directory and
hands to readers as `{file name: bytes}` (like 3B's `edge_alias_blob_3B`).
"""

from __future__ import annotations

import polars as pl

from fraud_assets.core.dictionary import DatasetSpec, Kind, Scope
from fraud_assets.engine.common.tables import SegmentTables

SEGMENT = "2B"
LAYER = 1

S0_RECEIPT = "s0_gate_receipt_2B"
S1_SITE_WEIGHTS = "s1_site_weights"
S2_ALIAS_BLOB = "s2_alias_blob"
ALIAS_BLOB_FILE = "alias.bin"
S2_ALIAS_INDEX = "s2_alias_index"
S2_ALIAS_MANIFEST = "s2_alias_manifest"
S3_DAY_EFFECTS = "s3_day_effects"
S3_MERCHANT_SIGMA = "s3_merchant_sigma"
S4_GROUP_WEIGHTS = "s4_group_weights"
S5_ROUTER_MANIFEST = "s5_router_manifest"
S5_ROUTE_AUDIT = "s5_route_audit_sample"
S6_PLAN = "s6_virtual_routing_plan"
S6_MANIFEST = "s6_virtual_manifest"
S6_EDGE_AUDIT = "s6_edge_route_audit_sample"
S7_REPORT = "s7_audit_report"
S7_ISSUES = "s7_issue_table"
RNG_TRACE = "rng_trace_2B"

# upstream datasets (INTEGRATION B.1)
MERCHANT_IDS = "merchant_ids"
SITE_LOCATIONS = "site_locations"
SITE_TIMEZONES = "site_timezones"
VIRTUAL_CLASSIFICATION = "virtual_classification_3B"
EDGE_CATALOGUE = "edge_catalogue_3B"
EDGE_ALIAS_INDEX = "edge_alias_index_3B"
EDGE_ALIAS_BLOB = "edge_alias_blob_3B"
EDGE_UNIVERSE_HASH = "edge_universe_hash_3B"
UPSTREAM_3B = (VIRTUAL_CLASSIFICATION, EDGE_CATALOGUE, EDGE_ALIAS_INDEX, EDGE_ALIAS_BLOB, EDGE_UNIVERSE_HASH)

# reference inputs (ARCHITECTURE §9)
REF_POPULATION_RASTER = "ref.population_raster"

I64, I32, I16, I8, U64 = pl.Int64, pl.Int32, pl.Int16, pl.Int8, pl.UInt64
F64, STR, BOOL, DATE = pl.Float64, pl.String, pl.Boolean, pl.Date

SITE_KEY = ("merchant_id", "legal_country_iso", "site_order")
KEY = list(SITE_KEY)
PART = {"manifest_fingerprint": STR, "seed": U64}

_TABLE: dict[str, tuple[Scope, tuple[str, ...], dict[str, pl.DataType]]] = {
    S1_SITE_WEIGHTS: (Scope.FS, ("merchant_id", "group_index", "member_index"), {
        **PART, "merchant_id": I64, "legal_country_iso": STR, "site_order": I32, "site_id": I64,
        "tz_group_id": STR, "group_index": I16, "member_index": I32, "n_sites": I32, "density": F64,
        "is_flagship": BOOL, "p_weight": F64, "base_share": F64, "p_within": F64, "cap_applied": BOOL,
        "weight_profile": STR,
    }),
    S2_ALIAS_INDEX: (Scope.FS, ("merchant_id", "group_index"), {
        **PART, "merchant_id": I64, "tz_group_id": STR, "group_index": I16, "slice_seq": I32,
        "blob_offset_bytes": I64, "blob_length_bytes": I32, "n_members": I32, "member_row_offset": I64,
        "prob_qbits": I8, "slice_sha256": STR,
    }),
    S3_DAY_EFFECTS: (Scope.FS, ("merchant_id", "utc_day", "group_index"), {
        **PART, "merchant_id": I64, "tz_group_id": STR, "group_index": I16, "utc_day": DATE, "day_index": I16,
        "sigma_group": F64, "epsilon": F64, "z": F64, "log_gamma": F64, "gamma": F64, "clipped": BOOL,
    }),
    S3_MERCHANT_SIGMA: (Scope.FS, ("merchant_id",), {
        **PART, "merchant_id": I64, "n_sites": I32, "size_bucket": STR, "zeta": F64, "sigma_merchant": F64,
    }),
    S4_GROUP_WEIGHTS: (Scope.FS, ("merchant_id", "utc_day", "group_index"), {
        **PART, "merchant_id": I64, "utc_day": DATE, "tz_group_id": STR, "group_index": I16, "n_groups": I16,
        "base_share": F64, "gamma": F64, "mass_raw": F64, "p_group": F64, "mass_q31": I64,
    }),
    S5_ROUTE_AUDIT: (Scope.FS, ("merchant_id", "utc_day", "k"), {
        **PART, "merchant_id": I64, "utc_day": DATE, "k": I16, "zone": STR, "roster_country_iso": STR,
        "route_path": STR, "tz_group_id": STR, "legal_country_iso": STR, "site_order": I32, "site_id": I64,
        "w_group": U64, "w_site": U64,
    }),
    S6_PLAN: (Scope.FS, ("merchant_id",), {
        **PART, "merchant_id": I64, "virtual_mode": STR, "edge_share": F64, "edge_threshold_q31": I64,
        "edge_count": I32, "edge_slice_offset_bytes": I64, "edge_slice_length_bytes": I32, "has_sites": BOOL,
    }),
    S6_EDGE_AUDIT: (Scope.FS, ("merchant_id", "utc_day", "k"), {
        **PART, "merchant_id": I64, "utc_day": DATE, "k": I16, "channel": STR,
        "edge_seq_index": I32, "w_mode": U64, "w_edge": U64,
    }),
    S7_ISSUES: (Scope.FS, ("severity", "code", "merchant_id"), {
        **PART, "severity": STR, "code": STR, "merchant_id": I64, "detail": STR,
    }),
}

_JSON: dict[str, Scope] = {
    S0_RECEIPT: Scope.FS,
    S2_ALIAS_MANIFEST: Scope.FS,
    S5_ROUTER_MANIFEST: Scope.FS,
    S6_MANIFEST: Scope.FS,
    S7_REPORT: Scope.FS,
}

TABLES = SegmentTables(SEGMENT, LAYER, _TABLE, _JSON)
SCHEMAS = TABLES.schemas
SORT = TABLES.sort
SCOPES = TABLES.scopes
BLOB_DATASET = DatasetSpec(id=S2_ALIAS_BLOB, segment=SEGMENT, layer=LAYER, scope=Scope.FS, kind=Kind.FILES)
DATASETS: list[DatasetSpec] = [*TABLES.datasets, BLOB_DATASET]
JSON_IDS = frozenset(_JSON)
empty = TABLES.empty
conform = TABLES.conform


def with_partition(frame: pl.DataFrame, manifest_fingerprint: str, seed: int) -> pl.DataFrame:
    """Embed the partition tokens as columns (every 2B dataset is FS)."""
    return frame.with_columns(pl.lit(manifest_fingerprint, dtype=STR).alias("manifest_fingerprint"),
                              pl.lit(seed, dtype=U64).alias("seed"))


def shape(frame: pl.DataFrame, dataset_id: str, world) -> pl.DataFrame:  # noqa: ANN001 - World
    """Partition columns, declared columns and dtypes, declared sort."""
    return conform(with_partition(frame, world.manifest_fingerprint, world.seed), dataset_id)
