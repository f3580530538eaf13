"""tzdb_zone_tab: zone.tab rows, ISO 6709 coordinates, row order within a country."""

from __future__ import annotations

import polars as pl
import pytest

from fraud_assets.core.errors import EngineFailure
from fraud_assets.reference import catalog
from fraud_assets.reference import tzdb_zone_tab as zt

TAB = """# comment
US\t+404251-0740023\tAmerica/New_York\tEastern (most areas)
US\t+415100-0873900\tAmerica/Chicago\tCentral (most areas)
NA\t-2234+01706\tAfrica/Windhoek
"""


def test_iso6709():
    assert zt.iso6709_to_degrees("+4230+00131") == pytest.approx((42.5, 1 + 31 / 60))
    assert zt.iso6709_to_degrees("-690022+0393524") == pytest.approx((-(69 + 22 / 3600), 39 + 35 / 60 + 24 / 3600))
    with pytest.raises(ValueError):
        zt.iso6709_to_degrees("4230+00131")


def test_parse_literal():
    frame = zt.parse_tab(TAB, "tzdb_zone_tab")
    assert frame.select("country_iso", "tzid", "row_order").rows() == [
        ("NA", "Africa/Windhoek", 0), ("US", "America/New_York", 0), ("US", "America/Chicago", 1)]
    assert frame["comment"].to_list() == [None, "Eastern (most areas)", "Central (most areas)"]
    assert frame.schema == pl.Schema(zt.SCHEMA)


def test_published(built_reference_root):
    frame = catalog.load(built_reference_root, "tzdb_zone_tab")
    us = frame.filter(pl.col("country_iso") == "US").sort("row_order")
    assert us["tzid"][0] == "America/New_York" and us["row_order"].to_list() == list(range(us.height))
    assert frame.filter(pl.col("country_iso") == "NA")["tzid"].to_list() == ["Africa/Windhoek"]


def test_unknown_tzid_fails(built_reference_root):
    canonical = catalog.load(built_reference_root, "iso3166_canonical")
    bad = zt.parse_tab("DE\t+5230+01322\tEurope/Atlantis\n", "tzdb_zone_tab")
    with pytest.raises(EngineFailure) as err:
        zt.check_tab("tzdb_zone_tab", bad, canonical)
    assert err.value.keys == ["Europe/Atlantis"]
