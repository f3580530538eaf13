"""S5: quotas exactly S4's, the polars path equals the plain-Python reference, the permutation is uniform."""

import numpy as np
import polars as pl

from fraud_assets.core.rng import RngRoot
from fraud_assets.engine.seg_1b import catalogue
from fraud_assets.engine.seg_1b import datasets as ds
from fraud_assets.engine.seg_1b import s5_site_tile_assignment as s5
from fraud_assets.engine.state import StateResult

from .conftest import failed_checks


def test_assignment_equals_the_reference(literal_chain):
    data, results, ctx = literal_chain
    out = results["S5"].outputs[ds.S5_SITE_TILE]
    plan = data[ds.S4_ALLOC_PLAN]
    for (m, c), grp in out.group_by(["merchant_id", "legal_country_iso"], maintain_order=True):
        p = plan.filter((pl.col("merchant_id") == m) & (pl.col("legal_country_iso") == c))
        expected = s5.assign_py(grp.get_column("u").to_list(), p.get_column("tile_id").to_list(),
                                p.get_column("n_sites_tile").to_list())
        assert grp.get_column("tile_id").to_list() == expected
    assert failed_checks(catalogue.S5, results["S5"], data, ctx) == {}
    assert results["S5"].rng[0].draws == out.height


def test_literal_case():
    sites = pl.DataFrame({"merchant_id": [1, 1, 1, 1], "legal_country_iso": ["XX"] * 4,
                          "site_order": pl.Series([1, 2, 3, 4], dtype=pl.Int32), "u": [0.9, 0.1, 0.5, 0.3]})
    plan = pl.DataFrame({"merchant_id": [1, 1], "legal_country_iso": ["XX", "XX"],
                         "tile_id": pl.Series([20, 7], dtype=pl.UInt64), "n_sites_tile": [1, 3]})
    out = s5.assign(sites, plan)
    # ranks by u: s2 (0.1), s4 (0.3), s3 (0.5), s1 (0.9) -> tiles 7, 7, 7, 20
    assert out.get_column("tile_id").to_list() == [20, 7, 7, 7]
    assert s5.assign_py([0.9, 0.1, 0.5, 0.3], [20, 7], [1, 3]) == [20, 7, 7, 7]


def test_permutation_is_uniform_chi_square():
    """Which site_order lands on a 1-site tile among 4 sites: uniform over the 4 orders."""
    root = RngRoot("f" * 64, "a" * 64)
    n_pairs = 4000
    req = pl.DataFrame({"merchant_id": np.arange(n_pairs, dtype=np.int64), "legal_country_iso": ["XX"] * n_pairs,
                        "n_sites": pl.Series([4] * n_pairs, dtype=pl.Int32)})
    sites = s5.sites_of(req)
    sites = sites.with_columns(s5.draw(sites, root, 42))
    plan = pl.concat([req.select("merchant_id", "legal_country_iso", pl.lit(1, dtype=pl.UInt64).alias("tile_id"),
                                 pl.lit(1).alias("n_sites_tile")),
                      req.select("merchant_id", "legal_country_iso", pl.lit(2, dtype=pl.UInt64).alias("tile_id"),
                                 pl.lit(3).alias("n_sites_tile"))])
    out = s5.assign(sites, plan)
    counts = out.filter(pl.col("tile_id") == 1).group_by("site_order").len().sort("site_order")
    observed = counts.get_column("len").to_numpy()
    chi2 = float(((observed - n_pairs / 4) ** 2 / (n_pairs / 4)).sum())
    assert observed.size == 4 and chi2 < 16.27  # χ²(3) at p = 0.001


def test_tampered_assignment_fails_1B_S5_503(literal_chain):
    data, results, ctx = literal_chain
    out = results["S5"].outputs[ds.S5_SITE_TILE]
    other = data[ds.S4_ALLOC_PLAN].filter(pl.col("merchant_id") == 12).get_column("tile_id")
    moved = out.with_columns(pl.when((pl.col("merchant_id") == 12) & (pl.col("tile_id") == other[0]))
                             .then(pl.lit(other[1], dtype=pl.UInt64)).otherwise(pl.col("tile_id")).alias("tile_id"))
    failed = failed_checks(catalogue.S5, StateResult(outputs={ds.S5_SITE_TILE: moved}), data, ctx)
    assert set(failed) == {"tile_quota"} and failed["tile_quota"]["code"] == "1B-S5-503"
    dropped = StateResult(outputs={ds.S5_SITE_TILE: out.slice(1)})
    assert set(failed_checks(catalogue.S5, dropped, data, ctx)) == {"tile_quota"}
