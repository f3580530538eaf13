"""What every engine state is: a pure function from frames to frames (STYLE §4).

A state module exposes `run(inputs, ctx) -> StateResult` and pure check
functions `(result, inputs, ctx) -> CheckOutcome`. It opens no path, reads no
clock and imports no Dagster; the asset factory does the I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from fraud_assets.core.identity import World


@dataclass(frozen=True)
class RngTally:
    """Per-family RNG accounting of one state run (written to the RNG trace)."""

    family: str
    keys: int
    draws: int  # uniforms consumed
    blocks: int  # Philox blocks consumed


@dataclass(frozen=True)
class StateContext:
    world: World
    config: Any  # the segment's validated config model
    exec_settings: Mapping[str, Any] = field(default_factory=dict)  # never changes bytes


# An output is a frame (Parquet dataset), a dict (canonical JSON file) or
# {file name: bytes} (a multi-file dataset such as a validation bundle).
Output = pl.DataFrame | dict | Mapping[str, bytes]


@dataclass
class StateResult:
    outputs: dict[str, Output]
    rng: list[RngTally] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)  # figures shown as asset metadata
    # Validation states only: bundle file name -> JSON document. A document with
    # `"passed": false` withholds the segment's `_passed.flag`.
    bundle: dict[str, dict] | None = None
    # PNG plots (name -> bytes), published under reports/ and shown in the asset's metadata.
    plots: dict[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckOutcome:
    passed: bool
    evidence: dict[str, Any] = field(default_factory=dict)  # counts, first offending keys
    # "ERROR" blocks downstream when failed; "WARN" is reported only (e.g. realism
    # gates on presets where they are not enforced).
    severity: str = "ERROR"


CheckFn = Callable[[StateResult, Mapping[str, pl.DataFrame], StateContext], CheckOutcome]
RunFn = Callable[[Mapping[str, pl.DataFrame], StateContext], StateResult]


@dataclass(frozen=True)
class CheckSpec:
    name: str  # e.g. "hurdle_cardinality"
    code: str  # e.g. "1A-S1-001"
    fn: CheckFn
    description: str = ""


@dataclass(frozen=True)
class StateSpec:
    """One state of one segment, declared once in its segment's catalogue.

    `reads` names datasets: engine dataset ids, or `ref.<id>` for reference data;
    validation states also get `rng_trace_<SEG>` (every state's RNG tallies).
    `upstream` (S0 only) lists the segments whose `_passed.flag` S0 verifies.
    A `validation` state returns `StateResult.bundle`; the runner writes the
    segment bundle (`index.json`, `_passed.flag`) from it.
    """

    segment: str
    state: str  # "S0" .. "S9"
    name: str  # "hurdle"
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    run: RunFn
    checks: tuple[CheckSpec, ...] = ()
    rng_families: tuple[str, ...] = ()
    upstream: tuple[str, ...] = ()
    validation: bool = False
    description: str = ""

    @property
    def asset_name(self) -> str:
        return f"{self.state.lower()}_{self.name}"

    @property
    def asset_key(self) -> tuple[str, str, str]:
        return ("engine", self.segment, self.asset_name)
