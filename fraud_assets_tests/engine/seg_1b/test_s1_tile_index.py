"""S1: tiles of literal countries (holes, antimeridian, single-tile islands), geometry law codes,
land fractions and areas; the real Natural Earth world on the tiny grid."""

import numpy as np
import polars as pl
import pytest
from shapely.geometry import MultiPolygon, Polygon, box

from fraud_assets.core.errors import EngineFailure
from fraud_assets.engine.seg_1b import catalogue
from fraud_assets.engine.seg_1b import datasets as ds
from fraud_assets.engine.seg_1b import s1_tile_index as s1
from fraud_assets.engine.seg_1b.grid import Grid

from .conftest import GEOMETRIES, failed_checks, literal_countries


def _tiles(config, geometries=None, tpd=1):
    return s1.build_tiles(literal_countries(geometries), Grid(tpd), config.tile_grid)


def _of(index, iso):
    return index.filter(pl.col("country_iso") == iso)


def test_literal_world_tiles(config):
    index, bounds, report = _tiles(config)
    assert index.select(ds.TILE_KEY).equals(bounds.select(ds.TILE_KEY))
    assert "AQ" not in index.get_column("country_iso").to_list() and report["countries"] == 7
    # AA = box(10.5, 10.2, 13.3, 12.6): cols 190..193, rows 77..79 -> 12 tiles, interior (11..12 × 11..12) whole
    aa = _of(index, "AA")
    assert aa.height == 12
    interior = aa.filter((pl.col("tile_col").is_in([191, 192])) & (pl.col("tile_row") == 78))
    assert interior.get_column("land_fraction").to_list() == [1.0, 1.0]
    corner = aa.filter((pl.col("tile_col") == 190) & (pl.col("tile_row") == 79)).row(0, named=True)
    assert corner["land_fraction"] == pytest.approx(0.5 * 0.8)
    b = bounds.filter((pl.col("country_iso") == "AA") & (pl.col("tile_id") == corner["tile_id"])).row(0, named=True)
    assert (b["clip_min_lon_deg"], b["clip_min_lat_deg"], b["clip_max_lon_deg"], b["clip_max_lat_deg"]) == \
        pytest.approx((10.5, 10.2, 11.0, 11.0))
    assert (b["min_lon_deg"], b["max_lon_deg"], b["min_lat_deg"], b["max_lat_deg"]) == (10.0, 11.0, 10.0, 11.0)
    assert corner["land_area_m2"] == pytest.approx(corner["land_fraction"] * corner["pixel_area_m2"])


def test_a_single_tile_island(config):
    index, _, _ = _tiles(config)
    ki = _of(index, "KI")
    assert ki.height == 1 and ki.get_column("land_fraction")[0] == pytest.approx(0.4 * 0.3)


def test_hole_is_excluded_lesotho_inside_south_africa(config):
    index, _, _ = _tiles(config)
    za, ls = _of(index, "ZA"), _of(index, "LS")
    g = Grid(1)
    hole_tile = int(g.tile_id(120, 205))  # lon 25..26, lat -31..-30: inside the hole
    assert hole_tile in ls.get_column("tile_id").to_list()
    assert hole_tile not in za.get_column("tile_id").to_list()
    assert ls.filter(pl.col("tile_id") == hole_tile).get_column("land_fraction")[0] == 1.0
    shared = set(za.get_column("tile_id").to_list()) & set(ls.get_column("tile_id").to_list())
    assert shared  # boundary tiles appear once per country
    total = za.filter(pl.col("tile_id").is_in(list(shared))).get_column("land_fraction").to_numpy() + \
        ls.filter(pl.col("tile_id").is_in(list(shared))).sort("tile_id").get_column("land_fraction").to_numpy()
    assert np.allclose(total, 1.0)


def test_antimeridian_countries_use_part_bounds(config):
    index, bounds, _ = _tiles(config)
    for iso in ("FJ", "RU"):
        t = _of(index, iso)
        cols = set(t.get_column("tile_col").to_list())
        assert 0 in cols and 359 in cols and not cols & set(range(5, 350))  # no tile in between
    fj = _of(bounds, "FJ")
    assert (fj.get_column("max_lon_deg") - fj.get_column("min_lon_deg")).max() == 1.0
    assert _of(index, "FJ").height == 8  # cols 358, 359 × rows 106..108 and col 0 × rows 106..107


def test_min_land_fraction_keeps_the_max_tile(config):
    sliver = MultiPolygon([box(10.0, 10.0, 10.00001, 10.5), box(10.9999, 10.6, 11.0, 10.6001)])
    index, _, report = _tiles(config, {"XS": sliver})
    assert index.height == 1 and report["kept_max_fraction_tile"] == ["XS"]


def test_invalid_geometry_fails_1B_S1_001(config):
    bowtie = Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])
    with pytest.raises(EngineFailure) as info:
        _tiles(config, {**GEOMETRIES, "XB": bowtie})
    assert info.value.code == "1B-S1-001" and info.value.keys == ["XB"]
    with pytest.raises(EngineFailure) as info:
        _tiles(config, {**GEOMETRIES, "XE": Polygon()})
    assert info.value.code == "1B-S1-001"


def test_unsplit_antimeridian_ring_fails_1B_S1_002(config):
    unsplit = MultiPolygon([box(178.0, -18.0, 181.5, -16.0)])
    with pytest.raises(EngineFailure) as info:
        _tiles(config, {**GEOMETRIES, "FJ": unsplit})
    assert info.value.code == "1B-S1-002" and info.value.keys == ["FJ"]
    wide = MultiPolygon([box(-179.0, 60.0, 179.0, 61.0)])  # a part "wrapped" the long way round
    with pytest.raises(EngineFailure) as info:
        _tiles(config, {"RU": wide})
    assert info.value.code == "1B-S1-002"


def test_excluded_country_may_be_anything(config):
    index, _, _ = _tiles(config, {**GEOMETRIES, "AQ": MultiPolygon([box(-200, -90, 200, -60)])})
    assert "AQ" not in index.get_column("country_iso").to_list()


def test_shuffled_countries_give_identical_tiles(config):
    a = _tiles(config)[:2]
    shuffled = literal_countries().sample(fraction=1.0, shuffle=True, seed=3)
    b = s1.build_tiles(shuffled, Grid(1), config.tile_grid)[:2]
    assert a[0].equals(b[0]) and a[1].equals(b[1])


def test_checks_pass_on_the_chain_and_catch_tampering(literal_chain):
    data, results, ctx = literal_chain
    assert failed_checks(catalogue.S1, results["S1"], data, ctx) == {}
    bad = data[ds.TILE_INDEX].with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(0.0).otherwise(pl.col("land_area_m2")).alias("land_area_m2"))
    res = type(results["S1"])(outputs={**results["S1"].outputs, ds.TILE_INDEX: bad})
    assert set(failed_checks(catalogue.S1, res, data, ctx)) == {"area_nonpos"}
    dropped = data[ds.TILE_INDEX].filter(pl.col("country_iso") != "KI")
    res = type(results["S1"])(outputs={ds.TILE_INDEX: dropped, ds.TILE_BOUNDS: data[ds.TILE_BOUNDS]})
    assert set(failed_checks(catalogue.S1, res, data, ctx)) == {"zero_tiles"}


def test_real_world_on_the_tiny_grid(config, real_refs):
    wc = real_refs[ds.REF_COUNTRIES]
    index, bounds, report = s1.build_tiles(wc, Grid(1), config.tile_grid)
    assert 20_000 < index.height < 20_800 and report["countries"] == wc.height - 1  # all but AQ
    assert (bounds.get_column("max_lon_deg") - bounds.get_column("min_lon_deg")).max() == 1.0
    ru = index.filter(pl.col("country_iso") == "RU")
    assert 0 in ru.get_column("tile_col").to_list()  # Chukotka west of the antimeridian
    for iso in ("SG", "HK", "MT", "BH", "KI", "FJ"):  # synthetic boxes and small islands get tiles
        assert index.filter(pl.col("country_iso") == iso).height >= 1, iso
    assert (index.get_column("land_area_m2") > 0).all()
