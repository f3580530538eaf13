"""1A S9 — validation bundle: re-derive everything from written data and re-drawn streams.

Spec: spec/engine/1A.md, sections "S9", "Checks and gates", "Realism gates". S9
reads every 1A dataset, the RNG trace (`rng_trace_1A`) and the reference data 1A
reads, and returns one evidence document per check as `StateResult.bundle`; the
runner writes index.json / _passed.flag (and the data-file digests). Documents:

* `structural_1A.json` — schema, sort, PK, FK (ISO, merchant), row-count chain;
* `<check>.json` — every state check of the catalogue re-evaluated on the written data;
* `replay_<state>.json` — the state re-run on its written inputs (re-drawing its
  streams) equals its written outputs cell for cell;
* `branch_purity.json`, `rng_accounting.json` (trace = replay tallies = totals the
  datasets imply), `nb_corridor.json`, `ztp_pathology.json`;
* `realism_1A.json` — the realism metrics; `passed` is false only on presets listed in
  `validation.realism.enforce_presets` (elsewhere the gates are reported, not enforced);
* `summary.json`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from fraud_assets.core.errors import E_RNG_ACCOUNTING, EngineFailure
from fraud_assets.engine.common import checks
from fraud_assets.engine.common.checks import compare_frames
from fraud_assets.engine.seg_1a import datasets as ds
from fraud_assets.engine.seg_1a.common import FIRST_KEYS, jsonable, key_list
from fraud_assets.engine.state import CheckOutcome, StateContext, StateResult

CODE_BRANCH_PURITY = "E_BRANCH_PURITY"
CODE_RNG_ACCOUNTING = E_RNG_ACCOUNTING
CODE_NB_CORRIDOR = "1A-S2-003"
CODE_ZTP_PATHOLOGY = "1A-S4-002"
CODE_STRUCTURAL = "1A-S9-001"
CODE_REALISM = "1A-S9-002"

CHECK_STRUCTURAL = "structural_1A"
CHECK_STATE_CHECKS = "state_checks_1A"
CHECK_REPLAY = "replay_1A"
CHECK_BRANCH_PURITY = "branch_purity"
CHECK_RNG_ACCOUNTING = "rng_accounting"
CHECK_NB_CORRIDOR = "nb_corridor"
CHECK_ZTP_PATHOLOGY = "ztp_pathology"
CHECK_REALISM = "realism_1A"
SUMMARY = "summary.json"

# B+ targets of the realism table (reported beside the B gates, never gating)
REALISM_TARGETS: dict[str, tuple[float | None, float | None]] = {
    "single_site_share": (0.35, 0.55), "median_outlets": (8, 18), "top10_outlet_share": (0.38, 0.50),
    "outlet_gini": (0.48, 0.58), "phi_cv": (0.10, 0.30), "phi_p95_p05": (1.5, 3.0),
    "home_ne_legal_share": (0.12, 0.20), "size_gradient_pp": (8.0, None), "multi_country_share": (0.25, 0.40),
    "candidate_breadth_median": (7, 12), "spearman_c_r": (0.45, None), "realisation_ratio_median": (0.20, None),
    "channel_cp_share": (0.60, 0.90),
}

ENGINE_DATASETS = [d.id for d in ds.DATASETS]


def _doc(name: str, code: str, passed: bool, **evidence: Any) -> dict:
    return {"check": name, "code": code, "passed": bool(passed), **jsonable(evidence)}


# ---- 1. structural --------------------------------------------------------------------------------


def structural(inputs: Mapping[str, pl.DataFrame]) -> dict:
    problems: dict[str, list] = {}

    def add(kind: str, item: Any) -> None:
        problems.setdefault(kind, []).append(item)

    for ds_id in ENGINE_DATASETS:
        frame = inputs.get(ds_id)
        if frame is None:
            add("missing_dataset", ds_id)
            continue
        schema = ds.SCHEMAS[ds_id]
        if list(frame.schema.items()) != list(schema.items()):
            add("schema", {"dataset": ds_id, "got": {c: str(t) for c, t in frame.schema.items()}})
            continue
        keys = list(ds.SORT[ds_id])
        k = frame.select(keys)
        if not k.equals(k.sort(keys)):
            add("sort", ds_id)
        dup = k.filter(k.is_duplicated())
        if dup.height:
            add("pk_duplicate", {"dataset": ds_id, "first_keys": key_list(dup.head(FIRST_KEYS), keys)})
    if "missing_dataset" in problems or "schema" in problems:
        return _doc(CHECK_STRUCTURAL, CODE_STRUCTURAL, False, problems=problems)
    iso = inputs[ds.REF_ISO].get_column("country_iso").implode()
    universe = inputs[ds.COUNTRY_UNIVERSE].get_column("country_iso").implode()
    fk_iso = [(ds.COUNTRY_UNIVERSE, "country_iso"), (ds.MERCHANT_IDS, "home_country_iso"),
              (ds.MERCHANT_FEATURES, "home_country_iso"), (ds.S3_CANDIDATE_SET, "country_iso"),
              (ds.CCY_COUNTRY_WEIGHTS, "country_iso"), (ds.S6_MEMBERSHIP, "country_iso"),
              (ds.S7_COUNTRY_COUNTS, "country_iso"), (ds.OUTLET_CATALOGUE, "home_country_iso"),
              (ds.OUTLET_CATALOGUE, "legal_country_iso")]
    for ds_id, col in fk_iso:
        f = inputs[ds_id]
        bad = f.filter(~pl.col(col).is_in(iso) | ~pl.col(col).is_in(universe) | pl.col(col).is_null())
        if bad.height:
            add("fk_iso", {"dataset": ds_id, "column": col, "rows": bad.height,
                           "first": bad.get_column(col).head(FIRST_KEYS).to_list()})
    mids = inputs[ds.MERCHANT_IDS].get_column("merchant_id").implode()
    for ds_id in (ds.MERCHANT_FEATURES, ds.HURDLE_DECISIONS, ds.NB_OUTLET_DRAWS, ds.S3_CANDIDATE_SET,
                  ds.S4_FOREIGN_TARGET, ds.MERCHANT_CURRENCY, ds.S6_MEMBERSHIP, ds.S7_COUNTRY_COUNTS,
                  ds.OUTLET_CATALOGUE):
        bad = inputs[ds_id].filter(~pl.col("merchant_id").is_in(mids))
        if bad.height:
            add("fk_merchant", {"dataset": ds_id, "rows": bad.height,
                                "first": bad.get_column("merchant_id").head(FIRST_KEYS).to_list()})
    chain = {
        ds.MERCHANT_IDS: inputs[ds.MERCHANT_IDS].height,
        ds.MERCHANT_FEATURES: inputs[ds.MERCHANT_FEATURES].height,
        ds.HURDLE_DECISIONS: inputs[ds.HURDLE_DECISIONS].height,
        ds.MERCHANT_CURRENCY: inputs[ds.MERCHANT_CURRENCY].height,
        ds.OUTLET_CATALOGUE + ".merchants": inputs[ds.OUTLET_CATALOGUE].get_column("merchant_id").n_unique(),
        ds.S7_COUNTRY_COUNTS + ".merchants": inputs[ds.S7_COUNTRY_COUNTS].get_column("merchant_id").n_unique(),
        ds.S3_CANDIDATE_SET + ".merchants": inputs[ds.S3_CANDIDATE_SET].get_column("merchant_id").n_unique(),
    }
    if len(set(chain.values())) != 1:
        add("row_count_chain", chain)
    oc_rows = inputs[ds.OUTLET_CATALOGUE].height
    s7_sum = int(inputs[ds.S7_COUNTRY_COUNTS].get_column("count").sum() or 0)
    if oc_rows != s7_sum:
        add("row_count_chain", {"outlet_catalogue_rows": oc_rows, "s7_count_sum": s7_sum})
    return _doc(CHECK_STRUCTURAL, CODE_STRUCTURAL, not problems, problems=problems, row_counts=chain)


# ---- 2. replays -----------------------------------------------------------------------------------


def replay_state(spec, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> tuple[dict, list | None]:
    sub = {k: inputs[k] for k in spec.reads}
    try:
        res = spec.run(sub, ctx)
    except EngineFailure as exc:
        return _doc(f"replay_{spec.asset_name}", CODE_RNG_ACCOUNTING, False, state=spec.state,
                    error=exc.as_dict()), None
    per = {d: compare_frames(inputs[d], res.outputs[d], ds.SORT[d]) for d in spec.writes}
    ok = all(v["equal"] for v in per.values())
    return _doc(f"replay_{spec.asset_name}", CODE_RNG_ACCOUNTING, ok, state=spec.state, datasets=per), res.rng


def recheck_state(spec, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> dict[str, dict]:
    sub = {k: inputs[k] for k in spec.reads}
    written = StateResult(outputs={d: inputs[d] for d in spec.writes})
    out = {}
    for chk in spec.checks:
        try:
            res: CheckOutcome = chk.fn(written, sub, ctx)
            out[f"{chk.name}.json"] = _doc(chk.name, chk.code, res.passed, state=spec.state,
                                           severity=res.severity, evidence=res.evidence)
        except Exception as exc:  # noqa: BLE001 — a crashing check is a failed check, with its reason
            out[f"{chk.name}.json"] = _doc(chk.name, chk.code, False, state=spec.state,
                                           error=f"{type(exc).__name__}: {exc}"[:500])
    return out


# ---- 3. branch purity -----------------------------------------------------------------------------


def branch_purity(inputs: Mapping[str, pl.DataFrame]) -> dict:
    hd = inputs[ds.HURDLE_DECISIONS]
    multi = hd.filter(pl.col("is_multi")).select("merchant_id")
    single = hd.filter(~pl.col("is_multi")).select("merchant_id")
    found: dict[str, list] = {}

    def ids(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.select("merchant_id").unique()

    for ds_id in (ds.NB_OUTLET_DRAWS, ds.S4_FOREIGN_TARGET):
        present = ids(inputs[ds_id])
        found[f"{ds_id}_single_site_rows"] = key_list(present.join(single, on="merchant_id").sort("merchant_id"),
                                                      ["merchant_id"])
        found[f"{ds_id}_multi_site_missing"] = key_list(multi.join(present, on="merchant_id", how="anti")
                                                        .sort("merchant_id"), ["merchant_id"])
    k1 = inputs[ds.S4_FOREIGN_TARGET].filter(pl.col("k_target") >= 1).select("merchant_id")
    s6 = ids(inputs[ds.S6_MEMBERSHIP])
    found["s6_without_k_target"] = key_list(s6.join(k1, on="merchant_id", how="anti").sort("merchant_id"),
                                            ["merchant_id"])
    found["k_target_without_s6"] = key_list(k1.join(s6, on="merchant_id", how="anti").sort("merchant_id"),
                                            ["merchant_id"])
    s3_foreign = ids(inputs[ds.S3_CANDIDATE_SET].filter(~pl.col("is_home")))
    found["s3_foreign_for_single_site"] = key_list(s3_foreign.join(single, on="merchant_id").sort("merchant_id"),
                                                   ["merchant_id"])
    s7_multi_country = ids(inputs[ds.S7_COUNTRY_COUNTS].filter(~pl.col("is_home")))
    selected = ids(inputs[ds.S6_MEMBERSHIP].filter(pl.col("selected")))
    found["s7_foreign_without_selection"] = key_list(
        s7_multi_country.join(selected, on="merchant_id", how="anti").sort("merchant_id"), ["merchant_id"])
    s7_single = inputs[ds.S7_COUNTRY_COUNTS].join(single, on="merchant_id").filter(
        ~pl.col("is_home") | (pl.col("count") != 1))
    found["s7_single_site_not_one_home"] = key_list(ids(s7_single).sort("merchant_id"), ["merchant_id"])
    bad = {k: v for k, v in found.items() if v}
    return _doc(CHECK_BRANCH_PURITY, CODE_BRANCH_PURITY, not bad,
                counts={k: len(v) for k, v in found.items()},
                first_keys={k: v[:FIRST_KEYS] for k, v in bad.items()})


# ---- 4. RNG accounting ----------------------------------------------------------------------------


def implied_totals(inputs: Mapping[str, pl.DataFrame]) -> dict[str, dict[str, int]]:
    """Per family, the totals the written datasets imply (None where only a replay knows)."""
    n = inputs[ds.MERCHANT_IDS].height
    hd, nb, st = inputs[ds.HURDLE_DECISIONS], inputs[ds.NB_OUTLET_DRAWS], inputs[ds.S4_FOREIGN_TARGET]
    u1 = hd.filter(pl.col("u").is_not_null()).height
    ux = st.filter(pl.col("u_expand").is_not_null()).height
    s6 = inputs[ds.S6_MEMBERSHIP].height
    s7 = inputs[ds.S7_COUNTRY_COUNTS].group_by("merchant_id").len().filter(pl.col("len") > 1).height
    return {
        "1A.s0.universe.mcc": {"keys": n, "draws": n, "blocks": n},
        "1A.s0.universe.channel": {"keys": n, "draws": n, "blocks": n},
        "1A.s1.hurdle": {"keys": u1, "draws": u1, "blocks": u1},
        "1A.s2.nb_gamma": {"keys": nb.height, "draws": int(nb.get_column("gamma_draws").sum() or 0)},
        "1A.s2.nb_poisson": {"keys": nb.height, "draws": int(nb.get_column("poisson_draws").sum() or 0)},
        "1A.s4.expand": {"keys": ux, "draws": ux, "blocks": ux},
        "1A.s4.ztp": {"keys": st.filter(pl.col("ztp_attempts") > 0).height},
        "1A.s6.gumbel": {"keys": s6, "draws": s6, "blocks": s6},
        "1A.s7.dirichlet": {"keys": s7},
    }


def rng_accounting(trace: pl.DataFrame | None, replay: Mapping[str, list | None], declared: Mapping[str, Sequence[str]],
                   implied: Mapping[str, Mapping[str, int]]) -> dict:
    if trace is None:
        return _doc(CHECK_RNG_ACCOUNTING, CODE_RNG_ACCOUNTING, False, problems=[{"error": "rng_trace_1A missing"}])
    problems, rows = checks.rng_accounting(trace, replay, declared, implied)
    return _doc(CHECK_RNG_ACCOUNTING, CODE_RNG_ACCOUNTING, not problems, problems=problems[:50], trace=rows)


# ---- 5. corridors ---------------------------------------------------------------------------------


def binomial_upper_tail(successes: int, trials: int, p: float) -> float:
    """P(Binomial(trials, p) >= successes), summed exactly in log space."""
    if successes <= 0:
        return 1.0
    if successes > trials:
        return 0.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    log_p, log_q = math.log(p), math.log1p(-p)
    terms = [math.lgamma(trials + 1) - math.lgamma(k + 1) - math.lgamma(trials - k + 1) + k * log_p
             + (trials - k) * log_q for k in range(successes, trials + 1)]
    top = max(terms)
    return min(1.0, math.exp(top) * math.fsum(math.exp(t - top) for t in terms))


def nb_corridor(nb: pl.DataFrame, cfg) -> dict:
    """Corridor on the NB rejection sampler (1A-S2-003), in a form that is fair at every size.

    The rate bound is a one-sided exact binomial test (INTEGRATION decision 14): the world fails
    when its rejections are significantly above `max_rejection_rate`, so 2 rejections among 27
    attempts of a tiny world pass while a mis-parameterised sampler fails at any size. p99 is
    judged once there are enough merchants for a 99th percentile to mean something.
    """
    r = nb.get_column("nb_rejections").to_numpy().astype(np.int64)
    rejections, attempts = int(r.sum()), int((r + 1).sum())
    rate = rejections / attempts if attempts else 0.0
    p99 = float(np.quantile(r, 0.99)) if r.size else 0.0
    c = cfg.validation.nb_corridor
    p_value = binomial_upper_tail(rejections, attempts, c.max_rejection_rate)
    rate_ok = p_value >= c.significance
    p99_judged = r.size >= c.min_merchants_for_p99
    ok = rate_ok and (p99 <= c.max_p99_rejections or not p99_judged)
    return _doc(CHECK_NB_CORRIDOR, CODE_NB_CORRIDOR, ok, rejection_rate=rate, rejections=rejections,
                attempts=attempts, rate_p_value=p_value, p99_rejections=p99, p99_judged=p99_judged,
                merchants=int(r.size), max_rejection_rate=c.max_rejection_rate,
                max_p99_rejections=c.max_p99_rejections, significance=c.significance)


def ztp_pathology(st: pl.DataFrame, cfg) -> dict:
    c = cfg.validation.ztp_pathology
    ex = st.filter(pl.col("expanded"))
    n = ex.height
    exhausted = ex.filter(pl.col("exhausted")).height
    high = ex.filter(pl.col("ztp_zero_draws") > c.high_zero_draws).height
    es = exhausted / n if n else 0.0
    hs = high / n if n else 0.0
    ok = es <= c.max_exhausted_share and hs <= c.max_high_zero_share
    return _doc(CHECK_ZTP_PATHOLOGY, CODE_ZTP_PATHOLOGY, ok, expanded=n, exhausted=exhausted, exhausted_share=es,
                high_zero=high, high_zero_share=hs, thresholds=c.model_dump())


# ---- 6. realism -----------------------------------------------------------------------------------


def gini(values: Sequence[float]) -> float | None:
    x = np.sort(np.asarray(values, dtype=np.float64))
    n = x.size
    if n == 0 or x.sum() <= 0:
        return None
    i = np.arange(1, n + 1)
    return float(2.0 * np.sum(i * x) / (n * x.sum()) - (n + 1.0) / n)


def spearman(a: Sequence[float], b: Sequence[float]) -> float | None:
    if len(a) < 3:
        return None
    ra = pl.Series(a, dtype=pl.Float64).rank("average").to_numpy()
    rb = pl.Series(b, dtype=pl.Float64).rank("average").to_numpy()
    if ra.std() == 0 or rb.std() == 0:
        return None
    return float(np.corrcoef(ra, rb)[0, 1])


def _median(x: np.ndarray) -> float | None:
    return float(np.median(x)) if x.size else None


def realism_metrics(inputs: Mapping[str, pl.DataFrame]) -> dict[str, float | None]:
    mi, hd, nb = inputs[ds.MERCHANT_IDS], inputs[ds.HURDLE_DECISIONS], inputs[ds.NB_OUTLET_DRAWS]
    oc, s3, s6 = inputs[ds.OUTLET_CATALOGUE], inputs[ds.S3_CANDIDATE_SET], inputs[ds.S6_MEMBERSHIP]
    feats = inputs[ds.MERCHANT_FEATURES]
    n_m = mi.height
    n = nb.sort("merchant_id").get_column("n_outlets").to_numpy().astype(np.float64)
    phi = nb.get_column("phi").to_numpy()
    m = {}
    m["single_site_share"] = hd.filter(~pl.col("is_multi")).height / n_m if n_m else None
    m["median_outlets"] = _median(n)
    top = int(math.floor(0.1 * n.size))
    m["top10_outlet_share"] = float(np.sort(n)[::-1][:top].sum() / n.sum()) if top and n.sum() > 0 else None
    m["outlet_gini"] = gini(n)
    m["phi_cv"] = float(phi.std() / phi.mean()) if phi.size and phi.mean() > 0 else None
    p05 = float(np.quantile(phi, 0.05)) if phi.size else None
    m["phi_p95_p05"] = float(np.quantile(phi, 0.95)) / p05 if p05 else None
    foreign = pl.col("home_country_iso") != pl.col("legal_country_iso")
    m["home_ne_legal_share"] = oc.filter(foreign).height / oc.height if oc.height else None
    if n.size:
        p90, p50 = float(np.quantile(n, 0.9)), float(np.quantile(n, 0.5))
        per = oc.group_by("merchant_id").agg(pl.len().alias("rows"), foreign.sum().alias("foreign")).join(
            nb.select("merchant_id", "n_outlets"), on="merchant_id", how="inner")
        hi = per.filter(pl.col("n_outlets") >= p90)
        lo = per.filter(pl.col("n_outlets") <= p50)
        hs = hi.get_column("foreign").sum() / hi.get_column("rows").sum() if hi.height else None
        ls = lo.get_column("foreign").sum() / lo.get_column("rows").sum() if lo.height else None
        m["size_gradient_pp"] = 100.0 * (hs - ls) if hs is not None and ls is not None else None
    else:
        m["size_gradient_pp"] = None
    legal = oc.group_by("merchant_id").agg(pl.col("legal_country_iso").n_unique().alias("k"))
    m["multi_country_share"] = legal.filter(pl.col("k") >= 2).height / n_m if n_m else None
    em = (feats.filter(pl.col("is_eligible")).select("merchant_id")
          .join(hd.filter(pl.col("is_multi")).select("merchant_id"), on="merchant_id")
          .join(s3.filter(~pl.col("is_home")).group_by("merchant_id").agg(pl.len().alias("C")), on="merchant_id",
                how="left")
          .join(s6.filter(pl.col("selected")).group_by("merchant_id").agg(pl.len().alias("R")), on="merchant_id",
                how="left")
          .with_columns(pl.col("C").fill_null(0), pl.col("R").fill_null(0)).sort("merchant_id"))
    c = em.get_column("C").to_numpy().astype(np.float64)
    r = em.get_column("R").to_numpy().astype(np.float64)
    m["candidate_breadth_median"] = _median(c)
    m["spearman_c_r"] = spearman(c.tolist(), r.tolist())
    pos = c > 0
    m["realisation_ratio_median"] = _median(r[pos] / np.maximum(c[pos], 1.0))
    m["channel_cp_share"] = mi.filter(pl.col("channel") == "card_present").height / n_m if n_m else None
    return {k: (None if v is None or not math.isfinite(v) else float(v)) for k, v in m.items()}


def _within(value: float | None, band: Sequence[float | None]) -> bool:
    if value is None:
        return False
    lo, hi = band
    return (lo is None or value >= lo) and (hi is None or value <= hi)


def realism(inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> dict:
    metrics = realism_metrics(inputs)
    cfg = ctx.config.validation.realism
    gates = {k: list(v) for k, v in cfg.gates.items()}
    results = {k: _within(metrics.get(k), v) for k, v in gates.items()}
    targets = {k: _within(metrics.get(k), v) for k, v in REALISM_TARGETS.items()}
    enforced = ctx.world.preset.name in cfg.enforce_presets
    gates_passed = all(results.values())
    return _doc(CHECK_REALISM, CODE_REALISM, gates_passed or not enforced, **metrics, enforced=enforced,
                gates_passed=gates_passed, metrics=metrics, gates=gates, gate_results=results,
                failed_gates=sorted(k for k, v in results.items() if not v),
                targets={k: list(v) for k, v in REALISM_TARGETS.items()}, target_results=targets,
                preset=ctx.world.preset.name, seed=ctx.world.seed)


# ---- run ------------------------------------------------------------------------------------------


def run(inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> StateResult:
    from fraud_assets.engine.seg_1a.catalogue import STATES  # the catalogue imports this module

    producers = [s for s in STATES if not s.validation]
    docs: dict[str, dict] = {}
    docs["structural_1A.json"] = structural(inputs)
    problems = docs["structural_1A.json"].get("problems", {})
    structural_ok = "missing_dataset" not in problems and "schema" not in problems  # safe to re-derive
    replay_tallies: dict[str, list | None] = {}
    for spec in producers:
        if structural_ok:
            docs.update(recheck_state(spec, inputs, ctx))
            doc, tallies = replay_state(spec, inputs, ctx)
        else:
            doc, tallies = _doc(f"replay_{spec.asset_name}", CODE_RNG_ACCOUNTING, False,
                                state=spec.state, error="skipped: a dataset is missing or has the wrong schema"), None
        docs[f"replay_{spec.asset_name}.json"] = doc
        replay_tallies[spec.state] = tallies
    if structural_ok:
        docs["branch_purity.json"] = branch_purity(inputs)
        implied = implied_totals(inputs)
        docs["nb_corridor.json"] = nb_corridor(inputs[ds.NB_OUTLET_DRAWS], ctx.config)
        docs["ztp_pathology.json"] = ztp_pathology(inputs[ds.S4_FOREIGN_TARGET], ctx.config)
        docs["realism_1A.json"] = realism(inputs, ctx)
    else:
        implied = {}
        for name, code in ((CHECK_BRANCH_PURITY, CODE_BRANCH_PURITY), (CHECK_NB_CORRIDOR, CODE_NB_CORRIDOR),
                           (CHECK_ZTP_PATHOLOGY, CODE_ZTP_PATHOLOGY), (CHECK_REALISM, CODE_REALISM)):
            docs[f"{name}.json"] = _doc(name, code, False,
                                        error="skipped: a dataset is missing or has the wrong schema")
    declared = {s.state: list(s.rng_families) for s in producers}
    docs["rng_accounting.json"] = rng_accounting(inputs.get(ds.RNG_TRACE), replay_tallies, declared, implied)
    failed = sorted(name for name, d in docs.items() if d.get("passed") is False)
    w = ctx.world
    docs[SUMMARY] = {
        "segment": "1A", "passed": not failed, "failed": failed, "checks": len(docs),
        "manifest_fingerprint": w.manifest_fingerprint, "parameter_hash": w.parameter_hash, "seed": w.seed,
        "preset": w.preset.name, "registered_utc": w.registered_utc,
        "rows": {d: inputs[d].height for d in ENGINE_DATASETS if d in inputs},
        "failed_codes": sorted({docs[n]["code"] for n in failed}),
    }
    real = docs["realism_1A.json"]
    report = {"passed": not failed, "failed": failed,
              "realism_enforced": real.get("enforced"), "realism_gates_passed": real.get("gates_passed")}
    report.update({f"realism.{k}": v for k, v in (real.get("metrics") or {}).items()})
    return StateResult(outputs={}, rng=[], report=jsonable(report), bundle=docs)


# ---- S9 asset checks: read the bundle -------------------------------------------------------------


def _bundle(result: StateResult) -> dict[str, dict]:
    return result.bundle or {}


def _from_docs(result: StateResult, code: str, names: Sequence[str]) -> CheckOutcome:
    docs = _bundle(result)
    picked = {n: docs.get(n) for n in names}
    missing = [n for n, d in picked.items() if d is None]
    failed = [n for n, d in picked.items() if d is not None and d.get("passed") is False]
    return CheckOutcome(not failed and not missing, {"code": code, "documents": len(picked), "failed": failed,
                                                     "missing": missing})


def check_structural(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    return _from_docs(result, CODE_STRUCTURAL, ["structural_1A.json"])


def check_state_checks(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    """Every state check re-evaluated on the written data (codes of the failing ones in evidence)."""
    docs = _bundle(result)
    names = [n for n, d in docs.items() if d.get("state") is not None and not n.startswith("replay_")]
    out = _from_docs(result, CODE_STRUCTURAL, names)
    codes = sorted({docs[n]["code"] for n in out.evidence["failed"]})
    return CheckOutcome(out.passed and bool(names), {**out.evidence, "failed_codes": codes})


def check_replay(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    names = [n for n in _bundle(result) if n.startswith("replay_")]
    return _from_docs(result, CODE_RNG_ACCOUNTING, names or ["replay_s1_hurdle.json"])


def check_branch_purity(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    return _from_docs(result, CODE_BRANCH_PURITY, ["branch_purity.json"])


def check_rng_accounting(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    return _from_docs(result, CODE_RNG_ACCOUNTING, ["rng_accounting.json"])


def check_nb_corridor(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    return _from_docs(result, CODE_NB_CORRIDOR, ["nb_corridor.json"])


def check_ztp_pathology(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    return _from_docs(result, CODE_ZTP_PATHOLOGY, ["ztp_pathology.json"])


def check_realism(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    """Realism gates: ERROR on presets in `enforce_presets`, WARN elsewhere (reported, not blocking)."""
    doc = _bundle(result).get("realism_1A.json")
    enforced = ctx.world.preset.name in ctx.config.validation.realism.enforce_presets
    severity = "ERROR" if enforced else "WARN"
    if doc is None:
        return CheckOutcome(False, {"code": CODE_REALISM, "missing": ["realism_1A.json"]}, severity)
    passed = bool(doc.get("gates_passed"))
    return CheckOutcome(passed, {"code": CODE_REALISM, "enforced": enforced, "failed_gates": doc.get("failed_gates"),
                                 "metrics": doc.get("metrics")}, severity)
