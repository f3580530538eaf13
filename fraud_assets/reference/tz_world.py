"""`tz_world`: time-zone polygons, one row per polygon part (ARCHITECTURE §9, spec 2A "tz_world contract").

Built from `timezonefinder` + `timezonefinder-data`: for each zone id of
`TimezoneFinder().timezone_names`, each boundary polygon with its holes →
`shapely.Polygon(shell, holes)`; `make_valid` only if invalid (count recorded;
a repaired part that falls apart into several polygons keeps them as
consecutive parts); `is_civil = not tzid.startswith("Etc/")`. Columns `tzid,
part_id, is_civil, geometry (WKB Polygon), min_lon_deg, min_lat_deg, max_lon_deg,
max_lat_deg, n_vertices` (every coordinate of shell and holes, closing points
included), sorted `(tzid, part_id)`. Provenance `{timezonefinder,
timezonefinder_data, data_version}`.

Rings are decoded straight from the finder's polygon arrays (`coords_of`, the
same decoder `get_geometry` uses, then `int · 1e-7` as its `int2coord`), which
takes ~2 s instead of ~70 s through `get_geometry(coords_as_pairs=True)`'s
per-vertex Python tuples; `geometry_via_public_api` keeps the public path, and
a test pins both to the same coordinates. Intake fails if any tzid does not load
in `zoneinfo` from the tzdata wheel.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np
import polars as pl
import shapely
from shapely.geometry import Polygon

from fraud_assets.reference.intake import (
    Built,
    Source,
    check_unique,
    fail,
    package_version,
    passed,
    unloadable_tzids,
)
from fraud_assets.reference.world_countries import polygon_parts

DATASET_ID = "tz_world"
RECIPE_VERSION = 1
DEPENDS: tuple[str, ...] = ()
SOURCES = (
    Source("timezonefinder", "timezonefinder"),
    Source("timezonefinder-data", "timezonefinder_data", "data"),
)
TOOLCHAIN = ("polars", "shapely", "numpy")
SCHEMA = {
    "tzid": pl.String, "part_id": pl.Int32, "is_civil": pl.Boolean, "geometry": pl.Binary,
    "min_lon_deg": pl.Float64, "min_lat_deg": pl.Float64, "max_lon_deg": pl.Float64, "max_lat_deg": pl.Float64,
    "n_vertices": pl.Int32,
}
SORT = ("tzid", "part_id")
INT2COORD = 1e-7  # timezonefinder.configs.INT2COORD_FACTOR


def _finder():  # noqa: ANN202 - timezonefinder.TimezoneFinder
    from timezonefinder import TimezoneFinder

    return TimezoneFinder(in_memory=True)


def _ring(coords: np.ndarray) -> np.ndarray:
    """(2, n) int coordinates -> (n, 2) float degrees, as timezonefinder's int2coord."""
    return np.ascontiguousarray(coords.T).astype(np.float64) * INT2COORD


def iter_polygons(finder) -> Iterator[tuple[str, list[Polygon]]]:  # noqa: ANN001
    """(tzid, boundary polygons with holes) for every zone id, in zone-id order."""
    names = finder.timezone_names
    for zone_id, tzid in enumerate(names):
        polygons = []
        for boundary_id in finder._iter_boundary_ids_of_zone(zone_id):  # noqa: SLF001
            shell = _ring(finder.coords_of(boundary_id))
            holes = [_ring(h) for h in finder._holes_of_poly(boundary_id)]  # noqa: SLF001
            polygons.append(Polygon(shell, holes))
        yield tzid, polygons


def geometry_via_public_api(finder, zone_id: int) -> list[Polygon]:  # noqa: ANN001
    """The same polygons through `get_geometry(..., coords_as_pairs=True)` (slow; used by tests)."""
    return [Polygon(rings[0], rings[1:]) for rings in
            finder.get_geometry(tz_id=zone_id, use_id=True, coords_as_pairs=True)]


def assemble(zones: Iterator[tuple[str, list[Polygon]]]) -> tuple[pl.DataFrame, dict]:
    raw_tzids: list[str] = []
    raw_geoms: list[Polygon] = []
    n_zones = 0
    for tzid, polygons in zones:
        n_zones += 1
        raw_tzids.extend([tzid] * len(polygons))
        raw_geoms.extend(polygons)
    valid = shapely.is_valid(np.array(raw_geoms, dtype=object)) if raw_geoms else np.array([], dtype=bool)
    tzids: list[str] = []
    part_ids: list[int] = []
    geoms: list[Polygon] = []
    repaired: list[str] = []
    part = 0
    for i, (tzid, polygon) in enumerate(zip(raw_tzids, raw_geoms)):
        if i == 0 or raw_tzids[i - 1] != tzid:
            part = 0
        pieces = [polygon]
        if not valid[i]:
            repaired.append(tzid)
            pieces = polygon_parts(shapely.make_valid(polygon))
        for piece in pieces:
            tzids.append(tzid)
            part_ids.append(part)
            geoms.append(piece)
            part += 1
    array = np.array(geoms, dtype=object)
    bounds = shapely.bounds(array) if len(array) else np.empty((0, 4))
    frame = pl.DataFrame({
        "tzid": tzids, "part_id": part_ids,
        "is_civil": [not t.startswith("Etc/") for t in tzids],
        "geometry": list(shapely.to_wkb(array, byte_order=1, output_dimension=2, include_srid=False)),
        "min_lon_deg": bounds[:, 0], "min_lat_deg": bounds[:, 1],
        "max_lon_deg": bounds[:, 2], "max_lat_deg": bounds[:, 3],
        "n_vertices": shapely.get_num_coordinates(array),
    }, schema=SCHEMA).sort(list(SORT))
    figures = {
        "zones": n_zones, "etc_zones": len({t for t in tzids if t.startswith("Etc/")}),
        "parts": frame.height, "holes": int(shapely.get_num_interior_rings(array).sum()) if len(array) else 0,
        "vertices": int(frame["n_vertices"].sum()), "made_valid": len(repaired),
        "made_valid_tzids": sorted(set(repaired)),
    }
    return frame, figures


def check(frame: pl.DataFrame) -> dict[str, dict]:
    if frame.is_empty():
        raise fail(DATASET_ID, "non_empty", "no polygons")
    checks = {"primary_key": check_unique(DATASET_ID, frame, ["tzid", "part_id"])}
    geoms = shapely.from_wkb(frame["geometry"].to_numpy())
    keys = list(zip(frame["tzid"], frame["part_id"]))
    not_poly = [k for k, g in zip(keys, geoms) if g is None or g.geom_type != "Polygon" or g.is_empty]
    if not_poly:
        raise fail(DATASET_ID, "geometry_valid", "every part must be a non-empty Polygon", not_poly)
    invalid = [k for k, ok in zip(keys, shapely.is_valid(geoms)) if not ok]
    if invalid:
        raise fail(DATASET_ID, "geometry_valid", "invalid polygon parts", invalid)
    out = frame.filter((pl.col("min_lon_deg") < -180) | (pl.col("max_lon_deg") > 180)
                       | (pl.col("min_lat_deg") < -90) | (pl.col("max_lat_deg") > 90))
    if out.height:
        raise fail(DATASET_ID, "geometry_valid", "parts outside the WGS84 domain",
                   list(zip(out["tzid"], out["part_id"])))
    checks["geometry_valid"] = passed(parts=frame.height)
    bad = unloadable_tzids(frame["tzid"].unique().to_list())
    if bad:
        raise fail(DATASET_ID, "tzid_loads", "tzids that zoneinfo cannot load from the tzdata wheel", bad)
    checks["tzid_loads"] = passed(tzids=frame["tzid"].n_unique(), civil=frame.filter("is_civil")["tzid"].n_unique())
    return checks


def build(inputs: Mapping[str, pl.DataFrame]) -> Built:
    finder = _finder()
    try:
        frame, figures = assemble(iter_polygons(finder))
        data_version = finder.data_version
    finally:
        finder.cleanup()
    checks = check(frame)
    checks["intake"] = passed(**figures)
    extra = {"timezonefinder": package_version("timezonefinder"),
             "timezonefinder_data": package_version("timezonefinder-data"), "data_version": data_version}
    return Built(frame=frame, checks=checks, extra=extra)
