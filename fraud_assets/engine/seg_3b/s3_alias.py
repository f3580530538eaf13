"""3B S3 — edge alias tables and the edge universe hash (spec/engine/3B.md, "S3"; RNG-free).

Writes `edge_alias_blob_3B` (a `Kind.FILES` dataset: `edge_alias_blob_3B.bin`, codec
`core.alias` fa.alias.v1), `edge_alias_index_3B` and `edge_universe_hash_3B.json` (the law
is `alias_pack`). Every check decodes the blob it is about to publish:

`3B-S3-001` S3 drew nothing; `-002` Σ integer masses = n·2^31 per table; `-003` implied
probabilities (exactly M/(n·2^31)) within 1e-9 of the catalogue weights; `-004` slices
inside the blob, 8-aligned, 16 + 8n long, non-overlapping; `-005` slice and blob sha256;
`-006` header counts = GLOBAL row = catalogue index, per-merchant edge counts.

Deviation: `core.alias` (shared with 2B and 5B) distributes the largest-remainder units on
the exact rationals `T·w_i/Σw` and re-queues a still-large column at the back of `large`;
the spec's step 1 uses `T·w_i` in float64 and keeps `l` at the head. Both give ΣM = n·2^31
and implied probabilities within 2^-31/n of the weights; the shared codec is the law.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from fraud_assets.engine.seg_3b import alias_pack, common
from fraud_assets.engine.seg_3b import datasets as ds
from fraud_assets.engine.state import CheckOutcome, StateContext, StateResult

CODE_RNG_USED = "3B-S3-001"
CODE_QUANTISATION = "3B-S3-002"
CODE_DISTRIBUTION = "3B-S3-003"
CODE_LAYOUT = "3B-S3-004"
CODE_CHECKSUM = "3B-S3-005"
CODE_COUNTS = "3B-S3-006"

CHECK_RNG_USED = "alias_rng_free_3B"
CHECK_QUANTISATION = "alias_quantisation_3B"
CHECK_DISTRIBUTION = "alias_distribution_3B"
CHECK_LAYOUT = "alias_layout_3B"
CHECK_CHECKSUM = "alias_checksums_3B"
CHECK_COUNTS = "alias_counts_3B"


def run(inputs: Mapping[str, Any], ctx: StateContext) -> StateResult:
    edges = inputs[ds.EDGE_CATALOGUE]
    packed = alias_pack.pack(edges)
    index = alias_pack.alias_index(packed, ctx.world)
    doc = alias_pack.universe(ctx.config, edges, inputs[ds.EDGE_CATALOGUE_INDEX], index,
                              alias_pack.global_row(index)["blob_sha256_hex"], ctx.world)
    fid = alias_pack.fidelity(packed.blob, index, edges)
    report = common.jsonable({"tables": len(packed.merchant_ids), "entries": sum(packed.sizes),
                              "blob_bytes": len(packed.blob), "max_abs_alias_error": fid.max_abs_error,
                              "edge_universe_hash": doc["edge_universe_hash"]})
    return StateResult(outputs={ds.EDGE_ALIAS_BLOB: {ds.EDGE_ALIAS_BLOB_FILE: packed.blob},
                                ds.EDGE_ALIAS_INDEX: index, ds.EDGE_UNIVERSE_HASH: doc}, report=report)


# ---- checks ---------------------------------------------------------------------------------------


def _parts(result: StateResult) -> tuple[bytes | None, pl.DataFrame | None]:
    index = result.outputs.get(ds.EDGE_ALIAS_INDEX)
    return (alias_pack.blob_bytes(result.outputs.get(ds.EDGE_ALIAS_BLOB)),
            index if isinstance(index, pl.DataFrame) else None)


def check_rng_used(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    used = [t.family for t in result.rng if t.draws or t.blocks]
    return common.outcome(CODE_RNG_USED, used, 1)


def check_quantisation(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    blob, index = _parts(result)
    if blob is None or index is None:
        return common.missing_output(CODE_QUANTISATION, ds.EDGE_ALIAS_BLOB)
    fid = alias_pack.fidelity(blob, index, inputs[ds.EDGE_CATALOGUE])
    return common.outcome(CODE_QUANTISATION, fid.mass_failures, fid.checked)


def check_distribution(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    blob, index = _parts(result)
    if blob is None or index is None:
        return common.missing_output(CODE_DISTRIBUTION, ds.EDGE_ALIAS_BLOB)
    fid = alias_pack.fidelity(blob, index, inputs[ds.EDGE_CATALOGUE])
    return common.outcome(CODE_DISTRIBUTION, fid.inconsistent, fid.checked, max_abs_error=fid.max_abs_error,
                          tolerance=alias_pack.FIDELITY_TOL)


def check_layout(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    blob, index = _parts(result)
    if blob is None or index is None:
        return common.missing_output(CODE_LAYOUT, ds.EDGE_ALIAS_BLOB)
    return common.outcome(CODE_LAYOUT, alias_pack.layout_problems(blob, index), index.height - 1,
                          blob_bytes=len(blob))


def check_checksum(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    blob, index = _parts(result)
    if blob is None or index is None:
        return common.missing_output(CODE_CHECKSUM, ds.EDGE_ALIAS_BLOB)
    return common.outcome(CODE_CHECKSUM, alias_pack.checksum_problems(blob, index), index.height)


def check_counts(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    blob, index = _parts(result)
    if blob is None or index is None:
        return common.missing_output(CODE_COUNTS, ds.EDGE_ALIAS_BLOB)
    return common.outcome(CODE_COUNTS, alias_pack.count_problems(blob, index, inputs[ds.EDGE_CATALOGUE_INDEX]),
                          index.height)
