"""`payload_hash` (control_ingress §2.1; rtdl §2.2)."""

from __future__ import annotations

import hashlib
import json

from hypothesis import given
from hypothesis import strategies as st

from fraud_assets.platform.contracts.hashing import envelope_payload_hash, payload_hash

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
payloads = st.dictionaries(st.text(max_size=10), json_values, max_size=6)


def test_recipe_literal():
    payload = {"flow_id": 7, "amount": 1.5, "note": "é"}
    expected = hashlib.sha256(
        json.dumps(
            {"event_type": "x.v1", "schema_version": "v1", "payload": payload},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()
    ).hexdigest()
    assert payload_hash("x.v1", "v1", payload) == expected
    assert payload_hash("x.v1", "v1", payload) == "c400fe78019380744b85337e9e5d4623d25f59c174c9bf028b56a2bea19fdb9e"  # golden


def test_envelope_forms_agree():
    env = {"event_type": "t", "schema_version": "v2", "payload": {"a": 1}, "event_id": "x", "pins": {}}

    class Obj:
        event_type, schema_version, payload = "t", "v2", {"a": 1}

    assert envelope_payload_hash(env) == envelope_payload_hash(Obj()) == payload_hash("t", "v2", {"a": 1})


@given(payloads)
def test_key_order_does_not_matter(payload):
    reordered = dict(reversed(list(payload.items())))
    assert payload_hash("t", "v1", payload) == payload_hash("t", "v1", reordered)


@given(payloads, st.text(min_size=1, max_size=5))
def test_sensitive_to_type_version_and_payload(payload, extra_key):
    base = payload_hash("t", "v1", payload)
    assert payload_hash("u", "v1", payload) != base
    assert payload_hash("t", "v2", payload) != base
    changed = dict(payload)
    changed["\x00" + extra_key] = 1
    assert payload_hash("t", "v1", changed) != base
