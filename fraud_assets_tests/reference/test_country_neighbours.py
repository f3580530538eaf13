"""country_neighbours: symmetric land borders without self pairs."""

from __future__ import annotations

import polars as pl

from fraud_assets.reference import catalog
from fraud_assets.reference import country_neighbours as cn


def test_literal_symmetric_and_filtered():
    geonames = {"AA": {"neighbours": "BB,AA"}, "BB": {"neighbours": ""}, "CS": {"neighbours": "AA"}}
    frame, figures = cn.assemble(geonames, {"AA", "BB"})
    assert frame.rows() == [("AA", "BB"), ("BB", "AA")]
    assert figures == {"non_canonical_codes_dropped": ["CS"]}


def test_published(built_reference_root):
    frame = catalog.load(built_reference_root, "country_neighbours")
    pairs = set(frame.rows())
    assert all((b, a) in pairs for a, b in pairs)
    assert ("NA", "ZA") in pairs and ("FR", "DE") in pairs
    assert frame.filter(pl.col("country_iso") == pl.col("neighbour_iso")).is_empty()
