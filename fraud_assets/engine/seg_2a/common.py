"""Small 2A-only helpers: check evidence, zoneinfo pinned to the tzdata wheel, the window.

`load_zones` is the one place 2A turns TZif bytes into `ZoneInfo` objects: the
bytes come from the `tzdata` wheel (`reference.tzif_digest.read_tzif`, which pins
`zoneinfo.reset_tzpath(to=[])`), and zones are built with `ZoneInfo.from_file`
from exactly those bytes, so neither a host `/usr/share/zoneinfo` nor a stale
`ZoneInfo` cache entry can leak in, and the digest S0/S3 check is the digest of
the bytes actually probed.
"""

from __future__ import annotations

import io
import zoneinfo
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from functools import cache

import polars as pl

from fraud_assets.engine.common.checks import (  # noqa: F401 - re-exported
    FIRST_KEYS, jsonable, key_list, missing_output, outcome, tally)

DAY_S = 86_400


# ---- evidence -----------------------------------------------------------------------------------


# ---- zoneinfo from the tzdata wheel -------------------------------------------------------------


@cache
def _tzif() -> Mapping[str, bytes]:
    from fraud_assets.reference.tzif_digest import read_tzif

    return read_tzif()


def tzif_bytes() -> Mapping[str, bytes]:
    """Every `zoneinfo.available_timezones()` key (tzdata wheel only) → its TZif bytes (memoised)."""
    return _tzif()


@cache
def load_zone(key: str) -> zoneinfo.ZoneInfo:
    """`ZoneInfo` built from the tzdata wheel's bytes for `key` (never the host's zoneinfo)."""
    data = tzif_bytes().get(key)
    if data is None:
        raise zoneinfo.ZoneInfoNotFoundError(f"No time zone found with key {key} in the tzdata wheel")
    return zoneinfo.ZoneInfo.from_file(io.BytesIO(data), key=key)


def zone_state(zone: zoneinfo.ZoneInfo, t: int) -> tuple[int, int]:
    """(utcoffset, dst) in whole seconds at UTC epoch second `t`."""
    d = datetime.fromtimestamp(t, zone)
    off = d.utcoffset()
    dst = d.dst()
    return int(off.total_seconds()) if off is not None else 0, int(dst.total_seconds()) if dst is not None else 0


def tzdata_versions() -> dict[str, str]:
    from fraud_assets.reference.tzif_digest import tzdata_versions as versions

    return versions()


# ---- the timetable digest -------------------------------------------------------------------------

TIMETABLE_DIGEST_COLUMNS = ("tzid", "seq", "utc_start_s", "utc_end_s", "offset_s", "dst_s", "is_dst", "abbrev",
                            "delta_prev_s")


def timetable_digest(frame: pl.DataFrame) -> str:
    """`tz_index_digest`: content digest of the table's law columns in (tzid, seq) order (no partition column)."""
    from fraud_assets.core.digest import content_digest

    return content_digest(frame, list(TIMETABLE_DIGEST_COLUMNS), ["tzid", "seq"])


# ---- the horizon and the timetable window -------------------------------------------------------


def epoch_s(value: datetime) -> int:
    return int(value.astimezone(timezone.utc).timestamp())


def horizon_s(preset) -> tuple[int, int]:  # noqa: ANN001 - WorldPreset
    start = preset.horizon_start_utc
    return epoch_s(start), epoch_s(start + timedelta(days=preset.horizon_days))


def window_s(preset, pre_pad_days: int, post_pad_days: int) -> tuple[int, int]:  # noqa: ANN001
    """`W = [horizon_start − pre_pad, horizon_end + post_pad + 1 d)` in epoch seconds."""
    h0, h1 = horizon_s(preset)
    return h0 - pre_pad_days * DAY_S, h1 + (post_pad_days + 1) * DAY_S


def iso_utc(t: int) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def civil_tzids(inputs: Mapping[str, pl.DataFrame]) -> frozenset[str]:
    """TW: from S0's `s0_tz_world_summary`, or from `tz_world` itself when that is what a state read."""
    from fraud_assets.engine.seg_2a import datasets as ds

    if ds.S0_TZ_WORLD_SUMMARY in inputs:
        s = inputs[ds.S0_TZ_WORLD_SUMMARY]
        return frozenset(s.filter(pl.col("is_civil")).get_column("tzid").to_list())
    tw = inputs[ds.REF_TZ_WORLD]
    return frozenset(tw.filter(pl.col("is_civil")).get_column("tzid").unique().to_list())
