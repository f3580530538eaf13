"""2A S5 — validation bundle (spec/engine/2A.md, "S5", "Realism gates"; FS, read-only over S0–S4).

Returns `StateResult.bundle`; the runner writes `index.json`, `datasets.json` (the
sha256 of every file 2A published) and `_passed.flag` (only when no document
says `passed: false`), and reports `hashgate_2A` (the flag recompute, spec
`2A-S5-002`). Documents:

* `evidence/<check>.json` — every state check of the catalogue re-evaluated on the
  written data (status, code, metric, first ≤ 10 keys); `evidence/replay_<state>.json`
  — S0–S4 re-run on their written inputs equal their written outputs;
  `evidence/parity_sites.json` — `site_locations = s1_tz_lookup = site_timezones`
  (keys and coordinates); `evidence/timetable_digest.json`; `evidence/rng_accounting.json`
  (2A draws nothing: the trace must be empty). A check that raises is a failed
  document with `2A-S5-001 CHECK_EXECUTION_FAILED`; a replay that differs is
  `2A-S5-004`, and the asset check over the re-evaluated state checks is `2A-S5-003`
  (both codes added here: the spec names none for them).
* `s1_run_report.json`, `s1_exceptions.json`, `tz_timetable_manifest.json`,
  `s4_legality_report.json`, `realism_2A.json` (`passed` false only on presets in
  `validation.enforce_presets`, `2A-S5-010`), `egress_checksums.json`, `summary.json`.

Plot: `tz_shares` (site tz shares per country against the population reference).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import polars as pl

from fraud_assets.core.canonical import sha256_hex
from fraud_assets.core.digest import content_digest
from fraud_assets.core.store import parquet_bytes
from fraud_assets.engine.common import tz_resolve as tr
from fraud_assets.engine.seg_2a import common, realism
from fraud_assets.engine.seg_2a import datasets as ds
from fraud_assets.engine.seg_2a.config import Config2A
from fraud_assets.engine.state import CheckOutcome, StateContext, StateResult

CODE_CHECK_EXECUTION_FAILED = "2A-S5-001"
CODE_FLAG_DIGEST_MISMATCH = "2A-S5-002"  # the runner's hashgate_2A
CODE_STATE_CHECK_FAILED = "2A-S5-003"  # not in the spec: a re-evaluated S0–S4 check failed (codes in evidence)
CODE_REPLAY_MISMATCH = "2A-S5-004"  # not in the spec: a state re-run differs from what it wrote
CODE_REALISM = "2A-S5-010"
CODE_PARITY = "2A-S1-050"
CODE_TIMETABLE_DIGEST = "2A-S3-013"
CODE_RNG = "E_RNG_ACCOUNTING"

CHECK_STATE_CHECKS = "state_checks_2A"
CHECK_REPLAY = "replay_2A"
CHECK_PARITY = "parity_sites"
CHECK_TIMETABLE_DIGEST = "timetable_digest"
CHECK_EXECUTION = "check_execution"
CHECK_REALISM = "realism_2A"

EVIDENCE = "evidence/"
REALISM_DOC = "realism_2A.json"
SUMMARY = "summary.json"
PLOT = "tz_shares"
JSON_OUTPUTS = {ds.S0_TZ_RECEIPT, ds.TZ_TIMETABLE_MANIFEST, ds.S4_LEGALITY_REPORT}


def _doc(name: str, code: str, passed: bool, **evidence: Any) -> dict:
    return {"check": name, "code": code, "passed": bool(passed), **common.jsonable(evidence)}


def _guard(name: str, code: str, fn: Callable[[], dict]) -> dict:
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - a check that cannot run is a failed check, with its reason
        return _doc(name, CODE_CHECK_EXECUTION_FAILED, False, intended_code=code,
                    error=f"{type(exc).__name__}: {exc}"[:500])


def json_input(value: Any) -> dict:
    """A JSON dataset as the runner hands it over (a one-row frame) back to a dict."""
    if isinstance(value, dict):
        return value
    return value.to_dicts()[0] if isinstance(value, pl.DataFrame) and value.height else {}


def written(inputs: Mapping[str, Any], dataset_id: str) -> Any:
    return json_input(inputs[dataset_id]) if dataset_id in JSON_OUTPUTS else inputs[dataset_id]


# ---- re-checks and replays ------------------------------------------------------------------------


def recheck_state(spec, inputs: Mapping[str, Any], ctx: StateContext,  # noqa: ANN001 - StateSpec
                  outputs: Mapping[str, Any]) -> dict[str, dict]:
    sub = {k: inputs[k] for k in spec.reads if k in inputs}
    result = StateResult(outputs=dict(outputs))
    out = {}
    for chk in spec.checks:
        def evaluate(chk=chk) -> dict:  # noqa: ANN001
            res: CheckOutcome = chk.fn(result, sub, ctx)
            ev = res.evidence
            return _doc(chk.name, chk.code, res.passed, state=spec.state, severity=res.severity,
                        metric={"checked": ev.get("checked"), "failed": ev.get("failed")},
                        first_keys=ev.get("first_keys", [])[:10], evidence=ev)
        out[f"{EVIDENCE}{chk.name}.json"] = _guard(chk.name, chk.code, evaluate)
    return out


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, pl.DataFrame) and isinstance(b, pl.DataFrame):
        return a.schema == b.schema and a.equals(b)
    return common.jsonable(a) == common.jsonable(b)


def replay_state(spec, inputs: Mapping[str, Any], ctx: StateContext) -> tuple[dict, StateResult | None]:  # noqa: ANN001
    name = f"replay_{spec.asset_name}"
    sub = {k: inputs[k] for k in spec.reads if k in inputs}

    def run() -> tuple[dict, StateResult]:
        res = spec.run(sub, ctx)
        per = {}
        for d in spec.writes:
            mine = written(inputs, d)
            again = res.outputs[d]
            if d in JSON_OUTPUTS:  # both sides through the runner's JSON -> frame -> dict round trip
                again = json_input(pl.DataFrame([again]))
            per[d] = {"equal": _equal(mine, again),
                      "rows_written": mine.height if isinstance(mine, pl.DataFrame) else None}
        return _doc(name, CODE_REPLAY_MISMATCH, all(v["equal"] for v in per.values()),
                    state=spec.state, datasets=per), res

    try:
        return run()
    except Exception as exc:  # noqa: BLE001
        return _doc(name, CODE_CHECK_EXECUTION_FAILED, False, state=spec.state,
                    error=f"{type(exc).__name__}: {exc}"[:500]), None


def parity(inputs: Mapping[str, Any]) -> dict:
    """Key sets and coordinates: site_locations = s1_tz_lookup = site_timezones."""
    key = ds.KEY
    sl = inputs[ds.SITE_LOCATIONS].select(*key, "lat_deg", "lon_deg")
    lk = inputs[ds.S1_TZ_LOOKUP].select(*key, "lat_deg", "lon_deg")
    st = inputs[ds.SITE_TIMEZONES].select(key)
    problems: dict[str, list] = {}
    for name, a, b in (("site_locations-s1", sl.select(key), lk.select(key)),
                       ("s1-site_timezones", lk.select(key), st)):
        only_a = a.join(b, on=key, how="anti").sort(key)
        only_b = b.join(a, on=key, how="anti").sort(key)
        if only_a.height or only_b.height:
            problems[name] = common.key_list(only_a.head(10), key) + common.key_list(only_b.head(10), key)
    j = sl.join(lk, on=key, how="inner", suffix="_s1")
    moved = j.filter((pl.col("lat_deg") != pl.col("lat_deg_s1")) | (pl.col("lon_deg") != pl.col("lon_deg_s1")))
    if moved.height:
        problems["coordinates"] = common.key_list(moved.sort(key).head(10), key)
    dup = st.filter(pl.struct(key).is_duplicated())
    if dup.height:
        problems["site_timezones_pk"] = common.key_list(dup.sort(key).head(10), key)
    return _doc(CHECK_PARITY, CODE_PARITY, not problems, rows={"site_locations": sl.height,
                                                               "s1_tz_lookup": lk.height,
                                                               "site_timezones": st.height},
                problems=problems, first_keys=[k for v in problems.values() for k in v][:10])


def timetable_digest(inputs: Mapping[str, Any]) -> dict:
    manifest = json_input(inputs[ds.TZ_TIMETABLE_MANIFEST])
    tt = inputs[ds.TZ_TIMETABLE]
    digest = common.timetable_digest(tt)
    ok = digest == manifest.get("tz_index_digest") and tt.height == manifest.get("segment_count")
    return _doc(CHECK_TIMETABLE_DIGEST, CODE_TIMETABLE_DIGEST, ok, recomputed=digest,
                manifest=manifest.get("tz_index_digest"), rows=tt.height, segment_count=manifest.get("segment_count"))


def rng_accounting(trace: pl.DataFrame | None) -> dict:
    rows = [] if trace is None else trace.filter((pl.col("draws") != 0) | (pl.col("blocks") != 0)).to_dicts()
    return _doc("rng_accounting", CODE_RNG, not rows, trace_rows=0 if trace is None else trace.height,
                nonzero=rows[:10])


# ---- realism --------------------------------------------------------------------------------------


def realism_doc(inputs: Mapping[str, Any], ctx: StateContext) -> tuple[dict, bytes | None]:
    cfg: Config2A = ctx.config
    v = cfg.validation
    lookup, site_tz = inputs[ds.S1_TZ_LOOKUP], inputs[ds.SITE_TIMEZONES]
    legality = json_input(inputs[ds.S4_LEGALITY_REPORT])
    shares = realism.site_shares(site_tz)
    per_country_sites = dict(site_tz.group_by("legal_country_iso").len().iter_rows())
    eligible = sorted(c for c, n in per_country_sites.items() if n >= v.cohort.min_sites)
    if eligible:
        world = tr.TzWorld.of(inputs[ds.REF_TZ_WORLD], cfg.tz_lookup.non_civil_prefixes)
        zones = tr.ZoneSets.from_frame(inputs[ds.S0_COUNTRY_ZONES].select("country_iso", "tzid", "rank",
                                                                           "in_zone_tab"), world.civil_tzids)
        resolver = tr.TzResolver(world, zones, tr.LadderPolicy(cfg.tz_nudge.epsilon_degrees,
                                                               cfg.tz_lookup.foreign_snap_max_km))
        ref = realism.reference_shares(inputs[ds.REF_CITIES], eligible, resolver)
    else:
        ref = realism.reference_shares(inputs[ds.REF_CITIES].head(0), [], None)  # type: ignore[arg-type]
    disp = dict(realism.dispersion_km(inputs[ds.SITE_LOCATIONS]).iter_rows())
    cohort, per = realism.cohort_metrics(shares, ref, per_country_sites, v.cohort.min_sites,
                                         v.cohort.large_min_sites, v.cohort.material_share, disp)
    rates = realism.rate_metrics(lookup, site_tz, legality, v.cohort.min_sites)
    metrics = {**cohort, **rates}
    enforced = ctx.world.preset.name in v.enforce_presets
    gates = realism.evaluate_gates(metrics, v.gates, enforced)
    doc = _doc(CHECK_REALISM, CODE_REALISM, gates["gates_passed"] or not enforced, enforced=enforced,
               preset=ctx.world.preset.name, seed=ctx.world.seed, metrics=metrics, **gates,
               gate_13_cross_seed_cv={"max": v.seed_cv_max, "evaluated": False,
                                      "note": "needs several seeds: fraud-assets realism certify --segments 2A"},
               countries_evaluated=per, reference_countries=len(eligible),
               cohort=v.cohort.model_dump())
    title = (f"2A site time-zone shares per country — {ctx.world.preset.name}, seed {ctx.world.seed} "
             f"({lookup.height} sites)")
    png = realism.plot_tz_shares(per, shares, title)
    return doc, png


# ---- run ------------------------------------------------------------------------------------------


def run(inputs: Mapping[str, Any], ctx: StateContext) -> StateResult:
    from fraud_assets.engine.seg_2a.catalogue import STATES  # the catalogue imports this module

    cfg: Config2A = ctx.config
    producers = [s for s in STATES if not s.validation]
    docs: dict[str, dict] = {}
    for spec in producers:
        doc, replayed = replay_state(spec, inputs, ctx)
        docs[f"{EVIDENCE}replay_{spec.asset_name}.json"] = doc
        # S0's checks read its receipt; the other states' checks read the written data
        outputs = {d: written(inputs, d) for d in spec.writes}
        if spec.state == "S0" and replayed is not None:
            outputs = dict(replayed.outputs)
        docs.update(recheck_state(spec, inputs, ctx, outputs))
    docs[f"{EVIDENCE}{CHECK_PARITY}.json"] = _guard(CHECK_PARITY, CODE_PARITY, lambda: parity(inputs))
    docs[f"{EVIDENCE}{CHECK_TIMETABLE_DIGEST}.json"] = _guard(CHECK_TIMETABLE_DIGEST, CODE_TIMETABLE_DIGEST,
                                                               lambda: timetable_digest(inputs))
    docs[f"{EVIDENCE}rng_accounting.json"] = _guard("rng_accounting", CODE_RNG,
                                                    lambda: rng_accounting(inputs.get(ds.RNG_TRACE)))
    lookup = inputs[ds.S1_TZ_LOOKUP]
    report = realism.run_report(lookup, cfg.validation.max_listed_exceptions)
    docs["s1_run_report.json"] = {k: v for k, v in report.items() if k != "exceptions"}
    docs["s1_exceptions.json"] = {"count": report["exceptions_count"], "listed": report["exceptions"],
                                  "threshold_m": cfg.tz_nudge.epsilon_degrees * 111_000.0}
    docs["tz_timetable_manifest.json"] = json_input(inputs[ds.TZ_TIMETABLE_MANIFEST])
    docs["s4_legality_report.json"] = json_input(inputs[ds.S4_LEGALITY_REPORT])
    png: bytes | None = None
    try:
        docs[REALISM_DOC], png = realism_doc(inputs, ctx)
    except Exception as exc:  # noqa: BLE001
        docs[REALISM_DOC] = _doc(CHECK_REALISM, CODE_CHECK_EXECUTION_FAILED, False, intended_code=CODE_REALISM,
                                 error=f"{type(exc).__name__}: {exc}"[:500])
    st = inputs[ds.SITE_TIMEZONES]
    docs["egress_checksums.json"] = {
        "site_timezones": {"rows": st.height, "content_digest": content_digest(st, st.columns, ds.KEY),
                           "parquet_sha256": sha256_hex(parquet_bytes(st)),
                           "note": "per-file sha256 of every published 2A file: datasets.json (runner)"}}
    failed = sorted(n for n, d in docs.items() if d.get("passed") is False)
    w = ctx.world
    real = docs[REALISM_DOC]
    docs[SUMMARY] = common.jsonable({
        "segment": ds.SEGMENT, "passed": not failed, "failed": failed,
        "failed_codes": sorted({docs[n].get("code") for n in failed}), "documents": len(docs),
        "manifest_fingerprint": w.manifest_fingerprint, "parameter_hash": w.parameter_hash, "seed": w.seed,
        "preset": w.preset.name, "registered_utc": w.registered_utc,
        "rows": {d: inputs[d].height for d in (ds.S1_TZ_LOOKUP, ds.SITE_TIMEZONES, ds.TZ_TIMETABLE,
                                                ds.S4_TZ_WINDOWS) if d in inputs},
        "realism": {"enforced": real.get("enforced"), "gates_passed": real.get("gates_passed"),
                    "failed_gates": real.get("failed_gates")},
    })
    meta = {"passed": not failed, "failed": failed, "documents": len(docs),
            "realism_enforced": real.get("enforced"), "realism_gates_passed": real.get("gates_passed"),
            "realism_failed_gates": real.get("failed_gates")}
    meta.update({f"realism.{k}": val for k, val in (real.get("metrics") or {}).items()
                 if not isinstance(val, (dict, list))})
    return StateResult(outputs={}, report=common.jsonable(meta), bundle=docs,
                       plots={PLOT: png} if png is not None else {})


# ---- S5 asset checks: read the bundle -------------------------------------------------------------


def _from_docs(result: StateResult, code: str, select: Callable[[str, dict], bool],
               severity: str = "ERROR") -> CheckOutcome:
    docs = result.bundle or {}
    picked = {n: d for n, d in docs.items() if select(n, d)}
    failed = sorted(n for n, d in picked.items() if d.get("passed") is False)
    codes = sorted({picked[n].get("code") for n in failed})
    return CheckOutcome(bool(picked) and not failed, {"code": code, "documents": len(picked), "failed": failed,
                                                      "failed_codes": codes}, severity)


def check_state_checks(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    return _from_docs(result, CODE_STATE_CHECK_FAILED,
                      lambda n, d: n.startswith(EVIDENCE) and d.get("state") is not None
                      and not n.startswith(f"{EVIDENCE}replay_"))


def check_replay(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    return _from_docs(result, CODE_REPLAY_MISMATCH, lambda n, d: n.startswith(f"{EVIDENCE}replay_"))


def check_parity(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    return _from_docs(result, CODE_PARITY, lambda n, d: n == f"{EVIDENCE}{CHECK_PARITY}.json")


def check_timetable_digest(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    return _from_docs(result, CODE_TIMETABLE_DIGEST, lambda n, d: n == f"{EVIDENCE}{CHECK_TIMETABLE_DIGEST}.json")


def check_execution(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    """`2A-S5-001`: no bundle document is a check that could not run."""
    docs = result.bundle or {}
    failed = sorted(n for n, d in docs.items() if d.get("code") == CODE_CHECK_EXECUTION_FAILED
                    and d.get("passed") is False and "error" in d)
    return CheckOutcome(bool(docs) and not failed, {"code": CODE_CHECK_EXECUTION_FAILED, "failed": failed,
                                                    "errors": {n: docs[n].get("error") for n in failed[:10]}})


def check_realism(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    """Realism gates: ERROR on presets in `enforce_presets`, WARN elsewhere; figures in evidence."""
    doc = (result.bundle or {}).get(REALISM_DOC)
    enforced = ctx.world.preset.name in ctx.config.validation.enforce_presets
    severity = "ERROR" if enforced else "WARN"
    if doc is None:
        return CheckOutcome(False, {"code": CODE_REALISM, "missing": [REALISM_DOC]}, severity)
    return CheckOutcome(bool(doc.get("gates_passed")), {
        "code": CODE_REALISM, "enforced": enforced, "failed_gates": doc.get("failed_gates"),
        "unevaluated_gates": doc.get("unevaluated_gates"),
        "metrics": {k: v for k, v in (doc.get("metrics") or {}).items()}}, severity)
