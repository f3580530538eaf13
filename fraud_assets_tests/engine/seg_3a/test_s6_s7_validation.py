"""3A S6/S7: the report over the chain, replay and RNG-trace tamper detection, realism gate modes,
the bundle refusing a flag on FAIL, and the realism figures on literal frames."""

from __future__ import annotations

import polars as pl
import pytest

from fraud_assets.core import gates
from fraud_assets.engine.seg_3a import catalogue, realism
from fraud_assets.engine.seg_3a import datasets as ds
from fraud_assets.engine.seg_3a import s7_bundle as s7
from fraud_assets_tests.engine.seg_3a.conftest import (
    as_input,
    make_ctx,
    run_checks,
    with_config,
)


def _s6(data, ctx, **replace):
    inputs = {k: data[k] for k in catalogue.S6.reads}
    inputs.update(replace)
    return catalogue.S6.run(inputs, ctx)


def _s7(data, ctx, s6_result, trace=None):
    inputs = {k: data[k] for k in catalogue.S7.reads}
    inputs.update({k: as_input(k, v) for k, v in s6_result.outputs.items()})
    if trace is not None:
        inputs[ds.RNG_TRACE] = trace
    return catalogue.S7.run(inputs, ctx), inputs


def test_report_and_bundle_pass_on_the_chain(chain):
    data, results, ctx = chain
    report = results["S6"].outputs[ds.S6_REPORT]
    assert report["overall_status"] == "PASS" and report["counts"]["FAIL"] == 0
    ids = {c["check_id"] for c in report["checks"]}
    assert {"3A-S1-006", "3A-S1-007", "3A-S3-005", "3A-S3-006", "3A-S4-004", "3A-S5-002", "3A-S2-004"} <= ids
    assert {e["family"] for e in report["expected_rng"]} == {"3A.s1.escalation", "3A.s3.dispersion",
                                                             "3A.s3.dirichlet"}
    assert report["realism"]["samples_ok"] is False and report["counts"]["SKIPPED"] == 14
    s6_checks = run_checks(catalogue.S6, results["S6"], data, ctx)
    assert all(o.passed for o in s6_checks.values())
    assert s6_checks["3A-S6-010"].severity == "WARN"
    docs = results["S7"].bundle
    assert [n for n, d in docs.items() if d.get("passed") is False] == []
    assert docs[s7.RNG_SUMMARY]["passed"] and docs[s7.UNIVERSE_DOC]["routing_universe_hash"]
    assert len([n for n in docs if n.startswith("evidence/")]) == len(report["checks"])
    s7_checks = run_checks(catalogue.S7, results["S7"], {**data, **{k: as_input(k, v) for k, v in
                                                                    results["S6"].outputs.items()}}, ctx)
    assert all(o.passed for o in s7_checks.values()), {k: o.evidence for k, o in s7_checks.items() if not o.passed}
    files, passed = gates.build_bundle(docs, {"segment": "3A"})
    assert passed and gates.FLAG in files


def test_a_corrupted_share_fails_replay_and_withholds_the_flag(chain):
    data, _, ctx = chain
    shares = data[ds.S3_SHARES]
    bad = shares.with_columns(pl.when((pl.col("merchant_id") == 107) & (pl.col("tzid") == "America/Tijuana"))
                              .then(pl.col("share_drawn") + 1e-9).otherwise(pl.col("share_drawn")).alias("share_drawn"))
    res = _s6(data, ctx, **{ds.S3_SHARES: bad})
    report = res.outputs[ds.S6_REPORT]
    failed = {c["check_id"] for c in report["checks"] if c["status"] == "FAIL"}
    assert report["overall_status"] == "FAIL" and "3A-S3-006" in failed
    entry = next(c for c in report["checks"] if c["check_id"] == "3A-S3-006")
    assert entry["first_keys"] == ["107|MX|America/Tijuana"]
    issues = res.outputs[ds.S6_ISSUES]
    row = issues.filter(pl.col("issue_code") == "3A-S3-006").row(0, named=True)
    assert (row["merchant_id"], row["legal_country_iso"], row["tzid"]) == (107, "MX", "America/Tijuana")
    assert not run_checks(catalogue.S6, res, data, ctx)["3A-S3-006"].passed
    s7_res, s7_inputs = _s7(data, ctx, res)
    assert s7_res.bundle[s7.STATUS_DOC]["passed"] is False
    assert "3A-S7-001" in s7_res.bundle[s7.SUMMARY]["failed_codes"]
    files, passed = gates.build_bundle(s7_res.bundle, {"segment": "3A"})
    assert not passed and gates.FLAG not in files
    assert not run_checks(catalogue.S7, s7_res, s7_inputs, ctx)["3A-S7-001"].passed


def test_a_dropped_trace_record_fails_rng_accounting(chain):
    data, results, ctx = chain
    trace = data[ds.RNG_TRACE]
    s7_res, inputs = _s7(data, ctx, results["S6"], trace=trace.filter(pl.col("family") != "3A.s3.dirichlet"))
    doc = s7_res.bundle[s7.RNG_SUMMARY]
    assert doc["passed"] is False and doc["mismatches"][0].startswith("S3|3A.s3.dirichlet|trace=None")
    out = run_checks(catalogue.S7, s7_res, inputs, ctx)
    assert not out["3A-S3-005"].passed and out["3A-S7-003"].passed  # a consistent bundle that withholds its flag
    more = trace.with_columns(pl.when(pl.col("family") == "3A.s1.escalation").then(pl.col("draws") + 1)
                              .otherwise(pl.col("draws")).alias("draws"))
    assert _s7(data, ctx, results["S6"], trace=more)[0].bundle[s7.RNG_SUMMARY]["passed"] is False


def test_a_check_that_cannot_run_is_check_execution_failed(chain):
    data, _, ctx = chain
    res = _s6(data, ctx, **{ds.S4_COUNTS: data[ds.S4_COUNTS].drop("residual")})
    failed = [c for c in res.outputs[ds.S6_REPORT]["checks"] if c["check_id"] == "3A-S6-001"]
    assert failed and all(c["status"] == "FAIL" and c["error"] for c in failed)
    assert not run_checks(catalogue.S6, res, data, ctx)["3A-S6-001"].passed


def test_realism_gates_enforced_observed_and_skipped(chain, config):
    data, _, _ = chain
    low = {"min_escalated_pairs": 1, "min_group_merchants": 2}
    enforced = make_ctx(config=with_config(config, validation_policy={
        **low, "gates": {**config.validation_policy.gates, "V06_median_top1_count_share": [None, 0.01]}}))
    res = _s6(data, enforced)
    real = res.outputs[ds.S6_REPORT]["realism"]
    assert real["enforced"] and real["failed_gates"] == ["V06_median_top1_count_share"]
    assert res.outputs[ds.S6_REPORT]["overall_status"] == "FAIL"
    check = run_checks(catalogue.S6, res, data, enforced)["3A-S6-010"]
    assert not check.passed and check.severity == "ERROR"
    observed = make_ctx(config=with_config(config, validation_policy={
        **low, "enforcement": "observe", "gates": {"V06_median_top1_count_share": [None, 0.01]}}))
    res = _s6(data, observed)
    assert res.outputs[ds.S6_REPORT]["overall_status"] == "PASS"
    check = run_checks(catalogue.S6, res, data, observed)["3A-S6-010"]
    assert not check.passed and check.severity == "WARN"
    assert res.outputs[ds.S6_REPORT]["realism"]["warned_gates"] == ["V06_median_top1_count_share"]


def test_realism_figures_on_literal_frames():
    counts = pl.DataFrame({"merchant_id": [1, 1, 1, 2, 2], "legal_country_iso": ["US"] * 5,
                           "tzid": ["A", "B", "C", "A", "B"], "site_count": [10] * 3 + [4] * 2,
                           "zone_site_count": [6, 4, 0, 4, 0]}).cast({"site_count": pl.Int32,
                                                                     "zone_site_count": pl.Int32})
    per = realism._per_pair_counts(counts).sort("merchant_id")
    assert per.get_column("nonzero").to_list() == [2, 1] and per.get_column("top1").to_list() == [0.6, 1.0]
    assert per.item(0, "entropy") == pytest.approx(-(0.6 * __import__("math").log(0.6) + 0.4 * __import__(
        "math").log(0.4)))
    queue = pl.DataFrame({"zone_count_country": [2] * 70, "site_count": [5] * 70,
                          "effective_zone_count": [1.2] * 35 + [2.0] * 35,
                          "is_escalated": [True] * 30 + [False] * 5 + [True] * 20 + [False] * 15})
    buckets = realism.keff_bucket_rates(queue)
    assert [b["pairs"] for b in buckets] == [35, 35, 0, 0]
    assert realism.max_decrease(buckets) == pytest.approx(30 / 35 - 20 / 35)
    gates_ = realism.evaluate({"a": 0.5, "b": None}, {"a": (None, 0.4), "b": (0.0, None)}, True, True)
    assert gates_["a"]["status"] == "FAIL" and gates_["b"]["status"] == "SKIPPED"
    assert realism.evaluate({"a": 0.5}, {"a": (None, 0.4)}, False, True)["a"]["status"] == "SKIPPED"
    assert realism.threshold_text(0.2, None) == ">= 0.2" and realism.threshold_text(None, 0.9) == "<= 0.9"
