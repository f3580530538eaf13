"""2A S4: exactly the DST gaps and folds tzdb says exist (compared with zoneinfo directly), and the checks."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from fraud_assets.engine.seg_2a import catalogue, common
from fraud_assets.engine.seg_2a import datasets as ds
from fraud_assets.engine.seg_2a import s4_legality as s4
from fraud_assets.engine.state import StateResult
from fraud_assets_tests.engine.seg_2a.conftest import (
    make_ctx,
    make_world,
    merchants_for,
    run_chain,
    run_checks,
    sites_frame,
)

SITES = [(900, "FR", 1, 48.8566, 2.3522), (900, "FR", 2, 45.764, 4.8357), (901, "GB", 1, 51.5074, -0.1278),
         (902, "US", 1, 40.7128, -74.006), (903, "AU", 1, -31.5553, 159.0821), (904, "IN", 1, 28.6139, 77.209),
         (905, "CL", 1, -33.4489, -70.6693), (906, "NZ", 1, -36.8485, 174.7633)]


def ts(*args) -> int:  # noqa: ANN002
    return int(datetime(*args, tzinfo=timezone.utc).timestamp())


@pytest.fixture(scope="module", params=["tiny", "small"])
def chain(request, refs, config):
    sites = sites_frame(SITES)
    ctx = make_ctx(make_world(request.param), config)
    data, results = run_chain(refs, sites, merchants_for(sites), ctx, upto="S4")
    return request.param, data, results, ctx


def zoneinfo_windows(tzid: str, w0: int, w1: int, h0: int, h1: int) -> set[tuple]:
    """Gaps and folds straight from zoneinfo: 15-minute scan, bisection to the second."""
    zone = common.load_zone(tzid)

    def off(t: int) -> int:
        return int(datetime.fromtimestamp(t, zone).utcoffset().total_seconds())

    found = set()
    t = w0
    while t < w1:
        nxt = min(t + 900, w1)
        if off(t) != off(nxt):
            lo, hi = t, nxt
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if off(mid) == off(t) else (lo, mid)
            before, after = off(t), off(hi)
            kind = "gap" if after > before else "fold"
            start, end = (hi + before, hi + after) if kind == "gap" else (hi + after, hi + before)
            found.add((tzid, kind, hi, start, end, after - before, h0 <= hi < h1))
        t = nxt
    return found


def test_windows_are_exactly_zoneinfos(chain):
    preset, data, _, ctx = chain
    tt = ctx.config.timetable
    w0, w1 = common.window_s(ctx.world.preset, tt.pre_pad_days, tt.post_pad_days)
    h0, h1 = common.horizon_s(ctx.world.preset)
    win = data[ds.S4_TZ_WINDOWS]
    got = set(win.select("tzid", "kind", "utc_instant_s", "local_start_s", "local_end_s", "delta_s",
                         "in_horizon").rows())
    used = sorted(set(data[ds.SITE_TIMEZONES].get_column("tzid").to_list()))
    expected = set().union(*(zoneinfo_windows(t, w0, w1, h0, h1) for t in used))
    assert got == expected
    in_h = {(r[0], r[1]) for r in got if r[6]}
    if preset == "tiny":   # EU spring-forward 2026-03-29 01:00Z
        assert in_h == {("Europe/Paris", "gap"), ("Europe/London", "gap")}
        assert ("Europe/Paris", "gap", ts(2026, 3, 29, 1)) in {r[:3] for r in got}
    else:                  # US 2026-03-08 07:00Z
        assert in_h == {("America/New_York", "gap")}
    assert set(win.get_column("sites_using").to_list()) >= {1}
    assert win.filter(pl.col("tzid") == "Europe/Paris").get_column("sites_using").unique().to_list() == [2]


def test_gap_and_fold_times_behave_as_zoneinfo_says(chain):
    _, data, _, _ = chain
    for tzid, kind, a, b in data[ds.S4_TZ_WINDOWS].select("tzid", "kind", "local_start_s", "local_end_s").rows():
        zone = common.load_zone(tzid)
        naive = datetime(1970, 1, 1) + timedelta(seconds=(a + b) // 2)
        there = naive.replace(tzinfo=zone)
        if kind == "gap":   # a gap time does not survive the round trip
            assert there.astimezone(timezone.utc).astimezone(zone).replace(tzinfo=None) != naive
        else:               # a fold time has two instants
            assert there.replace(fold=0).timestamp() != there.replace(fold=1).timestamp()


def test_legality_report(chain):
    preset, data, results, _ = chain
    rep = results["S4"].outputs[ds.S4_LEGALITY_REPORT]
    assert rep["status"] == "PASS" and rep["crosscheck_mismatches"] == 0 and rep["crosscheck_probes"] > 100
    assert rep["sites_total"] == len(SITES) and rep["tzids_used"] == 7 and rep["missing_tzids"] == []
    assert rep["sites_exposed_to_transitions"] == (3 if preset == "tiny" else 1)
    assert rep["gap_windows_in_horizon"] == (2 if preset == "tiny" else 1) and rep["fold_windows_in_horizon"] == 0


def test_all_checks_pass(chain):
    _, data, results, ctx = chain
    outcomes = run_checks(catalogue.S4, results["S4"], data, ctx)
    assert len(outcomes) == 3 and all(o.passed for o in outcomes.values())


def test_missing_tzid_and_window_and_mismatch_codes(chain):
    _, data, results, ctx = chain
    no_ny = {**data, ds.TZ_TIMETABLE: data[ds.TZ_TIMETABLE].filter(pl.col("tzid") != "America/New_York")}
    assert not run_checks(catalogue.S4, results["S4"], no_ny, ctx)[s4.CODE_TZID_MISSING].passed
    flipped = results["S4"].outputs[ds.S4_TZ_WINDOWS].with_columns(pl.lit("fold").alias("kind"))
    bad = StateResult(outputs={**results["S4"].outputs, ds.S4_TZ_WINDOWS: flipped})
    out = run_checks(catalogue.S4, bad, data, ctx)[s4.CODE_WINDOW_INVALID]
    assert not out.passed and out.evidence["code"] == "2A-S4-061"
    report = dict(results["S4"].outputs[ds.S4_LEGALITY_REPORT], crosscheck_mismatches=1,
                  first_mismatches=[["Europe/Paris", "gap", 0]])
    bad = StateResult(outputs={**results["S4"].outputs, ds.S4_LEGALITY_REPORT: report})
    assert not run_checks(catalogue.S4, bad, data, ctx)[s4.CODE_CIVIL_TIME_MISMATCH].passed


def test_a_wrong_timetable_is_caught_by_the_crosscheck(chain):
    _, data, _, ctx = chain
    tt = data[ds.TZ_TIMETABLE]
    shifted = tt.with_columns(pl.when(pl.col("tzid") == "Asia/Kolkata").then(pl.col("offset_s") + 60)
                              .otherwise(pl.col("offset_s")).alias("offset_s"))
    res = catalogue.S4.run({ds.SITE_TIMEZONES: data[ds.SITE_TIMEZONES], ds.TZ_TIMETABLE: shifted}, ctx)
    rep = res.outputs[ds.S4_LEGALITY_REPORT]
    assert rep["status"] == "FAIL" and rep["crosscheck_mismatches"] > 0
