"""3B S3: alias tables (fa.alias.v1) — masses, golden bytes, decode statistics, codec refusal, the universe hash."""

from __future__ import annotations

import hashlib
import struct

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraud_assets.core import alias as core_alias
from fraud_assets.core import rng as core_rng
from fraud_assets.core.canonical import canonical_sha256
from fraud_assets.core.errors import E_ALIAS_CODEC_MISMATCH, EngineFailure
from fraud_assets.engine.seg_3b import alias_pack, catalogue
from fraud_assets.engine.seg_3b import datasets as ds
from fraud_assets.engine.seg_3b import s3_alias as s3
from fraud_assets_tests.engine.seg_3b.conftest import make_world, run_checks

Q = 1 << 31


def _edges(weights: dict[int, list[float]]) -> pl.DataFrame:
    rows = [(m, i, w) for m, ws in weights.items() for i, w in enumerate(ws)]
    return pl.DataFrame(rows, schema={"merchant_id": pl.Int64, "edge_seq_index": pl.Int32, "edge_weight": pl.Float64},
                        orient="row")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(1e-6, 1.0), min_size=1, max_size=300))
def test_masses_sum_exactly_and_implied_is_m_over_nq(raw):
    w = np.asarray(raw) / np.sum(raw)
    p = alias_pack.pack(_edges({1: w.tolist()}))
    prob, alias = core_alias.read_table(p.blob, p.offsets[0])
    m = core_alias.implied_masses(prob, alias)
    n = w.size
    assert int(m.sum()) == n * Q
    implied = core_alias.implied_probabilities(prob, alias)
    assert np.array_equal(implied, m / float(n * Q))
    assert np.abs(implied - w).max() <= core_alias.quantisation_bound(n) + 4 * np.finfo(float).eps
    assert p.lengths[0] == 16 + 8 * n and p.offsets[0] % 8 == 0


def test_golden_blob_for_a_three_edge_merchant():
    p = alias_pack.pack(_edges({7: [0.5, 0.3, 0.2]}))
    header = struct.pack("<8sIIIIQ", b"FAALIAS1", 1, 31, 8, 1, 3) + b"\x00" * 32
    assert p.blob[:64] == header[:64] and len(p.blob) == 64 + 16 + 24
    n, qbits, r0, r1 = struct.unpack_from("<IIII", p.blob, 64)
    assert (n, qbits, r0, r1) == (3, 31, 0, 0)
    # T = 3·2^31: t = (1.5Q, 0.9Q, 0.6Q) → floors (3221225472, 1932735283, 1288490188), the one leftover unit to
    # the largest residual (index 2, .8); Vose: columns 1 and 2 alias to 0, whose mass ends at exactly Q
    assert struct.unpack_from("<3I", p.blob, 80) == (Q, 1932735283, 1288490189)
    assert struct.unpack_from("<3I", p.blob, 92) == (0, 0, 0)
    assert p.blob.hex() == (
        "4641414c49415331010000001f000000080000000100000003000000000000000000000000000000"
        "000000000000000000000000000000000000000000000000030000001f0000000000000000000000"
        "0000008033333373cdcccc4c000000000000000000000000")
    assert p.checksums[0] == hashlib.sha256(p.blob[64:]).hexdigest()


def test_decode_frequencies_match_implied(chain):
    """10^6 raw words through the decode law: pooled χ² against the implied probabilities."""
    edges = chain[0][ds.EDGE_CATALOGUE]
    mid = edges.group_by("merchant_id").len().sort("len", "merchant_id", descending=[True, False]).row(0)[0]
    p = alias_pack.pack(edges.filter(pl.col("merchant_id") == mid))
    prob, alias = core_alias.read_table(p.blob, p.offsets[0])
    root = core_rng.RngRoot("f" * 64, "a" * 64)
    words = core_rng.words(root.stream("test.3B.decode", 1, seed=1), 500_000).reshape(-1)
    picks = core_alias.decode(prob, alias, words)
    n = prob.shape[0]
    expected = core_alias.implied_probabilities(prob, alias) * words.size
    observed = np.bincount(picks, minlength=n)
    keep = expected >= 5
    chi2 = float((((observed - expected) ** 2) / expected)[keep].sum())
    df = int(keep.sum()) - 1
    assert (chi2 - df) / np.sqrt(2 * df) < 5.0


def test_decoder_refuses_other_qbits():
    p = alias_pack.pack(_edges({1: [0.7, 0.3]}))
    bad = bytearray(p.blob)
    struct.pack_into("<I", bad, 12, 30)  # header prob_qbits
    with pytest.raises(EngineFailure) as info:
        core_alias.read_header(bytes(bad))
    assert info.value.code == E_ALIAS_CODEC_MISMATCH
    bad = bytearray(p.blob)
    struct.pack_into("<I", bad, 64 + 4, 32)  # slice qbits
    with pytest.raises(EngineFailure):
        core_alias.read_table(bytes(bad), 64)


def test_chain_s3_checks_and_index(chain):
    data, results, ctx = chain
    res = results["S3"]
    outcomes = run_checks(catalogue.S3, res, data, ctx)
    assert all(o.passed for o in outcomes.values()), {k: o.evidence for k, o in outcomes.items() if not o.passed}
    assert not res.rng
    index = res.outputs[ds.EDGE_ALIAS_INDEX]
    blob = res.outputs[ds.EDGE_ALIAS_BLOB][ds.EDGE_ALIAS_BLOB_FILE]
    g = alias_pack.global_row(index)
    header = core_alias.read_header(blob)
    assert (header.table_count, header.entry_count_total) == (g["merchant_count"], g["edge_count_total"])
    assert g["edge_count_total"] == data[ds.EDGE_CATALOGUE].height
    rows = index.filter(pl.col("scope") == "MERCHANT")
    assert (rows.get_column("blob_offset_bytes") % 8 == 0).all()
    assert rows.get_column("blob_offset_bytes").is_sorted()
    fid = alias_pack.fidelity(blob, index, data[ds.EDGE_CATALOGUE])
    assert fid.max_abs_error < 5e-10 and not fid.inconsistent


def test_universe_hash_is_the_hash_of_its_components(chain):
    data, results, ctx = chain
    doc = results["S3"].outputs[ds.EDGE_UNIVERSE_HASH]
    assert doc["edge_universe_hash"] == canonical_sha256(doc["components"])
    assert set(doc["components"]) == {"virtual_rules", "settlement_policy", "edge_topology", "alias_layout",
                                      "edge_catalogue", "edge_catalogue_index", "edge_alias_index", "edge_alias_blob"}
    assert doc["components"]["alias_layout"] == "fa.alias.v1/31"
    assert doc["components"]["edge_catalogue"] == \
        alias_pack.global_row(data[ds.EDGE_CATALOGUE_INDEX])["edge_catalogue_digest"]
    assert (doc["manifest_fingerprint"], doc["seed"]) == (ctx.world.manifest_fingerprint, ctx.world.seed)
    again = s3.run({k: data[k] for k in catalogue.S3.reads}, ctx)
    assert again.outputs[ds.EDGE_UNIVERSE_HASH] == doc
    # a content hash: the same catalogue under another world's tokens hashes the same (worlds differ by content)
    other = s3.run({k: data[k] for k in catalogue.S3.reads}, type(ctx)(make_world("small", 7), ctx.config))
    assert other.outputs[ds.EDGE_UNIVERSE_HASH]["edge_universe_hash"] == doc["edge_universe_hash"]
    assert other.outputs[ds.EDGE_UNIVERSE_HASH]["seed"] == 7


def test_s3_checks_catch_a_damaged_blob(chain):
    data, results, ctx = chain
    res = results["S3"]
    blob = bytearray(res.outputs[ds.EDGE_ALIAS_BLOB][ds.EDGE_ALIAS_BLOB_FILE])
    blob[64 + 16 + 3] ^= 0x20  # 2^29 off the first slice's prob[0]: decodes wrong and breaks its checksum
    damaged = s3.StateResult(outputs={**res.outputs, ds.EDGE_ALIAS_BLOB: {ds.EDGE_ALIAS_BLOB_FILE: bytes(blob)}})
    outcomes = run_checks(catalogue.S3, damaged, data, ctx)
    assert not outcomes["3B-S3-005"].passed
    assert not outcomes["3B-S3-002"].passed or not outcomes["3B-S3-003"].passed
    index = res.outputs[ds.EDGE_ALIAS_INDEX]
    shifted = index.with_columns((pl.col("blob_offset_bytes") + 4).alias("blob_offset_bytes"))
    moved = s3.StateResult(outputs={**res.outputs, ds.EDGE_ALIAS_INDEX: shifted})
    assert not run_checks(catalogue.S3, moved, data, ctx)["3B-S3-004"].passed
    fewer = index.filter(~((pl.col("scope") == "MERCHANT") & (pl.col("merchant_id") == pl.col("merchant_id").max())))
    assert not run_checks(catalogue.S3, s3.StateResult(outputs={**res.outputs, ds.EDGE_ALIAS_INDEX: fewer}),
                          data, ctx)["3B-S3-006"].passed
    used = s3.StateResult(outputs=res.outputs, rng=[s3.common.tally("3B.s3.x", 1, 1, 1)])
    assert not s3.check_rng_used(used, data, ctx).passed
