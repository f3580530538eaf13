"""The 1B catalogue: datasets and scopes, states and their wiring, every spec check code present."""

import polars as pl

from fraud_assets.core.dictionary import DatasetDictionary, Scope
from fraud_assets.engine import catalogue as engine_catalogue
from fraud_assets.engine.seg_1b import catalogue
from fraud_assets.engine.seg_1b import datasets as ds

# spec/engine/1B.md "Checks and gates" (storage-law codes are the runner's schema/publish checks)
SPEC_CODES = {
    "E_FINGERPRINT_MISMATCH", "E_NO_PASS_NO_READ", "1B-S0-002", "1B-S1-001", "1B-S1-002", "1B-S1-003",
    "1B-S1-006", "1B-S2-103", "1B-S2-104", "1B-S2-105", "1B-S3-301", "1B-S3-302", "1B-S4-404", "1B-S5-503",
    "1B-S7-701", "1B-S7-702", "1B-S7-703", "1B-S7-704", "1B-S7-705", "1B-S7-706", "1B-S9-907", "1B-S9-901",
}
SPEC_SCOPES = {
    "s0_tile_grid": "F", "tile_index": "F", "tile_bounds": "F", "tile_weights": "F", "s3_requirements": "FS",
    "s4_alloc_plan": "FS", "s5_site_tile_assignment": "FS", "s6_site_jitter": "FS", "s7_site_synthesis": "FS",
    "site_locations": "FS",
}


def test_datasets_have_the_spec_scopes_and_build_a_dictionary():
    d = DatasetDictionary(catalogue.DATASETS)
    assert {s.id: s.scope.value for s in d} == SPEC_SCOPES
    assert all(s.segment == "1B" and s.layer == 1 for s in d)
    assert d["site_locations"].relative_path("fp", 7) == "data/layer1/1B/site_locations/manifest_fingerprint=fp/seed=7"
    assert d["tile_weights"].scope is Scope.F
    assert engine_catalogue.owner("site_locations") == "1B"


def test_site_locations_is_the_integration_contract():
    assert ds.SCHEMAS["site_locations"] == {"merchant_id": pl.Int64, "legal_country_iso": pl.String,
                                            "site_order": pl.Int32, "lat_deg": pl.Float64, "lon_deg": pl.Float64}
    assert ds.SORT["site_locations"] == ("merchant_id", "legal_country_iso", "site_order")
    assert ds.SCHEMAS["tile_index"]["tile_id"] == pl.UInt64 and ds.SCHEMAS["tile_weights"]["weight_fp"] == pl.Int64
    for spec in catalogue.DATASETS:
        assert set(spec.sort) <= set(spec.schema)
        assert spec.schema == {c: str(t) for c, t in ds.SCHEMAS[spec.id].items()}


def test_states_in_order_and_every_read_is_written_earlier_upstream_or_reference():
    states = catalogue.STATES
    assert [s.state for s in states] == [f"S{i}" for i in range(10)]
    available = set()
    for spec in states:
        for r in spec.reads:
            assert (r.startswith("ref.") or r in available or r in catalogue.UPSTREAM
                    or (spec.validation and r == ds.RNG_TRACE)), (spec.state, r)
        available.update(spec.writes)
    assert available == set(SPEC_SCOPES)
    s0 = states[0]
    assert s0.upstream == ("1A",) and {"outlet_catalogue", "country_universe"} <= set(s0.reads)
    assert all(s.upstream == () for s in states[1:])
    assert states[-1].validation and states[-1].writes == ()
    assert set(states[-1].reads) >= set(SPEC_SCOPES) | {ds.RNG_TRACE, "outlet_catalogue", "country_universe"}


def test_every_state_after_s0_depends_on_the_gate_through_its_reads():
    """Dagster orders assets by the datasets they read: every 1B state must reach S0's output."""
    writer = {d: s.state for s in catalogue.STATES for d in s.writes}
    reaches = {"S0"}
    for spec in catalogue.STATES[1:]:
        if any(writer.get(r) in reaches for r in spec.reads):
            reaches.add(spec.state)
    assert reaches == {s.state for s in catalogue.STATES}


def test_sealed_inputs_are_the_spec_list():
    outside = {r for s in catalogue.STATES for r in s.reads
               if r not in {d.id for d in catalogue.DATASETS} and r != ds.RNG_TRACE}
    assert outside == {"outlet_catalogue", "country_universe", "ref.world_countries", "ref.population_raster",
                       "ref.cities", "ref.iso3166_canonical"}


def test_every_spec_check_code_is_a_check_and_names_are_unique():
    checks = [c for s in catalogue.STATES for c in s.checks]
    assert SPEC_CODES <= {c.code for c in checks}
    names = [c.name for c in checks]
    assert len(names) == len(set(names))
    assert all(s.checks for s in catalogue.STATES)
    assert "realism_1B" in names and "allocation_law" in names


def test_rng_families_are_the_spec_table():
    fams = {s.state: s.rng_families for s in catalogue.STATES if s.rng_families}
    assert fams == {"S4": ("1B.s4.alloc",), "S5": ("1B.s5.site_tile_assign",), "S6": ("1B.s6.jitter",)}
