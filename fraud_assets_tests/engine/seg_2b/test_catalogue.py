"""The 2B catalogue: states, datasets, check codes, RNG families and the config laws."""

from __future__ import annotations

import re

from fraud_assets.core.dictionary import Kind, Scope
from fraud_assets.engine import catalogue as engine_catalogue
from fraud_assets.engine.seg_2b import catalogue
from fraud_assets.engine.seg_2b import datasets as ds
from fraud_assets.engine.seg_2b.config import Config2B, validate_values
from fraud_assets_tests.engine.seg_2b.conftest import CONFIG_DIR, with_config

SPEC_CODES = {
    *(f"2B-S0-00{i}" for i in (1, 3, 4, 5, 6, 7)), *(f"2B-S1-00{i}" for i in range(1, 7)),
    *(f"2B-S2-00{i}" for i in range(1, 7)), *(f"2B-S3-00{i}" for i in range(1, 4)),
    *(f"2B-S4-00{i}" for i in range(1, 5)), "2B-S5-002", "2B-S5-004", "2B-S5-005",
    *(f"2B-S6-00{i}" for i in range(1, 7)), *(f"2B-S7-{i}" for i in range(200, 207)),
    *(f"2B-S7-{i}" for i in range(300, 305)), "2B-S7-402", "2B-S7-410", "2B-S7-411", "2B-S7-420", "2B-S7-430",
    "2B-S8-001", "2B-S8-002",
}


def test_states_in_order_with_the_gate_and_the_bundle():
    states = catalogue.STATES
    assert [s.state for s in states] == [f"S{i}" for i in range(9)]
    assert states[0].upstream == ("1A", "1B", "2A", "3B")  # 2B reads no 3A data
    assert [s.validation for s in states] == [False] * 8 + [True]
    assert catalogue.RNG_TRACE in states[-1].reads
    assert engine_catalogue.SEGMENT_ORDER.index("3B") < engine_catalogue.SEGMENT_ORDER.index("2B")


def test_every_spec_check_code_is_a_check_spec():
    codes = {c.code for s in catalogue.STATES for c in s.checks}
    assert SPEC_CODES <= codes, sorted(SPEC_CODES - codes)
    names = [c.name for s in catalogue.STATES for c in s.checks]
    assert len(names) == len(set(names))


def test_rng_families_are_declared_where_drawn():
    families = {s.state: set(s.rng_families) for s in catalogue.STATES}
    assert families["S3"] == {"2B.s3.sigma", "2B.s3.day_effect"}
    assert families["S5"] == {"2B.s5.audit_route"} and families["S6"] == {"2B.s6.audit_edge"}
    assert not any(families[s] for s in ("S0", "S1", "S2", "S4", "S7", "S8"))


def test_datasets_are_fs_with_partition_columns_and_declared_sorts():
    for d in ds.DATASETS:
        assert d.segment == "2B" and d.layer == 1 and d.scope is Scope.FS
        if d.kind is Kind.PARQUET:
            assert {"manifest_fingerprint", "seed"} <= set(d.schema), d.id
            assert set(d.sort) <= set(d.schema), d.id
    sw = ds.SCHEMAS[ds.S1_SITE_WEIGHTS]
    assert ds.SORT[ds.S1_SITE_WEIGHTS] == ("merchant_id", "group_index", "member_index")
    assert str(sw["site_id"]) == "Int64" and str(sw["group_index"]) == "Int16"
    assert str(ds.SCHEMAS[ds.S4_GROUP_WEIGHTS]["mass_q31"]) == "Int64"
    written = {w for s in catalogue.STATES for w in s.writes}
    assert written == {d.id for d in ds.DATASETS}


def test_every_read_is_declared_somewhere():
    known = {d.id for d in engine_catalogue.dictionary()}
    for spec in catalogue.STATES:
        for read in spec.reads:
            assert read.startswith("ref.") or read == catalogue.RNG_TRACE or read in known, (spec.state, read)


def test_no_date_and_no_qbits_in_any_policy_file_or_schema():
    text = "\n".join(p.read_text() for p in sorted(CONFIG_DIR.glob("*.yaml")))
    assert not re.search(r"\b\d{4}-\d{2}-\d{2}\b", text)
    assert "qbits" not in text and "grid_bits" not in text
    schema = str(Config2B.model_json_schema())
    assert "qbits" not in schema and "bits" not in schema.lower()
    assert "date" not in schema.lower()


def test_policy_value_laws(config):
    assert validate_values(config) == []
    bad = with_config(config, day_effects={"gamma_clip": [1.5, 2.0]},
                      site_weights={"top1_cap": [{"max_sites": 3, "cap": 0.8}]})
    problems = validate_values(bad)
    assert any("gamma_clip" in p for p in problems) and any("open row" in p for p in problems)
    assert config.site_weights.cap_for(1) == 0.8 and config.site_weights.cap_for(8) == 0.7
    assert config.site_weights.cap_for(9) == 0.6
