"""The 1B tile grid and country geometry (spec/engine/1B.md, "Segment conventions").

Grid: `tpd` tiles per degree; `ncols = 360·tpd`, `nrows = 180·tpd`; tile (row, col)
covers lon `[−180 + col/tpd, −180 + (col+1)/tpd)` and lat `(90 − (row+1)/tpd,
90 − row/tpd]`; `tile_id = row·ncols + col`. Every edge is an integer divided by
`tpd` (never an accumulated float step). Point → tile:
`col = min(⌊(lon+180)·tpd⌋, ncols−1)`, `row = min(⌊(90−lat)·tpd⌋, nrows−1)`; a point
outside lat [−90, 90] or lon [−180, 180] maps to no tile (−1).

Areas: the authalic sphere, `R²·Δλ·(sin φ_top − sin φ_bottom)` (no PROJ). Distances:
haversine on R = 6371.0088 km.

Geometry: `world_countries.geometry` is WKB (EPSG:4326), one MultiPolygon per
country; `validate_country` states the S1 law (`1B-S1-001 GEO_INVALID`,
`1B-S1-002 GEO_ANTIMERIDIAN`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numba
import numpy as np
import polars as pl
import shapely
from shapely.geometry.base import BaseGeometry

from fraud_assets.core.errors import EngineFailure

EARTH_RADIUS_KM = 6371.0088  # haversine (mean radius)
CODE_GRID_INCOMPATIBLE = "1B-S0-002"
CODE_GEO_INVALID = "1B-S1-001"
CODE_GEO_ANTIMERIDIAN = "1B-S1-002"


@dataclass(frozen=True)
class Grid:
    tpd: int
    raster_cells_per_degree: int = 20
    authalic_radius_m: float = 6371007.181

    def __post_init__(self) -> None:
        if self.tpd < 1 or self.raster_cells_per_degree % self.tpd != 0:
            raise EngineFailure(CODE_GRID_INCOMPATIBLE,
                                f"tiles_per_degree {self.tpd} does not divide raster_cells_per_degree "
                                f"{self.raster_cells_per_degree}", keys=[self.tpd])

    @property
    def nrows(self) -> int:
        return 180 * self.tpd

    @property
    def ncols(self) -> int:
        return 360 * self.tpd

    @property
    def factor(self) -> int:
        """Raster cells per tile side (20 / tpd)."""
        return self.raster_cells_per_degree // self.tpd

    # ---- ids ------------------------------------------------------------------------------------

    def tile_id(self, row, col) -> np.ndarray:
        return np.asarray(row, dtype=np.int64) * self.ncols + np.asarray(col, dtype=np.int64)

    def row_col(self, tile_id) -> tuple[np.ndarray, np.ndarray]:
        t = np.asarray(tile_id, dtype=np.int64)
        return t // self.ncols, t % self.ncols

    # ---- edges ----------------------------------------------------------------------------------

    def lon_edge(self, col) -> np.ndarray:
        """Western edge of column `col` (col = ncols gives +180)."""
        return (np.asarray(col, dtype=np.int64) - 180 * self.tpd) / self.tpd

    def lat_edge(self, row) -> np.ndarray:
        """Northern edge of row `row` (row = nrows gives −90)."""
        return (90 * self.tpd - np.asarray(row, dtype=np.int64)) / self.tpd

    def bounds(self, row, col) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(min_lon, min_lat, max_lon, max_lat) of tiles."""
        row = np.asarray(row, dtype=np.int64)
        col = np.asarray(col, dtype=np.int64)
        return self.lon_edge(col), self.lat_edge(row + 1), self.lon_edge(col + 1), self.lat_edge(row)

    def centroid(self, row, col) -> tuple[np.ndarray, np.ndarray]:
        """(lat, lon) of tile centres: ((2·k + 1) − 2·offset·tpd) / (2·tpd)."""
        row = np.asarray(row, dtype=np.int64)
        col = np.asarray(col, dtype=np.int64)
        lat = (180 * self.tpd - (2 * row + 1)) / (2 * self.tpd)
        lon = ((2 * col + 1) - 360 * self.tpd) / (2 * self.tpd)
        return lat, lon

    def pixel_area_m2(self, row) -> np.ndarray:
        """Authalic-sphere area of a tile of row `row` (math.sin per row: portable bits)."""
        r = self.authalic_radius_m
        dlam = math.radians(1.0) / self.tpd
        table = np.array([r * r * dlam * (math.sin(math.radians((90 * self.tpd - k) / self.tpd))
                                          - math.sin(math.radians((90 * self.tpd - k - 1) / self.tpd)))
                          for k in range(self.nrows)], dtype=np.float64)
        return table[np.asarray(row, dtype=np.int64)]

    # ---- point -> tile ----------------------------------------------------------------------------

    def tile_of(self, lat, lon) -> tuple[np.ndarray, np.ndarray]:
        """(row, col) of points; (−1, −1) outside lat [−90, 90] × lon [−180, 180] or non-finite."""
        lat = np.asarray(lat, dtype=np.float64)
        lon = np.asarray(lon, dtype=np.float64)
        ok = np.isfinite(lat) & np.isfinite(lon) & (lat >= -90.0) & (lat <= 90.0) & (lon >= -180.0) & (lon <= 180.0)
        with np.errstate(invalid="ignore"):
            col = np.minimum(np.floor((np.where(ok, lon, 0.0) + 180.0) * self.tpd), self.ncols - 1).astype(np.int64)
            row = np.minimum(np.floor((90.0 - np.where(ok, lat, 0.0)) * self.tpd), self.nrows - 1).astype(np.int64)
        return np.where(ok, row, -1), np.where(ok, col, -1)

    def tile_id_of(self, lat, lon) -> np.ndarray:
        row, col = self.tile_of(lat, lon)
        return np.where(row >= 0, row * self.ncols + col, -1)


@numba.njit(cache=True)
def tile_of_nb(lat, lon, tpd, nrows, ncols):
    """Scalar `Grid.tile_of` for numba kernels: (row, col), (−1, −1) outside the globe."""
    if not (lat >= -90.0 and lat <= 90.0 and lon >= -180.0 and lon <= 180.0):
        return -1, -1
    col = int(math.floor((lon + 180.0) * tpd))
    if col > ncols - 1:
        col = ncols - 1
    row = int(math.floor((90.0 - lat) * tpd))
    if row > nrows - 1:
        row = nrows - 1
    return row, col


def tile_of_py(lat: float, lon: float, tpd: int, nrows: int, ncols: int) -> tuple[int, int]:
    """Plain-Python reference of `tile_of_nb`."""
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        return -1, -1
    return min(int(math.floor((90.0 - lat) * tpd)), nrows - 1), min(int(math.floor((lon + 180.0) * tpd)), ncols - 1)


def grid_from_frame(frame: pl.DataFrame) -> Grid:
    """The Grid of S0's one-row `s0_tile_grid`."""
    if frame.height != 1:
        raise EngineFailure(CODE_GRID_INCOMPATIBLE, f"s0_tile_grid must hold one row, has {frame.height}",
                            dataset="s0_tile_grid")
    row = frame.row(0, named=True)
    return Grid(int(row["tiles_per_degree"]), int(row["raster_cells_per_degree"]), float(row["authalic_radius_m"]))


# ---- haversine --------------------------------------------------------------------------------------


@numba.njit(cache=True)
def haversine_km_nb(lat1, lon1, lat2, lon2):
    p1 = lat1 * (math.pi / 180.0)
    p2 = lat2 * (math.pi / 180.0)
    dp = p2 - p1
    dl = (lon2 - lon1) * (math.pi / 180.0)
    s1 = math.sin(dp * 0.5)
    s2 = math.sin(dl * 0.5)
    a = s1 * s1 + math.cos(p1) * math.cos(p2) * s2 * s2
    if a > 1.0:
        a = 1.0
    return 2.0 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


def haversine_km_py(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Plain-Python reference of `haversine_km_nb` (same operations, same order)."""
    p1 = lat1 * (math.pi / 180.0)
    p2 = lat2 * (math.pi / 180.0)
    dp = p2 - p1
    dl = (lon2 - lon1) * (math.pi / 180.0)
    s1 = math.sin(dp * 0.5)
    s2 = math.sin(dl * 0.5)
    a = s1 * s1 + math.cos(p1) * math.cos(p2) * s2 * s2
    a = min(a, 1.0)
    return 2.0 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


# ---- country geometry ------------------------------------------------------------------------------


def polygon_parts(geom: BaseGeometry) -> list[BaseGeometry]:
    if geom is None or geom.is_empty:
        return []
    if geom.geom_type == "Polygon":
        return [geom]
    if hasattr(geom, "geoms"):
        return [p for g in geom.geoms for p in polygon_parts(g)]
    return []


def parse_geometry(wkb: bytes | None) -> BaseGeometry | None:
    if wkb is None:
        return None
    try:
        return shapely.from_wkb(wkb)
    except (shapely.errors.GEOSException, ValueError, TypeError):
        return None


def validate_country(iso: str, geom: BaseGeometry | None) -> list[tuple[str, str]]:
    """Every violation of the S1 geometry law as (code, reason); empty when the country is usable."""
    if geom is None:
        return [(CODE_GEO_INVALID, "geometry does not parse")]
    if geom.is_empty:
        return [(CODE_GEO_INVALID, "empty geometry")]
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        return [(CODE_GEO_INVALID, f"not polygonal: {geom.geom_type}")]
    problems: list[tuple[str, str]] = []
    if not shapely.is_valid(geom):
        problems.append((CODE_GEO_INVALID, f"invalid: {shapely.is_valid_reason(geom)}"))
    minx, miny, maxx, maxy = geom.bounds
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)) or miny < -90.0 or maxy > 90.0:
        problems.append((CODE_GEO_INVALID, f"bounds outside the globe: {(minx, miny, maxx, maxy)}"))
    for i, part in enumerate(polygon_parts(geom)):
        pminx, _, pmaxx, _ = part.bounds
        if pminx < -180.0 or pmaxx > 180.0:
            problems.append((CODE_GEO_ANTIMERIDIAN, f"part {i} outside [-180, 180]: lon {pminx}..{pmaxx}"))
        elif pmaxx - pminx > 180.0:
            problems.append((CODE_GEO_ANTIMERIDIAN, f"part {i} wider than 180 degrees: lon {pminx}..{pmaxx}"))
    return problems


def country_geometries(world_countries: pl.DataFrame, isos: Iterable[str] | None = None,
                       *, prepare: bool = True) -> dict[str, BaseGeometry]:
    """iso -> geometry (prepared for repeated predicates) for `isos` (all when None)."""
    frame = world_countries.select("country_iso", "geometry").sort("country_iso")
    if isos is not None:
        frame = frame.filter(pl.col("country_iso").is_in(sorted(set(isos))))
    out: dict[str, BaseGeometry] = {}
    for iso, wkb in frame.iter_rows():
        geom = parse_geometry(wkb)
        if geom is None:
            raise EngineFailure(CODE_GEO_INVALID, "geometry does not parse", dataset="world_countries", keys=[iso])
        if prepare:
            shapely.prepare(geom)
        out[iso] = geom
    return out


def validation_problems(world_countries: pl.DataFrame, exclude: Iterable[str]) -> dict[str, list[tuple[str, str]]]:
    """iso -> problems for every non-excluded country of `world_countries` that breaks the law."""
    excluded = set(exclude)
    found: dict[str, list[tuple[str, str]]] = {}
    for iso, wkb in world_countries.select("country_iso", "geometry").sort("country_iso").iter_rows():
        if iso in excluded:
            continue
        problems = validate_country(iso, parse_geometry(wkb))
        if problems:
            found[iso] = problems
    return found


def raise_geometry_problems(problems: Mapping[str, list[tuple[str, str]]]) -> None:
    """Fail closed with the first code (GEO_INVALID before GEO_ANTIMERIDIAN), naming the countries."""
    for code in (CODE_GEO_INVALID, CODE_GEO_ANTIMERIDIAN):
        bad = sorted(iso for iso, ps in problems.items() if any(c == code for c, _ in ps))
        if bad:
            reasons = {iso: [r for c, r in problems[iso] if c == code][:2] for iso in bad[:5]}
            raise EngineFailure(code, f"{len(bad)} countries break the geometry law: {reasons}",
                                dataset="world_countries", keys=bad)
