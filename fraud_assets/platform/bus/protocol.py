"""The EventBus protocol shared by the SQLite and Kafka adapters (control_ingress §7, ARCHITECTURE §11).

Semantics (both adapters): an acknowledged append is durable at a stable `(topic, partition,
offset_value)`; order per partition only; delivery at-least-once; no dedupe by `event_id`; checkpoints
are exclusive-next offsets; offsets may have gaps (Kafka), so consumers advance to `last_offset + 1`.
The partition of a record is always computed by `contracts.topics.partition_for_key` (or passed
explicitly by IG) — never by a client's default partitioner.

Consumers are assigned partitions explicitly (no group rebalancing). A consumer group only names the
committed offsets (`commit` after side effects, `committed` on restart). Start positions:
explicit offsets, `committed` (else earliest) or `earliest`; `latest` is refused
(`E_EB_START_LATEST_FORBIDDEN`): it would lose every record published before the consumer attached.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from fraud_assets.core.errors import EngineFailure
from fraud_assets.platform.contracts.envelope import BusRecord, EbRef, OffsetKind

# --- failure codes (control_ingress §12) and adapter codes ---------------------------------------
E_EB_TOPIC_PARTITIONS_MISMATCH = "E_EB_TOPIC_PARTITIONS_MISMATCH"
E_EB_START_LATEST_FORBIDDEN = "E_EB_START_LATEST_FORBIDDEN"
E_EB_CHECKPOINT_AHEAD_OF_HEAD = "E_EB_CHECKPOINT_AHEAD_OF_HEAD"
E_EB_OFFSET_EXPIRED = "E_EB_OFFSET_EXPIRED"
E_EB_RECORD_TOO_LARGE = "E_EB_RECORD_TOO_LARGE"
E_EB_TOPIC_UNKNOWN = "E_EB_TOPIC_UNKNOWN"
E_EB_PARTITION_INVALID = "E_EB_PARTITION_INVALID"
E_EB_PUBLISH_REJECTED = "E_EB_PUBLISH_REJECTED"
E_EB_PUBLISH_UNKNOWN = "E_EB_PUBLISH_UNKNOWN"
E_EB_IDEMPOTENCE_UNAVAILABLE = "E_EB_IDEMPOTENCE_UNAVAILABLE"
E_EB_UNAVAILABLE = "E_EB_UNAVAILABLE"
E_EB_BUSY = "E_EB_BUSY"
E_EB_START_POSITION_INVALID = "E_EB_START_POSITION_INVALID"

# Health reason codes.
EB_HEAD_REPAIRED = "EB_HEAD_REPAIRED"
EB_PROBE_FAILED = "EB_PROBE_FAILED"
EB_TOPIC_MISSING = "EB_TOPIC_MISSING"
EB_IDEMPOTENCE_DISABLED = "EB_IDEMPOTENCE_DISABLED"

StartPosition = Literal["earliest", "committed", "latest"]
START_POSITIONS = ("earliest", "committed", "latest")
PublishStatus = Literal["ok", "rejected", "unknown"]
Positions = Mapping[str, Mapping[int, int]]  # topic -> partition -> next_offset


def check_start_position(value: str) -> str:
    """Config-load check: `earliest` and `committed` are allowed, `latest` never is."""
    if value == "latest":
        raise EngineFailure(
            E_EB_START_LATEST_FORBIDDEN,
            "start position 'latest' is forbidden: a consumer attached at the head misses every "
            "record of the run published before it attached; use 'committed' or 'earliest'",
        )
    if value not in START_POSITIONS:
        raise EngineFailure(E_EB_START_POSITION_INVALID, f"unknown start position {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class PublishRecord:
    topic: str
    key: str
    value: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    partition: int | None = None


@dataclass(frozen=True, slots=True)
class PublishOutcome:
    """`ok` (appended at `eb_ref`), `rejected` (definitely not written) or `unknown` (may be written)."""

    status: PublishStatus
    eb_ref: EbRef | None = None
    appended_at_utc: str | None = None
    error: str | None = None
    code: str | None = None


@dataclass(frozen=True, slots=True)
class BusHealth:
    state: Literal["GREEN", "AMBER", "RED"]
    reasons: tuple[tuple[str, str], ...] = ()


class BusPublishError(EngineFailure):
    """Raised by `publish` (single record) when the outcome is not `ok`."""

    def __init__(self, outcome: PublishOutcome, topic: str) -> None:
        self.outcome = outcome
        code = outcome.code or (E_EB_PUBLISH_UNKNOWN if outcome.status == "unknown" else E_EB_PUBLISH_REJECTED)
        super().__init__(code, outcome.error or outcome.status, topic=topic, status=outcome.status)


@runtime_checkable
class Consumer(Protocol):
    """Explicitly assigned reader; positions are exclusive-next offsets per (topic, partition)."""

    group_name: str

    def poll(self, max_records: int = 500, timeout_ms: int = 100) -> list[BusRecord]: ...

    def seek(self, topic: str, partition: int, offset: int) -> None: ...

    def positions(self) -> dict[str, dict[int, int]]: ...

    def commit(self, positions: Positions | None = None) -> None:
        """Synchronously commit `positions` (default: the positions after the last polled record)."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Consumer: ...

    def __exit__(self, *exc: object) -> None: ...


@runtime_checkable
class EventBus(Protocol):
    kind: str
    offset_kind: OffsetKind

    def ensure_topics(self, topic_map: Mapping[str, int]) -> None:
        """Create missing topics; an existing topic with another count is E_EB_TOPIC_PARTITIONS_MISMATCH."""
        ...

    def partitions(self, topic: str) -> int: ...

    def publish(
        self,
        topic: str,
        key: str,
        value: bytes,
        headers: Mapping[str, str] | None = None,
        partition: int | None = None,
    ) -> EbRef:
        """Append one record; `partition=None` applies `partition_for_key(key, partitions(topic))`."""
        ...

    def publish_batch(self, records: Sequence[PublishRecord]) -> list[PublishOutcome]: ...

    def head_offsets(self, topic: str) -> dict[int, int]:
        """Partition → next offset to be written (exclusive)."""
        ...

    def low_watermarks(self, topic: str) -> dict[int, int]: ...

    def topic_epoch(self, topic: str) -> str:
        """Topic incarnation id: changes when the topic is deleted and recreated."""
        ...

    def consumer(
        self,
        group_name: str,
        assignments: Positions | Sequence[str],
        *,
        start: StartPosition = "committed",
    ) -> Consumer:
        """Explicit `{topic: {partition: start_offset}}`, or topic names started at `start`."""
        ...

    def commit(self, group_name: str, topic: str, partition: int, next_offset: int) -> None: ...

    def committed(self, group_name: str, topic: str) -> dict[int, int]:
        """Partition → committed next offset (partitions never committed are absent)."""
        ...

    def delete_topic(self, topic: str) -> None:
        """Admin/test: drop a topic (recreating it yields a new `topic_epoch`)."""
        ...

    def probe(self, expected: Mapping[str, int] | None = None) -> BusHealth:
        """GREEN/AMBER/RED; RED when a topic of `expected` (default: those ensured) is missing or resized."""
        ...

    def close(self) -> None: ...


def iter_records(consumer: Consumer, *, max_records: int = 500, timeout_ms: int = 100) -> Iterator[BusRecord]:
    """Yield records until one poll returns nothing within `timeout_ms` (drain to the current head)."""
    while True:
        batch = consumer.poll(max_records, timeout_ms)
        if not batch:
            return
        yield from batch


def resolve_start_offsets(
    bus: EventBus,
    group_name: str,
    assignments: Positions | Sequence[str],
    start: str,
) -> dict[str, dict[int, int]]:
    """Turn an assignment request into explicit offsets and refuse impossible ones.

    Offsets above the partition head → E_EB_CHECKPOINT_AHEAD_OF_HEAD (the bus was reset); below the
    low watermark → E_EB_OFFSET_EXPIRED (retention/GC removed them). Neither is silently skipped.
    """
    check_start_position(start)
    wanted: dict[str, dict[int, int | None]] = {}
    if isinstance(assignments, Mapping):
        for topic, parts in assignments.items():
            wanted[topic] = {int(p): int(o) for p, o in parts.items()}
    else:
        if isinstance(assignments, str):
            raise TypeError("assignments must be a mapping or a sequence of topic names, not a string")
        for topic in assignments:
            committed = bus.committed(group_name, topic) if start == "committed" else {}
            wanted[topic] = {p: committed.get(p) for p in range(bus.partitions(topic))}
    out: dict[str, dict[int, int]] = {}
    for topic, parts in wanted.items():
        count = bus.partitions(topic)
        heads = bus.head_offsets(topic)
        lows = bus.low_watermarks(topic)
        out[topic] = {}
        for p, offset in parts.items():
            if not 0 <= p < count:
                raise EngineFailure(E_EB_PARTITION_INVALID, f"{topic} has {count} partitions", partition_id=p)
            if offset is None:
                offset = lows[p]
            if offset < 0:
                raise EngineFailure(E_EB_START_POSITION_INVALID, "negative start offset", topic=topic, partition_id=p)
            if offset > heads[p]:
                raise EngineFailure(
                    E_EB_CHECKPOINT_AHEAD_OF_HEAD,
                    "start offset above the partition head: the bus was reset (memory broker "
                    "restarted, SQLite file replaced)",
                    topic=topic,
                    partition_id=p,
                    start_offset=offset,
                    head=heads[p],
                    group_name=group_name,
                )
            if offset < lows[p]:
                raise EngineFailure(
                    E_EB_OFFSET_EXPIRED,
                    "start offset below the low watermark: records expired; recover from the archive",
                    topic=topic,
                    partition_id=p,
                    start_offset=offset,
                    low_watermark=lows[p],
                    group_name=group_name,
                )
            out[topic][p] = offset
    return out


def admit(record: PublishRecord, partitions: Callable[[str], int], record_max_bytes: int) -> int | PublishOutcome:
    """The partition `record` goes to, or the rejection every adapter gives it (unknown topic,
    partition out of range, value too large). Routing is `partition_for_key` unless given."""
    from fraud_assets.platform.contracts.topics import partition_for_key

    try:
        count = partitions(record.topic)
    except EngineFailure as exc:
        return PublishOutcome("rejected", error=exc.message, code=exc.code)
    partition = partition_for_key(record.key, count) if record.partition is None else record.partition
    if not 0 <= partition < count:
        return PublishOutcome("rejected", error=f"partition {partition} outside [0, {count})",
                              code=E_EB_PARTITION_INVALID)
    if len(record.value) > record_max_bytes:
        return PublishOutcome("rejected", error=f"value of {len(record.value)} bytes > {record_max_bytes}",
                              code=E_EB_RECORD_TOO_LARGE)
    return partition
