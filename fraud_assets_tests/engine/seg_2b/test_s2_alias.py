"""2B S2: one fa.alias.v1 slice per (merchant, group); the header is the one source of prob_qbits."""

from __future__ import annotations

import struct

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraud_assets.core import alias
from fraud_assets.core.errors import EngineFailure
from fraud_assets.engine.seg_2b import blob as blobs
from fraud_assets.engine.seg_2b import catalogue, common
from fraud_assets.engine.seg_2b import datasets as ds
from fraud_assets.engine.state import StateResult
from fraud_assets_tests.engine.seg_2b.conftest import failed, run_checks


def _blob(data) -> bytes:  # noqa: ANN001
    return common.blob_bytes(data[ds.S2_ALIAS_BLOB])


def test_blob_index_and_manifest_agree(synthetic_chain):
    data, results, ctx = synthetic_chain
    blob = _blob(data)
    index = data[ds.S2_ALIAS_INDEX]
    man = common.json_input(data[ds.S2_ALIAS_MANIFEST])
    header = alias.read_header(blob)
    weights = data[ds.S1_SITE_WEIGHTS]
    assert header.prob_qbits == 31 == man["prob_qbits"] and set(index.get_column("prob_qbits").to_list()) == {31}
    assert header.table_count == index.height == weights.select("merchant_id", "group_index").unique().height
    assert header.entry_count_total == weights.height == man["entry_count_total"]
    assert man["codec"] == "fa.alias.v1" and man["blob_sha256"] == common.sha256_hex(blob)
    assert list(data[ds.S2_ALIAS_BLOB]) == ["alias.bin"]
    assert index.get_column("slice_seq").to_list() == list(range(index.height))
    assert (index.get_column("blob_offset_bytes") % 8 == 0).all()
    assert failed(run_checks(catalogue.S2, results["S2"], data, ctx)) == {}


def test_decoded_slices_reproduce_p_within_within_the_header_bound(synthetic_chain):
    data, _, _ = synthetic_chain
    blob = _blob(data)
    weights = data[ds.S1_SITE_WEIGHTS]
    pw = weights.get_column("p_within").to_numpy()
    q = alias.read_header(blob).prob_qbits
    for r in data[ds.S2_ALIAS_INDEX].iter_rows(named=True):
        prob, al = alias.read_table(blob, r["blob_offset_bytes"])
        target = pw[r["member_row_offset"]:r["member_row_offset"] + r["n_members"]]
        implied = alias.implied_probabilities(prob, al)
        bound = 2.0 ** -q / prob.shape[0]
        assert np.abs(implied - target / target.sum()).max() <= bound + 1e-15


def test_reference_rebuild_is_byte_equal(synthetic_chain):
    data, _, _ = synthetic_chain
    assert blobs.rebuild_reference(data[ds.S1_SITE_WEIGHTS]) == _blob(data)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.lists(st.floats(1e-6, 1.0, allow_nan=False), min_size=1, max_size=60), min_size=1, max_size=8))
def test_quantisation_and_implied_probabilities_hold_for_random_groups(groups):
    rows = []
    for g, ws in enumerate(groups):
        total = sum(ws)
        for j, wv in enumerate(ws):
            rows.append((1, g, j, wv / total))
    weights = pl.DataFrame(rows, orient="row", schema={"merchant_id": pl.Int64, "group_index": pl.Int16,
                                                       "member_index": pl.Int32, "p_within": pl.Float64}) \
        .with_columns(pl.lit("Etc/UTC").alias("tz_group_id"))
    blob, index, _ = blobs.build_blob(weights)
    assert blobs.quantisation_errors(blob, index, weights) == []
    assert blobs.distribution_errors(blob, index, weights)[0] == []
    assert blobs.layout_errors(blob, index) == []


def _with_blob(data, blob: bytes) -> dict:  # noqa: ANN001
    return {ds.ALIAS_BLOB_FILE: blob}


def _flip(blob: bytes, pos: int, value: int | None = None) -> bytes:
    b = bytearray(blob)
    b[pos] = (b[pos] ^ 0x01) if value is None else value
    return bytes(b)


def _tampered(data, **outputs) -> StateResult:  # noqa: ANN001
    base = {ds.S2_ALIAS_BLOB: data[ds.S2_ALIAS_BLOB], ds.S2_ALIAS_INDEX: data[ds.S2_ALIAS_INDEX],
            ds.S2_ALIAS_MANIFEST: common.json_input(data[ds.S2_ALIAS_MANIFEST])}
    base.update(outputs)
    return StateResult(outputs=base)


def test_a_corrupted_blob_byte_fails_the_checksum_004(tiny_chain):
    data, _, ctx = tiny_chain
    blob = _blob(data)
    off = data[ds.S2_ALIAS_INDEX].get_column("blob_offset_bytes")[1]
    bad = _with_blob(data, _flip(blob, off + 16))  # first prob word of slice 1
    checks = run_checks(catalogue.S2, _tampered(data, **{ds.S2_ALIAS_BLOB: bad}), data, ctx)
    assert not checks["2B-S2-004"].passed


def test_a_broken_probability_fails_quantisation_001_and_distribution_002(tiny_chain):
    data, _, ctx = tiny_chain
    blob = bytearray(_blob(data))
    row = data[ds.S2_ALIAS_INDEX].filter(pl.col("n_members") >= 2).row(0, named=True)
    prob, al = alias.read_table(bytes(blob), row["blob_offset_bytes"])
    j = int(np.flatnonzero(al != np.arange(al.shape[0]))[0])  # a column whose alias is another member
    start = row["blob_offset_bytes"] + 16 + 4 * j
    struct.pack_into("<I", blob, start, int(prob[j]) - 1000 if prob[j] > 1000 else int(prob[j]) + 1000)
    checks = run_checks(catalogue.S2, _tampered(data, **{ds.S2_ALIAS_BLOB: _with_blob(data, bytes(blob))}), data, ctx)
    assert not checks["2B-S2-001"].passed and not checks["2B-S2-002"].passed


def test_a_shifted_offset_fails_layout_003(tiny_chain):
    data, _, ctx = tiny_chain
    index = data[ds.S2_ALIAS_INDEX].with_columns(
        pl.when(pl.col("slice_seq") == 1).then(pl.col("blob_offset_bytes") + 8)
        .otherwise(pl.col("blob_offset_bytes")).alias("blob_offset_bytes"))
    checks = run_checks(catalogue.S2, _tampered(data, **{ds.S2_ALIAS_INDEX: index}), data, ctx)
    assert not checks["2B-S2-003"].passed


def test_a_missing_slice_fails_counts_005(tiny_chain):
    data, _, ctx = tiny_chain
    checks = run_checks(catalogue.S2, _tampered(data, **{ds.S2_ALIAS_INDEX: data[ds.S2_ALIAS_INDEX].slice(1)}),
                        data, ctx)
    assert not checks["2B-S2-005"].passed


def test_a_foreign_qbits_echo_fails_006(tiny_chain):
    data, _, ctx = tiny_chain
    index = data[ds.S2_ALIAS_INDEX].with_columns(
        pl.when(pl.col("slice_seq") == 0).then(pl.lit(24, dtype=pl.Int8)).otherwise(pl.col("prob_qbits"))
        .alias("prob_qbits"))
    checks = run_checks(catalogue.S2, _tampered(data, **{ds.S2_ALIAS_INDEX: index}), data, ctx)
    assert not checks["2B-S2-006"].passed
    man = {**common.json_input(data[ds.S2_ALIAS_MANIFEST]), "prob_qbits": 32}
    checks = run_checks(catalogue.S2, _tampered(data, **{ds.S2_ALIAS_MANIFEST: man}), data, ctx)
    assert not checks["2B-S2-006"].passed


def test_decoders_refuse_a_header_with_other_qbits(tiny_chain):
    data, _, _ = tiny_chain
    blob = bytearray(_blob(data))
    struct.pack_into("<I", blob, 12, 24)  # header prob_qbits
    with pytest.raises(EngineFailure) as info:
        alias.read_header(bytes(blob))
    assert info.value.code == "E_ALIAS_CODEC_MISMATCH"
    assert blobs.qbits_errors(bytes(blob), data[ds.S2_ALIAS_INDEX], {})[0]
