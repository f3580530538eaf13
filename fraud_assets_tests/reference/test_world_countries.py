"""world_countries: ISO repair of -99 features, synthetic boxes, geometry law, coverage."""

from __future__ import annotations

import polars as pl
import pytest
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, box

from fraud_assets.core.errors import E_REFERENCE_INVALID, EngineFailure
from fraud_assets.reference import catalog
from fraud_assets.reference import world_countries as wc


@pytest.fixture(scope="module")
def world(built_reference_root) -> pl.DataFrame:
    return catalog.load(built_reference_root, "world_countries")


@pytest.fixture(scope="module")
def inputs(built_reference_root) -> dict[str, pl.DataFrame]:
    return {d: catalog.load(built_reference_root, d) for d in wc.DEPENDS}


def geometry_of(world: pl.DataFrame, code: str):
    return shapely.from_wkb(world.filter(pl.col("country_iso") == code)["geometry"][0])


@pytest.mark.parametrize(("code", "lon", "lat"), [
    ("FR", 2.35, 48.85),  # Paris
    ("NO", 10.75, 59.91),  # Oslo
    ("CY", 33.9, 35.3),  # northern Cyprus, merged into CY
    ("CY", 33.04, 34.68),  # Limassol
    ("SO", 44.06, 9.56),  # Hargeisa (Somaliland), merged into SO
    ("SO", 45.34, 2.04),  # Mogadishu
    ("XK", 21.17, 42.67),  # Pristina
])
def test_minus_99_features_get_their_iso2(world, code, lon, lat):
    geom = geometry_of(world, code)
    assert geom.contains(Point(lon, lat))
    row = world.filter(pl.col("country_iso") == code).row(0, named=True)
    assert row["synthetic"] is False


def test_minus_99_names_map_and_unknown_names_fail(inputs):
    ne = pl.DataFrame({"name": ["France", "Kosovo", "Germany", "N. Cyprus"],
                       "iso_a3": ["-99", "-99", "DEU", "-99"]})
    assert wc.assign_iso2(ne, inputs["iso3166_canonical"]) == ["FR", "XK", "DE", "CY"]
    with pytest.raises(EngineFailure) as err:
        wc.assign_iso2(pl.DataFrame({"name": ["Atlantis"], "iso_a3": ["-99"]}), inputs["iso3166_canonical"])
    assert err.value.code == E_REFERENCE_INVALID and err.value.keys == ["Atlantis/-99"]


def test_natural_earth_source_is_the_pyogrio_fixture():
    ne = wc.read_natural_earth()
    assert ne.height == 177
    assert set(ne.filter(pl.col("iso_a3") == "-99")["name"]) == set(wc.NAME_FIXUPS)


@pytest.mark.parametrize("code", ["SG", "HK", "MT", "BH"])
def test_uncovered_iso_codes_get_a_synthetic_box_at_their_capital(world, inputs, code):
    row = world.filter(pl.col("country_iso") == code).row(0, named=True)
    assert row["synthetic"] is True and row["gdp_md_est"] is None and row["pop_est"] > 0
    geom = geometry_of(world, code)
    minx, miny, maxx, maxy = geom.bounds
    assert maxx - minx == pytest.approx(0.5) and maxy - miny == pytest.approx(0.5)
    capital = inputs["cities"].filter((pl.col("country_iso") == code) & pl.col("is_capital")).row(0, named=True)
    assert geom.centroid.distance(Point(capital["lon_deg"], capital["lat_deg"])) < 1e-9
    assert geom.contains(Point(row["rep_lon_deg"], row["rep_lat_deg"]))


def test_full_iso_coverage_and_namibia(world, inputs):
    canonical = inputs["iso3166_canonical"]
    assert sorted(world["country_iso"]) == sorted(canonical["country_iso"])
    assert world["country_iso"].null_count() == 0
    na = world.filter(pl.col("country_iso") == "NA").row(0, named=True)
    assert na["name"] == "Namibia" and na["synthetic"] is False
    with pytest.raises(EngineFailure) as err:
        wc.check(world.filter(pl.col("country_iso") != "SG"), canonical)
    assert err.value.keys == ["SG"] and "iso_coverage" in str(err.value)


def test_geometry_law_holds_everywhere(world):
    assert wc.check_geometries(world)["passed"]
    aq = geometry_of(world, "AQ")
    assert aq.is_valid and len(aq.geoms) > 1
    assert all(p.bounds[2] - p.bounds[0] <= 180 for p in aq.geoms)
    ru = geometry_of(world, "RU")
    assert all(-180 <= p.bounds[0] and p.bounds[2] <= 180 for p in ru.geoms)


def test_invalid_geometry_is_repaired():
    bowtie = Polygon([(0, 0), (2, 2), (2, 0), (0, 2), (0, 0)])
    assert not bowtie.is_valid
    multi, repaired, split = wc.normalise_geometry(bowtie, "ZZ")
    assert repaired and not split and multi.is_valid and isinstance(multi, MultiPolygon)
    assert multi.area == pytest.approx(2.0)


def test_geometry_without_area_is_refused_with_its_country():
    sliver = Polygon([(0, 0), (1, 1), (2, 2), (0, 0)])
    with pytest.raises(EngineFailure) as err:
        wc.normalise_geometry(sliver, "ZZ")
    assert err.value.code == E_REFERENCE_INVALID and err.value.keys == ["ZZ"]
    assert err.value.dataset == "world_countries" and "geometry_valid" in str(err.value)


def test_injected_invalid_natural_earth_geometry_is_repaired_at_intake(inputs):
    ne = wc.read_natural_earth()
    bowtie = Polygon([(20.5, 42.2), (21.5, 43.2), (21.5, 42.2), (20.5, 43.2), (20.5, 42.2)])
    ne = ne.with_columns(geometry=pl.when(pl.col("name") == "Kosovo")
                         .then(pl.lit(shapely.to_wkb(bowtie))).otherwise(pl.col("geometry")))
    frame, figures = wc.assemble(ne, inputs["iso3166_canonical"], inputs["cities"], inputs["tzdb_zone_tab"],
                                 wc.read_geonames_countries())
    assert figures["made_valid"] == ["XK"]
    assert wc.check(frame, inputs["iso3166_canonical"])["geometry_valid"]["passed"]


def test_invalid_wkb_in_a_frame_is_refused(world):
    bowtie = MultiPolygon([Polygon([(0, 0), (2, 2), (2, 0), (0, 2), (0, 0)])])
    tampered = world.with_columns(geometry=pl.when(pl.col("country_iso") == "DE")
                                  .then(pl.lit(shapely.to_wkb(bowtie))).otherwise(pl.col("geometry")))
    with pytest.raises(EngineFailure) as err:
        wc.check_geometries(tampered)
    assert err.value.keys == ["DE"]


def test_antimeridian_crossing_parts_are_split_and_shifted():
    parts = wc.split_part(box(179.9, -1.0, 180.3, 1.0))
    bounds = sorted(p.bounds for p in parts)
    assert bounds == [pytest.approx((-180.0, -1.0, -179.7, 1.0)), pytest.approx((179.9, -1.0, 180.0, 1.0))]
    multi, _, split = wc.normalise_geometry(box(179.9, -1.0, 180.3, 1.0), "ZZ")
    assert split and multi.is_valid
    crossing = pl.DataFrame({"country_iso": ["ZZ"], "geometry": [shapely.to_wkb(MultiPolygon([box(179, 0, 181, 1)]))]})
    with pytest.raises(EngineFailure) as err:
        wc.check_geometries(crossing)
    assert "antimeridian" in str(err.value) and err.value.keys == ["ZZ"]


def test_float_noise_past_180_is_snapped():
    (part,) = wc.split_part(box(178.7, 70.8, 180.00000000000006, 71.5))
    assert part.bounds[2] == 180.0


def test_box_centre_fallbacks(inputs):
    assert wc.box_centre("SG", inputs["cities"], inputs["tzdb_zone_tab"])[2] == "capital"
    assert wc.box_centre("PW", inputs["cities"], inputs["tzdb_zone_tab"])[2] == "largest_city"
    assert wc.box_centre("UM", inputs["cities"], inputs["tzdb_zone_tab"])[2] == "zone_tab"
    assert wc.box_centre("BV", inputs["cities"], inputs["tzdb_zone_tab"])[2] == "fixup"
    with pytest.raises(EngineFailure):
        wc.box_centre("ZZ", inputs["cities"], inputs["tzdb_zone_tab"])
