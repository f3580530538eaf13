"""Canonical envelope, ContextPins, EbRef, BusRecord (control_ingress §2.2, §15 ids/contracts)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from fraud_assets.platform.contracts.envelope import (
    BUS_HEADER_NAMES,
    BusRecord,
    CanonicalEnvelope,
    ContextPins,
    EbRef,
    TsCache,
    bus_record_unchecked,
    eb_ref_unchecked,
    format_ts_utc,
    parse_ts_utc,
    ts_utc_from_us,
    ts_utc_to_us,
)
from fraud_assets.platform.contracts.hashing import payload_hash

PINS = {
    "platform_run_id": "pr_0123456789abcdef0123",
    "scenario_run_id": "0123456789abcdef0123456789abcdef",
    "scenario_id": "baseline_v1",
    "manifest_fingerprint": "a" * 64,
    "parameter_hash": "b" * 64,
    "seed": 42,
}
ENVELOPE = {
    "event_id": "c" * 64,
    "event_class": "traffic_fraud",
    "event_type": "s3_event_stream_with_fraud_6B",
    "schema_version": "v1",
    "producer": "svc:world_stream_producer",
    "ts_utc": "2026-03-27T10:15:00.123456Z",
    "pins": PINS,
    "payload": {"flow_id": 7, "event_seq": 0, "event_type": "AUTH_REQUEST", "amount": 12.5},
}


def _with(**changes):
    env = json.loads(json.dumps(ENVELOPE))
    for key, value in changes.items():
        if value is _DROP:
            env.pop(key)
        else:
            env[key] = value
    return env


_DROP = object()


def test_valid_envelope_round_trips_through_canonical_json():
    env = CanonicalEnvelope.model_validate(ENVELOPE)
    raw = env.to_json_bytes()
    assert raw == json.dumps(ENVELOPE, sort_keys=True, separators=(",", ":")).encode()
    assert CanonicalEnvelope.model_validate_json(raw) == env
    assert env.payload_hash() == payload_hash(env.event_type, "v1", ENVELOPE["payload"])


@pytest.mark.parametrize(
    "ts",
    [
        "2026-03-27T10:15:00.123456+00:00",  # isoformat offset
        "2026-03-27T10:15:00.123Z",  # 3-digit fraction
        "2026-03-27T10:15:00Z",  # no fraction
        "2026-03-27 10:15:00.123456Z",
        "2026-02-30T10:15:00.123456Z",  # not a date
        "2026-03-27T24:00:00.000000Z",
    ],
)
def test_ts_utc_rejects_non_canonical(ts):
    with pytest.raises(ValidationError):
        CanonicalEnvelope.model_validate(_with(ts_utc=ts))


@pytest.mark.parametrize("field", ["event_id", "event_class", "event_type", "schema_version", "producer", "ts_utc", "pins", "payload"])
def test_required_fields(field):
    with pytest.raises(ValidationError):
        CanonicalEnvelope.model_validate(_with(**{field: _DROP}))


@pytest.mark.parametrize("pin", list(PINS))
def test_every_pin_is_required(pin):
    pins = dict(PINS)
    pins.pop(pin)
    with pytest.raises(ValidationError):
        CanonicalEnvelope.model_validate(_with(pins=pins))


@pytest.mark.parametrize(
    "changes",
    [
        {"schema_version": "1"},
        {"schema_version": "v1.2"},
        {"event_id": "C" * 64},
        {"event_id": "c" * 40},
        {"producer": "world_stream_producer"},
        {"producer": "svc:WSP"},
        {"event_type": "bad type"},
        {"unknown_field": 1},
        {"payload": [1, 2]},
        {"emitted_at_utc": "2026-03-27T10:15:00Z"},
        {"parent_event_id": "x"},
    ],
)
def test_envelope_rejects(changes):
    with pytest.raises(ValidationError):
        CanonicalEnvelope.model_validate(_with(**changes))


@pytest.mark.parametrize(
    "changes",
    [
        {"seed": -1},
        {"seed": 2**64},
        {"seed": "42"},
        {"seed": True},
        {"platform_run_id": "pr_0123"},
        {"scenario_run_id": "a" * 64},
        {"manifest_fingerprint": "A" * 64},
        {"scenario_id": "has space"},
        {"extra": "x"},
    ],
)
def test_pins_reject(changes):
    with pytest.raises(ValidationError):
        ContextPins.model_validate({**PINS, **changes})


def test_seed_accepts_full_u64_range():
    assert ContextPins.model_validate({**PINS, "seed": 2**64 - 1}).seed == 2**64 - 1
    assert ContextPins.model_validate({**PINS, "seed": 0}).seed == 0


def test_hex32_event_id_and_optional_fields_accepted():
    env = CanonicalEnvelope.model_validate(
        _with(
            event_id="d" * 32,
            emitted_at_utc="2026-03-27T10:15:01.000000Z",
            parent_event_id="e" * 64,
            trace_id="trace-1",
        )
    )
    assert env.event_id == "d" * 32
    # optional transport metadata never enters payload_hash
    assert env.payload_hash() == CanonicalEnvelope.model_validate(ENVELOPE).payload_hash()


def test_payload_limit_and_non_finite_floats():
    big = {"blob": "x" * (1 << 20)}
    with pytest.raises(ValidationError):
        CanonicalEnvelope.model_validate(_with(payload=big))
    with pytest.raises(ValidationError):
        CanonicalEnvelope.model_validate(_with(payload={"amount": float("nan")}))


def test_envelope_is_frozen():
    env = CanonicalEnvelope.model_validate(ENVELOPE)
    with pytest.raises(ValidationError):
        env.event_id = "f" * 64  # type: ignore[misc]


def test_bus_headers():
    env = CanonicalEnvelope.model_validate(ENVELOPE)
    headers = env.bus_headers()
    assert tuple(headers) == BUS_HEADER_NAMES
    assert headers["platform_run_id"] == PINS["platform_run_id"]
    assert headers["payload_hash"] == env.payload_hash()


def test_eb_ref_has_offset_value_never_offset():
    ref = EbRef(topic="fp.bus.control.v1", partition=0, offset_value=5, offset_kind="sqlite_seq")
    assert "offset" not in ref.model_dump()
    with pytest.raises(ValidationError):
        EbRef.model_validate({"topic": "t", "partition": 0, "offset": 5, "offset_kind": "kafka_offset"})
    with pytest.raises(ValidationError):
        EbRef.model_validate({"topic": "t", "partition": 0, "offset_value": 5, "offset_kind": "other"})


def test_bus_record_eb_ref_and_envelope():
    env = CanonicalEnvelope.model_validate(ENVELOPE)
    rec = BusRecord(
        topic="fp.bus.traffic.fraud.v1",
        partition=1,
        offset_value=9,
        offset_kind="kafka_offset",
        key=b"7",
        value=env.to_json_bytes(),
        headers=env.bus_headers(),
        appended_at_utc="2026-03-27T10:15:00.123456Z",
    )
    assert rec.eb_ref == EbRef(topic=rec.topic, partition=1, offset_value=9, offset_kind="kafka_offset")
    assert rec.envelope() == env


def test_format_ts_utc():
    assert format_ts_utc(datetime(2026, 3, 27, 1, 2, 3, tzinfo=UTC)) == "2026-03-27T01:02:03.000000Z"
    cet = timezone(timedelta(hours=1))
    assert format_ts_utc(datetime(2026, 3, 27, 1, 2, 3, 5, tzinfo=cet)) == "2026-03-27T00:02:03.000005Z"
    with pytest.raises(ValueError):
        format_ts_utc(datetime(2026, 3, 27))


@given(st.integers(min_value=0, max_value=253402300799999999))
def test_ts_utc_microsecond_round_trip(micros):
    text = ts_utc_from_us(micros)
    assert ts_utc_to_us(text) == micros
    assert format_ts_utc(parse_ts_utc(text)) == text


def test_unchecked_constructors_equal_validated_models():
    ref = eb_ref_unchecked("t", 1, 5, "kafka_offset")
    assert ref == EbRef(topic="t", partition=1, offset_value=5, offset_kind="kafka_offset")
    assert ref.model_fields_set == set(EbRef.model_fields) and ref.model_dump()["offset_value"] == 5
    fields = dict(topic="t", partition=0, offset_value=9, offset_kind="sqlite_seq", key=b"k", value=b"v",
                  headers={"a": "b"}, appended_at_utc="2026-03-27T00:00:00.000000Z")
    rec = bus_record_unchecked(**fields)
    assert rec == BusRecord(**fields) == BusRecord.model_construct(**fields)
    assert rec.eb_ref == EbRef(topic="t", partition=0, offset_value=9, offset_kind="sqlite_seq")
    with pytest.raises(ValidationError):
        rec.partition = 2  # type: ignore[misc]


def test_ts_cache():
    cache = TsCache()
    assert cache.from_ms(1_774_569_600_123) == "2026-03-27T00:00:00.123000Z" == cache.from_ms(1_774_569_600_123)
    assert cache.from_ms(0) == "1970-01-01T00:00:00.000000Z"
