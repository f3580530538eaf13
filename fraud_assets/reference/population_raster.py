"""`population_raster`: persons per 0.05° cell as a GeoTIFF (ARCHITECTURE §9, spec 1B "Population raster contract").

Single band float32, EPSG:4326, north-up, origin (−180°, 90°), cells exactly
1/20°, 3600 × 7200, no nodata, every value finite and ≥ 0. Build: every `cities`
row (population > 0) deposits its population at its cell
(`col = min(⌊(lon+180)·20⌋, 7199)`, `row = min(⌊(90−lat)·20⌋, 3599)`); a truncated
Gaussian with σ = clamp(0.5·√(pop/10^5), 0.5, 4) cells, cut at 3σ (cells whose
centre lies within 3σ of the source cell's centre), spreads it. Longitude wraps;
offsets past a pole are dropped before the weights are renormalised to 1, so the
spread preserves mass exactly up to float rounding. Accumulation is float64 in
geonameid order within each kernel size (`numpy.bincount`, deterministic), cast
once to float32.

Written with `rasterio` (GTiff, 512×512 tiles, DEFLATE level 6, floating-point
predictor, single-threaded) into memory: no timestamp tag, no side files, so the
same package versions give the same bytes. The contract is checked on the bytes
read back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

from fraud_assets.reference.intake import Built, fail, passed

DATASET_ID = "population_raster"
RECIPE_VERSION = 1
DEPENDS = ("cities",)
SOURCES = ()  # everything comes through cities
TOOLCHAIN = ("numpy", "rasterio", "gdal")
FILE_NAME = "population_raster.tif"

CELLS_PER_DEG = 20
NROWS, NCOLS = 180 * CELLS_PER_DEG, 360 * CELLS_PER_DEG
CELL_DEG = 1 / CELLS_PER_DEG
SIGMA_MIN, SIGMA_MAX, SIGMA_POP_SCALE = 0.5, 4.0, 1e5
CUT_SIGMAS = 3.0
MASS_RTOL = 1e-6
CREATION_OPTIONS = {"tiled": True, "blockxsize": 512, "blockysize": 512, "compress": "deflate", "zlevel": 6,
                    "predictor": 3, "interleave": "band", "bigtiff": "no", "num_threads": 1}


def cell_of(lat: np.ndarray, lon: np.ndarray, nrows: int = NROWS, ncols: int = NCOLS) -> tuple[np.ndarray, np.ndarray]:
    per_deg = ncols // 360
    row = np.minimum(np.floor((90.0 - lat) * per_deg).astype(np.int64), nrows - 1)
    col = np.minimum(np.floor((lon + 180.0) * per_deg).astype(np.int64), ncols - 1)
    return np.maximum(row, 0), np.maximum(col, 0)


def sigma_of(pop: np.ndarray) -> np.ndarray:
    return np.clip(0.5 * np.sqrt(pop / SIGMA_POP_SCALE), SIGMA_MIN, SIGMA_MAX)


def spread(row: np.ndarray, col: np.ndarray, pop: np.ndarray, nrows: int = NROWS,
           ncols: int = NCOLS) -> np.ndarray:
    """float64 (nrows, ncols) grid of the mass-preserving truncated-Gaussian spread (vectorised)."""
    pop = np.asarray(pop, dtype=np.float64)
    sigma = sigma_of(pop)
    half = np.floor(CUT_SIGMAS * sigma).astype(np.int64)
    total = np.zeros(nrows * ncols, dtype=np.float64)
    for k in np.unique(half):
        idx = np.nonzero(half == k)[0]
        d = np.arange(-k, k + 1)
        dy, dx = (a.ravel() for a in np.meshgrid(d, d, indexing="ij"))
        r2 = (dy * dy + dx * dx).astype(np.float64)
        s = sigma[idx][:, None]
        weights = np.exp(-r2[None, :] / (2.0 * s * s))
        rows = row[idx][:, None] + dy[None, :]
        keep = (r2[None, :] <= (CUT_SIGMAS * s) ** 2) & (rows >= 0) & (rows < nrows)
        weights = np.where(keep, weights, 0.0)
        weights /= weights.sum(axis=1, keepdims=True)
        cols = (col[idx][:, None] + dx[None, :]) % ncols
        flat = np.where(keep, rows * ncols + cols, 0)
        total += np.bincount(flat.ravel(), weights=(weights * pop[idx][:, None]).ravel(), minlength=nrows * ncols)
    return total.reshape(nrows, ncols)


def spread_reference(row: list[int], col: list[int], pop: list[float], nrows: int, ncols: int) -> list[list[float]]:
    """Plain-Python reference of `spread` (one city at a time), used by tests on small grids."""
    import math

    grid = [[0.0] * ncols for _ in range(nrows)]
    for r0, c0, p in zip(row, col, pop):
        sigma = min(max(0.5 * math.sqrt(p / SIGMA_POP_SCALE), SIGMA_MIN), SIGMA_MAX)
        k = math.floor(CUT_SIGMAS * sigma)
        cells = []
        for dy in range(-k, k + 1):
            for dx in range(-k, k + 1):
                if dy * dy + dx * dx <= (CUT_SIGMAS * sigma) ** 2 and 0 <= r0 + dy < nrows:
                    cells.append((r0 + dy, (c0 + dx) % ncols, math.exp(-(dy * dy + dx * dx) / (2 * sigma * sigma))))
        norm = sum(w for _, _, w in cells)
        for r, c, w in cells:
            grid[r][c] += p * w / norm
    return grid


def geotiff_bytes(grid32: np.ndarray) -> bytes:
    """The GeoTIFF bytes of a float32 (NROWS, NCOLS) grid, written in memory."""
    from affine import Affine
    from rasterio.io import MemoryFile

    from fraud_assets.reference.proj_guard import ensure_proj_data

    ensure_proj_data()
    profile: dict[str, Any] = {
        "driver": "GTiff", "width": grid32.shape[1], "height": grid32.shape[0], "count": 1, "dtype": "float32",
        "crs": "EPSG:4326", "transform": Affine(CELL_DEG, 0.0, -180.0, 0.0, -CELL_DEG, 90.0), "nodata": None,
        **CREATION_OPTIONS,
    }
    with MemoryFile() as memfile:
        with memfile.open(**profile) as dst:
            dst.write(grid32, 1)
        return bytes(memfile.read())


def check_raster(data: bytes, expected_total: float | None = None) -> dict[str, dict]:
    """The 1B population-raster contract, checked on the GeoTIFF bytes."""
    from affine import Affine
    from rasterio.io import MemoryFile

    from fraud_assets.reference.proj_guard import ensure_proj_data

    ensure_proj_data()
    with MemoryFile(data) as memfile, memfile.open() as ds:
        shape, count, dtypes = (ds.height, ds.width), ds.count, ds.dtypes
        transform, crs, nodata = ds.transform, ds.crs, ds.nodata
        tags = {**ds.tags(), **ds.tags(ns="IMAGE_STRUCTURE")}
        grid = ds.read(1)
    checks: dict[str, dict] = {}
    if shape != (NROWS, NCOLS) or count != 1 or dtypes != ("float32",):
        raise fail(DATASET_ID, "raster_shape", f"shape {shape}, bands {count}, dtypes {dtypes}",
                   [f"expected {(NROWS, NCOLS)} x1 float32"])
    expected = Affine(CELL_DEG, 0.0, -180.0, 0.0, -CELL_DEG, 90.0)
    if transform != expected:
        raise fail(DATASET_ID, "raster_transform", f"transform {tuple(transform)} != {tuple(expected)}")
    if crs is None or crs.to_epsg() != 4326:
        raise fail(DATASET_ID, "raster_crs", f"CRS {crs} is not EPSG:4326")
    if nodata not in (None, 0.0):
        raise fail(DATASET_ID, "raster_nodata", f"nodata {nodata} must be absent or 0")
    stamped = sorted(k for k in tags if "DATETIME" in k.upper())
    if stamped:
        raise fail(DATASET_ID, "raster_no_timestamp", "timestamp tags make bytes non-reproducible", stamped)
    checks["raster_shape"] = passed(height=NROWS, width=NCOLS, dtype="float32", cell_deg=CELL_DEG)
    checks["raster_georef"] = passed(epsg=4326, transform=list(tuple(transform))[:6], nodata=nodata)
    finite = np.isfinite(grid)
    if not finite.all() or (grid < 0).any():
        bad = np.argwhere(~finite | (grid < 0))[:10]
        raise fail(DATASET_ID, "raster_values", "values must be finite and >= 0",
                   [f"row={r},col={c}" for r, c in bad])
    raster_total = float(grid.sum(dtype=np.float64))
    figures = {"raster_total": raster_total, "max_cell": float(grid.max()),
               "nonzero_cells": int(np.count_nonzero(grid))}
    if expected_total is not None:
        rel = abs(raster_total - expected_total) / expected_total
        if rel > MASS_RTOL:
            raise fail(DATASET_ID, "raster_mass", f"raster holds {raster_total}, cities {expected_total} "
                       f"(relative error {rel:.3g} > {MASS_RTOL})")
        figures.update(cities_total=expected_total, relative_error=rel)
    checks["raster_values"] = passed(**figures)
    return checks


def build(inputs: Mapping[str, pl.DataFrame]) -> Built:
    cities = inputs["cities"].filter(pl.col("population") > 0).sort("geonameid")
    if cities.is_empty():
        raise fail(DATASET_ID, "cities", "no city with population > 0")
    row, col = cell_of(cities["lat_deg"].to_numpy(), cities["lon_deg"].to_numpy())
    pop = cities["population"].to_numpy().astype(np.float64)
    grid = spread(row, col, pop)
    data = geotiff_bytes(grid.astype(np.float32))
    checks = check_raster(data, expected_total=float(pop.sum()))
    checks["deposits"] = passed(cities=cities.height, float64_total=float(grid.sum()))
    return Built(data=data, checks=checks, row_count=None,
                 extra={"raster": {"height": NROWS, "width": NCOLS, "cell_deg": CELL_DEG, "crs": "EPSG:4326",
                                   "origin": [-180.0, 90.0], "dtype": "float32", "creation_options":
                                   {k: str(v) for k, v in CREATION_OPTIONS.items()}}})
