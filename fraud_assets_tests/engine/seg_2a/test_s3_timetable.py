"""2A S3: the timetable against zoneinfo, the slim-TZif trap, tzdata pinning, one tampered table per code."""

from __future__ import annotations

import struct
import zoneinfo
from datetime import datetime, timezone

import polars as pl
import pytest

from fraud_assets.engine.seg_2a import catalogue, common
from fraud_assets.engine.seg_2a import datasets as ds
from fraud_assets.engine.seg_2a import s3_timetable as s3
from fraud_assets.engine.state import StateResult
from fraud_assets_tests.engine.seg_2a.conftest import as_input, make_ctx, make_world, run_checks


def ts(*args) -> int:  # noqa: ANN002
    return int(datetime(*args, tzinfo=timezone.utc).timestamp())


@pytest.fixture(scope="module")
def small(refs, config):
    """S3 for the small preset (W = [2026-02-23, 2026-05-16)) with S0's outputs as inputs."""
    ctx = make_ctx(make_world("small"), config)
    s0 = catalogue.S0.run({k: refs[k] for k in catalogue.S0.reads}, ctx)
    data = dict(refs)
    data.update({k: as_input(k, v) for k, v in s0.outputs.items()})
    res = catalogue.S3.run({k: data[k] for k in catalogue.S3.reads}, ctx)
    data.update({k: as_input(k, v) for k, v in res.outputs.items()})
    return res, data, ctx


def _segments(frame: pl.DataFrame, tzid: str) -> list[tuple]:
    return frame.filter(pl.col("tzid") == tzid).sort("seq").select(
        "utc_start_s", "offset_s", "dst_s", "abbrev", "delta_prev_s").rows()


def test_window_and_manifest(small):
    res, _, ctx = small
    tt, manifest = res.outputs[ds.TZ_TIMETABLE], res.outputs[ds.TZ_TIMETABLE_MANIFEST]
    w0, w1 = ts(2026, 2, 23), ts(2026, 5, 16)  # [start − 7 d, end + 60 d + 1 d)
    assert (manifest["window_start_s"], manifest["window_end_s"]) == (w0, w1)
    assert manifest["tzid_count"] == len(common.tzif_bytes()) == tt.get_column("tzid").n_unique()
    assert manifest["segment_count"] == tt.height
    assert manifest["tz_index_digest"] == s3.timetable_digest(tt)
    assert (tt.get_column("manifest_fingerprint") == ctx.world.manifest_fingerprint).all()


@pytest.mark.parametrize(("tzid", "start", "offset", "delta"), [
    ("America/New_York", (2026, 3, 8, 7), -14400, 3600),
    ("Europe/London", (2026, 3, 29, 1), 3600, 3600),
    ("Australia/Sydney", (2026, 4, 4, 16), 36000, -3600),
    ("Australia/Lord_Howe", (2026, 4, 4, 15), 37800, -1800),
])
def test_golden_transitions(small, tzid, start, offset, delta):
    segs = _segments(small[0].outputs[ds.TZ_TIMETABLE], tzid)
    assert (ts(*start), offset) in [(s[0], s[1]) for s in segs]
    assert next(s for s in segs if s[0] == ts(*start))[4] == delta


@pytest.mark.parametrize("tzid", ["Asia/Kolkata", "Etc/GMT+5", "UTC"])
def test_fixed_offset_zone_has_one_segment(small, tzid):
    assert len(_segments(small[0].outputs[ds.TZ_TIMETABLE], tzid)) == 1


def test_dst_only_change_is_a_transition():
    """America/Edmonton keeps −6 h on 2026-11-01 but leaves DST (tzdata 2026): Δ = 0, dst 3600 → 0."""
    segs = s3.zone_segments(common.load_zone("America/Edmonton"), ts(2026, 10, 1), ts(2026, 12, 1))
    assert len(segs) == 2, "pyproject pins a tzdata with this change"
    assert (segs[0].offset_s, segs[1].offset_s) == (segs[0].offset_s, segs[0].offset_s)
    assert (segs[0].dst_s, segs[1].dst_s) == (3600, 0)


def test_every_transition_of_every_key_agrees_with_zoneinfo(small):
    tt = small[0].outputs[ds.TZ_TIMETABLE]
    bad, probes = s3.crosscheck_problems(tt)
    assert bad == [] and probes == 2 * tt.filter(pl.col("seq") > 0).height


def test_no_two_transitions_within_an_hour_and_finer_probing_changes_nothing():
    """Over 2026, every key: a 6-hourly / 10-minute probe finds exactly the daily / hourly probe's segments."""
    w0, w1 = ts(2026, 1, 1), ts(2027, 1, 1)
    for key in sorted(common.tzif_bytes()):
        zone = common.load_zone(key)
        coarse = s3.zone_segments(zone, w0, w1)
        fine = s3.zone_segments(zone, w0, w1, coarse_s=6 * 3600, fine_s=600)
        assert coarse == fine, key
        starts = [s.start_s for s in coarse[1:]]
        assert all(b - a >= 3600 for a, b in zip(starts, starts[1:])), key


def _tzif_v2_transitions(data: bytes) -> tuple[list[int], bytes]:
    """Explicit transition times of the 64-bit block and the POSIX footer of a TZif file."""
    def counts(off: int) -> tuple[int, ...]:
        return struct.unpack(">6l", data[off + 20:off + 44])

    isut, isstd, leap, timecnt, typecnt, charcnt = counts(0)
    v1 = 44 + timecnt * 5 + typecnt * 6 + charcnt + leap * 8 + isstd + isut
    isut, isstd, leap, timecnt, typecnt, charcnt = counts(v1)
    start = v1 + 44
    times = list(struct.unpack(f">{timecnt}q", data[start:start + 8 * timecnt]))
    end = start + timecnt * 9 + typecnt * 6 + charcnt + leap * 12 + isstd + isut
    return times, data[end:].strip(b"\n")


def test_slim_tzif_footer_rules_are_applied(small):
    times, footer = _tzif_v2_transitions(common.tzif_bytes()["America/New_York"])
    assert max(times) < ts(2008, 1, 1) and b"M3.2.0" in footer  # the wheel is slim
    segs = _segments(small[0].outputs[ds.TZ_TIMETABLE], "America/New_York")
    assert [s[0] for s in segs[1:]] == [ts(2026, 3, 8, 7)]      # ...yet 2026 DST is in the table


def test_zoneinfo_is_pinned_to_the_tzdata_wheel(tmp_path):
    fake = tmp_path / "zoneinfo" / "America"
    fake.mkdir(parents=True)
    (fake / "New_York").write_bytes(common.tzif_bytes()["UTC"])  # a host file that would erase DST
    previous = zoneinfo.TZPATH
    common.load_zone.cache_clear()
    zoneinfo.ZoneInfo.clear_cache()
    try:
        zoneinfo.reset_tzpath(to=[str(tmp_path / "zoneinfo")])
        assert zoneinfo.ZoneInfo("America/New_York").utcoffset(datetime(2026, 7, 1)).total_seconds() == 0
        segs = s3.zone_segments(common.load_zone("America/New_York"), ts(2026, 3, 1), ts(2026, 4, 1))
        assert [s.offset_s for s in segs] == [-18000, -14400]
    finally:
        zoneinfo.reset_tzpath(to=list(previous))
        zoneinfo.ZoneInfo.clear_cache()
        common.load_zone.cache_clear()


def test_all_checks_pass(small):
    res, data, ctx = small
    outcomes = run_checks(catalogue.S3, res, data, ctx)
    assert len(outcomes) == 7 and all(o.passed for o in outcomes.values()), \
        {k: o.evidence for k, o in outcomes.items() if not o.passed}
    assert outcomes[s3.CODE_HORIZON_INCOMPLETE].evidence["probes"] > 100_000


def _check(code: str, result: StateResult, data, ctx):  # noqa: ANN001, ANN202
    check = next(c for c in catalogue.S3.checks if c.code == code)
    return check.fn(result, {k: data[k] for k in catalogue.S3.reads}, ctx)


def _shift_paris(f: pl.DataFrame) -> pl.DataFrame:
    return f.with_columns(pl.when((pl.col("tzid") == "Europe/Paris") & (pl.col("seq") == 1))
                          .then(pl.col("offset_s") + 3600).otherwise(pl.col("offset_s")).alias("offset_s"))


@pytest.mark.parametrize(("code", "tamper"), [
    (s3.CODE_INDEX_EMPTY, lambda f: f.head(0)),
    (s3.CODE_ORDER_INVALID, lambda f: f.filter(~((pl.col("tzid") == "Europe/Paris") & (pl.col("seq") == 0)))),
    (s3.CODE_OFFSET_RANGE, lambda f: f.with_columns(pl.when(pl.col("tzid") == "UTC").then(30)
                                                    .otherwise(pl.col("offset_s")).alias("offset_s"))),
    (s3.CODE_COVERAGE, lambda f: f.filter(pl.col("tzid") != "Europe/Paris")),
    (s3.CODE_CROSSCHECK, _shift_paris),
    (s3.CODE_HORIZON_INCOMPLETE, _shift_paris),
    (s3.CODE_HORIZON_INCOMPLETE, lambda f: f.filter(~((pl.col("tzid") == "Europe/Paris") & (pl.col("seq") == 1)))),
])
def test_each_check_fails_on_a_tampered_table(small, code, tamper):
    res, data, ctx = small
    bad = StateResult(outputs={ds.TZ_TIMETABLE: tamper(res.outputs[ds.TZ_TIMETABLE]),
                               ds.TZ_TIMETABLE_MANIFEST: res.outputs[ds.TZ_TIMETABLE_MANIFEST]})
    out = _check(code, bad, data, ctx)
    assert not out.passed and out.evidence["code"] == code


def test_digest_check_fails_on_a_wrong_manifest_or_sealed_row(small):
    res, data, ctx = small
    manifest = dict(res.outputs[ds.TZ_TIMETABLE_MANIFEST], tzif_digest="0" * 64)
    bad = StateResult(outputs={ds.TZ_TIMETABLE: res.outputs[ds.TZ_TIMETABLE], ds.TZ_TIMETABLE_MANIFEST: manifest})
    assert not _check(s3.CODE_DIGEST_INVALID, bad, data, ctx).passed
    sealed = data[ds.REF_TZIF_DIGEST].with_columns(pl.lit("0" * 64).alias("tzif_sha256"))
    out = _check(s3.CODE_DIGEST_INVALID, res, {**data, ds.REF_TZIF_DIGEST: sealed}, ctx)
    assert not out.passed and out.evidence["code"] == "2A-S3-013"
