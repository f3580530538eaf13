"""The topic table (control_ingress §2.3 is the authority) and the one partition function (§2.1)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fraud_assets.core.errors import EngineFailure
from fraud_assets.platform.contracts.topics import (
    EVENT_CLASS_BY_TYPE,
    PARTITION_KEY_MISSING,
    TOPIC_PARTITIONS,
    TOPIC_TABLE,
    TOPIC_UNKNOWN,
    partition_for_key,
    partition_key,
    route,
    topic_of,
    topics_for_mode,
)

# The spec's table, transcribed once: physical topic -> (logical, partitions, {event_type: class}, key paths).
SPEC = {
    "fp.bus.control.v1": ("control", 1, {
        "sr.run_ready.v1": "control", "wsp.stream_end.v1": "control",
        "platform.run_closed.v1": "control", "dl.posture_changed.v1": "control"}),
    "fp.bus.traffic.fraud.v1": ("traffic", 4, {"s3_event_stream_with_fraud_6B": "traffic_fraud"}),
    "fp.bus.traffic.baseline.v1": ("traffic", 4, {"s2_event_stream_baseline_6B": "traffic_baseline"}),
    "fp.bus.context.arrival_events.v1": ("context_arrival_events", 4, {"arrival_events_5B": "context_arrival"}),
    "fp.bus.context.arrival_entities.v1": ("context_arrival_entities", 4, {"s1_arrival_entities_6B": "context_arrival_entities"}),
    "fp.bus.context.flow_anchor.fraud.v1": ("context_flow_anchor", 4, {"s3_flow_anchor_with_fraud_6B": "context_flow_fraud"}),
    "fp.bus.context.flow_anchor.baseline.v1": ("context_flow_anchor", 4, {"s2_flow_anchor_baseline_6B": "context_flow_baseline"}),
    "fp.bus.rtdl.v1": ("rtdl", 4, {
        "decision_response": "rtdl_decision", "action_intent": "rtdl_action_intent", "action_outcome": "rtdl_action_outcome"}),
    "fp.bus.case.triggers.v1": ("case_triggers", 2, {"case_trigger": "case_trigger"}),
    "fp.bus.audit.v1": ("audit", 1, {
        "ig.quarantined.v1": "audit", "ig.publish_reconciled.v1": "audit",
        "ig.policy_activated.v1": "audit", "platform.run_report_generated.v1": "audit"}),
}


def test_table_equals_spec():
    got = {s.topic: (s.logical, s.partitions, dict(s.event_classes)) for s in TOPIC_TABLE}
    assert got == SPEC
    assert "labels" not in " ".join(got)  # there is no labels topic


def test_each_event_type_has_one_topic_and_class():
    types = [t for s in TOPIC_TABLE for t in s.event_classes]
    assert len(types) == len(set(types)) == len(EVENT_CLASS_BY_TYPE)


def test_modes():
    fraud = topics_for_mode("fraud")
    assert "fp.bus.traffic.fraud.v1" in fraud and "fp.bus.traffic.baseline.v1" not in fraud
    assert len(fraud) == 8 and len(TOPIC_PARTITIONS) == 10
    assert topic_of("context_flow_anchor", "baseline") == "fp.bus.context.flow_anchor.baseline.v1"
    assert topic_of("rtdl", "fraud") == "fp.bus.rtdl.v1"
    with pytest.raises(ValueError):
        topics_for_mode("other")


def _spec_partition(key: str, n: int) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % n


def test_partition_golden_values():
    keys = ["0", "1", "7", "42", "9007199254740993", "pr_0123456789abcdef0123"]
    assert [partition_for_key(k, 4) for k in keys] == [0, 1, 2, 1, 2, 3]
    assert [partition_for_key(k, 4) for k in keys] == [_spec_partition(k, 4) for k in keys]
    assert partition_for_key("anything", 1) == 0
    assert partition_for_key(b"7", 4) == partition_for_key("7", 4)


@given(st.text(), st.integers(min_value=1, max_value=64))
def test_partition_matches_recipe(key, n):
    assert partition_for_key(key, n) == _spec_partition(key, n)


def test_partitions_are_balanced():
    counts = [0] * 4
    for flow_id in range(4000):
        counts[partition_for_key(str(flow_id), 4)] += 1
    assert min(counts) > 850


@pytest.mark.parametrize(
    ("envelope", "topic", "key"),
    [
        ({"event_type": "s3_event_stream_with_fraud_6B", "payload": {"flow_id": 12}}, "fp.bus.traffic.fraud.v1", "12"),
        ({"event_type": "arrival_events_5B", "payload": {"merchant_id": 5, "flow_id": 9}}, "fp.bus.context.arrival_events.v1", "5"),
        ({"event_type": "decision_response", "payload": {"source_event": {"event_id": "ab"}}}, "fp.bus.rtdl.v1", "ab"),
        ({"event_type": "action_outcome", "payload": {"idempotency_key": "ik"}}, "fp.bus.rtdl.v1", "ik"),
        ({"event_type": "case_trigger", "payload": {"case_id": "c1"}}, "fp.bus.case.triggers.v1", "c1"),
        ({"event_type": "sr.run_ready.v1", "pins": {"platform_run_id": "pr_x"}, "payload": {}}, "fp.bus.control.v1", "pr_x"),
        ({"event_type": "ig.quarantined.v1", "pins": {}, "event_id": "ee", "payload": {}}, "fp.bus.audit.v1", "ee"),
    ],
)
def test_route(envelope, topic, key):
    got_topic, got_key, partition = route(envelope)
    assert (got_topic, got_key) == (topic, key)
    assert partition == partition_for_key(key, TOPIC_PARTITIONS[topic])


def test_route_failures():
    with pytest.raises(EngineFailure) as err:
        partition_key({"event_type": "s3_event_stream_with_fraud_6B", "payload": {}})
    assert err.value.code == PARTITION_KEY_MISSING
    with pytest.raises(EngineFailure) as err:
        partition_key({"event_type": "s3_event_stream_with_fraud_6B", "payload": {"flow_id": True}})
    assert err.value.code == PARTITION_KEY_MISSING
    with pytest.raises(EngineFailure) as err:
        partition_key({"event_type": "nope", "payload": {}})
    assert err.value.code == TOPIC_UNKNOWN


def test_config_topic_map_agrees_with_the_code():
    path = Path(__file__).resolve().parents[3] / "config" / "platform" / "topics_v1.yaml"
    import yaml

    doc = yaml.safe_load(path.read_text())
    entries = doc.get("topics", doc)
    for spec in TOPIC_TABLE:
        entry = entries[spec.logical]
        assert entry["partitions"] == spec.partitions, spec.logical
        physical = entry.get(spec.mode or "fraud")
        assert physical == spec.topic, (spec.logical, spec.mode)
