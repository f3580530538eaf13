"""3B S5: the bundle over the chain, tamper detection per code, realism gates (enforce / observe), metrics."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from fraud_assets.core import gates
from fraud_assets.engine.seg_3b import catalogue, contract, realism
from fraud_assets.engine.seg_3b import datasets as ds
from fraud_assets.engine.seg_3b import s5_validation as s5
from fraud_assets_tests.engine.seg_3b.conftest import make_ctx, run_checks, with_config


def _run_s5(data, ctx, **replace):
    inputs = {k: data[k] for k in catalogue.S5.reads}
    inputs.update(replace)
    return catalogue.S5.run(inputs, ctx)


def _failed(res) -> list[str]:
    return res.bundle["summary.json"]["failed"]


def test_bundle_passes_on_the_chain(chain):
    data, results, ctx = chain
    res = results["S5"]
    docs = res.bundle
    assert _failed(res) == [], {n: docs[n] for n in _failed(res)}
    for spec in catalogue.STATES[:-1]:
        for c in spec.checks:
            assert docs[f"evidence/{c.code}.json"]["code"] == c.code
    for code in ("3B-S5-001", "3B-S5-002", "3B-S5-003", "3B-S5-004", "3B-S5-005", "3B-S5-006", "3B-S5-007",
                 "3B-S5-008"):
        d = docs[f"evidence/{code}.json"]
        assert {"status", "metric", "threshold", "first_keys"} <= set(d)
    outcomes = run_checks(catalogue.S5, res, data, ctx)
    assert all(o.passed for o in outcomes.values()), {k: o.evidence for k, o in outcomes.items() if not o.passed}
    real = docs["evidence/3B-S5-008.json"]
    assert real["status_detail"] == "PASS" and real["metric"]["merchants_with_edges"] >= 30
    assert res.report["realism.median_settlement_country_share"] > 0.03
    files, passed = gates.build_bundle(docs, {"segment": "3B"})
    assert passed and gates.FLAG in files


def test_a_corrupted_edge_weight_fails_the_s2_replay_3B_S5_003(chain):
    data, _, ctx = chain
    edges = data[ds.EDGE_CATALOGUE]
    mid = edges.row(0, named=True)["merchant_id"]
    bad = edges.with_columns(pl.when((pl.col("merchant_id") == mid) & (pl.col("edge_seq_index") == 0))
                             .then(pl.col("edge_weight") + 1e-6).otherwise(pl.col("edge_weight")).alias("edge_weight"))
    res = _run_s5(data, ctx, **{ds.EDGE_CATALOGUE: bad})
    failed = _failed(res)
    assert "evidence/3B-S5-003.json" in failed and "evidence/3B-S2-002.json" in failed
    assert [mid, 0] in res.bundle["evidence/3B-S5-003.json"]["first_keys"]
    assert not gates.build_bundle(res.bundle, {"segment": "3B"})[1]


def test_a_dropped_jitter_draw_fails_rng_accounting_3B_S5_004(chain):
    data, _, ctx = chain
    trace = data[ds.RNG_TRACE].with_columns(
        pl.when(pl.col("family") == "3B.s2.edge_jitter").then(pl.col("draws") - 1).otherwise(pl.col("draws"))
        .alias("draws"))
    res = _run_s5(data, ctx, **{ds.RNG_TRACE: trace})
    assert _failed(res) == ["evidence/3B-S5-004.json"]
    assert res.bundle["evidence/3B-S5-004.json"]["first_keys"] == ["S2:3B.s2.edge_jitter"]


def test_a_flipped_blob_byte_fails_alias_fidelity_3B_S5_005(chain):
    data, results, ctx = chain
    blob = bytearray(results["S3"].outputs[ds.EDGE_ALIAS_BLOB][ds.EDGE_ALIAS_BLOB_FILE])
    blob[-1] ^= 0x40  # the last slice's last alias entry
    res = _run_s5(data, ctx, **{ds.EDGE_ALIAS_BLOB: {ds.EDGE_ALIAS_BLOB_FILE: bytes(blob)}})
    doc = res.bundle["evidence/3B-S5-005.json"]
    assert not doc["passed"] and doc["blob_source"] == "published" and doc["checksum_failures"] >= 2
    assert "evidence/3B-S5-006.json" in _failed(res)  # the universe hash names the blob digest too
    ok = _run_s5(data, ctx, **{ds.EDGE_ALIAS_BLOB: results["S3"].outputs[ds.EDGE_ALIAS_BLOB]})
    assert _failed(ok) == [] and ok.bundle["evidence/3B-S5-005.json"]["blob_source"] == "published"


def test_a_wrong_universe_hash_in_the_policy_fails_3B_S5_007(chain):
    data, _, ctx = chain
    policy = data[ds.VIRTUAL_ROUTING_POLICY].with_columns(pl.lit("0" * 64).alias("edge_universe_hash"))
    res = _run_s5(data, ctx, **{ds.VIRTUAL_ROUTING_POLICY: policy})
    assert "evidence/3B-S5-007.json" in _failed(res)


def test_a_changed_classification_fails_the_s1_replay_3B_S5_001(chain):
    data, _, ctx = chain
    vc = data[ds.VIRTUAL_CLASSIFICATION]
    bad = vc.with_columns(pl.when(pl.col("rule_id") == "VR99").then(pl.lit("VR98")).otherwise(pl.col("rule_id"))
                          .alias("rule_id"))
    res = _run_s5(data, ctx, **{ds.VIRTUAL_CLASSIFICATION: bad})
    assert "evidence/3B-S5-001.json" in _failed(res)
    vs = data[ds.VIRTUAL_SETTLEMENT].with_columns((pl.col("lat_deg") + 0.01).alias("lat_deg"))
    assert "evidence/3B-S5-002.json" in _failed(_run_s5(data, ctx, **{ds.VIRTUAL_SETTLEMENT: vs}))


def _with_validation(data, ctx, **validation):
    cfg = with_config(ctx.config, virtual_validation=validation)
    vctx = make_ctx(ctx.world, cfg)
    frame = contract.contract_frame(cfg, ctx.world.manifest_fingerprint)
    return _run_s5(data, vctx, **{ds.VIRTUAL_VALIDATION_CONTRACT: frame}), vctx


def test_enforce_mode_realism_failure_blocks_the_flag(chain):
    data, _, ctx = chain
    realism_bounds = {**ctx.config.virtual_validation.model_dump()["realism"], "virtual_only_share": (0.5, 0.9)}
    res, vctx = _with_validation(data, ctx, realism=realism_bounds)
    doc = res.bundle["evidence/3B-S5-008.json"]
    assert not doc["passed"] and doc["blocking_failed"] == ["virtual_only_share"]
    assert _failed(res) == ["evidence/3B-S5-008.json"]
    assert not gates.build_bundle(res.bundle, {"segment": "3B"})[1]
    outcome = s5.check_realism(res, {}, vctx)
    assert not outcome.passed and outcome.severity == "ERROR"


def test_observe_mode_warns_and_publishes(chain):
    data, _, ctx = chain
    realism_bounds = {**ctx.config.virtual_validation.model_dump()["realism"], "virtual_only_share": (0.5, 0.9)}
    res, vctx = _with_validation(data, ctx, realism=realism_bounds, enforcement_mode="observe")
    doc = res.bundle["evidence/3B-S5-008.json"]
    assert doc["passed"] and doc["failed_gates"] == ["contract_enforced", "virtual_only_share"]
    assert _failed(res) == [] and gates.build_bundle(res.bundle, {"segment": "3B"})[1]
    outcome = s5.check_realism(res, {}, vctx)
    assert not outcome.passed and outcome.severity == "WARN"


# ---- realism metrics ------------------------------------------------------------------------------


def test_js_divergence_and_pair_sampling():
    p = np.array([0.5, 0.5, 0.0])
    assert realism.js_divergence(p, p) == 0.0
    assert realism.js_divergence(p, np.array([0.0, 0.0, 1.0])) == pytest.approx(1.0)
    assert realism.sample_pairs(4, 100) == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    pairs = realism.sample_pairs(1000, 2000)
    assert len(pairs) == 2000 and pairs == realism.sample_pairs(1000, 2000) and all(a < b for a, b in pairs)


def test_the_global_template_catalogue_fails_the_gates(config):
    """Spec: every merchant 500 edges over one shared 117-country mix, weight 0.002, ~7,900 km from settlement,
    home overlap ≈ 0.5 %, null rule ids → V01–V07 and V11–V12 fail."""
    m, n = 40, 500
    countries = [f"{chr(65 + i // 26)}{chr(65 + i % 26)}" for i in range(117)]
    edges = pl.DataFrame({
        "merchant_id": np.repeat(np.arange(m), n), "edge_seq_index": np.tile(np.arange(n), m),
        "country_iso": [countries[i % 117] for i in range(n)] * m, "edge_weight": np.full(m * n, 1.0 / n),
        "distance_to_settlement_km": np.full(m * n, 7929.0), "tz_source": ["POLYGON"] * (m * n),
    })
    index = pl.DataFrame({
        "scope": ["MERCHANT"] * m, "merchant_id": np.arange(m), "edge_count_total": [n] * m,
        "country_count": [117] * m, "settlement_country_share": [0.005] * m, "top1_edge_share": [1.0 / n] * m,
        "weight_gini": [0.0] * m, "weighted_median_distance_km": [7929.0] * m})
    vc = pl.DataFrame({"merchant_id": np.arange(1000), "is_virtual": [True] * m + [False] * (1000 - m),
                       "virtual_mode": ["VIRTUAL_ONLY"] * m + ["NON_VIRTUAL"] * (1000 - m),
                       "rule_id": pl.Series([None] * 1000, dtype=pl.String),
                       "rule_version": pl.Series([None] * 1000, dtype=pl.String),
                       "mcc": [5815] * 1000, "channel": ["card_not_present"] * 1000,
                       "p_virtual": pl.Series([None] * 1000, dtype=pl.Float64)})
    vs = pl.DataFrame({"merchant_id": np.arange(m), "lat_deg": np.linspace(0, 10, m), "lon_deg": np.zeros(m),
                       "settlement_country_iso": ["US"] * m, "city_geonameid": np.arange(m),
                       "tzid_settlement": [f"Z/{i}" for i in range(m)]})
    values = realism.metrics(vc, vs, edges, index, 1e-10, np.zeros(m * n, dtype=bool), 2000)
    result = realism.evaluate(values, contract.contract_frame(config, "m"), True, 30)
    failed = set(result["failed_gates"])
    assert {"edges_per_merchant_cv", "countries_per_merchant_cv", "median_top1_edge_weight", "median_pairwise_js",
            "p75_settlement_country_share", "median_edge_distance_km", "median_weighted_median_distance_km",
            "median_weight_gini", "rule_lineage_rate", "distinct_virtual_rule_ids"} <= failed
    assert values["median_pairwise_js"] == 0.0 and values["edges_per_merchant_cv"] == 0.0


def test_cross_seed_cv():
    per_seed = {s: {"median_top1_edge_weight": v, "median_settlement_country_share": 0.3,
                    "median_edge_distance_km": 4000.0 + s, "median_pairwise_js": 0.9}
                for s, v in ((42, 0.17), (7, 0.16), (101, 0.19), (202, 0.17))}
    x01 = realism.cross_seed(per_seed)
    assert all(d["passed"] for d in x01.values()) and x01["median_settlement_country_share"]["cv"] == 0.0
