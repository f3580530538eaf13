"""Canonical JSON and sha256 helpers (ARCHITECTURE §3).

Canonical JSON is UTF-8, keys sorted, no insignificant whitespace, floats in
shortest round-trip repr and no NaN/Infinity. Every hash the project takes over
structured data goes through `canonical_json`, so two producers can never
disagree about the bytes of the same value.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

_CHUNK = 1 << 20


def _reject_non_finite(value: Any, where: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"canonical JSON refuses non-finite float at {where}: {value!r}")


def _normalise(value: Any, where: str = "$") -> Any:
    """Turn tuples into lists and check every float is finite, keys are strings."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"canonical JSON needs string keys, got {key!r} at {where}")
            out[key] = _normalise(item, f"{where}.{key}")
        return out
    if isinstance(value, (list, tuple)):
        return [_normalise(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        _reject_non_finite(value, where)
        return value
    # numpy scalars and the like: go through their Python equivalent.
    item = getattr(value, "item", None)
    if callable(item):
        return _normalise(item(), where)
    raise TypeError(f"canonical JSON cannot encode {type(value).__name__} at {where}")


def canonical_json(value: Any) -> bytes:
    """The canonical UTF-8 bytes of a JSON-able value."""
    return json.dumps(
        _normalise(value),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    ).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_sha256(value: Any) -> str:
    """sha256 (hex) of the canonical JSON of `value`."""
    return sha256_hex(canonical_json(value))


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
