"""The platform topic table (control_ingress §2.3 — the topic authority) and the one partition function.

`TOPIC_TABLE` is the single module constant: one row per physical topic with its logical name, traffic
mode (`None` = shared by both modes), partition count, event types → event classes, producers and the
partition-key rule per event type (dotted paths into the envelope, first present wins; `required`
mirrors the spec's ✱). `config/platform/topics_v1.yaml` must agree with it (tested when present).

`partition_for_key` is the §2.1 recipe, applied by IG and by both bus adapters, so SQLite and Kafka
route identically (never Kafka's default murmur2 partitioner).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from fraud_assets.core.errors import EngineFailure

# Reason code IG records when a ✱ key is absent (control_ingress §6.2 step 9).
PARTITION_KEY_MISSING = "PARTITION_KEY_MISSING"
TOPIC_UNKNOWN = "TOPIC_UNKNOWN"

# --- producers (envelope `producer`, `^svc:[a-z_]+$`) ------------------------------------------
SVC_SCENARIO_RUNNER = "svc:scenario_runner"
SVC_WORLD_STREAM_PRODUCER = "svc:world_stream_producer"
SVC_PLATFORM_REPORTER = "svc:platform_reporter"
SVC_DEGRADE_LADDER = "svc:degrade_ladder"
SVC_DECISION_FABRIC = "svc:decision_fabric"
SVC_ACTION_LAYER = "svc:action_layer"
SVC_CASE_TRIGGER = "svc:case_trigger"
SVC_CASE_MGMT = "svc:case_mgmt"
SVC_INGESTION_GATE = "svc:ingestion_gate"

# --- streamed engine outputs (control_ingress §1.1) --------------------------------------------
ARRIVAL_EVENTS = "arrival_events_5B"
ARRIVAL_ENTITIES = "s1_arrival_entities_6B"
FLOW_ANCHOR_FRAUD = "s3_flow_anchor_with_fraud_6B"
FLOW_ANCHOR_BASELINE = "s2_flow_anchor_baseline_6B"
TRAFFIC_FRAUD = "s3_event_stream_with_fraud_6B"
TRAFFIC_BASELINE = "s2_event_stream_baseline_6B"

TRAFFIC_MODES = ("fraud", "baseline")
TRAFFIC_OUTPUT_BY_MODE: Mapping[str, str] = MappingProxyType(
    {"fraud": TRAFFIC_FRAUD, "baseline": TRAFFIC_BASELINE}
)
# Primary key of each streamed output after the world tokens (table order).
ENGINE_OUTPUT_KEYS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        ARRIVAL_EVENTS: ("merchant_id", "arrival_seq"),
        ARRIVAL_ENTITIES: ("merchant_id", "arrival_seq"),
        FLOW_ANCHOR_FRAUD: ("flow_id",),
        FLOW_ANCHOR_BASELINE: ("flow_id",),
        TRAFFIC_FRAUD: ("flow_id", "event_seq"),
        TRAFFIC_BASELINE: ("flow_id", "event_seq"),
    }
)


@dataclass(frozen=True)
class KeyRule:
    """Partition key: the first present of `paths`; `required` = the spec's ✱."""

    paths: tuple[str, ...]
    required: bool


@dataclass(frozen=True)
class TopicSpec:
    topic: str
    logical: str
    mode: str | None
    partitions: int
    event_classes: Mapping[str, str]
    producers: tuple[str, ...]
    keys: Mapping[str, KeyRule]


def _spec(
    topic: str,
    logical: str,
    mode: str | None,
    partitions: int,
    event_classes: dict[str, str],
    producers: tuple[str, ...],
    keys: dict[str, KeyRule],
) -> TopicSpec:
    assert set(keys) == set(event_classes), topic
    return TopicSpec(
        topic, logical, mode, partitions, MappingProxyType(event_classes), producers, MappingProxyType(keys)
    )


_RUN = KeyRule(("pins.platform_run_id",), True)
_FLOW = KeyRule(("payload.flow_id",), True)
_MERCHANT = KeyRule(("payload.merchant_id",), True)
_IDEM = KeyRule(("payload.idempotency_key",), True)
_AUDIT = KeyRule(("pins.platform_run_id", "event_id"), False)

TOPIC_TABLE: tuple[TopicSpec, ...] = (
    _spec(
        "fp.bus.control.v1", "control", None, 1,
        {
            "sr.run_ready.v1": "control",
            "wsp.stream_end.v1": "control",
            "platform.run_closed.v1": "control",
            "dl.posture_changed.v1": "control",
        },
        (SVC_SCENARIO_RUNNER, SVC_WORLD_STREAM_PRODUCER, SVC_PLATFORM_REPORTER, SVC_DEGRADE_LADDER),
        {t: _RUN for t in ("sr.run_ready.v1", "wsp.stream_end.v1", "platform.run_closed.v1", "dl.posture_changed.v1")},
    ),
    _spec(
        "fp.bus.traffic.fraud.v1", "traffic", "fraud", 4,
        {TRAFFIC_FRAUD: "traffic_fraud"}, (SVC_WORLD_STREAM_PRODUCER,), {TRAFFIC_FRAUD: _FLOW},
    ),
    _spec(
        "fp.bus.traffic.baseline.v1", "traffic", "baseline", 4,
        {TRAFFIC_BASELINE: "traffic_baseline"}, (SVC_WORLD_STREAM_PRODUCER,), {TRAFFIC_BASELINE: _FLOW},
    ),
    _spec(
        "fp.bus.context.arrival_events.v1", "context_arrival_events", None, 4,
        {ARRIVAL_EVENTS: "context_arrival"}, (SVC_WORLD_STREAM_PRODUCER,), {ARRIVAL_EVENTS: _MERCHANT},
    ),
    _spec(
        "fp.bus.context.arrival_entities.v1", "context_arrival_entities", None, 4,
        {ARRIVAL_ENTITIES: "context_arrival_entities"}, (SVC_WORLD_STREAM_PRODUCER,), {ARRIVAL_ENTITIES: _MERCHANT},
    ),
    _spec(
        "fp.bus.context.flow_anchor.fraud.v1", "context_flow_anchor", "fraud", 4,
        {FLOW_ANCHOR_FRAUD: "context_flow_fraud"}, (SVC_WORLD_STREAM_PRODUCER,), {FLOW_ANCHOR_FRAUD: _FLOW},
    ),
    _spec(
        "fp.bus.context.flow_anchor.baseline.v1", "context_flow_anchor", "baseline", 4,
        {FLOW_ANCHOR_BASELINE: "context_flow_baseline"}, (SVC_WORLD_STREAM_PRODUCER,), {FLOW_ANCHOR_BASELINE: _FLOW},
    ),
    _spec(
        "fp.bus.rtdl.v1", "rtdl", None, 4,
        {
            "decision_response": "rtdl_decision",
            "action_intent": "rtdl_action_intent",
            "action_outcome": "rtdl_action_outcome",
        },
        (SVC_DECISION_FABRIC, SVC_ACTION_LAYER, SVC_CASE_MGMT),
        {
            "decision_response": KeyRule(("payload.source_event.event_id",), True),
            "action_intent": _IDEM,
            "action_outcome": _IDEM,
        },
    ),
    _spec(
        "fp.bus.case.triggers.v1", "case_triggers", None, 2,
        {"case_trigger": "case_trigger"}, (SVC_CASE_TRIGGER,), {"case_trigger": KeyRule(("payload.case_id",), True)},
    ),
    _spec(
        "fp.bus.audit.v1", "audit", None, 1,
        {
            "ig.quarantined.v1": "audit",
            "ig.publish_reconciled.v1": "audit",
            "ig.policy_activated.v1": "audit",
            "platform.run_report_generated.v1": "audit",
        },
        (SVC_INGESTION_GATE, SVC_PLATFORM_REPORTER),
        {
            t: _AUDIT
            for t in (
                "ig.quarantined.v1",
                "ig.publish_reconciled.v1",
                "ig.policy_activated.v1",
                "platform.run_report_generated.v1",
            )
        },
    ),
)

TOPICS_BY_NAME: Mapping[str, TopicSpec] = MappingProxyType({s.topic: s for s in TOPIC_TABLE})
TOPIC_PARTITIONS: Mapping[str, int] = MappingProxyType({s.topic: s.partitions for s in TOPIC_TABLE})
EVENT_CLASS_BY_TYPE: Mapping[str, str] = MappingProxyType(
    {t: c for s in TOPIC_TABLE for t, c in s.event_classes.items()}
)
TOPIC_BY_EVENT_TYPE: Mapping[str, TopicSpec] = MappingProxyType(
    {t: s for s in TOPIC_TABLE for t in s.event_classes}
)


def topics_for_mode(mode: str) -> dict[str, int]:
    """Physical topic → partitions for a run of `mode` (shared topics plus the mode's own)."""
    if mode not in TRAFFIC_MODES:
        raise ValueError(f"traffic_mode must be one of {TRAFFIC_MODES}, got {mode!r}")
    return {s.topic: s.partitions for s in TOPIC_TABLE if s.mode in (None, mode)}


def topic_of(logical: str, mode: str) -> str:
    """Physical topic of a logical name in a traffic mode."""
    for s in TOPIC_TABLE:
        if s.logical == logical and s.mode in (None, mode):
            return s.topic
    raise KeyError(f"no topic for logical {logical!r} in mode {mode!r}")


# --- partitioning ---------------------------------------------------------------------------------


def partition_for_key(key: str | bytes, partitions: int) -> int:
    """``int.from_bytes(sha256(key_str.encode()).digest()[:8], "big") % partitions``."""
    if partitions < 1:
        raise ValueError("partitions must be >= 1")
    raw = key if isinstance(key, bytes) else key.encode("utf-8")
    return int.from_bytes(hashlib.sha256(raw).digest()[:8], "big") % partitions


def key_string(value: Any) -> str:
    """The key string of a key value: int64 ids in decimal, strings as they are."""
    if isinstance(value, bool) or value is None:
        raise TypeError(f"not a partition key value: {value!r}")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return key_string(item())
    raise TypeError(f"not a partition key value: {value!r}")


def _lookup(envelope: Any, path: str) -> Any:
    node = envelope
    for part in path.split("."):
        if node is None:
            return None
        if isinstance(node, Mapping):
            node = node.get(part)
        else:
            node = getattr(node, part, None)
    return node


def partition_key(envelope: Any) -> tuple[TopicSpec, str]:
    """Route an envelope (model or decoded mapping): its topic spec and partition key string.

    Raises `EngineFailure(TOPIC_UNKNOWN)` for an event type outside the table and
    `EngineFailure(PARTITION_KEY_MISSING)` when no key path is present (✱ keys) or usable.
    """
    event_type = _lookup(envelope, "event_type")
    spec = TOPIC_BY_EVENT_TYPE.get(event_type)  # type: ignore[arg-type]
    if spec is None:
        raise EngineFailure(TOPIC_UNKNOWN, f"event_type {event_type!r} has no topic")
    rule = spec.keys[event_type]
    for path in rule.paths:
        value = _lookup(envelope, path)
        if value is not None:
            try:
                return spec, key_string(value)
            except TypeError as exc:
                raise EngineFailure(PARTITION_KEY_MISSING, str(exc), path=path) from None
    raise EngineFailure(
        PARTITION_KEY_MISSING, f"none of {list(rule.paths)} present", event_type=event_type
    )


def route(envelope: Any) -> tuple[str, str, int]:
    """`(topic, key, partition)` for an envelope."""
    spec, key = partition_key(envelope)
    return spec.topic, key, partition_for_key(key, spec.partitions)
