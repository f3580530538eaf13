"""Segment 2B catalogue: every dataset and every state, declared once (ARCHITECTURE §8).

S0 gates on 1A, 1B, 2A and 3B (`upstream`; 2B reads no 3A data); the runner verifies the four
flags, seals every input the states read from outside 2B (the population raster, `merchant_ids`,
`site_locations`, `site_timezones`, 3B's classification, edge catalogue, alias index, blob and
universe hash, the config files and the world preset) and writes the receipt. S8 additionally
reads `rng_trace_2B`. The routing law is the library `engine.seg_2b.router` (`RoutingFabric`), used
by S5–S7 here and by 5B S4.
"""

from __future__ import annotations

from fraud_assets.engine.seg_2b import datasets as ds
from fraud_assets.engine.seg_2b import (
    s0_gate as s0,
    s1_site_weights as s1,
    s2_alias as s2,
    s3_day_effects as s3,
    s4_group_weights as s4,
    s5_router as s5,
    s6_virtual_router as s6,
    s7_audit as s7,
    s8_validation as s8,
)
from fraud_assets.engine.seg_2b.config import Config2B, load_config
from fraud_assets.engine.seg_2b.laws import FAMILY_AUDIT_EDGE, FAMILY_AUDIT_ROUTE, FAMILY_DAY_EFFECT, FAMILY_SIGMA
from fraud_assets.engine.state import CheckSpec, StateSpec

DATASETS = ds.DATASETS
SEGMENT = ds.SEGMENT
CONFIG_MODEL = Config2B
RNG_TRACE = ds.RNG_TRACE

UPSTREAM_TABLES = (ds.MERCHANT_IDS, ds.SITE_LOCATIONS, ds.SITE_TIMEZONES)
S1_INPUTS = (ds.SITE_LOCATIONS, ds.SITE_TIMEZONES, ds.MERCHANT_IDS, ds.REF_POPULATION_RASTER)


def _c(name: str, code: str, fn, description: str) -> CheckSpec:  # noqa: ANN001
    return CheckSpec(name=name, code=code, fn=fn, description=description)


S0 = StateSpec(
    segment=SEGMENT, state="S0", name="gate",
    reads=(*UPSTREAM_TABLES, *ds.UPSTREAM_3B, ds.REF_POPULATION_RASTER),
    writes=(ds.S0_RECEIPT,), run=s0.run, upstream=s0.UPSTREAM,
    checks=(
        _c(s0.CHECK_UPSTREAM, s0.CODE_UPSTREAM_GATE_FAILED, s0.check_upstream,
           "every segment a 2B state reads is gated (flags recomputed by the runner)"),
        _c(s0.CHECK_POLICY_SET, s0.CODE_POLICY_SET_INCOMPLETE, s0.check_policy_set, "all four policy files present"),
        _c(s0.CHECK_POLICY_SCHEMA, s0.CODE_POLICY_SCHEMA_INVALID, s0.check_policy_schema, "policy value laws"),
        _c(s0.CHECK_SEALED, s0.CODE_SEALED_INPUT_MISSING, s0.check_sealed,
           "upstream inputs present and readable (3B blob header, universe hash, raster contract)"),
        _c(s0.CHECK_HORIZON, s0.CODE_HORIZON_INVALID, s0.check_horizon, "horizon at 00:00Z and |D| ≥ 1"),
        _c(s0.CHECK_CODEC, s0.CODE_CODEC_MISMATCH, s0.check_codec, "routing.alias_codec = installed core.alias codec"),
    ),
    description="gate on 1A/1B/2A/3B, validate policies, day grid and codec",
)

S1 = StateSpec(
    segment=SEGMENT, state="S1", name="site_weights",
    reads=S1_INPUTS, writes=(ds.S1_SITE_WEIGHTS,), run=s1.run,
    checks=(
        _c(s1.CHECK_SITE_SET, s1.CODE_SITE_SET_MISMATCH, s1.check_site_set,
           "site set = site_locations = site_timezones, key unique"),
        _c(s1.CHECK_WEIGHT, s1.CODE_WEIGHT_INVALID, s1.check_weight, "p_weight, p_within finite and > 0"),
        _c(s1.CHECK_NORMALISATION, s1.CODE_NORMALISATION, s1.check_normalisation,
           "|Σ_m p − 1| ≤ 1e-12 and |Σ_g p_within − 1| ≤ 1e-12"),
        _c(s1.CHECK_RASTER, s1.CODE_RASTER_SAMPLE_INVALID, s1.check_raster, "density finite and ≥ 0"),
        _c(s1.CHECK_MEMBER_INDEX, s1.CODE_MEMBER_INDEX_INVALID, s1.check_member_index,
           "member_index contiguous 0..n_g−1, group_index contiguous"),
        _c(s1.CHECK_SITE_ID, s1.CODE_SITE_ID_COLLISION, s1.check_site_id,
           "site_id = core.ids recipe and unique over the world"),
    ),
    description="deterministic geography-driven site weights and tz groups",
)

S2 = StateSpec(
    segment=SEGMENT, state="S2", name="alias_tables",
    reads=(ds.S1_SITE_WEIGHTS,), writes=(ds.S2_ALIAS_BLOB, ds.S2_ALIAS_INDEX, ds.S2_ALIAS_MANIFEST), run=s2.run,
    checks=(
        _c(s2.CHECK_QUANTISATION, s2.CODE_QUANTISATION_FAILED, s2.check_quantisation, "ΣM = n·2^31 per slice"),
        _c(s2.CHECK_DISTRIBUTION, s2.CODE_ALIAS_DISTRIBUTION_INCONSISTENT, s2.check_distribution,
           "implied probabilities within the header's quantisation bound of p_within"),
        _c(s2.CHECK_LAYOUT, s2.CODE_LAYOUT_INVALID, s2.check_layout,
           "offsets inside the blob, contiguous, non-overlapping, 8-aligned"),
        _c(s2.CHECK_CHECKSUM, s2.CODE_CHECKSUM_MISMATCH, s2.check_checksum, "slice, blob and index digests"),
        _c(s2.CHECK_COUNT, s2.CODE_COUNT_MISMATCH, s2.check_count, "slices = groups, entries = sites"),
        _c(s2.CHECK_QBITS, s2.CODE_QBITS_INCOHERENT, s2.check_qbits,
           "header, slice, index and manifest prob_qbits all equal 31"),
    ),
    description="one fa.alias.v1 slice per (merchant, tz group) in one blob",
)

S3 = StateSpec(
    segment=SEGMENT, state="S3", name="day_effects",
    reads=(ds.S1_SITE_WEIGHTS,), writes=(ds.S3_DAY_EFFECTS, ds.S3_MERCHANT_SIGMA), run=s3.run,
    rng_families=(FAMILY_SIGMA, FAMILY_DAY_EFFECT),
    checks=(
        _c(s3.CHECK_GRID, s3.CODE_DAY_GRID_MISMATCH, s3.check_grid, "rows exactly G(m) × D"),
        _c(s3.CHECK_GAMMA, s3.CODE_GAMMA_INVALID, s3.check_gamma, "γ finite, > 0, within the clip"),
        _c(s3.CHECK_RNG, s3.CODE_RNG_ACCOUNTING, s3.check_rng, "sigma: merchants, 2·merchants; day_effect: rows, 2·rows"),
    ),
    description="merchant volatility regimes and AR(1) log-normal day effects over the world's day grid",
)

S4 = StateSpec(
    segment=SEGMENT, state="S4", name="group_weights",
    reads=(ds.S1_SITE_WEIGHTS, ds.S3_DAY_EFFECTS), writes=(ds.S4_GROUP_WEIGHTS,), run=s4.run,
    checks=(
        _c(s4.CHECK_COVERAGE, s4.CODE_COVERAGE, s4.check_coverage, "grid = S3 grid"),
        _c(s4.CHECK_NORMALISATION, s4.CODE_NORMALISATION, s4.check_normalisation,
           "|Σ p_group − 1| ≤ 1e-12 and Σ mass_q31 = 2^31 per (m, d)"),
        _c(s4.CHECK_GAMMA_ECHO, s4.CODE_GAMMA_ECHO, s4.check_gamma_echo, "γ equals S3"),
        _c(s4.CHECK_BASE_SHARE_ECHO, s4.CODE_BASE_SHARE_ECHO, s4.check_base_share_echo, "base_share equals S1"),
    ),
    description="renormalised daily group weights with exact integer masses",
)

S5 = StateSpec(
    segment=SEGMENT, state="S5", name="router",
    reads=(ds.S1_SITE_WEIGHTS, ds.S2_ALIAS_INDEX, ds.S2_ALIAS_BLOB, ds.S2_ALIAS_MANIFEST, ds.S4_GROUP_WEIGHTS),
    writes=(ds.S5_ROUTER_MANIFEST, ds.S5_ROUTE_AUDIT), run=s5.run, rng_families=(FAMILY_AUDIT_ROUTE,),
    checks=(
        _c(s5.CHECK_GROUP_SITE, s5.CODE_GROUP_SITE_MISMATCH, s5.check_group_site,
           "site in the chosen group (recomputed from S4), in the roster's country and pinned zone"),
        _c(s5.CHECK_EMPTY_GROUP, s5.CODE_EMPTY_GROUP, s5.check_empty_group, "every group has a non-empty slice"),
        _c(s5.CHECK_RNG, s5.CODE_RNG_ACCOUNTING, s5.check_rng, "audit_route: keys = rows, draws = 2·rows"),
    ),
    description="physical router manifest and full-horizon audit roster through RoutingFabric",
)

S6 = StateSpec(
    segment=SEGMENT, state="S6", name="virtual_router",
    reads=(ds.VIRTUAL_CLASSIFICATION, ds.EDGE_ALIAS_INDEX, ds.EDGE_ALIAS_BLOB, ds.EDGE_UNIVERSE_HASH,
           ds.EDGE_CATALOGUE, ds.S1_SITE_WEIGHTS),
    writes=(ds.S6_PLAN, ds.S6_MANIFEST, ds.S6_EDGE_AUDIT), run=s6.run, rng_families=(FAMILY_AUDIT_EDGE,),
    checks=(
        _c(s6.CHECK_VIRTUAL_SET, s6.CODE_VIRTUAL_SET_MISMATCH, s6.check_virtual_set,
           "plan merchants = 3B is_virtual set; modes, shares and thresholds echo 3B"),
        _c(s6.CHECK_EDGE_SLICE, s6.CODE_EDGE_SLICE_INVALID, s6.check_edge_slice,
           "each plan merchant's 3B slice exists with n = edge_count_total and qbits 31"),
        _c(s6.CHECK_UNIVERSE, s6.CODE_EDGE_UNIVERSE_HASH_MISMATCH, s6.check_universe,
           "universe hash = 3B's; blob digest = 3B's GLOBAL index row"),
        _c(s6.CHECK_EDGE_ATTR, s6.CODE_EDGE_ATTR_MISSING, s6.check_edge_attr,
           "every picked edge exists in edge_catalogue_3B"),
        _c(s6.CHECK_HYBRID, s6.CODE_HYBRID_WITHOUT_SITES, s6.check_hybrid, "HYBRID merchants have sites"),
        _c(s6.CHECK_RNG, s6.CODE_RNG_ACCOUNTING, s6.check_rng, "audit_edge: keys = rows, draws = 2·rows"),
    ),
    description="virtual routing plan over 3B's edge alias tables and its audit roster",
)

S7 = StateSpec(
    segment=SEGMENT, state="S7", name="audit",
    reads=(*S1_INPUTS, ds.S1_SITE_WEIGHTS, ds.S2_ALIAS_BLOB, ds.S2_ALIAS_INDEX, ds.S2_ALIAS_MANIFEST,
           ds.S3_DAY_EFFECTS, ds.S3_MERCHANT_SIGMA, ds.S4_GROUP_WEIGHTS, ds.S5_ROUTER_MANIFEST, ds.S5_ROUTE_AUDIT,
           ds.S6_PLAN, ds.S6_MANIFEST, ds.S6_EDGE_AUDIT, ds.EDGE_CATALOGUE, ds.EDGE_ALIAS_BLOB),
    writes=(ds.S7_REPORT, ds.S7_ISSUES), run=s7.run,
    checks=tuple(_c(s7.check_name(code), code, s7.check_for(code), name) for code, name in s7.CODES.items()),
    description="read-only audit: replays, blob contract, router replays, frequency sanity, realism",
)

S8 = StateSpec(
    segment=SEGMENT, state="S8", name="validation",
    reads=tuple(d.id for d in DATASETS) + (*UPSTREAM_TABLES, *ds.UPSTREAM_3B, ds.REF_POPULATION_RASTER, RNG_TRACE),
    writes=(), run=s8.run, validation=True,
    checks=(
        _c(s8.CHECK_S7_PASS, s8.CODE_S7_NOT_PASS, s8.check_s7_pass, "S7 overall_status = PASS"),
        _c(s8.CHECK_BUNDLE, s8.CODE_BUNDLE_INCOMPLETE, s8.check_bundle, "every required bundle document present"),
        _c(s8.CHECK_STATE_CHECKS, s8.CODE_STATE_CHECK_FAILED, s8.check_state_checks,
           "every S0–S6 check re-evaluated on the written data"),
        _c(s8.CHECK_RNG, s8.CODE_RNG, s8.check_rng, "RNG trace totals = what the outputs imply"),
    ),
    description="2B validation bundle and PASS flag",
)

STATES: list[StateSpec] = [S0, S1, S2, S3, S4, S5, S6, S7, S8]

__all__ = ["CONFIG_MODEL", "DATASETS", "RNG_TRACE", "STATES", "load_config"]
