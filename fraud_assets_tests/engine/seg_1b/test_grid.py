"""The tile grid: ids, edges, point → tile, authalic areas, haversine (numba = Python)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraud_assets.core.errors import EngineFailure
from fraud_assets.engine.seg_1b.grid import (
    Grid,
    haversine_km_nb,
    haversine_km_py,
    tile_of_nb,
    tile_of_py,
    validate_country,
)


@pytest.mark.parametrize("tpd", [1, 2, 4, 10])
def test_tile_id_row_col_bounds_round_trip(tpd):
    g = Grid(tpd)
    rows, cols = np.meshgrid(np.arange(g.nrows), np.arange(g.ncols), indexing="ij")
    tid = g.tile_id(rows.ravel(), cols.ravel())
    assert np.array_equal(tid, np.arange(g.nrows * g.ncols))
    r, c = g.row_col(tid)
    assert np.array_equal(r, rows.ravel()) and np.array_equal(c, cols.ravel())
    lat_c, lon_c = g.centroid(r, c)
    assert np.array_equal(g.tile_id_of(lat_c, lon_c), tid)  # centres map back to their tile
    minx, miny, maxx, maxy = g.bounds(r, c)
    assert np.allclose(maxx - minx, 1.0 / tpd) and np.allclose(maxy - miny, 1.0 / tpd)
    # edges are integers / tpd: the western edge of col k+1 is the eastern edge of col k, exactly
    assert np.array_equal(g.lon_edge(np.arange(1, g.ncols)), g.bounds(0, np.arange(g.ncols - 1))[2])
    assert g.lon_edge(0) == -180.0 and g.lon_edge(g.ncols) == 180.0 and g.lat_edge(g.nrows) == -90.0


def test_half_open_tiles_and_the_edges_of_the_globe():
    g = Grid(2)
    # lon [min, max): a point on a western edge belongs to that tile; lat (min, max]: a northern edge too
    assert g.tile_of(10.0, 20.0) == (np.int64(g.nrows // 2 - 20), np.int64(400))
    row, col = g.tile_of([90.0, -90.0, 0.0, 0.0], [-180.0, 180.0, 180.0, -180.0])
    assert row.tolist() == [0, g.nrows - 1, 180, 180] and col.tolist() == [0, g.ncols - 1, g.ncols - 1, 0]
    row, col = g.tile_of([90.1, -90.1, 0.0, np.nan], [0.0, 0.0, 180.5, 0.0])
    assert row.tolist() == [-1, -1, -1, -1] and col.tolist() == [-1, -1, -1, -1]


@pytest.mark.parametrize("tpd", [3, 7, 40])
def test_tpd_incompatible_with_the_raster_fails(tpd):
    with pytest.raises(EngineFailure) as info:
        Grid(tpd)
    assert info.value.code == "1B-S0-002"


@pytest.mark.parametrize("tpd", [1, 2, 4, 10])
def test_authalic_areas_sum_to_the_sphere(tpd):
    g = Grid(tpd)
    per_row = g.pixel_area_m2(np.arange(g.nrows))
    total = math.fsum((per_row * g.ncols).tolist())
    assert total == pytest.approx(4.0 * math.pi * g.authalic_radius_m**2, rel=1e-12)
    assert (per_row > 0).all() and per_row[g.nrows // 2] > per_row[0]


@settings(max_examples=300, deadline=None)
@given(st.floats(-91, 91), st.floats(-181, 181), st.sampled_from([1, 2, 4, 10]))
def test_tile_of_numba_equals_python_and_numpy(lat, lon, tpd):
    g = Grid(tpd)
    expected = tile_of_py(lat, lon, tpd, g.nrows, g.ncols)
    assert tile_of_nb(lat, lon, tpd, g.nrows, g.ncols) == expected
    r, c = g.tile_of(lat, lon)
    assert (int(r), int(c)) == expected


@settings(max_examples=200, deadline=None)
@given(st.floats(-90, 90), st.floats(-180, 180), st.floats(-90, 90), st.floats(-180, 180))
def test_haversine_numba_equals_python_bit_for_bit(a, b, c, d):
    assert haversine_km_nb(a, b, c, d) == haversine_km_py(a, b, c, d)


def test_haversine_known_distance():
    # one degree of latitude on R = 6371.0088 km
    assert haversine_km_py(0.0, 0.0, 1.0, 0.0) == pytest.approx(6371.0088 * math.pi / 180.0, rel=1e-12)
    assert haversine_km_py(0.0, 179.9, 0.0, -179.9) == pytest.approx(6371.0088 * math.pi / 180.0 * 0.2, rel=1e-9)


def test_validate_country_codes():
    from shapely.geometry import MultiPolygon, Polygon, box

    assert validate_country("XX", MultiPolygon([box(0, 0, 1, 1)])) == []
    bowtie = Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])
    assert [c for c, _ in validate_country("XX", bowtie)] == ["1B-S1-001"]
    assert [c for c, _ in validate_country("XX", MultiPolygon([box(170, 0, 190, 1)]))] == ["1B-S1-002"]
    assert [c for c, _ in validate_country("XX", MultiPolygon([box(-170, 0, 170, 1)]))] == ["1B-S1-002"]
    assert [c for c, _ in validate_country("XX", Polygon())] == ["1B-S1-001"]
    assert [c for c, _ in validate_country("XX", None)] == ["1B-S1-001"]
    assert [c for c, _ in validate_country("XX", box(0, 80, 1, 91))] == ["1B-S1-001"]
