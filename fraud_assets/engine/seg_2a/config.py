"""Governed config of segment 2A (spec/engine/2A.md, "Config files").

One strict model per `config/engine/2A/<name>.yaml`; `Config2A` holds them under
the file names. Unknown keys and wrong types are `2A-S0-001` (the runner's
loader); the *values* the spec gives their own codes — ε range (`2A-S0-021`), the
override table (`2A-S0-022`), the horizon (`2A-S0-024`) — are validated by S0
(`s0_gate.validate_*`) so each failure carries its spec code.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

from pydantic import Field

from fraud_assets.core.config import StrictModel, load_folder

CODE_CONFIG_INVALID = "2A-S0-001"

Bound = tuple[float | None, float | None]


class TzNudge(StrictModel):
    version: Literal["v1"]
    epsilon_degrees: float


class OverrideRow(StrictModel):
    scope: str
    target: str
    tzid: str
    applies_to: str
    expiry: dt.date | None = None
    evidence: str | None = None
    notes: str | None = None


class TzOverrides(StrictModel):
    version: Literal["v1"]
    overrides: list[OverrideRow] = []


class TzLookup(StrictModel):
    version: Literal["v1"]
    non_civil_prefixes: list[str] = ["Etc/"]
    foreign_snap_max_km: float = Field(ge=0.0)
    extra_country_zones: dict[str, list[str]] = {}
    tie_break: Literal["zone_tab_order"] = "zone_tab_order"


class Timetable(StrictModel):
    version: Literal["v1"]
    pre_pad_days: int = Field(ge=0, le=366)
    post_pad_days: int = Field(ge=0, le=366)
    coarse_step_hours: int = Field(ge=1, le=24)
    fine_step_hours: int = Field(ge=1, le=24)
    offset_bounds_minutes: tuple[int, int]
    crosscheck_step_hours: int = Field(ge=1, le=24)


class Cohort(StrictModel):
    min_sites: int = Field(ge=1)
    large_min_sites: int = Field(ge=1)
    material_share: float = Field(gt=0.0, lt=1.0)


class Validation(StrictModel):
    version: Literal["v1"]
    enforce_presets: list[str] = []
    cohort: Cohort
    max_listed_exceptions: int = Field(ge=0)
    gates: dict[str, Bound]
    seed_cv_max: float = Field(gt=0.0)


class Config2A(StrictModel):
    tz_nudge: TzNudge
    tz_overrides: TzOverrides
    tz_lookup: TzLookup
    timetable: Timetable
    validation: Validation


def load_config(folder: Path) -> Config2A:
    """Load `config/engine/2A/*.yaml`; invalid → `EngineFailure(2A-S0-001)`."""
    return load_folder(folder, Config2A, code=CODE_CONFIG_INVALID)
