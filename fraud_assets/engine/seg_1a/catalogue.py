"""Segment 1A catalogue: every dataset and every state, declared once (ARCHITECTURE §8).

`DATASETS` (from `datasets.py`) lists each 1A dataset with scope, sort keys and
schema; `STATES` lists S0..S9 in order with reads, writes, RNG families and
blocking checks. S0's receipt and sealed inputs are the runner's (not here).
S9 additionally reads `rng_trace_1A`, written by the runner from every state's
`StateResult.rng` (schema `datasets.RNG_TRACE_SCHEMA`).
"""

from __future__ import annotations

from fraud_assets.engine.seg_1a import datasets as ds
from fraud_assets.engine.seg_1a import (
    s0_foundations as s0,
    s1_hurdle as s1,
    s2_nb_outlets as s2,
    s3_candidates as s3,
    s4_foreign_target as s4,
    s5_currency_weights as s5,
    s6_membership as s6,
    s7_country_counts as s7,
    s8_outlet_catalogue as s8,
    s9_validation as s9,
)
from fraud_assets.engine.seg_1a.config import CODE_CONFIG_INVALID, Config1A, load_config
from fraud_assets.engine.state import CheckSpec, StateSpec

DATASETS = ds.DATASETS
SEGMENT = ds.SEGMENT
CONFIG_MODEL = Config1A
RNG_TRACE = ds.RNG_TRACE
RNG_TRACE_SCHEMA = ds.RNG_TRACE_SCHEMA

REFERENCE_READS = (ds.REF_ISO, ds.REF_GDP, ds.REF_BUCKETS, ds.REF_COUNTRIES, ds.REF_CITIES, ds.REF_NEIGHBOURS,
                   ds.REF_CURRENCIES, ds.REF_MCC)


def _c(name: str, code: str, fn, description: str) -> CheckSpec:
    return CheckSpec(name=name, code=code, fn=fn, description=description)


S0 = StateSpec(
    segment=SEGMENT, state="S0", name="foundations",
    reads=(ds.REF_ISO, ds.REF_GDP, ds.REF_BUCKETS, ds.REF_COUNTRIES, ds.REF_CITIES, ds.REF_CURRENCIES, ds.REF_MCC),
    writes=(ds.COUNTRY_UNIVERSE, ds.MERCHANT_IDS, ds.MERCHANT_FEATURES, ds.MODEL_COEFFICIENTS),
    run=s0.run, rng_families=(s0.FAMILY_MCC, s0.FAMILY_CHANNEL), upstream=(),
    checks=(
        _c(s0.CHECK_WORLD_IDENTITY, s0.CODE_FINGERPRINT, s0.check_world_identity,
           "recomputed parameter_hash / manifest_fingerprint equal the world manifest"),
        _c(s0.CHECK_CONFIG_VALID, CODE_CONFIG_INVALID, s0.check_config_valid,
           "1A config validates strictly and knows the preset"),
        _c(s0.CHECK_REGION_FLOOR, s0.CODE_REGION_FLOOR, s0.check_region_floor,
           "continent shares meet their floors; floors sum ≤ 1"),
        _c(s0.CHECK_UNIVERSE_FEASIBLE, s0.CODE_UNIVERSE_INFEASIBLE, s0.check_universe_feasible,
           "merchant counts sum to n within [m_min, U]"),
        _c(s0.CHECK_CHANNEL_MIX, s0.CODE_CHANNEL_MIX, s0.check_channel_mix,
           "card-present share within bounds (n ≥ 200)"),
        _c(s0.CHECK_INGRESS_SCHEMA, s0.CODE_INGRESS_SCHEMA, s0.check_ingress_schema,
           "merchant_ids schema, PK, MCC, channel and home-ISO FK"),
    ),
    description="country universe, merchant universe, features, coefficients (seed-free)",
)

S1 = StateSpec(
    segment=SEGMENT, state="S1", name="hurdle",
    reads=(ds.MERCHANT_FEATURES, ds.MODEL_COEFFICIENTS), writes=(ds.HURDLE_DECISIONS,),
    run=s1.run, rng_families=(s1.FAMILY_HURDLE,),
    checks=(
        _c(s1.CHECK_HURDLE_CARDINALITY, s1.CODE_HURDLE_CARDINALITY, s1.check_hurdle_cardinality,
           "exactly one hurdle row per merchant"),
        _c(s1.CHECK_HURDLE_U, s1.CODE_HURDLE_U, s1.check_hurdle_u,
           "u present iff 0<π<1, u ∈ (0,1), is_multi = (u < π)"),
    ),
    description="single- vs multi-site hurdle",
)

S2 = StateSpec(
    segment=SEGMENT, state="S2", name="nb_outlets",
    reads=(ds.HURDLE_DECISIONS, ds.MERCHANT_FEATURES, ds.MODEL_COEFFICIENTS), writes=(ds.NB_OUTLET_DRAWS,),
    run=s2.run, rng_families=(s2.FAMILY_GAMMA, s2.FAMILY_POISSON),
    checks=(
        _c(s2.CHECK_NB_NUMERIC, s2.CODE_NB_NUMERIC, s2.check_nb_numeric, "μ, φ finite and > 0"),
        _c(s2.CHECK_NB_EXHAUSTED, s2.CODE_NB_EXHAUSTED, s2.check_nb_exhausted,
           "N ≥ 2 within max_attempts, draw counts consistent"),
    ),
    description="NB2 outlet count truncated at N ≥ 2 (numba rejection sampler)",
)

S3 = StateSpec(
    segment=SEGMENT, state="S3", name="candidates",
    reads=(ds.MERCHANT_FEATURES, ds.NB_OUTLET_DRAWS, ds.COUNTRY_UNIVERSE, ds.REF_CITIES, ds.REF_NEIGHBOURS,
           ds.REF_CURRENCIES, ds.REF_GDP),
    writes=(ds.S3_CANDIDATE_SET,), run=s3.run,
    checks=(
        _c(s3.CHECK_RANK_INVALID, s3.CODE_RANK_INVALID, s3.check_rank_invalid,
           "home rank 0, contiguous ranks, no duplicates, tier cap"),
        _c(s3.CHECK_OUTSIDE_UNIVERSE, s3.CODE_OUTSIDE_UNIVERSE, s3.check_outside_universe,
           "candidates in the universe, none sanctioned"),
    ),
    description="cross-border candidate set and inter-country order",
)

S4 = StateSpec(
    segment=SEGMENT, state="S4", name="foreign_target",
    reads=(ds.NB_OUTLET_DRAWS, ds.MERCHANT_FEATURES, ds.S3_CANDIDATE_SET), writes=(ds.S4_FOREIGN_TARGET,),
    run=s4.run, rng_families=(s4.FAMILY_EXPAND, s4.FAMILY_ZTP),
    checks=(
        _c(s4.CHECK_ZTP_INVALID, s4.CODE_ZTP_INVALID, s4.check_ztp_invalid,
           "reason, k_target, attempts consistent; one row per multi-site merchant"),
    ),
    description="expansion hurdle and zero-truncated Poisson foreign-country target",
)

S5 = StateSpec(
    segment=SEGMENT, state="S5", name="currency_weights",
    reads=(ds.MERCHANT_IDS, ds.COUNTRY_UNIVERSE, ds.REF_CURRENCIES, ds.REF_GDP),
    writes=(ds.CCY_COUNTRY_WEIGHTS, ds.MERCHANT_CURRENCY, ds.SPARSE_FLAG), run=s5.run,
    checks=(
        _c(s5.CHECK_WEIGHT_SUM, s5.CODE_WEIGHT_SUM, s5.check_weight_sum,
           "per currency Σ weight_fp = 10^dp, hubs in every support"),
    ),
    description="currency → country weights (seed-free)",
)

S6 = StateSpec(
    segment=SEGMENT, state="S6", name="membership",
    reads=(ds.S4_FOREIGN_TARGET, ds.S3_CANDIDATE_SET, ds.MERCHANT_CURRENCY, ds.CCY_COUNTRY_WEIGHTS,
           ds.NB_OUTLET_DRAWS),
    writes=(ds.S6_MEMBERSHIP,), run=s6.run, rng_families=(s6.FAMILY_GUMBEL,),
    checks=(
        _c(s6.CHECK_MEMBERSHIP, s6.CODE_MEMBERSHIP, s6.check_membership,
           "selection = top-K_realized by Gumbel key; K_realized ≤ N−1"),
    ),
    description="foreign set selection by Gumbel top-K",
)

S7 = StateSpec(
    segment=SEGMENT, state="S7", name="country_counts",
    reads=(ds.HURDLE_DECISIONS, ds.NB_OUTLET_DRAWS, ds.S6_MEMBERSHIP, ds.S3_CANDIDATE_SET),
    writes=(ds.S7_COUNTRY_COUNTS,), run=s7.run, rng_families=(s7.FAMILY_DIRICHLET,),
    checks=(
        _c(s7.CHECK_SUM_MISMATCH, s7.CODE_SUM_MISMATCH, s7.check_sum_mismatch, "Σ count = N, every count ≥ 1"),
        _c(s7.CHECK_PROXIMITY, s7.CODE_PROXIMITY, s7.check_proximity, "|count − (1 + R·s)| < 1, home floor"),
    ),
    description="integer allocation across legal countries (numba Dirichlet + largest remainder)",
)

S8 = StateSpec(
    segment=SEGMENT, state="S8", name="outlet_catalogue",
    reads=(ds.S7_COUNTRY_COUNTS, ds.HURDLE_DECISIONS, ds.NB_OUTLET_DRAWS, ds.MERCHANT_IDS),
    writes=(ds.OUTLET_CATALOGUE,), run=s8.run,
    checks=(
        _c(s8.CHECK_SEQUENCE_GAP, s8.CODE_SEQUENCE_GAP, s8.check_sequence_gap,
           "site_order contiguous 1..count per (merchant, country)"),
        _c(s8.CHECK_SITE_ID_OVERFLOW, s8.CODE_SITE_ID_OVERFLOW, s8.check_site_id_overflow,
           "site_id = 6-digit site_order, count ≤ 999999"),
        _c(s8.CHECK_OUTLET_SUM, s8.CODE_OUTLET_SUM, s8.check_outlet_sum, "rows per merchant = N"),
        _c(s8.CHECK_PARTITION, s8.CODE_PARTITION, s8.check_partition,
           "embedded manifest_fingerprint / global_seed = partition"),
    ),
    description="outlet catalogue (egress)",
)

S9 = StateSpec(
    segment=SEGMENT, state="S9", name="validation",
    reads=tuple(d.id for d in DATASETS) + (RNG_TRACE,) + REFERENCE_READS,
    writes=(), run=s9.run, validation=True,
    checks=(
        _c(s9.CHECK_STRUCTURAL, s9.CODE_STRUCTURAL, s9.check_structural,
           "schema, sort, PK, FK and row-count chain of every 1A dataset"),
        _c(s9.CHECK_STATE_CHECKS, s9.CODE_STRUCTURAL, s9.check_state_checks,
           "every state check re-evaluated on the written data"),
        _c(s9.CHECK_REPLAY, s9.CODE_RNG_ACCOUNTING, s9.check_replay,
           "every state re-run from its written inputs equals its written outputs"),
        _c(s9.CHECK_RNG_ACCOUNTING, s9.CODE_RNG_ACCOUNTING, s9.check_rng_accounting,
           "RNG trace = replay tallies = totals implied by the datasets"),
        _c(s9.CHECK_BRANCH_PURITY, s9.CODE_BRANCH_PURITY, s9.check_branch_purity,
           "no downstream rows for single-site merchants; S6 rows iff k_target ≥ 1"),
        _c(s9.CHECK_NB_CORRIDOR, s9.CODE_NB_CORRIDOR, s9.check_nb_corridor,
           "NB rejection rate ≤ 0.06 and p99 ≤ 3"),
        _c(s9.CHECK_ZTP_PATHOLOGY, s9.CODE_ZTP_PATHOLOGY, s9.check_ztp_pathology,
           "ZTP exhaustion and high-zero shares among expanded merchants"),
        _c(s9.CHECK_REALISM, s9.CODE_REALISM, s9.check_realism,
           "realism gates (ERROR on enforce_presets, WARN elsewhere)"),
    ),
    description="1A validation bundle",
)

STATES: list[StateSpec] = [S0, S1, S2, S3, S4, S5, S6, S7, S8, S9]

__all__ = ["CONFIG_MODEL", "DATASETS", "RNG_TRACE", "RNG_TRACE_SCHEMA", "STATES", "load_config"]
