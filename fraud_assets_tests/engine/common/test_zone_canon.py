"""engine.common.zone_canon: the tzid → zone law (material, merged, link, foreign), scalar = vectorised."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraud_assets.core.errors import EngineFailure
from fraud_assets.engine.common import zone_canon as zc

UNIVERSE = pl.DataFrame(
    [("US", "America/New_York", True, None, 0.45), ("US", "America/Chicago", True, None, 0.30),
     ("US", "America/Los_Angeles", True, None, 0.20), ("US", "America/Sitka", False, "America/Los_Angeles", 0.03),
     ("US", "America/Detroit", False, "America/New_York", 0.02),
     ("NO", "Europe/Oslo", True, None, 1.0),
     ("UA", "Europe/Kyiv", True, None, 0.95), ("UA", "Europe/Simferopol", True, None, 0.05),
     ("XX", "Etc/A", True, None, 0.4), ("XX", "Etc/B", True, None, 0.2), ("XX", "Etc/C", False, "Etc/B", 0.4)],
    schema={"country_iso": pl.String, "tzid": pl.String, "is_material": pl.Boolean, "merged_into_tzid": pl.String,
            "share_raw": pl.Float64}, orient="row")
LINKS = pl.DataFrame({"link_name": ["US/Eastern", "Europe/Kiev", "Europe/Oslo", "Atlantic/Jan_Mayen"],
                      "target": ["America/New_York", "Europe/Kyiv", "Europe/Berlin", "Europe/Berlin"]})


@pytest.fixture(scope="module")
def canon() -> zc.ZoneCanon:
    return zc.ZoneCanon.build(UNIVERSE, LINKS)


@pytest.mark.parametrize("country, tzid, expected", [
    ("US", "America/Chicago", ("America/Chicago", zc.MATERIAL)),
    ("US", "America/Sitka", ("America/Los_Angeles", zc.MERGED)),
    ("US", "US/Eastern", ("America/New_York", zc.LINK)),          # a link name whose target is a zone
    ("UA", "Europe/Kiev", ("Europe/Kyiv", zc.LINK)),
    ("NO", "Europe/Berlin", ("Europe/Oslo", zc.LINK)),            # the target of a zone that is itself a link
    ("NO", "Atlantic/Jan_Mayen", ("Europe/Oslo", zc.LINK)),       # two links to one target
    ("US", "America/Toronto", ("America/New_York", zc.FOREIGN)),  # a border site: the argmax zone
    ("UA", "Europe/Warsaw", ("Europe/Kyiv", zc.FOREIGN)),
])
def test_zone_of_cases(canon, country, tzid, expected):
    assert canon.zone_of(country, tzid) == expected


def test_argmax_uses_merged_shares_and_zones_are_sorted(canon):
    # XX: Etc/A has the largest raw share (0.4) but Etc/B absorbs Etc/C (0.2 + 0.4)
    assert canon.argmax_zone("XX") == "Etc/B"
    assert canon.zone_of("XX", "Etc/Z") == ("Etc/B", zc.FOREIGN)
    assert canon.zones("US") == ("America/Chicago", "America/Los_Angeles", "America/New_York")
    assert canon.countries == frozenset({"US", "NO", "UA", "XX"})


def test_unknown_country_is_an_error(canon):
    with pytest.raises(EngineFailure) as info:
        canon.zone_of("ZZ", "Europe/Paris")
    assert info.value.code == zc.E_ZONE_COUNTRY_UNKNOWN
    with pytest.raises(EngineFailure):
        canon.map(pl.DataFrame({"legal_country_iso": ["US", "ZZ"], "tzid": ["a", "b"]}))


def test_map_keeps_rows_and_order_and_adds_columns(canon):
    frame = pl.DataFrame({"k": [3, 1, 2, 4], "legal_country_iso": ["NO", "US", "US", "UA"],
                          "tzid": ["Europe/Berlin", "America/Sitka", "Asia/Tokyo", "Europe/Simferopol"]})
    out = canon.map(frame)
    assert out.columns == ["k", "legal_country_iso", "tzid", "zone_tzid", "zone_mapping"]
    assert out.get_column("k").to_list() == [3, 1, 2, 4]
    assert out.select("zone_tzid", "zone_mapping").rows() == [
        ("Europe/Oslo", "link"), ("America/Los_Angeles", "merged"), ("America/New_York", "foreign"),
        ("Europe/Simferopol", "material")]
    assert canon.map(frame.head(0)).columns[-2:] == ["zone_tzid", "zone_mapping"]


def test_lookup_table_packs_universe_and_extras(canon):
    table = canon.lookup_table(["US/Eastern", "Asia/Tokyo"])
    assert table.columns == list(zc.LOOKUP_SCHEMA)
    row = table.filter((pl.col("country_iso") == "US") & (pl.col("tzid") == "US/Eastern")).row(0)
    assert row[2:] == ("America/New_York", "link")
    assert table.filter(pl.col("tzid") == "Asia/Tokyo").height == 4


TZIDS = sorted(set(UNIVERSE.get_column("tzid").to_list()) | set(LINKS.get_column("link_name").to_list())
               | set(LINKS.get_column("target").to_list()) | {"Asia/Tokyo", "America/Toronto"})


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["US", "NO", "UA", "XX"]), st.sampled_from(TZIDS)), max_size=30))
def test_vectorised_equals_scalar(rows):
    canon = zc.ZoneCanon.build(UNIVERSE, LINKS)
    zones, mappings = canon.zone_of_many([c for c, _ in rows], [t for _, t in rows])
    assert list(zip(zones, mappings)) == [canon.zone_of(c, t) for c, t in rows]
    for (c, _), z in zip(rows, zones):
        assert z in canon.zones(c)  # every answer is a material zone of the country


def test_real_reference_universe(built_reference_root):
    from fraud_assets.engine.seg_3a import s2_priors
    from fraud_assets.engine.seg_3a.config import load_config
    from fraud_assets.reference import catalog
    from fraud_assets.settings import config_root

    refs = {f"ref.{i}": catalog.load(built_reference_root, i) for i in
            ("iso3166_canonical", "tzdb_zone_tab", "tzdb_links", "cities", "tz_world", "world_countries")}
    universe, _ = s2_priors.build_priors(refs, load_config(config_root() / "engine" / "3A"))
    canon = zc.build(universe, refs["ref.tzdb_links"])
    assert canon.zone_of("US", "US/Eastern") == ("America/New_York", zc.LINK)
    assert canon.zone_of("UA", "Europe/Kiev") == ("Europe/Kyiv", zc.LINK)
    assert canon.zone_of("US", "America/Sitka")[1] == zc.MERGED
    assert canon.zone_of("DE", "Europe/Busingen") == ("Europe/Berlin", zc.MERGED)  # zone.tab lists it for DE
    assert canon.zone_of("US", "America/Toronto") == (canon.argmax_zone("US"), zc.FOREIGN)
    assert canon.argmax_zone("US") == "America/New_York" and canon.argmax_zone("CN") == "Asia/Shanghai"
    assert len(canon.countries) == refs["ref.iso3166_canonical"].height
