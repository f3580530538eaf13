"""Segment 1B catalogue: every dataset and every state, declared once (ARCHITECTURE §8).

`DATASETS` (from `datasets.py`) lists each 1B dataset with scope, sort keys and schema;
`STATES` lists S0..S9 in order with reads, writes, RNG families and blocking checks.
S0's receipt and sealed inputs are the runner's: S0 declares `upstream=("1A",)`, so the
runner recomputes 1A's `_passed.flag` before S0 runs and seals every input any 1B
state reads from outside the segment (1A `outlet_catalogue`, `country_universe`,
`world_countries`, `population_raster`, `cities`, `iso3166_canonical`, the 1B configs
and the world preset). S9 additionally reads `rng_trace_1B`, written by the runner
from every state's `StateResult.rng`.
"""

from __future__ import annotations

from fraud_assets.engine.seg_1b import datasets as ds
from fraud_assets.engine.seg_1b import (
    s0_gate as s0,
    s1_tile_index as s1,
    s2_tile_weights as s2,
    s3_requirements as s3,
    s4_alloc_plan as s4,
    s5_site_tile_assignment as s5,
    s6_site_jitter as s6,
    s7_site_synthesis as s7,
    s8_site_locations as s8,
    s9_validation as s9,
)
from fraud_assets.engine.seg_1b.config import CODE_CONFIG_INVALID, Config1B, load_config
from fraud_assets.engine.state import CheckSpec, StateSpec

DATASETS = ds.DATASETS
SEGMENT = ds.SEGMENT
CONFIG_MODEL = Config1B
RNG_TRACE = ds.RNG_TRACE
RNG_TRACE_SCHEMA = ds.RNG_TRACE_SCHEMA
UPSTREAM = (ds.OUTLET_CATALOGUE, ds.COUNTRY_UNIVERSE)
REFERENCE_READS = (ds.REF_COUNTRIES, ds.REF_RASTER, ds.REF_CITIES, ds.REF_ISO)


def _c(name: str, code: str, fn, description: str) -> CheckSpec:
    return CheckSpec(name=name, code=code, fn=fn, description=description)


S0 = StateSpec(
    segment=SEGMENT, state="S0", name="gate",
    reads=UPSTREAM, writes=(ds.S0_TILE_GRID,), run=s0.run, upstream=("1A",),
    checks=(
        _c(s0.CHECK_WORLD_IDENTITY, s0.CODE_FINGERPRINT, s0.check_world_identity,
           "recomputed parameter_hash / manifest_fingerprint equal the world manifest"),
        _c(s0.CHECK_UPSTREAM_1A, s0.CODE_NO_PASS, s0.check_upstream_1a,
           "1A PASS verified by the gate; sealed 1A inputs carry the consumed contract and this world's partition"),
        _c(s0.CHECK_CONFIG_VALID, CODE_CONFIG_INVALID, s0.check_config_valid,
           "1B config validates strictly and knows the preset"),
        _c(s0.CHECK_GRID, s0.CODE_GRID, s0.check_grid, "raster_cells_per_degree % tiles_per_degree == 0"),
    ),
    description="gate over 1A's PASS, seal inputs, resolve the tile grid",
)

S1 = StateSpec(
    segment=SEGMENT, state="S1", name="tile_index",
    reads=(ds.S0_TILE_GRID, ds.REF_COUNTRIES), writes=(ds.TILE_INDEX, ds.TILE_BOUNDS), run=s1.run,
    checks=(
        _c(s1.CHECK_GEO_VALID, s1.CODE_GEO_INVALID, s1.check_geo_valid,
           "every country geometry non-empty, valid, inside the globe"),
        _c(s1.CHECK_GEO_ANTIMERIDIAN, s1.CODE_GEO_ANTIMERIDIAN, s1.check_geo_antimeridian,
           "every polygon part inside [−180, 180] and ≤ 180° wide; no tile spans the globe"),
        _c(s1.CHECK_ZERO_TILES, s1.CODE_ZERO_TILES, s1.check_zero_tiles, "every country has ≥ 1 tile"),
        _c(s1.CHECK_AREA_NONPOS, s1.CODE_AREA_NONPOS, s1.check_area_nonpos, "land_area_m2 > 0"),
    ),
    description="tile index and bounds clipped to country polygons (seed-free)",
)

S2 = StateSpec(
    segment=SEGMENT, state="S2", name="tile_weights",
    reads=(ds.S0_TILE_GRID, ds.TILE_INDEX, ds.REF_RASTER), writes=(ds.TILE_WEIGHTS,), run=s2.run,
    checks=(
        _c(s2.CHECK_ZERO_COUNTRY, s2.CODE_ZERO_COUNTRY, s2.check_zero_country,
           "every tile weighted, every country with a positive weight"),
        _c(s2.CHECK_WEIGHT_SUM, s2.CODE_WEIGHT_SUM, s2.check_weight_sum, "per country Σ weight_fp = 10^dp"),
        _c(s2.CHECK_RASTER_VALID, s2.CODE_RASTER_INVALID, s2.check_raster_valid, "population raster contract"),
    ),
    description="fixed-point tile weights from the population raster (seed-free)",
)

S3 = StateSpec(
    segment=SEGMENT, state="S3", name="requirements",
    reads=(ds.OUTLET_CATALOGUE, ds.TILE_WEIGHTS), writes=(ds.S3_REQUIREMENTS,), run=s3.run,
    checks=(
        _c(s3.CHECK_COUNTRY_WITHOUT_TILES, s3.CODE_COUNTRY_WITHOUT_TILES, s3.check_country_without_tiles,
           "every legal country has a tile with weight_fp > 0"),
        _c(s3.CHECK_CATALOGUE_CONSISTENT, s3.CODE_CATALOGUE_INCONSISTENT, s3.check_catalogue_consistent,
           "final_country_outlet_count = n_sites, site_order = 1..n, nothing dropped"),
    ),
    description="sites per (merchant, legal country)",
)

S4 = StateSpec(
    segment=SEGMENT, state="S4", name="alloc_plan",
    reads=(ds.S3_REQUIREMENTS, ds.TILE_WEIGHTS), writes=(ds.S4_ALLOC_PLAN,), run=s4.run,
    rng_families=(s4.FAMILY_ALLOC,),
    checks=(
        _c(s4.CHECK_ALLOCATION, s4.CODE_ALLOCATION_MISMATCH, s4.check_allocation,
           "Σ n_sites_tile = n; counts within {⌊n·w/K⌋, ⌈n·w/K⌉}"),
    ),
    description="tile allocation by systematic sampling (one draw per pair)",
)

S5 = StateSpec(
    segment=SEGMENT, state="S5", name="site_tile_assignment",
    reads=(ds.S3_REQUIREMENTS, ds.S4_ALLOC_PLAN), writes=(ds.S5_SITE_TILE,), run=s5.run,
    rng_families=(s5.FAMILY_ASSIGN,),
    checks=(
        _c(s5.CHECK_TILE_QUOTA, s5.CODE_TILE_QUOTA, s5.check_tile_quota, "per-tile assigned count = S4 quota"),
    ),
    description="random permutation of sites onto the allocated tiles",
)

S6 = StateSpec(
    segment=SEGMENT, state="S6", name="site_jitter",
    reads=(ds.S0_TILE_GRID, ds.S5_SITE_TILE, ds.TILE_BOUNDS, ds.REF_COUNTRIES, ds.REF_CITIES),
    writes=(ds.S6_SITE_JITTER,), run=s6.run, rng_families=(s6.FAMILY_JITTER,),
    checks=(
        _c(s6.CHECK_JITTER_IN_TILE, s6.CODE_OUTSIDE_TILE, s6.check_jitter_in_tile,
           "every point in its tile; placement/attempts consistent"),
        _c(s6.CHECK_JITTER_IN_COUNTRY, s6.CODE_OUTSIDE_COUNTRY, s6.check_jitter_in_country,
           "every point inside its country's polygon"),
    ),
    description="city-kernel / clipped-uniform jitter with point-in-country acceptance (numba rounds)",
)

S7 = StateSpec(
    segment=SEGMENT, state="S7", name="site_synthesis",
    reads=(ds.S0_TILE_GRID, ds.OUTLET_CATALOGUE, ds.S5_SITE_TILE, ds.S6_SITE_JITTER, ds.REF_COUNTRIES),
    writes=(ds.S7_SITE_SYNTHESIS,), run=s7.run,
    checks=(
        _c(s7.CHECK_ROW_MISSING, s7.CODE_ROW_MISSING, s7.check_row_missing, "every outlet has a site row"),
        _c(s7.CHECK_ROW_EXTRA, s7.CODE_ROW_EXTRA, s7.check_row_extra, "no site row without an outlet"),
        _c(s7.CHECK_DUP_KEY, s7.CODE_DUP_KEY, s7.check_dup_key, "site key unique"),
        _c(s7.CHECK_OUTSIDE_TILE, s7.CODE_OUTSIDE_TILE, s7.check_outside_tile, "point within its tile"),
        _c(s7.CHECK_OUTSIDE_COUNTRY, s7.CODE_OUTSIDE_COUNTRY, s7.check_outside_country,
           "point within its country (fallbacks re-checked)"),
        _c(s7.CHECK_TILE_DRIFT, s7.CODE_TILE_DRIFT, s7.check_tile_drift, "S5 and S6 tile_id agree"),
    ),
    description="outlet keys joined 1:1 with tiles and points",
)

S8 = StateSpec(
    segment=SEGMENT, state="S8", name="site_locations",
    reads=(ds.OUTLET_CATALOGUE, ds.S7_SITE_SYNTHESIS), writes=(ds.SITE_LOCATIONS,), run=s8.run,
    checks=(
        _c(s8.CHECK_EGRESS_PARITY, s8.CODE_PARITY, s8.check_egress_parity,
           "site_locations = S7 projected; rows = outlet_catalogue rows"),
    ),
    description="site_locations (egress)",
)

S9 = StateSpec(
    segment=SEGMENT, state="S9", name="validation",
    reads=tuple(d.id for d in DATASETS) + UPSTREAM + (RNG_TRACE,) + REFERENCE_READS,
    writes=(), run=s9.run, validation=True,
    checks=(
        _c(s9.CHECK_STRUCTURAL, s9.CODE_PARITY, s9.check_structural,
           "schema, PK, sort, tile and ISO foreign keys of every 1B dataset"),
        _c(s9.CHECK_PARITY, s9.CODE_PARITY, s9.check_parity,
           "outlet_catalogue = S5 = S6 = S7 = S8 keys; Σ S4 = n_sites; site_locations = S7 projected"),
        _c(s9.CHECK_STATE_CHECKS, s9.CODE_PARITY, s9.check_state_checks,
           "every state check re-evaluated on the written data"),
        _c(s9.CHECK_REPLAY, s9.CODE_RNG_ACCOUNTING, s9.check_replay,
           "S4, S5, S6 re-drawn from their streams equal the written outputs bit for bit"),
        _c(s9.CHECK_RNG_ACCOUNTING, s9.CODE_RNG_ACCOUNTING, s9.check_rng_accounting,
           "RNG trace = replay tallies = totals implied by the datasets"),
        _c(s9.CHECK_REALISM, s9.CODE_REALISM, s9.check_realism,
           "realism gates (ERROR on enforce_presets, WARN elsewhere)"),
    ),
    description="1B validation bundle",
)

STATES: list[StateSpec] = [S0, S1, S2, S3, S4, S5, S6, S7, S8, S9]

__all__ = ["CONFIG_MODEL", "DATASETS", "RNG_TRACE", "RNG_TRACE_SCHEMA", "STATES", "load_config"]
