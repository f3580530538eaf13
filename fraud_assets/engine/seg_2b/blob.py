"""The 2B alias blob as a library (spec/engine/2B.md, "S2", "S7" step 2): build, manifest, audits.

`build_blob` packs one `core.alias` slice per (merchant, group) in `(merchant_id, group_index)`
order from `s1_site_weights.p_within` (members in `member_index` order) with
`core.alias.write_blob`; the index echoes `prob_qbits` read back from the written header. The
audit functions return offending keys; S2's checks and S7's audit call them on written frames.
`rebuild_reference` re-packs every slice with the codec's plain-Python reference steps
(`core.alias.masses` + `core.alias.vose_py`), for S7's byte-equality audit.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from fraud_assets.core import alias
from fraud_assets.core.digest import content_digest
from fraud_assets.engine.seg_2b import common
from fraud_assets.engine.seg_2b import datasets as ds

INDEX_DIGEST_COLUMNS = ("merchant_id", "tz_group_id", "group_index", "slice_seq", "blob_offset_bytes",
                        "blob_length_bytes", "n_members", "member_row_offset", "prob_qbits", "slice_sha256")
# float64 comparison slack on top of core.alias.quantisation_bound: a few ulps of p_within and of
# M/(n·2^31) (probabilities ≤ 1), far below the bound itself (2^-31/n ≥ 1e-15 for n < 4.6e5).
FLOAT_SLACK = 1e-15


def slices(weights: pl.DataFrame) -> tuple[list[np.ndarray], pl.DataFrame]:
    """p_within per (merchant, group) in member order, and one row per slice with its member offset."""
    w = weights.with_row_index("row")
    groups = w.group_by("merchant_id", "group_index", maintain_order=True).agg(
        pl.col("tz_group_id").first(), pl.len().alias("n_members"), pl.col("row").min().alias("member_row_offset"))
    pw = w.get_column("p_within").to_numpy()
    starts = groups.get_column("member_row_offset").to_numpy()
    lengths = groups.get_column("n_members").to_numpy()
    return [pw[s:s + n] for s, n in zip(starts.tolist(), lengths.tolist(), strict=True)], groups


def build_blob(weights: pl.DataFrame) -> tuple[bytes, pl.DataFrame, list[tuple[np.ndarray, np.ndarray]]]:
    """(blob, index without partition columns, tables) from `s1_site_weights` in its sort order."""
    p_slices, groups = slices(weights)
    tables = [alias.build(p) for p in p_slices]
    blob, offsets = alias.write_blob(tables)
    header = alias.read_header(blob)
    off = np.array([o for o, _ in offsets], dtype=np.int64)
    length = np.array([n for _, n in offsets], dtype=np.int64)
    index = groups.with_columns(
        pl.int_range(pl.len()).cast(pl.Int32).alias("slice_seq"),
        pl.Series("blob_offset_bytes", off, dtype=pl.Int64),
        pl.Series("blob_length_bytes", length, dtype=pl.Int32),
        pl.col("n_members").cast(pl.Int32), pl.col("member_row_offset").cast(pl.Int64),
        pl.lit(header.prob_qbits, dtype=pl.Int8).alias("prob_qbits"),
        pl.Series("slice_sha256", [common.sha256_hex(blob[o:o + n]) for o, n in offsets], dtype=pl.String),
    )
    return blob, index, tables


def manifest(blob: bytes, index: pl.DataFrame) -> dict:
    header = alias.read_header(blob)
    return common.jsonable({
        "codec": alias.CODEC, "layout_version": header.layout_version, "prob_qbits": header.prob_qbits,
        "alignment": header.alignment, "table_count": header.table_count,
        "entry_count_total": header.entry_count_total, "blob_sha256": common.sha256_hex(blob),
        "blob_size_bytes": len(blob), "index_digest": index_digest(index),
    })


def index_digest(index: pl.DataFrame) -> str:
    return content_digest(index, list(INDEX_DIGEST_COLUMNS), ["merchant_id", "group_index"])


def blob_files(blob: bytes) -> dict[str, bytes]:
    """The `s2_alias_blob` FILES output: one file, `alias.bin`."""
    return {ds.ALIAS_BLOB_FILE: blob}


def _rows(index: pl.DataFrame) -> list[dict]:
    return index.sort("slice_seq").select("merchant_id", "group_index", "slice_seq", "blob_offset_bytes",
                                          "blob_length_bytes", "n_members", "member_row_offset",
                                          "prob_qbits", "slice_sha256").to_dicts()


def quantisation_errors(blob: bytes, index: pl.DataFrame, weights: pl.DataFrame) -> list:
    """Slices whose exact integer masses differ from the codec's quantisation of p_within.

    A table's masses `M_j = prob_j + Σ_{alias_i=j}(2^31 − prob_i)` always sum to n·2^31, so the
    audit compares them one by one with `core.alias.masses(p_within)` (largest remainder, ΣM = n·2^31)."""
    pw = weights.get_column("p_within").to_numpy()
    bad = []
    for r in _rows(index):
        prob, al = alias.read_table(blob, r["blob_offset_bytes"])
        lo, n = r["member_row_offset"], prob.shape[0]
        target = alias.masses(pw[lo:lo + n]) if lo + n <= pw.shape[0] else None
        if target is None or int(target.sum()) != n * alias.PROB_ONE \
                or not np.array_equal(alias.implied_masses(prob, al), target):
            bad.append([r["merchant_id"], r["group_index"]])
    return bad


def distribution_errors(blob: bytes, index: pl.DataFrame, weights: pl.DataFrame) -> tuple[list, float]:
    """Slices whose implied probabilities differ from p_within by more than the header's bound."""
    pw = weights.get_column("p_within").to_numpy()
    bad, worst = [], 0.0
    for r in _rows(index):
        prob, al = alias.read_table(blob, r["blob_offset_bytes"])
        n = prob.shape[0]
        lo = r["member_row_offset"]
        if n != r["n_members"] or lo + n > pw.shape[0]:
            bad.append([r["merchant_id"], r["group_index"]])
            continue
        target = pw[lo:lo + n] / pw[lo:lo + n].sum()
        err = float(np.abs(alias.implied_probabilities(prob, al) - target).max())
        worst = max(worst, err / alias.quantisation_bound(n))
        if err > alias.quantisation_bound(n) + FLOAT_SLACK:
            bad.append([r["merchant_id"], r["group_index"]])
    return bad, worst


def layout_errors(blob: bytes, index: pl.DataFrame) -> list:
    bad = []
    pos = alias.HEADER_BYTES
    for r in _rows(index):
        off, length, n = r["blob_offset_bytes"], r["blob_length_bytes"], r["n_members"]
        ok = (off == pos and off % alias.ALIGNMENT == 0 and length == 16 + 8 * n
              and off + length <= len(blob))
        if not ok:
            bad.append([r["merchant_id"], r["group_index"], off, length])
        pos = off + length + ((-length) % alias.ALIGNMENT)
    if pos != len(blob):
        bad.append(["blob_end", pos, len(blob)])
    return bad


def checksum_errors(blob: bytes, index: pl.DataFrame, man: dict) -> list:
    bad = []
    for r in _rows(index):
        got = common.sha256_hex(blob[r["blob_offset_bytes"]:r["blob_offset_bytes"] + r["blob_length_bytes"]])
        if got != r["slice_sha256"]:
            bad.append([r["merchant_id"], r["group_index"]])
    digest = common.sha256_hex(blob)
    if man.get("blob_sha256") != digest:
        bad.append(["manifest.blob_sha256", man.get("blob_sha256"), digest])
    if man.get("blob_size_bytes") != len(blob):
        bad.append(["manifest.blob_size_bytes", man.get("blob_size_bytes"), len(blob)])
    if man.get("index_digest") != index_digest(index):
        bad.append(["manifest.index_digest"])
    return bad


def count_errors(blob: bytes, index: pl.DataFrame, weights: pl.DataFrame, man: dict) -> list:
    header = alias.read_header(blob)
    groups = weights.select("merchant_id", "group_index").unique().height
    bad = []
    for name, got, want in (("table_count", header.table_count, groups),
                            ("index_rows", index.height, groups),
                            ("entry_count_total", header.entry_count_total, weights.height),
                            ("index_members", int(index.get_column("n_members").sum() or 0), weights.height),
                            ("manifest.table_count", man.get("table_count"), header.table_count),
                            ("manifest.entry_count_total", man.get("entry_count_total"), header.entry_count_total)):
        if got != want:
            bad.append([name, got, want])
    return bad


def qbits_errors(blob: bytes, index: pl.DataFrame, man: dict) -> tuple[list, int | None]:
    """Every echo of prob_qbits equals the header's, and the header's equals the codec (31)."""
    try:
        header_q = alias.read_header(blob).prob_qbits
    except Exception as exc:  # noqa: BLE001 - the header itself refuses a foreign qbits
        return [["header", str(exc)[:200]]], None
    bad = []
    for r in _rows(index):
        slice_q = int(np.frombuffer(blob, dtype="<u4", count=2, offset=r["blob_offset_bytes"])[1]) \
            if r["blob_offset_bytes"] + 8 <= len(blob) else None
        if r["prob_qbits"] != header_q or slice_q != header_q:
            bad.append([r["merchant_id"], r["group_index"], r["prob_qbits"], slice_q])
    if man.get("prob_qbits") != header_q:
        bad.append(["manifest.prob_qbits", man.get("prob_qbits"), header_q])
    if header_q != alias.PROB_QBITS:
        bad.append(["header", header_q, alias.PROB_QBITS])
    return bad, header_q


def rebuild_reference(weights: pl.DataFrame) -> bytes:
    """The blob re-packed with the codec's plain-Python reference Vose (`core.alias.vose_py`)."""
    p_slices, _ = slices(weights)
    return alias.write_blob([alias.vose_py(alias.masses(p)) for p in p_slices])[0]


def header_errors(blob: bytes) -> list:
    """Header constants, slice walk, table and entry counts (`core.alias.iter_tables`)."""
    try:
        alias.read_header(blob)
        n = sum(1 for _ in alias.iter_tables(blob))
        return [] if n == alias.read_header(blob).table_count else [["table_count", n]]
    except Exception as exc:  # noqa: BLE001 - the codec's refusal is the finding
        return [["header", str(exc)[:300]]]
