"""Every platform id recipe: deterministic, sensitive to each input, literal to the spec, golden values."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fraud_assets.platform.contracts import ids
from fraud_assets.platform.contracts.envelope import ContextPins, EbRef
from fraud_assets.platform.contracts.topics import TRAFFIC_BASELINE, TRAFFIC_FRAUD

PINS = {
    "platform_run_id": "pr_0123456789abcdef0123",
    "scenario_run_id": "0123456789abcdef0123456789abcdef",
    "scenario_id": "baseline_v1",
    "manifest_fingerprint": "a" * 64,
    "parameter_hash": "b" * 64,
    "seed": 42,
}
RUN = PINS["platform_run_id"]
EV = "e" * 64
HEX64 = re.compile(r"^[0-9a-f]{64}$")
HEX32 = re.compile(r"^[0-9a-f]{32}$")


def _canon(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _sha(value) -> str:
    return hashlib.sha256(_canon(value)).hexdigest()


# name -> (function, kwargs, expected shape)
RECIPES = {
    "intent_fingerprint": (
        ids.intent_fingerprint,
        dict(manifest_fingerprint="a" * 64, parameter_hash="b" * 64, seed=42, scenario_id="s", traffic_mode="fraud",
             window={"start_utc": "x"}, selection={"mode": "all"}),
        HEX64,
    ),
    "scenario_run_id": (ids.scenario_run_id, dict(run_equivalence_key="k|1"), HEX32),
    "platform_run_id": (ids.platform_run_id, dict(run_equivalence_key="k|1"), re.compile(r"^pr_[0-9a-f]{20}$")),
    "plan_hash": (ids.plan_hash, dict(plan={"a": 1, "b": [1, 2]}), HEX64),
    "ready_message_id": (ids.ready_message_id, dict(platform_run_id=RUN, scenario_run_id="c" * 32, facts_view_sha256="d" * 64), HEX64),
    "sr_record_id": (ids.sr_record_id, dict(scenario_run_id="c" * 32, event_kind="PLAN_COMMITTED", discriminator="x"), HEX32),
    "policy_rev": (ids.policy_rev, dict(file_digests={"a.yaml": "1" * 64}), HEX64),
    "oracle_pack_id": (
        ids.oracle_pack_id,
        dict(manifest_fingerprint="a" * 64, parameter_hash="b" * 64, seed=42, scenario_id="s",
             engine_contract_version="1", catalogue_digest="c" * 64),
        HEX64,
    ),
    "stream_view_id": (
        ids.stream_view_id,
        dict(oracle_pack_id="a" * 64, output_id="o", sort_keys=["ts_utc", "flow_id"], source_dataset_digest="b" * 64, view_format="v1"),
        HEX64,
    ),
    "dataset_digest": (ids.dataset_digest, dict(files=[("p/a.parquet", "f" * 64, 10)]), HEX64),
    "engine_event_id": (ids.engine_event_id, dict(output_id=TRAFFIC_FRAUD, pk=[7, 0], pins=PINS), HEX64),
    "stream_end_event_id": (ids.stream_end_event_id, dict(platform_run_id=RUN, message_id="m" * 64), HEX64),
    "receipt_id": (ids.receipt_id, dict(platform_run_id=RUN, event_class="traffic_fraud", event_id=EV, decision="ADMIT", seq=0), HEX32),
    "quarantine_id": (
        ids.quarantine_id,
        dict(platform_run_id=RUN, producer="svc:x", event_id=EV, raw_bytes=None, reason_codes=["A", "B"], payload_hash="p" * 64, q_seq=0),
        HEX32,
    ),
    "receipt_segment_id": (ids.receipt_segment_id, dict(receipt_ids=["a" * 32, "b" * 32]), HEX32),
    "governance_fact_id": (ids.governance_fact_id, dict(platform_run_id=RUN, family="RUN_STARTED", discriminator=1), HEX32),
    "anomaly_id": (
        ids.anomaly_id,
        dict(component="ieg", platform_run_id=RUN, reason_code="DUP", topic="t", partition=1, offset_value=5),
        HEX32,
    ),
    "decision_id": (
        ids.decision_id,
        dict(platform_run_id=RUN, source_event_id=EV, decision_scope="txn_disposition", bundle_id="f" * 64, origin=["t", 1, 5]),
        HEX32,
    ),
    "decision_event_id": (ids.decision_event_id, dict(pins=PINS, source_event_id=EV, decision_scope="txn_disposition"), HEX64),
    "idempotency_key": (ids.idempotency_key, dict(pins=PINS, source_event_id=EV, action_domain="txn", action_key="APPROVE"), HEX64),
    "action_id": (ids.action_id, dict(decision_id="d" * 32, action_domain="txn", action_key="APPROVE"), HEX32),
    "intent_event_id": (ids.intent_event_id, dict(pins=PINS, source_event_id=EV, action_domain="txn", action_key="APPROVE"), HEX64),
    "outcome_id": (ids.outcome_id, dict(platform_run_id=RUN, idempotency_key="i" * 64), HEX32),
    "outcome_event_id": (ids.outcome_event_id, dict(pins=PINS, idempotency_key="i" * 64), HEX64),
    "audit_id": (ids.audit_id, dict(platform_run_id=RUN, decision_id="d" * 32), HEX32),
    "graph_version_id": (ids.graph_version_id, dict(stream_id="ieg.v1::" + RUN, offset_kind="sqlite_seq", offsets=[["t", 0, 5]]), HEX32),
    "offsets_basis_digest": (ids.offsets_basis_digest, dict(offsets=[["t", 0, 5]]), HEX64),
    "posture_event_id": (ids.posture_event_id, dict(scope_key="run", posture_seq=1), HEX64),
    "case_id": (ids.case_id, dict(platform_run_id=RUN, event_class="traffic_fraud", event_id=EV), HEX32),
    "case_trigger_id": (ids.case_trigger_id, dict(case_id="c" * 32, trigger_type="DECISION_ESCALATION", source_ref_id="d"), HEX32),
    "case_timeline_event_id": (ids.case_timeline_event_id, dict(case_id="c" * 32, timeline_event_type="CASE_OPENED", source_ref_id="d"), HEX32),
    "label_assertion_id": (
        ids.label_assertion_id,
        dict(case_timeline_event_id="t" * 32, platform_run_id=RUN, event_id=EV, label_type="fraud_disposition"),
        HEX32,
    ),
    "ct_checkpoint_token": (ids.ct_checkpoint_token, dict(source_ref_id="s", case_trigger_id="c" * 32), HEX32),
    "ofs_request_id": (
        ids.ofs_request_id,
        dict(platform_run_id=RUN, intent_kind="train", build_profile_digest="1", feature_def_digest="2",
             ls_snapshot_digest="3", replay_basis_digest="4"),
        re.compile(r"^ofs\.[0-9a-f]{24}$"),
    ),
    "dataset_fingerprint": (ids.dataset_fingerprint, dict(identity={"platform_run_id": RUN}), HEX64),
    "dataset_manifest_id": (ids.dataset_manifest_id, dict(dataset_fingerprint="f" * 64), re.compile(r"^dm_[0-9a-f]{32}$")),
    "mf_request_id": (
        ids.mf_request_id,
        dict(dataset_fingerprints=["b" * 64, "a" * 64], training_profile_digest="1", governance_profile_digest="2",
             target_scope={"mode": "fraud"}, intent_kind="train"),
        re.compile(r"^mf\.[0-9a-f]{24}$"),
    ),
    "train_run_key": (
        ids.train_run_key,
        dict(dataset_fingerprints=["a" * 64], training_profile_digest="1", feature_def_digest="2",
             seed_policy={"recipe": "mf.seed.v1", "base_seed": 31}, mf_code_release_id="fraud_assets==0.1.0+nogit"),
        HEX64,
    ),
    "train_run_id": (ids.train_run_id, dict(train_run_key="k" * 64), re.compile(r"^mf_.{24}$")),
    "bundle_id": (ids.bundle_id, dict(train_run_key="k" * 64, model_digest="1", calibration_digest="2", policy_digest="3"), HEX64),
    "registry_event_id": (
        ids.registry_event_id,
        dict(event_type="ACTIVATED", scope_key="s", bundle_id="b" * 64, bundle_version="v1", prior_active=None,
             actor_id="mf", evidence_digest="e" * 64),
        HEX32,
    ),
}


def _alter(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):
        return value + "0"
    if isinstance(value, dict):
        if "seed" in value:
            return {**value, "seed": value["seed"] + 1}
        return {**value, "zz": 1}
    if isinstance(value, (list, tuple)):
        if value and isinstance(value[0], (list, tuple)):
            return [*value, ["u", 9, 9]]
        return [*value, "z"]
    if value is None:
        return "x"
    raise TypeError(value)


# Not applicable: prefix/truncation of a single digest (shape-tested), and raw bytes that only count
# when there is no event_id (tested below).
_NOT_SENSITIVE = {("dataset_manifest_id", "dataset_fingerprint"), ("train_run_id", "train_run_key"), ("quarantine_id", "raw_bytes")}
CASES = [(name, arg) for name, (_, kwargs, _) in RECIPES.items() for arg in kwargs if (name, arg) not in _NOT_SENSITIVE]


@pytest.mark.parametrize("name", list(RECIPES))
def test_deterministic_and_shaped(name):
    fn, kwargs, shape = RECIPES[name]
    first = fn(**kwargs)
    assert first == fn(**kwargs)
    assert shape.match(first), first


@pytest.mark.parametrize(("name", "arg"), CASES)
def test_sensitive_to_each_input(name, arg):
    fn, kwargs, _ = RECIPES[name]
    altered = ["t", 1, 6] if (name, arg) == ("decision_id", "origin") else _alter(kwargs[arg])
    changed = {**kwargs, arg: altered}
    assert fn(**changed) != fn(**kwargs)


def test_every_recipe_function_is_covered():
    public = {n for n in dir(ids) if not n.startswith("_") and callable(getattr(ids, n))}
    helpers = {"H", "h_obj", "hex32", "check_run_equivalence_key", "default_run_equivalence_key", "evidence_digest",
               "ready_event_id", "engine_event_ids", "subject_event_id", "platform_config_digest", "mf_seed",
               "ieg_stream_id", "pins_dict", "canonical_json", "sha256_hex"}
    imported = {"ContextPins", "EbRef", "Any", "Iterable", "Mapping", "Sequence"}
    missing = public - set(RECIPES) - helpers - imported
    assert not missing, f"recipes without tests: {sorted(missing)}"


# --- literal recipes and golden values -----------------------------------------------------------


def test_engine_event_id_literal_and_golden():
    expected = _sha(["fa.engine_event_id.v1", TRAFFIC_FRAUD, "a" * 64, "b" * 64, 42, "baseline_v1", [7, 0]])
    got = ids.engine_event_id(TRAFFIC_FRAUD, [7, 0], PINS)
    assert got == expected == "687314a082f69ac36a7043d0523d37787d6a14822be16e3004f0798a477d81b2"
    assert ids.engine_event_id(TRAFFIC_FRAUD, (7, 0), ContextPins(**PINS)) == got


def test_run_ids_literal_and_golden():
    key = ids.default_run_equivalence_key("a" * 64, 42, "baseline_v1", "fraud")
    assert key == "a" * 64 + "|42|baseline_v1|fraud|r1"
    assert ids.platform_run_id(key) == "pr_" + _sha(["fa.sr.platform_run_id.v1", key])[:20] == "pr_9f50b7d299187cd0d52e"
    assert ids.scenario_run_id(key) == _sha(["fa.sr.scenario_run_id.v1", key])[:32] == "f9ed2be6762c2081335f38f5bf51348c"


def test_rtdl_and_cases_literal_and_golden():
    did = ids.decision_id(RUN, EV, "txn_disposition", "f" * 64, EbRef(topic="fp.bus.traffic.fraud.v1", partition=1, offset_value=5, offset_kind="kafka_offset"))
    assert did == _sha(["fa.df.decision.v1", RUN, EV, "txn_disposition", "f" * 64, ["fp.bus.traffic.fraud.v1", 1, 5]])[:32]
    assert did == "2168a4cc6570a272a6f0e0d223c7915e"
    cid = ids.case_id(RUN, "traffic_fraud", EV)
    assert cid == _sha({"recipe": "cm.case_id.v1", "platform_run_id": RUN, "event_class": "traffic_fraud", "event_id": EV})[:32]
    assert cid == "6bbf9684fafef49fb3807f214491ea20"
    assert ids.audit_id(RUN, did) == _sha(["fa.dla.audit.v1", RUN, did])[:32]
    assert ids.ct_checkpoint_token("s", cid) == hashlib.sha256(f"s:{cid}".encode()).hexdigest()[:32]


@pytest.mark.parametrize("pin", ["platform_run_id", "scenario_run_id"])
def test_engine_event_id_independent_of_run_ids(pin):
    other = dict(PINS)
    other[pin] = "pr_ffffffffffffffffffff" if pin == "platform_run_id" else "f" * 32
    assert ids.engine_event_id(TRAFFIC_FRAUD, [7, 0], other) == ids.engine_event_id(TRAFFIC_FRAUD, [7, 0], PINS)


@pytest.mark.parametrize("pin", ["manifest_fingerprint", "parameter_hash", "seed", "scenario_id"])
def test_engine_event_id_depends_on_world_pins(pin):
    other = dict(PINS)
    other[pin] = other[pin] + 1 if pin == "seed" else ("c" * 64 if pin != "scenario_id" else "other")
    assert ids.engine_event_id(TRAFFIC_FRAUD, [7, 0], other) != ids.engine_event_id(TRAFFIC_FRAUD, [7, 0], PINS)


@given(st.lists(st.lists(st.integers(-(2**63), 2**63 - 1) | st.text(max_size=6), min_size=1, max_size=3), max_size=20))
def test_batch_engine_event_ids_equal_scalar(pks):
    assert ids.engine_event_ids("out", pks, PINS) == [ids.engine_event_id("out", pk, PINS) for pk in pks]


def test_subject_event_id_is_the_mode_traffic_event_seq_0():
    assert ids.subject_event_id(PINS, 7, "fraud") == ids.engine_event_id(TRAFFIC_FRAUD, [7, 0], PINS)
    assert ids.subject_event_id(PINS, 7, "baseline") == ids.engine_event_id(TRAFFIC_BASELINE, [7, 0], PINS)
    assert ids.subject_event_id(PINS, 7, "fraud") != ids.subject_event_id(PINS, 7, "baseline")


def test_ready_event_ids():
    message = ids.ready_message_id(RUN, "c" * 32, "d" * 64)
    assert ids.ready_event_id(message) == message
    first, second = ids.ready_event_id(message, 1), ids.ready_event_id(message, 2)
    assert len({message, first, second}) == 3
    with pytest.raises(ValueError):
        ids.ready_event_id(message, -1)


@pytest.mark.parametrize("key", ["", "has space", "x" * 257, "semi;colon"])
def test_run_equivalence_key_rejected(key):
    with pytest.raises(ValueError):
        ids.platform_run_id(key)


def test_order_insensitive_recipes():
    assert ids.receipt_segment_id(["a", "b"]) == ids.receipt_segment_id(["b", "a"])
    assert ids.dataset_digest([("b", "2", 2), ("a", "1", 1)]) == ids.dataset_digest([("a", "1", 1), ("b", "2", 2)])
    assert ids.graph_version_id("s", "k", [["t", 1, 2], ["t", 0, 1]]) == ids.graph_version_id("s", "k", [["t", 0, 1], ["t", 1, 2]])
    base = dict(platform_run_id=RUN, producer="svc:x", event_id=EV, raw_bytes=None, payload_hash=None, q_seq=0)
    assert ids.quarantine_id(reason_codes=["B", "A"], **base) == ids.quarantine_id(reason_codes=["A", "B"], **base)
    assert ids.policy_rev({"b": "2", "a": "1"}) == ids.policy_rev({"a": "1", "b": "2"}) == ids.platform_config_digest({"a": "1", "b": "2"})


def test_quarantine_id_without_event_id_uses_raw_bytes():
    kw = dict(platform_run_id=None, producer="svc:x", event_id=None, reason_codes=["ENVELOPE_INVALID"], payload_hash=None, q_seq=0)
    a = ids.quarantine_id(raw_bytes=b"{bad", **kw)
    assert a != ids.quarantine_id(raw_bytes=b"{worse", **kw)
    assert a == _sha(["fa.ig.quarantine.v1", "-", "svc:x", hashlib.sha256(b"{bad").hexdigest(), ["ENVELOPE_INVALID"], "-", 0])[:32]
    with pytest.raises(ValueError):
        ids.quarantine_id(raw_bytes=None, **kw)


def test_plan_hash_and_evidence_digest_exclusions():
    plan = {"a": 1, "plan_hash": "old"}
    assert ids.plan_hash(plan) == ids.plan_hash({"a": 1})
    facts = {k: {"v": k} for k in ids.EVIDENCE_FIELDS}
    digest = ids.evidence_digest(facts)
    assert ids.evidence_digest({**facts, "start_offsets": {"t": {"0": 5}}, "registry": {"x": 1}}) == digest
    assert ids.evidence_digest({**facts, "outputs": []}) != digest


def test_mf_seed_range():
    seed = ids.mf_seed("k" * 64)
    assert 0 <= seed < 2**31
    assert seed == int(_sha({"recipe": "mf.seed.v1", "train_run_key": "k" * 64, "base_seed": 31})[:8], 16) % 2**31
