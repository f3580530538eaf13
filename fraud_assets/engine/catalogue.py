"""The state catalogue (ARCHITECTURE §8): every segment's states and datasets, in DAG order.

Each segment package declares `DATASETS`, `STATES` and `CONFIG_MODEL` in its own
`catalogue.py`; this module stitches them into the engine-wide order
1A → 1B → 2A → {3A, 3B} → 2B → 5A → 5B → 6A → 6B and builds the dataset dictionary.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache

from fraud_assets.core.dictionary import DatasetDictionary, DatasetSpec
from fraud_assets.engine.state import StateSpec

SEGMENT_ORDER = ("1A", "1B", "2A", "3A", "3B", "2B", "5A", "5B", "6A", "6B")
LAYER = {"1A": 1, "1B": 1, "2A": 1, "3A": 1, "3B": 1, "2B": 1, "5A": 2, "5B": 2, "6A": 3, "6B": 3}


@dataclass(frozen=True)
class SegmentDef:
    segment: str
    layer: int
    states: tuple[StateSpec, ...]
    datasets: tuple[DatasetSpec, ...]
    config_model: type

    @property
    def group(self) -> str:
        return f"engine_{self.segment}"

    @property
    def validation_state(self) -> StateSpec:
        return next(s for s in self.states if s.validation)


def _load(segment: str) -> SegmentDef | None:
    try:
        module = importlib.import_module(f"fraud_assets.engine.seg_{segment.lower()}.catalogue")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.endswith(f"seg_{segment.lower()}.catalogue") or exc.name == f"fraud_assets.engine.seg_{segment.lower()}":
            return None  # segment not built yet
        raise
    return SegmentDef(segment, LAYER[segment], tuple(module.STATES), tuple(module.DATASETS), module.CONFIG_MODEL)


@cache
def segments() -> tuple[SegmentDef, ...]:
    """Every implemented segment, in catalogue order."""
    return tuple(s for s in (_load(seg) for seg in SEGMENT_ORDER) if s is not None)


def segment(code: str) -> SegmentDef:
    for seg in segments():
        if seg.segment == code:
            return seg
    raise KeyError(f"segment {code!r} is not implemented (implemented: {[s.segment for s in segments()]})")


def segments_through(code: str | None) -> tuple[SegmentDef, ...]:
    """The implemented segments up to and including `code` in catalogue order (all if None)."""
    if code is None:
        return segments()
    if code not in SEGMENT_ORDER:
        raise KeyError(f"unknown segment {code!r}; the order is {' → '.join(SEGMENT_ORDER)}")
    allowed = SEGMENT_ORDER[: SEGMENT_ORDER.index(code) + 1]
    chosen = tuple(s for s in segments() if s.segment in allowed)
    if code not in {s.segment for s in chosen}:
        raise KeyError(f"segment {code!r} is not implemented yet")
    return chosen


@cache
def dictionary() -> DatasetDictionary:
    return DatasetDictionary(d for seg in segments() for d in seg.datasets)


def owner(dataset_id: str) -> str:
    return dictionary()[dataset_id].segment


def all_states() -> tuple[StateSpec, ...]:
    return tuple(s for seg in segments() for s in seg.states)


def writer_of(dataset_id: str) -> StateSpec:
    for state in all_states():
        if dataset_id in state.writes:
            return state
    raise KeyError(f"no state writes {dataset_id!r}")
