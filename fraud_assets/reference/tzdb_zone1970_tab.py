"""`tzdb_zone1970_tab`: tzdata's `zone1970.tab`, one row per country listed on each line.

Same columns as `tzdb_zone_tab`; `row_order` is the 0-based file order within each
listed country (2A's `Z(c)` ranks zones by it: north Vietnam is `Asia/Bangkok`,
listed under VN here).
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from fraud_assets.reference.intake import Built, Source, package_file
from fraud_assets.reference.tzdb_zone_tab import SCHEMA, SORT, check_tab, parse_tab

DATASET_ID = "tzdb_zone1970_tab"
RECIPE_VERSION = 1
DEPENDS = ("iso3166_canonical",)
SOURCES = (Source("tzdata", "tzdata", "zoneinfo/zone1970.tab"),)
TOOLCHAIN = ("polars",)
__all__ = ["SCHEMA", "SORT", "build"]


def build(inputs: Mapping[str, pl.DataFrame]) -> Built:
    text = package_file("tzdata", "zoneinfo/zone1970.tab").read_text(encoding="utf-8")
    frame = parse_tab(text, DATASET_ID)
    return Built(frame=frame, checks=check_tab(DATASET_ID, frame, inputs["iso3166_canonical"]))
