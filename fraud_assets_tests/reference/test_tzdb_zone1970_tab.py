"""tzdb_zone1970_tab: one row per country listed on each line."""

from __future__ import annotations

import polars as pl

from fraud_assets.reference import catalog
from fraud_assets.reference.tzdb_zone_tab import parse_tab


def test_multi_country_lines_expand():
    frame = parse_tab("AE,OM,RE\t+2518+05518\tAsia/Dubai\tCrozet\nRE\t-2052+05528\tIndian/Reunion\n",
                      "tzdb_zone1970_tab")
    assert frame.select("country_iso", "tzid", "row_order").rows() == [
        ("AE", "Asia/Dubai", 0), ("OM", "Asia/Dubai", 0), ("RE", "Asia/Dubai", 0), ("RE", "Indian/Reunion", 1)]


def test_published_north_vietnam_is_bangkok(built_reference_root):
    frame = catalog.load(built_reference_root, "tzdb_zone1970_tab")
    assert "Asia/Bangkok" in frame.filter(pl.col("country_iso") == "VN")["tzid"].to_list()
    assert frame["row_order"].min() == 0
