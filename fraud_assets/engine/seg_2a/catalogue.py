"""Segment 2A catalogue: every dataset and every state, declared once (ARCHITECTURE §8).

S0 gates on 1A and 1B (`upstream`); the runner verifies both flags, seals every
input the states read from outside 2A (reference data, `site_locations`,
`merchant_ids`, config) and writes the receipt. S5 additionally reads
`rng_trace_2A` (empty: 2A draws nothing). Shared code: `engine.common.tz_resolve`
(S1, S5) and `engine.common.civil_time` (S4).
"""

from __future__ import annotations

from fraud_assets.engine.seg_2a import datasets as ds
from fraud_assets.engine.seg_2a import (
    s0_gate as s0,
    s1_tz_lookup as s1,
    s2_site_timezones as s2,
    s3_timetable as s3,
    s4_legality as s4,
    s5_validation as s5,
)
from fraud_assets.engine.seg_2a.config import Config2A, load_config
from fraud_assets.engine.state import CheckSpec, StateSpec

DATASETS = ds.DATASETS
SEGMENT = ds.SEGMENT
CONFIG_MODEL = Config2A
RNG_TRACE = ds.RNG_TRACE

REFERENCE_READS = (ds.REF_TZ_WORLD, ds.REF_TZIF_DIGEST, ds.REF_ZONE_TAB, ds.REF_ZONE1970_TAB, ds.REF_CITIES,
                   ds.REF_MCC, ds.REF_ISO)


def _c(name: str, code: str, fn, description: str) -> CheckSpec:  # noqa: ANN001
    return CheckSpec(name=name, code=code, fn=fn, description=description)


S0 = StateSpec(
    segment=SEGMENT, state="S0", name="gate",
    reads=(ds.REF_TZ_WORLD, ds.REF_TZIF_DIGEST, ds.REF_ZONE_TAB, ds.REF_ZONE1970_TAB, ds.REF_MCC, ds.REF_ISO),
    writes=(ds.S0_TZ_RECEIPT, ds.S0_COUNTRY_ZONES, ds.S0_TZ_WORLD_SUMMARY),
    run=s0.run, upstream=("1A", "1B"),
    checks=(
        _c(s0.CHECK_TZ_WORLD, s0.CODE_TZ_WORLD_INVALID, s0.check_tz_world,
           "tz_world non-empty, degree bounds, every tzid loads from tzdata, every part a valid Polygon"),
        _c(s0.CHECK_NUDGE, s0.CODE_NUDGE_POLICY_INVALID, s0.check_nudge, "0 < epsilon_degrees ≤ 0.01"),
        _c(s0.CHECK_OVERRIDES, s0.CODE_OVERRIDES_INVALID, s0.check_overrides,
           "override scope, target, tzid ∈ TW, applies_to, notes, ≤ 1 active row per target"),
        _c(s0.CHECK_TZDB_DIGEST, s0.CODE_TZDB_DIGEST_MISMATCH, s0.check_tzdb_digest,
           "installed tzdata TZif bytes = the sealed tzif_digest reference"),
        _c(s0.CHECK_HORIZON, s0.CODE_HORIZON_INVALID, s0.check_horizon,
           "horizon starts at 00:00Z, 1 ≤ horizon_days ≤ 120"),
    ),
    description="gate on 1A/1B, validate policies, tz_world and tzdata; zone sets",
)

S1 = StateSpec(
    segment=SEGMENT, state="S1", name="tz_lookup",
    reads=(ds.SITE_LOCATIONS, ds.MERCHANT_IDS, ds.REF_TZ_WORLD, ds.S0_COUNTRY_ZONES, ds.S0_TZ_WORLD_SUMMARY),
    writes=(ds.S1_TZ_LOOKUP,), run=s1.run,
    checks=(
        _c(s1.CHECK_COVERAGE, s1.CODE_COVERAGE, s1.check_coverage, "one row per site_locations key"),
        _c(s1.CHECK_PK, s1.CODE_PK, s1.check_pk, "site key unique"),
        _c(s1.CHECK_NULL_TZID, s1.CODE_NULL_TZID, s1.check_null_tzid, "tzid_provisional never null"),
        _c(s1.CHECK_UNKNOWN_TZID, s1.CODE_UNKNOWN_TZID, s1.check_unknown_tzid, "tzid_provisional ∈ TW"),
        _c(s1.CHECK_NUDGE_PAIR, s1.CODE_NUDGE_PAIR, s1.check_nudge_pair, "nudge lat/lon both set or both null"),
        _c(s1.CHECK_RESOLUTION, s1.CODE_RESOLUTION_INVALID, s1.check_resolution,
           "override_scope ⇔ override; distance ⇔ snap/nearest; exception ⇒ nearest"),
    ),
    description="point → tzid ladder over tz_world (never null, never aborts)",
)

S2 = StateSpec(
    segment=SEGMENT, state="S2", name="site_timezones",
    reads=(ds.S1_TZ_LOOKUP, ds.MERCHANT_IDS, ds.S0_COUNTRY_ZONES, ds.S0_TZ_WORLD_SUMMARY),
    writes=(ds.SITE_TIMEZONES,), run=s2.run,
    checks=(
        _c(s2.CHECK_COVERAGE, s2.CODE_COVERAGE, s2.check_coverage, "1:1 with s1_tz_lookup"),
        _c(s2.CHECK_PK, s2.CODE_PK, s2.check_pk, "site key unique"),
        _c(s2.CHECK_NULL_TZID, s2.CODE_NULL_TZID, s2.check_null_tzid, "tzid never null"),
        _c(s2.CHECK_PROVENANCE, s2.CODE_PROVENANCE, s2.check_provenance,
           "tzid_source / resolution / override_scope coherent with S1 and the pins"),
        _c(s2.CHECK_NUDGE_CARRY, s2.CODE_NUDGE_CARRY, s2.check_nudge_carry, "nudge fields carried unchanged"),
        _c(s2.CHECK_NOT_IN_TZ_WORLD, s2.CODE_NOT_IN_TZ_WORLD, s2.check_not_in_tz_world, "tzid ∈ TW"),
    ),
    description="programme pins and finalisation (egress: site_timezones)",
)

S3 = StateSpec(
    segment=SEGMENT, state="S3", name="timetable",
    reads=(ds.S0_TZ_RECEIPT, ds.S0_TZ_WORLD_SUMMARY, ds.REF_TZIF_DIGEST),
    writes=(ds.TZ_TIMETABLE, ds.TZ_TIMETABLE_MANIFEST), run=s3.run,
    checks=(
        _c(s3.CHECK_DIGEST, s3.CODE_DIGEST_INVALID, s3.check_digest,
           "tzif_digest of the bytes actually loaded = manifest = sealed reference"),
        _c(s3.CHECK_EMPTY, s3.CODE_INDEX_EMPTY, s3.check_empty, "timetable not empty"),
        _c(s3.CHECK_ORDER, s3.CODE_ORDER_INVALID, s3.check_order,
           "per tzid contiguous increasing segments covering the window"),
        _c(s3.CHECK_OFFSET, s3.CODE_OFFSET_RANGE, s3.check_offset, "offsets whole minutes within bounds"),
        _c(s3.CHECK_COVERAGE, s3.CODE_COVERAGE, s3.check_coverage, "every tz_world tzid present"),
        _c(s3.CHECK_CROSSCHECK, s3.CODE_CROSSCHECK, s3.check_crosscheck,
           "every transition equals zoneinfo at t−1 and t"),
        _c(s3.CHECK_HORIZON, s3.CODE_HORIZON_INCOMPLETE, s3.check_horizon,
           "every key equals zoneinfo at every 6 h of the window"),
    ),
    description="tz transition timetable from the tzdata wheel through zoneinfo (seed-free)",
)

S4 = StateSpec(
    segment=SEGMENT, state="S4", name="legality",
    reads=(ds.SITE_TIMEZONES, ds.TZ_TIMETABLE),
    writes=(ds.S4_TZ_WINDOWS, ds.S4_LEGALITY_REPORT), run=s4.run,
    checks=(
        _c(s4.CHECK_TZID_MISSING, s4.CODE_TZID_MISSING, s4.check_tzid_missing, "every used tzid in the timetable"),
        _c(s4.CHECK_WINDOW, s4.CODE_WINDOW_INVALID, s4.check_window, "gap/fold windows derived consistently"),
        _c(s4.CHECK_CIVIL_TIME, s4.CODE_CIVIL_TIME_MISMATCH, s4.check_civil_time,
           "civil_time round trip equals zoneinfo (0 mismatches)"),
    ),
    description="DST gap/fold windows of the used tzids; civil_time cross-check",
)

S5 = StateSpec(
    segment=SEGMENT, state="S5", name="validation",
    reads=tuple(d.id for d in DATASETS) + (ds.SITE_LOCATIONS, ds.MERCHANT_IDS, RNG_TRACE) + REFERENCE_READS,
    writes=(), run=s5.run, validation=True,
    checks=(
        _c(s5.CHECK_STATE_CHECKS, s5.CODE_STATE_CHECK_FAILED, s5.check_state_checks,
           "every state check of S0–S4 re-evaluated on the written data"),
        _c(s5.CHECK_REPLAY, s5.CODE_REPLAY_MISMATCH, s5.check_replay,
           "S0–S4 re-run on their written inputs equal their written outputs"),
        _c(s5.CHECK_PARITY, s5.CODE_PARITY, s5.check_parity,
           "site_locations = s1_tz_lookup = site_timezones (keys, coordinates)"),
        _c(s5.CHECK_TIMETABLE_DIGEST, s5.CODE_TIMETABLE_DIGEST, s5.check_timetable_digest,
           "tz_index_digest recomputed from the written table"),
        _c(s5.CHECK_EXECUTION, s5.CODE_CHECK_EXECUTION_FAILED, s5.check_execution, "every check could run"),
        _c(s5.CHECK_REALISM, s5.CODE_REALISM, s5.check_realism,
           "realism gates (ERROR on enforce_presets, WARN elsewhere)"),
    ),
    description="2A validation bundle",
)

STATES: list[StateSpec] = [S0, S1, S2, S3, S4, S5]

__all__ = ["CONFIG_MODEL", "DATASETS", "RNG_TRACE", "STATES", "load_config"]
