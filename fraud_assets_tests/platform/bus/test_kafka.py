"""Kafka adapter specifics against Tansu (control_ingress §7.2), marked integration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import OffsetSpec

from fraud_assets.platform.bus.kafka import KafkaEventBus
from fraud_assets.core.errors import EngineFailure
from fraud_assets.platform.bus.protocol import E_EB_IDEMPOTENCE_UNAVAILABLE, EB_IDEMPOTENCE_DISABLED, PublishRecord
from fraud_assets.platform.contracts.envelope import parse_ts_utc
from fraud_assets_tests.platform.bus.support import consume

integration = pytest.mark.integration


@pytest.fixture
def kbus(kafka_bootstrap):
    bus = KafkaEventBus(kafka_bootstrap, idempotence="required")
    yield bus
    bus.close()


@integration
def test_idempotent_producer_works_on_tansu(kbus, new_topic):
    """INTEGRATION decision 16: `enable.idempotence=true` + `acks=all` on Tansu, 5 000 records, no error."""
    topic = new_topic()
    kbus.ensure_topics({topic: 4})
    outcomes = kbus.publish_batch([PublishRecord(topic, str(i), b"%d" % i) for i in range(5000)])
    assert kbus.idempotence_active is True
    assert [o.status for o in outcomes].count("ok") == 5000
    assert not [e for e in kbus._producer_errors if e.fatal()]
    assert sum(kbus.head_offsets(topic).values()) == 5000
    with kbus.consumer("g", [topic]) as consumer:
        values = [r.value for r in consume(consumer, 5000, max_records=2000)]
    assert sorted(values) == sorted(b"%d" % i for i in range(5000))
    producer_config = kbus.producer()  # same instance, no re-init
    assert producer_config is kbus.producer()


@integration
def test_head_offsets_correct_for_batched_appends(kbus, new_topic):
    """Tansu 0.6 answers ListOffsets(latest) with the last batch's base offset + 1; the adapter reads
    the last batch so the head is the real next offset."""
    topic = new_topic()
    kbus.ensure_topics({topic: 2})
    kbus.publish_batch([PublishRecord(topic, "k", b"x", partition=0) for _ in range(10)])  # one batch
    kbus.publish_batch([PublishRecord(topic, "k", b"y", partition=0) for _ in range(7)])
    listed = kbus._list_offsets(topic, OffsetSpec.latest())
    assert listed[0] <= 17  # 11 on Tansu 0.6, 17 on a conforming broker
    assert kbus.head_offsets(topic) == {0: 17, 1: 0}
    with kbus.consumer("g", {topic: {0: 17}}) as consumer:  # exactly the head is a valid start
        assert consumer.poll(10, 200) == []


@integration
def test_epoch_is_the_topic_id(kbus, new_topic):
    topic = new_topic()
    kbus.ensure_topics({topic: 1})
    epoch = kbus.topic_epoch(topic)
    assert not epoch.startswith("kafka:") and len(epoch) >= 16


@integration
def test_appended_at_is_wall_create_time(kbus, new_topic):
    topic = new_topic()
    kbus.ensure_topics({topic: 1})
    before = datetime.now(UTC) - timedelta(seconds=5)
    ref = kbus.publish(topic, "k", b"v", {"ts_utc": "2020-01-01T00:00:00.000000Z"})
    with kbus.consumer("g", [topic]) as consumer:
        (rec,) = consume(consumer, 1)
    assert rec.eb_ref == ref
    assert before <= parse_ts_utc(rec.appended_at_utc) <= datetime.now(UTC) + timedelta(seconds=5)
    assert rec.headers["ts_utc"] == "2020-01-01T00:00:00.000000Z"  # event time travels as a header


@integration
def test_commits_are_visible_to_a_plain_kafka_client(kbus, new_topic, kafka_bootstrap):
    from confluent_kafka import Consumer

    topic = new_topic()
    kbus.ensure_topics({topic: 2})
    kbus.commit("grp", topic, 1, 0)
    kbus.publish_batch([PublishRecord(topic, "k", b"v", partition=1) for _ in range(3)])
    kbus.commit("grp", topic, 1, 2)
    plain = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": "grp"})
    try:
        (tp,) = plain.committed([TopicPartition(topic, 1)], timeout=10)
    finally:
        plain.close()
    assert tp.offset == 2


@integration
def test_preferred_idempotence_reports_green_when_available(kafka_bootstrap, new_topic):
    bus = KafkaEventBus(kafka_bootstrap, idempotence="preferred")
    try:
        topic = new_topic()
        bus.ensure_topics({topic: 1})
        bus.publish(topic, "k", b"v")
        assert bus.idempotence_active is True and bus.probe().state == "GREEN"
    finally:
        bus.close()


class _FakeProducer:
    def __init__(self, idempotent: bool) -> None:
        self.idempotent = idempotent


def _unsupported(bus: KafkaEventBus, monkeypatch) -> list[bool]:
    """Pretend the broker refuses idempotent producers the way librdkafka reports it (fatal error)."""
    from confluent_kafka import KafkaError

    made: list[bool] = []

    def make(idempotent: bool):
        made.append(idempotent)
        bus._producer_errors = [KafkaError(KafkaError._UNSUPPORTED_FEATURE, "no InitProducerId", fatal=True)] if idempotent else []
        return _FakeProducer(idempotent)

    monkeypatch.setattr(bus, "_make_producer", make)
    return made


def test_required_idempotence_is_a_startup_error(monkeypatch):
    bus = KafkaEventBus("127.0.0.1:1", idempotence="required")
    _unsupported(bus, monkeypatch)
    with pytest.raises(EngineFailure) as err:
        bus.producer()
    assert err.value.code == E_EB_IDEMPOTENCE_UNAVAILABLE


def test_preferred_idempotence_falls_back_and_reports_amber(monkeypatch):
    bus = KafkaEventBus("127.0.0.1:1", idempotence="preferred")
    made = _unsupported(bus, monkeypatch)
    assert bus.producer().idempotent is False and made == [True, False]
    assert bus.idempotence_active is False
    monkeypatch.setattr(bus._admin, "list_topics", lambda timeout: type("M", (), {"topics": {}})())
    health = bus.probe({})
    assert health.state == "AMBER" and health.reasons[0][0] == EB_IDEMPOTENCE_DISABLED
