"""3A S7 — validation bundle (spec/engine/3A.md, "S7"; FS; the segment's `validation=True` state).

Returns `StateResult.bundle`; the runner writes `index.json` (every bundle file with its
sha256, ASCII-lex order), `datasets.json` (the sha256 of every file 3A published) and
`_passed.flag` (only when no document says `passed: false`) and reports `hashgate_3A`
(the on-disk flag recompute: spec `3A-S7-003`). Documents:

* `evidence/<check_id>__<name>.json` — one per check of the S6 report (status, severity,
  metric, threshold, first keys); a FAIL is `passed: false`;
* `rng_trace_summary.json` — the runner's RNG trace (`rng_trace_3A`) reconciled per
  (state, family) against S6's replayed tallies (`3A-S3-005 RNG_ACCOUNTING`);
* `zone_alloc_universe_hash.json` — S5's routing-universe hash document;
* `s7_status.json` — `3A-S7-001 S6_NOT_PASS` when S6's `overall_status` is not PASS: the
  flag is withheld (the evidence is still written, so the failure is inspectable);
* `summary.json`.

Checks: `3A-S7-001`, `3A-S7-002` (every report check and the fixed members present),
`3A-S7-003` (the flag computed from these documents is reproducible and present iff every
document passed; the runner's `hashgate_3A` recomputes it from the written files),
`3A-S3-005` (trace reconciliation).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from fraud_assets.core import gates
from fraud_assets.engine.seg_3a import common
from fraud_assets.engine.seg_3a import datasets as ds
from fraud_assets.engine.seg_3a import s6_validation as s6
from fraud_assets.engine.state import CheckOutcome, StateContext, StateResult

CODE_S6_NOT_PASS = "3A-S7-001"
CODE_MEMBERS_MISSING = "3A-S7-002"
CODE_FLAG = "3A-S7-003"
CODE_RNG_TRACE = "3A-S3-005"

CHECK_S6_PASS = "s7_s6_passed"
CHECK_MEMBERS = "s7_bundle_members"
CHECK_FLAG = "s7_bundle_flag"
CHECK_RNG_TRACE = "s7_rng_trace_reconciliation"

EVIDENCE = "evidence/"
RNG_SUMMARY = "rng_trace_summary.json"
UNIVERSE_DOC = "zone_alloc_universe_hash.json"
STATUS_DOC = "s7_status.json"
SUMMARY = "summary.json"
FIXED_MEMBERS = (RNG_SUMMARY, UNIVERSE_DOC, STATUS_DOC, SUMMARY)


def evidence_name(check: Mapping) -> str:
    return f"{EVIDENCE}{check['check_id']}__{check['name']}.json"


def trace_reconciliation(trace: pl.DataFrame | None, expected: list[dict]) -> dict:
    """Per (state, family): the trace's keys/draws/blocks against S6's replay; absent rows differ."""
    got = {} if trace is None else {(r["state"], r["family"]): (r["keys"], r["draws"], r["blocks"])
                                    for r in trace.iter_rows(named=True)}
    want = {(e["state"], e["family"]): (e["keys"], e["draws"], e["blocks"]) for e in expected}
    rows, bad = [], []
    for key in sorted(set(got) | set(want)):
        g, e = got.get(key), want.get(key)
        ok = g == e
        rows.append({"state": key[0], "family": key[1], "trace": list(g) if g else None,
                     "replay": list(e) if e else None, "equal": ok})
        if not ok:
            bad.append(f"{key[0]}|{key[1]}|trace={g}|replay={e}")
    return {"check": CHECK_RNG_TRACE, "code": CODE_RNG_TRACE, "passed": not bad and bool(want),
            "families": rows, "mismatches": bad, "trace_rows": len(got)}


def run(inputs: Mapping[str, Any], ctx: StateContext) -> StateResult:
    w = ctx.world
    report = common.json_input(inputs[ds.S6_REPORT])
    issues = inputs[ds.S6_ISSUES]
    docs: dict[str, dict] = {}
    for c in report.get("checks", []):
        docs[evidence_name(c)] = {**common.jsonable(c), "code": c["check_id"], "passed": c["status"] != s6.FAIL}
    docs[RNG_SUMMARY] = trace_reconciliation(inputs.get(ds.RNG_TRACE), report.get("expected_rng", []))
    docs[UNIVERSE_DOC] = common.jsonable(common.json_input(inputs[ds.UNIVERSE_HASH]))
    s6_status = report.get("overall_status")
    docs[STATUS_DOC] = {"code": CODE_S6_NOT_PASS, "passed": s6_status == s6.PASS, "s6_overall_status": s6_status}
    failed = sorted(n for n, d in docs.items() if d.get("passed") is False)
    docs[SUMMARY] = common.jsonable({
        "segment": ds.SEGMENT, "passed": not failed, "failed": failed,
        "failed_codes": sorted({docs[n].get("code") for n in failed}), "documents": len(docs) + 1,
        "manifest_fingerprint": w.manifest_fingerprint, "parameter_hash": w.parameter_hash, "seed": w.seed,
        "preset": w.preset.name, "registered_utc": w.registered_utc, "s6_overall_status": s6_status,
        "check_counts": report.get("counts"), "issues": issues.height,
        "routing_universe_hash": docs[UNIVERSE_DOC].get("routing_universe_hash"),
        "realism": {k: (report.get("realism") or {}).get(k) for k in ("enforced", "samples_ok", "failed_gates",
                                                                       "warned_gates", "skipped_gates")},
        "metrics": report.get("metrics"),
    })
    meta = {"passed": not failed, "failed": failed, "documents": len(docs), "s6_overall_status": s6_status,
            "rng_trace_equal": docs[RNG_SUMMARY]["passed"],
            "routing_universe_hash": docs[UNIVERSE_DOC].get("routing_universe_hash")}
    return StateResult(outputs={}, report=common.jsonable(meta), bundle=docs)


# ---- checks: read the bundle ---------------------------------------------------------------------------


def check_s6_pass(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    doc = (result.bundle or {}).get(STATUS_DOC)
    if doc is None:
        return CheckOutcome(False, {"code": CODE_S6_NOT_PASS, "missing": [STATUS_DOC]})
    return common.outcome(CODE_S6_NOT_PASS, [] if doc["passed"] else [f"S6 {doc['s6_overall_status']}"], 1)


def check_members(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    docs = result.bundle or {}
    report = common.json_input(inputs[ds.S6_REPORT])
    wanted = [evidence_name(c) for c in report.get("checks", [])] + list(FIXED_MEMBERS)
    missing = sorted(n for n in wanted if n not in docs)
    if not report.get("checks"):
        missing.append("s6 report lists no checks")
    return common.outcome(CODE_MEMBERS_MISSING, missing, len(wanted))


def check_flag(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    docs = result.bundle or {}
    header = {"segment": ds.SEGMENT, "manifest_fingerprint": ctx.world.manifest_fingerprint, "seed": ctx.world.seed}
    a, passed_a = gates.build_bundle(docs, header)
    b, passed_b = gates.build_bundle(docs, header)
    bad = []
    if a != b or passed_a != passed_b:
        bad.append("bundle bytes are not reproducible")
    all_passed = all(d.get("passed", True) is not False for d in docs.values())
    if (gates.FLAG in a) != all_passed:
        bad.append("flag presence disagrees with the documents")
    if gates.FLAG in a:
        indexed = sorted(n for n in a if n not in (gates.INDEX, gates.FLAG))
        if a[gates.FLAG].decode().strip() != gates.flag_digest([a[n] for n in indexed]):
            bad.append("flag differs from the indexed bytes")
    return common.outcome(CODE_FLAG, bad, 1, note="on-disk recompute: hashgate_3A", flag_written=gates.FLAG in a)


def check_rng_trace(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    doc = (result.bundle or {}).get(RNG_SUMMARY)
    if doc is None:
        return CheckOutcome(False, {"code": CODE_RNG_TRACE, "missing": [RNG_SUMMARY]})
    bad = list(doc.get("mismatches") or []) + ([] if doc.get("families") else ["no replayed families"])
    return common.outcome(CODE_RNG_TRACE, bad, len(doc.get("families") or []))
