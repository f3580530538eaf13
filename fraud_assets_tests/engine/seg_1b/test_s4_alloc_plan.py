"""S4: systematic sampling — conservation and the floor/ceil law (hypothesis), the numpy path equals
the plain-Python reference, inclusion frequency n·w/K, int64 exactness at n = 10^6."""

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraud_assets.core.rng import RngRoot
from fraud_assets.engine.seg_1b import catalogue
from fraud_assets.engine.seg_1b import datasets as ds
from fraud_assets.engine.seg_1b import s4_alloc_plan as s4
from fraud_assets.engine.state import StateResult

from .conftest import failed_checks

K = 10**9


def _weights(raw):
    raw = np.asarray(raw, dtype=np.float64)
    w = np.floor(raw / raw.sum() * K).astype(np.int64)
    w[np.argmax(raw)] += K - int(w.sum())
    return w


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(0.001, 1000.0), min_size=1, max_size=30), st.integers(1, 500), st.integers(0, K - 1))
def test_conservation_and_floor_ceil_law(raw, n, offset):
    w = _weights(raw)
    w = w[w > 0]
    cum = np.cumsum(w)
    pair, tile, count = s4.alloc_counts(np.array([n]), np.array([offset]), cum, K)
    full = np.zeros(w.size, dtype=np.int64)
    full[tile] = count
    assert int(full.sum()) == n and (pair == 0).all()
    exact = n * w
    assert ((full >= exact // K) & (full <= -(-exact // K))).all()
    assert full.tolist() == s4.alloc_counts_py(n, offset, cum.tolist(), K)


def test_many_pairs_equal_the_reference_one_by_one():
    rng = np.random.default_rng(5)
    w = _weights(rng.random(40) ** 3)
    cum = np.cumsum(w)
    n = rng.integers(1, 60, size=200)
    off = rng.integers(0, K, size=200)
    pair, tile, count = s4.alloc_counts(n, off, cum, K)
    for p in range(200):
        got = np.zeros(w.size, dtype=np.int64)
        got[tile[pair == p]] = count[pair == p]
        assert got.tolist() == s4.alloc_counts_py(int(n[p]), int(off[p]), cum.tolist(), K)


def test_inclusion_frequency_of_a_small_tile_is_n_w_over_K():
    w = np.array([K - 30_000_000, 30_000_000], dtype=np.int64)  # a 3 % tile
    root = RngRoot("f" * 64, "a" * 64)
    pairs = pl.DataFrame({"merchant_id": np.arange(10_000, dtype=np.int64), "legal_country_iso": ["XX"] * 10_000})
    offsets = s4.draw_offsets(pairs, root, 42, K)
    n = 5
    pair, tile, _ = s4.alloc_counts(np.full(10_000, n), offsets, np.cumsum(w), K)
    hits = np.unique(pair[tile == 1]).size
    p = n * 0.03
    assert abs(hits - 10_000 * p) < 4 * np.sqrt(10_000 * p * (1 - p))


def test_int64_exact_at_a_million_sites():
    w = np.full(1000, K // 1000, dtype=np.int64)
    pair, tile, count = s4.alloc_counts(np.array([10**6]), np.array([K - 1]), np.cumsum(w), K)
    assert count.sum() == 10**6 and (count == 1000).all() and tile.tolist() == list(range(1000))


def test_plan_of_the_chain(literal_chain):
    data, results, ctx = literal_chain
    plan = results["S4"].outputs[ds.S4_ALLOC_PLAN]
    per_pair = plan.group_by("merchant_id", "legal_country_iso").agg(pl.col("n_sites_tile").sum())
    req = data[ds.S3_REQUIREMENTS]
    assert per_pair.sort("merchant_id", "legal_country_iso").get_column("n_sites_tile").to_list() == \
        req.get_column("n_sites").to_list()
    assert results["S4"].rng[0].keys == req.height == results["S4"].rng[0].blocks
    assert failed_checks(catalogue.S4, results["S4"], data, ctx) == {}


@pytest.mark.parametrize("tamper", ["move", "drop", "bump"])
def test_tampered_plan_fails_1B_S4_404(literal_chain, tamper):
    data, results, ctx = literal_chain
    plan = results["S4"].outputs[ds.S4_ALLOC_PLAN]
    big = pl.col("merchant_id") == 12  # 40 sites in ZA over several tiles
    if tamper == "move":  # one site from the first tile to the second: still Σ = n, breaks floor/ceil
        first = plan.filter(big).head(2)
        bad = plan.with_columns(
            pl.when(big & (pl.col("tile_id") == first["tile_id"][0])).then(pl.col("n_sites_tile") - 1)
            .when(big & (pl.col("tile_id") == first["tile_id"][1])).then(pl.col("n_sites_tile") + 1)
            .otherwise(pl.col("n_sites_tile")).alias("n_sites_tile"))
        bad = bad.filter(pl.col("n_sites_tile") > 0)
    elif tamper == "drop":
        bad = plan.filter(~(big & (pl.int_range(pl.len()).over("merchant_id") == 0)))
    else:
        bad = plan.with_columns(pl.when(pl.col("merchant_id") == 17).then(2).otherwise(pl.col("n_sites_tile"))
                                .cast(pl.Int32).alias("n_sites_tile"))
    failed = failed_checks(catalogue.S4, StateResult(outputs={ds.S4_ALLOC_PLAN: bad}), data, ctx)
    assert set(failed) == {"allocation_law"} and failed["allocation_law"]["code"] == "1B-S4-404"
