"""The virtual stage as a library (spec/engine/2B.md "S6"): plan, manifest and audits over 3B's outputs.

`edge_alias_index_3B` carries MERCHANT rows (slice offset, length, `edge_count_total`, `qbits`) and
one GLOBAL row (`blob_sha256_hex`), told apart by `scope` (or a null `merchant_id`).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from fraud_assets.core import alias
from fraud_assets.engine.common.checks import jsonable, key_list
from fraud_assets.engine.seg_2b import common, router

Q31 = common.Q31


def split_edge_index(index: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(MERCHANT rows, GLOBAL row) of `edge_alias_index_3B`."""
    if "scope" in index.columns:
        return index.filter(pl.col("scope") == "MERCHANT"), index.filter(pl.col("scope") == "GLOBAL")
    return index.filter(pl.col("merchant_id").is_not_null()), index.filter(pl.col("merchant_id").is_null())


def thresholds(mode: pl.Series, share: pl.Series) -> np.ndarray:
    """2^31 for VIRTUAL_ONLY, else round_half_even(edge_share·2^31) clamped to [0, 2^31]."""
    s = np.nan_to_num(share.cast(pl.Float64).fill_null(0.0).to_numpy(), nan=0.0)
    t = np.clip(np.rint(s * float(Q31)), 0, Q31).astype(np.int64)  # np.rint rounds half to even
    return np.where(mode.to_numpy() == router.VIRTUAL_ONLY, Q31, t).astype(np.int64)


def build_plan(classification: pl.DataFrame, edge_index: pl.DataFrame, weights: pl.DataFrame) -> pl.DataFrame:
    virtual = classification.filter(pl.col("is_virtual")).select("merchant_id", "virtual_mode", "edge_share") \
        .sort("merchant_id")
    merch, _ = split_edge_index(edge_index)
    slices = merch.select("merchant_id", pl.col("blob_offset_bytes").cast(pl.Int64).alias("edge_slice_offset_bytes"),
                          pl.col("blob_length_bytes").cast(pl.Int32).alias("edge_slice_length_bytes"),
                          pl.col("edge_count_total").cast(pl.Int32).alias("edge_count"))
    sited = weights.select("merchant_id").unique().with_columns(pl.lit(True).alias("has_sites"))
    plan = virtual.join(slices, on="merchant_id", how="left").join(sited, on="merchant_id", how="left")
    return plan.with_columns(
        pl.col("edge_share").cast(pl.Float64),
        pl.Series("edge_threshold_q31", thresholds(plan.get_column("virtual_mode"), plan.get_column("edge_share")),
                  dtype=pl.Int64),
        pl.col("edge_slice_offset_bytes").fill_null(-1), pl.col("edge_slice_length_bytes").fill_null(0),
        pl.col("edge_count").fill_null(0), pl.col("has_sites").fill_null(False)).sort("merchant_id")


def virtual_manifest(plan: pl.DataFrame, edge_blob: bytes, edge_index: pl.DataFrame, universe: dict,
                     days: list) -> dict:
    _, glob = split_edge_index(edge_index)
    header = alias.read_header(edge_blob)
    global_sha = glob.get_column("blob_sha256_hex")[0] if glob.height and "blob_sha256_hex" in glob.columns else None
    modes = dict(plan.group_by("virtual_mode").len().sort("virtual_mode").iter_rows()) if plan.height else {}
    return jsonable({
        "codec": alias.CODEC, "edge_universe_hash": universe.get("edge_universe_hash"),
        "edge_blob_sha256": common.sha256_hex(edge_blob), "edge_blob_sha256_3B": global_sha,
        "edge_blob_size_bytes": len(edge_blob), "prob_qbits": header.prob_qbits,
        "table_count": header.table_count, "entry_count_total": header.entry_count_total,
        "plan_digest": router.plan_digest(plan), "plan_merchants": plan.height, "modes": modes,
        "day_grid": common.day_grid_doc(days), "channels": list(router.CHANNELS),
    })


def audit_k(plan_rows: int, n_days: int, max_rows: int, max_k: int) -> int:
    return int(min(max(max_rows // max(plan_rows * n_days, 1), 2), max_k))


def virtual_set_errors(plan: pl.DataFrame, classification: pl.DataFrame) -> list:
    want = classification.filter(pl.col("is_virtual")).select("merchant_id")
    got = plan.select("merchant_id")
    diff = pl.concat([want.join(got, on="merchant_id", how="anti"), got.join(want, on="merchant_id", how="anti"),
                      got.filter(pl.col("merchant_id").is_duplicated())]).sort("merchant_id")
    bad = key_list(diff, ["merchant_id"])
    nv = plan.filter(pl.col("virtual_mode") == router.NON_VIRTUAL)
    bad += key_list(nv, ["merchant_id"])
    j = plan.join(classification.select("merchant_id", pl.col("virtual_mode").alias("m3"),
                                        pl.col("edge_share").cast(pl.Float64).alias("s3")), on="merchant_id", how="left")
    thr = thresholds(j.get_column("m3").fill_null(""), j.get_column("s3"))
    wrong = j.filter((pl.col("virtual_mode") != pl.col("m3")) | (pl.col("edge_share") != pl.col("s3"))
                     | pl.Series(j.get_column("edge_threshold_q31").to_numpy() != thr))
    bad += key_list(wrong, ["merchant_id"])
    return bad


def edge_slice_errors(plan: pl.DataFrame, edge_index: pl.DataFrame, edge_blob: bytes) -> list:
    bad = []
    try:
        header = alias.read_header(edge_blob)
    except Exception as exc:  # noqa: BLE001 - foreign qbits / magic is exactly this failure
        return [["header", str(exc)[:200]]]
    merch, _ = split_edge_index(edge_index)
    echo = merch.select("merchant_id", *(["qbits"] if "qbits" in merch.columns else []))
    qb = dict(echo.iter_rows()) if "qbits" in echo.columns else {}
    for mid, off, length, n in plan.select("merchant_id", "edge_slice_offset_bytes", "edge_slice_length_bytes",
                                           "edge_count").iter_rows():
        try:
            prob, _ = alias.read_table(edge_blob, int(off))
            ok = prob.shape[0] == n and n > 0 and length == 16 + 8 * n
        except Exception:  # noqa: BLE001
            ok = False
        if not ok or (mid in qb and qb[mid] != header.prob_qbits):
            bad.append(mid)
    return bad


def universe_errors(manifest: dict, edge_blob: bytes, edge_index: pl.DataFrame, universe: dict) -> list:
    bad = []
    digest = common.sha256_hex(edge_blob)
    _, glob = split_edge_index(edge_index)
    global_sha = glob.get_column("blob_sha256_hex")[0] if glob.height and "blob_sha256_hex" in glob.columns else None
    if global_sha != digest:
        bad.append(["edge_alias_index_3B.GLOBAL.blob_sha256_hex", global_sha, digest])
    components = universe.get("components") or {}
    if isinstance(components, dict) and components.get("edge_alias_blob") not in (None, digest):
        bad.append(["edge_universe_hash_3B.components.edge_alias_blob", components.get("edge_alias_blob"), digest])
    if manifest.get("edge_universe_hash") != universe.get("edge_universe_hash") or not universe.get(
            "edge_universe_hash"):
        bad.append(["edge_universe_hash", manifest.get("edge_universe_hash"), universe.get("edge_universe_hash")])
    if manifest.get("edge_blob_sha256") != digest:
        bad.append(["manifest.edge_blob_sha256", manifest.get("edge_blob_sha256"), digest])
    return bad


def edge_attr_errors(sample: pl.DataFrame, catalogue: pl.DataFrame) -> list:
    edges = sample.filter(pl.col("channel") == "edge").select("merchant_id", "edge_seq_index").unique()
    cat = catalogue.select("merchant_id", pl.col("edge_seq_index").cast(pl.Int32))
    missing = edges.join(cat, on=["merchant_id", "edge_seq_index"], how="anti").sort("merchant_id", "edge_seq_index")
    unrouted = sample.filter(pl.col("channel").is_null())
    return key_list(missing, ["merchant_id", "edge_seq_index"]) + \
        key_list(unrouted.head(10), ["merchant_id", "utc_day", "k"])


def hybrid_errors(plan: pl.DataFrame, weights: pl.DataFrame) -> list:
    sited = weights.select("merchant_id").unique()
    hybrid = plan.filter(pl.col("virtual_mode") == router.HYBRID)
    missing = hybrid.join(sited, on="merchant_id", how="anti")
    flag_wrong = plan.join(sited.with_columns(pl.lit(True).alias("s")), on="merchant_id", how="left").filter(
        pl.col("has_sites") != pl.col("s").fill_null(False))
    return key_list(missing, ["merchant_id"]) + key_list(flag_wrong, ["merchant_id"])
