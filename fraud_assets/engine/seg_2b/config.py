"""Governed config of segment 2B (spec/engine/2B.md, "Config files").

One strict model per `config/engine/2B/<name>.yaml`; `Config2B` holds them under the
file names. Unknown keys and wrong types fail in the runner's loader (code
`2B-S0-001`, the runner's convention for every segment); S0 re-validates the loaded
set and reports the spec's own codes: a missing file `2B-S0-003 POLICY_SET_INCOMPLETE`,
a value outside its law `2B-S0-004 POLICY_SCHEMA_INVALID` (`validate_values`).

No model has a date field (the day grid is the world horizon) and none has a qbits
or grid-bits field (quantisation lives only in the alias blob header): a test
greps the schemas for both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from fraud_assets.core.config import StrictModel, load_folder

CODE_CONFIG_INVALID = "2B-S0-001"  # the runner's loader code (EngineRunner.segment_config)

POLICY_FILES = ("day_effects", "routing", "site_weights", "validation")


class Density(StrictModel):
    floor_persons_per_cell: float = Field(gt=0.0)
    exponent: float = Field(gt=0.0, le=2.0)


class Flagship(StrictModel):
    boost: float = Field(ge=1.0)
    scope: Literal["home_country"] = "home_country"


class CapRow(StrictModel):
    max_sites: int | None = Field(default=None, ge=1)
    cap: float = Field(ge=0.5, le=1.0)


class SiteWeights(StrictModel):
    version: Literal["v1"]
    weight_profile: Literal["density_v1"]
    density: Density
    flagship: Flagship
    uniform_mix: float = Field(ge=0.0, lt=1.0)
    top1_cap: list[CapRow]
    normalisation_tolerance: float = Field(gt=0.0, le=1e-6)

    def cap_for(self, n: int) -> float:
        for row in self.top1_cap:
            if row.max_sites is None or n <= row.max_sites:
                return row.cap
        return self.top1_cap[-1].cap


class SizeBuckets(StrictModel):
    small_max_sites: int = Field(ge=1)
    mid_max_sites: int = Field(ge=1)


class SigmaBase(StrictModel):
    small: float = Field(gt=0.0)
    mid: float = Field(gt=0.0)
    large: float = Field(gt=0.0)


class DayEffects(StrictModel):
    version: Literal["v1"]
    size_buckets: SizeBuckets
    sigma_base: SigmaBase
    sigma_merchant_log_sd: float = Field(ge=0.0)
    sigma_bounds: tuple[float, float]
    group_share_sensitivity: float = Field(ge=0.0)
    ar1_phi: float = Field(ge=0.0, le=0.95)
    gamma_clip: tuple[float, float]


class Audit(StrictModel):
    max_rows: int = Field(ge=1)
    max_k: int = Field(ge=2)
    max_k_edge: int = Field(ge=2)
    reference_subsample: int = Field(ge=1)
    reference_max_rows: int = Field(ge=1)


class Routing(StrictModel):
    version: Literal["v1"]
    alias_codec: str
    audit: Audit


class Frequency(StrictModel):
    chi2_z_max: float = Field(gt=0.0)
    edge_z_max: float = Field(gt=0.0)
    min_expected: float = Field(gt=0.0)


Bound = tuple[float | None, float | None]


class Validation(StrictModel):
    version: Literal["v1"]
    enforce_presets: list[str] = []
    min_audit_days: int = Field(ge=1)
    gates: dict[str, Bound]
    frequency: Frequency
    seed_cv_max: float = Field(gt=0.0)


class Config2B(StrictModel):
    day_effects: DayEffects
    routing: Routing
    site_weights: SiteWeights
    validation: Validation


def validate_values(cfg: Config2B) -> list[str]:
    """Laws the field types cannot express (`2B-S0-004 POLICY_SCHEMA_INVALID`)."""
    problems: list[str] = []
    sw = cfg.site_weights
    if not sw.top1_cap:
        problems.append("site_weights.top1_cap is empty")
    else:
        bounds = [r.max_sites for r in sw.top1_cap]
        if bounds[-1] is not None:
            problems.append("site_weights.top1_cap must end with an open row (max_sites: null)")
        finite = [b for b in bounds[:-1]]
        if any(b is None for b in finite) or finite != sorted(finite) or len(set(finite)) != len(finite):
            problems.append(f"site_weights.top1_cap max_sites must increase strictly: {bounds}")
    de = cfg.day_effects
    lo, hi = de.sigma_bounds
    if not 0.0 < lo <= hi:
        problems.append(f"day_effects.sigma_bounds {list(de.sigma_bounds)} must satisfy 0 < lo <= hi")
    glo, ghi = de.gamma_clip
    if not 0.0 < glo < 1.0 < ghi:
        problems.append(f"day_effects.gamma_clip {list(de.gamma_clip)} must satisfy 0 < lo < 1 < hi")
    if de.size_buckets.small_max_sites > de.size_buckets.mid_max_sites:
        problems.append("day_effects.size_buckets: small_max_sites > mid_max_sites")
    for name, (a, b) in cfg.validation.gates.items():
        if a is not None and b is not None and a > b:
            problems.append(f"validation.gates.{name}: min {a} > max {b}")
    return problems


def load_config(folder: Path) -> Config2B:
    """Load `config/engine/2B/*.yaml`; invalid → `EngineFailure(2B-S0-001)`."""
    return load_folder(folder, Config2B, code=CODE_CONFIG_INVALID)
