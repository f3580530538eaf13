"""Fixtures for the shared engine libraries: real `tz_world`, zone tabs and a compiled timetable.

`timetable_2026` is 2A S3's compiler run over every tzdata key for a window
holding the 2026 spring and autumn changes of both hemispheres
(2026-02-20 .. 2026-12-01), so civil_time is tested on real tzdata law.
"""

from __future__ import annotations

from datetime import datetime, timezone

import polars as pl
import pytest

from fraud_assets.engine.common import tz_resolve as tr
from fraud_assets.engine.common.civil_time import CivilTime
from fraud_assets.engine.seg_2a import common
from fraud_assets.engine.seg_2a.config import Timetable
from fraud_assets.engine.seg_2a.s3_timetable import compile_timetable
from fraud_assets_tests.reference.conftest import built_reference_root  # noqa: F401

WINDOW = (int(datetime(2026, 2, 20, tzinfo=timezone.utc).timestamp()),
          int(datetime(2026, 12, 1, tzinfo=timezone.utc).timestamp()))
TIMETABLE = Timetable(version="v1", pre_pad_days=7, post_pad_days=60, coarse_step_hours=24, fine_step_hours=1,
                      offset_bounds_minutes=(-900, 900), crosscheck_step_hours=6)


@pytest.fixture(scope="session")
def tz_refs(built_reference_root) -> dict[str, pl.DataFrame]:  # noqa: F811
    from fraud_assets.reference import catalog

    return {i: catalog.load(built_reference_root, i) for i in ("tz_world", "tzdb_zone_tab", "tzdb_zone1970_tab")}


@pytest.fixture(scope="session")
def resolver(tz_refs) -> tr.TzResolver:
    return tr.resolver_for(tz_refs["tz_world"], tz_refs["tzdb_zone_tab"], tz_refs["tzdb_zone1970_tab"],
                           extra_country_zones={"XK": ["Europe/Belgrade"]})


@pytest.fixture(scope="session")
def timetable_2026() -> pl.DataFrame:
    return compile_timetable(list(common.tzif_bytes()), *WINDOW, TIMETABLE)


@pytest.fixture(scope="session")
def ct(timetable_2026) -> CivilTime:
    return CivilTime(timetable_2026)
