"""1B S1 — tile index (deterministic, seed-free) (spec/engine/1B.md, section "S1 — Tile index").

For every country of `world_countries` except `exclude_iso` (AQ): validate the geometry
(`1B-S1-001 GEO_INVALID`, `1B-S1-002 GEO_ANTIMERIDIAN`; no runtime repair), take the
candidate tiles of each polygon *part*'s bounds (never the country's overall bounds:
Russia's and Fiji's span the globe), keep tiles whose box the country intersects,
`land_fraction = area(country ∩ box) / area(box)` in degree² (1.0 for boxes the
country contains properly, no intersection computed), drop tiles below
`min_land_fraction` (keeping the max-fraction tile if that empties a country; no
intersecting tile → `1B-S1-003 ZERO_TILES`), authalic pixel areas
(`land_area_m2 ≤ 0` → `1B-S1-006 AREA_NONPOS`), clip box = bounds of the intersection.
Vectorised shapely 2 per country. No RNG.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

import numpy as np
import polars as pl
import shapely
from shapely.geometry.base import BaseGeometry

from fraud_assets.core.errors import EngineFailure
from fraud_assets.engine.seg_1b import datasets as ds
from fraud_assets.engine.seg_1b.common import key_list, missing_output, outcome
from fraud_assets.engine.seg_1b.config import TileGrid
from fraud_assets.engine.seg_1b.grid import (
    CODE_GEO_ANTIMERIDIAN,
    CODE_GEO_INVALID,
    Grid,
    country_geometries,
    grid_from_frame,
    polygon_parts,
    raise_geometry_problems,
    validation_problems,
)
from fraud_assets.engine.state import CheckOutcome, StateContext, StateResult

CODE_ZERO_TILES = "1B-S1-003"
CODE_AREA_NONPOS = "1B-S1-006"
CHECK_GEO_VALID = "geo_valid"
CHECK_GEO_ANTIMERIDIAN = "geo_antimeridian"
CHECK_ZERO_TILES = "zero_tiles"
CHECK_AREA_NONPOS = "area_nonpos"
PROGRESS_EVERY = 25  # countries between progress log lines (counts, not a clock: no state reads one)

log = logging.getLogger(__name__)


def candidate_tiles(geom: BaseGeometry, grid: Grid) -> np.ndarray:
    """Sorted unique tile ids covering the bounds of every polygon part of `geom`."""
    ids = []
    for part in polygon_parts(geom):
        minx, miny, maxx, maxy = part.bounds
        c0 = max(0, math.floor((minx + 180.0) * grid.tpd))
        c1 = min(grid.ncols, math.ceil((maxx + 180.0) * grid.tpd))
        r0 = max(0, math.floor((90.0 - maxy) * grid.tpd))
        r1 = min(grid.nrows, math.ceil((90.0 - miny) * grid.tpd))
        if c1 <= c0 or r1 <= r0:
            continue
        rows, cols = np.meshgrid(np.arange(r0, r1, dtype=np.int64), np.arange(c0, c1, dtype=np.int64), indexing="ij")
        ids.append((rows * grid.ncols + cols).ravel())
    if not ids:
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.concatenate(ids))


def country_tiles(iso: str, geom: BaseGeometry, grid: Grid, min_land_fraction: float) -> dict[str, np.ndarray]:
    """The kept tiles of one country: ids, rows, cols, land fractions and clip boxes."""
    ids = candidate_tiles(geom, grid)
    row, col = grid.row_col(ids)
    minx, miny, maxx, maxy = grid.bounds(row, col)
    boxes = shapely.box(minx, miny, maxx, maxy)
    hit = shapely.intersects(geom, boxes)
    if not hit.any():
        raise EngineFailure(CODE_ZERO_TILES, "country intersects no tile", dataset=ds.TILE_INDEX, keys=[iso])
    ids, row, col, boxes = ids[hit], row[hit], col[hit], boxes[hit]
    minx, miny, maxx, maxy = minx[hit], miny[hit], maxx[hit], maxy[hit]
    inside = shapely.contains_properly(geom, boxes)
    frac = np.ones(ids.shape[0], dtype=np.float64)
    clip = np.stack([minx, miny, maxx, maxy], axis=1)
    edge = ~inside
    if edge.any():
        inter = shapely.intersection(geom, boxes[edge])
        frac[edge] = shapely.area(inter) / shapely.area(boxes[edge])
        clip[edge] = shapely.bounds(inter)
    keep = frac >= min_land_fraction
    if not keep.any():
        keep = np.zeros_like(keep)
        keep[int(np.argmax(frac))] = True  # first max in tile_id order
    return {"tile_id": ids[keep], "row": row[keep], "col": col[keep], "land_fraction": frac[keep],
            "clip": clip[keep], "boundary": int(edge[keep].sum()), "dropped": int((~keep).sum()),
            "kept_max": bool(not (frac >= min_land_fraction).any())}


def build_tiles(world_countries: pl.DataFrame, grid: Grid, cfg: TileGrid) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    problems = validation_problems(world_countries, cfg.exclude_iso)
    raise_geometry_problems(problems)
    isos = sorted(set(world_countries.get_column("country_iso").to_list()) - set(cfg.exclude_iso))
    geoms = country_geometries(world_countries, isos)
    index_parts, bounds_parts = [], []
    boundary = dropped = 0
    kept_max: list[str] = []
    area_table = grid.pixel_area_m2(np.arange(grid.nrows))
    rows = 0
    for done, iso in enumerate(isos, start=1):
        t = country_tiles(iso, geoms[iso], grid, cfg.min_land_fraction)
        rows += t["tile_id"].shape[0]
        if done % PROGRESS_EVERY == 0 or done == len(isos):
            log.info("1B S1 tile index (tpd %d): %d/%d countries, %d tiles", grid.tpd, done, len(isos), rows)
        boundary += t["boundary"]
        dropped += t["dropped"]
        if t["kept_max"]:
            kept_max.append(iso)
        n = t["tile_id"].shape[0]
        lat_c, lon_c = grid.centroid(t["row"], t["col"])
        minx, miny, maxx, maxy = grid.bounds(t["row"], t["col"])
        pixel = area_table[t["row"]]
        index_parts.append(pl.DataFrame({
            "country_iso": [iso] * n, "tile_id": t["tile_id"].astype(np.uint64), "tile_row": t["row"],
            "tile_col": t["col"], "centroid_lat_deg": lat_c, "centroid_lon_deg": lon_c,
            "land_fraction": t["land_fraction"], "pixel_area_m2": pixel,
            "land_area_m2": t["land_fraction"] * pixel, "inclusion_rule": [cfg.inclusion_rule] * n,
        }))
        clip = t["clip"]
        bounds_parts.append(pl.DataFrame({
            "country_iso": [iso] * n, "tile_id": t["tile_id"].astype(np.uint64),
            "min_lat_deg": miny, "max_lat_deg": maxy, "min_lon_deg": minx, "max_lon_deg": maxx,
            "centroid_lat_deg": lat_c, "centroid_lon_deg": lon_c,
            "clip_min_lat_deg": clip[:, 1], "clip_max_lat_deg": clip[:, 3],
            "clip_min_lon_deg": clip[:, 0], "clip_max_lon_deg": clip[:, 2],
        }))
    index = ds.conform(pl.concat(index_parts), ds.TILE_INDEX)
    bounds = ds.conform(pl.concat(bounds_parts), ds.TILE_BOUNDS)
    nonpos = index.filter(pl.col("land_area_m2") <= 0.0)
    if nonpos.height:
        raise EngineFailure(CODE_AREA_NONPOS, f"{nonpos.height} tiles with land_area_m2 <= 0", dataset=ds.TILE_INDEX,
                            keys=key_list(nonpos, list(ds.TILE_KEY)))
    synthetic = set(world_countries.filter(pl.col("synthetic")).get_column("country_iso").to_list()) \
        if "synthetic" in world_countries.columns else set()
    per = index.group_by("country_iso").len()
    report = {
        "tiles_per_degree": grid.tpd, "rows": index.height, "countries": len(isos),
        "synthetic_countries": len(synthetic & set(isos)), "boundary_tiles": boundary,
        "dropped_below_min_land_fraction": dropped, "kept_max_fraction_tile": kept_max,
        "tiles_per_country_median": float(per.get_column("len").median()),
        "tiles_per_country_max": int(per.get_column("len").max()),
        "excluded": sorted(cfg.exclude_iso),
    }
    return index, bounds, report


def run(inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> StateResult:
    grid = grid_from_frame(inputs[ds.S0_TILE_GRID])
    index, bounds, report = build_tiles(inputs[ds.REF_COUNTRIES], grid, ctx.config.tile_grid)
    return StateResult(outputs={ds.TILE_INDEX: index, ds.TILE_BOUNDS: bounds}, report=report)


# ---- checks ---------------------------------------------------------------------------------------


def _problems(inputs: Mapping[str, pl.DataFrame], ctx: StateContext, code: str) -> list[str]:
    found = validation_problems(inputs[ds.REF_COUNTRIES], ctx.config.tile_grid.exclude_iso)
    return sorted(iso for iso, ps in found.items() if any(c == code for c, _ in ps))


def check_geo_valid(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    """1B-S1-001: every non-excluded geometry parses, is non-empty, valid and inside the globe."""
    bad = _problems(inputs, ctx, CODE_GEO_INVALID)
    return outcome(CODE_GEO_INVALID, bad, inputs[ds.REF_COUNTRIES].height)


def check_geo_antimeridian(result: StateResult, inputs: Mapping[str, pl.DataFrame],
                           ctx: StateContext) -> CheckOutcome:
    """1B-S1-002: every polygon part inside [−180, 180] and ≤ 180° wide; no tile wider than one grid step."""
    bad = _problems(inputs, ctx, CODE_GEO_ANTIMERIDIAN)
    tb = result.outputs.get(ds.TILE_BOUNDS)
    if tb is None:
        return missing_output(CODE_GEO_ANTIMERIDIAN, ds.TILE_BOUNDS)
    grid = grid_from_frame(inputs[ds.S0_TILE_GRID])
    wide = tb.filter((pl.col("max_lon_deg") - pl.col("min_lon_deg") > 1.0 / grid.tpd + 1e-12)
                     | (pl.col("min_lon_deg") < -180.0) | (pl.col("max_lon_deg") > 180.0))
    bad += [f"tile {k}" for k in key_list(wide, list(ds.TILE_KEY))]
    return outcome(CODE_GEO_ANTIMERIDIAN, bad, inputs[ds.REF_COUNTRIES].height, wide_tiles=wide.height)


def check_zero_tiles(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    """1B-S1-003: every non-excluded country has ≥ 1 tile; tile_index and tile_bounds share their keys."""
    ti, tb = result.outputs.get(ds.TILE_INDEX), result.outputs.get(ds.TILE_BOUNDS)
    if ti is None or tb is None:
        return missing_output(CODE_ZERO_TILES, ds.TILE_INDEX)
    wanted = set(inputs[ds.REF_COUNTRIES].get_column("country_iso").to_list()) - set(ctx.config.tile_grid.exclude_iso)
    have = set(ti.get_column("country_iso").to_list())
    bad = sorted(wanted - have) + sorted(f"excluded {c}" for c in have & set(ctx.config.tile_grid.exclude_iso))
    if not ti.select(ds.TILE_KEY).equals(tb.select(ds.TILE_KEY)):
        bad.append("tile_index and tile_bounds keys differ")
    dup = ti.select(ds.TILE_KEY).is_duplicated().sum()
    if dup:
        bad.append(f"{dup} duplicated (country_iso, tile_id)")
    return outcome(CODE_ZERO_TILES, bad, len(wanted), rows=ti.height)


def check_area_nonpos(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    """1B-S1-006: land_area_m2 > 0, pixel_area_m2 > 0, land_fraction ∈ (0, 1]."""
    ti = result.outputs.get(ds.TILE_INDEX)
    if ti is None:
        return missing_output(CODE_AREA_NONPOS, ds.TILE_INDEX)
    bad = ti.filter((pl.col("land_area_m2") <= 0.0) | (pl.col("pixel_area_m2") <= 0.0)
                    | (pl.col("land_fraction") <= 0.0) | (pl.col("land_fraction") > 1.0)
                    | ~pl.col("land_area_m2").is_finite())
    return outcome(CODE_AREA_NONPOS, key_list(bad, list(ds.TILE_KEY)), ti.height)
