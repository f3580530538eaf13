"""Governed config of segment 3A (spec/engine/3A.md, "Config files").

One strict model per `config/engine/3A/<name>.yaml`; `Config3A` holds the four
policies under their file names. Failures carry the spec's S0 codes even though
the runner's loader is generic: a missing policy file is `3A-S0-003
POLICY_SET_INCOMPLETE`, an unknown key, a wrong type, an out-of-range value or a
placeholder `version` (`test`, `tbd`, `example`) is `3A-S0-004
POLICY_SCHEMA_INVALID` (a wrap validator turns pydantic's error into the coded
`EngineFailure`, which the loader lets through unchanged).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from fraud_assets.core.canonical import canonical_sha256
from fraud_assets.core.config import StrictModel, load_folder
from fraud_assets.core.errors import EngineFailure

CODE_POLICY_SET_INCOMPLETE = "3A-S0-003"
CODE_POLICY_SCHEMA_INVALID = "3A-S0-004"

PLACEHOLDER_VERSIONS = frozenset({"test", "tbd", "example", ""})
POLICY_FILES = ("zone_mixture_policy", "zone_prior_policy", "zone_floor_policy", "validation_policy")

GATE_IDS = (
    "V01_median_top1_prior", "V02_dominant_country_share", "V03_multi_zone_pair_share",
    "V04_two_zones_above_5pct_share", "V05_median_group_share_std", "V06_median_top1_count_share",
    "V07_p75_top1_count_share", "V08_zone_alloc_median_top1_share", "V09_max_escalation_rate_decrease",
    "V10_variance_retention", "V11_median_l1_to_sites", "V12_median_count_entropy", "V13_site_tz_foreign_rate",
    "X02_escalation_rate",
)

Bound = tuple[float | None, float | None]


def _version(value: str) -> str:
    if value.strip().lower() in PLACEHOLDER_VERSIONS:
        raise ValueError(f"version {value!r} is a placeholder")
    return value


class Versioned(StrictModel):
    version: str

    @field_validator("version")
    @classmethod
    def _not_placeholder(cls, value: str) -> str:
        return _version(value)


# ---- zone_mixture_policy.yaml (S1 + S3) ---------------------------------------------------------


class Logistic(StrictModel):
    beta0: float
    beta_log_sites: float = Field(ge=0.0)  # ≥ 0 keeps p monotone in n
    beta_log_effective_zones: float = Field(ge=0.0)  # ≥ 0 keeps p monotone in K_eff


class Escalation(StrictModel):
    min_sites: int = Field(ge=1)
    force_escalation_sites: int = Field(ge=2)
    min_expected_secondary_sites: float = Field(ge=0.0)
    logistic: Logistic
    prob_bounds: tuple[float, float]

    @field_validator("prob_bounds")
    @classmethod
    def _bounds(cls, value: tuple[float, float]) -> tuple[float, float]:
        lo, hi = value
        if not 0.0 <= lo <= hi <= 1.0:
            raise ValueError(f"prob_bounds {value} must satisfy 0 ≤ lo ≤ hi ≤ 1")
        return value


class Dispersion(StrictModel):
    concentration_scale: float = Field(gt=0.25, le=2.0)
    kappa_log_sigma: float = Field(ge=0.0, le=1.0)
    kappa_clip_sd: float = Field(gt=0.0, le=5.0)
    alpha_floor: float = Field(gt=0.0, le=0.01)
    site_anchor_weight: float = Field(ge=0.0, le=1.0)


class ZoneMixturePolicy(Versioned):
    policy_id: Literal["zone_mixture_policy_3A"]
    escalation: Escalation
    dispersion: Dispersion


# ---- zone_prior_policy.yaml (S2) ------------------------------------------------------------------


class ZonePriorPolicy(Versioned):
    min_zone_mass_share: float = Field(gt=0.0, lt=0.5)
    temperature: float = Field(gt=0.0, le=1.0)
    prior_concentration: float = Field(gt=0.0)
    alpha_sum_bounds: tuple[float, float]
    area_fallback: bool = True

    @field_validator("alpha_sum_bounds")
    @classmethod
    def _bounds(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0.0 < value[0] <= value[1]:
            raise ValueError(f"alpha_sum_bounds {value} must satisfy 0 < lo ≤ hi")
        return value


# ---- zone_floor_policy.yaml (S2 step 5) -----------------------------------------------------------


class FloorOverride(StrictModel):
    tzid: str
    floor_alpha: float = Field(gt=0.0)

    @field_validator("tzid")
    @classmethod
    def _loads(cls, value: str) -> str:
        from fraud_assets.engine.seg_3a.common import tzid_loads

        if not tzid_loads(value):
            raise ValueError(f"tzid {value!r} does not load in zoneinfo (tzdata wheel)")
        return value


class ZoneFloorPolicy(Versioned):
    default_floor_alpha: float = Field(gt=0.0)
    overrides: list[FloorOverride] = []

    @field_validator("overrides")
    @classmethod
    def _unique(cls, value: list[FloorOverride]) -> list[FloorOverride]:
        seen = [o.tzid for o in value]
        dup = sorted({t for t in seen if seen.count(t) > 1})
        if dup:
            raise ValueError(f"duplicate floor overrides for {dup}")
        return value

    def floor_of(self, tzid: str) -> float:
        for o in self.overrides:
            if o.tzid == tzid:
                return o.floor_alpha
        return self.default_floor_alpha


# ---- validation_policy.yaml (S6) ------------------------------------------------------------------


class ValidationPolicy(Versioned):
    enforcement: Literal["enforce", "observe"] = "enforce"
    min_escalated_pairs: int = Field(ge=1)
    min_group_merchants: int = Field(ge=2)
    share_sum_tol: float = Field(gt=0.0, le=1e-6)
    gates: dict[str, Bound]

    @field_validator("gates")
    @classmethod
    def _known(cls, value: dict[str, Bound]) -> dict[str, Bound]:
        unknown = sorted(set(value) - set(GATE_IDS))
        if unknown:
            raise ValueError(f"unknown realism gates {unknown}; known: {list(GATE_IDS)}")
        return value


# ---- the segment config ---------------------------------------------------------------------------


class Config3A(StrictModel):
    zone_mixture_policy: ZoneMixturePolicy
    zone_prior_policy: ZonePriorPolicy
    zone_floor_policy: ZoneFloorPolicy
    validation_policy: ValidationPolicy

    @model_validator(mode="wrap")
    @classmethod
    def _coded(cls, data, handler):
        if isinstance(data, dict):
            missing = [name for name in POLICY_FILES if data.get(name) is None]
            if missing:
                raise EngineFailure(CODE_POLICY_SET_INCOMPLETE, f"3A policy files missing: {missing}",
                                    dataset="config/engine/3A", keys=missing)
        try:
            return handler(data)
        except ValidationError as exc:
            problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
            raise EngineFailure(CODE_POLICY_SCHEMA_INVALID, "3A policy invalid: " + "; ".join(problems[:5]),
                                dataset="config/engine/3A",
                                keys=[".".join(str(p) for p in e["loc"]) for e in exc.errors()]) from None

    def versions(self) -> dict[str, str]:
        """`{policy file: version}` (receipt `config_versions`)."""
        return {name: getattr(self, name).version for name in POLICY_FILES}

    def policy_digest(self, name: str) -> str:
        """sha256 of the canonical JSON of the validated policy `name` (see `common.policy_digests`)."""
        return canonical_sha256(getattr(self, name).model_dump(mode="json"))


def load_config(folder: Path) -> Config3A:
    """Load `config/engine/3A/*.yaml`; missing → `3A-S0-003`, invalid → `3A-S0-004`."""
    return load_folder(folder, Config3A, code=CODE_POLICY_SCHEMA_INVALID)
