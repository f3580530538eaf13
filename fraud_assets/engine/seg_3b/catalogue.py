"""Segment 3B catalogue: every dataset and every state, declared once (ARCHITECTURE §8).

S0 gates on 1A only (`upstream=("1A",)`; 3B reads no 1B/2A/3A rows): the runner verifies
1A's flag, seals every input the states read from outside 3B (1A `merchant_ids` and
`outlet_catalogue`, the reference tables, the 3B configs, the world preset) and writes the
receipt. S5 additionally reads `rng_trace_3B`. Shared code: `engine.common.tz_resolve`
(S1 settlement fallback, S2 operational tz), `core.alias` (S3), `core.ids.edge_ids_from_keys`
(S2), `core.digest.content_digest` (S2, S3).

`edge_alias_blob_3B` is a `Kind.FILES` dataset: the runner publishes it as a directory and hands
it back to S5 as {file name: bytes}; S5 decodes the published blob.
"""

from __future__ import annotations

from fraud_assets.engine.seg_3b import datasets as ds
from fraud_assets.engine.seg_3b import (
    s0_gate as s0,
)
from fraud_assets.engine.seg_3b import (
    s1_virtual as s1,
)
from fraud_assets.engine.seg_3b import (
    s2_edges as s2,
)
from fraud_assets.engine.seg_3b import (
    s3_alias as s3,
)
from fraud_assets.engine.seg_3b import (
    s4_routing as s4,
)
from fraud_assets.engine.seg_3b import (
    s5_validation as s5,
)
from fraud_assets.engine.seg_3b.config import Config3B, load_config
from fraud_assets.engine.state import CheckSpec, StateSpec

DATASETS = ds.DATASETS
SEGMENT = ds.SEGMENT
CONFIG_MODEL = Config3B
RNG_TRACE = ds.RNG_TRACE

UPSTREAM_READS = (ds.MERCHANT_IDS, ds.OUTLET_CATALOGUE)
TZ_READS = (ds.REF_TZ_WORLD, ds.REF_ZONE_TAB, ds.REF_ZONE1970_TAB, ds.REF_TZIF_DIGEST)
REFERENCE_READS = (ds.REF_CITIES, ds.REF_COUNTRIES, ds.REF_GDP_BUCKET, *TZ_READS, ds.REF_LINKS, ds.REF_MCC)


def _c(name: str, code: str, fn, description: str) -> CheckSpec:
    return CheckSpec(name=name, code=code, fn=fn, description=description)


S0 = StateSpec(
    segment=SEGMENT, state="S0", name="gate",
    reads=(ds.MERCHANT_IDS, ds.OUTLET_CATALOGUE, ds.REF_MCC), writes=(ds.S0_GATE_SUMMARY,),
    run=s0.run, upstream=("1A",),
    checks=(
        _c(s0.CHECK_WORLD_IDENTITY, s0.CODE_FINGERPRINT, s0.check_world_identity,
           "recomputed parameter_hash / manifest_fingerprint equal the world manifest"),
        _c(s0.CHECK_UPSTREAM, s0.CODE_UPSTREAM, s0.check_upstream,
           "1A PASS verified by the gate; the sealed 1A inputs carry the consumed contract and this world"),
        _c(s0.CHECK_POLICY_INCOMPLETE, s0.CODE_POLICY_INCOMPLETE, s0.check_policy_incomplete,
           "all five 3B policy files present"),
        _c(s0.CHECK_POLICY_SCHEMA, s0.CODE_POLICY_SCHEMA, s0.check_policy_schema,
           "rule MCCs in mcc_codes, one default rule per channel, probabilities sum to 1, value bounds"),
        _c(s0.CHECK_INPUT_MISSING, s0.CODE_INPUT_MISSING, s0.check_input_missing,
           "every sealed input present and non-empty"),
        _c(s0.CHECK_INPUT_DIGEST, s0.CODE_INPUT_DIGEST, s0.check_input_digest,
           "content digests of the consumed 1A inputs recorded and reproducible"),
        _c(s0.CHECK_RECEIPT_SCHEMA, s0.CODE_RECEIPT_SCHEMA, s0.check_receipt_schema,
           "gate summary carries every field with the world's identity"),
    ),
    description="gate on 1A, validate the five policies, digest the 1A inputs",
)

S1 = StateSpec(
    segment=SEGMENT, state="S1", name="virtual",
    reads=(ds.S0_GATE_SUMMARY, ds.MERCHANT_IDS, ds.OUTLET_CATALOGUE, ds.REF_GDP_BUCKET, ds.REF_MCC, ds.REF_CITIES,
           ds.REF_COUNTRIES, *TZ_READS),
    writes=(ds.VIRTUAL_CLASSIFICATION, ds.VIRTUAL_SETTLEMENT), run=s1.run, rng_families=s1.FAMILIES,
    checks=(
        _c(s1.CHECK_GATE, s1.CODE_GATE, s1.check_gate, "S0 passed for this world"),
        _c(s1.CHECK_MERCHANT_DOMAIN, s1.CODE_MERCHANT_DOMAIN, s1.check_merchant_domain,
           "classification rows = merchant_ids (keys and attributes)"),
        _c(s1.CHECK_RULE_UNMATCHED, s1.CODE_RULE_UNMATCHED, s1.check_rule_unmatched,
           "rule_id / rule_version / reason never null; mode, is_virtual and edge_share coherent"),
        _c(s1.CHECK_DUPLICATE_KEY, s1.CODE_DUPLICATE_KEY, s1.check_duplicate_key, "merchant_id unique"),
        _c(s1.CHECK_SETTLEMENT_DOMAIN, s1.CODE_SETTLEMENT_DOMAIN, s1.check_settlement_domain,
           "settlement rows = the is_virtual set, in the home country"),
        _c(s1.CHECK_TZ_FAILED, s1.CODE_TZ_FAILED, s1.check_tz_failed, "tzid_settlement loads from tzdata"),
        _c(s1.CHECK_COORD_INVALID, s1.CODE_COORD_INVALID, s1.check_coord_invalid,
           "lat in [−90, 90], lon in (−180, 180], coord_source coherent"),
    ),
    description="virtual classification with rule lineage; settlement anchors",
)

S2 = StateSpec(
    segment=SEGMENT, state="S2", name="edges",
    reads=(ds.VIRTUAL_CLASSIFICATION, ds.VIRTUAL_SETTLEMENT, ds.REF_CITIES, ds.REF_COUNTRIES, *TZ_READS,
           ds.REF_LINKS),
    writes=(ds.EDGE_CATALOGUE, ds.EDGE_CATALOGUE_INDEX), run=s2.run, rng_families=s2.FAMILIES,
    checks=(
        _c(s2.CHECK_S1_CONTRACT, s2.CODE_S1_CONTRACT, s2.check_s1_contract,
           "merchants with edges = index merchants = S1's is_virtual set"),
        _c(s2.CHECK_WEIGHT, s2.CODE_WEIGHT, s2.check_weight, "Σ weight = 1 ± 1e-12, 0 < w ≤ 1"),
        _c(s2.CHECK_EDGE_COUNT, s2.CODE_EDGE_COUNT, s2.check_edge_count, "N within the footprint class bounds"),
        _c(s2.CHECK_EDGE_ID, s2.CODE_EDGE_ID, s2.check_edge_id,
           "edge_id = core.ids recipe, unique across the world; edge_seq_index 0..N−1"),
        _c(s2.CHECK_TZID, s2.CODE_TZID, s2.check_tzid, "tzid_operational loads; tz_source in the enum"),
        _c(s2.CHECK_INDEX, s2.CODE_INDEX, s2.check_index, "index = the index re-derived from the catalogue"),
        _c(s2.CHECK_RNG, s2.CODE_RNG, s2.check_rng, "uniforms = 3 + 6N per merchant, per family"),
        _c(s2.CHECK_HETEROGENEITY, s2.CODE_HETEROGENEITY, s2.check_heterogeneity,
           "edge counts vary and rise with merchant size (≥ min_virtual_merchants)"),
    ),
    description="merchant-conditioned edge catalogue with distance-aware capacity weights",
)

S3 = StateSpec(
    segment=SEGMENT, state="S3", name="alias",
    reads=(ds.EDGE_CATALOGUE, ds.EDGE_CATALOGUE_INDEX),
    writes=(ds.EDGE_ALIAS_BLOB, ds.EDGE_ALIAS_INDEX, ds.EDGE_UNIVERSE_HASH), run=s3.run,
    checks=(
        _c(s3.CHECK_RNG_USED, s3.CODE_RNG_USED, s3.check_rng_used, "S3 draws nothing"),
        _c(s3.CHECK_QUANTISATION, s3.CODE_QUANTISATION, s3.check_quantisation, "Σ integer masses = n·2^31"),
        _c(s3.CHECK_DISTRIBUTION, s3.CODE_DISTRIBUTION, s3.check_distribution,
           "decoded implied probabilities within 1e-9 of the weights"),
        _c(s3.CHECK_LAYOUT, s3.CODE_LAYOUT, s3.check_layout, "slices inside the blob, aligned, non-overlapping"),
        _c(s3.CHECK_CHECKSUM, s3.CODE_CHECKSUM, s3.check_checksum, "slice and blob sha256"),
        _c(s3.CHECK_COUNTS, s3.CODE_COUNTS, s3.check_counts, "header counts = index = catalogue"),
    ),
    description="fa.alias.v1 edge alias blob, its index and the edge universe hash",
)

S4 = StateSpec(
    segment=SEGMENT, state="S4", name="routing",
    reads=(ds.VIRTUAL_CLASSIFICATION, ds.EDGE_CATALOGUE_INDEX, ds.EDGE_ALIAS_INDEX, ds.EDGE_UNIVERSE_HASH),
    writes=(ds.VIRTUAL_ROUTING_POLICY, ds.VIRTUAL_VALIDATION_CONTRACT), run=s4.run,
    checks=(
        _c(s4.CHECK_INPUT_CONTRACT, s4.CODE_INPUT_CONTRACT, s4.check_input_contract,
           "S1–S3 outputs present and consistent"),
        _c(s4.CHECK_FIELD_BINDING, s4.CODE_FIELD_BINDING, s4.check_field_binding,
           "every bound field exists in the named schema"),
        _c(s4.CHECK_UNIVERSE_HASH, s4.CODE_UNIVERSE_HASH, s4.check_universe_hash, "edge_universe_hash = S3's"),
        _c(s4.CHECK_DUPLICATE_TEST, s4.CODE_DUPLICATE_TEST, s4.check_duplicate_test, "test_id unique"),
        _c(s4.CHECK_THRESHOLD, s4.CODE_THRESHOLD, s4.check_threshold, "every threshold in its domain"),
    ),
    description="routing semantics for 2B/5B and the virtual validation contract",
)

S5 = StateSpec(
    segment=SEGMENT, state="S5", name="validation",
    reads=tuple(d.id for d in DATASETS) + UPSTREAM_READS + (RNG_TRACE,)
    + REFERENCE_READS,
    writes=(), run=s5.run, validation=True,
    checks=(
        _c(s5.CHECK_S1_REPLAY, s5.CODE_S1_REPLAY, s5.check_s1_replay, "classification replay equals S1"),
        _c(s5.CHECK_SETTLEMENT_REPLAY, s5.CODE_SETTLEMENT_REPLAY, s5.check_settlement_replay,
           "settlement replay equals S1"),
        _c(s5.CHECK_S2_REPLAY, s5.CODE_S2_REPLAY, s5.check_s2_replay, "catalogue and index replay equal S2"),
        _c(s5.CHECK_RNG, s5.CODE_RNG, s5.check_rng, "RNG trace = draws implied by the outputs"),
        _c(s5.CHECK_ALIAS, s5.CODE_ALIAS, s5.check_alias, "alias slices decode to the edge weights"),
        _c(s5.CHECK_UNIVERSE, s5.CODE_UNIVERSE, s5.check_universe, "universe hash recomputed"),
        _c(s5.CHECK_ROUTING, s5.CODE_ROUTING, s5.check_routing, "routing policy ↔ S3; S4 replay"),
        _c(s5.CHECK_REALISM, s5.CODE_REALISM, s5.check_realism,
           "realism gates of the contract (ERROR in enforce mode, WARN in observe mode)"),
        _c(s5.CHECK_STATE_CHECKS, s5.CODE_STATE_CHECKS, s5.check_state_checks,
           "every S0–S4 check re-evaluated on the written data"),
    ),
    description="3B validation bundle",
)

STATES: list[StateSpec] = [S0, S1, S2, S3, S4, S5]

__all__ = ["CONFIG_MODEL", "DATASETS", "RNG_TRACE", "STATES", "load_config"]
