"""Check evidence shared by every segment: one outcome shape, JSON-able first keys, RNG tallies."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import numpy as np
import polars as pl

from fraud_assets.engine.state import CheckOutcome, RngTally

FIRST_KEYS = 10


def tally(family: str, keys: int, draws: int, blocks: int) -> RngTally:
    return RngTally(family=family, keys=int(keys), draws=int(draws), blocks=int(blocks))


def jsonable(value: Any) -> Any:
    """Evidence values as plain JSON: numpy scalars/arrays, tuples, dates; NaN becomes None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def outcome(code: str, bad_keys: Sequence[Any], total: int, *, severity: str = "ERROR",
            **evidence: Any) -> CheckOutcome:
    """Passed iff no offending keys; evidence carries the code, counts and the first keys."""
    bad = list(bad_keys)
    doc = {"code": code, "checked": int(total), "failed": len(bad), "first_keys": jsonable(bad[:FIRST_KEYS])}
    doc.update(jsonable(evidence))
    return CheckOutcome(passed=not bad, evidence=doc, severity=severity)


def key_list(frame: pl.DataFrame, cols: Sequence[str]) -> list[Any]:
    """Rows of `cols` as scalars (one column) or lists, for `first_keys` evidence."""
    if frame.height == 0:
        return []
    if len(cols) == 1:
        return frame.get_column(cols[0]).to_list()
    return [list(r) for r in frame.select(cols).iter_rows()]


def missing_output(code: str, dataset_id: str) -> CheckOutcome:
    return CheckOutcome(False, {"code": code, "error": f"output {dataset_id} missing"})
