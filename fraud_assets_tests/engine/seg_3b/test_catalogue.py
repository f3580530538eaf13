"""3B catalogue: datasets, states, every check code of the spec as a CheckSpec, the repository config."""

from __future__ import annotations

from fraud_assets.core.dictionary import Kind, Scope
from fraud_assets.engine import catalogue as engine_catalogue
from fraud_assets.engine.seg_3b import catalogue
from fraud_assets.engine.seg_3b import datasets as ds
from fraud_assets.engine.seg_3b.config import Config3B, load_config
from fraud_assets_tests.engine.seg_3b.conftest import CONFIG_DIR

SPEC_CODES = {
    "3B-S0-001", "3B-S0-003", "3B-S0-004", "3B-S0-005", "3B-S0-006", "3B-S0-007",
    "3B-S1-001", "3B-S1-002", "3B-S1-003", "3B-S1-004", "3B-S1-005", "3B-S1-006", "3B-S1-007",
    "3B-S2-001", "3B-S2-002", "3B-S2-003", "3B-S2-004", "3B-S2-005", "3B-S2-006", "3B-S2-007",
    "3B-S3-001", "3B-S3-002", "3B-S3-003", "3B-S3-004", "3B-S3-005", "3B-S3-006",
    "3B-S4-001", "3B-S4-002", "3B-S4-003", "3B-S4-004", "3B-S4-005",
    "3B-S5-001", "3B-S5-002", "3B-S5-003", "3B-S5-004", "3B-S5-005", "3B-S5-006", "3B-S5-007",
    "E_FINGERPRINT_MISMATCH",
}  # E_NO_PASS_NO_READ and E_IMMUTABLE_PARTITION_EXISTS_NONIDENTICAL are the runner's gate and publisher


def test_every_spec_code_is_a_check():
    codes = {c.code for s in catalogue.STATES for c in s.checks}
    assert SPEC_CODES <= codes
    assert {"3B-S2-008", "3B-S5-008", "3B-S5-009"} <= codes  # heterogeneity, realism, state re-checks
    names = [c.name for s in catalogue.STATES for c in s.checks]
    assert len(names) == len(set(names))
    per_state = [c.code for s in catalogue.STATES for c in s.checks]
    assert len(per_state) == len(set(per_state))


def test_states_and_datasets():
    assert [s.state for s in catalogue.STATES] == ["S0", "S1", "S2", "S3", "S4", "S5"]
    assert catalogue.S0.upstream == ("1A",) and catalogue.S5.validation
    assert set(catalogue.S1.rng_families) == {"3B.s1.virtual", "3B.s1.hybrid_share", "3B.s1.settlement"}
    assert len(catalogue.S2.rng_families) == 6 and not catalogue.S3.rng_families and not catalogue.S4.rng_families
    written = [d for s in catalogue.STATES for d in s.writes]
    assert sorted(written) == sorted(d.id for d in ds.DATASETS) and len(written) == len(set(written))
    by_id = {d.id: d for d in ds.DATASETS}
    assert by_id[ds.EDGE_ALIAS_BLOB].kind is Kind.FILES
    assert {d.id for d in ds.DATASETS if d.kind is Kind.JSON} == {ds.S0_GATE_SUMMARY, ds.EDGE_UNIVERSE_HASH,
                                                                   ds.VIRTUAL_ROUTING_POLICY}
    assert by_id[ds.VIRTUAL_VALIDATION_CONTRACT].scope is Scope.F
    assert all(d.scope is Scope.FS for d in ds.DATASETS if d.id != ds.VIRTUAL_VALIDATION_CONTRACT)
    produced: set[str] = set()
    for s in catalogue.STATES:
        for r in s.reads:
            assert r in produced or r.startswith("ref.") or r in {ds.MERCHANT_IDS, ds.OUTLET_CATALOGUE, ds.RNG_TRACE}
        produced.update(s.writes)


def test_integration_columns_and_types():
    """INTEGRATION B.1 binding columns of 3B's egress."""
    s = ds.SCHEMAS
    assert {"merchant_id": "Int64", "is_virtual": "Boolean", "virtual_mode": "String", "edge_share": "Float64"} \
        .items() <= {k: str(v) for k, v in s[ds.VIRTUAL_CLASSIFICATION].items()}.items()
    assert str(s[ds.VIRTUAL_SETTLEMENT]["tzid_settlement"]) == "String"
    edge = {k: str(v) for k, v in s[ds.EDGE_CATALOGUE].items()}
    assert {"merchant_id": "Int64", "edge_id": "Int64", "edge_seq_index": "Int32", "country_iso": "String",
            "lat_deg": "Float64", "lon_deg": "Float64", "tzid_operational": "String",
            "edge_weight": "Float64"}.items() <= edge.items()
    alias = {k: str(v) for k, v in s[ds.EDGE_ALIAS_INDEX].items()}
    assert {"merchant_id": "Int64", "blob_offset_bytes": "Int64", "blob_length_bytes": "Int32",
            "edge_count_total": "Int32", "qbits": "Int32", "blob_sha256_hex": "String"}.items() <= alias.items()
    assert ds.SORT[ds.EDGE_CATALOGUE] == ("merchant_id", "edge_seq_index")
    assert ds.SORT[ds.EDGE_ALIAS_INDEX] == ("scope", "merchant_id")


def test_paths_and_engine_catalogue():
    d = engine_catalogue.dictionary()
    assert d[ds.EDGE_CATALOGUE].relative_path("m", 42) == "data/layer1/3B/edge_catalogue_3B/manifest_fingerprint=m/seed=42"
    assert d[ds.VIRTUAL_VALIDATION_CONTRACT].relative_path("m", 42).endswith("manifest_fingerprint=m")
    assert d[ds.EDGE_UNIVERSE_HASH].relative_path("m", 7).endswith("seed=7/edge_universe_hash_3B.json")
    assert d[ds.VIRTUAL_ROUTING_POLICY].relative_path("m", 7).endswith("seed=7/virtual_routing_policy_3B.json")
    assert d[ds.EDGE_ALIAS_BLOB].relative_path("m", 7) == "data/layer1/3B/edge_alias_blob_3B/manifest_fingerprint=m/seed=7"
    assert engine_catalogue.segment("3B").config_model is Config3B


def test_repository_config_is_the_spec_default():
    cfg = load_config(CONFIG_DIR)
    rules = cfg.virtual_rules.rules
    assert [r.rule_id for r in rules] == ["VR01", "VR02", "VR03", "VR04", "VR05", "VR06", "VR07", "VR08", "VR09",
                                          "VR10", "VR11", "VR90", "VR99"]
    assert [r.propensity for r in rules] == [0.9, 0.7, 0.8, 0.75, 0.45, 0.5, 0.7, 0.55, 0.35, 0.45, 0.25, 0.06, 1.0]
    assert cfg.virtual_rules.modifiers.propensity_cap == 0.98 and cfg.virtual_rules.overrides == []
    assert [b.probability for b in cfg.settlement_policy.buckets] == [0.25, 0.25, 0.25, 0.17, 0.08]
    assert cfg.settlement_policy.candidate_limit == 500 and cfg.settlement_policy.address_offset_km == 3.0
    k = cfg.edge_topology.classes
    assert (k["LOCAL"].edge_count_median, k["REGIONAL"].edge_count_median, k["GLOBAL"].edge_count_median) == (10, 24, 64)
    assert (k["GLOBAL"].settlement_share_floor, k["GLOBAL"].settlement_share_cap) == (0.05, 0.35)
    assert cfg.edge_topology.footprint_mix["HYBRID"] == (0.60, 0.35, 0.05)
    assert cfg.edge_topology.weight.capacity_sigma == 0.5 and cfg.edge_topology.jitter_radius_km == 15
    # the one deliberate change from the spec defaults (see edge_topology.yaml): reference_outlets 5 → 1
    assert cfg.edge_topology.size_multiplier.reference_outlets == 1
    assert cfg.virtual_routing_policy.hybrid_edge_share == (0.15, 0.60)
    assert cfg.virtual_validation.enforcement_mode == "enforce" and cfg.virtual_validation.min_virtual_merchants == 30
    assert cfg.virtual_validation.realism["median_top1_edge_weight"] == (0.03, 0.20)
