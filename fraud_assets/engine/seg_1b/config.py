"""Config of segment 1B (spec/engine/1B.md, section "Config files").

One strict model per `config/engine/1B/<name>.yaml`; `Config1B` holds them under the
file names (`load_folder` fills field `<name>` from `<name>.yaml`). Unknown keys are
errors (`1B-S0-001 CONFIG_INVALID`). Whether the preset's `tiles_per_degree` divides
the raster's cells per degree is S0's check (`1B-S0-002 GRID_INCOMPATIBLE`), not a
validation error, so the failure carries its own code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from fraud_assets.core.config import StrictModel, load_folder

CODE_CONFIG_INVALID = "1B-S0-001"


class TileGrid(StrictModel):
    tiles_per_degree: dict[str, int]
    raster_cells_per_degree: int = Field(gt=0)
    inclusion_rule: Literal["any_overlap"]
    min_land_fraction: float = Field(ge=0.0, lt=1.0)
    exclude_iso: list[str] = []
    authalic_radius_m: float = Field(gt=0.0)

    @field_validator("tiles_per_degree")
    @classmethod
    def _positive(cls, v: dict[str, int]) -> dict[str, int]:
        if not v or any(t < 1 for t in v.values()):
            raise ValueError("tiles_per_degree needs at least one preset and values >= 1")
        return v


class TileWeights(StrictModel):
    rural_mix: float = Field(ge=0.0, le=1.0)
    dp: int = Field(ge=1, le=15)
    zero_population_fallback: Literal["area"]


class Alloc(StrictModel):
    method: Literal["systematic"]


class CitySigma(StrictModel):
    scale: float = Field(gt=0.0)
    pop_ref: float = Field(gt=0.0)
    exponent: float
    min: float = Field(gt=0.0)
    max: float = Field(gt=0.0)

    @model_validator(mode="after")
    def _ordered(self):
        if self.min > self.max:
            raise ValueError("city_sigma_km.min must be <= max")
        return self


class Jitter(StrictModel):
    max_attempts: int = Field(ge=1, le=1024)
    p_city: float = Field(ge=0.0, le=1.0)
    city_sigma_km: CitySigma
    km_per_degree: float = Field(gt=0.0)
    fallback: Literal["point_on_surface"]


class Placement(StrictModel):
    alloc: Alloc
    jitter: Jitter


class RealismGates(StrictModel):
    country_gini_max: float
    top1_max: float
    top5_max: float
    top10_max: float
    coverage_min: float
    southern_share_min: float
    region_floor_ratio_min: float
    nn_tail_ratio_max: float
    clark_evans_range: tuple[float, float]
    coincident_max: float
    fidelity_max_abs: float
    fallback_rate_max: float
    seed_cv_max: float


class Realism(StrictModel):
    enforce_presets: list[str] = []
    nn_min_sites: int = Field(ge=2)
    collapse_min_sites: int = Field(ge=1)
    fidelity_min_sites: int = Field(ge=1)
    gates: RealismGates


class Validation(StrictModel):
    realism: Realism


class Config1B(StrictModel):
    tile_grid: TileGrid
    tile_weights: TileWeights
    placement: Placement
    validation: Validation


def load_config(folder: Path) -> Config1B:
    """Load `config/engine/1B/*.yaml`; invalid -> `EngineFailure(1B-S0-001)`."""
    return load_folder(folder, Config1B, code=CODE_CONFIG_INVALID)
