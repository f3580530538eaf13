"""population_raster: the 1B raster contract and the mass-preserving spread."""

from __future__ import annotations

import hashlib

import numpy as np
import polars as pl
import pytest
import rasterio

from fraud_assets.core.errors import E_REFERENCE_INVALID, EngineFailure
from fraud_assets.reference import catalog
from fraud_assets.reference import population_raster as pr


def test_spread_matches_the_plain_python_reference():
    # a small world grid (36 x 72 cells of 5°): the pole row, the wrap column and every kernel size
    rows = np.array([0, 1, 17, 35, 20, 5])
    cols = np.array([0, 71, 30, 10, 36, 70])
    pops = np.array([3e3, 2e6, 8e6, 5e4, 6.4e6, 1.5e5])
    fast = pr.spread(rows, cols, pops, nrows=36, ncols=72)
    slow = np.array(pr.spread_reference(rows.tolist(), cols.tolist(), pops.tolist(), 36, 72))
    np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=1e-9)
    assert fast.sum() == pytest.approx(pops.sum(), rel=1e-12)
    assert (fast[:, 0] > 0).any() and (fast[:, 71] > 0).any()  # wrapped across ±180


def test_sigma_and_cells():
    assert pr.sigma_of(np.array([1.0, 1e5, 4e5, 1e9])).tolist() == [0.5, 0.5, 1.0, 4.0]
    row, col = pr.cell_of(np.array([90.0, -90.0, 0.0]), np.array([-180.0, 180.0, 0.0]))
    assert row.tolist() == [0, 3599, 1800] and col.tolist() == [0, 7199, 3600]


def test_raster_contract(built_reference_root):
    path = catalog.raster_path(built_reference_root)
    with rasterio.open(path) as ds:
        assert (ds.height, ds.width, ds.count, ds.dtypes) == (3600, 7200, 1, ("float32",))
        assert tuple(ds.transform)[:6] == (0.05, 0.0, -180.0, 0.0, -0.05, 90.0)
        assert ds.crs.to_epsg() == 4326 and ds.nodata is None
        assert not [k for k in ds.tags() if "DATETIME" in k.upper()]
        grid = ds.read(1)
    assert np.isfinite(grid).all() and (grid >= 0).all()
    cities = catalog.load(built_reference_root, "cities")
    total = float(cities["population"].sum())
    assert grid.sum(dtype=np.float64) == pytest.approx(total, rel=1e-6)
    checks = catalog.provenance(built_reference_root, "population_raster")["checks"]
    assert checks["raster_values"]["relative_error"] < 1e-6


def test_raster_is_reproducible(built_reference_root):
    cities = catalog.load(built_reference_root, "cities")
    again = pr.build({"cities": cities}).data
    assert hashlib.sha256(again).hexdigest() == catalog.reference_digests(
        built_reference_root, dataset_ids=("population_raster",))["population_raster"]


def test_contract_violations_are_refused():
    small = pr.geotiff_bytes(np.zeros((10, 20), dtype=np.float32))
    with pytest.raises(EngineFailure) as err:
        pr.check_raster(small)
    assert err.value.code == E_REFERENCE_INVALID and "raster_shape" in str(err.value)


def test_negative_values_and_lost_mass_are_refused(monkeypatch):
    grid = np.zeros((pr.NROWS, pr.NCOLS), dtype=np.float32)
    grid[100, 200] = -1.0
    with pytest.raises(EngineFailure) as err:
        pr.check_raster(pr.geotiff_bytes(grid))
    assert "raster_values" in str(err.value) and err.value.keys == ["row=100,col=200"]
    grid[100, 200] = 5.0
    with pytest.raises(EngineFailure) as err:
        pr.check_raster(pr.geotiff_bytes(grid), expected_total=10.0)
    assert "raster_mass" in str(err.value)


def test_build_refuses_empty_cities():
    empty = pl.DataFrame(schema={"geonameid": pl.Int64, "lat_deg": pl.Float64, "lon_deg": pl.Float64,
                                 "population": pl.Int64})
    with pytest.raises(EngineFailure):
        pr.build({"cities": empty})
