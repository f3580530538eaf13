"""Governed config of segment 1A (spec/engine/1A.md, section "Config files").

One strict model per `config/engine/1A/<name>.yaml`; `Config1A` holds them under
the file names (`load_folder` fills field `<name>` from `<name>.yaml`). Unknown
keys are errors (`1A-S0-001 CONFIG_INVALID`). The NB mean carries no GDP term and
the hurdle no ln-GDP term by construction of these models (S2.1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from fraud_assets.core.config import StrictModel, load_folder

CODE_CONFIG_INVALID = "1A-S0-001"

Range3 = tuple[int, int, float]  # [start, end, value], inclusive


def _check_ranges(ranges: list[Range3]) -> list[Range3]:
    for start, end, _ in ranges:
        if not 0 <= start <= end <= 9999:
            raise ValueError(f"MCC range [{start}, {end}] outside 0..9999 or reversed")
    return ranges


def parse_mcc_selector(items: list[str]) -> list[tuple[int, int]]:
    """`["4829", "5815-5818"]` -> inclusive ranges."""
    out = []
    for item in items:
        text = str(item).strip()
        if "-" in text:
            lo, hi = (int(x) for x in text.split("-", 1))
        else:
            lo = hi = int(text)
        if not 0 <= lo <= hi <= 9999:
            raise ValueError(f"bad MCC selector {item!r}")
        out.append((lo, hi))
    return out


# ---- merchant_universe.yaml ---------------------------------------------------------------


class Weighting(StrictModel):
    pop_exponent: float
    gdp_pc_exponent: float


class PresetUniverse(StrictModel):
    n_countries: int = Field(gt=0)
    min_per_country: int = Field(ge=1)
    max_country_share: float = Field(gt=0, le=1)
    region_min_countries: int = Field(ge=0)


class MccMix(StrictModel):
    ranges: list[Range3]
    multipliers: dict[int, float] = {}

    _v = field_validator("ranges")(classmethod(lambda cls, v: _check_ranges(v)))

    @field_validator("multipliers")
    @classmethod
    def _positive(cls, v: dict[int, float]) -> dict[int, float]:
        if any(m < 0 for m in v.values()):
            raise ValueError("multipliers must be >= 0")
        return v


class ChannelPolicy(StrictModel):
    default_p_cnp: float = Field(ge=0, le=1)
    ranges: list[Range3]
    codes: dict[int, float] = {}
    cnp_bucket_multiplier: dict[int, float]
    cp_share_bounds: tuple[float, float]

    _v = field_validator("ranges")(classmethod(lambda cls, v: _check_ranges(v)))

    @field_validator("cnp_bucket_multiplier")
    @classmethod
    def _buckets(cls, v: dict[int, float]) -> dict[int, float]:
        if sorted(v) != [1, 2, 3, 4, 5]:
            raise ValueError("cnp_bucket_multiplier needs buckets 1..5")
        return v


class MerchantUniverse(StrictModel):
    universe_salt: str
    weighting: Weighting
    region_floor_share: dict[str, float]
    exclude_home_iso: list[str] = []
    by_preset: dict[str, PresetUniverse]
    mcc_mix: MccMix
    channel: ChannelPolicy

    @field_validator("region_floor_share")
    @classmethod
    def _floors(cls, v: dict[str, float]) -> dict[str, float]:
        if any(not 0 <= f < 1 for f in v.values()):
            raise ValueError("region floors must be in [0, 1)")
        return v


# ---- hurdle.yaml / nb.yaml --------------------------------------------------------------


class ChannelCoef(StrictModel):
    CP: float
    CNP: float


class Hurdle(StrictModel):
    intercept: float
    channel: ChannelCoef
    gdp_bucket: dict[int, float]
    mcc_ranges: list[Range3] = []
    mcc: dict[int, float] = {}

    _v = field_validator("mcc_ranges")(classmethod(lambda cls, v: _check_ranges(v)))

    @field_validator("gdp_bucket")
    @classmethod
    def _buckets(cls, v: dict[int, float]) -> dict[int, float]:
        if sorted(v) != [1, 2, 3, 4, 5]:
            raise ValueError("gdp_bucket needs buckets 1..5")
        return v


class NbMean(StrictModel):
    """No GDP term in the mean (S2.1): the model has no field for one."""

    intercept: float
    channel: ChannelCoef
    mcc_ranges: list[Range3] = []
    mcc: dict[int, float] = {}

    _v = field_validator("mcc_ranges")(classmethod(lambda cls, v: _check_ranges(v)))


class NbDispersion(StrictModel):
    """ln GDP per capita enters only here; the bucket only in the hurdle."""

    intercept: float
    channel: ChannelCoef
    ln_gdp_pc_slope: float
    ln_gdp_pc_center: float
    mcc_ranges: list[Range3] = []
    mcc: dict[int, float] = {}

    _v = field_validator("mcc_ranges")(classmethod(lambda cls, v: _check_ranges(v)))


class Nb(StrictModel):
    mean: NbMean
    dispersion: NbDispersion
    max_attempts: int = Field(ge=1, le=10_000)


# ---- crossborder.yaml -----------------------------------------------------------------


class EligibilityRule(StrictModel):
    id: str
    priority: int
    decision: Literal["allow", "deny"]
    channel: Literal["*"] | list[Literal["CP", "CNP"]]
    iso: Literal["*"] | list[str]
    mcc: Literal["*"] | list[str]

    @field_validator("mcc")
    @classmethod
    def _mcc(cls, v):
        if v != "*":
            parse_mcc_selector(v)
        return v


class Eligibility(StrictModel):
    default_decision: Literal["allow", "deny"]
    rules: list[EligibilityRule] = []

    @model_validator(mode="after")
    def _unique_ids(self):
        ids = [r.id for r in self.rules]
        if len(ids) != len(set(ids)):
            raise ValueError("eligibility rule ids must be unique")
        return self


class Tilt(StrictModel):
    mcc: list[str]
    add: float

    @field_validator("mcc")
    @classmethod
    def _mcc(cls, v):
        parse_mcc_selector(v)
        return v


class Openness(StrictModel):
    bucket_base: dict[int, float]
    channel_delta: ChannelCoef
    tilts: list[Tilt] = []


class Tier(StrictModel):
    name: str
    n_min: int = Field(ge=2)
    cap: int = Field(ge=0)


class Gravity(StrictModel):
    gdp_exponent: float
    distance_scale_km: float = Field(gt=0)
    neighbour_bonus: float
    same_currency_bonus: float
    hub_bonus: float


class Candidates(StrictModel):
    sanctioned_iso: list[str] = []
    tiers: list[Tier]
    gravity: Gravity
    hubs: list[str] = []

    @field_validator("tiers")
    @classmethod
    def _tiers(cls, v: list[Tier]) -> list[Tier]:
        mins = [t.n_min for t in v]
        if not v or mins != sorted(set(mins)) or mins[0] != 2:
            raise ValueError("tiers need strictly increasing n_min starting at 2")
        return v


class Expansion(StrictModel):
    intercept: float
    ln_n: float
    openness: float


class Ztp(StrictModel):
    intercept: float
    ln_n: float
    openness: float
    max_zero_attempts: int = Field(ge=1, le=10_000)
    exhaustion_policy: Literal["downgrade_domestic"]


class Selection(StrictModel):
    currency_blend: float = Field(ge=0, le=1)
    max_candidates_cap: int = Field(ge=0)
    zero_weight_rule: Literal["exclude"]


class Crossborder(StrictModel):
    eligibility: Eligibility
    openness: Openness
    candidates: Candidates
    expansion: Expansion
    ztp: Ztp
    selection: Selection


# ---- currency.yaml / allocation.yaml / validation.yaml ----------------------------------


class Currency(StrictModel):
    dp: int = Field(ge=0, le=12)
    hub_blend: dict[str, float]
    min_share: float = Field(ge=0, lt=1)
    kappa_overrides: dict[str, str] = {}  # home country_iso -> currency
    settlement_hubs: dict[str, float]

    @field_validator("hub_blend")
    @classmethod
    def _default(cls, v: dict[str, float]) -> dict[str, float]:
        if "default" not in v:
            raise ValueError("hub_blend needs a 'default' entry")
        if any(not 0 <= w <= 1 for w in v.values()):
            raise ValueError("hub_blend weights must be in [0, 1]")
        return v

    def blend(self, currency: str) -> float:
        return self.hub_blend.get(currency, self.hub_blend["default"])


class HomeShare(StrictModel):
    n_max: int | None
    mean: float = Field(gt=0, lt=1)
    floor: float = Field(ge=0, lt=1)


class Allocation(StrictModel):
    alpha0: float = Field(gt=0)
    alpha_min: float = Field(gt=0)
    dp_resid: int = Field(ge=0, le=12)
    home_share: list[HomeShare]
    min_count_per_country: Literal[1]

    @field_validator("home_share")
    @classmethod
    def _last_open(cls, v: list[HomeShare]) -> list[HomeShare]:
        if not v or v[-1].n_max is not None:
            raise ValueError("the last home_share tier must have n_max: null")
        return v

    def home_tier(self, n: int) -> HomeShare:
        for tier in self.home_share:
            if tier.n_max is None or n <= tier.n_max:
                return tier
        return self.home_share[-1]


class NbCorridor(StrictModel):
    max_rejection_rate: float
    max_p99_rejections: float
    significance: float  # one-sided binomial test level for the rate bound
    min_merchants_for_p99: int  # p99 is judged only with at least this many multi-site merchants


class ZtpPathology(StrictModel):
    max_exhausted_share: float
    max_high_zero_share: float
    high_zero_draws: int


class Realism(StrictModel):
    enforce_presets: list[str] = []
    seed_cv_max: float
    gates: dict[str, tuple[float | None, float | None]]


class Validation(StrictModel):
    nb_corridor: NbCorridor
    ztp_pathology: ZtpPathology
    realism: Realism


class Config1A(StrictModel):
    merchant_universe: MerchantUniverse
    hurdle: Hurdle
    nb: Nb
    crossborder: Crossborder
    currency: Currency
    allocation: Allocation
    validation: Validation


def load_config(folder: Path) -> Config1A:
    """Load `config/engine/1A/*.yaml`; invalid -> `EngineFailure(1A-S0-001)`."""
    return load_folder(folder, Config1A, code=CODE_CONFIG_INVALID)
