"""3A S0: the gate document, its checks on good and tampered inputs, no wall clock, no own outputs sealed."""

from __future__ import annotations

import polars as pl

from fraud_assets.engine.seg_3a import catalogue
from fraud_assets.engine.seg_3a import datasets as ds
from fraud_assets.engine.seg_3a import s0_gate as s0
from fraud_assets_tests.engine.seg_3a.conftest import (
    PAIRS,
    make_ctx,
    make_world,
    run_checks,
    upstream_frames,
)


def _inputs(refs, oc, st):
    return {**{k: refs[k] for k in catalogue.S0.reads if k.startswith("ref.")},
            ds.OUTLET_CATALOGUE: oc, ds.SITE_TIMEZONES: st}


def test_good_inputs_pass_every_check(refs, config):
    ctx = make_ctx(make_world(), config)
    oc, st = upstream_frames(PAIRS, ctx.world)
    inputs = _inputs(refs, oc, st)
    res = s0.run(inputs, ctx)
    doc = res.outputs[ds.S0_GATE]
    assert doc["passed"] and doc["config_versions"]["zone_mixture_policy"] == "v1.0.0"
    assert set(doc["policy_digests"]) == {"mixture_policy_digest", "prior_policy_digest", "floor_policy_digest"}
    assert doc["upstream_segments"] == ["1A", "1B", "2A"]
    assert doc["upstream_digests"][ds.OUTLET_CATALOGUE]["rows"] == oc.height
    outcomes = run_checks(catalogue.S0, res, inputs, ctx)
    assert all(o.passed for o in outcomes.values()), {k: o.evidence for k, o in outcomes.items() if not o.passed}
    assert set(outcomes) == {"E_FINGERPRINT_MISMATCH", "3A-S0-001", "3A-S0-003", "3A-S0-004", "3A-S0-005",
                             "3A-S0-006", "3A-S0-007"}


def test_the_gate_document_has_no_wall_clock_and_no_own_outputs(refs, config):
    ctx = make_ctx(make_world(), config)
    oc, st = upstream_frames(PAIRS, ctx.world)
    doc = s0.run(_inputs(refs, oc, st), ctx).outputs[ds.S0_GATE]
    timeish = [k for k in doc if "utc" in k or "time" in k or "date" in k]
    assert timeish == ["registered_utc"] and doc["registered_utc"] == ctx.world.registered_utc
    assert not set(doc["inputs"]) & {d.id for d in ds.DATASETS}
    assert s0.receipt_problems({**doc, "wall_clock_utc": "2026-01-01T00:00:00Z"}, ctx.world)


def test_upstream_from_another_world_fails_3A_S0_001(refs, config):
    ctx = make_ctx(make_world(seed=42), config)
    oc, st = upstream_frames(PAIRS, make_world(seed=7))  # 1A/2A rows of seed 7
    inputs = _inputs(refs, oc, st)
    res = s0.run(inputs, ctx)
    out = run_checks(catalogue.S0, res, inputs, ctx)["3A-S0-001"]
    assert not out.passed and any("seed" in k for k in out.evidence["first_keys"])
    assert res.outputs[ds.S0_GATE]["passed"] is False


def test_a_missing_consumed_column_fails_3A_S0_001(refs, config):
    ctx = make_ctx(make_world(), config)
    oc, st = upstream_frames(PAIRS, ctx.world)
    inputs = _inputs(refs, oc, st.drop("tzid"))
    out = run_checks(catalogue.S0, s0.run(inputs, ctx), inputs, ctx)["3A-S0-001"]
    assert not out.passed and "site_timezones: missing column tzid" in out.evidence["first_keys"]


def test_an_empty_reference_fails_3A_S0_005(refs, config):
    ctx = make_ctx(make_world(), config)
    oc, st = upstream_frames(PAIRS, ctx.world)
    inputs = _inputs(refs, oc, st)
    inputs[ds.REF_LINKS] = inputs[ds.REF_LINKS].head(0)
    out = run_checks(catalogue.S0, s0.run(inputs, ctx), inputs, ctx)
    assert not out["3A-S0-005"].passed and out["3A-S0-001"].passed


def test_identity_drift_fails_closed(refs, config):
    world = make_world()
    ctx = make_ctx(world, config, identity={"parameter_hash": "b" * 64, "manifest_fingerprint": "c" * 64})
    oc, st = upstream_frames(PAIRS, world)
    inputs = _inputs(refs, oc, st)
    out = run_checks(catalogue.S0, s0.run(inputs, ctx), inputs, ctx)
    assert not out["E_FINGERPRINT_MISMATCH"].passed  # a policy byte changed after registration
    assert not out["3A-S0-006"].passed  # a reference digest drifted (the fingerprint covers them)


def test_policy_problems_name_placeholders(config):
    assert s0.policy_problems(config) == ([], [])
    bad = config.model_copy(update={"zone_prior_policy": config.zone_prior_policy.model_copy(
        update={"version": "example"})})
    assert "placeholder" in s0.policy_problems(bad)[1][-1]


def test_contract_problems_name_the_dtype():
    frame = pl.DataFrame({"merchant_id": [1], "legal_country_iso": ["US"], "site_order": [1]})
    assert s0.contract_problems(frame, ds.OUTLET_COLUMNS) == ["column site_order is Int64, expected Int32"]
