"""JSON Schemas generated from the contract models and committed under `schemas/` (control_ingress §2.2).

Regenerate after changing a model::

    python -c "from fraud_assets.platform.contracts.schemas import write_schemas; write_schemas()"

A test asserts the committed files equal `generate_schemas()`, so a model change without its schema
diff fails CI. Add new contract models to `SCHEMA_MODELS`.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from fraud_assets.platform.contracts.envelope import BusRecord, CanonicalEnvelope, ContextPins, EbRef

SCHEMA_DIR = Path(__file__).with_name("schemas")

SCHEMA_MODELS: dict[str, type[BaseModel]] = {
    "bus_record": BusRecord,
    "canonical_envelope": CanonicalEnvelope,
    "context_pins": ContextPins,
    "eb_ref": EbRef,
}


def _render(model: type[BaseModel]) -> str:
    schema = model.model_json_schema(mode="validation")
    schema["$id"] = f"fraud_assets.platform.contracts/{model.__name__}"
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def generate_schemas() -> dict[str, str]:
    """File name → schema text for every contract model."""
    return {f"{name}.schema.json": _render(model) for name, model in sorted(SCHEMA_MODELS.items())}


def write_schemas(directory: Path | None = None) -> list[Path]:
    target = directory or SCHEMA_DIR
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in generate_schemas().items():
        path = target / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
