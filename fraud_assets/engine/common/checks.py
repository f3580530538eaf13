"""Check evidence shared by every segment: one outcome shape, JSON-able first keys, RNG tallies."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
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


def rng_accounting(trace: pl.DataFrame, replay: Mapping[str, Sequence[RngTally] | None],
                   declared: Mapping[str, Sequence[str]],
                   implied: Mapping[str, Mapping[str, int]]) -> tuple[list[dict], dict[str, dict[str, int]]]:
    """The RNG accounting law: (problems, trace by "state/family").

    Every trace row must belong to a declared (state, family); each declared family's
    trace must equal what re-running the state drew (`replay[state]`, None = not replayed)
    and the totals its datasets imply (`implied[family]`, e.g. {"draws": rows}).
    """
    rows: dict[tuple[str, str], dict[str, int]] = {}
    problems: list[dict] = []
    for r in trace.iter_rows(named=True):
        key = (r["state"], r["family"])
        if key in rows:
            problems.append({"duplicate_trace_row": list(key)})
        rows[key] = {"keys": int(r["keys"]), "draws": int(r["draws"]), "blocks": int(r["blocks"])}
    declared_pairs = {(s, f) for s, fams in declared.items() for f in fams}
    for key in sorted(set(rows) - declared_pairs):
        problems.append({"undeclared_family": list(key), "trace": rows[key]})
    zero = {"keys": 0, "draws": 0, "blocks": 0}
    for state, fams in declared.items():
        tallies = replay.get(state)
        rep = {t.family: {"keys": t.keys, "draws": t.draws, "blocks": t.blocks} for t in (tallies or [])}
        for fam in fams:
            tr = rows.get((state, fam), zero)
            if tallies is not None and rep.get(fam, zero) != tr:
                problems.append({"state": state, "family": fam, "trace": tr, "replay": rep.get(fam, zero)})
            off = {k: [tr[k], v] for k, v in implied.get(fam, {}).items() if tr[k] != v}
            if off:
                problems.append({"state": state, "family": fam, "trace_vs_implied": off})
    return problems, {f"{s}/{f}": v for (s, f), v in sorted(rows.items())}


def _comparable(frame: pl.DataFrame) -> pl.DataFrame:
    """List columns joined to strings, so frames with lists can be joined and compared."""
    return frame.with_columns([pl.col(c).list.join("\x1f") for c, t in frame.schema.items()
                               if isinstance(t, pl.List)])


def compare_frames(written: pl.DataFrame, replay: pl.DataFrame, keys: Sequence[str]) -> dict:
    """Cell-for-cell equality of a written frame and its replay, on `keys`.

    Evidence: counts of keys only on one side, differing rows and cells per column, first keys.
    """
    keys = list(keys)
    if dict(written.schema) != dict(replay.schema):
        return {"equal": False, "schema_written": {c: str(t) for c, t in written.schema.items()},
                "schema_replay": {c: str(t) for c, t in replay.schema.items()}}
    w, r = _comparable(written), _comparable(replay)
    missing = r.select(keys).join(w.select(keys), on=keys, how="anti", nulls_equal=True)
    extra = w.select(keys).join(r.select(keys), on=keys, how="anti", nulls_equal=True)
    j = w.join(r, on=keys, how="inner", suffix="__replay", nulls_equal=True)
    diff_cols: dict[str, int] = {}
    mask = pl.lit(False)
    for c in w.columns:
        if c in keys:
            continue
        neq = ~pl.col(c).eq_missing(pl.col(c + "__replay"))
        n = j.filter(neq).height
        if n:
            diff_cols[c] = n
            mask = mask | neq
    diff = j.filter(mask).select(keys).sort(keys)
    first = (key_list(extra.sort(keys), keys)[:FIRST_KEYS] + key_list(missing.sort(keys), keys)[:FIRST_KEYS]
             + key_list(diff, keys)[:FIRST_KEYS])
    return {"equal": not (missing.height or extra.height or diff.height), "rows_written": written.height,
            "rows_replay": replay.height, "keys_only_written": extra.height, "keys_only_replay": missing.height,
            "rows_differing": diff.height, "columns_differing": diff_cols, "first_keys": first[:FIRST_KEYS]}
