"""The 1A catalogue: datasets, states, reads/writes wiring, every spec check code present."""

import polars as pl

from fraud_assets.core.dictionary import DatasetDictionary, Scope
from fraud_assets.engine.seg_1a import catalogue
from fraud_assets.engine.seg_1a import datasets as ds

SPEC_CODES = {
    "E_FINGERPRINT_MISMATCH", "1A-S0-001", "1A-S0-010", "1A-S0-011", "1A-S0-012", "1A-S0-013",
    "1A-S1-001", "1A-S1-002", "1A-S2-001", "1A-S2-002", "1A-S2-003", "1A-S3-001", "1A-S3-002",
    "1A-S4-001", "1A-S4-002", "1A-S5-001", "1A-S6-001", "1A-S7-001", "1A-S7-002",
    "1A-S8-001", "1A-S8-002", "1A-S8-003", "E_BRANCH_PURITY", "E_RNG_ACCOUNTING", "E_PARTITION_MISMATCH",
}

SPEC_SCOPES = {
    "country_universe": "F", "merchant_ids": "F", "merchant_features": "F", "model_coefficients": "F",
    "hurdle_decisions": "FS", "nb_outlet_draws": "FS", "s3_candidate_set": "FS", "s4_foreign_target": "FS",
    "ccy_country_weights_cache": "F", "merchant_currency": "F", "sparse_flag": "F", "s6_membership": "FS",
    "s7_country_counts": "FS", "outlet_catalogue": "FS",
}


def test_datasets_have_the_spec_scopes_and_build_a_dictionary():
    d = DatasetDictionary(catalogue.DATASETS)
    assert {s.id: s.scope.value for s in d} == SPEC_SCOPES
    assert all(s.segment == "1A" and s.layer == 1 for s in d)
    assert d["outlet_catalogue"].relative_path("fp", 7).endswith("outlet_catalogue/manifest_fingerprint=fp/seed=7")
    assert d["merchant_ids"].scope is Scope.F


def test_schemas_are_exact_dtype_names_and_sort_keys_are_columns():
    for spec in catalogue.DATASETS:
        assert set(spec.sort) <= set(spec.schema)
        assert spec.schema == {c: str(t) for c, t in ds.SCHEMAS[spec.id].items()}
    assert ds.SCHEMAS["merchant_ids"]["merchant_id"] == pl.Int64
    assert ds.SCHEMAS["outlet_catalogue"]["global_seed"] == pl.UInt64
    assert ds.SCHEMAS["s7_country_counts"]["count"] == pl.Int32


def test_states_in_order_and_every_read_is_written_earlier_or_reference():
    states = catalogue.STATES
    assert [s.state for s in states] == [f"S{i}" for i in range(10)]
    available = set()
    for spec in states:
        for r in spec.reads:
            assert r.startswith("ref.") or r in available or (spec.validation and r == ds.RNG_TRACE), (spec.state, r)
        available.update(spec.writes)
    assert available == set(SPEC_SCOPES)
    assert states[0].upstream == ()
    assert states[-1].validation and states[-1].writes == ()
    assert set(states[-1].reads) >= set(SPEC_SCOPES) | {ds.RNG_TRACE}


def test_every_spec_check_code_is_a_check_and_names_are_unique():
    checks = [c for s in catalogue.STATES for c in s.checks]
    assert SPEC_CODES <= {c.code for c in checks}
    names = [c.name for c in checks]
    assert len(names) == len(set(names))
    assert "hurdle_cardinality" in names and "realism_1A" in names


def test_rng_families_are_the_spec_table():
    fams = {f for s in catalogue.STATES for f in s.rng_families}
    assert fams == {"1A.s0.universe.mcc", "1A.s0.universe.channel", "1A.s1.hurdle", "1A.s2.nb_gamma",
                    "1A.s2.nb_poisson", "1A.s4.expand", "1A.s4.ztp", "1A.s6.gumbel", "1A.s7.dirichlet"}
