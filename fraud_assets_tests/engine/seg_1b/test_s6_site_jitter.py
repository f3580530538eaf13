"""S6: the numba attempt kernel equals the plain-Python reference bit for bit; accepted points lie in
their tile and country; a sliver tile falls back; batching and row order never change a byte; the city
kernel's radius is Rayleigh(σ)."""

import math

import numpy as np
import polars as pl
import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon

from fraud_assets.core.rng import RngRoot
from fraud_assets.core.store import parquet_bytes
from fraud_assets.engine.seg_1b import catalogue
from fraud_assets.engine.seg_1b import datasets as ds
from fraud_assets.engine.seg_1b import s6_site_jitter as s6
from fraud_assets.engine.seg_1b.grid import Grid, country_geometries
from fraud_assets.engine.state import StateResult

from .conftest import GEOMETRIES, failed_checks, literal_countries, with_config

ROOT = RngRoot("f" * 64, "a" * 64)


def _prepared(data, grid=Grid(1)):
    sites = s6.site_table(data[ds.S5_SITE_TILE], data[ds.TILE_BOUNDS], grid)
    cities = s6.city_table(data[ds.REF_CITIES], sites, grid)
    return sites, cities


def test_kernel_equals_the_python_reference(literal_chain, config):
    data, _, _ = literal_chain
    grid = Grid(1)
    params = s6.JitterParams.of(config.placement.jitter)
    sites, cities = _prepared(data, grid)
    sa = ROOT.streams(s6.FAMILY_JITTER, [tuple(r) for r in sites.select(ds.SITE_KEY).iter_rows()], seed=42)
    off, length, total = s6.site_city_ranges(sites, cities)
    cols = {c: sites.get_column(c).to_numpy() for c in ("clip_min_lon_deg", "clip_max_lon_deg", "clip_min_lat_deg",
                                                        "clip_max_lat_deg", "tile_row", "tile_col")}
    c_lat, c_lon = cities.get_column("lat_deg").to_numpy(), cities.get_column("lon_deg").to_numpy()
    c_pop = cities.get_column("population").to_numpy()
    idx = np.arange(sites.height, dtype=np.int64)
    kinds = set()
    for attempt in (1, 2, 7, 64):
        got = s6.candidates_nb(idx, attempt, sa.k, sa.c_hi, sa.c_lo, off, length, total,
                               cities.get_column("cum").cast(pl.Float64).to_numpy(), c_lat, c_lon,
                               c_pop.astype(np.float64), cols["clip_min_lon_deg"], cols["clip_max_lon_deg"],
                               cols["clip_min_lat_deg"], cols["clip_max_lat_deg"], cols["tile_row"], cols["tile_col"],
                               1, 180, 360, params.p_city, params.scale, params.pop_ref, params.exponent,
                               params.sigma_min, params.sigma_max, params.km_per_degree)
        for i in range(sites.height):
            tile_cities = [(c_lat[j], c_lon[j], int(c_pop[j])) for j in range(off[i], off[i] + length[i])]
            clip = (cols["clip_min_lon_deg"][i], cols["clip_min_lat_deg"][i], cols["clip_max_lon_deg"][i],
                    cols["clip_max_lat_deg"][i])
            lat, lon, kind, city, in_tile = s6.candidate_py(sa.at(i), attempt, tile_cities, clip,
                                                            (int(cols["tile_row"][i]), int(cols["tile_col"][i])),
                                                            grid, params)
            assert (got[0][i], got[1][i], got[2][i], got[4][i]) == (lat, lon, kind, in_tile)
            assert got[3][i] == (off[i] + city if city >= 0 else -1)
            kinds.add(kind)
    assert kinds == {0, 1}


def test_every_point_is_in_its_tile_and_country(literal_chain):
    data, results, ctx = literal_chain
    out = results["S6"].outputs[ds.S6_SITE_JITTER]
    assert failed_checks(catalogue.S6, results["S6"], data, ctx) == {}
    geoms = country_geometries(data[ds.REF_COUNTRIES])
    for r in out.iter_rows(named=True):
        assert shapely.intersects_xy(geoms[r["legal_country_iso"]], r["lon_deg"], r["lat_deg"])
        assert -180.0 <= r["lon_deg"] < 180.0
    # Fiji: sites on both sides of the antimeridian, each inside its own part
    fj = out.filter(pl.col("legal_country_iso") == "FJ")
    assert fj.filter(pl.col("lon_deg") < 0).height and fj.filter(pl.col("lon_deg") > 0).height
    # no tile-centroid pile: no two sites share a point, no site at its tile's centre
    assert out.select("lat_deg", "lon_deg").unique().height == out.height
    assert out.filter((pl.col("delta_lat_deg") == 0) & (pl.col("delta_lon_deg") == 0)).height == 0
    tally = results["S6"].rng[0]
    attempts = int(out.get_column("attempts").cast(pl.Int64).sum())
    assert (tally.keys, tally.draws, tally.blocks) == (out.height, 4 * attempts, 2 * attempts)


def test_a_sliver_tile_falls_back_inside_the_country(config):
    sliver = MultiPolygon([Polygon([(10.0, 10.0), (10.99, 10.99), (10.99, 10.9895)])])
    geoms = {"XS": sliver}
    from fraud_assets.engine.seg_1b import s1_tile_index as s1

    grid = Grid(1)
    _, bounds, _ = s1.build_tiles(literal_countries(geoms), grid, config.tile_grid)
    tile = int(bounds.get_column("tile_id")[0])
    assigned = pl.DataFrame({"merchant_id": [1, 1, 2], "legal_country_iso": ["XS"] * 3,
                             "site_order": pl.Series([1, 2, 1], dtype=pl.Int32),
                             "tile_id": pl.Series([tile] * 3, dtype=pl.UInt64), "u": [0.5] * 3})
    sites = s6.site_table(assigned, bounds, grid)
    cities = s6.city_table(pl.DataFrame(schema={"geonameid": pl.Int64, "country_iso": pl.String, "lat_deg": pl.Float64,
                                                "lon_deg": pl.Float64, "population": pl.Int64}), sites, grid)
    cfg = with_config(config, placement={"jitter": {"max_attempts": 8}})
    out = s6.jitter(sites, cities, country_geometries(literal_countries(geoms)), grid,
                    s6.JitterParams.of(cfg.placement.jitter), ROOT, 42)
    assert out.get_column("placement").to_list() == ["fallback"] * 3
    assert out.get_column("attempts").to_list() == [8, 8, 8] and out.get_column("city_geonameid").null_count() == 3
    for r in out.iter_rows(named=True):
        assert shapely.intersects_xy(sliver, r["lon_deg"], r["lat_deg"])
        assert int(grid.tile_id_of(r["lat_deg"], r["lon_deg"])) == tile


def test_batches_and_row_order_never_change_a_byte(literal_chain, config):
    data, results, ctx = literal_chain
    grid = Grid(1)
    params = s6.JitterParams.of(config.placement.jitter)
    sites, cities = _prepared(data, grid)
    geoms = country_geometries(data[ds.REF_COUNTRIES])
    whole = s6.jitter(sites, cities, geoms, grid, params, ROOT, 42)
    assert whole.equals(results["S6"].outputs[ds.S6_SITE_JITTER])
    ones = pl.concat([s6.jitter(sites.slice(i, 1), s6.city_table(data[ds.REF_CITIES], sites.slice(i, 1), grid),
                                geoms, grid, params, ROOT, 42) for i in range(sites.height)])
    assert parquet_bytes(ones) == parquet_bytes(whole)
    halves = pl.concat([s6.jitter(part, s6.city_table(data[ds.REF_CITIES], part, grid), geoms, grid, params, ROOT, 42)
                        for part in (sites.filter(pl.col("site_order") % 2 == 0),
                                     sites.filter(pl.col("site_order") % 2 == 1))]).sort(ds.SITE_KEY)
    assert parquet_bytes(halves) == parquet_bytes(whole)
    shuffled = {**data, ds.S5_SITE_TILE: data[ds.S5_SITE_TILE].sample(fraction=1.0, shuffle=True, seed=1),
                ds.REF_CITIES: data[ds.REF_CITIES].sample(fraction=1.0, shuffle=True, seed=2),
                ds.TILE_BOUNDS: data[ds.TILE_BOUNDS].sample(fraction=1.0, shuffle=True, seed=3)}
    again = s6.run({k: shuffled[k] for k in catalogue.S6.reads}, ctx).outputs[ds.S6_SITE_JITTER]
    assert parquet_bytes(again) == parquet_bytes(whole)


def test_city_radius_is_rayleigh(config):
    """With p_city = 1 and one city the kernel's radius follows Rayleigh(σ): KS at p = 0.01."""
    n = 4000
    params = s6.JitterParams.of(with_config(config, placement={"jitter": {"p_city": 1.0}}).placement.jitter)
    sa = ROOT.streams(s6.FAMILY_JITTER, list(range(n)), seed=42)
    lat0, lon0, pop = 40.0, 10.0, 1_000_000.0
    sigma = min(max(params.scale * (pop / params.pop_ref) ** params.exponent, params.sigma_min), params.sigma_max)
    ones = np.ones(n)
    lat, lon, kind, _, _ = s6.candidates_nb(
        np.arange(n, dtype=np.int64), 1, sa.k, sa.c_hi, sa.c_lo, np.zeros(n, dtype=np.int64),
        np.ones(n, dtype=np.int64), ones * pop, np.array([pop]), np.array([lat0]), np.array([lon0]), np.array([pop]),
        ones * 9.0, ones * 11.0, ones * 39.0, ones * 41.0, ones.astype(np.int64) * 50, ones.astype(np.int64) * 190,
        1, 180, 360, params.p_city, params.scale, params.pop_ref, params.exponent, params.sigma_min,
        params.sigma_max, params.km_per_degree)
    assert (kind == 1).all()
    k = params.km_per_degree
    r = np.sqrt(((lat - lat0) * k) ** 2 + ((lon - lon0) * k * math.cos(math.radians(lat0))) ** 2)
    r = np.sort(r)
    cdf = 1.0 - np.exp(-(r**2) / (2 * sigma**2))
    emp_hi = np.arange(1, n + 1) / n
    d = max(np.max(emp_hi - cdf), np.max(cdf - (emp_hi - 1.0 / n)))
    assert d < 1.63 / math.sqrt(n)


def test_tampered_points_fail_704_and_705(literal_chain):
    data, results, ctx = literal_chain
    out = results["S6"].outputs[ds.S6_SITE_JITTER]
    first = (pl.col("merchant_id") == 12) & (pl.col("site_order") == 1)
    outside_country = out.with_columns(pl.when(first).then(-30.0).otherwise(pl.col("lat_deg")).alias("lat_deg"),
                                       pl.when(first).then(25.5).otherwise(pl.col("lon_deg")).alias("lon_deg"))
    failed = failed_checks(catalogue.S6, StateResult(outputs={ds.S6_SITE_JITTER: outside_country}), data, ctx)
    assert "jitter_in_country" in failed and failed["jitter_in_country"]["first_keys"] == [[12, "ZA", 1]]
    shifted = out.with_columns(pl.when(first).then(pl.col("lon_deg") + 1.0).otherwise(pl.col("lon_deg"))
                               .alias("lon_deg"))
    failed = failed_checks(catalogue.S6, StateResult(outputs={ds.S6_SITE_JITTER: shifted}), data, ctx)
    assert failed["jitter_in_tile"]["code"] == "1B-S7-704" and failed["jitter_in_tile"]["first_keys"] == [[12, "ZA", 1]]


@pytest.mark.parametrize("iso", sorted(set(GEOMETRIES) - {"AQ"}))
def test_every_literal_country_gets_points_inside_at_tpd_2(literal_chain_small, iso):
    data, results, ctx = literal_chain_small
    out = results["S6"].outputs[ds.S6_SITE_JITTER].filter(pl.col("legal_country_iso") == iso)
    assert out.height >= 1
    assert shapely.intersects_xy(GEOMETRIES[iso], out.get_column("lon_deg").to_numpy(),
                                 out.get_column("lat_deg").to_numpy()).all()
