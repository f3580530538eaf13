"""3B S0: policy validation codes, the 1A contract, the gate summary (no wall clock)."""

from __future__ import annotations

import shutil

import polars as pl
import pytest

from fraud_assets.core.errors import EngineFailure
from fraud_assets.engine.seg_3b import catalogue, policy
from fraud_assets.engine.seg_3b import datasets as ds
from fraud_assets.engine.seg_3b import s0_gate as s0
from fraud_assets.engine.seg_3b.config import load_config
from fraud_assets_tests.engine.seg_3b.conftest import (
    CONFIG_DIR,
    make_ctx,
    run_checks,
    with_config,
)


@pytest.fixture(scope="module")
def s0_inputs(refs, synthetic):
    mids, oc = synthetic
    return {ds.MERCHANT_IDS: mids, ds.OUTLET_CATALOGUE: oc, ds.REF_MCC: refs[ds.REF_MCC]}


def _codes(cfg, inputs) -> dict:
    ctx = make_ctx(config=cfg)
    res = s0.run(inputs, ctx)
    return {code: o for code, o in run_checks(catalogue.S0, res, inputs, ctx).items()}


def test_repository_policies_pass(config, s0_inputs):
    outcomes = _codes(config, s0_inputs)
    assert all(o.passed for o in outcomes.values()), {k: o.evidence for k, o in outcomes.items() if not o.passed}


def test_unknown_mcc_is_policy_schema_invalid_3B_S0_004(config, s0_inputs):
    rules = [r.model_dump() for r in config.virtual_rules.rules]
    rules[1]["mccs"] = [4816, 1]  # MCC 0001 is not an ISO 18245 code
    outcomes = _codes(with_config(config, virtual_rules={"rules": rules}), s0_inputs)
    assert not outcomes["3B-S0-004"].passed
    assert "VR02" in outcomes["3B-S0-004"].evidence["first_keys"][0]


def test_two_card_present_defaults_are_invalid_3B_S0_004(config, s0_inputs):
    rules = [r.model_dump() for r in config.virtual_rules.rules]
    rules[10].update(mcc="any", mcc_ranges=[], default=True)  # VR11 becomes a second CP default
    outcomes = _codes(with_config(config, virtual_rules={"rules": rules}), s0_inputs)
    assert not outcomes["3B-S0-004"].passed
    assert any("card_present has 2 default rules" in k for k in outcomes["3B-S0-004"].evidence["first_keys"])


@pytest.mark.parametrize("change, fragment", [
    ({"settlement_policy": {"buckets": [{"bucket": "B1", "ranks": (0, 0), "probability": 0.5, "include_capital": True},
                                        {"bucket": "B2", "ranks": (1, 4), "probability": 0.4}]}}, "do not sum to 1"),
    ({"edge_topology": {"footprint_mix": {"default": (0.3, 0.3, 0.3), "HYBRID": (0.6, 0.35, 0.05)}}},
     "footprint_mix default"),
    ({"virtual_routing_policy": {"hybrid_edge_share": (0.7, 0.2)}}, "hybrid_edge_share"),
    ({"virtual_validation": {"realism": {"no_such_gate": (0.0, 1.0)}}}, "unknown realism gates"),
])
def test_value_bounds_are_policy_schema_invalid(config, s0_inputs, change, fragment):
    outcomes = _codes(with_config(config, **change), s0_inputs)
    assert not outcomes["3B-S0-004"].passed
    assert any(fragment in k for k in outcomes["3B-S0-004"].evidence["first_keys"])


def test_missing_policy_file_is_policy_set_incomplete_3B_S0_003(tmp_path, s0_inputs):
    folder = tmp_path / "3B"
    shutil.copytree(CONFIG_DIR, folder)
    (folder / "edge_topology.yaml").unlink()
    cfg = load_config(folder)
    assert cfg.edge_topology is None
    outcomes = _codes(cfg, s0_inputs)
    assert not outcomes["3B-S0-003"].passed
    assert outcomes["3B-S0-003"].evidence["first_keys"] == ["edge_topology.yaml missing"]


def test_unparseable_policy_is_the_loader_code(tmp_path):
    folder = tmp_path / "3B"
    shutil.copytree(CONFIG_DIR, folder)
    (folder / "virtual_rules.yaml").write_text("version: 1\nunknown_key: 3\n")
    with pytest.raises(EngineFailure) as info:
        load_config(folder)
    assert info.value.code == "3B-S0-001"


def test_broken_1a_contract_3B_S0_001(config, s0_inputs):
    bad = dict(s0_inputs)
    bad[ds.MERCHANT_IDS] = s0_inputs[ds.MERCHANT_IDS].with_columns(pl.col("mcc").cast(pl.Int64))
    outcomes = _codes(config, bad)
    assert not outcomes["3B-S0-001"].passed
    bad[ds.OUTLET_CATALOGUE] = s0_inputs[ds.OUTLET_CATALOGUE].head(0)
    assert not _codes(config, bad)["3B-S0-005"].passed


def test_summary_is_reproducible_and_carries_the_world(config, s0_inputs):
    ctx = make_ctx(config=config)
    a, b = s0.run(s0_inputs, ctx), s0.run(s0_inputs, ctx)
    doc = a.outputs[ds.S0_GATE_SUMMARY]
    assert doc == b.outputs[ds.S0_GATE_SUMMARY]  # no wall clock
    assert doc["registered_utc"] == ctx.world.registered_utc and doc["passed"]
    assert set(doc["policy_versions"]) == set(doc["policy_digests"]) and len(doc["policy_digests"]) == 5
    assert policy.summary_problems(doc, ctx) == []
    assert policy.summary_problems({**doc, "seed": 7}, ctx)
    tampered = {**doc, "inputs": {k: {**v, "content_digest": "0" * 64} for k, v in doc["inputs"].items()}}
    res = s0.StateResult(outputs={ds.S0_GATE_SUMMARY: tampered})
    assert not s0.check_input_digest(res, s0_inputs, ctx).passed


def test_rule_mcc_sets_filter_ranges_to_known_codes(config, refs):
    known = frozenset(refs[ds.REF_MCC].get_column("mcc").to_list())
    vr01 = config.virtual_rules.rules[0]
    assert policy.rule_mcc_set(vr01, known) == frozenset({5815, 5816, 5817, 5818})
    vr09 = config.virtual_rules.rules[8]
    codes = policy.rule_mcc_set(vr09, known)
    assert {7011, 7512} <= codes and all(c in known for c in codes)
    assert policy.rule_mcc_set(config.virtual_rules.rules[-1], known) is None  # mcc: any
