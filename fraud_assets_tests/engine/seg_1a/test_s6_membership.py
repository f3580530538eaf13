"""1A S6 membership: blended weights, Gumbel top-K, K_realized ≤ N−1, order independence, the S6 check."""

import math

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from fraud_assets.engine.seg_1a import datasets as ds
from fraud_assets.engine.seg_1a import s6_membership as s6
from fraud_assets.engine.seg_1a.catalogue import S6
from fraud_assets.engine.state import StateResult

from .conftest import make_ctx, make_world

TARGET = pl.DataFrame({"merchant_id": [1, 2, 3], "k_target": [2, 5, 0]}, schema={"merchant_id": pl.Int64,
                                                                                  "k_target": pl.Int32})
NB = pl.DataFrame({"merchant_id": [1, 2, 3], "n_outlets": [10, 3, 4]}, schema={"merchant_id": pl.Int64,
                                                                                "n_outlets": pl.Int32})
CANDS = pl.DataFrame([
    (1, "DE", 0, True, None), (1, "FR", 1, False, 0.4), (1, "NL", 2, False, 0.3), (1, "US", 3, False, 0.2),
    (1, "GB", 4, False, 0.1),
    (2, "US", 0, True, None), (2, "CA", 1, False, 0.5), (2, "MX", 2, False, 0.3), (2, "GB", 3, False, 0.2),
    (3, "FR", 0, True, None), (3, "DE", 1, False, 1.0),
], orient="row", schema={"merchant_id": pl.Int64, "country_iso": pl.String, "candidate_rank": pl.Int32,
                         "is_home": pl.Boolean, "base_weight": pl.Float64})
MC = pl.DataFrame({"merchant_id": [1, 2, 3], "kappa": ["EUR", "USD", "EUR"]})
W = pl.DataFrame([("EUR", "DE", 0.5), ("EUR", "FR", 0.3), ("EUR", "NL", 0.1), ("EUR", "US", 0.1),
                  ("USD", "US", 0.9), ("USD", "GB", 0.1)], orient="row",
                 schema={"currency": pl.String, "country_iso": pl.String, "weight": pl.Float64})


def _inputs():
    return {ds.S4_FOREIGN_TARGET: TARGET, ds.S3_CANDIDATE_SET: CANDS, ds.MERCHANT_CURRENCY: MC,
            ds.CCY_COUNTRY_WEIGHTS: W, ds.NB_OUTLET_DRAWS: NB}


def _run(config, inputs=None, seed=42):
    ctx = make_ctx(make_world(seed=seed), config)
    return s6.run(inputs or _inputs(), ctx), ctx


def test_blended_weights_literal(config):
    out = _run(config)[0].outputs["s6_membership"]
    m1 = out.filter(pl.col("merchant_id") == 1)
    # p̃ = (.4,.3,.2,.1); q̃ over {FR, NL, US, GB} = (.3,.1,.1,0)/.5
    exp = [0.75 * p + 0.25 * q for p, q in zip([0.4, 0.3, 0.2, 0.1], [0.6, 0.2, 0.2, 0.0], strict=True)]
    assert m1.get_column("weight").to_list() == pytest.approx(exp, abs=1e-15)
    m2 = out.filter(pl.col("merchant_id") == 2)
    assert m2.get_column("weight").to_list() == pytest.approx([0.375, 0.225, 0.15 + 0.25], abs=1e-15)


def test_top_k_by_key_and_k_realized_cap(config):
    res, ctx = _run(config)
    out = res.outputs["s6_membership"]
    assert out.schema == pl.Schema(ds.SCHEMAS["s6_membership"])
    assert set(out.get_column("merchant_id").to_list()) == {1, 2}  # k_target 0 → no rows
    for m, k in ((1, 2), (2, 2)):  # merchant 2: min(5, 3, N−1 = 2)
        part = out.filter(pl.col("merchant_id") == m)
        keys = part.get_column("gumbel_key").to_numpy()
        top = set(np.argsort(-keys, kind="stable")[:k].tolist())
        assert set(np.flatnonzero(part.get_column("selected").to_numpy()).tolist()) == top
        assert sorted(part.get_column("selection_order").drop_nulls().to_list()) == list(range(1, k + 1))
        u, w = part.get_column("u").to_numpy(), part.get_column("weight").to_numpy()
        np.testing.assert_array_equal(keys, np.log(w) - np.log(-np.log(u)))
    assert res.rng[0].draws == out.height == 7
    assert s6.check_membership(res, _inputs(), ctx).passed


def test_shuffled_inputs_give_identical_output(config):
    a = _run(config)[0].outputs["s6_membership"]
    rng = np.random.default_rng(0)
    shuffled = {k: v.sample(fraction=1.0, shuffle=True, seed=int(rng.integers(1 << 30))) for k, v in _inputs().items()}
    assert_frame_equal(a, _run(config, shuffled)[0].outputs["s6_membership"])


def test_chain_respects_n_minus_one(small_chain):
    data, results, ctx = small_chain
    out = results["S6"].outputs["s6_membership"]
    per = out.group_by("merchant_id").agg(pl.col("selected").sum().alias("r")).join(
        data["nb_outlet_draws"], on="merchant_id")
    assert (per.get_column("r") <= per.get_column("n_outlets") - 1).all()
    assert s6.check_membership(results["S6"], {k: data[k] for k in S6.reads}, ctx).passed


def test_membership_mismatch_1A_S6_001(config):
    res, ctx = _run(config)
    out = res.outputs["s6_membership"]
    flip = out.with_columns(pl.when((pl.col("merchant_id") == 1) & ~pl.col("selected")).then(True)
                            .otherwise(pl.col("selected")).alias("selected"))
    bad = s6.check_membership(StateResult(outputs={"s6_membership": flip}), _inputs(), ctx)
    assert not bad.passed and bad.evidence["code"] == "1A-S6-001" and bad.evidence["first_keys"] == [1]
    moved_u = out.with_columns(pl.when(pl.col("merchant_id") == 2).then(pl.col("u") / 2).otherwise(pl.col("u")))
    bad = s6.check_membership(StateResult(outputs={"s6_membership": moved_u}), _inputs(), ctx)
    assert not bad.passed and bad.evidence["key_mismatch"] == 3
    assert math.isfinite(out.get_column("gumbel_key").sum())
