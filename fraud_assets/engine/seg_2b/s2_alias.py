"""2B S2 — alias tables (spec/engine/2B.md, "S2"; `s2_alias_blob`, `s2_alias_index`, `s2_alias_manifest`, no RNG).

One slice per (merchant, group) in `(merchant_id, group_index)` order (`slice_seq` 0..),
each `core.alias.build(p_within of the group's members in member_index order)`, packed by
`core.alias.write_blob` (64-byte header + 8-aligned slices). The header is the single
source of `prob_qbits`: the index column and the manifest echo the value read back from
the written header, and every check compares every echo with it.

The blob is published as the file `alias.bin` of the FILES dataset `s2_alias_blob`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from fraud_assets.engine.seg_2b import common
from fraud_assets.engine.seg_2b import datasets as ds
from fraud_assets.engine.seg_2b.blob import (blob_files, build_blob, checksum_errors, count_errors,
                                            distribution_errors, layout_errors, manifest, qbits_errors,
                                            quantisation_errors)
from fraud_assets.engine.state import CheckOutcome, StateContext, StateResult

CODE_QUANTISATION_FAILED = "2B-S2-001"
CODE_ALIAS_DISTRIBUTION_INCONSISTENT = "2B-S2-002"
CODE_LAYOUT_INVALID = "2B-S2-003"
CODE_CHECKSUM_MISMATCH = "2B-S2-004"
CODE_COUNT_MISMATCH = "2B-S2-005"
CODE_QBITS_INCOHERENT = "2B-S2-006"

CHECK_QUANTISATION = "quantisation_2B_S2"
CHECK_DISTRIBUTION = "alias_distribution_2B_S2"
CHECK_LAYOUT = "layout_2B_S2"
CHECK_CHECKSUM = "checksum_2B_S2"
CHECK_COUNT = "counts_2B_S2"
CHECK_QBITS = "qbits_coherent_2B_S2"


def run(inputs: Mapping[str, Any], ctx: StateContext) -> StateResult:
    weights = inputs[ds.S1_SITE_WEIGHTS]
    blob, index, _ = build_blob(weights)
    w = ctx.world
    idx = ds.shape(index, ds.S2_ALIAS_INDEX, w)
    man = manifest(blob, idx)
    report = {"slices": idx.height, "entries": int(idx.get_column("n_members").sum() or 0),
              "blob_size_bytes": len(blob), "blob_sha256": man["blob_sha256"], "prob_qbits": man["prob_qbits"],
              "max_members": int(idx.get_column("n_members").max() or 0)}
    return StateResult(outputs={ds.S2_ALIAS_BLOB: blob_files(blob),
                                ds.S2_ALIAS_INDEX: idx, ds.S2_ALIAS_MANIFEST: man}, report=report)


# ---- checks ---------------------------------------------------------------------------------------


def _parts(result: StateResult, inputs: Mapping[str, Any]) -> tuple[bytes, pl.DataFrame, dict, pl.DataFrame]:
    blob = common.blob_bytes(result.outputs[ds.S2_ALIAS_BLOB], ds.S2_ALIAS_BLOB)
    return blob, result.outputs[ds.S2_ALIAS_INDEX], common.json_input(result.outputs[ds.S2_ALIAS_MANIFEST]), \
        inputs[ds.S1_SITE_WEIGHTS]


def _guarded(code: str, fn) -> CheckOutcome:  # noqa: ANN001
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - an unreadable blob fails the check with its reason
        return CheckOutcome(False, {"code": code, "error": f"{type(exc).__name__}: {exc}"[:500]})


def check_quantisation(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    def fn() -> CheckOutcome:
        blob, index, _, weights = _parts(result, inputs)
        return common.outcome(CODE_QUANTISATION_FAILED, quantisation_errors(blob, index, weights), index.height)
    return _guarded(CODE_QUANTISATION_FAILED, fn)


def check_distribution(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    def fn() -> CheckOutcome:
        blob, index, _, weights = _parts(result, inputs)
        bad, worst = distribution_errors(blob, index, weights)
        return common.outcome(CODE_ALIAS_DISTRIBUTION_INCONSISTENT, bad, index.height,
                              worst_error_over_bound=worst)
    return _guarded(CODE_ALIAS_DISTRIBUTION_INCONSISTENT, fn)


def check_layout(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    def fn() -> CheckOutcome:
        blob, index, _, _ = _parts(result, inputs)
        return common.outcome(CODE_LAYOUT_INVALID, layout_errors(blob, index), index.height)
    return _guarded(CODE_LAYOUT_INVALID, fn)


def check_checksum(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    def fn() -> CheckOutcome:
        blob, index, man, _ = _parts(result, inputs)
        return common.outcome(CODE_CHECKSUM_MISMATCH, checksum_errors(blob, index, man), index.height + 1)
    return _guarded(CODE_CHECKSUM_MISMATCH, fn)


def check_count(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    def fn() -> CheckOutcome:
        blob, index, man, weights = _parts(result, inputs)
        return common.outcome(CODE_COUNT_MISMATCH, count_errors(blob, index, weights, man), 6)
    return _guarded(CODE_COUNT_MISMATCH, fn)


def check_qbits(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    def fn() -> CheckOutcome:
        blob, index, man, _ = _parts(result, inputs)
        bad, header_q = qbits_errors(blob, index, man)
        return common.outcome(CODE_QBITS_INCOHERENT, bad, index.height + 2, header_prob_qbits=header_q)
    return _guarded(CODE_QBITS_INCOHERENT, fn)

