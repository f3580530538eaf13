"""3B S2: the edge law (counts, country clamp, home edge, weights, tz precedence), accounting, checks."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraud_assets.core.store import parquet_bytes
from fraud_assets.engine.seg_3b import catalogue, common, topology
from fraud_assets.engine.seg_3b import datasets as ds
from fraud_assets.engine.seg_3b import s2_edges as s2
from fraud_assets_tests.engine.seg_3b.conftest import (
    make_ctx,
    run_chain,
    run_checks,
    synthetic_world,
    with_config,
)


@pytest.fixture(scope="module")
def edge_world(refs, config):
    return topology.edge_world(refs[ds.REF_CITIES], refs[ds.REF_COUNTRIES], config.edge_topology)


def test_chain_s2_passes_every_check(chain):
    data, results, ctx = chain
    outcomes = run_checks(catalogue.S2, results["S2"], data, ctx)
    assert all(o.passed for o in outcomes.values()), {k: o.evidence for k, o in outcomes.items() if not o.passed}
    assert outcomes["3B-S2-008"].evidence["status"] == "EVALUATED"


def test_draws_are_three_plus_six_n(chain):
    data, results, _ = chain
    n = data[ds.EDGE_CATALOGUE_INDEX].filter(pl.col("scope") == "MERCHANT").get_column("edge_count_total")
    traced = sum(t.draws for t in results["S2"].rng)
    assert traced == sum(3 + 6 * int(x) for x in n.to_list())
    per = {t.family: (t.keys, t.draws, t.blocks) for t in results["S2"].rng}
    total = int(n.sum())
    assert per["3B.s2.edge_jitter"] == (n.len(), 2 * total, total)
    assert per["3B.s2.edge_count"] == (n.len(), 2 * n.len(), n.len())
    assert per["3B.s2.edge_city"] == (n.len(), total, total)


def test_edge_count_varies_with_merchant_size(config):
    topo = config.edge_topology
    k = topo.classes["REGIONAL"]
    counts = [topology.edge_count(k, o, False, 0.0, topo) for o in (1, 3, 10, 30, 100)]
    assert counts == sorted(counts) and counts[0] < counts[-1]  # monotone in size, not constant
    assert topology.edge_count(k, 10, True, 0.0, topo) < counts[2]  # HYBRID halves the median
    assert topology.edge_count(k, 1, False, 9.0, topo) == k.edge_count_max
    assert topology.edge_count(k, 1, False, -9.0, topo) == k.edge_count_min


def test_edge_counts_rise_with_size_in_the_chain(chain):
    data, _, ctx = chain
    h = s2.heterogeneity(data[ds.EDGE_CATALOGUE_INDEX], data[ds.VIRTUAL_CLASSIFICATION], ctx.config)
    assert h["edge_count_cv"] > 0.25 and h["distinct_edge_counts"] > 10
    rhos = [r for r in h["spearman_size_edges"].values() if r is not None]
    assert rhos and np.mean(rhos) > 0


def test_weights_sum_to_one_and_are_not_uniform(chain):
    edges = chain[0][ds.EDGE_CATALOGUE]
    per = edges.group_by("merchant_id").agg(pl.col("edge_weight").sum().alias("s"),
                                            (pl.col("edge_weight").max() / pl.col("edge_weight").min()).alias("r"),
                                            pl.len())
    assert ((per.get_column("s") - 1.0).abs() <= 1e-12).all()
    multi = per.filter(pl.col("len") >= 2)
    assert (multi.get_column("r") > 1.05).all()
    # weights decay with distance: correlation between log-weight and distance is negative within merchants
    corr = (edges.group_by("merchant_id").agg(pl.corr(pl.col("edge_weight").log(), "distance_to_settlement_km")
                                              .alias("c")).drop_nulls().get_column("c"))
    assert corr.median() < 0


def test_every_merchant_keeps_a_home_edge(chain):
    data = chain[0]
    edges = data[ds.EDGE_CATALOGUE]
    home = edges.group_by("merchant_id").agg(pl.col("is_settlement_country").any())
    assert home.get_column("is_settlement_country").all()


def test_forced_home_slot_moves_the_least_likely_slot():
    p = np.array([0.5, 0.3, 0.2 - 1e-9, 1e-9])
    u = np.array([0.1, 0.6, 0.2, 0.9])  # countries 0, 1, 0, 2
    assert topology.slot_countries(p, u, 3).tolist() == [0, 1, 0, 3]  # the smallest p (country 2) moves home
    tie = topology.slot_countries(np.array([0.6, 0.4 - 1e-9, 1e-9]), np.array([0.1, 0.2, 0.3]), 2)
    assert tie.tolist() == [0, 0, 2]  # equal p: the highest k moves
    assert topology.slot_countries(p, u, None).tolist() == [0, 1, 0, 2]
    assert topology.slot_countries(p, u, 1).tolist() == [0, 1, 0, 2]  # already chosen: unchanged


@settings(max_examples=60, deadline=None)
@given(st.floats(-60, 70), st.floats(-180, 180), st.sampled_from(["US", "DE", "IN", "BR", "JP", "ZA", "FJ", "UM"]),
       st.sampled_from(["LOCAL", "REGIONAL", "GLOBAL"]))
def test_country_clamp_property(module_edge_world, module_config, lat, lon, home, cls):
    k = module_config.edge_topology.classes[cls]
    p = module_edge_world.country_probabilities(lat, lon, home, k)
    assert abs(p.sum() - 1.0) < 1e-12 and (p >= 0).all()
    h = module_edge_world.index.get(home)
    if h is not None:
        assert k.settlement_share_floor - 1e-15 <= p[h] <= k.settlement_share_cap + 1e-15


@pytest.fixture(scope="module")
def module_edge_world(edge_world):
    return edge_world


@pytest.fixture(scope="module")
def module_config(config):
    return config


def test_locality_pulls_country_mass_towards_the_settlement(edge_world, config):
    k = config.edge_topology.classes["REGIONAL"]
    p_paris = edge_world.country_probabilities(48.85, 2.35, "FR", k)
    p_tokyo = edge_world.country_probabilities(35.68, 139.69, "JP", k)
    de, kr = edge_world.index["DE"], edge_world.index["KR"]
    assert p_paris[de] > p_tokyo[de] and p_tokyo[kr] > p_paris[kr]


def test_tz_source_precedence(refs, config):
    # Paris point in FR → POLYGON; a point resolving to a zone outside the edge country's zone.tab → the
    # city tzid (CITY); a city tzid that does not load either → the country's first zone.tab zone
    lat = np.array([48.85, 48.85, 48.85])
    lon = np.array([2.35, 2.35, 2.35])
    tz, src = topology.operational_tz(lat, lon, ["FR", "GB", "GB"], ["Europe/Paris", "Europe/London", "Mars/Base"],
                                      dict(refs), config)
    assert src == ["POLYGON", "CITY", "COUNTRY_DEFAULT"]
    assert tz == ["Europe/Paris", "Europe/London", "Europe/London"]


def test_shuffled_merchants_give_identical_output(refs, config, chain):
    data, _, ctx = chain
    vc = data[ds.VIRTUAL_CLASSIFICATION]
    vs = data[ds.VIRTUAL_SETTLEMENT]
    again = topology.build(vc.sample(fraction=1.0, shuffle=True, seed=11), vs.reverse(), data, config, ctx.world)
    assert again.edges.equals(data[ds.EDGE_CATALOGUE]) and again.index.equals(data[ds.EDGE_CATALOGUE_INDEX])
    assert parquet_bytes(again.edges) == parquet_bytes(data[ds.EDGE_CATALOGUE])  # byte-identical rerun


def test_edge_ids_are_the_core_recipe_and_unique(chain):
    from fraud_assets.core.ids import edge_id_from_key

    edges = chain[0][ds.EDGE_CATALOGUE]
    r = edges.row(3, named=True)
    assert r["edge_id"] == edge_id_from_key(r["merchant_id"], r["edge_seq_index"])
    assert edges.get_column("edge_id").n_unique() == edges.height and edges.get_column("edge_id").min() >= 0


def test_empty_virtual_set(refs, config):
    mids, oc = synthetic_world(0, 30)  # grocery merchants only: nobody is virtual
    ctx = make_ctx(config=config)
    data, results = run_chain(refs, mids, oc, ctx)
    assert data[ds.EDGE_CATALOGUE].height == 0
    index = data[ds.EDGE_CATALOGUE_INDEX]
    assert index.height == 1 and index.row(0, named=True)["scope"] == "GLOBAL"
    assert index.row(0, named=True)["merchant_count"] == 0
    for spec in catalogue.STATES[:-1]:
        outcomes = run_checks(spec, results[spec.state], data, ctx)
        assert all(o.passed for o in outcomes.values()), (spec.state, {k: o.evidence for k, o in outcomes.items()
                                                                        if not o.passed})
    docs = results["S5"].bundle
    assert docs["summary.json"]["passed"], docs["summary.json"]
    assert docs["evidence/3B-S5-008.json"]["status_detail"] == "SKIPPED"


def test_s2_checks_catch_tampering(chain):
    data, results, ctx = chain
    edges, index = data[ds.EDGE_CATALOGUE], data[ds.EDGE_CATALOGUE_INDEX]
    inputs = {k: data[k] for k in catalogue.S2.reads}

    def outcome(code: str, rng=None, **outputs):
        res = s2.StateResult(outputs={ds.EDGE_CATALOGUE: edges, ds.EDGE_CATALOGUE_INDEX: index, **outputs},
                             rng=results["S2"].rng if rng is None else rng)
        return next(c for c in catalogue.S2.checks if c.code == code).fn(res, inputs, ctx)

    first = edges.row(0, named=True)["merchant_id"]
    assert not outcome("3B-S2-001", **{ds.EDGE_CATALOGUE: edges.filter(pl.col("merchant_id") != first)}).passed
    bumped = edges.with_columns(pl.when(pl.col("edge_seq_index") == 0).then(pl.col("edge_weight") * 1.001)
                                .otherwise(pl.col("edge_weight")).alias("edge_weight"))
    assert not outcome("3B-S2-002", **{ds.EDGE_CATALOGUE: bumped}).passed
    big = index.with_columns(pl.when(pl.col("scope") == "MERCHANT").then(999).otherwise(pl.col("edge_count_total"))
                             .cast(pl.Int32).alias("edge_count_total"))
    assert not outcome("3B-S2-003", **{ds.EDGE_CATALOGUE_INDEX: big}).passed
    dup = edges.with_columns(pl.lit(7, dtype=pl.Int64).alias("edge_id"))
    assert not outcome("3B-S2-004", **{ds.EDGE_CATALOGUE: dup}).passed
    assert not outcome("3B-S2-005", **{ds.EDGE_CATALOGUE: edges.with_columns(
        pl.lit("Mars/Base").alias("tzid_operational"))}).passed
    assert not outcome("3B-S2-006", **{ds.EDGE_CATALOGUE: bumped}).passed  # digests no longer match
    assert not outcome("3B-S2-007", rng=results["S2"].rng[:-1]).passed
    flat = index.with_columns(pl.when(pl.col("scope") == "MERCHANT").then(12).otherwise(pl.col("edge_count_total"))
                              .cast(pl.Int32).alias("edge_count_total"))
    assert not outcome("3B-S2-008", **{ds.EDGE_CATALOGUE_INDEX: flat}).passed


def test_outside_polygon_diagnostic(refs, chain):
    edges = chain[0][ds.EDGE_CATALOGUE]
    flags = topology.outside_polygon(edges, refs[ds.REF_COUNTRIES])
    assert flags.mean() < 0.05
    moved = edges.head(2).with_columns(pl.lit(0.0).alias("lat_deg"), pl.lit(-30.0).alias("lon_deg"))  # mid-Atlantic
    assert topology.outside_polygon(moved, refs[ds.REF_COUNTRIES]).all()


def test_weight_statistics():
    assert common.gini(np.array([0.25, 0.25, 0.25, 0.25])) == pytest.approx(0.0)
    assert common.gini(np.array([1.0])) == 0.0
    assert common.gini(np.array([0.0, 0.0, 0.0, 1.0])) == pytest.approx(0.75)
    assert common.weighted_median(np.array([10.0, 1.0, 5.0]), np.array([0.2, 0.5, 0.3])) == 1.0
    assert common.weighted_median(np.array([10.0, 1.0, 5.0]), np.array([0.6, 0.1, 0.3])) == 10.0
    assert common.inverse_cdf(np.array([0.0, 1.0, 0.0]), 0.999999) == 1
    assert common.inverse_cdf(np.array([0.2, 0.8]), 0.2) == 1 and common.inverse_cdf(np.array([0.2, 0.8]), 0.1) == 0


def test_config_changes_reach_the_law(refs, chain):
    data, _, ctx = chain
    cfg = with_config(ctx.config, edge_topology={"jitter_radius_km": 0.0})
    cat = topology.build(data[ds.VIRTUAL_CLASSIFICATION], data[ds.VIRTUAL_SETTLEMENT], data, cfg, ctx.world)
    cities = refs[ds.REF_CITIES].select("geonameid", pl.col("lat_deg").alias("c_lat"), pl.col("lon_deg").alias("c_lon"))
    j = cat.edges.join(cities, left_on="city_geonameid", right_on="geonameid")
    assert ((j.get_column("lat_deg") - j.get_column("c_lat")).abs().max() < 1e-9)
