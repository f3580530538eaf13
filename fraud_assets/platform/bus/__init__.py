"""Event bus: one protocol, two adapters (`sqlite` embedded, `kafka` via confluent-kafka).

This package is the only code of the platform that talks to Kafka or to the bus file. Components
take an `EventBus` and never branch on the adapter.
"""

from __future__ import annotations

from typing import Any

from fraud_assets.platform.bus.protocol import (
    E_EB_CHECKPOINT_AHEAD_OF_HEAD,
    E_EB_OFFSET_EXPIRED,
    E_EB_RECORD_TOO_LARGE,
    E_EB_START_LATEST_FORBIDDEN,
    E_EB_TOPIC_PARTITIONS_MISMATCH,
    BusHealth,
    BusPublishError,
    Consumer,
    EventBus,
    PublishOutcome,
    PublishRecord,
    StartPosition,
    check_start_position,
    iter_records,
)
from fraud_assets.platform.contracts.topics import partition_for_key


def open_bus(kind: str, **config: Any) -> EventBus:
    """`open_bus("sqlite", path=...)` or `open_bus("kafka", bootstrap=...)` (profile `bus` section)."""
    if kind == "sqlite":
        from fraud_assets.platform.bus.sqlite import SqliteEventBus

        return SqliteEventBus(**config)
    if kind == "kafka":
        from fraud_assets.platform.bus.kafka import KafkaEventBus

        return KafkaEventBus(**config)
    raise ValueError(f"unknown bus kind {kind!r} (sqlite|kafka)")


__all__ = [
    "BusHealth",
    "BusPublishError",
    "Consumer",
    "E_EB_CHECKPOINT_AHEAD_OF_HEAD",
    "E_EB_OFFSET_EXPIRED",
    "E_EB_RECORD_TOO_LARGE",
    "E_EB_START_LATEST_FORBIDDEN",
    "E_EB_TOPIC_PARTITIONS_MISMATCH",
    "EventBus",
    "PublishOutcome",
    "PublishRecord",
    "StartPosition",
    "check_start_position",
    "iter_records",
    "open_bus",
    "partition_for_key",
]
