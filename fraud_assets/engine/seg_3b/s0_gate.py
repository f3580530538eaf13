"""3B S0 — gate and seal (spec/engine/3B.md, "S0"; no rows of 3B, no RNG).

The runner does the protocol of the gate: identity recompute (`E_FINGERPRINT_MISMATCH`),
1A's `_passed.flag` recomputed before anything of 1A is read (`E_NO_PASS_NO_READ`, the
spec's `3B-S0-001 UPSTREAM_GATE_FAILED`), and the sealing of every input any 3B state
reads from outside the segment (`sealed_inputs.parquet`, `s0_gate_receipt.json` with the
world's `registered_utc`); a sealed input that vanished or changed is refused at read
time. This module validates what the spec gives its own codes, as pure functions the
checks and S5 re-run:

* `3B-S0-001` — the 1A inputs read through the receipt carry the consumed contract
  (columns, dtypes) and this world's partition;
* `3B-S0-003 POLICY_SET_INCOMPLETE` — all five policy files present;
* `3B-S0-004 POLICY_SCHEMA_INVALID` — every rule MCC in `mcc_codes` (ranges filtered to
  existing codes), exactly one `default: true` rule per channel, mix rows and bucket
  probabilities summing to 1 ± 1e-9, and the value bounds of every policy;
* `3B-S0-005` — every sealed input present and non-empty; `3B-S0-006` — content digests
  of the 1A inputs recorded (S5 recomputes them); `3B-S0-007` — the summary document
  carries every field with the world's identity.

Output: `s0_gate_summary_3B` (JSON): the validation results, policy versions and digests,
the 1A input figures. A failed validation is a failed blocking check.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fraud_assets.core.errors import E_FINGERPRINT_MISMATCH
from fraud_assets.engine.seg_3b import common
from fraud_assets.engine.seg_3b import datasets as ds
from fraud_assets.engine.seg_3b.config import POLICY_FILES, Config3B, policy_digest
from fraud_assets.engine.seg_3b.policy import (
    input_digests,
    missing_policies,
    policy_problems,
    summary_problems,
    upstream_problems,
)
from fraud_assets.engine.state import CheckOutcome, StateContext, StateResult

CODE_UPSTREAM = "3B-S0-001"
CODE_POLICY_INCOMPLETE = "3B-S0-003"
CODE_POLICY_SCHEMA = "3B-S0-004"
CODE_INPUT_MISSING = "3B-S0-005"
CODE_INPUT_DIGEST = "3B-S0-006"
CODE_RECEIPT_SCHEMA = "3B-S0-007"
CODE_FINGERPRINT = E_FINGERPRINT_MISMATCH

CHECK_UPSTREAM = "upstream_1A_contract_3B"
CHECK_POLICY_INCOMPLETE = "policy_set_complete_3B"
CHECK_POLICY_SCHEMA = "policy_schema_valid_3B"
CHECK_INPUT_MISSING = "sealed_inputs_present_3B"
CHECK_INPUT_DIGEST = "sealed_inputs_digest_3B"
CHECK_RECEIPT_SCHEMA = "gate_summary_schema_3B"
CHECK_WORLD_IDENTITY = "world_identity_3B"

# ---- run ------------------------------------------------------------------------------------------


def run(inputs: Mapping[str, Any], ctx: StateContext) -> StateResult:
    cfg: Config3B = ctx.config
    w = ctx.world
    mcc = inputs.get(ds.REF_MCC)
    known = frozenset(mcc.get_column("mcc").to_list()) if mcc is not None and mcc.height else frozenset()
    checks: dict[str, dict] = {}

    def record(code: str, problems: list[str], **figures: Any) -> None:
        checks[code] = common.jsonable({"passed": not problems, "problems": problems[:20],
                                        "problem_count": len(problems), **figures})

    record(CODE_UPSTREAM, upstream_problems(inputs, ctx))
    record(CODE_POLICY_INCOMPLETE, missing_policies(cfg), files=list(POLICY_FILES))
    record(CODE_POLICY_SCHEMA, policy_problems(cfg, known), known_mccs=len(known),
           rules=len(cfg.virtual_rules.rules) if cfg.virtual_rules else 0)
    absent = [i for i in (ds.MERCHANT_IDS, ds.OUTLET_CATALOGUE, ds.REF_MCC)
              if inputs.get(i) is None or inputs[i].height == 0]
    record(CODE_INPUT_MISSING, [f"{i} missing or empty" for i in absent])
    digests = input_digests(inputs)
    record(CODE_INPUT_DIGEST, [f"{k}: no digest" for k, v in digests.items() if v["content_digest"] is None])
    doc = common.jsonable({
        "segment": ds.SEGMENT, "manifest_fingerprint": w.manifest_fingerprint, "parameter_hash": w.parameter_hash,
        "seed": w.seed, "preset": w.preset.name, "registered_utc": w.registered_utc,
        "checks": checks,
        "policy_versions": {n: getattr(getattr(cfg, n), "version", None) for n in POLICY_FILES},
        "policy_digests": {n: policy_digest(getattr(cfg, n)) for n in POLICY_FILES},
        "inputs": digests,
        "passed": all(c["passed"] for c in checks.values()),
    })
    report = {"passed": doc["passed"], "failed_codes": sorted(k for k, c in checks.items() if not c["passed"]),
              "merchants": digests[ds.MERCHANT_IDS]["rows"], "outlets": digests[ds.OUTLET_CATALOGUE]["rows"],
              "rules": len(cfg.virtual_rules.rules) if cfg.virtual_rules else 0}
    return StateResult(outputs={ds.S0_GATE_SUMMARY: doc}, report=report)


# ---- checks ---------------------------------------------------------------------------------------


def _summary_check(code: str):
    def check(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
        doc = result.outputs.get(ds.S0_GATE_SUMMARY)
        if not isinstance(doc, dict) or code not in doc.get("checks", {}):
            return common.missing_output(code, ds.S0_GATE_SUMMARY)
        entry = doc["checks"][code]
        return common.outcome(code, entry.get("problems", []), 1,
                              **{k: v for k, v in entry.items() if k not in ("problems", "passed")})
    check.__name__ = f"check_{code.replace('-', '_')}"
    return check


check_upstream = _summary_check(CODE_UPSTREAM)
check_policy_incomplete = _summary_check(CODE_POLICY_INCOMPLETE)
check_policy_schema = _summary_check(CODE_POLICY_SCHEMA)
check_input_missing = _summary_check(CODE_INPUT_MISSING)


def check_input_digest(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    """`3B-S0-006`: the recorded digests equal the digests of the inputs as read."""
    doc = result.outputs.get(ds.S0_GATE_SUMMARY)
    if not isinstance(doc, dict):
        return common.missing_output(CODE_INPUT_DIGEST, ds.S0_GATE_SUMMARY)
    again = input_digests(inputs)
    bad = [k for k, v in again.items() if v["content_digest"] is None
           or (doc.get("inputs") or {}).get(k, {}).get("content_digest") != v["content_digest"]]
    return common.outcome(CODE_INPUT_DIGEST, bad, len(again), digests=again)


def check_receipt_schema(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    return common.outcome(CODE_RECEIPT_SCHEMA, summary_problems(result.outputs.get(ds.S0_GATE_SUMMARY), ctx), 1)


def check_world_identity(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    """The runner recomputed identity before S0 ran (and fails closed there); the recomputed values it hands
    over must equal the world's."""
    recomputed = ctx.exec_settings.get("recomputed_identity")
    if recomputed is None:
        return common.outcome(CODE_FINGERPRINT, [], 0, note="identity recomputed by the runner's S0 gate")
    bad = [k for k in ("parameter_hash", "manifest_fingerprint") if recomputed.get(k) != getattr(ctx.world, k)]
    return common.outcome(CODE_FINGERPRINT, bad, 2)
