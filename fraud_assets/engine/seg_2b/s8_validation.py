"""2B S8 — validation bundle (spec/engine/2B.md, "S8"; FS, read-only over S0–S7).

If S7's report is not PASS the bundle holds only `s8_gate.json` (`passed: false`, `2B-S8-001
S7_NOT_PASS`) and the S7 report, so the runner writes no `_passed.flag`. Otherwise it returns
(the runner adds `index.json`, `datasets.json` — sha256 of every published 2B file — and
`_passed.flag`, and reports `hashgate_2B`, the spec's `2B-S8-003 FLAG_DIGEST_MISMATCH`):

* `evidence/<check_id>.json` — every S7 check; `evidence/state_<check>.json` — every state check of
  S0–S6 re-evaluated on the written data (`2B-S8-004`, not in the spec: a re-evaluated check failed);
* `s7_audit_report.json`, `s2_alias_manifest.json`, `s5_router_manifest.json`, `s6_virtual_manifest.json`;
* `rng_trace_summary.json` — the trace rows reconciled against S7's `rng_expected` (`2B-S7-402`:
  the runner hands the trace to the validation state only, so the total reconciliation lives here);
* `egress_checksums.json` — rows, content digest and Parquet sha256 of `s1_site_weights`, `s2_*`,
  `s4_group_weights`, `s6_virtual_routing_plan`;
* `summary.json`. A bundle missing a required document is `2B-S8-002 BUNDLE_INCOMPLETE`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from fraud_assets.core.canonical import sha256_hex
from fraud_assets.core.digest import content_digest
from fraud_assets.core.store import parquet_bytes
from fraud_assets.engine.common.checks import rng_accounting
from fraud_assets.engine.seg_2b import common
from fraud_assets.engine.seg_2b import datasets as ds
from fraud_assets.engine.state import CheckOutcome, StateContext, StateResult

CODE_S7_NOT_PASS = "2B-S8-001"
CODE_BUNDLE_INCOMPLETE = "2B-S8-002"
CODE_FLAG_DIGEST_MISMATCH = "2B-S8-003"  # the runner's hashgate_2B
CODE_STATE_CHECK_FAILED = "2B-S8-004"
CODE_RNG = "2B-S7-402"

CHECK_S7_PASS = "s7_pass_2B"
CHECK_BUNDLE = "bundle_complete_2B"
CHECK_STATE_CHECKS = "state_checks_2B"
CHECK_RNG = "rng_trace_2B"

EVIDENCE = "evidence/"
GATE_DOC = "s8_gate.json"
SUMMARY = "summary.json"
RNG_DOC = "rng_trace_summary.json"
REQUIRED = ("s7_audit_report.json", "s2_alias_manifest.json", "s5_router_manifest.json", "s6_virtual_manifest.json",
            RNG_DOC, "egress_checksums.json", SUMMARY)
EGRESS = (ds.S1_SITE_WEIGHTS, ds.S2_ALIAS_INDEX, ds.S2_ALIAS_BLOB, ds.S4_GROUP_WEIGHTS, ds.S6_PLAN)


def written(inputs: Mapping[str, Any], dataset_id: str) -> Any:
    return common.json_input(inputs[dataset_id]) if dataset_id in ds.JSON_IDS else inputs[dataset_id]


def recheck_states(inputs: Mapping[str, Any], ctx: StateContext) -> dict[str, dict]:
    """Every S0–S6 CheckSpec re-evaluated on the written outputs (S0 on its receipt)."""
    from fraud_assets.engine.seg_2b.catalogue import STATES  # the catalogue imports this module

    docs: dict[str, dict] = {}
    for spec in STATES:
        if spec.state in ("S7", "S8"):
            continue
        result = StateResult(outputs={d: written(inputs, d) for d in spec.writes if d in inputs},
                             rng=[common.tally(r["family"], r["keys"], r["draws"], r["blocks"])
                                  for r in _trace(inputs).filter(pl.col("state") == spec.state).to_dicts()])
        sub = {k: inputs[k] for k in spec.reads if k in inputs}
        for chk in spec.checks:
            def evaluate(chk=chk) -> dict:  # noqa: ANN001
                res: CheckOutcome = chk.fn(result, sub, ctx)
                return common.doc(chk.name, CODE_STATE_CHECK_FAILED, "PASS" if res.passed else "FAIL",
                                  metric={"checked": res.evidence.get("checked"), "failed": res.evidence.get("failed")},
                                  first_keys=res.evidence.get("first_keys", []), state=spec.state,
                                  check_code=chk.code, evidence=res.evidence)
            docs[f"{EVIDENCE}state_{chk.name}.json"] = common.guard(chk.name, CODE_STATE_CHECK_FAILED, evaluate)
    return docs


def _trace(inputs: Mapping[str, Any]) -> pl.DataFrame:
    trace = inputs.get(ds.RNG_TRACE)
    if not isinstance(trace, pl.DataFrame):
        return pl.DataFrame(schema={"state": pl.String, "family": pl.String, "keys": pl.Int64, "draws": pl.Int64,
                                    "blocks": pl.Int64})
    return trace


def rng_doc(inputs: Mapping[str, Any], report: dict) -> dict:
    """The trace against the declared families and the totals S7 derived from the outputs
    (`engine.common.checks.rng_accounting`, the one RNG accounting law)."""
    from fraud_assets.engine.seg_2b.catalogue import STATES  # the catalogue imports this module

    declared = {s.state: tuple(s.rng_families) for s in STATES if s.rng_families}
    implied = {r["family"]: {"keys": r["keys"], "draws": r["draws"], "blocks": r["blocks"]}
               for r in report.get("rng_expected", [])}
    problems, by_family = rng_accounting(_trace(inputs), dict.fromkeys(declared), declared, implied)
    return common.doc("rng_trace", CODE_RNG, "FAIL" if problems else "PASS",
                      metric={"families": len(implied), "failed": len(problems)}, first_keys=problems,
                      trace=by_family, implied=implied)


def egress(inputs: Mapping[str, Any]) -> dict:
    out = {}
    for dataset_id in EGRESS:
        value = inputs[dataset_id]
        if dataset_id == ds.S2_ALIAS_BLOB:
            blob = common.blob_bytes(value, dataset_id)
            out[dataset_id] = {ds.ALIAS_BLOB_FILE: {"sha256": sha256_hex(blob), "bytes": len(blob)}}
            continue
        out[dataset_id] = {"rows": value.height, "parquet_sha256": sha256_hex(parquet_bytes(value)),
                           "content_digest": content_digest(value, value.columns, list(ds.SORT[dataset_id]))}
    out["note"] = "per-file sha256 of every published 2B file: datasets.json (written by the runner)"
    return out


def run(inputs: Mapping[str, Any], ctx: StateContext) -> StateResult:
    w = ctx.world
    report = common.json_input(inputs[ds.S7_REPORT])
    checks = [common.unpack_doc(c) for c in report.get("checks", [])]
    report = {**report, "checks": checks}
    docs: dict[str, dict] = {"s7_audit_report.json": common.jsonable(report)}
    if report.get("overall_status") != "PASS":
        failed = sorted(c.get("code") for c in report.get("checks", []) if c.get("status") == "FAIL")
        docs[GATE_DOC] = common.doc("s7_pass", CODE_S7_NOT_PASS, "FAIL", first_keys=failed,
                                    overall_status=report.get("overall_status"))
        return StateResult(outputs={}, bundle=docs, report={"passed": False, "s7_failed": failed})
    docs[GATE_DOC] = common.doc("s7_pass", CODE_S7_NOT_PASS, "PASS", overall_status="PASS")
    for c in checks:
        docs[f"{EVIDENCE}{c['code']}.json"] = c
    docs.update(recheck_states(inputs, ctx))
    docs["s2_alias_manifest.json"] = written(inputs, ds.S2_ALIAS_MANIFEST)
    docs["s5_router_manifest.json"] = written(inputs, ds.S5_ROUTER_MANIFEST)
    docs["s6_virtual_manifest.json"] = written(inputs, ds.S6_MANIFEST)
    docs[RNG_DOC] = rng_doc(inputs, report)
    docs["egress_checksums.json"] = common.jsonable(egress(inputs))
    failed = sorted(n for n, d in docs.items() if d.get("passed") is False)
    docs[SUMMARY] = common.jsonable({
        "segment": ds.SEGMENT, "passed": not failed, "failed": failed,
        "failed_codes": sorted({docs[n].get("code") for n in failed}), "documents": len(docs) + 1,
        "manifest_fingerprint": w.manifest_fingerprint, "parameter_hash": w.parameter_hash, "seed": w.seed,
        "preset": w.preset.name, "registered_utc": w.registered_utc,
        "realism": {"status": next((c.get("status") for c in report.get("checks", [])
                                    if c.get("code") == "2B-S7-430"), None),
                    "metrics": report.get("metrics")},
    })
    return StateResult(outputs={}, bundle=docs, report=common.jsonable(
        {"passed": not failed, "failed": failed, "documents": len(docs)}))


# ---- checks ---------------------------------------------------------------------------------------


def check_s7_pass(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    return common.from_doc((result.bundle or {}).get(GATE_DOC), CODE_S7_NOT_PASS)


def check_bundle(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    docs = result.bundle or {}
    missing = [n for n in (*REQUIRED, GATE_DOC) if n not in docs]
    s7 = docs.get("s7_audit_report.json", {})
    missing += [f"{EVIDENCE}{c['code']}.json" for c in s7.get("checks", []) if f"{EVIDENCE}{c['code']}.json" not in docs]
    return common.outcome(CODE_BUNDLE_INCOMPLETE, missing, len(REQUIRED), documents=len(docs))


def check_state_checks(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    docs = {n: d for n, d in (result.bundle or {}).items() if n.startswith(f"{EVIDENCE}state_")}
    failed = sorted(n for n, d in docs.items() if d.get("passed") is False)
    return common.outcome(CODE_STATE_CHECK_FAILED, failed, len(docs),
                          failed_codes=sorted({docs[n].get("check_code") for n in failed}))


def check_rng(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    return common.from_doc((result.bundle or {}).get(RNG_DOC), CODE_RNG)
