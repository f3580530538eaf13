"""`payload_hash`: the one helper every producer, IG and every consumer uses (control_ingress §2.1).

`payload_hash = sha256_hex(canonical_json({"event_type", "schema_version", "payload"}))`. Transport
metadata (`emitted_at_utc`, `parent_event_id`, `trace_id`, pins, event_id) never enters it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fraud_assets.core.canonical import canonical_json, sha256_hex


def payload_hash(event_type: str, schema_version: str, payload: Mapping[str, Any]) -> str:
    return sha256_hex(
        canonical_json(
            {"event_type": event_type, "schema_version": schema_version, "payload": payload}
        )
    )


def envelope_payload_hash(envelope: Any) -> str:
    """`payload_hash` of an envelope given as a model (attributes) or a decoded mapping."""
    if isinstance(envelope, Mapping):
        return payload_hash(envelope["event_type"], envelope["schema_version"], envelope["payload"])
    return payload_hash(envelope.event_type, envelope.schema_version, envelope.payload)
