"""Small 2B-only helpers: the day grid, JSON inputs, blob bytes, evidence documents.

* `day_grid(preset)` — `D`: the `horizon_days` UTC dates from `date(horizon_start_utc)`
  (spec "Conventions"); the only source of dates in 2B.
* `json_input` — a JSON dataset as the runner hands it over (one-row frame) back to a dict.
* `blob_bytes` — the bytes of a blob dataset however it arrives: raw bytes, `{name: bytes}`,
  or a frame with one Binary cell (2B's own `s2_alias_blob`; 3B's `edge_alias_blob_3B`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import date, timedelta, timezone
from typing import Any

import polars as pl

from fraud_assets.core.errors import EngineFailure
from fraud_assets.engine.common.checks import (  # noqa: F401 - re-exported
    FIRST_KEYS, jsonable, key_list, missing_output, outcome, tally)
from fraud_assets.engine.state import CheckOutcome

Q31 = 1 << 31
CODE_SEALED_INPUT_MISSING = "2B-S0-005"


# ---- the day grid ---------------------------------------------------------------------------------


def day_grid(preset) -> list[date]:  # noqa: ANN001 - WorldPreset
    """`D` = [date(start), date(start) + days) in UTC, ascending."""
    start = preset.horizon_start_utc.astimezone(timezone.utc).date()
    return [start + timedelta(days=i) for i in range(int(preset.horizon_days))]


def day_grid_doc(days: list[date]) -> dict:
    return {"first": days[0].isoformat() if days else None, "last": days[-1].isoformat() if days else None,
            "n_days": len(days)}


def day_series(days: list[date]) -> pl.Series:
    return pl.Series("utc_day", days, dtype=pl.Date)


# ---- inputs ---------------------------------------------------------------------------------------


def json_input(value: Any) -> dict:
    """A JSON dataset as the runner hands it over (a one-row frame) back to a dict."""
    if isinstance(value, dict):
        return value
    if isinstance(value, pl.DataFrame):
        return value.to_dicts()[0] if value.height else {}
    return {}


def blob_bytes(value: Any, dataset_id: str = "blob") -> bytes:
    """The bytes of a blob input: bytes, {file: bytes} (one file), or a frame with one Binary cell."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, Mapping):
        files = [v for v in value.values() if isinstance(v, (bytes, bytearray, memoryview))]
        if len(files) == 1:
            return bytes(files[0])
    if isinstance(value, pl.DataFrame):
        binary = [c for c, t in value.schema.items() if t == pl.Binary]
        if len(binary) == 1 and value.height == 1:
            cell = value.get_column(binary[0])[0]
            if cell is not None:
                return bytes(cell)
    raise EngineFailure(CODE_SEALED_INPUT_MISSING, f"{dataset_id}: cannot read the blob bytes from the input",
                        dataset=dataset_id, kind=type(value).__name__)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---- evidence documents ---------------------------------------------------------------------------


def doc(check_id: str, code: str, status: str, *, metric: Any = None, threshold: Any = None,
        first_keys: list | None = None, **evidence: Any) -> dict:
    """One S7 / bundle evidence document: status PASS | WARN | FAIL | SKIPPED."""
    return jsonable({"id": check_id, "code": code, "status": status, "passed": status != "FAIL",
                     "metric": metric, "threshold": threshold, "first_keys": (first_keys or [])[:FIRST_KEYS],
                     **evidence})


def guard(check_id: str, code: str, fn: Callable[[], dict]) -> dict:
    """Run one audit; an audit that raises is a FAIL with its reason, never a crash or a silent pass."""
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001
        if isinstance(exc, EngineFailure):
            return doc(check_id, code, "FAIL", error=f"{exc.code}: {exc.message}"[:500], raised=exc.code)
        return doc(check_id, code, "FAIL", error=f"{type(exc).__name__}: {exc}"[:500])


# A JSON dataset reaches its reader as a one-row polars frame (the runner's reader), which needs one
# type per field: a report's check documents are therefore packed into uniform records whose variable
# parts are canonical-JSON strings, and unpacked by their readers.
PACKED_FIELDS = ("id", "code", "name", "status", "passed")


def pack_doc(document: dict) -> dict:
    rest = {k: v for k, v in document.items() if k not in PACKED_FIELDS + ("metric", "threshold", "first_keys")}
    return {"id": str(document.get("id")), "code": str(document.get("code")), "name": str(document.get("name") or ""),
            "status": str(document.get("status")), "passed": bool(document.get("passed", True)),
            "metric": _json(document.get("metric")), "threshold": _json(document.get("threshold")),
            "first_keys": [_json(k) for k in (document.get("first_keys") or [])], "details": _json(rest)}


def unpack_doc(record: dict) -> dict:
    if "details" not in record:
        return dict(record)
    out = {k: record.get(k) for k in PACKED_FIELDS}
    out.update(metric=json.loads(record["metric"]), threshold=json.loads(record["threshold"]),
               first_keys=[json.loads(k) for k in (record.get("first_keys") or [])])
    out.update(json.loads(record["details"]))
    return out


def _json(value: Any) -> str:
    return json.dumps(jsonable(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def from_doc(document: dict | None, code: str, severity: str = "ERROR") -> CheckOutcome:
    """A CheckOutcome over an evidence document (missing → failed)."""
    if document is None:
        return CheckOutcome(False, {"code": code, "error": "evidence document missing"}, severity)
    ev = {k: v for k, v in document.items() if k != "passed"}
    ev["code"] = code
    return CheckOutcome(document.get("status") != "FAIL", jsonable(ev), severity)


def status_of(passed: bool) -> str:
    return "PASS" if passed else "FAIL"
