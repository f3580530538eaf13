"""2B S7 — audit (spec/engine/2B.md, "S7"; `s7_audit_report.json`, `s7_issue_table`). Read-only; recomputes
rather than trusts.

1. S1 replay from the sealed inputs (exact frame equality) and join parity with 1B/2A
   (`2B-S7-303 JOIN_KEY_MISMATCH`).
2. Blob: index schema and the one-file blob dataset (`-200`), header constants and slice walk
   (`-201`), blob digest against both manifests (`-202`), offsets inside the blob and 8-aligned (`-203`), slices
   contiguous and non-overlapping (`-204`), every echo of `prob_qbits` = the header (`-205
   BIT_DEPTH_INCOHERENT`; the 3B header too), implied probabilities of every slice vs `p_within`
   within the header's quantisation bound and a rebuild with the codec's plain-Python reference
   (`core.alias.masses` + `vose_py`) byte-equal to the blob (`-206 ALIAS_DECODE_INCOHERENT`).
3. S3 grid = `G(m) × D` and S4 grid = S3 grid (`-300`); full S3 draw replay and γ echo into S4
   (`-301`); S4 normalisation and replay (`-302`); base-share echo (`-304`).
4. Routers: every S5 audit row replayed through the vectorised (numpy) fabric, a deterministic
   1/16 subsample (≤ `reference_max_rows`) through the plain-Python reference router, the chosen
   group recomputed from S4's masses; the same for every S6 row and the virtual reference
   (`-410 GROUP_SITE_MISMATCH`); edge attributes (`-411`); audit words of the same subsample
   recomputed from their families (`-402 RNG_DRAWS_MISMATCH`: the draws; S8, which alone receives the RNG trace,
   reconciles the trace totals against `rng_expected` under the same code); frequency sanity —
   pooled χ² over (merchant, site) cells with expected ≥ `min_expected`, `(χ² − df)/√(2df) ≤
   chi2_z_max`, and per (merchant, edge) `|f − w|/√(w(1−w)/n) ≤ edge_z_max` on cells with
   `n·w, n·(1−w) ≥ min_expected` (`-420`). Expected counts follow the law each row was routed
   under (pinned: the zone table's renormalised `p_weight`; orphan: `mass_q31/M_c` × the
   country-group table's weight; fallback: the country table; day mix: `mass_q31/2^31 · p_within`).
5. Realism metrics (`realism.py`) → `-430 REALISM_GATE_FAILED` when enforced.

Report: `overall_status, checks[{id, code, status PASS|WARN|FAIL|SKIPPED, metric, threshold,
first_keys}], metrics{}, rng_expected[]`; issue table sorted `severity, code, merchant_id`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

from fraud_assets.core import alias
from fraud_assets.engine.seg_2b import blob as blobs
from fraud_assets.engine.seg_2b import common, laws, realism, router, rosters, virtual
from fraud_assets.engine.seg_2b import datasets as ds
from fraud_assets.engine.seg_2b.config import Config2B
from fraud_assets.engine.state import CheckOutcome, StateContext, StateResult

CODES = {
    "2B-S7-200": "INDEX_SCHEMA_INVALID", "2B-S7-201": "BLOB_CONTRACT_VIOLATION", "2B-S7-202": "BLOB_DIGEST_MISMATCH",
    "2B-S7-203": "OFFSET_INVALID", "2B-S7-204": "SLICE_OVERLAP", "2B-S7-205": "BIT_DEPTH_INCOHERENT",
    "2B-S7-206": "ALIAS_DECODE_INCOHERENT", "2B-S7-300": "DAY_GRID_MISMATCH", "2B-S7-301": "DRAW_REPLAY_MISMATCH",
    "2B-S7-302": "GROUP_NORMALISATION", "2B-S7-303": "JOIN_KEY_MISMATCH", "2B-S7-304": "BASE_SHARE_ECHO",
    "2B-S7-402": "RNG_DRAWS_MISMATCH", "2B-S7-410": "GROUP_SITE_MISMATCH", "2B-S7-411": "EDGE_ATTR_MISSING",
    "2B-S7-420": "ROUTE_FREQUENCY_DRIFT", "2B-S7-430": "REALISM_GATE_FAILED",
}
REALISM_CODE = "2B-S7-430"
PHYSICAL_COLUMNS = ["route_path", "tz_group_id", "legal_country_iso", "site_order", "site_id"]
AUDIT_KEY = ["merchant_id", "utc_day", "k"]


def _status(bad: list) -> str:
    return "FAIL" if bad else "PASS"


def _doc(code: str, bad: list, checked: int, **evidence: Any) -> dict:
    return common.doc(code, code, _status(bad), metric={"checked": checked, "failed": len(bad)},
                      first_keys=bad, name=CODES[code], **evidence)


# ---- 1. S1 replay and join parity -----------------------------------------------------------------


def audit_s1(inputs: Mapping[str, Any], ctx: StateContext) -> dict:
    cfg: Config2B = ctx.config
    written = inputs[ds.S1_SITE_WEIGHTS]
    replay = ds.shape(laws.site_weights(inputs, cfg.site_weights), ds.S1_SITE_WEIGHTS, ctx.world)
    bad: list = []
    equal = replay.schema == written.schema and replay.equals(written)
    if not equal:
        cols = [c for c in written.columns if c in replay.columns and replay.height == written.height
                and not replay.get_column(c).equals(written.get_column(c))]
        bad.append(["s1_replay", cols[:10] if cols else "shape"])
    key = ds.KEY
    s1k = written.select(*key, "tz_group_id")
    for dataset_id in (ds.SITE_LOCATIONS, ds.SITE_TIMEZONES):
        other = inputs[dataset_id].select(key)
        diff = pl.concat([other.join(s1k.select(key), on=key, how="anti"),
                          s1k.select(key).join(other, on=key, how="anti")]).sort(key)
        bad += [[dataset_id, *k] for k in common.key_list(diff, key)]
    tz = inputs[ds.SITE_TIMEZONES].select(*key, "tzid").join(s1k, on=key, how="inner").filter(
        pl.col("tzid") != pl.col("tz_group_id"))
    bad += [["tz_group_id", *k] for k in common.key_list(tz.sort(key), key)]
    return _doc("2B-S7-303", bad, written.height, replay_equal=equal)


# ---- 2. blob --------------------------------------------------------------------------------------


def _index_rows(index: pl.DataFrame) -> list[dict]:
    return index.sort("merchant_id", "group_index").to_dicts()


def audit_index_schema(index: pl.DataFrame, blob_files: Any) -> dict:
    """The index's declared schema, key, order and `slice_seq`; the blob dataset is exactly `alias.bin`."""
    bad: list = []
    want = {c: str(t) for c, t in ds.SCHEMAS[ds.S2_ALIAS_INDEX].items()}
    got = {c: str(t) for c, t in index.schema.items()}
    if want != got:
        bad.append([ds.S2_ALIAS_INDEX, sorted(set(want.items()) ^ set(got.items()))[:6]])
    names = sorted(blob_files) if isinstance(blob_files, Mapping) else [type(blob_files).__name__]
    if names != [ds.ALIAS_BLOB_FILE]:
        bad.append([ds.S2_ALIAS_BLOB, "files", names])
    pk = index.filter(pl.struct("merchant_id", "group_index").is_duplicated())
    bad += [["duplicate", *k] for k in common.key_list(pk, ["merchant_id", "group_index"])]
    ordered = index.sort("merchant_id", "group_index")
    seq = ordered.get_column("slice_seq").to_numpy()
    if not np.array_equal(seq, np.arange(seq.shape[0])):
        bad.append(["slice_seq", "not 0..n-1 in (merchant_id, group_index) order"])
    if not index.select("merchant_id", "group_index").equals(ordered.select("merchant_id", "group_index")):
        bad.append(["sort", "index not sorted by (merchant_id, group_index)"])
    return _doc("2B-S7-200", bad, index.height)


def audit_header(blob: bytes, man2: dict) -> dict:
    bad = blobs.header_errors(blob)
    if man2.get("codec") != alias.CODEC:
        bad.append(["s2_alias_manifest.codec", man2.get("codec"), alias.CODEC])
    return _doc("2B-S7-201", bad, 1, blob_size_bytes=len(blob))


def audit_digest(blob: bytes, index: pl.DataFrame, man2: dict, man5: dict) -> dict:
    bad = blobs.checksum_errors(blob, index, man2)
    digest = common.sha256_hex(blob)
    if man5.get("blob_sha256") != digest:
        bad.append(["s5_router_manifest.blob_sha256", man5.get("blob_sha256"), digest])
    return _doc("2B-S7-202", bad, index.height + 3, blob_sha256=digest)


def audit_offsets(blob: bytes, index: pl.DataFrame) -> dict:
    bad = []
    for r in _index_rows(index):
        off, length, n = r["blob_offset_bytes"], r["blob_length_bytes"], r["n_members"]
        if off < alias.HEADER_BYTES or off % alias.ALIGNMENT or length != 16 + 8 * n or off + length > len(blob):
            bad.append([r["merchant_id"], r["group_index"], off, length])
    return _doc("2B-S7-203", bad, index.height)


def audit_overlap(blob: bytes, index: pl.DataFrame) -> dict:
    bad = []
    pos = alias.HEADER_BYTES
    for r in sorted(_index_rows(index), key=lambda r: r["blob_offset_bytes"]):
        off, length = r["blob_offset_bytes"], r["blob_length_bytes"]
        if off != pos:
            bad.append([r["merchant_id"], r["group_index"], "overlap" if off < pos else "gap", off, pos])
        pos = max(pos, off + length + ((-length) % alias.ALIGNMENT))
    if pos != len(blob):
        bad.append(["blob_end", pos, len(blob)])
    return _doc("2B-S7-204", bad, index.height)


def audit_qbits(blob: bytes, index: pl.DataFrame, man2: dict, man5: dict, man6: dict, edge_blob: bytes) -> dict:
    bad, header_q = blobs.qbits_errors(blob, index, man2)
    if man5.get("prob_qbits") != header_q:
        bad.append(["s5_router_manifest.prob_qbits", man5.get("prob_qbits"), header_q])
    try:
        edge_q = alias.read_header(edge_blob).prob_qbits
    except Exception as exc:  # noqa: BLE001
        edge_q = None
        bad.append(["edge_alias_blob_3B.header", str(exc)[:200]])
    if man6.get("prob_qbits") != edge_q:
        bad.append(["s6_virtual_manifest.prob_qbits", man6.get("prob_qbits"), edge_q])
    return _doc("2B-S7-205", bad, index.height + 4, header_prob_qbits=header_q, edge_header_prob_qbits=edge_q)


def audit_decode(blob: bytes, index: pl.DataFrame, weights: pl.DataFrame) -> dict:
    bad = [["quantisation", *k] for k in blobs.quantisation_errors(blob, index, weights)]
    dist, worst = blobs.distribution_errors(blob, index, weights)
    bad += [["implied", *k] for k in dist]
    rebuilt = blobs.rebuild_reference(weights)
    if rebuilt != blob:
        diff = next((i for i, (a, b) in enumerate(zip(rebuilt, blob, strict=False)) if a != b),
                    min(len(rebuilt), len(blob)))
        bad.append(["reference_rebuild", "first differing byte", diff])
    return _doc("2B-S7-206", bad, index.height, worst_error_over_bound=worst, reference_rebuild_equal=rebuilt == blob)


# ---- 3. S3 / S4 -----------------------------------------------------------------------------------


def audit_grid(effects: pl.DataFrame, weights: pl.DataFrame, gw: pl.DataFrame, days: list) -> dict:
    bad = laws.grid_errors(effects, weights, days)
    bad += [["s4", *k] for k in laws.coverage_errors(gw, effects)]
    return _doc("2B-S7-300", bad, effects.height, n_days=len(days))


def _frame_diff(name: str, a: pl.DataFrame, b: pl.DataFrame) -> list:
    if a.schema == b.schema and a.equals(b):
        return []
    if a.height != b.height or a.columns != b.columns:
        return [[name, "shape", [a.height, len(a.columns)], [b.height, len(b.columns)]]]
    cols = [c for c in a.columns if not a.get_column(c).equals(b.get_column(c))]
    return [[name, cols[:10]]]


def audit_draws(inputs: Mapping[str, Any], ctx: StateContext) -> tuple[dict, pl.DataFrame]:
    weights = inputs[ds.S1_SITE_WEIGHTS]
    sigma, effects = laws.day_effect_tables(weights, ctx.world, ctx.config.day_effects)
    sigma = ds.shape(sigma, ds.S3_MERCHANT_SIGMA, ctx.world)
    effects = ds.shape(effects, ds.S3_DAY_EFFECTS, ctx.world)
    bad = _frame_diff(ds.S3_MERCHANT_SIGMA, sigma, inputs[ds.S3_MERCHANT_SIGMA])
    bad += _frame_diff(ds.S3_DAY_EFFECTS, effects, inputs[ds.S3_DAY_EFFECTS])
    bad += [["gamma_echo", *k] for k in laws.gamma_echo_errors(inputs[ds.S4_GROUP_WEIGHTS], inputs[ds.S3_DAY_EFFECTS])]
    return _doc("2B-S7-301", bad, effects.height + sigma.height), effects


def audit_s4(inputs: Mapping[str, Any], ctx: StateContext) -> dict:
    gw = inputs[ds.S4_GROUP_WEIGHTS]
    bad, worst = laws.s4_normalisation_errors(gw)
    replay = ds.shape(laws.group_weight_table(inputs[ds.S3_DAY_EFFECTS], inputs[ds.S1_SITE_WEIGHTS]),
                      ds.S4_GROUP_WEIGHTS, ctx.world)
    bad += _frame_diff(ds.S4_GROUP_WEIGHTS, replay, gw)
    return _doc("2B-S7-302", bad, gw.height, max_p_error=worst)


def audit_base_share(inputs: Mapping[str, Any]) -> dict:
    gw = inputs[ds.S4_GROUP_WEIGHTS]
    bad = laws.base_share_echo_errors(gw, inputs[ds.S1_SITE_WEIGHTS])
    return _doc("2B-S7-304", bad, gw.height)


# ---- 4. routers -----------------------------------------------------------------------------------


def audit_words(inputs: Mapping[str, Any], ctx: StateContext) -> dict:
    """Audit words recomputed from their families equal the published ones (draw replay) on the
    deterministic reference subsample (stream derivation costs ~2 µs a key; the vectorised route replay
    of `-410` covers every row with the published words)."""
    w = ctx.world
    audit = ctx.config.routing.audit
    bad = []
    checked = 0
    for dataset_id, family, cols in ((ds.S5_ROUTE_AUDIT, laws.FAMILY_AUDIT_ROUTE, ("w_group", "w_site")),
                                     (ds.S6_EDGE_AUDIT, laws.FAMILY_AUDIT_EDGE, ("w_mode", "w_edge"))):
        sample = inputs[dataset_id]
        sub = sample.gather(subsample(sample.height, audit.reference_subsample, audit.reference_max_rows))
        a, b = rosters.audit_words(sub, family, w.rng, w.seed)
        checked += sub.height
        wrong = (sub.get_column(cols[0]).to_numpy() != a) | (sub.get_column(cols[1]).to_numpy() != b)
        bad += [[dataset_id, *k] for k in common.key_list(sub.filter(pl.Series(wrong)).sort(AUDIT_KEY), AUDIT_KEY)]
    return _doc("2B-S7-402", bad, checked, trace_reconciliation="S8 (the runner hands the RNG trace to the "
                                                               "validation state only)")


def subsample(n: int, every: int, cap: int) -> np.ndarray:
    return np.arange(0, n, every, dtype=np.int64)[:cap]


def audit_routes(inputs: Mapping[str, Any], ctx: StateContext, fabric: router.RoutingFabric) -> dict:
    cfg: Config2B = ctx.config
    sample = inputs[ds.S5_ROUTE_AUDIT]
    bad: list = []
    plan = sample.select("merchant_id", "utc_day", "k", "zone", "roster_country_iso")
    replay = rosters.route_roster(fabric, plan, sample.get_column("w_group").to_numpy(),
                                  sample.get_column("w_site").to_numpy(), engine="numpy")
    wrong = np.zeros(sample.height, dtype=bool)
    for col in PHYSICAL_COLUMNS:
        wrong |= ~(replay.get_column(col) == sample.get_column(col)).fill_null(False).to_numpy()
    bad += [["vectorised_replay", *k] for k in common.key_list(sample.filter(pl.Series(wrong)).sort(AUDIT_KEY),
                                                               AUDIT_KEY)]
    sub = subsample(sample.height, cfg.routing.audit.reference_subsample, cfg.routing.audit.reference_max_rows)
    days = sample.select("merchant_id", "utc_day").gather(sub).unique()
    fabric.set_reference_masses(inputs[ds.S4_GROUP_WEIGHTS].join(days, on=["merchant_id", "utc_day"], how="semi"))
    rows = sample.select("merchant_id", "roster_country_iso", "utc_day", "zone", "w_group", "w_site", "route_path",
                         "site_id").gather(sub).rows()
    ref_bad = []
    for mid, c, day, zone, wg, wsite, path, site_id in rows:
        try:
            row, p = fabric.route_reference(mid, c, day, zone, wg, wsite)
            ok = router.ROUTE_PATHS[p] == path and int(fabric.site_id[row]) == site_id
        except Exception:  # noqa: BLE001 - a reference failure on a published row is a mismatch
            ok = False
        if not ok:
            ref_bad.append([mid, str(day)])
    bad += [["reference_replay", *k] for k in ref_bad]
    coherence = rosters.group_site_errors(sample, inputs[ds.S4_GROUP_WEIGHTS], inputs[ds.S1_SITE_WEIGHTS])
    bad += [["group_coherence", *k] for k in coherence]
    # virtual rows
    edge = inputs[ds.S6_EDGE_AUDIT]
    vr = fabric.virtual
    v_wrong = 0
    if edge.height and vr is not None:
        again = vr.route(edge.get_column("merchant_id"), edge.get_column("w_mode").to_numpy(),
                         edge.get_column("w_edge").to_numpy(), engine="numpy").frame()
        diff = ~((again.get_column("channel") == edge.get_column("channel")).fill_null(False)
                 & (again.get_column("edge_seq_index").eq_missing(edge.get_column("edge_seq_index")))).to_numpy()
        v_wrong = int(diff.sum())
        bad += [["virtual_replay", *k] for k in common.key_list(edge.filter(pl.Series(diff)).sort(AUDIT_KEY),
                                                                AUDIT_KEY)]
        vsub = subsample(edge.height, cfg.routing.audit.reference_subsample, cfg.routing.audit.reference_max_rows)
        for mid, wm, we, ch, e in edge.select("merchant_id", "w_mode", "w_edge", "channel",
                                              "edge_seq_index").gather(vsub).rows():
            c2, e2 = vr.reference(mid, wm, we)
            if router.CHANNELS[c2] != ch or e2 != e:
                bad.append(["virtual_reference", mid])
    return _doc("2B-S7-410", bad, sample.height + edge.height, vectorised_mismatches=int(wrong.sum()),
                reference_rows=len(rows), reference_mismatches=len(ref_bad), virtual_mismatches=v_wrong,
                coherence_failures=len(coherence))


def audit_edge_attrs(inputs: Mapping[str, Any]) -> dict:
    edge = inputs[ds.S6_EDGE_AUDIT]
    cat = inputs[ds.EDGE_CATALOGUE]
    bad = virtual.edge_attr_errors(edge, cat)
    attrs = [c for c in ("edge_id", "country_iso", "lat_deg", "lon_deg", "tzid_operational") if c in cat.columns]
    picked = edge.filter(pl.col("channel") == "edge").select("merchant_id", "edge_seq_index").unique().join(
        cat.select("merchant_id", pl.col("edge_seq_index").cast(pl.Int32), *attrs),
        on=["merchant_id", "edge_seq_index"], how="inner")
    null_attr = picked.filter(pl.any_horizontal([pl.col(c).is_null() for c in attrs])) if attrs else picked.head(0)
    bad += [["null_attribute", *k] for k in common.key_list(null_attr.sort("merchant_id", "edge_seq_index"),
                                                            ["merchant_id", "edge_seq_index"])]
    return _doc("2B-S7-411", bad, edge.filter(pl.col("channel") == "edge").height, attributes=attrs)


def expected_site_counts(sample: pl.DataFrame, weights: pl.DataFrame, gw: pl.DataFrame,
                         site_zone: pl.Series) -> pl.DataFrame:
    """Per (merchant, site): `expected` = Σ_rows P(site | the row's law) and `variance` = Σ_rows P(1 − P)
    (the exact variance of the count: rows are independent)."""
    s = weights.select("merchant_id", "legal_country_iso", "site_order", "site_id", "group_index", "tz_group_id",
                       "p_weight", "p_within").with_columns(site_zone.alias("zone"))
    masses = gw.select("merchant_id", "utc_day", "group_index", "mass_q31")
    parts = []

    def law(frame: pl.DataFrame, q: pl.Expr) -> pl.DataFrame:
        # rows carry w = Σ n·P(group) and w2 = Σ n·P(group)², q = P(site | group)
        return frame.with_columns(q.alias("q")).select(
            "merchant_id", "site_id", (pl.col("w") * pl.col("q")).alias("expected"),
            (pl.col("w") * pl.col("q") - pl.col("w2") * pl.col("q") ** 2).alias("variance"))

    # Every float reduction below runs over rows in a sorted, total order (group_by and join outputs
    # come in thread-dependent order), so the report is byte-identical run to run.
    pin = sample.filter(pl.col("route_path") == "zone_pinned").group_by(
        "merchant_id", pl.col("roster_country_iso").alias("legal_country_iso"), "zone").len("n")
    if pin.height:
        j = pin.join(s, on=["merchant_id", "legal_country_iso", "zone"]).sort(
            "merchant_id", "legal_country_iso", "zone", "site_order").with_columns(
            pl.col("n").cast(pl.Float64).alias("w"), pl.col("n").cast(pl.Float64).alias("w2"))
        parts.append(law(j, pl.col("p_weight") / pl.col("p_weight").sum().over("merchant_id", "legal_country_iso",
                                                                                "zone")))
    orph = sample.filter(pl.col("route_path") == "orphan_zone").group_by(
        "merchant_id", pl.col("roster_country_iso").alias("legal_country_iso"), "utc_day").len("n")
    if orph.height:
        in_c = s.select("merchant_id", "legal_country_iso", "group_index").unique()
        g = orph.join(in_c, on=["merchant_id", "legal_country_iso"]).join(
            masses, on=["merchant_id", "utc_day", "group_index"]).sort(
            "merchant_id", "legal_country_iso", "group_index", "utc_day").with_columns(
            pl.col("mass_q31").sum().over("merchant_id", "legal_country_iso", "utc_day").alias("m_c"))
        g = g.filter(pl.col("m_c") > 0).with_columns((pl.col("mass_q31") / pl.col("m_c")).alias("pg")).group_by(
            "merchant_id", "legal_country_iso", "group_index", maintain_order=True).agg(
            (pl.col("n") * pl.col("pg")).sum().alias("w"), (pl.col("n") * pl.col("pg") ** 2).sum().alias("w2"))
        j = g.join(s, on=["merchant_id", "legal_country_iso", "group_index"]).sort(
            "merchant_id", "legal_country_iso", "group_index", "site_order")
        parts.append(law(j, pl.col("p_weight") / pl.col("p_weight").sum().over("merchant_id", "legal_country_iso",
                                                                                "group_index")))
    fb = sample.filter(pl.col("route_path") == "country_fallback").group_by(
        "merchant_id", pl.col("roster_country_iso").alias("legal_country_iso")).len("n")
    if fb.height:
        j = fb.join(s, on=["merchant_id", "legal_country_iso"]).sort(
            "merchant_id", "legal_country_iso", "site_order").with_columns(
            pl.col("n").cast(pl.Float64).alias("w"), pl.col("n").cast(pl.Float64).alias("w2"))
        parts.append(law(j, pl.col("p_weight") / pl.col("p_weight").sum().over("merchant_id", "legal_country_iso")))
    mix = sample.filter(pl.col("route_path") == "day_mix").group_by("merchant_id", "utc_day").len("n")
    if mix.height:
        g = mix.join(masses, on=["merchant_id", "utc_day"]).sort("merchant_id", "group_index", "utc_day").with_columns(
            (pl.col("mass_q31") / float(common.Q31)).alias("pg")).group_by("merchant_id", "group_index",
                                                                            maintain_order=True).agg(
            (pl.col("n") * pl.col("pg")).sum().alias("w"), (pl.col("n") * pl.col("pg") ** 2).sum().alias("w2"))
        parts.append(law(g.join(s, on=["merchant_id", "group_index"]).sort("merchant_id", "group_index",
                                                                           "legal_country_iso", "site_order"),
                         pl.col("p_within")))
    if not parts:
        return pl.DataFrame(schema={"merchant_id": pl.Int64, "site_id": pl.Int64, "expected": pl.Float64,
                                    "variance": pl.Float64})
    parts = [p.with_columns(pl.lit(i).alias("part")) for i, p in enumerate(parts)]
    return pl.concat(parts).sort("merchant_id", "site_id", "part").group_by(
        "merchant_id", "site_id", maintain_order=True).agg(pl.col("expected").sum(), pl.col("variance").sum())


def chi2_site(sample: pl.DataFrame, expected: pl.DataFrame, min_expected: float) -> dict:
    """Pooled Pearson χ² over (merchant, site) cells with expected ≥ `min_expected`.

    Audit rows follow different laws and many are near-deterministic (single-site groups), so the
    reference is moment-matched: under the law each term has mean V/E exactly (V the count's
    variance), `df = Σ V/E`, and `z = (χ² − df)/√(2·Σ(V/E)²)` — the spec's `(χ² − df)/√(2df)` when
    every V = E. Cells with V = 0 (a certain outcome) carry no information and are left out."""
    obs = sample.group_by("merchant_id", "site_id").len("observed")
    cells = expected.join(obs, on=["merchant_id", "site_id"], how="full", coalesce=True).with_columns(
        pl.col("expected").fill_null(0.0), pl.col("variance").fill_null(0.0),
        pl.col("observed").fill_null(0).cast(pl.Float64))
    impossible = cells.filter((pl.col("expected") == 0) & (pl.col("observed") > 0))
    kept = cells.filter((pl.col("expected") >= min_expected) & (pl.col("variance") > 1e-9)).sort(
        "merchant_id", "site_id")
    ratio = pl.col("variance") / pl.col("expected")
    stats = kept.select(((pl.col("observed") - pl.col("expected")) ** 2 / pl.col("expected")).sum().alias("chi2"),
                        ratio.sum().alias("df"), (ratio ** 2).sum().alias("r2")).row(0)
    chi2, df, r2 = (float(x or 0.0) for x in stats)
    z = (chi2 - df) / math.sqrt(2 * r2) if r2 > 0 else None
    return {"chi2": chi2, "df": df, "z": z, "cells": kept.height, "cells_total": cells.height,
            "impossible_cells": common.key_list(impossible.sort("merchant_id", "site_id"), ["merchant_id", "site_id"])}


def edge_z(edge: pl.DataFrame, vr: router.VirtualRouter | None, min_expected: float) -> dict:
    if vr is None or edge.is_empty():
        return {"max_z": None, "cells": 0, "worst": []}
    rows = []
    pe = vr.edges
    for i, mid in enumerate(pe.merchant_id.tolist()):
        a, b = int(pe.tab_off[i]), int(pe.tab_off[i + 1])
        w = alias.implied_probabilities(pe.prob[a:b], pe.alias[a:b])
        rows.append(pl.DataFrame({"merchant_id": [mid] * (b - a), "edge_seq_index": np.arange(b - a, dtype=np.int32),
                                  "w": w}, schema={"merchant_id": pl.Int64, "edge_seq_index": pl.Int32,
                                                   "w": pl.Float64}))
    law = pl.concat(rows) if rows else pl.DataFrame(schema={"merchant_id": pl.Int64, "edge_seq_index": pl.Int32,
                                                             "w": pl.Float64})
    picks = edge.filter(pl.col("channel") == "edge")
    n = picks.group_by("merchant_id").len("n")
    obs = picks.group_by("merchant_id", "edge_seq_index").len("c")
    cells = law.join(n, on="merchant_id").join(obs, on=["merchant_id", "edge_seq_index"], how="left").with_columns(
        pl.col("c").fill_null(0))
    cells = cells.filter((pl.col("n") * pl.col("w") >= min_expected) & (pl.col("n") * (1 - pl.col("w")) >= min_expected))
    cells = cells.with_columns(((pl.col("c") / pl.col("n") - pl.col("w")).abs()
                                / (pl.col("w") * (1 - pl.col("w")) / pl.col("n")).sqrt()).alias("z"))
    worst = cells.sort("z", descending=True).head(5)
    return {"max_z": float(cells.get_column("z").max()) if cells.height else None, "cells": cells.height,
            "worst": common.key_list(worst, ["merchant_id", "edge_seq_index", "z"])}


def audit_frequency(inputs: Mapping[str, Any], ctx: StateContext, fabric: router.RoutingFabric) -> dict:
    f = ctx.config.validation.frequency
    sample = inputs[ds.S5_ROUTE_AUDIT]
    expected = expected_site_counts(sample, inputs[ds.S1_SITE_WEIGHTS], inputs[ds.S4_GROUP_WEIGHTS],
                                    fabric.site_zone)
    site = chi2_site(sample, expected, f.min_expected)
    edges = edge_z(inputs[ds.S6_EDGE_AUDIT], fabric.virtual, f.min_expected)
    bad: list = []
    if site["z"] is not None and site["z"] > f.chi2_z_max:
        bad.append(["site_chi2_z", site["z"], f.chi2_z_max])
    bad += [["impossible_site", *k] for k in site["impossible_cells"]]
    if edges["max_z"] is not None and edges["max_z"] > f.edge_z_max:
        bad.append(["edge_z", edges["max_z"], f.edge_z_max])
    status = _status(bad) if (site["z"] is not None or edges["max_z"] is not None or bad) else "SKIPPED"
    return common.doc("2B-S7-420", "2B-S7-420", status, name=CODES["2B-S7-420"],
                      metric={"site_chi2_z": site["z"], "edge_max_z": edges["max_z"]},
                      threshold={"chi2_z_max": f.chi2_z_max, "edge_z_max": f.edge_z_max, "min_expected": f.min_expected},
                      first_keys=bad, site={k: v for k, v in site.items() if k != "impossible_cells"},
                      edges=edges)


# ---- run ------------------------------------------------------------------------------------------


def rng_expected(inputs: Mapping[str, Any]) -> list[dict]:
    """Per state and family, the (keys, draws, blocks) the published outputs imply."""
    m = inputs[ds.S3_MERCHANT_SIGMA].height
    e = inputs[ds.S3_DAY_EFFECTS].height
    r5 = inputs[ds.S5_ROUTE_AUDIT].height
    r6 = inputs[ds.S6_EDGE_AUDIT].height
    return [{"state": "S3", "family": laws.FAMILY_DAY_EFFECT, "keys": e, "draws": 2 * e, "blocks": e},
            {"state": "S3", "family": laws.FAMILY_SIGMA, "keys": m, "draws": 2 * m, "blocks": m},
            {"state": "S5", "family": laws.FAMILY_AUDIT_ROUTE, "keys": r5, "draws": 2 * r5, "blocks": r5},
            {"state": "S6", "family": laws.FAMILY_AUDIT_EDGE, "keys": r6, "draws": 2 * r6, "blocks": r6}]


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _merchant_of(key: Any) -> int | None:
    """The merchant of a first-keys entry: the key itself, its first element, or the one after a label."""
    if _is_int(key):
        return key
    if isinstance(key, list) and key:
        if _is_int(key[0]):
            return key[0]
        if isinstance(key[0], str) and len(key) > 1 and _is_int(key[1]):
            return key[1]
    return None


def issue_rows(checks: list[dict]) -> list[dict]:
    rows = []
    for c in checks:
        if c["status"] not in ("FAIL", "WARN"):
            continue
        severity = "ERROR" if c["status"] == "FAIL" else "WARN"
        keys = c.get("first_keys") or [None]
        for k in keys[:common.FIRST_KEYS]:
            mid = _merchant_of(k)
            rows.append({"severity": severity, "code": c["code"], "merchant_id": mid,
                         "detail": str(k if k is not None else c.get("error") or c.get("name"))[:500]})
    return rows


def run(inputs: Mapping[str, Any], ctx: StateContext) -> StateResult:
    cfg: Config2B = ctx.config
    w = ctx.world
    days = common.day_grid(w.preset)
    weights = inputs[ds.S1_SITE_WEIGHTS]
    blob_files = inputs[ds.S2_ALIAS_BLOB]
    index = inputs[ds.S2_ALIAS_INDEX]
    man2 = common.json_input(inputs[ds.S2_ALIAS_MANIFEST])
    man5 = common.json_input(inputs[ds.S5_ROUTER_MANIFEST])
    man6 = common.json_input(inputs[ds.S6_MANIFEST])
    checks: list[dict] = []

    def add(code: str, fn) -> dict:  # noqa: ANN001
        d = common.guard(code, code, fn)
        d.setdefault("name", CODES[code])
        checks.append(d)
        return d

    blob = None
    try:
        blob = common.blob_bytes(blob_files, ds.S2_ALIAS_BLOB)
    except Exception:  # noqa: BLE001 - every blob audit below then fails with the reason
        pass
    edge_blob = common.blob_bytes(inputs[ds.EDGE_ALIAS_BLOB], ds.EDGE_ALIAS_BLOB)
    add("2B-S7-200", lambda: audit_index_schema(index, blob_files))
    add("2B-S7-201", lambda: audit_header(blob, man2))
    add("2B-S7-202", lambda: audit_digest(blob, index, man2, man5))
    add("2B-S7-203", lambda: audit_offsets(blob, index))
    add("2B-S7-204", lambda: audit_overlap(blob, index))
    add("2B-S7-205", lambda: audit_qbits(blob, index, man2, man5, man6, edge_blob))
    add("2B-S7-206", lambda: audit_decode(blob, index, weights))
    add("2B-S7-300", lambda: audit_grid(inputs[ds.S3_DAY_EFFECTS], weights, inputs[ds.S4_GROUP_WEIGHTS], days))
    add("2B-S7-301", lambda: audit_draws(inputs, ctx)[0])
    add("2B-S7-302", lambda: audit_s4(inputs, ctx))
    add("2B-S7-303", lambda: audit_s1(inputs, ctx))
    add("2B-S7-304", lambda: audit_base_share(inputs))
    add("2B-S7-402", lambda: audit_words(inputs, ctx))
    fabric: list[router.RoutingFabric] = []

    def routes() -> dict:
        fabric.append(router.RoutingFabric.from_inputs(inputs, w))
        return audit_routes(inputs, ctx, fabric[0])

    add("2B-S7-410", routes)
    add("2B-S7-411", lambda: audit_edge_attrs(inputs))
    add("2B-S7-420", lambda: audit_frequency(inputs, ctx, fabric[0]) if fabric else
        common.doc("2B-S7-420", "2B-S7-420", "FAIL", error="the routing fabric could not be opened (see 2B-S7-410)"))
    k_audit = int(man5.get("audit", {}).get("k") or 0)
    metrics: dict[str, Any] = {}

    def real() -> dict:
        metrics.update(realism.all_metrics(weights, inputs[ds.S3_MERCHANT_SIGMA], inputs[ds.S3_DAY_EFFECTS],
                                           inputs[ds.S4_GROUP_WEIGHTS], inputs[ds.S6_EDGE_AUDIT], inputs[ds.S6_PLAN],
                                           len(days)))
        ev = realism.evaluate(metrics, cfg.validation, preset=w.preset.name, n_days=len(days), k_audit=k_audit)
        status = ev["status"] if ev["status"] != "SKIPPED" else ("WARN" if ev["failed_gates"] else "SKIPPED")
        return common.doc(REALISM_CODE, REALISM_CODE, status, name=CODES[REALISM_CODE],
                          metric={k: ev["gates"][k]["value"] for k in ev["gates"]},
                          threshold={k: ev["gates"][k]["bounds"] for k in ev["gates"]},
                          first_keys=ev["failed_gates"], **{k: v for k, v in ev.items() if k != "status"})

    add(REALISM_CODE, real)
    by_code = {c["code"]: c for c in checks}
    metrics["frequency_pass"] = by_code["2B-S7-420"]["status"] != "FAIL"
    metrics["replay_mismatches"] = by_code["2B-S7-410"].get("metric", {}).get("failed") \
        if isinstance(by_code["2B-S7-410"].get("metric"), dict) else None
    overall = "FAIL" if any(c["status"] == "FAIL" for c in checks) else "PASS"
    report = common.jsonable({
        "segment": ds.SEGMENT, "manifest_fingerprint": w.manifest_fingerprint, "seed": w.seed,
        "preset": w.preset.name, "overall_status": overall, "checks": [common.pack_doc(c) for c in checks],
        "metrics": metrics,
        "rng_expected": rng_expected(inputs), "day_grid": common.day_grid_doc(days), "k_audit": k_audit,
        "counts": {d: inputs[d].height for d in (ds.S1_SITE_WEIGHTS, ds.S2_ALIAS_INDEX, ds.S3_DAY_EFFECTS,
                                                 ds.S4_GROUP_WEIGHTS, ds.S5_ROUTE_AUDIT, ds.S6_PLAN, ds.S6_EDGE_AUDIT)},
    })
    issues = pl.DataFrame(issue_rows(common.jsonable(checks)), schema={"severity": pl.String, "code": pl.String,
                                                                 "merchant_id": pl.Int64, "detail": pl.String})
    meta = {"overall_status": overall, "failed": sorted(c["code"] for c in checks if c["status"] == "FAIL"),
            "warned": sorted(c["code"] for c in checks if c["status"] == "WARN"), "issues": issues.height}
    meta.update({f"realism.{k}": v for k, v in metrics.items() if not isinstance(v, (dict, list))})
    return StateResult(outputs={ds.S7_REPORT: report, ds.S7_ISSUES: ds.shape(issues, ds.S7_ISSUES, w)},
                       report=common.jsonable(meta))


# ---- checks: one per code, read from the report -----------------------------------------------------


def check_for(code: str):  # noqa: ANN201
    def check(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
        report = common.json_input(result.outputs.get(ds.S7_REPORT))
        doc = next((common.unpack_doc(c) for c in report.get("checks", []) if c.get("code") == code), None)
        severity = "ERROR"
        if code == REALISM_CODE:
            severity = "ERROR" if doc is not None and doc.get("enforced") else "WARN"
            if doc is not None and doc.get("status") in ("WARN", "SKIPPED"):
                return CheckOutcome(not doc.get("failed_gates"), common.jsonable({**doc, "code": code}), "WARN")
        return common.from_doc(doc, code, severity)
    check.__name__ = f"check_{code.replace('-', '_')}"
    return check


def check_name(code: str) -> str:
    return f"audit_{code.replace('-', '_')}"
