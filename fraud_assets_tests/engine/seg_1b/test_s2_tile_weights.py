"""S2: raster → tiles in bands, shared-tile split, area fallback, fixed point summing to 10^9,
raster contract violations (1B-S2-105)."""

import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraud_assets.core.errors import EngineFailure
from fraud_assets.engine.seg_1b import catalogue
from fraud_assets.engine.seg_1b import datasets as ds
from fraud_assets.engine.seg_1b import s2_tile_weights as s2
from fraud_assets.engine.seg_1b.grid import Grid
from fraud_assets.engine.state import StateResult

from .conftest import FakeRaster, failed_checks

K = 10**9


def _index(rows):
    """tile_index rows (country_iso, tile_id, land_fraction, land_area_m2) on the tiny grid."""
    g = Grid(1)
    frame = pl.DataFrame(rows, orient="row", schema={"country_iso": pl.String, "tile_id": pl.UInt64,
                                                     "land_fraction": pl.Float64, "land_area_m2": pl.Float64})
    r, c = g.row_col(frame.get_column("tile_id").cast(pl.Int64).to_numpy())
    return frame.with_columns(pl.Series("tile_row", r, dtype=pl.Int32), pl.Series("tile_col", c, dtype=pl.Int32))


def test_tile_sums_read_in_bands_match_a_whole_sum():
    g = Grid(2)
    dep = {(0, 0): 1.5, (9, 9): 2.0, (10, 10): 4.0, (359, 7199): 3.0, (360, 0): 8.0, (3599, 7199): 0.25}
    sums, figures = s2.tile_raster_sums(FakeRaster(dep), g)
    assert sums.shape == (360, 720)
    assert sums[0, 0] == 3.5 and sums[1, 1] == 4.0 and sums[35, 719] == 3.0 and sums[36, 0] == 8.0
    assert sums[359, 719] == 0.25 and math.fsum(sums.ravel().tolist()) == 18.75 == figures["raster_total"]


def test_nan_counts_zero_and_invalid_cells_fail_1B_S2_105():
    g = Grid(1)
    sums, figures = s2.tile_raster_sums(FakeRaster({(5, 5): float("nan"), (6, 6): 2.0}), g)
    assert sums.sum() == 2.0 and figures["nan_cells"] == 1
    for value in (-1.0, float("inf"), float("-inf")):
        with pytest.raises(EngineFailure) as info:
            s2.tile_raster_sums(FakeRaster({(100, 100): value}), g)
        assert info.value.code == "1B-S2-105" and info.value.keys == ["row=100,col=100"]


@pytest.mark.parametrize("meta", [
    {"shape": (1800, 3600)},
    {"transform": (0.05, 0.0, -180.0, 0.0, 0.05, -90.0)},
    {"crs": "EPSG:3857"},
    {"dtype": "float64"},
    {"nodata": -9999.0},
])
def test_raster_contract_violations_fail_1B_S2_105(meta):
    with pytest.raises(EngineFailure) as info:
        s2.tile_raster_sums(FakeRaster({}, **meta), Grid(1))
    assert info.value.code == "1B-S2-105"


def test_shared_tile_split_by_land_and_rural_mix(config):
    # tile 10 shared by XA (0.6) and XB (0.2): raster mass 100 splits 75 / 25; XA also owns tile 11 (no people)
    idx = _index([("XA", 10, 0.6, 6.0), ("XA", 11, 1.0, 10.0), ("XB", 10, 0.2, 2.0)])
    sums = np.zeros((180, 360))
    sums[0, 10] = 100.0
    out, report = s2.build_weights(idx, sums, Grid(1), config.tile_weights)
    assert out.get_column("pop_mass").to_list() == pytest.approx([75.0, 0.0, 25.0])
    xa = out.filter(pl.col("country_iso") == "XA")
    # m = (1 − 0.05)·[1, 0] + 0.05·[6, 10]/16 = [31/32, 1/32]
    assert xa.get_column("weight_fp").to_list() == [968_750_000, 31_250_000]
    assert out.filter(pl.col("country_iso") == "XB").get_column("weight_fp").to_list() == [K]
    assert report["shared_tiles"] == 2 and report["zero_population_fallback"] == []


def test_zero_population_country_falls_back_to_area(config):
    idx = _index([("XZ", 5, 0.5, 1.0), ("XZ", 6, 1.0, 3.0)])
    out, report = s2.build_weights(idx, np.zeros((180, 360)), Grid(1), config.tile_weights)
    assert out.get_column("weight_fp").to_list() == [K // 4, 3 * K // 4]
    assert report["zero_population_fallback"] == ["XZ"]


def test_a_country_without_land_fails_1B_S2_103(config):
    idx = _index([("XZ", 5, 0.5, 0.0)])
    with pytest.raises(EngineFailure) as info:
        s2.build_weights(idx, np.zeros((180, 360)), Grid(1), config.tile_weights)
    assert info.value.code == "1B-S2-103"


def test_fixed_point_ties_go_to_the_lower_tile_id():
    m = np.array([1 / 3, 1 / 3, 1 / 3])
    assert s2.fixed_point(m, np.array([7, 3, 5]), 10).tolist() == [3, 4, 3]
    assert s2.fixed_point(np.array([0.5, 0.5]), np.array([2, 1]), 3).tolist() == [1, 2]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0.0, 1e9, allow_nan=False), min_size=1, max_size=60),
       st.lists(st.floats(1.0, 1e6, allow_nan=False), min_size=60, max_size=60), st.floats(0.0, 1.0))
def test_weights_sum_to_K_exactly(pop, area, beta):
    pop = np.array(pop)
    a = np.array(area[: pop.size])
    m, _ = s2.country_mass(pop, a, beta)
    z = s2.fixed_point(m, np.arange(pop.size), K)
    assert int(z.sum()) == K and (z >= 0).all()
    assert (np.abs(z - m * K) < 1.0 + 1e-6).all()


def test_checks_pass_on_the_chain_and_catch_tampering(literal_chain):
    data, results, ctx = literal_chain
    assert failed_checks(catalogue.S2, results["S2"], data, ctx) == {}
    tw = data[ds.TILE_WEIGHTS]
    bad = tw.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(pl.col("weight_fp") + 1)
                          .otherwise(pl.col("weight_fp")).alias("weight_fp"))
    assert set(failed_checks(catalogue.S2, StateResult(outputs={ds.TILE_WEIGHTS: bad}), data, ctx)) == {"weight_sum"}
    assert set(failed_checks(catalogue.S2, StateResult(outputs={ds.TILE_WEIGHTS: tw.slice(1)}), data, ctx)) \
        >= {"zero_country", "weight_sum"}
    broken = {**data, ds.REF_RASTER: FakeRaster({}, crs="EPSG:3857")}
    assert set(failed_checks(catalogue.S2, results["S2"], broken, ctx)) == {"raster_valid"}
