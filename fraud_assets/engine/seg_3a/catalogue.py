"""Segment 3A catalogue: every dataset and every state, declared once (ARCHITECTURE §8).

State order is the spec's DAG `S0 → S2 → S1 → S3 → S4 → S5 → S6 → S7`: S2 (seed-free
priors) has no merchant input and S1 needs the country structure it derives.
S0 gates on 1A, 1B and 2A (`upstream`; 1B because 2A's sites come from it): the runner
recomputes the three flags, seals every input a 3A state reads from outside 3A — 1A
`outlet_catalogue`, 2A `site_timezones`, six references, the four policies, the world
preset — and writes the receipt. S7 is the validation state: it additionally reads
`rng_trace_3A` and returns the bundle. Shared code: `engine.common.zone_canon` (S2, S3,
S5, S6) and `engine.common.tz_resolve` (S2's polygon fallback).
"""

from __future__ import annotations

from fraud_assets.engine.seg_3a import datasets as ds
from fraud_assets.engine.seg_3a import (
    s0_gate as s0,
)
from fraud_assets.engine.seg_3a import (
    s1_escalation as s1,
)
from fraud_assets.engine.seg_3a import (
    s2_priors as s2,
)
from fraud_assets.engine.seg_3a import (
    s3_zone_shares as s3,
)
from fraud_assets.engine.seg_3a import (
    s4_zone_counts as s4,
)
from fraud_assets.engine.seg_3a import (
    s5_zone_alloc as s5,
)
from fraud_assets.engine.seg_3a import (
    s6_validation as s6,
)
from fraud_assets.engine.seg_3a import (
    s7_bundle as s7,
)
from fraud_assets.engine.seg_3a.config import (
    CODE_POLICY_SCHEMA_INVALID,
    CODE_POLICY_SET_INCOMPLETE,
    Config3A,
    load_config,
)
from fraud_assets.engine.state import CheckSpec, StateSpec

DATASETS = ds.DATASETS
SEGMENT = ds.SEGMENT
CONFIG_MODEL = Config3A
RNG_TRACE = ds.RNG_TRACE
UPSTREAM = ("1A", "1B", "2A")


def _c(name: str, code: str, fn, description: str) -> CheckSpec:
    return CheckSpec(name=name, code=code, fn=fn, description=description)


S0 = StateSpec(
    segment=SEGMENT, state="S0", name="gate",
    reads=(ds.OUTLET_CATALOGUE, ds.SITE_TIMEZONES, *ds.REFERENCE_READS),
    writes=(ds.S0_GATE,), run=s0.run, upstream=UPSTREAM,
    checks=(
        _c(s0.CHECK_IDENTITY, s0.CODE_FINGERPRINT, s0.check_identity,
           "recomputed parameter_hash equals the world's"),
        _c(s0.CHECK_UPSTREAM, s0.CODE_UPSTREAM_GATE, s0.check_upstream,
           "1A/1B/2A flags recomputed by the gate; sealed 1A/2A inputs carry the contract and this world's partition"),
        _c(s0.CHECK_POLICY_SET, CODE_POLICY_SET_INCOMPLETE, s0.check_policy_set, "all four 3A policies present"),
        _c(s0.CHECK_POLICY_SCHEMA, CODE_POLICY_SCHEMA_INVALID, s0.check_policy_schema,
           "policies validate strictly; versions are not placeholders; floor tzids load"),
        _c(s0.CHECK_SEALED_MISSING, s0.CODE_SEALED_MISSING, s0.check_sealed_missing,
           "every sealed input present, non-empty, with its consumed columns"),
        _c(s0.CHECK_SEALED_DIGEST, s0.CODE_SEALED_DIGEST, s0.check_sealed_digest,
           "recomputed manifest_fingerprint (covering every reference digest) equals the world's"),
        _c(s0.CHECK_RECEIPT, s0.CODE_RECEIPT_INVALID, s0.check_receipt,
           "s0_gate_3A complete, no own outputs sealed, no wall-clock field"),
    ),
    description="gate on 1A/1B/2A, seal inputs, validate the four policies",
)

S2 = StateSpec(
    segment=SEGMENT, state="S2", name="zone_priors",
    reads=(ds.S0_GATE, ds.REF_ISO, ds.REF_ZONE_TAB, ds.REF_LINKS, ds.REF_CITIES, ds.REF_TZ_WORLD, ds.REF_COUNTRIES),
    writes=(ds.S2_UNIVERSE, ds.S2_PRIORS), run=s2.run,
    checks=(
        _c(s2.CHECK_UNIVERSE_EMPTY, s2.CODE_UNIVERSE_EMPTY, s2.check_universe_empty,
           "every canonical ISO2 has a zone universe (zone.tab, city_tz, polygon)"),
        _c(s2.CHECK_INVALID_TZID, s2.CODE_INVALID_TZID, s2.check_invalid_tzid, "every universe tzid loads in zoneinfo"),
        _c(s2.CHECK_ALPHA, s2.CODE_ALPHA_DEGENERATE, s2.check_alpha,
           "alphas finite > 0; alpha_sum_country within alpha_sum_bounds"),
        _c(s2.CHECK_SHARE_SUM, s2.CODE_SHARE_SUM, s2.check_share_sum, "per country shares sum to 1 within 1e-12"),
        _c(s2.CHECK_MERGE_TARGET, s2.CODE_MERGE_TARGET, s2.check_merge_target,
           "every immaterial zone merges into a material zone of its country"),
        _c(s2.CHECK_COVERAGE, s2.CODE_COVERAGE, s2.check_coverage,
           "priors cover every canonical ISO2 with exactly its material zones"),
    ),
    description="zone universe and Dirichlet priors from reference data (seed-free)",
)

S1 = StateSpec(
    segment=SEGMENT, state="S1", name="escalation",
    reads=(ds.OUTLET_CATALOGUE, ds.S2_PRIORS, ds.S0_GATE),
    writes=(ds.S1_ESCALATION,), run=s1.run, rng_families=(ds.FAMILY_ESCALATION,),
    checks=(
        _c(s1.CHECK_GATE_RECEIPT, s1.CODE_GATE_RECEIPT, s1.check_gate_receipt, "S0 passed for this world"),
        _c(s1.CHECK_UNKNOWN_COUNTRY, s1.CODE_UNKNOWN_COUNTRY, s1.check_unknown_country, "every country has priors"),
        _c(s1.CHECK_DOMAIN_1A, s1.CODE_DOMAIN_1A, s1.check_domain_1a, "one row per 1A pair, no more, no fewer"),
        _c(s1.CHECK_SITE_COUNT, s1.CODE_SITE_COUNT, s1.check_site_count, "site_count = 1A rows per pair, ≥ 1"),
        _c(s1.CHECK_DUPLICATE_KEY, s1.CODE_DUPLICATE_KEY, s1.check_duplicate_key, "pair key unique"),
        _c(s1.CHECK_POLICY_REPLAY, s1.CODE_POLICY_REPLAY, s1.check_policy_replay,
           "the rule ladder re-decided from the inputs equals the queue"),
        _c(s1.CHECK_RNG_ACCOUNTING, s1.CODE_RNG_ACCOUNTING, s1.check_rng_accounting,
           "exactly one 3A.s1.escalation draw per rule-e row"),
    ),
    description="escalation queue: which merchant×country pairs split across zones",
)

S3 = StateSpec(
    segment=SEGMENT, state="S3", name="zone_shares",
    reads=(ds.S1_ESCALATION, ds.S2_PRIORS, ds.S2_UNIVERSE, ds.SITE_TIMEZONES, ds.REF_LINKS),
    writes=(ds.S3_SHARES,), run=s3.run, rng_families=(ds.FAMILY_DISPERSION, ds.FAMILY_DIRICHLET),
    checks=(
        _c(s3.CHECK_DOMAIN_S1, s3.CODE_DOMAIN_S1, s3.check_domain_s1, "pairs = escalated pairs of S1"),
        _c(s3.CHECK_ZONE_SET, s3.CODE_ZONE_SET, s3.check_zone_set, "per pair exactly the country's material zones"),
        _c(s3.CHECK_SHARE_SUM, s3.CODE_SHARE_SUM, s3.check_share_sum,
           "share_drawn in [0, 1] summing to 1 (share_sum_tol); site shares sum to 1"),
        _c(s3.CHECK_ALPHA, s3.CODE_ALPHA_INVALID, s3.check_alpha, "alpha finite ≥ alpha_floor, kappa finite > 0"),
        _c(s3.CHECK_RNG, s3.CODE_RNG_ACCOUNTING, s3.check_rng_accounting,
           "draw counts equal the replay's; dispersion 2 uniforms per pair"),
        _c(s3.CHECK_REPLAY, s3.CODE_REPLAY, s3.check_replay, "S3 re-run from its inputs equal to 1e-12"),
        _c(s3.CHECK_SITE_TZ, s3.CODE_SITE_TZ_MISSING, s3.check_site_tz,
           "2A covers every outlet of every escalated pair"),
    ),
    description="site-anchored Dirichlet zone shares of escalated pairs",
)

S4 = StateSpec(
    segment=SEGMENT, state="S4", name="zone_counts",
    reads=(ds.S3_SHARES,), writes=(ds.S4_COUNTS,), run=s4.run,
    checks=(
        _c(s4.CHECK_DOMAIN, s4.CODE_DOMAIN, s4.check_domain, "same keys, site_count and share_drawn as S3"),
        _c(s4.CHECK_CONSERVATION, s4.CODE_CONSERVATION, s4.check_conservation,
           "Σ zone_site_count = site_count per pair"),
        _c(s4.CHECK_NEGATIVE, s4.CODE_NEGATIVE, s4.check_negative, "counts ≥ 0"),
        _c(s4.CHECK_REPLAY, s4.CODE_REPLAY, s4.check_replay, "largest remainder replayed from S3 equals S4"),
    ),
    description="integer zone counts by largest remainder (exact conservation)",
)

S5 = StateSpec(
    segment=SEGMENT, state="S5", name="zone_alloc",
    reads=(ds.S1_ESCALATION, ds.S4_COUNTS, ds.S2_PRIORS, ds.S2_UNIVERSE, ds.SITE_TIMEZONES, ds.REF_LINKS,
           ds.OUTLET_CATALOGUE),
    writes=(ds.ZONE_ALLOC, ds.UNIVERSE_HASH), run=s5.run,
    checks=(
        _c(s5.CHECK_PAIR_SET, s5.CODE_PAIR_SET, s5.check_pair_set, "pair set equals S1 (every 1A pair)"),
        _c(s5.CHECK_CONSERVATION, s5.CODE_CONSERVATION, s5.check_conservation,
           "Σ zone_site_count per pair equals the 1A outlet count"),
        _c(s5.CHECK_ZONE_DOMAIN, s5.CODE_ZONE_DOMAIN, s5.check_zone_domain, "every tzid a material zone of its country"),
        _c(s5.CHECK_DIGEST, s5.CODE_DIGEST, s5.check_digest, "zone_alloc_digest recomputed equals the document"),
        _c(s5.CHECK_HASH, s5.CODE_HASH, s5.check_hash, "routing_universe_hash recomputed equals rows and document"),
        _c(s5.CHECK_ZERO_ROWS, s5.CODE_ZERO_ROWS, s5.check_zero_rows, "no row with zone_site_count < 1"),
    ),
    description="zone_alloc egress (every 1A pair) and the routing-universe hash",
)

S6 = StateSpec(
    segment=SEGMENT, state="S6", name="validation",
    reads=(ds.S0_GATE, ds.S2_UNIVERSE, ds.S2_PRIORS, ds.S1_ESCALATION, ds.S3_SHARES, ds.S4_COUNTS, ds.ZONE_ALLOC,
           ds.UNIVERSE_HASH, ds.OUTLET_CATALOGUE, ds.SITE_TIMEZONES, ds.REF_LINKS, ds.REF_ISO),
    writes=(ds.S6_REPORT, ds.S6_ISSUES), run=s6.run,
    checks=(
        _c(s6.CHECK_STRUCTURAL, s6.CODE_STRUCTURAL, s6.check_structural,
           "every S0–S5 structural check re-run on the written data"),
        _c(s6.CHECK_POLICY_REPLAY, s6.CODE_POLICY_REPLAY, s6.check_policy_replay,
           "S1 rule ladder and rule-e draws replayed"),
        _c(s6.CHECK_RNG, s6.CODE_RNG, s6.check_rng, "S3 replay draw counts consistent"),
        _c(s6.CHECK_SHARE_REPLAY, s6.CODE_SHARE_REPLAY, s6.check_share_replay, "S3 replayed to 1e-12"),
        _c(s6.CHECK_INTEGER_REPLAY, s6.CODE_INTEGER_REPLAY, s6.check_integer_replay, "S4 replayed exactly"),
        _c(s6.CHECK_EXECUTION, s6.CODE_CHECK_EXECUTION, s6.check_execution, "every check could run"),
        _c(s6.CHECK_REALISM, s6.CODE_REALISM, s6.check_realism,
           "realism gates V01–V13, X02 (ERROR when enforced with ≥ min_escalated_pairs, WARN otherwise)"),
    ),
    description="validation report: structural re-run, replays, realism gates",
)

S7 = StateSpec(
    segment=SEGMENT, state="S7", name="bundle",
    reads=(ds.S6_REPORT, ds.S6_ISSUES, ds.UNIVERSE_HASH, RNG_TRACE),
    writes=(), run=s7.run, validation=True,
    checks=(
        _c(s7.CHECK_S6_PASS, s7.CODE_S6_NOT_PASS, s7.check_s6_pass, "S6 overall_status is PASS"),
        _c(s7.CHECK_MEMBERS, s7.CODE_MEMBERS_MISSING, s7.check_members, "every report check and fixed member bundled"),
        _c(s7.CHECK_FLAG, s7.CODE_FLAG, s7.check_flag,
           "flag reproducible from the documents and present iff all passed (on disk: hashgate_3A)"),
        _c(s7.CHECK_RNG_TRACE, s7.CODE_RNG_TRACE, s7.check_rng_trace,
           "RNG trace equals S6's replayed tallies per state and family"),
    ),
    description="3A validation bundle and hashgate",
)

STATES: list[StateSpec] = [S0, S2, S1, S3, S4, S5, S6, S7]

__all__ = ["CONFIG_MODEL", "DATASETS", "RNG_TRACE", "STATES", "load_config"]
