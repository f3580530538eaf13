"""2A S2: programme pins, tzid_source, and one tampered frame per check code."""

from __future__ import annotations

import polars as pl
import pytest

from fraud_assets.engine.seg_2a import catalogue
from fraud_assets.engine.seg_2a import datasets as ds
from fraud_assets.engine.seg_2a import s2_site_timezones as s2
from fraud_assets.engine.state import StateResult
from fraud_assets_tests.engine.seg_2a.conftest import (
    make_ctx,
    make_world,
    merchants_for,
    run_chain,
    run_checks,
    sites_frame,
    with_config,
)

SITES = [(500, "FR", 1, 48.8566, 2.3522), (500, "FR", 2, 45.764, 4.8357), (501, "FR", 1, 43.2965, 5.3698),
         (502, "RS", 1, 44.7866, 20.4489), (503, "PT", 1, 38.70, -10.13)]


def _pin(scope, target, tzid, expiry=None):  # noqa: ANN001, ANN202
    return {"scope": scope, "target": target, "tzid": tzid, "applies_to": "always", "expiry": expiry,
            "notes": "programme pin"}


def _chain(refs, config, pins, mcc=None):  # noqa: ANN001, ANN202
    sites = sites_frame(SITES)
    ctx = make_ctx(make_world("tiny"), with_config(config, tz_overrides={"overrides": pins}))
    data, results = run_chain(refs, sites, merchants_for(sites, mcc or {501: 4829}), ctx, upto="S2")
    return data, results, ctx


def test_no_pins_copies_the_provisional_tzid(refs, config):
    data, results, _ = _chain(refs, config, [])
    st, lk = data[ds.SITE_TIMEZONES], data[ds.S1_TZ_LOOKUP]
    assert st.get_column("tzid").to_list() == lk.get_column("tzid_provisional").to_list()
    assert dict(zip(st.get_column("resolution"), st.get_column("tzid_source"))) == {
        "polygon": "polygon", "nearest_polygon": "fallback"}
    assert results["S2"].report["override_pin"] == 0


def test_pin_precedence_and_no_effect_counter(refs, config):
    pins = [_pin("country", "FR", "Europe/Brussels"), _pin("mcc", "4829", "Europe/Madrid"),
            _pin("site", "500|FR|2", "Europe/Paris"),            # equal to the provisional tzid: no effect
            _pin("country", "RS", "Europe/Budapest", expiry="2026-01-01")]  # expired: not active
    data, results, ctx = _chain(refs, config, pins)
    st = data[ds.SITE_TIMEZONES].sort(ds.KEY)
    got = {(r["merchant_id"], r["site_order"]): (r["tzid"], r["override_scope"], r["resolution"], r["in_country"])
           for r in st.iter_rows(named=True)}
    assert got[(500, 1)] == ("Europe/Brussels", "country", "override_pin", False)
    assert got[(500, 2)] == ("Europe/Paris", "site", "override_pin", True)
    assert got[(501, 1)] == ("Europe/Madrid", "mcc", "override_pin", False)
    assert got[(502, 1)][2] == "polygon"
    assert results["S2"].report["override_pin"] == 3 and results["S2"].report["override_no_effect"] == 1
    assert set(st.filter(pl.col("resolution") == "override_pin").get_column("tzid_source")) == {"override"}
    outcomes = run_checks(catalogue.S2, results["S2"], data, ctx)
    assert all(o.passed for o in outcomes.values()), {k: o.evidence for k, o in outcomes.items() if not o.passed}


@pytest.mark.parametrize(("code", "tamper"), [
    (s2.CODE_COVERAGE, lambda f: f.tail(f.height - 1)),
    (s2.CODE_PK, lambda f: pl.concat([f, f.tail(1)])),
    (s2.CODE_NULL_TZID, lambda f: f.with_columns(pl.lit(None, dtype=pl.String).alias("tzid"))),
    (s2.CODE_PROVENANCE, lambda f: f.with_columns(pl.lit("fallback").alias("tzid_source"))),
    (s2.CODE_PROVENANCE, lambda f: f.with_columns(pl.lit("Europe/Oslo").alias("tzid"))),
    (s2.CODE_NUDGE_CARRY, lambda f: f.with_columns(pl.lit(1.0).alias("nudge_lat_deg"))),
    (s2.CODE_NOT_IN_TZ_WORLD, lambda f: f.with_columns(pl.lit("Etc/GMT-3").alias("tzid"))),
])
def test_each_check_fails_on_a_tampered_frame(tiny_chain, code, tamper):
    data, results, ctx = tiny_chain
    res = StateResult(outputs={ds.SITE_TIMEZONES: tamper(data[ds.SITE_TIMEZONES])})
    out = run_checks(catalogue.S2, res, data, ctx)[code]
    assert not out.passed and out.evidence["code"] == code


def test_all_checks_pass_on_the_chain(tiny_chain):
    data, results, ctx = tiny_chain
    outcomes = run_checks(catalogue.S2, results["S2"], data, ctx)
    assert len(outcomes) == 6 and all(o.passed for o in outcomes.values())
