"""2B S6: the virtual plan over 3B's edge tables, the integer mode law, the router's edge stage and its checks."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from fraud_assets.core import alias
from fraud_assets.engine.seg_2b import catalogue, router, virtual
from fraud_assets.engine.seg_2b import datasets as ds
from fraud_assets.engine.state import StateResult
from fraud_assets_tests.engine.seg_2b.conftest import BLOB_FILE, edge_world, failed, run_checks
from fraud_assets_tests.engine.seg_2b.test_router import words

Q31 = 1 << 31


def test_plan_is_the_virtual_set_with_integer_thresholds(tiny_chain):
    data, results, ctx = tiny_chain
    plan = data[ds.S6_PLAN]
    assert plan.get_column("merchant_id").to_list() == [1002, 1004, 1009]  # NON_VIRTUAL never in the plan
    thr = dict(plan.select("merchant_id", "edge_threshold_q31").iter_rows())
    assert thr == {1002: round(0.15 * Q31), 1004: round(0.6 * Q31), 1009: Q31}
    assert dict(plan.select("merchant_id", "has_sites").iter_rows()) == {1002: True, 1004: True, 1009: False}
    assert failed(run_checks(catalogue.S6, results["S6"], data, ctx)) == {}


@pytest.mark.parametrize("share", [0.0, 0.15, 0.6, 1.0])
def test_hybrid_threshold_law(share):
    thr = virtual.thresholds(pl.Series(["HYBRID", "VIRTUAL_ONLY"]), pl.Series([share, 0.3]))
    assert thr.tolist() == [min(max(round(share * Q31), 0), Q31), Q31]
    edges = edge_world({5: ("HYBRID", share)}, n_edges={5: 4})
    plan = virtual.build_plan(edges[ds.VIRTUAL_CLASSIFICATION], edges[ds.EDGE_ALIAS_INDEX],
                              pl.DataFrame({"merchant_id": [5]}, schema={"merchant_id": pl.Int64}))
    vr = router.VirtualRouter.build(plan, edges[ds.EDGE_ALIAS_BLOB][BLOB_FILE])
    n = 200_000
    wm, we = words(n, seed=int(share * 100))
    res = vr.route(np.full(n, 5), wm, we)
    share_edge = float(np.mean(res.channel == router.CHANNEL_EDGE))
    if share in (0.0, 1.0):
        assert share_edge == share
    else:
        assert abs(share_edge - share) <= 5 * math.sqrt(share * (1 - share) / n)
    assert ((res.edge_seq_index >= 0) == (res.channel == router.CHANNEL_EDGE)).all()


def test_virtual_only_always_edge_and_non_virtual_always_site(tiny_chain):
    data, _, _ = tiny_chain
    sample = data[ds.S6_EDGE_AUDIT]
    assert set(sample.filter(pl.col("merchant_id") == 1009).get_column("channel").to_list()) == {"edge"}
    edges = data[ds.EDGE_ALIAS_BLOB][BLOB_FILE]
    vr = router.VirtualRouter.build(data[ds.S6_PLAN], edges)
    n = 1000
    wm, we = words(n)
    res = vr.route(np.full(n, 1001), wm, we)  # 1001 is NON_VIRTUAL: not in the plan
    assert set(res.channel.tolist()) == {router.CHANNEL_SITE} and set(res.edge_seq_index.tolist()) == {-1}


def test_numba_numpy_and_reference_agree_and_edges_follow_their_weights(tiny_chain):
    data, _, _ = tiny_chain
    vr = router.VirtualRouter.build(data[ds.S6_PLAN], data[ds.EDGE_ALIAS_BLOB][BLOB_FILE], data[ds.EDGE_CATALOGUE])
    n = 1_000_000
    wm, we = words(n, seed=5)
    res = vr.route(np.full(n, 1009), wm, we)
    res_np = vr.route(np.full(n, 1009), wm, we, engine="numpy")
    assert np.array_equal(res.channel, res_np.channel) and np.array_equal(res.edge_seq_index, res_np.edge_seq_index)
    for i in range(0, 5000):
        assert vr.reference(1009, int(wm[i]), int(we[i])) == (res.channel[i], res.edge_seq_index[i])
    cat = data[ds.EDGE_CATALOGUE].filter(pl.col("merchant_id") == 1009).sort("edge_seq_index")
    p = cat.get_column("edge_weight").to_numpy()
    counts = np.bincount(res.edge_seq_index, minlength=p.shape[0])
    chi2 = float(((counts - n * p) ** 2 / (n * p)).sum())
    df = p.shape[0] - 1
    assert (chi2 - df) / math.sqrt(2 * df) <= 5.0
    attrs = vr.edge_attributes([1009, 1009], [0, 1])
    assert attrs.get_column("edge_id").to_list() == cat.get_column("edge_id").head(2).to_list()
    assert attrs.get_column("tzid_operational").null_count() == 0


def _s6(data, **outputs) -> StateResult:  # noqa: ANN001
    base = {ds.S6_PLAN: data[ds.S6_PLAN], ds.S6_EDGE_AUDIT: data[ds.S6_EDGE_AUDIT],
            ds.S6_MANIFEST: data[ds.S6_MANIFEST].to_dicts()[0]}
    base.update(outputs)
    return StateResult(outputs=base, rng=[])


def test_a_tampered_3b_blob_byte_fails_003(tiny_chain):
    data, results, ctx = tiny_chain
    blob = bytearray(data[ds.EDGE_ALIAS_BLOB][BLOB_FILE])
    blob[-1] ^= 0x01
    tampered = {**data, ds.EDGE_ALIAS_BLOB: {BLOB_FILE: bytes(blob)}}
    checks = run_checks(catalogue.S6, results["S6"], tampered, ctx)
    assert not checks["2B-S6-003"].passed


def test_each_s6_check_catches_its_tamper(tiny_chain):
    data, results, ctx = tiny_chain
    plan = data[ds.S6_PLAN]
    first = pl.col("merchant_id") == 1002
    cases = {
        "2B-S6-001": _s6(data, **{ds.S6_PLAN: plan.slice(1)}),
        "2B-S6-002": _s6(data, **{ds.S6_PLAN: plan.with_columns(
            pl.when(first).then(pl.col("edge_count") + 1).otherwise(pl.col("edge_count")).alias("edge_count"))}),
        "2B-S6-004": _s6(data, **{ds.S6_EDGE_AUDIT: data[ds.S6_EDGE_AUDIT].with_columns(
            pl.when(pl.col("channel") == "edge").then(99).otherwise(pl.col("edge_seq_index"))
            .cast(pl.Int32).alias("edge_seq_index"))}),
        "2B-S6-005": _s6(data, **{ds.S6_PLAN: plan.with_columns(
            pl.when(pl.col("merchant_id") == 1009).then(pl.lit("HYBRID")).otherwise(pl.col("virtual_mode"))
            .alias("virtual_mode"))}),
        "2B-S6-006": _s6(data),
    }
    for code, result in cases.items():
        checks = run_checks(catalogue.S6, result, data, ctx)
        assert not checks[code].passed, code
    universe = {**data[ds.EDGE_UNIVERSE_HASH].to_dicts()[0], "edge_universe_hash": "0" * 64}
    checks = run_checks(catalogue.S6, results["S6"], {**data, ds.EDGE_UNIVERSE_HASH: pl.DataFrame([universe])}, ctx)
    assert not checks["2B-S6-003"].passed


def test_a_foreign_qbits_in_the_3b_header_is_refused(tiny_chain):
    data, results, ctx = tiny_chain
    blob = bytearray(data[ds.EDGE_ALIAS_BLOB][BLOB_FILE])
    blob[12] = 24
    assert virtual.edge_slice_errors(data[ds.S6_PLAN], data[ds.EDGE_ALIAS_INDEX], bytes(blob))
    assert alias.read_header(data[ds.EDGE_ALIAS_BLOB][BLOB_FILE]).prob_qbits == 31


def test_a_world_without_virtual_merchants_is_legal(literal, config):
    from fraud_assets_tests.engine.seg_2b.conftest import LITERAL_MERCHANTS, base_inputs, make_ctx, run_chain

    edges = edge_world({}, all_merchants=[m for m, _, _ in LITERAL_MERCHANTS])
    data, results = run_chain(base_inputs(literal, edges), make_ctx(config=config))
    assert data[ds.S6_PLAN].height == 0 and data[ds.S6_EDGE_AUDIT].height == 0
    assert failed(run_checks(catalogue.S6, results["S6"], data, make_ctx(config=config))) == {}
    assert results["S8"].bundle["summary.json"]["passed"]
