"""2A S5: the bundle over the chain, tamper detection, realism metrics and gates, the plot."""

from __future__ import annotations

import polars as pl
import pytest

from fraud_assets.core import gates
from fraud_assets.engine.seg_2a import catalogue, realism
from fraud_assets.engine.seg_2a import datasets as ds
from fraud_assets.engine.seg_2a import s5_validation as s5
from fraud_assets_tests.engine.seg_2a.conftest import make_ctx, make_world, run_checks


def _run_s5(data, ctx, **replace):  # noqa: ANN001, ANN202
    inputs = {k: data[k] for k in catalogue.S5.reads}
    inputs.update(replace)
    return catalogue.S5.run(inputs, ctx), inputs


def test_bundle_passes_on_the_chain(tiny_chain):
    data, results, ctx = tiny_chain
    res = results["S5"]
    docs = res.bundle
    failed = [n for n, d in docs.items() if d.get("passed") is False]
    assert failed == [], {n: docs[n] for n in failed}
    for spec in catalogue.STATES[:-1]:
        assert f"evidence/replay_{spec.asset_name}.json" in docs
        for c in spec.checks:
            assert docs[f"evidence/{c.name}.json"]["code"] == c.code
    for name in ("s1_run_report.json", "s1_exceptions.json", "tz_timetable_manifest.json",
                 "s4_legality_report.json", "realism_2A.json", "egress_checksums.json", "summary.json",
                 "evidence/parity_sites.json", "evidence/timetable_digest.json"):
        assert name in docs
    assert docs["s1_exceptions.json"]["count"] >= 1  # the offshore Lisbon site
    outcomes = run_checks(catalogue.S5, res, data, ctx)
    blocking = {k: o for k, o in outcomes.items() if o.severity == "ERROR"}
    assert all(o.passed for o in blocking.values())
    # the border fixture is all edge cases: its fallback rates fail the gates, reported as a warning at tiny
    real = outcomes[s5.CODE_REALISM]
    assert real.severity == "WARN" and "fallback_exception_rate" in real.evidence["failed_gates"]
    files, passed = gates.build_bundle(docs, {"segment": "2A"})
    assert passed and gates.FLAG in files


def test_a_corrupted_tzid_fails_the_bundle(tiny_chain):
    data, _, ctx = tiny_chain
    st = data[ds.SITE_TIMEZONES]
    bad = st.with_columns(pl.when(pl.col("merchant_id") == 117).then(pl.lit("Europe/Oslo"))
                          .otherwise(pl.col("tzid")).alias("tzid"))
    res, _ = _run_s5(data, ctx, **{ds.SITE_TIMEZONES: bad})
    failed = res.bundle["summary.json"]["failed"]
    assert "evidence/s2_provenance.json" in failed and "evidence/replay_s2_site_timezones.json" in failed
    assert not gates.build_bundle(res.bundle, {"segment": "2A"})[1]


def test_a_dropped_site_fails_parity(tiny_chain):
    data, _, ctx = tiny_chain
    res, _ = _run_s5(data, ctx, **{ds.S1_TZ_LOOKUP: data[ds.S1_TZ_LOOKUP].tail(-1),
                                   ds.SITE_TIMEZONES: data[ds.SITE_TIMEZONES].tail(-1)})
    assert res.bundle["evidence/parity_sites.json"]["passed"] is False
    assert res.bundle["evidence/parity_sites.json"]["code"] == "2A-S1-050"


def test_enforced_realism_failure_withholds_the_flag(tiny_chain, config):
    data, _, _ = tiny_chain
    ctx = make_ctx(make_world("medium"), config)  # enforced preset; the border chain has no cohort at all
    res, inputs = _run_s5(data, ctx)
    doc = res.bundle["realism_2A.json"]
    assert doc["enforced"] and not doc["gates_passed"] and doc["passed"] is False
    assert "median_top1_share" in doc["unevaluated_gates"]
    check = run_checks(catalogue.S5, res, data, ctx)[s5.CODE_REALISM]
    assert not check.passed and check.severity == "ERROR"
    assert not gates.build_bundle({"realism_2A.json": doc}, {"segment": "2A"})[1]


def test_cohort_metrics_on_known_shares():
    shares = pl.DataFrame({"country_iso": ["US"] * 3 + ["CA"] * 2 + ["FR"],
                           "tzid": ["A", "B", "C", "D", "E", "F"], "sites": [60, 30, 10, 100, 0, 200],
                           "share": [0.6, 0.3, 0.1, 1.0, 0.0, 1.0]}).filter(pl.col("sites") > 0)
    ref = pl.DataFrame({"country_iso": ["US", "US", "US", "CA", "CA", "FR"], "tzid": ["A", "B", "C", "D", "E", "F"],
                        "population": [5, 4, 1, 6, 4, 1], "share": [0.5, 0.4, 0.1, 0.6, 0.4, 1.0]})
    m, per = realism.cohort_metrics(shares, ref, {"US": 100, "CA": 100, "FR": 200}, 100, 150, 0.05)
    assert m["c_multi"] == 2 and m["c_large"] == 0 and set(per) == {"US", "CA"}  # FR has one material zone
    assert per["US"]["top1"] == 0.6 and per["US"]["gap"] == pytest.approx(0.3)
    assert per["US"]["total_variation"] == pytest.approx(0.1) and per["CA"]["total_variation"] == pytest.approx(0.4)
    assert per["CA"]["entropy_n"] == 0.0
    assert m["multi_tz_country_share"] == 0.5 and m["median_top1_share"] == pytest.approx(0.8)
    gates_ = realism.evaluate_gates(m, {"median_top1_share": (None, 0.92), "median_total_variation": (None, 0.2),
                                        "large_top1_below_095_share": (0.8, None)}, enforced=False)
    assert gates_["failed_gates"] == ["median_total_variation"]
    assert gates_["unevaluated_gates"] == ["large_top1_below_095_share"] and not gates_["gates_passed"]


def test_rate_metrics(tiny_chain):
    data, _, _ = tiny_chain
    m = realism.rate_metrics(data[ds.S1_TZ_LOOKUP], data[ds.SITE_TIMEZONES], {"crosscheck_mismatches": 0}, 1)
    lk = data[ds.S1_TZ_LOOKUP]
    assert m["fallback_exception_rate"] == lk.filter(pl.col("fallback_exception")).height / lk.height
    assert m["out_of_country_rate"] == data[ds.SITE_TIMEZONES].filter(~pl.col("in_country")).height / lk.height
    assert m["override_rate"] == 0.0 and m["crosscheck_mismatches"] == 0


def test_plot_is_byte_identical_across_renders(tiny_chain):
    data, results, ctx = tiny_chain
    png = results["S5"].plots[s5.PLOT]
    assert png.startswith(b"\x89PNG") and b"Software" not in png
    again, _ = _run_s5(data, ctx)
    assert again.plots[s5.PLOT] == png
    per = {"US": {"reference_shares": {"America/New_York": 0.5, "America/Chicago": 0.5}}}
    shares = realism.site_shares(data[ds.SITE_TIMEZONES])
    assert realism.plot_tz_shares(per, shares, "t") == realism.plot_tz_shares(per, shares, "t")


def test_replay_equals_and_rng_trace_is_empty(tiny_chain):
    docs = tiny_chain[1]["S5"].bundle
    assert all(d["passed"] for n, d in docs.items() if n.startswith("evidence/replay_"))
    assert docs["evidence/rng_accounting.json"]["passed"]
