"""Edge alias tables and the edge universe hash (spec/engine/3B.md, "S3"; codec `core.alias` fa.alias.v1).

Not a state: `s3_alias` packs and checks, S5 re-derives and decodes with the same code.

* `pack(edges)` — per merchant (merchant_id asc) the weights in `edge_seq_index` order
  through `core.alias.build` (integer masses summing to n·2^31 by largest remainder, FIFO
  Vose), one blob by `core.alias.write_blob` (64-byte header with `table_count`,
  `entry_count_total`; slices `<IIII>(n, 31, 0, 0)` + prob + alias, 8-byte aligned).
* `alias_index(...)` — `edge_alias_index_3B`: the GLOBAL row (blob sha256 and size, counts,
  qbits, layout) then one MERCHANT row per table (offset, length, n, slice sha256).
* `fidelity(blob, index, edges)` — every slice decoded back (`read_table`,
  `implied_probabilities`) against the catalogue weights; the problems per code.
* `universe(...)` — the components and `edge_universe_hash = sha256(canonical_json(components))`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from fraud_assets.core import alias as core_alias
from fraud_assets.core.canonical import canonical_sha256
from fraud_assets.core.digest import content_digest
from fraud_assets.engine.seg_3b import datasets as ds
from fraud_assets.engine.seg_3b.config import Config3B, policy_digest

ALIAS_LAYOUT = f"{core_alias.CODEC}/{core_alias.PROB_QBITS}"
SLICE_HEADER_BYTES = 16
FIDELITY_TOL = 1e-9
DECODE_LAW = ("x: one raw 64-bit word; n = table length; j = ((x >> 32)·n) >> 32; r = x & (2^31 − 1); "
              "edge_seq_index = j if r < prob[j] else alias[j]")


@dataclass
class Packed:
    blob: bytes
    merchant_ids: list[int]
    offsets: list[int]
    lengths: list[int]
    sizes: list[int]
    checksums: list[str] = field(default_factory=list)


def merchant_weights(edges: pl.DataFrame) -> list[tuple[int, np.ndarray]]:
    """(merchant_id, weights in edge_seq_index order) for every merchant, merchant_id ascending."""
    ordered = edges.sort("merchant_id", "edge_seq_index")
    mids = ordered.get_column("merchant_id").to_numpy()
    w = ordered.get_column("edge_weight").to_numpy()
    if mids.size == 0:
        return []
    cuts = np.flatnonzero(np.diff(mids)) + 1
    starts = np.concatenate([[0], cuts])
    ends = np.concatenate([cuts, [mids.size]])
    return [(int(mids[a]), w[a:b]) for a, b in zip(starts, ends)]


def pack(edges: pl.DataFrame) -> Packed:
    groups = merchant_weights(edges)
    tables = [core_alias.build(w) for _, w in groups]
    blob, spans = core_alias.write_blob(tables)
    offsets = [o for o, _ in spans]
    lengths = [n for _, n in spans]
    checksums = [hashlib.sha256(blob[o:o + n]).hexdigest() for o, n in spans]
    return Packed(blob, [m for m, _ in groups], offsets, lengths, [int(w.size) for _, w in groups], checksums)


def alias_index(p: Packed, world: Any) -> pl.DataFrame:
    glob = pl.DataFrame({
        "scope": [ds.SCOPE_GLOBAL], "merchant_id": pl.Series([None], dtype=pl.Int64),
        "edge_count_total": pl.Series([sum(p.sizes)], dtype=pl.Int32),
        "qbits": pl.Series([core_alias.PROB_QBITS], dtype=pl.Int32),
        "layout_version": pl.Series([core_alias.LAYOUT_VERSION], dtype=pl.Int32),
        "blob_sha256_hex": [hashlib.sha256(p.blob).hexdigest()],
        "blob_size_bytes": pl.Series([len(p.blob)], dtype=pl.Int64),
        "merchant_count": pl.Series([len(p.merchant_ids)], dtype=pl.Int32),
    })
    merchant = pl.DataFrame({
        "scope": [ds.SCOPE_MERCHANT] * len(p.merchant_ids),
        "merchant_id": pl.Series(p.merchant_ids, dtype=pl.Int64),
        "blob_offset_bytes": pl.Series(p.offsets, dtype=pl.Int64),
        "blob_length_bytes": pl.Series(p.lengths, dtype=pl.Int32),
        "edge_count_total": pl.Series(p.sizes, dtype=pl.Int32),
        "alias_table_length": pl.Series(p.sizes, dtype=pl.Int32),
        "merchant_alias_checksum": pl.Series(p.checksums, dtype=pl.String),
        "qbits": pl.Series([core_alias.PROB_QBITS] * len(p.merchant_ids), dtype=pl.Int32),
        "layout_version": pl.Series([core_alias.LAYOUT_VERSION] * len(p.merchant_ids), dtype=pl.Int32),
    })
    frame = pl.concat([glob, merchant], how="diagonal_relaxed")
    return ds.conform(ds.with_partition(frame, world.manifest_fingerprint, world.seed), ds.EDGE_ALIAS_INDEX)


# ---- checks over a blob -----------------------------------------------------------------------------


def global_row(index: pl.DataFrame) -> dict:
    rows = index.filter(pl.col("scope") == ds.SCOPE_GLOBAL)
    return rows.row(0, named=True) if rows.height == 1 else {}


def layout_problems(blob: bytes, index: pl.DataFrame) -> list[Any]:
    """`3B-S3-004`: slices inside the blob, 8-aligned, lengths 16 + 8n, non-overlapping."""
    rows = index.filter(pl.col("scope") == ds.SCOPE_MERCHANT).sort("blob_offset_bytes")
    bad: list[Any] = []
    end = core_alias.HEADER_BYTES
    for r in rows.iter_rows(named=True):
        off, length, n = r["blob_offset_bytes"], r["blob_length_bytes"], r["alias_table_length"]
        if (off is None or length is None or off < end or off % core_alias.ALIGNMENT
                or off + length > len(blob) or length != SLICE_HEADER_BYTES + 8 * n):
            bad.append(r["merchant_id"])
        end = max(end, (off or 0) + (length or 0))
    return bad


def checksum_problems(blob: bytes, index: pl.DataFrame) -> list[Any]:
    """`3B-S3-005`: every slice sha256 and the blob sha256/size."""
    bad: list[Any] = []
    g = global_row(index)
    if g.get("blob_sha256_hex") != hashlib.sha256(blob).hexdigest() or g.get("blob_size_bytes") != len(blob):
        bad.append("GLOBAL")
    for r in index.filter(pl.col("scope") == ds.SCOPE_MERCHANT).iter_rows(named=True):
        off, length = r["blob_offset_bytes"], r["blob_length_bytes"]
        if off is None or length is None or hashlib.sha256(blob[off:off + length]).hexdigest() \
                != r["merchant_alias_checksum"]:
            bad.append(r["merchant_id"])
    return bad


@dataclass
class Fidelity:
    max_abs_error: float
    inconsistent: list[Any]  # 3B-S3-003: |implied − w| > tol, or a slice that does not decode
    mass_failures: list[Any]  # 3B-S3-002: Σ masses ≠ n·2^31
    checked: int


def fidelity(blob: bytes, index: pl.DataFrame, edges: pl.DataFrame, tol: float = FIDELITY_TOL) -> Fidelity:
    weights = dict(merchant_weights(edges))
    worst = 0.0
    inconsistent: list[Any] = []
    mass: list[Any] = []
    rows = index.filter(pl.col("scope") == ds.SCOPE_MERCHANT)
    for r in rows.iter_rows(named=True):
        mid = r["merchant_id"]
        try:
            prob, alias = core_alias.read_table(blob, int(r["blob_offset_bytes"]))
        except Exception:  # noqa: BLE001 - a slice that does not decode is an inconsistency, with its key
            inconsistent.append(mid)
            continue
        w = weights.get(mid)
        if w is None or prob.shape[0] != w.size:
            inconsistent.append(mid)
            continue
        masses = core_alias.implied_masses(prob, alias)
        if int(masses.sum()) != w.size * core_alias.PROB_ONE:
            mass.append(mid)
        err = float(np.abs(masses / float(w.size * core_alias.PROB_ONE) - w).max())
        worst = max(worst, err)
        if err > tol:
            inconsistent.append(mid)
    return Fidelity(worst, inconsistent, mass, rows.height)


def count_problems(blob: bytes, index: pl.DataFrame, catalogue_index: pl.DataFrame) -> list[Any]:
    """`3B-S3-006`: header counts = GLOBAL row = catalogue; per merchant n = the catalogue's edge count."""
    bad: list[Any] = []
    try:
        header = core_alias.read_header(blob)
    except Exception as exc:  # noqa: BLE001
        return [f"header: {exc}"[:200]]
    g = global_row(index)
    cg = global_row(catalogue_index)
    if not (header.table_count == g.get("merchant_count") == cg.get("merchant_count")):
        bad.append(f"table_count {header.table_count} / merchant_count {g.get('merchant_count')} / "
                   f"catalogue {cg.get('merchant_count')}")
    if not (header.entry_count_total == g.get("edge_count_total") == cg.get("edge_count_total")):
        bad.append(f"entry_count_total {header.entry_count_total} / edge_count_total {g.get('edge_count_total')} / "
                   f"catalogue {cg.get('edge_count_total')}")
    if header.prob_qbits != g.get("qbits") or header.layout_version != g.get("layout_version"):
        bad.append("qbits or layout_version differ from the header")
    mine = index.filter(pl.col("scope") == ds.SCOPE_MERCHANT).select("merchant_id", "edge_count_total")
    theirs = catalogue_index.filter(pl.col("scope") == ds.SCOPE_MERCHANT).select("merchant_id", "edge_count_total")
    diff = mine.join(theirs, on=["merchant_id", "edge_count_total"], how="anti")
    diff2 = theirs.join(mine, on=["merchant_id", "edge_count_total"], how="anti")
    bad += sorted(set(diff.get_column("merchant_id").to_list() + diff2.get_column("merchant_id").to_list()))
    return bad


# ---- the universe hash ----------------------------------------------------------------------------


def universe(cfg: Config3B, edges: pl.DataFrame, catalogue_index: pl.DataFrame, index: pl.DataFrame,
             blob_sha256: str, world: Any) -> dict:
    components = {
        "virtual_rules": policy_digest(cfg.virtual_rules),
        "settlement_policy": policy_digest(cfg.settlement_policy),
        "edge_topology": policy_digest(cfg.edge_topology),
        "alias_layout": ALIAS_LAYOUT,
        "edge_catalogue": content_digest(edges, list(ds.EDGE_LAW_COLUMNS), ["merchant_id", "edge_seq_index"]),
        "edge_catalogue_index": content_digest(catalogue_index, list(ds.INDEX_LAW_COLUMNS), ["scope", "merchant_id"]),
        "edge_alias_index": content_digest(index, list(ds.ALIAS_INDEX_LAW_COLUMNS), ["scope", "merchant_id"]),
        "edge_alias_blob": blob_sha256,
    }
    return {"manifest_fingerprint": world.manifest_fingerprint, "seed": world.seed,
            "parameter_hash": world.parameter_hash, "components": components,
            "edge_universe_hash": canonical_sha256(components)}


def blob_bytes(value: Any) -> bytes | None:
    """The blob from an output/input value: bytes, or the FILES mapping {file name: bytes}."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, Mapping):
        data = value.get(ds.EDGE_ALIAS_BLOB_FILE)
        return bytes(data) if isinstance(data, (bytes, bytearray, memoryview)) else None
    return None
