"""Platform contracts: envelope, pins, bus positions, the topic table, id recipes, payload_hash.

Ids live in `fraud_assets.platform.contracts.ids` (import the module: `from ... import ids`).
"""

from fraud_assets.platform.contracts.envelope import (
    BUS_HEADER_NAMES,
    BusRecord,
    CanonicalEnvelope,
    ContextPins,
    EbRef,
    OffsetKind,
    format_ts_utc,
    parse_ts_utc,
    ts_utc_from_us,
    ts_utc_to_us,
)
from fraud_assets.platform.contracts.hashing import envelope_payload_hash, payload_hash
from fraud_assets.platform.contracts.topics import (
    EVENT_CLASS_BY_TYPE,
    TOPIC_PARTITIONS,
    TOPIC_TABLE,
    TopicSpec,
    partition_for_key,
    route,
    topics_for_mode,
)

__all__ = [
    "BUS_HEADER_NAMES",
    "BusRecord",
    "CanonicalEnvelope",
    "ContextPins",
    "EVENT_CLASS_BY_TYPE",
    "EbRef",
    "OffsetKind",
    "TOPIC_PARTITIONS",
    "TOPIC_TABLE",
    "TopicSpec",
    "envelope_payload_hash",
    "format_ts_utc",
    "parse_ts_utc",
    "partition_for_key",
    "payload_hash",
    "route",
    "topics_for_mode",
    "ts_utc_from_us",
    "ts_utc_to_us",
]
