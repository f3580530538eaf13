"""tzdb_links: the L lines of tzdata.zi."""

from __future__ import annotations

import polars as pl

from fraud_assets.reference import catalog
from fraud_assets.reference import tzdb_links as tl


def test_parse_literal():
    frame = tl.parse_links("# version\nZ Europe/Berlin 0:53:28 - LMT 1893 Ap\nL Europe/Berlin Arctic/Longyearbyen\n"
                           "L Asia/Kolkata Asia/Calcutta\n")
    assert frame.rows() == [("Arctic/Longyearbyen", "Europe/Berlin"), ("Asia/Calcutta", "Asia/Kolkata")]


def test_published(built_reference_root):
    frame = catalog.load(built_reference_root, "tzdb_links")
    assert frame.schema == pl.Schema(tl.SCHEMA)
    assert frame.filter(pl.col("link_name") == "US/Eastern")["target"].to_list() == ["America/New_York"]
    assert frame["link_name"].is_sorted() and frame["link_name"].is_unique().all()
