"""Every platform id recipe, implemented once (ARCHITECTURE §3, §13; INTEGRATION (c)).

Sources: control_ingress §2.1 (run, oracle, WSP, IG ids), rtdl §2.2, §3, §6, §10.1 (decision, intent,
outcome, audit, anomaly, graph version, posture ids), cases_learning "Id recipes" (case, trigger,
timeline, label, OFS/MF/registry ids).

Two hashing conventions exist and both are kept literally:

* control_ingress / rtdl: ``H(tag, *parts) = sha256_hex(canonical_json([tag, *parts]))``,
  ``hex32(x) = x[:32]``. A recipe written ``H(x)`` without a tag (``H(sorted policy_revs)``,
  ``H(offsets)``) is ``sha256_hex(canonical_json([x]))`` under that definition.
* cases_learning: ``H(obj) = sha256_hex(canonical_json(obj))`` where obj is a dict carrying a
  ``recipe`` string (`h_obj` here).

Every id is a deterministic hash of its inputs; nothing here is random (the only random values of the
platform, IG `attempt_id` and SR `lease_token`, never appear in evidence and are not defined here).
Pins are accepted as `ContextPins` or a mapping and hashed as the canonical six-key object.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fraud_assets.core.canonical import canonical_json, sha256_hex
from fraud_assets.platform.contracts.envelope import ContextPins, EbRef, pins_dict
from fraud_assets.platform.contracts.topics import TRAFFIC_OUTPUT_BY_MODE

# ---------------------------------------------------------------------------------------------
# primitives


def H(tag: str, *parts: Any) -> str:  # noqa: N802 - the spec's name
    """``sha256_hex(canonical_json([tag, *parts]))`` (hex64)."""
    return sha256_hex(canonical_json([tag, *parts]))


def hex32(digest: str) -> str:
    return digest[:32]


def h_obj(obj: Mapping[str, Any]) -> str:
    """cases_learning's ``H(obj)``: sha256 hex of the canonical JSON of a recipe object."""
    return sha256_hex(canonical_json(obj))


def _pins(pins: ContextPins | Mapping[str, Any]) -> dict[str, Any]:
    return pins_dict(pins)


def _origin(origin: EbRef | Sequence[Any]) -> list[Any]:
    if isinstance(origin, EbRef):
        return [origin.topic, origin.partition, origin.offset_value]
    topic, partition, offset_value = origin
    return [topic, partition, offset_value]


# ---------------------------------------------------------------------------------------------
# Scenario Runner (control_ingress §2.1, §3)

RUN_EQUIVALENCE_KEY_RE = re.compile(r"^[A-Za-z0-9_.:|-]{1,256}$")


def intent_fingerprint(
    *,
    manifest_fingerprint: str,
    parameter_hash: str,
    seed: int,
    scenario_id: str,
    traffic_mode: str,
    window: Mapping[str, Any] | None,
    selection: Mapping[str, Any] | None,
) -> str:
    """Pacing, labels and notes are non-semantic and excluded."""
    return H(
        "fa.sr.intent.v1",
        {
            "manifest_fingerprint": manifest_fingerprint,
            "parameter_hash": parameter_hash,
            "seed": seed,
            "scenario_id": scenario_id,
            "traffic_mode": traffic_mode,
            "window": window,
            "selection": selection,
        },
    )


def check_run_equivalence_key(key: str) -> str:
    """1–256 chars of ``[A-Za-z0-9_.:-]`` and the bar; raises ValueError otherwise."""
    if not isinstance(key, str) or not RUN_EQUIVALENCE_KEY_RE.match(key):
        raise ValueError(f"run_equivalence_key must match {RUN_EQUIVALENCE_KEY_RE.pattern}: {key!r}")
    return key


def default_run_equivalence_key(
    manifest_fingerprint: str, seed: int, scenario_id: str, traffic_mode: str, run_label: str = "r1"
) -> str:
    return check_run_equivalence_key(
        "|".join([manifest_fingerprint, str(seed), scenario_id, traffic_mode, run_label])
    )


def scenario_run_id(run_equivalence_key: str) -> str:
    return hex32(H("fa.sr.scenario_run_id.v1", check_run_equivalence_key(run_equivalence_key)))


def platform_run_id(run_equivalence_key: str) -> str:
    """``pr_`` + 20 hex; also the Dagster partition key."""
    return "pr_" + H("fa.sr.platform_run_id.v1", check_run_equivalence_key(run_equivalence_key))[:20]


def plan_hash(plan: Mapping[str, Any]) -> str:
    return H("fa.sr.plan.v1", {k: v for k, v in plan.items() if k != "plan_hash"})


EVIDENCE_FIELDS = (
    "world",
    "scenario",
    "window",
    "selection",
    "outputs",
    "label_oracle",
    "gate_receipts",
    "oracle_pack",
)


def evidence_digest(facts: Mapping[str, Any]) -> str:
    """Over the non-volatile facts fields (excludes `start_offsets` and `registry`)."""
    return H("fa.sr.evidence.v1", {k: facts[k] for k in EVIDENCE_FIELDS})


def ready_message_id(platform_run_id: str, scenario_run_id: str, facts_view_sha256: str) -> str:
    return H("fa.sr.ready.v1", platform_run_id, scenario_run_id, facts_view_sha256)


def ready_event_id(message_id: str, reemit_seq: int = 0) -> str:
    """First READY: ``event_id = message_id``; re-emit n ≥ 1: ``H("fa.sr.ready_reemit.v1", message_id, n)``."""
    if reemit_seq < 0:
        raise ValueError("reemit_seq must be >= 0")
    return message_id if reemit_seq == 0 else H("fa.sr.ready_reemit.v1", message_id, reemit_seq)


def sr_record_id(scenario_run_id: str, event_kind: str, discriminator: Any) -> str:
    """``hex32(H(scenario_run_id, event_kind, discriminator))`` (sr_run_record)."""
    return hex32(H(scenario_run_id, event_kind, discriminator))


def policy_rev(file_digests: Mapping[str, str]) -> str:
    """``H(sorted (name, sha256))`` over config files (IG policy_rev)."""
    return H(sorted([name, digest] for name, digest in file_digests.items()))


def platform_config_digest(policy_revs: Mapping[str, str]) -> str:
    """``H(sorted policy_revs)``: the run facts' `config.platform_config_digest`."""
    return policy_rev(policy_revs)


# ---------------------------------------------------------------------------------------------
# Oracle Store (control_ingress §2.1, §4)


def oracle_pack_id(
    manifest_fingerprint: str,
    parameter_hash: str,
    seed: int,
    scenario_id: str,
    engine_contract_version: str,
    catalogue_digest: str,
) -> str:
    return H(
        "fa.oracle.pack.v1",
        manifest_fingerprint,
        parameter_hash,
        seed,
        scenario_id,
        engine_contract_version,
        catalogue_digest,
    )


def stream_view_id(
    oracle_pack_id: str,
    output_id: str,
    sort_keys: Sequence[str],
    source_dataset_digest: str,
    view_format: str = "v1",
) -> str:
    """No physical path inside: a local and an S3 root give the same id."""
    return H(
        "fa.oracle.stream_view.v1",
        oracle_pack_id,
        output_id,
        list(sort_keys),
        source_dataset_digest,
        view_format,
    )


def dataset_digest(files: Iterable[tuple[str, str, int]]) -> str:
    """``H("fa.dataset_digest.v1", sorted [(relative_path, sha256, bytes)])``."""
    return H("fa.dataset_digest.v1", sorted([str(p), str(s), int(b)] for p, s, b in files))


# ---------------------------------------------------------------------------------------------
# WSP / engine events (control_ingress §2.1, §5; cases_learning subject events)

_ENGINE_TAG = "fa.engine_event_id.v1"


def engine_event_id(output_id: str, pk: Sequence[Any], pins: ContextPins | Mapping[str, Any]) -> str:
    """``H("fa.engine_event_id.v1", output_id, mf, parameter_hash, seed, scenario_id, [pk...])``.

    Excludes `platform_run_id`: the same world event has the same id in every run.
    """
    p = _pins(pins)
    return H(
        _ENGINE_TAG,
        output_id,
        p["manifest_fingerprint"],
        p["parameter_hash"],
        p["seed"],
        p["scenario_id"],
        list(pk),
    )


def engine_event_ids(
    output_id: str, pks: Iterable[Sequence[Any]], pins: ContextPins | Mapping[str, Any]
) -> list[str]:
    """`engine_event_id` for many rows of one output (shared prefix; equal to the scalar recipe)."""
    p = _pins(pins)
    head = canonical_json(
        [_ENGINE_TAG, output_id, p["manifest_fingerprint"], p["parameter_hash"], p["seed"], p["scenario_id"]]
    )
    prefix = head[:-1] + b","
    sha = hashlib.sha256
    out = []
    for pk in pks:
        if all(type(v) is int for v in pk):
            tail = ("[" + ",".join(map(str, pk)) + "]]").encode()
        else:
            tail = canonical_json(list(pk)) + b"]"
        out.append(sha(prefix + tail).hexdigest())
    return out


def subject_event_id(pins: ContextPins | Mapping[str, Any], flow_id: int, traffic_mode: str) -> str:
    """A flow's subject event: its `event_seq = 0` traffic event of the run's traffic output."""
    return engine_event_id(TRAFFIC_OUTPUT_BY_MODE[traffic_mode], (int(flow_id), 0), pins)


def stream_end_event_id(platform_run_id: str, message_id: str) -> str:
    return H("fa.wsp.stream_end.v1", platform_run_id, message_id)


# ---------------------------------------------------------------------------------------------
# Ingestion Gate (control_ingress §2.1, §6)


def receipt_id(platform_run_id: str, event_class: str, event_id: str, decision: str, seq: int) -> str:
    """`seq` = 0 for ADMIT, n-th duplicate for DUPLICATE, quarantine ordinal for QUARANTINE."""
    return hex32(H("fa.ig.receipt.v1", platform_run_id, event_class, event_id, decision, seq))


def quarantine_id(
    *,
    platform_run_id: str | None,
    producer: str,
    event_id: str | None,
    raw_bytes: bytes | None,
    reason_codes: Iterable[str],
    payload_hash: str | None,
    q_seq: int,
) -> str:
    if event_id is None and raw_bytes is None:
        raise ValueError("quarantine_id needs event_id or the raw bytes")
    subject = event_id if event_id is not None else sha256_hex(raw_bytes or b"")
    return hex32(
        H(
            "fa.ig.quarantine.v1",
            platform_run_id or "-",
            producer,
            subject,
            sorted(reason_codes),
            payload_hash or "-",
            q_seq,
        )
    )


def receipt_segment_id(receipt_ids: Iterable[str]) -> str:
    return hex32(H("fa.ig.receipt_segment.v1", sorted(receipt_ids)))


def governance_fact_id(platform_run_id: str, family: str, discriminator: Any) -> str:
    """``hex32(H(run, family, discriminator))`` (reporter governance facts)."""
    return hex32(H(platform_run_id, family, discriminator))


# ---------------------------------------------------------------------------------------------
# RTDL (rtdl §2.2, §3, §6, §10.1)


def anomaly_id(
    component: str, platform_run_id: str, reason_code: str, topic: str, partition: int, offset_value: int
) -> str:
    return hex32(H("fa.rtdl.anomaly.v1", component, platform_run_id, reason_code, topic, partition, offset_value))


def decision_id(
    platform_run_id: str,
    source_event_id: str,
    decision_scope: str,
    bundle_id: str,
    origin: EbRef | Sequence[Any],
) -> str:
    """No snapshot, basis or posture inside; `origin = [topic, partition, offset_value]`."""
    return hex32(
        H("fa.df.decision.v1", platform_run_id, source_event_id, decision_scope, bundle_id, _origin(origin))
    )


def decision_event_id(pins: ContextPins | Mapping[str, Any], source_event_id: str, decision_scope: str) -> str:
    return H("fa.df.decision_response.v1", _pins(pins), source_event_id, decision_scope)


def idempotency_key(
    pins: ContextPins | Mapping[str, Any], source_event_id: str, action_domain: str, action_key: str
) -> str:
    return H("fa.df.idem.v1", _pins(pins), source_event_id, action_domain, action_key)


def action_id(decision_id: str, action_domain: str, action_key: str) -> str:
    return hex32(H("fa.df.action.v1", decision_id, action_domain, action_key))


def intent_event_id(
    pins: ContextPins | Mapping[str, Any], source_event_id: str, action_domain: str, action_key: str
) -> str:
    return H("fa.df.action_intent.v1", _pins(pins), source_event_id, action_domain, action_key)


def outcome_id(platform_run_id: str, idempotency_key: str) -> str:
    return hex32(H("fa.al.outcome.v1", platform_run_id, idempotency_key))


def outcome_event_id(pins: ContextPins | Mapping[str, Any], idempotency_key: str) -> str:
    return H("fa.al.action_outcome.v1", _pins(pins), idempotency_key)


def audit_id(platform_run_id: str, decision_id: str) -> str:
    return hex32(H("fa.dla.audit.v1", platform_run_id, decision_id))


def _sorted_offsets(offsets: Iterable[Sequence[Any]]) -> list[list[Any]]:
    return sorted([str(t), int(p), int(o)] for t, p, o in offsets)


def ieg_stream_id(platform_run_id: str) -> str:
    return "ieg.v1::" + platform_run_id


def graph_version_id(stream_id: str, offset_kind: str, offsets: Iterable[Sequence[Any]]) -> str:
    """`offsets` = `[topic, partition, next_offset]` triples (exclusive-next), sorted here."""
    return hex32(H("fa.ieg.graph_version.v1", stream_id, offset_kind, _sorted_offsets(offsets)))


def offsets_basis_digest(offsets: Iterable[Sequence[Any]]) -> str:
    """``H(offsets)`` over the sorted `[topic, partition, next_offset]` triples."""
    return H(_sorted_offsets(offsets))


def posture_event_id(scope_key: str, posture_seq: int) -> str:
    return H("fa.dl.posture.v1", scope_key, posture_seq)


# ---------------------------------------------------------------------------------------------
# Cases and learning (cases_learning "Id recipes")


def case_id(platform_run_id: str, event_class: str, event_id: str) -> str:
    """CaseSubjectKey `(platform_run_id, event_class, event_id)` → hex32."""
    return h_obj(
        {
            "recipe": "cm.case_id.v1",
            "platform_run_id": platform_run_id,
            "event_class": event_class,
            "event_id": event_id,
        }
    )[:32]


def case_trigger_id(case_id: str, trigger_type: str, source_ref_id: str) -> str:
    return h_obj(
        {"recipe": "ct.trigger_id.v1", "case_id": case_id, "trigger_type": trigger_type, "source_ref_id": source_ref_id}
    )[:32]


def case_timeline_event_id(case_id: str, timeline_event_type: str, source_ref_id: str) -> str:
    return h_obj(
        {
            "recipe": "cm.timeline_event_id.v1",
            "case_id": case_id,
            "timeline_event_type": timeline_event_type,
            "source_ref_id": source_ref_id,
        }
    )[:32]


def label_assertion_id(case_timeline_event_id: str, platform_run_id: str, event_id: str, label_type: str) -> str:
    return h_obj(
        {
            "recipe": "ls.assertion_id.v1",
            "case_timeline_event_id": case_timeline_event_id,
            "platform_run_id": platform_run_id,
            "event_id": event_id,
            "label_type": label_type,
        }
    )[:32]


def ct_checkpoint_token(source_ref_id: str, case_trigger_id: str) -> str:
    return hashlib.sha256((source_ref_id + ":" + case_trigger_id).encode("utf-8")).hexdigest()[:32]


def ofs_request_id(
    *,
    platform_run_id: str,
    intent_kind: str,
    build_profile_digest: str,
    feature_def_digest: str,
    ls_snapshot_digest: str,
    replay_basis_digest: str,
) -> str:
    return "ofs." + h_obj(
        {
            "recipe": "ofs.request.v1",
            "platform_run_id": platform_run_id,
            "intent_kind": intent_kind,
            "build_profile_digest": build_profile_digest,
            "feature_def_digest": feature_def_digest,
            "ls_snapshot_digest": ls_snapshot_digest,
            "replay_basis_digest": replay_basis_digest,
        }
    )[:24]


def dataset_fingerprint(identity: Mapping[str, Any]) -> str:
    """``H(identity payload)`` (OFS defines the payload's fields)."""
    return h_obj(identity)


def dataset_manifest_id(dataset_fingerprint: str) -> str:
    return "dm_" + dataset_fingerprint[:32]


def mf_request_id(
    *,
    dataset_fingerprints: Iterable[str],
    training_profile_digest: str,
    governance_profile_digest: str,
    target_scope: Any,
    intent_kind: str,
) -> str:
    return "mf." + h_obj(
        {
            "recipe": "mf.request.v1",
            "dataset_fingerprints": sorted(dataset_fingerprints),
            "training_profile_digest": training_profile_digest,
            "governance_profile_digest": governance_profile_digest,
            "target_scope": target_scope,
            "intent_kind": intent_kind,
        }
    )[:24]


def train_run_key(
    *,
    dataset_fingerprints: Iterable[str],
    training_profile_digest: str,
    feature_def_digest: str,
    seed_policy: Any,
    mf_code_release_id: str,
) -> str:
    """Dataset fingerprints are sorted (a set, as in `mf_request_id`)."""
    return h_obj(
        {
            "recipe": "mf.run_key.v1",
            "dataset_fingerprints": sorted(dataset_fingerprints),
            "training_profile_digest": training_profile_digest,
            "feature_def_digest": feature_def_digest,
            "seed_policy": seed_policy,
            "mf_code_release_id": mf_code_release_id,
        }
    )


def train_run_id(train_run_key: str) -> str:
    return "mf_" + train_run_key[:24]


def mf_seed(train_run_key: str, base_seed: int = 31) -> int:
    return int(h_obj({"recipe": "mf.seed.v1", "train_run_key": train_run_key, "base_seed": base_seed})[:8], 16) % (
        2**31
    )


def bundle_id(*, train_run_key: str, model_digest: str, calibration_digest: str, policy_digest: str) -> str:
    """64 hex; `bundle_version` is ``"v1"``."""
    return h_obj(
        {
            "recipe": "mf.bundle.v1",
            "train_run_key": train_run_key,
            "model_digest": model_digest,
            "calibration_digest": calibration_digest,
            "policy_digest": policy_digest,
        }
    )


def registry_event_id(
    *,
    event_type: str,
    scope_key: Any,
    bundle_id: str,
    bundle_version: str,
    prior_active: Any,
    actor_id: str,
    evidence_digest: str,
) -> str:
    return h_obj(
        {
            "recipe": "mpr.event.v1",
            "event_type": event_type,
            "scope_key": scope_key,
            "bundle_id": bundle_id,
            "bundle_version": bundle_version,
            "prior_active": prior_active,
            "actor_id": actor_id,
            "evidence_digest": evidence_digest,
        }
    )[:32]

