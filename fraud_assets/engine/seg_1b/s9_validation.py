"""1B S9 — validation bundle (spec/engine/1B.md, sections "S9", "Checks and gates", "Realism gates").

S9 reads every 1B dataset, the gated 1A inputs, the reference data 1B reads and the
RNG trace (`rng_trace_1B`), and returns one evidence document per check as
`StateResult.bundle`; the runner writes index.json / _passed.flag / datasets.json.

* `structural_1B.json` (`1B-S9-901`): schema, PK, sort, partition columns of every
  dataset; tile FKs (S4/S5/S6/S7 tiles exist in `tile_index` for the country), ISO FKs;
* `parity_1B.json` (`1B-S9-901`): key sets of outlet_catalogue = S5 = S6 = S7 = S8;
  per pair Σ S4 = `s3_requirements.n_sites`; site_locations = S7 projected;
* `<check>.json`: every state check of the catalogue re-evaluated on the written data
  (per-country Σ weight_fp = 10^9 is S2's `weight_sum`);
* `replay_s4/s5/s6_*.json` (`1B-S9-907`): the state re-run on its written inputs
  (re-drawing its streams) equals its written output cell for cell, bit for bit;
* `rng_accounting.json` (`1B-S9-907`): trace = replay tallies = totals the datasets imply;
* `realism_1B.json` (`1B-S9-908`): the realism metrics; `passed` is false only on presets
  in `validation.realism.enforce_presets`; the sites-on-a-map PNG goes to `plots`;
* `egress_checksums.json`, `summary.json`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numba
import numpy as np
import polars as pl

from fraud_assets.core.canonical import sha256_hex
from fraud_assets.core.digest import content_digest
from fraud_assets.core.errors import EngineFailure
from fraud_assets.core.store import parquet_bytes
from fraud_assets.engine.common import checks
from fraud_assets.engine.common.checks import compare_frames
from fraud_assets.engine.seg_1b import datasets as ds
from fraud_assets.engine.seg_1b.common import FIRST_KEYS, jsonable, key_list
from fraud_assets.engine.seg_1b.grid import haversine_km_nb, haversine_km_py
from fraud_assets.engine.seg_1b.plots import site_map_png
from fraud_assets.engine.state import CheckOutcome, StateContext, StateResult

CODE_PARITY = "1B-S9-901"
CODE_RNG_ACCOUNTING = "1B-S9-907"
CODE_REALISM = "1B-S9-908"

CHECK_STRUCTURAL = "structural_1B"
CHECK_PARITY = "parity_1B"
CHECK_STATE_CHECKS = "state_checks_1B"
CHECK_REPLAY = "replay_1B"
CHECK_RNG_ACCOUNTING = "rng_accounting_1B"
CHECK_REALISM = "realism_1B"
SUMMARY = "summary.json"
REPLAYED_STATES = ("S4", "S5", "S6")
COINCIDENT_KM = 0.001  # 1 m
TOP_P = {"top1": 0.01, "top5": 0.05, "top10": 0.10}

ENGINE_DATASETS = [d.id for d in ds.DATASETS]
KEY = list(ds.SITE_KEY)


def _doc(name: str, code: str, passed: bool, **evidence: Any) -> dict:
    return {"check": name, "code": code, "passed": bool(passed), **jsonable(evidence)}


# ---- 1. structural ------------------------------------------------------------------------------------


def structural(inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> dict:
    problems: dict[str, list] = {}

    def add(kind: str, item: Any) -> None:
        problems.setdefault(kind, []).append(item)

    for ds_id in ENGINE_DATASETS:
        frame = inputs.get(ds_id)
        if frame is None:
            add("missing_dataset", ds_id)
            continue
        if list(frame.schema.items()) != list(ds.SCHEMAS[ds_id].items()):
            add("schema", {"dataset": ds_id, "got": {c: str(t) for c, t in frame.schema.items()}})
            continue
        keys = list(ds.SORT[ds_id])
        k = frame.select(keys)
        if not k.equals(k.sort(keys)):
            add("sort", ds_id)
        dup = k.filter(pl.struct(keys).is_duplicated())
        if dup.height:
            add("pk_duplicate", {"dataset": ds_id, "first_keys": key_list(dup.head(FIRST_KEYS), keys)})
    if "missing_dataset" in problems or "schema" in problems:
        return _doc(CHECK_STRUCTURAL, CODE_PARITY, False, problems=problems)
    tiles = inputs[ds.TILE_INDEX].select(pl.col("country_iso").alias("legal_country_iso"), "tile_id")
    for ds_id in (ds.S4_ALLOC_PLAN, ds.S5_SITE_TILE, ds.S6_SITE_JITTER, ds.S7_SITE_SYNTHESIS):
        orphan = inputs[ds_id].join(tiles, on=["legal_country_iso", "tile_id"], how="anti")
        if orphan.height:
            add("fk_tile", {"dataset": ds_id, "rows": orphan.height,
                            "first": key_list(orphan.head(FIRST_KEYS), ["legal_country_iso", "tile_id"])})
    if not inputs[ds.TILE_WEIGHTS].select(ds.TILE_KEY).equals(inputs[ds.TILE_INDEX].select(ds.TILE_KEY)):
        add("fk_tile", {"dataset": ds.TILE_WEIGHTS, "error": "rows differ from tile_index"})
    iso = inputs[ds.REF_ISO].get_column("country_iso").implode()
    for ds_id, col in ((ds.TILE_INDEX, "country_iso"), (ds.S3_REQUIREMENTS, "legal_country_iso"),
                       (ds.SITE_LOCATIONS, "legal_country_iso")):
        bad = inputs[ds_id].filter(~pl.col(col).is_in(iso))
        if bad.height:
            add("fk_iso", {"dataset": ds_id, "first": bad.get_column(col).unique().sort().head(FIRST_KEYS).to_list()})
    grid = inputs[ds.S0_TILE_GRID]
    if grid.height != 1 or grid.get_column("preset")[0] != ctx.world.preset.name:
        add("partition", {"dataset": ds.S0_TILE_GRID, "error": "grid row is not the world's preset"})
    return _doc(CHECK_STRUCTURAL, CODE_PARITY, not problems, problems=problems,
                rows={d: inputs[d].height for d in ENGINE_DATASETS})


# ---- 2. parity ----------------------------------------------------------------------------------------


def parity(inputs: Mapping[str, pl.DataFrame]) -> dict:
    found: dict[str, Any] = {}
    oc = inputs[ds.OUTLET_CATALOGUE].select(KEY).unique().sort(KEY)
    for ds_id in (ds.S5_SITE_TILE, ds.S6_SITE_JITTER, ds.S7_SITE_SYNTHESIS, ds.SITE_LOCATIONS):
        keys = inputs[ds_id].select(KEY).sort(KEY)
        if not keys.equals(oc):
            found[ds_id] = {"rows": keys.height, "outlet_rows": oc.height,
                            "missing": key_list(oc.join(keys, on=KEY, how="anti").head(FIRST_KEYS), KEY),
                            "extra": key_list(keys.join(oc, on=KEY, how="anti").head(FIRST_KEYS), KEY)}
    pair = list(ds.PAIR_KEY)
    placed = inputs[ds.S4_ALLOC_PLAN].group_by(pair).agg(pl.col("n_sites_tile").sum().cast(pl.Int64).alias("placed"))
    req = inputs[ds.S3_REQUIREMENTS].select(*pair, pl.col("n_sites").cast(pl.Int64))
    off = req.join(placed, on=pair, how="full", coalesce=True).filter(
        pl.col("placed").is_null() | pl.col("n_sites").is_null() | (pl.col("placed") != pl.col("n_sites"))).sort(pair)
    if off.height:
        found["s4_sum_vs_s3"] = {"pairs": off.height, "first": key_list(off.head(FIRST_KEYS), pair)}
    outlet_pairs = inputs[ds.OUTLET_CATALOGUE].group_by(pair).agg(pl.len().cast(pl.Int64).alias("rows"))
    mism = outlet_pairs.join(req, on=pair, how="full", coalesce=True).filter(
        pl.col("rows").is_null() | pl.col("n_sites").is_null() | (pl.col("rows") != pl.col("n_sites")))
    if mism.height:
        found["s3_vs_outlet_catalogue"] = {"pairs": mism.height, "first": key_list(mism.head(FIRST_KEYS), pair)}
    projected = ds.conform(inputs[ds.S7_SITE_SYNTHESIS], ds.SITE_LOCATIONS)
    if not inputs[ds.SITE_LOCATIONS].equals(projected):
        found["site_locations_vs_s7"] = compare_frames(inputs[ds.SITE_LOCATIONS], projected, KEY)
    s6 = inputs[ds.S6_SITE_JITTER].select(*KEY, "tile_id", "lat_deg", "lon_deg", "placement").sort(KEY)
    if not inputs[ds.S7_SITE_SYNTHESIS].sort(KEY).equals(s6):
        found["s7_vs_s6"] = compare_frames(inputs[ds.S7_SITE_SYNTHESIS], s6, KEY)
    return _doc(CHECK_PARITY, CODE_PARITY, not found, mismatches=found, sites=oc.height)


# ---- 3. replays -------------------------------------------------------------------------------------------


def replay_state(spec, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> tuple[dict, list | None]:
    name = f"replay_{spec.asset_name}"
    try:
        res = spec.run({k: inputs[k] for k in spec.reads}, ctx)
    except EngineFailure as exc:
        return _doc(name, CODE_RNG_ACCOUNTING, False, state=spec.state, error=exc.as_dict()), None
    per = {d: compare_frames(inputs[d], res.outputs[d], ds.SORT[d]) for d in spec.writes}
    return _doc(name, CODE_RNG_ACCOUNTING, all(v["equal"] for v in per.values()), state=spec.state,
                datasets=per), res.rng


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


# ---- 4. RNG accounting --------------------------------------------------------------------------------------


def implied_totals(inputs: Mapping[str, pl.DataFrame]) -> dict[str, dict[str, int]]:
    """Per family, the totals the written datasets imply."""
    pairs = inputs[ds.S3_REQUIREMENTS].height
    sites = inputs[ds.S5_SITE_TILE].height
    s6 = inputs[ds.S6_SITE_JITTER]
    attempts = int(s6.get_column("attempts").cast(pl.Int64).sum() or 0)
    return {
        "1B.s4.alloc": {"keys": pairs, "draws": pairs, "blocks": pairs},
        "1B.s5.site_tile_assign": {"keys": sites, "draws": sites, "blocks": sites},
        "1B.s6.jitter": {"keys": s6.height, "draws": 4 * attempts, "blocks": 2 * attempts},
    }


def rng_accounting(trace: pl.DataFrame | None, replay: Mapping[str, list | None],
                   declared: Mapping[str, Sequence[str]], implied: Mapping[str, Mapping[str, int]]) -> dict:
    if trace is None:
        return _doc("rng_accounting", CODE_RNG_ACCOUNTING, False, problems=[{"error": "rng_trace_1B missing"}])
    problems, rows = checks.rng_accounting(trace, replay, declared, implied)
    return _doc("rng_accounting", CODE_RNG_ACCOUNTING, not problems, problems=problems[:50], trace=rows)


# ---- 5. realism ---------------------------------------------------------------------------------------------


@numba.njit(cache=True)
def nearest_neighbour_km_nb(lat, lon):
    """Haversine distance of every point to its nearest other point (inf for a single point)."""
    n = lat.shape[0]
    out = np.empty(n, dtype=np.float64)
    for i in range(n):
        best = np.inf
        for j in range(n):
            if j != i:
                d = haversine_km_nb(lat[i], lon[i], lat[j], lon[j])
                if d < best:
                    best = d
        out[i] = best
    return out


def nearest_neighbour_km_py(lat: Sequence[float], lon: Sequence[float]) -> list[float]:
    """Plain-Python brute-force reference of `nearest_neighbour_km_nb`."""
    n = len(lat)
    return [min((haversine_km_py(lat[i], lon[i], lat[j], lon[j]) for j in range(n) if j != i), default=math.inf)
            for i in range(n)]


def gini(values: Sequence[float]) -> float | None:
    x = np.sort(np.asarray(values, dtype=np.float64))
    n = x.size
    if n == 0 or x.sum() <= 0:
        return None
    i = np.arange(1, n + 1)
    return float(2.0 * np.sum(i * x) / (n * x.sum()) - (n + 1.0) / n)


def top_shares(counts: Sequence[int], k_u: int) -> dict[str, float | None]:
    c = np.sort(np.asarray(counts, dtype=np.float64))[::-1]
    total = c.sum()
    return {name: (float(c[:max(1, math.floor(p * k_u))].sum() / total) if total > 0 else None)
            for name, p in TOP_P.items()}


def _finite(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def realism_metrics(inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> tuple[dict, dict]:
    """(metrics 1–11 of the spec's table, per-country details)."""
    rc = ctx.config.validation.realism
    sites = inputs[ds.S7_SITE_SYNTHESIS]
    cu = inputs[ds.COUNTRY_UNIVERSE].sort("country_iso")
    n_all = sites.height
    per_country = sites.group_by("legal_country_iso").len().rename({"legal_country_iso": "country_iso", "len": "n"})
    counts = cu.select("country_iso", "continent", "region_floor_share").join(
        per_country, on="country_iso", how="left").with_columns(pl.col("n").fill_null(0)).sort("country_iso")
    k_u = counts.height
    m: dict[str, float | None] = {}
    m["country_gini"] = gini(counts.get_column("n").to_list())
    m.update(top_shares(counts.get_column("n").to_list(), k_u))
    m["coverage"] = counts.filter(pl.col("n") > 0).height / k_u if k_u else None
    m["southern_share"] = sites.filter(pl.col("lat_deg") < 0).height / n_all if n_all else None
    floors = (counts.filter(pl.col("region_floor_share").is_not_null() & (pl.col("region_floor_share") > 0))
              .group_by("continent").agg(pl.col("n").sum(), pl.col("region_floor_share").first()).sort("continent"))
    ratios = {r["continent"]: (r["n"] / n_all) / r["region_floor_share"] if n_all else None
              for r in floors.iter_rows(named=True)}
    m["region_floor_ratio"] = min((v for v in ratios.values() if v is not None), default=None)
    # within-country nearest neighbours
    area = inputs[ds.TILE_INDEX].group_by("country_iso").agg(pl.col("land_area_m2").sum().alias("area_m2"))
    area_of = dict(area.iter_rows())
    ordered = sites.sort(KEY)
    nn_rows, tails, clark = [], [], []
    coincident = 0
    for (iso,), grp in ordered.group_by(["legal_country_iso"], maintain_order=True):
        nn = nearest_neighbour_km_nb(grp.get_column("lat_deg").to_numpy(), grp.get_column("lon_deg").to_numpy())
        coincident += int((nn < COINCIDENT_KM).sum())
        n = grp.height
        if n >= rc.nn_min_sites:
            p50, p99 = float(np.quantile(nn, 0.5)), float(np.quantile(nn, 0.99))
            tail = p99 / p50 if p50 > 0 else math.inf
            expected = 0.5 * math.sqrt(area_of.get(iso, 0.0) / 1e6 / n)
            ce = float(np.median(nn)) / expected if expected > 0 else math.inf
            tails.append(tail)
            clark.append(ce)
            nn_rows.append({"country_iso": iso, "n": n, "nn_p50_km": p50, "nn_p99_km": p99, "tail": tail,
                            "clark_evans": ce})
    m["nn_tail_ratio"] = float(np.median(tails)) if tails else None
    m["clark_evans"] = float(np.median(clark)) if clark else None
    m["coincident_share"] = coincident / n_all if n_all else None
    # tile collapse and placement fidelity
    tw = inputs[ds.TILE_WEIGHTS].filter(pl.col("weight_fp") > 0)
    k = 10 ** int(tw.get_column("dp")[0]) if tw.height else 1
    positive = dict(tw.group_by("country_iso").len().iter_rows())
    distinct = sites.group_by("legal_country_iso").agg(pl.len().alias("n"), pl.col("tile_id").n_unique().alias("d"))
    collapsed = sorted(r["legal_country_iso"] for r in distinct.iter_rows(named=True)
                       if r["n"] >= rc.collapse_min_sites
                       and r["d"] < 0.15 * min(r["n"], positive.get(r["legal_country_iso"], 0)))
    m["tile_collapse_countries"] = float(len(collapsed))
    fidelity = []
    for r in distinct.filter(pl.col("n") >= rc.fidelity_min_sites).sort("legal_country_iso").iter_rows(named=True):
        iso = r["legal_country_iso"]
        tiles = tw.filter(pl.col("country_iso") == iso).sort(["weight_fp", "tile_id"], descending=[True, False])
        top = tiles.head(max(1, math.floor(0.1 * tiles.height)))
        mass = int(top.get_column("weight_fp").sum()) / k
        share = sites.filter((pl.col("legal_country_iso") == iso)
                             & pl.col("tile_id").is_in(top.get_column("tile_id").implode())).height / r["n"]
        fidelity.append(abs(share - mass))
    m["placement_fidelity"] = float(np.mean(fidelity)) if fidelity else None
    m["fallback_rate"] = sites.filter(pl.col("placement") == "fallback").height / n_all if n_all else None
    details = {"region_floor_ratios": ratios, "nn_countries": nn_rows, "collapsed_countries": collapsed,
               "fidelity_countries": len(fidelity), "universe_countries": k_u, "sites": n_all}
    return {key: _finite(v) for key, v in m.items()}, details


def gate_results(metrics: Mapping[str, float | None], gates) -> dict[str, bool | None]:
    """Per gate: True/False, or None when the metric is not applicable (e.g. no country with ≥ 50 sites)."""
    lo, hi = gates.clark_evans_range
    rules = {
        "country_gini": lambda v: v <= gates.country_gini_max,
        "top1": lambda v: v <= gates.top1_max,
        "top5": lambda v: v <= gates.top5_max,
        "top10": lambda v: v <= gates.top10_max,
        "coverage": lambda v: v >= gates.coverage_min,
        "southern_share": lambda v: v >= gates.southern_share_min,
        "region_floor_ratio": lambda v: v >= gates.region_floor_ratio_min,
        "nn_tail_ratio": lambda v: v <= gates.nn_tail_ratio_max,
        "clark_evans": lambda v: lo <= v <= hi,
        "coincident_share": lambda v: v <= gates.coincident_max,
        "tile_collapse_countries": lambda v: v == 0,
        "placement_fidelity": lambda v: v <= gates.fidelity_max_abs,
        "fallback_rate": lambda v: v <= gates.fallback_rate_max,
    }
    return {name: (None if metrics.get(name) is None else bool(rule(metrics[name]))) for name, rule in rules.items()}


def realism(inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> dict:
    rc = ctx.config.validation.realism
    metrics, details = realism_metrics(inputs, ctx)
    results = gate_results(metrics, rc.gates)
    enforced = ctx.world.preset.name in rc.enforce_presets
    failed = sorted(k for k, v in results.items() if v is False)
    gates_passed = not failed
    return _doc(CHECK_REALISM, CODE_REALISM, gates_passed or not enforced, enforced=enforced,
                gates_passed=gates_passed, metrics=metrics, gates=rc.gates.model_dump(), gate_results=results,
                failed_gates=failed, not_applicable=sorted(k for k, v in results.items() if v is None),
                details=details, preset=ctx.world.preset.name, seed=ctx.world.seed)


STABILITY_METRICS = ("country_gini", "top1", "top5", "top10", "coverage", "southern_share")


def seed_stability(docs: Sequence[Mapping[str, Any]], cv_max: float) -> dict:
    """Metric 12: coefficient of variation across seeds of metrics 1–4 (for the certify command)."""
    cvs = {}
    for name in STABILITY_METRICS:
        values = np.array([d["metrics"][name] for d in docs if d["metrics"].get(name) is not None], dtype=np.float64)
        cvs[name] = float(values.std() / values.mean()) if values.size >= 2 and values.mean() > 0 else None
    worst = max((v for v in cvs.values() if v is not None), default=None)
    return {"cv": cvs, "cv_max": cv_max, "passed": worst is None or worst <= cv_max, "seeds": len(docs)}


# ---- 6. egress checksums --------------------------------------------------------------------------------------


def egress_checksums(site_locations: pl.DataFrame) -> dict:
    data = parquet_bytes(site_locations)
    return {"dataset": ds.SITE_LOCATIONS, "files": {"part-00000.parquet": sha256_hex(data)}, "bytes": len(data),
            "rows": site_locations.height,
            "content_digest": content_digest(site_locations, list(ds.SCHEMAS[ds.SITE_LOCATIONS]), KEY)}


# ---- run --------------------------------------------------------------------------------------------------------


def run(inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> StateResult:
    from fraud_assets.engine.seg_1b.catalogue import STATES  # the catalogue imports this module

    producers = [s for s in STATES if not s.validation]
    docs: dict[str, dict] = {"structural_1B.json": structural(inputs, ctx)}
    problems = docs["structural_1B.json"].get("problems", {})
    usable = "missing_dataset" not in problems and "schema" not in problems
    replay_tallies: dict[str, list | None] = {}
    plots: dict[str, bytes] = {}
    for spec in producers:
        if usable:
            docs.update(recheck_state(spec, inputs, ctx))
        if spec.state in REPLAYED_STATES:
            if usable:
                doc, tallies = replay_state(spec, inputs, ctx)
            else:
                doc, tallies = _doc(f"replay_{spec.asset_name}", CODE_RNG_ACCOUNTING, False, state=spec.state,
                                    error="skipped: a dataset is missing or has the wrong schema"), None
            docs[f"replay_{spec.asset_name}.json"] = doc
            replay_tallies[spec.state] = tallies
    declared = {s.state: list(s.rng_families) for s in producers}
    if usable:
        docs["parity_1B.json"] = parity(inputs)
        docs["realism_1B.json"] = realism(inputs, ctx)
        docs["egress_checksums.json"] = egress_checksums(inputs[ds.SITE_LOCATIONS])
        docs["rng_accounting.json"] = rng_accounting(inputs.get(ds.RNG_TRACE), replay_tallies, declared,
                                                     implied_totals(inputs))
        w = ctx.world
        plots["site_map"] = site_map_png(
            inputs[ds.S7_SITE_SYNTHESIS], inputs[ds.REF_COUNTRIES],
            f"1B site_locations — preset {w.preset.name}, seed {w.seed}, {inputs[ds.S7_SITE_SYNTHESIS].height} sites, "
            f"fingerprint {w.manifest_fingerprint[:12]}")
    else:
        for name, code in ((CHECK_PARITY, CODE_PARITY), (CHECK_REALISM, CODE_REALISM),
                           ("rng_accounting", CODE_RNG_ACCOUNTING)):
            docs[f"{name}.json"] = _doc(name, code, False,
                                        error="skipped: a dataset is missing or has the wrong schema")
    failed = sorted(name for name, d in docs.items() if d.get("passed") is False)
    w = ctx.world
    docs[SUMMARY] = {
        "segment": "1B", "passed": not failed, "failed": failed, "checks": len(docs),
        "manifest_fingerprint": w.manifest_fingerprint, "parameter_hash": w.parameter_hash, "seed": w.seed,
        "preset": w.preset.name, "registered_utc": w.registered_utc,
        "rows": {d: inputs[d].height for d in ENGINE_DATASETS if d in inputs},
        "failed_codes": sorted({docs[n]["code"] for n in failed if "code" in docs[n]}),
    }
    real = docs.get("realism_1B.json", {})
    report = {"passed": not failed, "failed": failed, "realism_enforced": real.get("enforced"),
              "realism_gates_passed": real.get("gates_passed"), "realism_failed_gates": real.get("failed_gates")}
    report.update({f"realism.{k}": v for k, v in (real.get("metrics") or {}).items()})
    return StateResult(outputs={}, rng=[], report=jsonable(report), bundle=docs, plots=plots)


# ---- S9 asset checks: read the bundle ----------------------------------------------------------------------------


def _from_docs(result: StateResult, code: str, names: Sequence[str]) -> CheckOutcome:
    docs = result.bundle or {}
    missing = [n for n in names if n not in docs]
    failed = [n for n in names if n in docs and docs[n].get("passed") is False]
    return CheckOutcome(not failed and not missing, {"code": code, "documents": len(names), "failed": failed,
                                                     "missing": missing})


def check_structural(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    return _from_docs(result, CODE_PARITY, ["structural_1B.json"])


def check_parity(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    return _from_docs(result, CODE_PARITY, ["parity_1B.json"])


def check_state_checks(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    """Every state check re-evaluated on the written data (codes of the failing ones in evidence)."""
    docs = result.bundle or {}
    names = [n for n, d in docs.items() if d.get("state") is not None and not n.startswith("replay_")]
    out = _from_docs(result, "1B-S9-901", names)
    codes = sorted({docs[n]["code"] for n in out.evidence["failed"]})
    return CheckOutcome(out.passed and bool(names), {**out.evidence, "failed_codes": codes})


def check_replay(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    names = [n for n in (result.bundle or {}) if n.startswith("replay_")]
    return _from_docs(result, CODE_RNG_ACCOUNTING, names or ["replay_s4_alloc_plan.json"])


def check_rng_accounting(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    return _from_docs(result, CODE_RNG_ACCOUNTING, ["rng_accounting.json"])


def check_realism(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    """Realism gates: ERROR on presets in `enforce_presets`, WARN elsewhere (reported, not blocking)."""
    doc = (result.bundle or {}).get("realism_1B.json")
    enforced = ctx.world.preset.name in ctx.config.validation.realism.enforce_presets
    severity = "ERROR" if enforced else "WARN"
    if doc is None:
        return CheckOutcome(False, {"code": CODE_REALISM, "missing": ["realism_1B.json"]}, severity)
    return CheckOutcome(bool(doc.get("gates_passed")), {
        "code": CODE_REALISM, "enforced": enforced, "failed_gates": doc.get("failed_gates"),
        "not_applicable": doc.get("not_applicable"), "metrics": doc.get("metrics")}, severity)
