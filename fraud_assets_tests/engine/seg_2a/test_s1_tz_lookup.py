"""2A S1: the lookup on real borders, overrides, the run report, and one tampered frame per check code."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from fraud_assets.engine.common import tz_resolve as tr
from fraud_assets.engine.seg_2a import catalogue
from fraud_assets.engine.seg_2a import datasets as ds
from fraud_assets.engine.seg_2a import s1_tz_lookup as s1
from fraud_assets.engine.seg_2a.realism import run_report
from fraud_assets_tests.engine.seg_2a.conftest import (
    make_ctx,
    make_world,
    merchants_for,
    run_chain,
    run_checks,
    sites_frame,
    with_config,
)


def _row(lookup: pl.DataFrame, m: int, c: str, s: int = 1) -> dict:
    return lookup.filter((pl.col("merchant_id") == m) & (pl.col("legal_country_iso") == c)
                         & (pl.col("site_order") == s)).row(0, named=True)


@pytest.fixture(scope="module")
def lookup(tiny_chain) -> pl.DataFrame:
    return tiny_chain[0][ds.S1_TZ_LOOKUP]


def test_every_border_site_gets_exactly_one_civil_tzid(lookup, border_sites, tiny_chain):
    assert lookup.height == border_sites.height
    assert lookup.get_column("tzid_provisional").null_count() == 0
    civil = set(tiny_chain[0][ds.S0_TZ_WORLD_SUMMARY].filter(pl.col("is_civil")).get_column("tzid").to_list())
    assert set(lookup.get_column("tzid_provisional").to_list()) <= civil
    assert lookup.select(ds.KEY).equals(border_sites.select(ds.KEY).sort(ds.KEY))


@pytest.mark.parametrize(("key", "tzid", "resolution", "in_country"), [
    ((114, "VN"), "Asia/Bangkok", "polygon", True),          # in_country through zone1970.tab
    ((115, "UA"), "Europe/Kyiv", "polygon", True),
    ((116, "DE"), "Europe/Busingen", "polygon", True),
    ((105, "PT"), "Europe/Lisbon", "nearest_polygon", True),  # offshore: only Etc/GMT+1 covers it
    ((110, "PS"), "Asia/Hebron", "country_tiebreak", True),   # the Hebron ∩ Jerusalem overlap
    ((110, "IL"), "Asia/Jerusalem", "country_tiebreak", True),
    ((109, "DE"), "Europe/Berlin", "nudge", True),            # exactly on the Berlin/Warsaw border
    ((111, "TG"), "Africa/Lome", "country_snap", True),       # inside Ghana's polygon, 3 km out
    ((112, "FR"), "America/Cayenne", "polygon_foreign", False),
    ((106, "FJ"), "Pacific/Fiji", "polygon", True),
    ((107, "KI"), "Pacific/Kiritimati", "polygon", True),
    ((122, "XK"), "Europe/Belgrade", "polygon", True),
    ((120, "AU"), "Australia/Lord_Howe", "polygon", True),
])
def test_golden_points(lookup, key, tzid, resolution, in_country):
    r = _row(lookup, *key)
    assert (r["tzid_provisional"], r["resolution"], r["in_country"]) == (tzid, resolution, in_country)


def test_offshore_point_is_a_listed_fallback_exception(lookup, config):
    r = _row(lookup, 105, "PT")
    assert r["candidate_count"] == 0 and r["fallback_exception"]
    assert 20_000 < r["fallback_distance_m"] < 40_000
    report = run_report(lookup, config.validation.max_listed_exceptions)
    listed = {tuple(e["key"]): e for e in report["exceptions"]}
    assert (105, "PT", 1) in listed and listed[(105, "PT", 1)]["tzid"] == "Europe/Lisbon"
    assert report["exceptions_count"] == lookup.filter(pl.col("fallback_exception")).height
    assert report["per_country"]["PT"]["fallbacks"] >= 1


def test_border_set_walks_every_rung_and_the_report_lists_each_fallback(lookup, config):
    assert set(lookup.get_column("resolution").to_list()) == set(tr.RESOLUTIONS) - {"override"}
    report = run_report(lookup, config.validation.max_listed_exceptions)
    listed = {tuple(f["key"]): f["resolution"] for f in report["fallback_sites"]}
    fallbacks = lookup.filter(pl.col("resolution").is_in(list(tr.FALLBACK_RESOLUTIONS)))
    assert listed == {tuple(k): r for *k, r in fallbacks.select(*ds.KEY, "resolution").rows()}
    assert report["fallbacks"] == fallbacks.height >= 3
    assert sum(report["resolutions"].values()) == lookup.height


def test_snap_records_its_distance(lookup):
    r = _row(lookup, 111, "TG")
    assert 2_000 < r["fallback_distance_m"] < 5_000 and not r["fallback_exception"]


def test_nudge_wraps_and_clamps(lookup):
    pole = _row(lookup, 113, "NO")
    assert (pole["nudge_lat_deg"], pole["nudge_lon_deg"]) == (90.0, 0.002)
    sea = _row(lookup, 106, "FJ", 3)  # lon = 180 → lon' = wrap(180.002) = −179.998
    assert sea["nudge_lat_deg"] == pytest.approx(-19.998) and sea["nudge_lon_deg"] == pytest.approx(-179.998)
    assert sea["tzid_provisional"] == "Pacific/Fiji"


def test_the_same_point_in_two_countries_follows_each_country(lookup):
    assert _row(lookup, 101, "US")["tzid_provisional"] in {"America/Chicago", "America/Denver"}
    assert _row(lookup, 101, "CA")["tzid_provisional"] in {"America/Winnipeg", "America/Regina"}
    assert _row(lookup, 103, "ES")["tzid_provisional"] == "Europe/Madrid"
    assert _row(lookup, 103, "PT")["tzid_provisional"] == "Europe/Lisbon"
    assert _row(lookup, 104, "CN")["tzid_provisional"] == "Asia/Shanghai"
    assert _row(lookup, 104, "RU")["tzid_provisional"] == "Asia/Vladivostok"


def test_antimeridian_sites(lookup):
    assert _row(lookup, 108, "RU", 1)["tzid_provisional"] == "Asia/Anadyr"
    assert _row(lookup, 108, "RU", 2)["tzid_provisional"] == "Asia/Anadyr"
    assert _row(lookup, 107, "KI", 2)["tzid_provisional"] == "Pacific/Tarawa"


def test_all_checks_pass_on_the_chain(tiny_chain):
    data, results, ctx = tiny_chain
    outcomes = run_checks(catalogue.S1, results["S1"], data, ctx)
    assert set(outcomes) == {s1.CODE_COVERAGE, s1.CODE_PK, s1.CODE_NULL_TZID, s1.CODE_UNKNOWN_TZID,
                             s1.CODE_NUDGE_PAIR, s1.CODE_RESOLUTION_INVALID}
    assert all(o.passed for o in outcomes.values()), {k: o.evidence for k, o in outcomes.items() if not o.passed}


def _tampered(tiny_chain, frame: pl.DataFrame, code: str):
    data, results, ctx = tiny_chain
    spec = catalogue.S1
    res = type(results["S1"])(outputs={ds.S1_TZ_LOOKUP: frame})
    check = next(c for c in spec.checks if c.code == code)
    return check.fn(res, {k: data[k] for k in spec.reads}, ctx)


@pytest.mark.parametrize(("code", "tamper"), [
    (s1.CODE_COVERAGE, lambda f: f.head(f.height - 1)),
    (s1.CODE_PK, lambda f: pl.concat([f, f.head(1)])),
    (s1.CODE_NULL_TZID, lambda f: f.with_columns(pl.when(pl.col("merchant_id") == 117).then(None)
                                                 .otherwise(pl.col("tzid_provisional")).alias("tzid_provisional"))),
    (s1.CODE_UNKNOWN_TZID, lambda f: f.with_columns(pl.lit("Etc/GMT+1").alias("tzid_provisional"))),
    (s1.CODE_NUDGE_PAIR, lambda f: f.with_columns(pl.when(pl.col("merchant_id") == 113).then(None)
                                                  .otherwise(pl.col("nudge_lon_deg")).alias("nudge_lon_deg"))),
    (s1.CODE_RESOLUTION_INVALID, lambda f: f.with_columns(pl.lit("override").alias("override_scope"))),
])
def test_each_check_fails_on_a_tampered_frame(tiny_chain, code, tamper):
    out = _tampered(tiny_chain, tamper(tiny_chain[0][ds.S1_TZ_LOOKUP]), code)
    assert not out.passed and out.evidence["code"] == code and out.evidence["first_keys"]


# ---- overrides ------------------------------------------------------------------------------------

OVERLAP = (31.947185499999996, 35.224610337028935)  # unresolved after the nudge: reaches step 4


def _override_lookup(refs, config, rows, overrides, *, preset="tiny", mcc=5411):
    cfg = with_config(config, tz_overrides={"overrides": overrides})
    sites = sites_frame(rows)
    ctx = make_ctx(make_world(preset), cfg)
    data, _ = run_chain(refs, sites, merchants_for(sites, mcc), ctx, upto="S2")
    return data[ds.S1_TZ_LOOKUP], data[ds.SITE_TIMEZONES], data


def _ov(scope, target, tzid, applies_to="unresolved", expiry=None):  # noqa: ANN001, ANN202
    return {"scope": scope, "target": target, "tzid": tzid, "applies_to": applies_to, "expiry": expiry,
            "notes": "test"}


@pytest.mark.parametrize(("overrides", "tzid", "scope"), [
    ([_ov("country", "PS", "Asia/Gaza")], "Asia/Gaza", "country"),
    ([_ov("country", "PS", "Asia/Gaza"), _ov("mcc", "5411", "Asia/Jerusalem")], "Asia/Jerusalem", "mcc"),
    ([_ov("country", "PS", "Asia/Gaza"), _ov("mcc", "5411", "Asia/Jerusalem"),
      _ov("site", "777|PS|1", "Asia/Amman")], "Asia/Amman", "site"),
    ([_ov("site", "778|PS|1", "Asia/Amman")], "Asia/Hebron", None),              # another site: no match
    ([_ov("country", "PS", "Asia/Gaza", expiry="2026-03-26")], "Asia/Hebron", None),  # expired before horizon
    ([_ov("country", "PS", "Asia/Gaza", expiry="2026-03-27")], "Asia/Gaza", "country"),  # expiry = horizon start
])
def test_override_precedence_for_unresolved_sites(refs, config, overrides, tzid, scope):
    lookup, site_tz, _ = _override_lookup(refs, config, [(777, "PS", 1, *OVERLAP)], overrides)
    r = lookup.row(0, named=True)
    assert r["tzid_provisional"] == tzid
    assert r["override_scope"] == scope
    assert r["resolution"] == ("override" if scope else "country_tiebreak")
    if scope:
        assert site_tz.row(0, named=True)["tzid_source"] == "override"


def test_unresolved_overrides_never_touch_resolved_sites(refs, config):
    lookup, _, _ = _override_lookup(refs, config, [(777, "FR", 1, 48.8566, 2.3522)],
                                    [_ov("country", "FR", "Europe/Brussels")])
    assert lookup.row(0, named=True)["tzid_provisional"] == "Europe/Paris"


def test_lookup_is_deterministic_under_shuffle_and_batches(refs, config, resolver, border_sites):
    res = s1.lookup(border_sites, merchants_for(border_sites), resolver, config, date(2026, 3, 27))
    shuffled = s1.lookup(border_sites.sample(fraction=1.0, shuffle=True, seed=3), merchants_for(border_sites),
                         resolver, config, date(2026, 3, 27))
    halves = pl.concat([s1.lookup(part, merchants_for(border_sites), resolver, config, date(2026, 3, 27))
                        for part in (border_sites.head(9), border_sites.tail(border_sites.height - 9))]).sort(ds.KEY)
    assert res.equals(shuffled) and res.equals(halves)


def test_resolutions_are_the_library_vocabulary(lookup):
    assert set(lookup.get_column("resolution").to_list()) <= set(tr.RESOLUTIONS)
