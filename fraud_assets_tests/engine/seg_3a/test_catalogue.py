"""The 3A catalogue: datasets and scopes, the S0 → S2 → S1 → … DAG, every spec check code as a CheckSpec."""

import polars as pl

from fraud_assets.core.dictionary import DatasetDictionary, Kind, Scope
from fraud_assets.engine import catalogue as engine_catalogue
from fraud_assets.engine.seg_3a import catalogue
from fraud_assets.engine.seg_3a import datasets as ds

# spec/engine/3A.md "Checks and gates" (E_NO_PASS_NO_READ and the write-once code are the runner's)
SPEC_CODES = {
    "E_FINGERPRINT_MISMATCH", "3A-S0-001", "3A-S0-003", "3A-S0-004", "3A-S0-005", "3A-S0-006", "3A-S0-007",
    "3A-S1-001", "3A-S1-002", "3A-S1-003", "3A-S1-004", "3A-S1-005", "3A-S1-006", "3A-S1-007",
    "3A-S2-001", "3A-S2-002", "3A-S2-003", "3A-S2-004", "3A-S2-005", "3A-S2-006",
    "3A-S3-001", "3A-S3-002", "3A-S3-003", "3A-S3-004", "3A-S3-005", "3A-S3-006", "3A-S3-008",
    "3A-S4-001", "3A-S4-002", "3A-S4-003", "3A-S4-004",
    "3A-S5-001", "3A-S5-002", "3A-S5-003", "3A-S5-004", "3A-S5-005", "3A-S5-006",
    "3A-S6-001", "3A-S7-001", "3A-S7-002", "3A-S7-003",
}
SCOPES = {
    "s0_gate_3A": "FS", "s2_country_zone_priors": "F", "s2_zone_universe_3A": "F", "s1_escalation_queue": "FS",
    "s3_zone_shares": "FS", "s4_zone_counts": "FS", "zone_alloc": "FS", "zone_alloc_universe_hash": "FS",
    "s6_validation_report_3A": "FS", "s6_issue_table_3A": "FS",
}


def test_datasets_have_the_spec_scopes_and_paths():
    d = DatasetDictionary(catalogue.DATASETS)
    assert {s.id: s.scope.value for s in d} == SCOPES
    assert all(s.segment == "3A" and s.layer == 1 for s in d)
    assert d["zone_alloc"].relative_path("fp", 7) == "data/layer1/3A/zone_alloc/manifest_fingerprint=fp/seed=7"
    assert d["s2_country_zone_priors"].relative_path("fp", 7) == \
        "data/layer1/3A/s2_country_zone_priors/manifest_fingerprint=fp"
    assert d["zone_alloc_universe_hash"].kind is Kind.JSON and d["zone_alloc_universe_hash"].scope is Scope.FS
    assert d["zone_alloc_universe_hash"].relative_path("fp", 7).endswith("seed=7/zone_alloc_universe_hash.json")
    assert engine_catalogue.owner("zone_alloc") == "3A"


def test_zone_alloc_and_universe_are_the_integration_contract():
    za = ds.SCHEMAS["zone_alloc"]
    assert {k: za[k] for k in ("merchant_id", "legal_country_iso", "tzid", "zone_site_count", "site_count",
                               "routing_universe_hash")} == {
        "merchant_id": pl.Int64, "legal_country_iso": pl.String, "tzid": pl.String, "zone_site_count": pl.Int32,
        "site_count": pl.Int32, "routing_universe_hash": pl.String}
    u = ds.SCHEMAS["s2_zone_universe_3A"]
    assert u["is_material"] == pl.Boolean and u["merged_into_tzid"] == pl.String
    assert ds.SCHEMAS["s2_country_zone_priors"]["share_effective"] == pl.Float64
    assert ds.SORT["zone_alloc"] == ("merchant_id", "legal_country_iso", "tzid")
    for spec in catalogue.DATASETS:
        assert set(spec.sort) <= set(spec.schema)


def test_states_follow_the_spec_dag_and_read_only_what_exists():
    states = catalogue.STATES
    assert [s.state for s in states] == ["S0", "S2", "S1", "S3", "S4", "S5", "S6", "S7"]
    available: set[str] = set()
    for spec in states:
        for r in spec.reads:
            assert (r.startswith("ref.") or r in available or r in (ds.OUTLET_CATALOGUE, ds.SITE_TIMEZONES)
                    or (spec.validation and r == ds.RNG_TRACE)), (spec.state, r)
        available.update(spec.writes)
    assert available == set(SCOPES)
    s0 = states[0]
    assert s0.upstream == ("1A", "1B", "2A") and all(s.upstream == () for s in states[1:])
    assert not set(s0.reads) & set(SCOPES)  # S0 never seals 3A's own outputs
    assert states[-1].validation and states[-1].writes == () and sum(s.validation for s in states) == 1
    assert engine_catalogue.dictionary()["site_timezones"].segment == "2A"
    assert engine_catalogue.dictionary()["outlet_catalogue"].segment == "1A"


def test_every_spec_code_is_a_check_and_names_are_unique():
    codes = {c.code for s in catalogue.STATES for c in s.checks}
    assert SPEC_CODES <= codes, sorted(SPEC_CODES - codes)
    for spec in catalogue.STATES:
        names = [c.name for c in spec.checks]
        assert len(names) == len(set(names)), spec.state
        assert not any(n.startswith(("schema_", "hashgate_")) for n in names)


def test_rng_families_are_3a_families_declared_where_drawn():
    fam = {s.state: s.rng_families for s in catalogue.STATES}
    assert fam["S1"] == ("3A.s1.escalation",)
    assert fam["S3"] == ("3A.s3.dispersion", "3A.s3.dirichlet")
    assert all(not v for k, v in fam.items() if k not in ("S1", "S3"))


def test_every_state_after_s0_reaches_the_gate_through_its_reads():
    writer = {d: s.state for s in catalogue.STATES for d in s.writes}
    deps = {s.state: {writer[r] for r in s.reads if r in writer} for s in catalogue.STATES}

    def reaches(state: str) -> bool:
        return state == "S0" or any(reaches(d) for d in deps[state])

    assert all(reaches(s.state) for s in catalogue.STATES)
