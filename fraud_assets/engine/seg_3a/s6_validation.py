"""3A S6 — validation report (spec/engine/3A.md, "S6", "Realism gates"; FS, read-only over S0–S5).

Re-runs every structural check of S0–S5 on the written data, replays S1 rule e
(`3A-S1-006`, `3A-S1-007`), S3 with the same kernel and families (`3A-S3-006` values to
1e-12, `3A-S3-005` draw counts) and S4 (`3A-S4-004`) from the written inputs, and
computes the realism figures (`realism.py`). Writes:

* `s6_validation_report_3A.json`: `overall_status` (PASS unless a check FAILs),
  `checks[{check_id, name, state, status PASS|WARN|FAIL|SKIPPED, severity, affected_count,
  metric, threshold, first_keys[≤10]}]`, `metrics{}`, the realism gate table and
  `expected_rng` — the replayed per-(state, family) tallies S7 reconciles against the
  runner's RNG trace (the runner hands the trace to the validation state, S7, only);
* `s6_issue_table_3A`: one row per offending key of a failed check and per failed or
  warned realism gate.

Realism gates are blocking (`FAIL`) when `validation_policy.enforcement = enforce` and the
world has ≥ `min_escalated_pairs` escalated pairs; below that minimum every gate is
`SKIPPED` (figures still reported); under `observe` a miss is `WARN`. A check that raises is
`3A-S6-001 CHECK_EXECUTION_FAILED`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import polars as pl

from fraud_assets.engine.common import zone_canon
from fraud_assets.engine.seg_3a import common, realism
from fraud_assets.engine.seg_3a import datasets as ds
from fraud_assets.engine.seg_3a import s1_escalation as s1
from fraud_assets.engine.seg_3a import s3_zone_shares as s3
from fraud_assets.engine.seg_3a import s4_zone_counts as s4
from fraud_assets.engine.seg_3a.config import Config3A
from fraud_assets.engine.state import CheckOutcome, RngTally, StateContext, StateResult

CODE_CHECK_EXECUTION = "3A-S6-001"
CODE_STRUCTURAL = "3A-S6-002"  # not in the spec: a re-run S0–S5 structural check failed (codes in evidence)
CODE_REALISM = "3A-S6-010"  # not in the spec: the realism gates 3A-V01..V13, X02 as one check
CODE_POLICY_REPLAY = s1.CODE_POLICY_REPLAY
CODE_S1_RNG = s1.CODE_RNG_ACCOUNTING
CODE_RNG = s3.CODE_RNG_ACCOUNTING
CODE_SHARE_REPLAY = s3.CODE_REPLAY
CODE_INTEGER_REPLAY = s4.CODE_REPLAY

CHECK_STRUCTURAL = "s6_structural_rerun"
CHECK_POLICY_REPLAY = "s6_policy_replay"
CHECK_RNG = "s6_rng_replay"
CHECK_SHARE_REPLAY = "s6_share_replay"
CHECK_INTEGER_REPLAY = "s6_integerisation_replay"
CHECK_EXECUTION = "s6_check_execution"
CHECK_REALISM = "realism_3A"

PASS, WARN, FAIL, SKIPPED = "PASS", "WARN", "FAIL", "SKIPPED"
REPLAY_CODES = frozenset({s1.CODE_POLICY_REPLAY, s1.CODE_RNG_ACCOUNTING, s3.CODE_RNG_ACCOUNTING, s3.CODE_REPLAY,
                          s4.CODE_REPLAY})
ISSUE_LIMIT = 1000


def _entry(check_id: str, name: str, state: str, passed: bool | None, *, severity: str = "ERROR",
           affected: int = 0, metric: float | None = None, threshold: str | None = None,
           first_keys: list | None = None, status: str | None = None, error: str | None = None) -> dict:
    if status is None:
        status = PASS if passed else (FAIL if severity == "ERROR" else WARN)
    return {"check_id": check_id, "name": name, "state": state, "status": status, "severity": severity,
            "affected_count": int(affected), "metric": None if metric is None else float(metric),
            "threshold": threshold, "first_keys": [str(k) for k in (first_keys or [])[:common.FIRST_KEYS]],
            "error": error}


def _guard(check_id: str, name: str, state: str, fn: Callable[[], dict]) -> dict:
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - a check that cannot run is a failed check, with its reason
        return _entry(CODE_CHECK_EXECUTION, name, state, False, error=f"{check_id}: {type(exc).__name__}: {exc}"[:500])


def _from_outcome(spec_state: str, name: str, code: str, res: CheckOutcome) -> dict:
    ev = res.evidence
    return _entry(code, name, spec_state, res.passed, severity=res.severity, affected=ev.get("failed", 0) or 0,
                  metric=float(ev.get("failed", 0) or 0), threshold="0 offending keys",
                  first_keys=ev.get("first_keys", []))


def _problems_entry(code: str, name: str, state: str, problems: list, total: int) -> dict:
    return _entry(code, name, state, not problems, affected=len(problems), metric=float(len(problems)),
                  threshold="0 offending keys", first_keys=problems)


# ---- written outputs as a state produced them -------------------------------------------------------


def written(inputs: Mapping[str, Any], dataset_id: str) -> Any:
    return common.json_input(inputs[dataset_id]) if dataset_id in ds.JSON_IDS else inputs[dataset_id]


def structural_rerun(inputs: Mapping[str, Any], ctx: StateContext) -> list[dict]:
    """Every S0–S5 CheckSpec except the replays (S6 runs those once, below) on the written data."""
    from fraud_assets.engine.seg_3a.catalogue import (
        STATES,  # the catalogue imports this module
    )

    out = []
    for spec in STATES:
        if spec.state in ("S6", "S7"):
            continue
        sub = {k: inputs[k] for k in spec.reads if k in inputs}
        result = StateResult(outputs={d: written(inputs, d) for d in spec.writes})
        for chk in spec.checks:
            if chk.code in REPLAY_CODES:
                continue
            out.append(_guard(chk.code, chk.name, spec.state,
                              lambda chk=chk, result=result, sub=sub, spec=spec: _from_outcome(
                                  spec.state, chk.name, chk.code, chk.fn(result, sub, ctx))))
    return out


def replays(inputs: Mapping[str, Any], ctx: StateContext) -> tuple[list[dict], list[dict]]:
    """(check entries, expected RNG tallies per state and family) of the S1, S3 and S4 replays."""
    cfg: Config3A = ctx.config
    w = ctx.world
    entries: list[dict] = []
    expected: list[dict] = []

    def s1_replay() -> dict:
        bad, t = s1.replay_problems(inputs[ds.S1_ESCALATION], inputs[ds.OUTLET_CATALOGUE], inputs[ds.S2_PRIORS],
                                    cfg, w)
        expected.append({"state": "S1", "family": t.family, "keys": t.keys, "draws": t.draws, "blocks": t.blocks})
        entries.append(_problems_entry(CODE_S1_RNG, CHECK_POLICY_REPLAY + "_rng", "S1",
                                       s1.rng_problems(inputs[ds.S1_ESCALATION], [t]), 1))
        return _problems_entry(CODE_POLICY_REPLAY, CHECK_POLICY_REPLAY, "S1", bad, inputs[ds.S1_ESCALATION].height)

    def s3_replay() -> dict:
        bad, tallies = s3.replay_problems(inputs[ds.S3_SHARES], inputs, cfg, w)
        expected.extend({"state": "S3", "family": t.family, "keys": t.keys, "draws": t.draws, "blocks": t.blocks}
                        for t in tallies)
        n = inputs[ds.S3_SHARES].select(common.PAIR).unique().height
        disp = next(t for t in tallies if t.family == s3.FAMILY_DISPERSION)
        rng_bad = [] if (disp.keys, disp.draws, disp.blocks) == (n, 2 * n, n) else \
            [f"{disp.family}: replay {(disp.keys, disp.draws, disp.blocks)} != ({n}, {2 * n}, {n})"]
        dirichlet = next(t for t in tallies if t.family == s3.FAMILY_DIRICHLET)
        if dirichlet.keys != n:
            rng_bad.append(f"{dirichlet.family}: replay keys {dirichlet.keys} != escalated pairs {n}")
        entries.append(_problems_entry(CODE_RNG, CHECK_RNG, "S3", rng_bad, 2))
        return _problems_entry(CODE_SHARE_REPLAY, CHECK_SHARE_REPLAY, "S3", bad, inputs[ds.S3_SHARES].height)

    def s4_replay() -> dict:
        bad = s4.replay_problems(inputs[ds.S4_COUNTS], inputs[ds.S3_SHARES])
        return _problems_entry(CODE_INTEGER_REPLAY, CHECK_INTEGER_REPLAY, "S4", bad, inputs[ds.S4_COUNTS].height)

    for code, name, state, fn in ((CODE_POLICY_REPLAY, CHECK_POLICY_REPLAY, "S1", s1_replay),
                                  (CODE_SHARE_REPLAY, CHECK_SHARE_REPLAY, "S3", s3_replay),
                                  (CODE_INTEGER_REPLAY, CHECK_INTEGER_REPLAY, "S4", s4_replay)):
        entries.append(_guard(code, name, state, fn))
    return entries, sorted(expected, key=lambda e: (e["state"], e["family"]))


def realism_section(inputs: Mapping[str, Any], ctx: StateContext) -> tuple[list[dict], dict, dict]:
    """(gate entries, metrics, realism summary)."""
    vp = ctx.config.validation_policy
    canon = zone_canon.ZoneCanon.build(inputs[ds.S2_UNIVERSE], inputs[ds.REF_LINKS])
    m = realism.metrics(inputs[ds.S2_PRIORS], inputs[ds.S1_ESCALATION], inputs[ds.S3_SHARES], inputs[ds.S4_COUNTS],
                        inputs[ds.ZONE_ALLOC], inputs[ds.SITE_TIMEZONES], canon, vp.min_group_merchants)
    samples_ok = m["escalated_pairs"] >= vp.min_escalated_pairs
    enforced = vp.enforcement == "enforce"
    gates = realism.evaluate(m, vp.gates, samples_ok, enforced)
    entries = []
    for gate, g in gates.items():
        gid = "3A-" + gate.split("_", 1)[0]
        severity = "ERROR" if enforced and samples_ok else "WARN"
        entries.append(_entry(gid, gate, "S6", g["status"] == PASS, severity=severity,
                              affected=int(g["status"] in (FAIL, WARN)), metric=g["value"],
                              threshold=realism.threshold_text(g["min"], g["max"]), status=g["status"]))
    summary = {"enforcement": vp.enforcement, "enforced": enforced and samples_ok, "samples_ok": samples_ok,
               "min_escalated_pairs": vp.min_escalated_pairs, "escalated_pairs": m["escalated_pairs"],
               "gates": gates, "failed_gates": sorted(k for k, g in gates.items() if g["status"] == FAIL),
               "warned_gates": sorted(k for k, g in gates.items() if g["status"] == WARN),
               "skipped_gates": sorted(k for k, g in gates.items() if g["status"] == SKIPPED)}
    return entries, m, summary


def issue_rows(checks: list[dict]) -> pl.DataFrame:
    rows = []
    for c in checks:
        if c["status"] not in (FAIL, WARN):
            continue
        keys = c["first_keys"] or [c.get("error") or f"{c['name']}: {c['metric']} vs {c['threshold']}"]
        for k in keys[:ISSUE_LIMIT]:
            parts = str(k).split("|")
            tail = parts[1:] if parts and parts[0] in ("missing", "extra", "changed", "duplicate") else None
            key = tail if tail is not None else parts
            mid = int(key[0]) if key and key[0].isdigit() and len(key) >= 2 else None
            country = key[1] if mid is not None and len(key) >= 2 else None
            tzid = key[2] if mid is not None and len(key) >= 3 and "/" in key[2] else None
            rows.append({"check_id": c["name"], "issue_code": c["check_id"], "severity": c["severity"],
                         "merchant_id": mid, "legal_country_iso": country, "tzid": tzid, "detail": str(k)})
    schema = {k: v for k, v in ds.SCHEMAS[ds.S6_ISSUES].items() if k not in ("manifest_fingerprint", "seed")}
    return pl.DataFrame(rows, schema=schema)


# ---- run ------------------------------------------------------------------------------------------


def run(inputs: Mapping[str, Any], ctx: StateContext) -> StateResult:
    w = ctx.world
    checks = structural_rerun(inputs, ctx)
    replay_entries, expected = replays(inputs, ctx)
    checks += replay_entries
    try:
        realism_entries, metrics, real = realism_section(inputs, ctx)
    except Exception as exc:  # noqa: BLE001
        realism_entries = [_entry(CODE_CHECK_EXECUTION, CHECK_REALISM, "S6", False,
                                  error=f"{CODE_REALISM}: {type(exc).__name__}: {exc}"[:500])]
        metrics, real = {}, {"error": str(exc)[:500]}
    checks += realism_entries
    overall = FAIL if any(c["status"] == FAIL for c in checks) else PASS
    report = common.jsonable({
        "segment": ds.SEGMENT, "manifest_fingerprint": w.manifest_fingerprint, "seed": w.seed,
        "parameter_hash": w.parameter_hash, "overall_status": overall,
        "counts": {s: sum(c["status"] == s for c in checks) for s in (PASS, WARN, FAIL, SKIPPED)},
        "checks": checks, "metrics": {k: v for k, v in metrics.items() if k != "keff_buckets"},
        "keff_buckets": metrics.get("keff_buckets", []), "realism": real, "expected_rng": expected,
    })
    issues = ds.conform(common.with_partition(issue_rows(checks), w.manifest_fingerprint, w.seed), ds.S6_ISSUES)
    meta = {"overall_status": overall, **{f"checks.{k}": v for k, v in report["counts"].items()},
            "failed": sorted({c["check_id"] for c in checks if c["status"] == FAIL}),
            "realism_enforced": real.get("enforced"), "realism_failed_gates": real.get("failed_gates"),
            **{f"realism.{k}": v for k, v in report["metrics"].items() if not isinstance(v, (dict, list))}}
    return StateResult(outputs={ds.S6_REPORT: report, ds.S6_ISSUES: issues}, report=common.jsonable(meta))


# ---- checks: read the report --------------------------------------------------------------------------


def _report(result: StateResult) -> dict | None:
    doc = result.outputs.get(ds.S6_REPORT)
    return common.json_input(doc) if doc is not None else None


def _select(result: StateResult, code: str, pick: Callable[[dict], bool]) -> CheckOutcome:
    report = _report(result)
    if report is None:
        return common.missing_output(code, ds.S6_REPORT)
    picked = [c for c in report.get("checks", []) if pick(c)]
    failed = [c for c in picked if c["status"] == FAIL]
    return common.outcome(code, [f"{c['check_id']}|{c['name']}" for c in failed], len(picked),
                          first_failure_keys=(failed[0]["first_keys"] if failed else []))


def check_structural(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    return _select(result, CODE_STRUCTURAL, lambda c: c["state"] in ("S0", "S1", "S2", "S3", "S4", "S5")
                   and c["check_id"] not in REPLAY_CODES and c["check_id"] != CODE_CHECK_EXECUTION)


def check_policy_replay(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    return _select(result, CODE_POLICY_REPLAY, lambda c: c["check_id"] in (CODE_POLICY_REPLAY, CODE_S1_RNG))


def check_rng(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    return _select(result, CODE_RNG, lambda c: c["check_id"] == CODE_RNG)


def check_share_replay(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    return _select(result, CODE_SHARE_REPLAY, lambda c: c["check_id"] == CODE_SHARE_REPLAY)


def check_integer_replay(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    return _select(result, CODE_INTEGER_REPLAY, lambda c: c["check_id"] == CODE_INTEGER_REPLAY)


def check_execution(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    return _select(result, CODE_CHECK_EXECUTION, lambda c: c["check_id"] == CODE_CHECK_EXECUTION)


def check_realism(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    """Realism gates: ERROR when enforced with the sample minimum met, WARN otherwise; figures in evidence."""
    report = _report(result)
    if report is None:
        return common.missing_output(CODE_REALISM, ds.S6_REPORT)
    real = report.get("realism") or {}
    severity = "ERROR" if real.get("enforced") else "WARN"
    bad = list(real.get("failed_gates") or []) + list(real.get("warned_gates") or [])
    if "error" in real:
        bad.append(f"realism failed to run: {real['error']}")
    out = common.outcome(CODE_REALISM, bad, len(real.get("gates") or {}), severity=severity,
                         enforced=real.get("enforced"), samples_ok=real.get("samples_ok"),
                         escalated_pairs=real.get("escalated_pairs"), skipped=real.get("skipped_gates"),
                         metrics=report.get("metrics"))
    return out


def expected_tallies(report: Mapping) -> list[RngTally]:
    return [common.tally(e["family"], e["keys"], e["draws"], e["blocks"]) for e in report.get("expected_rng", [])]
