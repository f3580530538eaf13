"""3B S5 — validation bundle (spec/engine/3B.md, "S5", "Realism gates"; read-only over S0–S4).

Returns `StateResult.bundle`; the runner writes `index.json`, `datasets.json` (sha256 of
every file 3B published, the alias blob included) and `_passed.flag` (only when no document
says `passed: false`), and reports `hashgate_3B`. Documents (`evidence/<code>.json`: status,
metric, threshold, first keys):

* `3B-S5-001` S1 classification replay (rule match, propensities, draws) and `-002`
  settlement replay: S1 re-run on its written inputs equals what it wrote;
* `3B-S5-003` S2 full replay: catalogue and index equal exactly;
* `3B-S5-004` RNG accounting per family from the outputs vs the trace (`virtual`: rows with
  p < 1; `hybrid_share`: HYBRID rows; `settlement`: 4 per virtual merchant; S2: 3 + 6N);
* `3B-S5-005` alias decode fidelity: every slice decoded against the catalogue weights, slice
  checksums and blob sha256 against the written alias index;
* `3B-S5-006` universe hash recomputed from the written catalogue, indexes and blob;
* `3B-S5-007` routing policy ↔ S3 (hash, blob digest, counts) and the S4 replay;
* `3B-S5-008` (added) the realism gates of every enabled stage-3B.S5 contract row, `passed`
  false only under `enforcement_mode: enforce` (observe mode reports them as warnings);
* `3B-S5-009` (added) every state check of S0–S4 re-evaluated on the written data
  (`evidence/<state code>.json`).

The alias blob arrives as the published `{file: bytes}` (`inputs[edge_alias_blob_3B]`) and is
decoded as written, tied to the written alias index by sha256.
A check that raises is a failed document under its own code with the error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import polars as pl

from fraud_assets.engine.seg_3b import alias_pack, common, realism, topology
from fraud_assets.engine.seg_3b import datasets as ds
from fraud_assets.engine.seg_3b.config import Config3B
from fraud_assets.engine.state import CheckOutcome, StateContext, StateResult

CODE_S1_REPLAY = "3B-S5-001"
CODE_SETTLEMENT_REPLAY = "3B-S5-002"
CODE_S2_REPLAY = "3B-S5-003"
CODE_RNG = "3B-S5-004"
CODE_ALIAS = "3B-S5-005"
CODE_UNIVERSE = "3B-S5-006"
CODE_ROUTING = "3B-S5-007"
CODE_REALISM = "3B-S5-008"
CODE_STATE_CHECKS = "3B-S5-009"

CHECK_S1_REPLAY = "s1_replay_3B"
CHECK_SETTLEMENT_REPLAY = "settlement_replay_3B"
CHECK_S2_REPLAY = "s2_replay_3B"
CHECK_RNG = "rng_accounting_3B"
CHECK_ALIAS = "alias_fidelity_3B"
CHECK_UNIVERSE = "universe_hash_3B"
CHECK_ROUTING = "routing_policy_3B"
CHECK_REALISM = "realism_3B"
CHECK_STATE_CHECKS = "state_checks_3B"

EVIDENCE = "evidence/"
SUMMARY = "summary.json"
FAMILY_S1 = ("3B.s1.virtual", "3B.s1.hybrid_share", "3B.s1.settlement")


def doc_name(code: str) -> str:
    return f"{EVIDENCE}{code}.json"


def _doc(name: str, code: str, passed: bool, *, metric: Any = None, threshold: Any = None,
         first_keys: Any = (), **evidence: Any) -> dict:
    return {"check": name, "code": code, "passed": bool(passed), "status": "PASS" if passed else "FAIL",
            "metric": common.jsonable(metric), "threshold": common.jsonable(threshold),
            "first_keys": common.jsonable(list(first_keys)[:common.FIRST_KEYS]), **common.jsonable(evidence)}


def _guard(name: str, code: str, fn: Callable[[], dict]) -> dict:
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - a check that cannot run is a failed check, with its reason
        return _doc(name, code, False, error=f"{type(exc).__name__}: {exc}"[:500])


def written(inputs: Mapping[str, Any], dataset_id: str) -> Any:
    value = inputs.get(dataset_id)
    if dataset_id in ds.JSON_IDS:
        return common.json_input(value)
    if dataset_id == ds.EDGE_ALIAS_BLOB:
        return alias_pack.blob_bytes(value)
    return value


def _as_read(dataset_id: str, value: Any) -> Any:
    """An output as the runner's reader hands it back (JSON through a one-row frame)."""
    if dataset_id in ds.JSON_IDS:
        return common.json_input(pl.DataFrame([value]))
    if dataset_id == ds.EDGE_ALIAS_BLOB:
        return alias_pack.blob_bytes(value)
    return value


def _diff_keys(a: pl.DataFrame, b: pl.DataFrame, key: list[str]) -> list[Any]:
    if a.schema != b.schema:
        return [f"schema {a.schema} != {b.schema}"]
    cols = list(a.columns)
    only = pl.concat([a.join(b, on=cols, how="anti", nulls_equal=True).select(key),
                      b.join(a, on=cols, how="anti", nulls_equal=True).select(key)]).unique()
    return common.key_list(only.sort(key, nulls_last=False), key) or (["row order"] if not a.equals(b) else [])


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, pl.DataFrame) and isinstance(b, pl.DataFrame):
        return a.schema == b.schema and a.equals(b)
    return common.jsonable(a) == common.jsonable(b)


# ---- replays --------------------------------------------------------------------------------------


def replay(spec, inputs: Mapping[str, Any], ctx: StateContext) -> StateResult:
    return spec.run({k: inputs[k] for k in spec.reads if k in inputs}, ctx)


def replay_doc(name: str, code: str, dataset_id: str, mine: Any, again: Any, key: list[str]) -> dict:
    if isinstance(mine, pl.DataFrame) and isinstance(again, pl.DataFrame):
        diff = [] if _equal(mine, again) else _diff_keys(mine, again, key)
        return _doc(name, code, not diff, metric={"rows_written": mine.height, "rows_replayed": again.height,
                                                  "differing": len(diff)},
                    threshold="equal", first_keys=diff, dataset=dataset_id)
    ok = _equal(mine, again)
    return _doc(name, code, ok, metric={"equal": ok}, threshold="equal", dataset=dataset_id)


def rng_doc(inputs: Mapping[str, Any], trace: pl.DataFrame | None) -> dict:
    """`3B-S5-004`: per family (keys, uniforms, blocks) implied by the outputs = the trace."""
    vc = inputs[ds.VIRTUAL_CLASSIFICATION]
    vs = inputs[ds.VIRTUAL_SETTLEMENT]
    index = inputs[ds.EDGE_CATALOGUE_INDEX]
    n_virtual = vc.filter(pl.col("p_virtual").is_not_null() & (pl.col("p_virtual") < 1.0)).height
    n_hybrid = vc.filter(pl.col("virtual_mode") == "HYBRID").height
    expected = {
        ("S1", "3B.s1.virtual"): (n_virtual, n_virtual, n_virtual),
        ("S1", "3B.s1.hybrid_share"): (n_hybrid, n_hybrid, n_hybrid),
        ("S1", "3B.s1.settlement"): (vs.height, 4 * vs.height, 4 * vs.height),
    }
    n = index.filter(pl.col("scope") == ds.SCOPE_MERCHANT).get_column("edge_count_total").to_numpy()
    for fam, v in topology.family_counts(n).items():
        expected[("S2", fam)] = v
    expected = {k: v for k, v in expected.items() if v[0]}
    got: dict[tuple[str, str], tuple[int, int, int]] = {}
    if trace is not None:
        for r in trace.iter_rows(named=True):
            key = (r["state"], r["family"])
            prev = got.get(key, (0, 0, 0))
            got[key] = (prev[0] + r["keys"], prev[1] + r["draws"], prev[2] + r["blocks"])
    bad = sorted({f"{s}:{f}" for (s, f) in set(expected) | set(got)
                  if expected.get((s, f), (0, 0, 0)) != got.get((s, f), (0, 0, 0))})
    return _doc(CHECK_RNG, CODE_RNG, not bad,
                metric={"expected_uniforms": sum(v[1] for v in expected.values()),
                        "traced_uniforms": sum(v[1] for v in got.values())},
                threshold="exact", first_keys=bad,
                expected={f"{s}:{f}": list(v) for (s, f), v in sorted(expected.items())},
                traced={f"{s}:{f}": list(v) for (s, f), v in sorted(got.items())},
                s2_uniforms_per_merchant="3 + 6N")


def alias_doc(blob: bytes, blob_source: str, inputs: Mapping[str, Any]) -> tuple[dict, float]:
    index, edges = inputs[ds.EDGE_ALIAS_INDEX], inputs[ds.EDGE_CATALOGUE]
    fid = alias_pack.fidelity(blob, index, edges)
    checksum = alias_pack.checksum_problems(blob, index)
    layout = alias_pack.layout_problems(blob, index)
    counts = alias_pack.count_problems(blob, index, inputs[ds.EDGE_CATALOGUE_INDEX])
    bad = sorted(set(map(str, fid.inconsistent + fid.mass_failures + checksum + layout + counts)))
    return _doc(CHECK_ALIAS, CODE_ALIAS, not bad, metric={"max_abs_error": fid.max_abs_error, "tables": fid.checked},
                threshold={"max_abs_error": alias_pack.FIDELITY_TOL}, first_keys=bad, blob_source=blob_source,
                checksum_failures=len(checksum), layout_failures=len(layout), count_failures=len(counts),
                decode_failures=len(fid.inconsistent), mass_failures=len(fid.mass_failures)), fid.max_abs_error


def universe_doc(cfg: Config3B, blob: bytes, inputs: Mapping[str, Any], ctx: StateContext) -> dict:
    import hashlib

    mine = common.json_input(inputs[ds.EDGE_UNIVERSE_HASH])
    again = alias_pack.universe(cfg, inputs[ds.EDGE_CATALOGUE], inputs[ds.EDGE_CATALOGUE_INDEX],
                                inputs[ds.EDGE_ALIAS_INDEX], hashlib.sha256(blob).hexdigest(), ctx.world)
    comps = mine.get("components") or {}
    differing = sorted(k for k, v in again["components"].items() if comps.get(k) != v)
    if mine.get("edge_universe_hash") != again["edge_universe_hash"]:
        differing.append("edge_universe_hash")
    for k in ("manifest_fingerprint", "seed", "parameter_hash"):
        if mine.get(k) != again[k]:
            differing.append(k)
    return _doc(CHECK_UNIVERSE, CODE_UNIVERSE, not differing, metric={"recomputed": again["edge_universe_hash"],
                                                                      "written": mine.get("edge_universe_hash")},
                threshold="equal", first_keys=differing)


def routing_doc(inputs: Mapping[str, Any], replayed: StateResult | None) -> dict:
    policy = common.json_input(inputs[ds.VIRTUAL_ROUTING_POLICY])
    universe = common.json_input(inputs[ds.EDGE_UNIVERSE_HASH])
    g = alias_pack.global_row(inputs[ds.EDGE_ALIAS_INDEX])
    bad = []
    if policy.get("edge_universe_hash") != universe.get("edge_universe_hash"):
        bad.append("edge_universe_hash")
    alias = policy.get("alias") or {}
    if alias.get("blob_sha256_hex") != g.get("blob_sha256_hex"):
        bad.append("alias.blob_sha256_hex")
    if alias.get("qbits") != g.get("qbits"):
        bad.append("alias.qbits")
    counts = policy.get("counts") or {}
    if counts.get("edges") != g.get("edge_count_total") or counts.get("alias_tables") != g.get("merchant_count"):
        bad.append("counts")
    if replayed is None:
        bad.append("S4 replay failed")
    else:
        again = _as_read(ds.VIRTUAL_ROUTING_POLICY, replayed.outputs[ds.VIRTUAL_ROUTING_POLICY])
        if not _equal(policy, again):
            bad.append("routing policy replay")
        if not _equal(inputs[ds.VIRTUAL_VALIDATION_CONTRACT], replayed.outputs[ds.VIRTUAL_VALIDATION_CONTRACT]):
            bad.append("validation contract replay")
    return _doc(CHECK_ROUTING, CODE_ROUTING, not bad, metric={"edge_universe_hash": policy.get("edge_universe_hash")},
                threshold="equal", first_keys=bad)


def recheck(spec, inputs: Mapping[str, Any], ctx: StateContext, outputs: Mapping[str, Any],
            rng: list | None = None) -> dict[str, dict]:
    sub = {k: inputs[k] for k in spec.reads if k in inputs}
    result = StateResult(outputs=dict(outputs), rng=list(rng or []))
    out = {}
    for chk in spec.checks:
        def evaluate(chk=chk) -> dict:
            res: CheckOutcome = chk.fn(result, sub, ctx)
            ev = res.evidence
            return _doc(chk.name, chk.code, res.passed or res.severity != "ERROR",
                        metric={"checked": ev.get("checked"), "failed": ev.get("failed")},
                        threshold={"failed": 0}, first_keys=ev.get("first_keys", []) or [],
                        state=spec.state, severity=res.severity, evidence=ev)
        out[doc_name(chk.code)] = _guard(chk.name, chk.code, evaluate)
    return out


def realism_doc(cfg: Config3B, inputs: Mapping[str, Any], max_alias_error: float | None) -> dict:
    vv = cfg.virtual_validation
    edges = inputs[ds.EDGE_CATALOGUE]
    outside = topology.outside_polygon(edges, inputs[ds.REF_COUNTRIES])
    values = realism.metrics(inputs[ds.VIRTUAL_CLASSIFICATION], inputs[ds.VIRTUAL_SETTLEMENT], edges,
                             inputs[ds.EDGE_CATALOGUE_INDEX], max_alias_error, outside, vv.js_sample_pairs)
    enforce = vv.enforcement_mode == "enforce"
    result = realism.evaluate(values, inputs[ds.VIRTUAL_VALIDATION_CONTRACT], enforce, vv.min_virtual_merchants)
    passed = result["gates_passed"] or not enforce
    return _doc(CHECK_REALISM, CODE_REALISM, passed, metric=values,
                threshold={g: d["bound"] for g, d in result["gates"].items()},
                first_keys=result["failed_gates"], enforcement_mode=vv.enforcement_mode,
                status_detail="SKIPPED" if result["skipped"] else ("PASS" if result["gates_passed"] else "FAIL"),
                **{k: v for k, v in result.items() if k != "gates"}, gates=result["gates"])


# ---- run ------------------------------------------------------------------------------------------


def run(inputs: Mapping[str, Any], ctx: StateContext) -> StateResult:
    from fraud_assets.engine.seg_3b.catalogue import (  # the catalogue imports this module
        S0,
        S1,
        S2,
        S3,
        S4,
    )

    cfg: Config3B = ctx.config
    docs: dict[str, dict] = {}
    replays: dict[str, StateResult | None] = {}
    for spec in (S0, S1, S2, S3, S4):
        try:
            replays[spec.state] = replay(spec, inputs, ctx)
        except Exception as exc:  # noqa: BLE001 - reported by the replay documents
            replays[spec.state] = None
            docs[f"{EVIDENCE}replay_{spec.asset_name}.json"] = _doc(
                f"replay_{spec.asset_name}", CODE_STATE_CHECKS, False, error=f"{type(exc).__name__}: {exc}"[:500])
    r1, r2, r3 = replays["S1"], replays["S2"], replays["S3"]

    def replay_or_fail(name: str, code: str, res: StateResult | None, dataset: str, key: list[str]) -> dict:
        if res is None:
            return _doc(name, code, False, error="replay failed")
        return replay_doc(name, code, dataset, written(inputs, dataset), res.outputs[dataset], key)

    docs[doc_name(CODE_S1_REPLAY)] = _guard(CHECK_S1_REPLAY, CODE_S1_REPLAY, lambda: replay_or_fail(
        CHECK_S1_REPLAY, CODE_S1_REPLAY, r1, ds.VIRTUAL_CLASSIFICATION, ["merchant_id"]))
    docs[doc_name(CODE_SETTLEMENT_REPLAY)] = _guard(CHECK_SETTLEMENT_REPLAY, CODE_SETTLEMENT_REPLAY, lambda: replay_or_fail(
        CHECK_SETTLEMENT_REPLAY, CODE_SETTLEMENT_REPLAY, r1, ds.VIRTUAL_SETTLEMENT, ["merchant_id"]))

    def s2_doc() -> dict:
        a = replay_or_fail(CHECK_S2_REPLAY, CODE_S2_REPLAY, r2, ds.EDGE_CATALOGUE, ["merchant_id", "edge_seq_index"])
        b = replay_or_fail(CHECK_S2_REPLAY, CODE_S2_REPLAY, r2, ds.EDGE_CATALOGUE_INDEX, ["scope", "merchant_id"])
        return _doc(CHECK_S2_REPLAY, CODE_S2_REPLAY, a["passed"] and b["passed"],
                    metric={"catalogue": a["metric"], "index": b["metric"]}, threshold="equal",
                    first_keys=list(a["first_keys"]) + list(b["first_keys"]))

    docs[doc_name(CODE_S2_REPLAY)] = _guard(CHECK_S2_REPLAY, CODE_S2_REPLAY, s2_doc)
    docs[doc_name(CODE_RNG)] = _guard(CHECK_RNG, CODE_RNG, lambda: rng_doc(inputs, inputs.get(ds.RNG_TRACE)))
    blob = written(inputs, ds.EDGE_ALIAS_BLOB)
    blob_source = "published"
    max_err: list[float | None] = [None]

    def alias_fn() -> dict:
        if blob is None:
            return _doc(CHECK_ALIAS, CODE_ALIAS, False, error="no blob")
        doc, max_err[0] = alias_doc(blob, blob_source, inputs)
        return doc

    docs[doc_name(CODE_ALIAS)] = _guard(CHECK_ALIAS, CODE_ALIAS, alias_fn)
    docs[doc_name(CODE_UNIVERSE)] = _guard(CHECK_UNIVERSE, CODE_UNIVERSE,
                                           lambda: universe_doc(cfg, blob or b"", inputs, ctx))
    docs[doc_name(CODE_ROUTING)] = _guard(CHECK_ROUTING, CODE_ROUTING, lambda: routing_doc(inputs, replays["S4"]))
    # S3 replay: alias index and universe hash as written
    if r3 is not None:
        for d, key in ((ds.EDGE_ALIAS_INDEX, ["scope", "merchant_id"]), (ds.EDGE_UNIVERSE_HASH, [])):
            mine, again = written(inputs, d), _as_read(d, r3.outputs[d])
            if not _equal(mine, again):
                docs[doc_name(CODE_ALIAS)]["passed"] = False
                docs[doc_name(CODE_ALIAS)]["status"] = "FAIL"
                docs[doc_name(CODE_ALIAS)].setdefault("replay_differs", []).append(d)
    # every state check re-evaluated on the written data (S0's on its replayed summary)
    for spec in (S0, S1, S2, S3, S4):
        outputs = {d: written(inputs, d) for d in spec.writes}
        rng: list = []
        if spec.state == "S0" and replays["S0"] is not None:
            outputs = dict(replays["S0"].outputs)
        if spec.state == "S3":
            outputs[ds.EDGE_ALIAS_BLOB] = {ds.EDGE_ALIAS_BLOB_FILE: blob} if blob is not None else None
        if spec.state in ("S1", "S2") and replays[spec.state] is not None:
            rng = replays[spec.state].rng
        docs.update(recheck(spec, inputs, ctx, outputs, rng))
    docs[doc_name(CODE_REALISM)] = _guard(CHECK_REALISM, CODE_REALISM,
                                          lambda: realism_doc(cfg, inputs, max_err[0]))
    failed = sorted(n for n, d in docs.items() if d.get("passed") is False)
    w = ctx.world
    real = docs[doc_name(CODE_REALISM)]
    docs[SUMMARY] = common.jsonable({
        "segment": ds.SEGMENT, "passed": not failed, "failed": failed,
        "failed_codes": sorted({docs[n].get("code") for n in failed}), "documents": len(docs),
        "manifest_fingerprint": w.manifest_fingerprint, "parameter_hash": w.parameter_hash, "seed": w.seed,
        "preset": w.preset.name, "registered_utc": w.registered_utc,
        "rows": {d: inputs[d].height for d in (ds.VIRTUAL_CLASSIFICATION, ds.VIRTUAL_SETTLEMENT, ds.EDGE_CATALOGUE,
                                               ds.EDGE_CATALOGUE_INDEX, ds.EDGE_ALIAS_INDEX,
                                               ds.VIRTUAL_VALIDATION_CONTRACT) if d in inputs},
        "edge_universe_hash": common.json_input(inputs.get(ds.EDGE_UNIVERSE_HASH)).get("edge_universe_hash"),
        "realism": {"enforcement_mode": real.get("enforcement_mode"), "status": real.get("status_detail"),
                    "failed_gates": real.get("failed_gates"), "blocking_failed": real.get("blocking_failed")},
    })
    meta: dict[str, Any] = {"passed": not failed, "failed": failed, "documents": len(docs),
                            "realism_status": real.get("status_detail"),
                            "realism_failed_gates": real.get("failed_gates")}
    meta.update({f"realism.{k}": v for k, v in (real.get("metric") or {}).items()
                 if not isinstance(v, (dict, list))})
    return StateResult(outputs={}, report=common.jsonable(meta), bundle=docs)


# ---- S5 asset checks: read the bundle -------------------------------------------------------------


def _from_doc(code: str, severity: str = "ERROR") -> Callable[[StateResult, Mapping[str, Any], StateContext],
                                                               CheckOutcome]:
    def check(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
        doc = (result.bundle or {}).get(doc_name(code))
        if doc is None:
            return CheckOutcome(False, {"code": code, "missing": [doc_name(code)]}, severity)
        ev = {k: v for k, v in doc.items() if k not in ("gates",)}
        return CheckOutcome(bool(doc.get("passed")), {"code": code, **ev}, severity)
    check.__name__ = f"check_{code.replace('-', '_')}"
    return check


check_s1_replay = _from_doc(CODE_S1_REPLAY)
check_settlement_replay = _from_doc(CODE_SETTLEMENT_REPLAY)
check_s2_replay = _from_doc(CODE_S2_REPLAY)
check_rng = _from_doc(CODE_RNG)
check_alias = _from_doc(CODE_ALIAS)
check_universe = _from_doc(CODE_UNIVERSE)
check_routing = _from_doc(CODE_ROUTING)


def check_realism(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    """Realism gates: ERROR under `enforcement_mode: enforce`, WARN in observe mode; figures in evidence."""
    enforce = ctx.config.virtual_validation.enforcement_mode == "enforce"
    severity = "ERROR" if enforce else "WARN"
    doc = (result.bundle or {}).get(doc_name(CODE_REALISM))
    if doc is None:
        return CheckOutcome(False, {"code": CODE_REALISM, "missing": [doc_name(CODE_REALISM)]}, severity)
    return CheckOutcome(bool(doc.get("gates_passed")) and "error" not in doc, {
        "code": CODE_REALISM, "status": doc.get("status_detail"), "enforcement_mode": doc.get("enforcement_mode"),
        "failed_gates": doc.get("failed_gates"), "blocking_failed": doc.get("blocking_failed"),
        "unevaluated_gates": doc.get("unevaluated_gates"), "metrics": doc.get("metric"),
        "error": doc.get("error")}, severity)


def check_state_checks(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    docs = result.bundle or {}
    picked = {n: d for n, d in docs.items() if n.startswith(EVIDENCE) and d.get("state") is not None
              or n.startswith(f"{EVIDENCE}replay_")}
    failed = sorted(n for n, d in picked.items() if d.get("passed") is False)
    return CheckOutcome(bool(picked) and not failed, {
        "code": CODE_STATE_CHECKS, "documents": len(picked), "failed": failed,
        "failed_codes": sorted({picked[n].get("code") for n in failed})})
