"""Governed config of segment 3B (spec/engine/3B.md, "Config files").

One strict model per `config/engine/3B/<name>.yaml`; `Config3B` holds them under the
file names. Types and unknown keys are the runner's loader (`3B-S0-001`: the runner
raises `<SEG>-S0-001` for any config that does not parse). The five files are
optional here so that a missing one reaches S0 as `3B-S0-003 POLICY_SET_INCOMPLETE`,
and the *values* the spec constrains (MCCs known to `mcc_codes`, one default rule per
channel, probabilities summing to 1, bounds) are validated by S0
(`s0_gate.policy_problems` → `3B-S0-004 POLICY_SCHEMA_INVALID`), so each failure
carries its spec code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from fraud_assets.core.canonical import canonical_sha256
from fraud_assets.core.config import StrictModel, load_folder

CODE_CONFIG_INVALID = "3B-S0-001"  # the runner's loader code for a config that does not parse

MODES = ("NON_VIRTUAL", "HYBRID", "VIRTUAL_ONLY")
CHANNELS = ("card_present", "card_not_present")
CLASSES = ("LOCAL", "REGIONAL", "GLOBAL")
Mode = Literal["NON_VIRTUAL", "HYBRID", "VIRTUAL_ONLY"]
Channel = Literal["card_present", "card_not_present"]
Bound = tuple[float | None, float | None]


# ---- virtual_rules.yaml ----------------------------------------------------------------------------


class Modifiers(StrictModel):
    size: list[tuple[int, int | None, float]]  # [outlets_lo, outlets_hi (null = open), multiplier]
    gdp_bucket: dict[int, float]
    propensity_cap: float


class Override(StrictModel):
    merchant_id: int
    mode: Mode


class Rule(StrictModel):
    rule_id: str
    rule_version: str
    group: str
    channel: Channel
    mcc: Literal["any"] | None = None
    mccs: list[int] = []
    mcc_ranges: list[tuple[int, int]] = []
    decision: Mode
    propensity: float
    default: bool = False


class VirtualRules(StrictModel):
    version: str
    modifiers: Modifiers
    overrides: list[Override] = []
    rules: list[Rule]


# ---- settlement_policy.yaml ------------------------------------------------------------------------


class Bucket(StrictModel):
    bucket: str
    ranks: tuple[int, int]  # 0-based candidate ranks, inclusive
    probability: float
    include_capital: bool = False


class WithinBucket(StrictModel):
    population_offset: float
    exponent: float


class SettlementPolicy(StrictModel):
    version: str
    settlement_country: Literal["home_country"] = "home_country"
    candidate_limit: int
    buckets: list[Bucket]
    within_bucket: WithinBucket
    address_offset_km: float


# ---- edge_topology.yaml ----------------------------------------------------------------------------


class CdnBase(StrictModel):
    gdp_exponent: float
    edge_city_min_population: int
    excluded_countries: list[str] = []


class FootprintClass(StrictModel):
    edge_count_median: float
    edge_count_sigma: float
    edge_count_min: int
    edge_count_max: int
    locality_tau_km: float
    locality_lambda: float
    settlement_boost: float
    settlement_share_floor: float
    settlement_share_cap: float
    weight_tau_km: float


class SizeMultiplier(StrictModel):
    reference_outlets: float
    exponent: float
    min: float
    max: float


class Weight(StrictModel):
    population_exponent: float
    capacity_sigma: float


class TzResolverPolicy(StrictModel):
    epsilon_degrees: float = 0.002
    foreign_snap_max_km: float = 25.0
    extra_country_zones: dict[str, list[str]] = {}


class EdgeTopology(StrictModel):
    version: str
    cdn_base: CdnBase
    classes: dict[Literal["LOCAL", "REGIONAL", "GLOBAL"], FootprintClass]
    footprint_mix: dict[str, tuple[float, float, float]]
    size_multiplier: SizeMultiplier
    hybrid_edge_count_multiplier: float
    city_population_exponent: float
    weight: Weight
    jitter_radius_km: float
    tz_resolver: TzResolverPolicy = TzResolverPolicy()


# ---- virtual_routing_policy.yaml -------------------------------------------------------------------


class ConsumerRng(StrictModel):
    edge_pick: str
    mode_pick: str


class VirtualRoutingPolicy(StrictModel):
    version: str
    primary_clock: Literal["operational"] = "operational"
    settlement_cutoff_local_time: str = "00:00:00"
    hybrid_edge_share: tuple[float, float]
    consumer_rng_families: ConsumerRng


# ---- virtual_validation.yaml -----------------------------------------------------------------------


class Downstream(StrictModel):
    chi2_z_max: float
    edge_z_max: float
    min_expected: float
    cutoff_tolerance_seconds: float
    min_arrivals_per_merchant: int


class VirtualValidation(StrictModel):
    version: str
    enforcement_mode: Literal["enforce", "observe"]
    min_virtual_merchants: int
    js_sample_pairs: int
    realism: dict[str, Bound]
    downstream: Downstream


class Config3B(StrictModel):
    virtual_rules: VirtualRules | None = None
    settlement_policy: SettlementPolicy | None = None
    edge_topology: EdgeTopology | None = None
    virtual_routing_policy: VirtualRoutingPolicy | None = None
    virtual_validation: VirtualValidation | None = None


POLICY_FILES = ("virtual_rules", "settlement_policy", "edge_topology", "virtual_routing_policy",
                "virtual_validation")


def policy_digest(model: StrictModel | None) -> str | None:
    """sha256 of the canonical JSON of a validated policy (states open no files: this stands in for
    the file sha256 in the universe hash; the runner seals the file bytes themselves)."""
    return None if model is None else canonical_sha256(model.model_dump(mode="json"))


def load_config(folder: Path) -> Config3B:
    """Load `config/engine/3B/*.yaml`; a file that does not parse → `EngineFailure(3B-S0-001)`."""
    return load_folder(folder, Config3B, code=CODE_CONFIG_INVALID)
