"""3B S4: routing policy bindings, the validation contract (seed-free, z/χ² forms), its checks."""

from __future__ import annotations

import json

import polars as pl

from fraud_assets.engine.seg_3b import catalogue, contract
from fraud_assets.engine.seg_3b import datasets as ds
from fraud_assets.engine.seg_3b import s4_routing as s4
from fraud_assets_tests.engine.seg_3b.conftest import (
    make_world,
    run_checks,
    with_config,
)


def test_chain_s4_passes_and_binds_existing_fields(chain):
    data, results, ctx = chain
    res = results["S4"]
    outcomes = run_checks(catalogue.S4, res, data, ctx)
    assert all(o.passed for o in outcomes.values()), {k: o.evidence for k, o in outcomes.items() if not o.passed}
    policy = res.outputs[ds.VIRTUAL_ROUTING_POLICY]
    for target in list(policy["geo_field_bindings"].values()) + [
            policy["dual_timezone_semantics"]["tzid_settlement_field"],
            policy["dual_timezone_semantics"]["tzid_operational_field"]]:
        dataset, column = target.split(".")
        assert column in ds.SCHEMAS[dataset]
    assert policy["geo_field_bindings"]["ip_country"] == "edge_catalogue_3B.country_iso"
    assert policy["consumer_rng"]["edge_pick"]["family"] == "5B.s4.edge_pick"
    assert policy["consumer_rng"]["mode_pick"]["family"] == "5B.s4.virtual_mode"
    assert policy["dual_timezone_semantics"]["primary_clock"] == "operational"
    assert policy["edge_universe_hash"] == data[ds.EDGE_UNIVERSE_HASH].row(0, named=True)["edge_universe_hash"]
    assert policy["alias"]["qbits"] == 31 and policy["alias"]["codec"] == "fa.alias.v1"
    assert policy["counts"]["virtual_only"] + policy["counts"]["hybrid"] == data[ds.VIRTUAL_SETTLEMENT].height


def test_contract_is_identical_for_every_seed(config):
    a = contract.contract_frame(config, "m" * 64)
    b = contract.contract_frame(config, "m" * 64)
    assert a.equals(b) and "seed" not in a.columns
    assert a.get_column("test_id").is_unique().all()
    s5_rows = a.filter(pl.col("stage") == "3B.S5")
    assert set(s5_rows.get_column("test_type")) == {"EDGE_HETEROGENEITY", "SETTLEMENT_COHERENCE",
                                                    "CLASSIFICATION_EXPLAINABILITY", "SETTLEMENT_DIVERSITY",
                                                    "ALIAS_FIDELITY", "VIRTUAL_PREVALENCE"}
    gates = {g for t in s5_rows.get_column("thresholds_json") for g in json.loads(t)["gates"]}
    assert gates == set(config.virtual_validation.realism)
    down = a.filter(pl.col("stage") != "3B.S5")
    assert set(down.get_column("test_id")) == {
        "IP_COUNTRY_MIX:GLOBAL:6B", "EDGE_USAGE_VS_WEIGHT:GLOBAL:5B", "EDGE_USAGE_VS_WEIGHT:PER_MERCHANT:5B",
        "SETTLEMENT_CUTOFF:GLOBAL:5B", "ROUTING_RECEIPT:GLOBAL:5B"}
    for t in down.get_column("thresholds_json"):  # statistical forms, never a fixed absolute tolerance
        doc = json.loads(t)
        assert "tolerance" not in doc or "tolerance_seconds" in doc
    usage = json.loads(a.filter(pl.col("test_id") == "EDGE_USAGE_VS_WEIGHT:PER_MERCHANT:5B")
                       .get_column("thresholds_json")[0])
    assert usage == {"cell_z_max": 5.5, "min_arrivals_per_merchant": 500, "statistic": "cell_z"}


def test_s4_is_seed_free_in_the_contract_only(chain):
    data, results, ctx = chain
    again = s4.run({k: data[k] for k in catalogue.S4.reads}, type(ctx)(make_world("small", 7), ctx.config))
    assert again.outputs[ds.VIRTUAL_VALIDATION_CONTRACT].equals(results["S4"].outputs[ds.VIRTUAL_VALIDATION_CONTRACT])
    assert again.outputs[ds.VIRTUAL_ROUTING_POLICY]["seed"] == 7


def test_binding_to_a_missing_field_3B_S4_002():
    policy = {"geo_field_bindings": {**contract.field_bindings()["geo_field_bindings"],
                                     "ip_country": "edge_catalogue_3B.ip_country"},
              "dual_timezone_semantics": {**contract.field_bindings()["dual_timezone_semantics"],
                                          "primary_clock": "operational"}}
    problems = contract.binding_problems(policy)
    assert problems == ["ip_country: edge_catalogue_3B.ip_country names no column of a 3B dataset"]


def test_s4_checks_catch_tampering(chain, config):
    data, results, ctx = chain
    res = results["S4"]
    inputs = {k: data[k] for k in catalogue.S4.reads}

    def outcome(code: str, inputs=inputs, **outputs):
        r = s4.StateResult(outputs={**res.outputs, **outputs})
        return next(c for c in catalogue.S4.checks if c.code == code).fn(r, inputs, ctx)

    frame = res.outputs[ds.VIRTUAL_VALIDATION_CONTRACT]
    assert not outcome("3B-S4-004", **{ds.VIRTUAL_VALIDATION_CONTRACT: pl.concat([frame, frame.head(1)])}).passed
    wrong = {**res.outputs[ds.VIRTUAL_ROUTING_POLICY], "edge_universe_hash": "0" * 64}
    assert not outcome("3B-S4-003", **{ds.VIRTUAL_ROUTING_POLICY: wrong}).passed
    bad_bind = {**res.outputs[ds.VIRTUAL_ROUTING_POLICY],
                "geo_field_bindings": {"ip_country": "edge_catalogue_3B.nope"}}
    assert not outcome("3B-S4-002", **{ds.VIRTUAL_ROUTING_POLICY: bad_bind}).passed
    out_of_range = contract.contract_frame(with_config(config, virtual_validation={
        "realism": {**config.virtual_validation.model_dump()["realism"], "virtual_only_share": (0.5, 1.5)},
        "downstream": {"edge_z_max": -1.0}}), ctx.world.manifest_fingerprint)
    o = outcome("3B-S4-005", **{ds.VIRTUAL_VALIDATION_CONTRACT: out_of_range})
    assert not o.passed and len(o.evidence["first_keys"]) == 2
    missing = {**inputs, ds.EDGE_ALIAS_INDEX: inputs[ds.EDGE_ALIAS_INDEX].filter(pl.col("scope") == "GLOBAL")}
    assert not outcome("3B-S4-001", inputs=missing).passed
