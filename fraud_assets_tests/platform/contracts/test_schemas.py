"""Committed JSON Schemas equal the ones generated from the models (control_ingress §2.2)."""

from __future__ import annotations

import json

from fraud_assets.platform.contracts.schemas import SCHEMA_DIR, generate_schemas, write_schemas

REGEN = 'python -c "from fraud_assets.platform.contracts.schemas import write_schemas; write_schemas()"'


def test_committed_schemas_equal_generated():
    generated = generate_schemas()
    committed = {p.name: p.read_text(encoding="utf-8") for p in SCHEMA_DIR.glob("*.schema.json")}
    assert set(committed) == set(generated), f"schema files differ; regenerate with {REGEN}"
    for name, text in generated.items():
        assert committed[name] == text, f"{name} is stale; regenerate with {REGEN}"


def test_write_schemas_round_trip(tmp_path):
    written = write_schemas(tmp_path)
    assert {p.name for p in written} == set(generate_schemas())


def test_contracts_are_closed_and_never_name_offset():
    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                assert node.get("additionalProperties") is False, node.get("title")
                assert "offset" not in node["properties"]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for text in generate_schemas().values():
        walk(json.loads(text))
