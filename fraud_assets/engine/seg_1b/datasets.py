"""Every dataset segment 1B writes: scope, sort keys, exact schema (spec/engine/1B.md).

`SCHEMAS` holds the polars dtypes; `DATASETS` the `DatasetSpec`s the catalogue
publishes. `conform` is the one way a state shapes an output: declared columns in
declared order, exact dtypes, sorted by the declared keys. The RNG trace
(`rng_trace_1B`) is written by the runner from `StateResult.rng`.

`s0_tile_grid` (F, one row) is S0's resolved grid for the world's preset; S1, S2 and
S6 read it, which also orders them after the gate in the asset graph.
"""

from __future__ import annotations

import polars as pl

from fraud_assets.core.dictionary import Scope
from fraud_assets.engine.common.tables import SegmentTables

SEGMENT = "1B"
LAYER = 1

S0_TILE_GRID = "s0_tile_grid"
TILE_INDEX = "tile_index"
TILE_BOUNDS = "tile_bounds"
TILE_WEIGHTS = "tile_weights"
S3_REQUIREMENTS = "s3_requirements"
S4_ALLOC_PLAN = "s4_alloc_plan"
S5_SITE_TILE = "s5_site_tile_assignment"
S6_SITE_JITTER = "s6_site_jitter"
S7_SITE_SYNTHESIS = "s7_site_synthesis"
SITE_LOCATIONS = "site_locations"
RNG_TRACE = "rng_trace_1B"

# upstream (1A, gated by S0) and reference inputs (ARCHITECTURE §9)
OUTLET_CATALOGUE = "outlet_catalogue"
COUNTRY_UNIVERSE = "country_universe"
REF_COUNTRIES = "ref.world_countries"
REF_RASTER = "ref.population_raster"
REF_CITIES = "ref.cities"
REF_ISO = "ref.iso3166_canonical"

I64, I32, I16, I8, U64 = pl.Int64, pl.Int32, pl.Int16, pl.Int8, pl.UInt64
F64, STR = pl.Float64, pl.String

RNG_TRACE_SCHEMA = {"state": STR, "family": STR, "keys": I64, "draws": I64, "blocks": I64}

SITE_KEY = ("merchant_id", "legal_country_iso", "site_order")
PAIR_KEY = ("merchant_id", "legal_country_iso")
TILE_KEY = ("country_iso", "tile_id")

# id -> (scope, sort keys, schema)
_TABLE: dict[str, tuple[Scope, tuple[str, ...], dict[str, pl.DataType]]] = {
    S0_TILE_GRID: (Scope.F, ("preset",), {
        "preset": STR, "tiles_per_degree": I32, "raster_cells_per_degree": I32, "raster_factor": I32,
        "nrows": I32, "ncols": I32, "inclusion_rule": STR, "min_land_fraction": F64, "authalic_radius_m": F64,
    }),
    TILE_INDEX: (Scope.F, TILE_KEY, {
        "country_iso": STR, "tile_id": U64, "tile_row": I32, "tile_col": I32,
        "centroid_lat_deg": F64, "centroid_lon_deg": F64, "land_fraction": F64,
        "pixel_area_m2": F64, "land_area_m2": F64, "inclusion_rule": STR,
    }),
    TILE_BOUNDS: (Scope.F, TILE_KEY, {
        "country_iso": STR, "tile_id": U64, "min_lat_deg": F64, "max_lat_deg": F64,
        "min_lon_deg": F64, "max_lon_deg": F64, "centroid_lat_deg": F64, "centroid_lon_deg": F64,
        "clip_min_lat_deg": F64, "clip_max_lat_deg": F64, "clip_min_lon_deg": F64, "clip_max_lon_deg": F64,
    }),
    TILE_WEIGHTS: (Scope.F, TILE_KEY, {
        "country_iso": STR, "tile_id": U64, "weight_fp": I64, "dp": I8, "pop_mass": F64,
    }),
    S3_REQUIREMENTS: (Scope.FS, PAIR_KEY, {
        "merchant_id": I64, "legal_country_iso": STR, "n_sites": I32,
    }),
    S4_ALLOC_PLAN: (Scope.FS, (*PAIR_KEY, "tile_id"), {
        "merchant_id": I64, "legal_country_iso": STR, "tile_id": U64, "n_sites_tile": I32,
    }),
    S5_SITE_TILE: (Scope.FS, SITE_KEY, {
        "merchant_id": I64, "legal_country_iso": STR, "site_order": I32, "tile_id": U64, "u": F64,
    }),
    S6_SITE_JITTER: (Scope.FS, SITE_KEY, {
        "merchant_id": I64, "legal_country_iso": STR, "site_order": I32, "tile_id": U64,
        "lat_deg": F64, "lon_deg": F64, "delta_lat_deg": F64, "delta_lon_deg": F64,
        "placement": STR, "city_geonameid": I64, "attempts": I16,
    }),
    S7_SITE_SYNTHESIS: (Scope.FS, SITE_KEY, {
        "merchant_id": I64, "legal_country_iso": STR, "site_order": I32, "tile_id": U64,
        "lat_deg": F64, "lon_deg": F64, "placement": STR,
    }),
    SITE_LOCATIONS: (Scope.FS, SITE_KEY, {
        "merchant_id": I64, "legal_country_iso": STR, "site_order": I32, "lat_deg": F64, "lon_deg": F64,
    }),
}

TABLES = SegmentTables(SEGMENT, LAYER, _TABLE)
SCHEMAS = TABLES.schemas
SORT = TABLES.sort
SCOPES = TABLES.scopes
DATASETS = TABLES.datasets
empty = TABLES.empty
conform = TABLES.conform


