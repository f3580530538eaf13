"""1A S7 country counts: fsum and kernel = reference, Σ = N and floor-1 laws, home floor, no-draw paths."""

import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraud_assets.core.rng import RngRoot
from fraud_assets.engine.seg_1a import datasets as ds
from fraud_assets.engine.seg_1a import s7_country_counts as s7
from fraud_assets.engine.seg_1a.catalogue import S7
from fraud_assets.engine.seg_1a.common import iso_codes
from fraud_assets.engine.state import StateResult

from .conftest import make_ctx, make_world

ROOT = RngRoot("f" * 64, "a" * 64)
ISOS = ["AT", "BE", "CH", "DE", "DK", "ES", "FI", "FR", "GB", "IE", "IT", "JP", "LU", "NL", "NO", "PL", "PT",
        "SE", "SG", "US", "ZA"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=-1e12, max_value=1e12, allow_nan=False), max_size=30))
def test_fsum_nb_is_math_fsum(xs):
    assert s7.fsum_nb(np.array(xs, dtype=np.float64)) == math.fsum(xs)


def _random_domains(n_merchants: int, seed: int):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(2, 22, n_merchants)
    offsets = np.r_[0, np.cumsum(sizes)].astype(np.int64)
    alpha = rng.uniform(0.01, 25.0, offsets[-1])
    iso = np.concatenate([iso_codes(ISOS[:s]) for s in sizes])
    rank = np.concatenate([np.arange(s) for s in sizes])
    n_total = sizes + rng.integers(0, 300, n_merchants)
    h_min = rng.choice([0.0, 0.6, 0.74, 0.85], n_merchants)
    return np.arange(1, n_merchants + 1, dtype=np.int64), offsets, alpha, iso, rank, n_total, h_min


def test_kernel_equals_python_reference_bit_for_bit():
    args = _random_domains(300, 1)
    fast = s7.allocate(*args, 8, ROOT, 42)
    slow = s7.allocate(*args, 8, ROOT, 42, reference=True)
    for a, b in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(a, b)


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=2, max_value=21), st.integers(min_value=0, max_value=2000),
       st.lists(st.floats(min_value=1e-3, max_value=1.0), min_size=21, max_size=21),
       st.sampled_from([0.0, 0.6, 0.85]), st.integers(min_value=1, max_value=2**62))
def test_sum_is_n_and_every_count_at_least_one(d, extra, weights, h_min, mid):
    n = d + extra
    alpha = np.maximum(24.0 * np.r_[0.9, 0.1 * np.array(weights[:d - 1]) / sum(weights[:d - 1])], 0.05)
    s, count, resid, rr, uni, blk = s7.allocate(
        np.array([mid], dtype=np.int64), np.array([0, d], dtype=np.int64), alpha, iso_codes(ISOS[:d]),
        np.arange(d), np.array([n]), np.array([h_min]), 8, ROOT, 7)
    assert int(count.sum()) == n and count.min() >= 1
    assert np.all(np.abs(count - (1 + (n - d) * s)) < 1)
    assert s[0] >= h_min and math.fsum(s.tolist()) == pytest.approx(1.0, abs=1e-12)
    assert sorted(rr.tolist()) == list(range(1, d + 1))
    assert uni[0] >= 3 * d and blk[0] >= 2 * d


def _domain_inputs():
    hd = pl.DataFrame({"merchant_id": [1, 2, 3], "eta": [0.0] * 3, "pi": [0.5] * 3, "u": [0.9, 0.1, 0.1],
                       "is_multi": [False, True, True], "deterministic": [False] * 3},
                      schema=ds.SCHEMAS["hurdle_decisions"])
    nb = pl.DataFrame({"merchant_id": [2, 3], "mu": [9.0, 9.0], "phi": [8.0, 8.0], "n_outlets": [7, 45],
                       "nb_rejections": [0, 0], "gamma_draws": [3, 3], "poisson_draws": [1, 1]},
                      schema=ds.SCHEMAS["nb_outlet_draws"])
    cands = pl.DataFrame([(1, "NA", 0, True), (2, "DE", 0, True), (3, "US", 0, True)], orient="row",
                         schema={"merchant_id": pl.Int64, "country_iso": pl.String, "candidate_rank": pl.Int32,
                                 "is_home": pl.Boolean})
    mem = pl.DataFrame([(3, "CA", 1, 0.5, True), (3, "GB", 2, 0.3, False), (3, "MX", 3, 0.2, True)], orient="row",
                       schema={"merchant_id": pl.Int64, "country_iso": pl.String, "candidate_rank": pl.Int32,
                               "weight": pl.Float64, "selected": pl.Boolean})
    return {ds.HURDLE_DECISIONS: hd, ds.NB_OUTLET_DRAWS: nb, ds.S6_MEMBERSHIP: mem, ds.S3_CANDIDATE_SET: cands}


def test_counts_literal_paths(config):
    ctx = make_ctx(make_world(), config)
    res = s7.run(_domain_inputs(), ctx)
    out = res.outputs["s7_country_counts"]
    assert out.schema == pl.Schema(ds.SCHEMAS["s7_country_counts"])
    assert out.select("merchant_id", "country_iso", "candidate_rank").rows() == [
        (1, "NA", 0), (2, "DE", 0), (3, "US", 0), (3, "CA", 1), (3, "MX", 3)]
    trivial = out.filter(pl.col("merchant_id") < 3)
    assert trivial.select("count", "share", "alpha", "residual_rank").rows() == [(1, 1.0, None, 1), (7, 1.0, None, 1)]
    m3 = out.filter(pl.col("merchant_id") == 3)
    assert int(m3.get_column("count").sum()) == 45
    cfg = config.allocation
    # alpha: home mean 0.74 (N > 40), foreign (1 − 0.74)·w/Σw over the selected (CA .5, MX .2)
    assert m3.get_column("alpha").to_list() == pytest.approx(
        [24 * 0.74, 24 * 0.26 * 0.5 / 0.7, 24 * 0.26 * 0.2 / 0.7])
    assert m3.get_column("share")[0] >= cfg.home_tier(45).floor
    assert res.rng[0].keys == 1  # only merchant 3 drew
    for chk in S7.checks:
        assert chk.fn(res, _domain_inputs(), ctx).passed, chk.name


def test_chain_laws(small_chain):
    data, results, ctx = small_chain
    out = results["S7"].outputs["s7_country_counts"]
    for chk in S7.checks:
        assert chk.fn(results["S7"], {k: data[k] for k in S7.reads}, ctx).passed
    single = data["hurdle_decisions"].filter(~pl.col("is_multi")).get_column("merchant_id")
    s = out.filter(pl.col("merchant_id").is_in(single.implode()))
    assert s.height == single.len() and (s.get_column("count") == 1).all()


def test_sum_mismatch_1A_S7_001(config):
    ctx = make_ctx(make_world(), config)
    res = s7.run(_domain_inputs(), ctx)
    out = res.outputs["s7_country_counts"]
    bumped = out.with_columns(pl.when(pl.col("merchant_id") == 2).then(pl.col("count") + 1).otherwise(pl.col("count")))
    bad = s7.check_sum_mismatch(StateResult(outputs={"s7_country_counts": bumped}), _domain_inputs(), ctx)
    assert not bad.passed and bad.evidence["code"] == "1A-S7-001" and bad.evidence["first_keys"] == [2]
    zero = out.with_columns(pl.when((pl.col("merchant_id") == 3) & (pl.col("candidate_rank") == 3)).then(0)
                            .otherwise(pl.col("count")).cast(pl.Int32).alias("count"))
    assert not s7.check_sum_mismatch(StateResult(outputs={"s7_country_counts": zero}), _domain_inputs(), ctx).passed


def test_proximity_1A_S7_002(config):
    ctx = make_ctx(make_world(), config)
    out = s7.run(_domain_inputs(), ctx).outputs["s7_country_counts"]
    moved = out.with_columns(  # move 3 outlets from home to CA: sums still hold, proximity does not
        pl.when((pl.col("merchant_id") == 3) & (pl.col("candidate_rank") == 0)).then(pl.col("count") - 3)
        .when((pl.col("merchant_id") == 3) & (pl.col("candidate_rank") == 1)).then(pl.col("count") + 3)
        .otherwise(pl.col("count")).alias("count"))
    res = StateResult(outputs={"s7_country_counts": moved})
    assert s7.check_sum_mismatch(res, _domain_inputs(), ctx).passed
    bad = s7.check_proximity(res, _domain_inputs(), ctx)
    assert not bad.passed and bad.evidence["code"] == "1A-S7-002" and bad.evidence["first_keys"] == [3]
