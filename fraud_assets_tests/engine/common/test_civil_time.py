"""engine.common.civil_time: the UTC ↔ local law over a real 2026 timetable, checked against zoneinfo."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraud_assets.core.errors import EngineFailure
from fraud_assets.engine.common import civil_time as ctm
from fraud_assets.engine.seg_2a import common
from fraud_assets_tests.engine.common.conftest import WINDOW

US = 1_000_000
UTC = timezone.utc


def us(*args) -> int:  # noqa: ANN002
    return int(datetime(*args, tzinfo=UTC).timestamp()) * US


def local_us(*args) -> int:  # noqa: ANN002
    """Naive local wall time as epoch-like microseconds (the library's local representation)."""
    return int((datetime(*args) - datetime(1970, 1, 1)).total_seconds()) * US


def test_new_york_2026_transitions(ct):
    tr = ct.transitions("America/New_York", *ct.window_us)
    assert tr.utc_instant_s.tolist() == [us(2026, 3, 8, 7) // US, us(2026, 11, 1, 6) // US]
    assert tr.offset_before_s.tolist() == [-18000, -14400]
    assert tr.offset_after_s.tolist() == [-14400, -18000]


@pytest.mark.parametrize(("tzid", "instant", "before", "after"), [
    ("Europe/London", (2026, 3, 29, 1), 0, 3600),
    ("Europe/Paris", (2026, 3, 29, 1), 3600, 7200),
    ("Australia/Sydney", (2026, 4, 4, 16), 39600, 36000),
    ("Australia/Lord_Howe", (2026, 4, 4, 15), 39600, 37800),  # the 30-minute DST
    ("America/Sao_Paulo", None, None, None),                   # no DST: no transition at all
])
def test_golden_transitions(ct, tzid, instant, before, after):
    tr = ct.transitions(tzid, *ct.window_us)
    if instant is None:
        assert tr.utc_instant_s.size == 0
        return
    assert us(*instant) // US in tr.utc_instant_s.tolist()
    i = tr.utc_instant_s.tolist().index(us(*instant) // US)
    assert (tr.offset_before_s[i], tr.offset_after_s[i]) == (before, after)


def test_utc_to_local_and_offset_minutes(ct):
    t = np.array([us(2026, 3, 8, 6, 59, 59), us(2026, 3, 8, 7)], dtype=np.int64)
    local, off, dst = ct.utc_to_local(t, "America/New_York")
    assert local.tolist() == [local_us(2026, 3, 8, 1, 59, 59), local_us(2026, 3, 8, 3)]
    assert off.tolist() == [-18000, -14400] and dst.tolist() == [False, True]
    minutes = ct.offset_minutes(np.array([us(2026, 6, 1)] * 2), ["Asia/Kathmandu", "Australia/Lord_Howe"])
    assert minutes.dtype == np.int16 and minutes.tolist() == [345, 630]


def test_gap_shifts_forward_by_default(ct):
    loc = np.array([local_us(2026, 3, 8, 2, 30)], dtype=np.int64)
    res = ct.local_to_utc(loc, "America/New_York")
    assert res.flag.tolist() == [ctm.FLAG_GAP_SHIFTED]
    assert res.ts_utc_us.tolist() == [us(2026, 3, 8, 7, 30)]  # wall clock reads 03:30 EDT
    assert ct.utc_to_local(res.ts_utc_us, "America/New_York").local_us.tolist() == [local_us(2026, 3, 8, 3, 30)]
    with pytest.raises(EngineFailure) as info:
        ct.local_to_utc(loc, "America/New_York", nonexistent="raise")
    assert info.value.code == ctm.CODE_NONEXISTENT


def test_fold_takes_the_earliest_unless_asked(ct):
    loc = np.array([local_us(2026, 11, 1, 1, 30)], dtype=np.int64)
    early = ct.local_to_utc(loc, "America/New_York")
    late = ct.local_to_utc(loc, "America/New_York", ambiguous="latest")
    assert (early.ts_utc_us.tolist(), early.flag.tolist()) == ([us(2026, 11, 1, 5, 30)], [ctm.FLAG_FOLD_EARLIEST])
    assert (late.ts_utc_us.tolist(), late.flag.tolist()) == ([us(2026, 11, 1, 6, 30)], [ctm.FLAG_FOLD_LATEST])
    with pytest.raises(EngineFailure) as info:
        ct.local_to_utc(loc, "America/New_York", ambiguous="raise")
    assert info.value.code == ctm.CODE_AMBIGUOUS


def test_ordinary_local_time_is_ok(ct):
    res = ct.local_to_utc(np.array([local_us(2026, 7, 4, 12)]), "America/New_York")
    assert res.flag.tolist() == [ctm.FLAG_OK] and res.ts_utc_us.tolist() == [us(2026, 7, 4, 16)]


@pytest.mark.parametrize("engine", ["numba", "numpy"])
@pytest.mark.parametrize("call", [
    lambda ct: ct.utc_to_local(np.array([ct.window_us[1]]), "Europe/Paris"),
    lambda ct: ct.utc_to_local(np.array([ct.window_us[0] - 1]), "Europe/Paris"),
    lambda ct: ct.offset_minutes(np.array([ct.window_us[1] + 10**9]), "Europe/Paris"),
    lambda ct: ct.local_to_utc(np.array([ct.window_us[0] - 86_400 * US]), "Europe/Paris"),
    lambda ct: ct.transitions("Europe/Paris", ct.window_us[0] - 1, ct.window_us[1]),
    lambda ct: ct.transitions("Europe/Paris", ct.window_us[0], ct.window_us[1] + 1),
])
def test_outside_the_window_raises(timetable_2026, call, engine):
    with pytest.raises(EngineFailure) as info:
        call(ctm.CivilTime(timetable_2026, engine=engine))
    assert info.value.code == ctm.CODE_OUTSIDE_WINDOW


def test_unknown_tzid_raises(ct):
    with pytest.raises(EngineFailure) as info:
        ct.utc_to_local(np.array([us(2026, 6, 1)]), "Mars/Olympus_Mons")
    assert info.value.code == ctm.CODE_UNKNOWN_TZID
    with pytest.raises(EngineFailure):
        ct.utc_to_local(np.array([us(2026, 6, 1), us(2026, 6, 1)]), ["Europe/Paris", None])


def test_vectorised_equals_scalar_and_codes_equal_strings(ct):
    rng = np.random.default_rng(5)
    n = 400
    t = rng.integers(ct.window_us[0], ct.window_us[1], n)
    names = [ct.tzids[i] for i in rng.integers(0, len(ct.tzids), n)]
    vec = ct.utc_to_local(t, names)
    by_code = ct.utc_to_local(t, ct.codes(names))
    by_series = ct.utc_to_local(pl.Series(t).cast(pl.Datetime("us", "UTC")), pl.Series(names).cast(pl.Categorical))
    for i in range(n):
        one = ct.utc_to_local(t[i:i + 1], names[i])
        assert (vec.local_us[i], vec.offset_s[i], vec.is_dst[i]) == (one.local_us[0], one.offset_s[0], one.is_dst[0])
    for other in (by_code, by_series):
        assert all(np.array_equal(a, b) for a, b in zip(vec, other))
    back = ct.local_to_utc(vec.local_us, names)
    for i in range(0, n, 7):
        one = ct.local_to_utc(vec.local_us[i:i + 1], names[i])
        assert (back.ts_utc_us[i], back.flag[i]) == (one.ts_utc_us[0], one.flag[0])


def test_numba_kernels_equal_the_numpy_reference(ct, timetable_2026):
    ref = ctm.CivilTime(timetable_2026, engine="numpy")
    rng = np.random.default_rng(3)
    n = 50_000
    t = rng.integers(ct.window_us[0], ct.window_us[1], n)
    codes = rng.integers(0, len(ct.tzids), n)
    for a, b in zip(ct.utc_to_local(t, codes), ref.utc_to_local(t, codes)):
        assert np.array_equal(a, b)
    assert np.array_equal(ct.offset_minutes(t, codes), ref.offset_minutes(t, codes))
    assert np.array_equal(ct.utc_to_local(t, "Europe/Paris").local_us, ref.utc_to_local(t, "Europe/Paris").local_us)
    # local times on a 10-minute grid through every 2026 gap and fold of a few zones, plus random ones
    zones = ["America/New_York", "Europe/London", "Australia/Lord_Howe", "America/Santiago", "Pacific/Chatham"]
    grid = np.arange(local_us(2026, 3, 1), local_us(2026, 11, 30), 600 * US)
    for zone in zones:
        for amb in ("earliest", "latest"):
            a, b = ct.local_to_utc(grid, zone, ambiguous=amb), ref.local_to_utc(grid, zone, ambiguous=amb)
            assert np.array_equal(a.ts_utc_us, b.ts_utc_us) and np.array_equal(a.flag, b.flag)
        flags = set(ct.local_to_utc(grid, zone).flag.tolist())
        assert {ctm.FLAG_OK, ctm.FLAG_GAP_SHIFTED, ctm.FLAG_FOLD_EARLIEST} <= flags, zone
    loc = ct.utc_to_local(t, codes).local_us
    a, b = ct.local_to_utc(loc, codes), ref.local_to_utc(loc, codes)
    assert np.array_equal(a.ts_utc_us, b.ts_utc_us) and np.array_equal(a.flag, b.flag)


def test_agrees_with_zoneinfo_on_every_key(ct):
    rng = np.random.default_rng(11)
    for k, tzid in enumerate(ct.tzids):
        t_s = rng.integers(WINDOW[0], WINDOW[1], 12)
        res = ct.utc_to_local(t_s * US, tzid)
        zone = common.load_zone(tzid)
        for ts, loc, off, dst in zip(t_s.tolist(), res.local_us.tolist(), res.offset_s.tolist(), res.is_dst.tolist()):
            d = datetime.fromtimestamp(ts, zone)
            assert off == d.utcoffset().total_seconds(), (tzid, ts)
            assert loc == (ts + off) * US
            assert dst == bool(d.dst()), (tzid, ts)


@settings(max_examples=300, deadline=None)
@given(t=st.integers(WINDOW[0] * US, WINDOW[1] * US - 1), k=st.integers(0, 10**6))
def test_round_trip_utc_local_utc(ct, t, k):
    tzid = ct.tzids[k % len(ct.tzids)]
    local = ct.utc_to_local(np.array([t]), tzid).local_us
    early = ct.local_to_utc(local, tzid, ambiguous="earliest")
    late = ct.local_to_utc(local, tzid, ambiguous="latest")
    assert t in (int(early.ts_utc_us[0]), int(late.ts_utc_us[0]))
    assert early.flag[0] != ctm.FLAG_GAP_SHIFTED  # a local time that was read off a clock exists


@settings(max_examples=200, deadline=None)
@given(minutes=st.integers(0, 24 * 60 * 200), zone=st.sampled_from(
    ["America/New_York", "Europe/London", "Australia/Sydney", "Australia/Lord_Howe", "America/Santiago",
     "Pacific/Auckland", "Asia/Kolkata", "America/Havana"]))
def test_local_to_utc_matches_pep495(ct, minutes, zone):
    naive = datetime(2026, 3, 1) + timedelta(minutes=minutes)
    loc = np.array([int((naive - datetime(1970, 1, 1)).total_seconds()) * US])
    res = ct.local_to_utc(loc, zone)
    z = common.load_zone(zone)
    expected = int(naive.replace(tzinfo=z, fold=0).timestamp()) * US  # fold=0: earlier / pre-transition offset
    assert int(res.ts_utc_us[0]) == expected


def test_serialisation_is_naive(ct):
    local = ct.utc_to_local(np.array([us(2026, 6, 1, 12)]), "Europe/Paris").local_us
    s = ctm.as_naive_datetime(local)
    assert s.dtype == pl.Datetime("us") and s.dtype.time_zone is None
    assert s.to_list() == [datetime(2026, 6, 1, 14)]


def test_a_gappy_timetable_is_refused(timetable_2026):
    broken = timetable_2026.filter(~((pl.col("tzid") == "Europe/Paris") & (pl.col("seq") == 1)))
    with pytest.raises(EngineFailure) as info:
        ctm.CivilTime(broken)
    assert info.value.code == "2A-CT-005"
