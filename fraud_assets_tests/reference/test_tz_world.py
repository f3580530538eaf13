"""tz_world: the 2A contract, and the fast ring decoder equals timezonefinder's public get_geometry."""

from __future__ import annotations

import polars as pl
import pytest
import shapely

from fraud_assets.core.errors import EngineFailure
from fraud_assets.reference import catalog
from fraud_assets.reference import tz_world as tzw


@pytest.fixture(scope="module")
def frame(built_reference_root) -> pl.DataFrame:
    return catalog.load(built_reference_root, "tz_world")


def test_contract(frame, built_reference_root):
    assert frame.schema == pl.Schema(tzw.SCHEMA)
    assert frame.select(["tzid", "part_id"]).equals(frame.select(["tzid", "part_id"]).sort(["tzid", "part_id"]))
    assert frame["tzid"].n_unique() >= 400
    etc = frame.filter(pl.col("tzid").str.starts_with("Etc/"))
    assert not etc["is_civil"].any() and frame.filter(~pl.col("tzid").str.starts_with("Etc/"))["is_civil"].all()
    parts = frame.group_by("tzid").agg(pl.col("part_id").sort()).rows()
    assert all(ids == list(range(len(ids))) for _, ids in parts)
    sample = frame.filter(pl.col("tzid") == "Europe/Berlin")
    geom = shapely.from_wkb(sample["geometry"][0])
    assert geom.geom_type == "Polygon" and geom.is_valid
    assert geom.bounds == pytest.approx(sample.select("min_lon_deg", "min_lat_deg", "max_lon_deg",
                                                      "max_lat_deg").row(0))
    assert shapely.get_num_coordinates(geom) == sample["n_vertices"][0]
    prov = catalog.provenance(built_reference_root, "tz_world")
    assert prov["data_version"] and prov["checks"]["tzid_loads"]["passed"]


def test_fast_decoder_equals_public_get_geometry():
    finder = tzw._finder()
    try:
        names = finder.timezone_names
        zone_ids = [names.index(t) for t in ("Europe/Andorra", "Pacific/Wallis", "Europe/Vatican", "Etc/GMT+12")]
        fast = dict(tzw.iter_polygons(finder))
        for zone_id in zone_ids:
            public = tzw.geometry_via_public_api(finder, zone_id)
            mine = fast[names[zone_id]]
            assert len(public) == len(mine)
            assert all(a.equals_exact(b, tolerance=0.0) for a, b in zip(public, mine))
    finally:
        finder.cleanup()


def test_unknown_tzid_and_invalid_part_are_refused(frame):
    renamed = frame.head(3).with_columns(tzid=pl.lit("Mars/Olympus_Mons"))
    renamed = renamed.with_columns(part_id=pl.int_range(3, dtype=pl.Int32))
    with pytest.raises(EngineFailure) as err:
        tzw.check(renamed)
    assert err.value.keys == ["Mars/Olympus_Mons"]
    bowtie = shapely.Polygon([(0, 0), (2, 2), (2, 0), (0, 2), (0, 0)])
    bad = frame.head(1).with_columns(geometry=pl.lit(shapely.to_wkb(bowtie)))
    with pytest.raises(EngineFailure) as err:
        tzw.check(bad)
    assert "geometry_valid" in str(err.value)


def test_invalid_polygon_is_repaired_into_parts():
    bowtie = shapely.Polygon([(0, 0), (2, 2), (2, 0), (0, 2), (0, 0)])
    ok = shapely.box(10, 10, 11, 11)
    out, figures = tzw.assemble(iter([("Etc/UTC", [ok, bowtie])]))
    assert figures["made_valid"] == 1 and out["part_id"].to_list() == [0, 1, 2]
    assert all(shapely.from_wkb(g).is_valid for g in out["geometry"])
