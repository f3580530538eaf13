"""1A S9 validation: a clean world passes every document; one tampered cell fails with the right code;
the flag is withheld; realism metrics on a fixture with known values; enforcement by preset."""

import json

import numpy as np
import polars as pl
import pytest

from fraud_assets.core.gates import FLAG, build_bundle, flag_digest
from fraud_assets.engine.seg_1a import datasets as ds
from fraud_assets.engine.seg_1a import s9_validation as s9
from fraud_assets.engine.seg_1a.catalogue import S9

from .conftest import make_ctx, make_world


def _s9(data, ctx, **replace):
    inputs = {k: data[k] for k in S9.reads}
    inputs.update(replace)
    return s9.run(inputs, ctx)


def _failed_codes(res):
    return set(res.bundle["summary.json"]["failed_codes"])


@pytest.mark.parametrize("chain", ["tiny_chain", "small_chain"])
def test_clean_world_passes_and_flag_is_written(request, chain):
    data, results, ctx = request.getfixturevalue(chain)
    res = results["S9"]
    assert res.outputs == {} and res.bundle["summary.json"]["passed"], res.bundle["summary.json"]["failed"]
    for chk in S9.checks:
        out = chk.fn(res, {}, ctx)
        assert out.passed or chk.name == "realism_1A", (chk.name, out.evidence)
    files, passed = build_bundle(res.bundle, {"segment": "1A"})
    assert passed and FLAG in files
    index = json.loads(files["index.json"])
    assert files[FLAG].decode().strip() == flag_digest([files[e["path"]] for e in index["files"]])
    json.dumps(res.bundle, allow_nan=False)  # canonical-JSON safe
    assert "realism.single_site_share" in res.report


def _flip(frame, key_col, key, col, value):
    return frame.with_columns(pl.when(pl.col(key_col) == key).then(value).otherwise(pl.col(col)).alias(col))


def test_tampered_is_multi(small_chain):
    data, _, ctx = small_chain
    hd = data["hurdle_decisions"]
    single = hd.filter(~pl.col("is_multi")).get_column("merchant_id")[0]
    res = _s9(data, ctx, hurdle_decisions=_flip(hd, "merchant_id", single, "is_multi", True))
    codes = _failed_codes(res)
    assert {"E_BRANCH_PURITY", "1A-S1-002", "E_RNG_ACCOUNTING"} <= codes
    assert single in res.bundle["branch_purity.json"]["first_keys"]["nb_outlet_draws_multi_site_missing"]
    assert not build_bundle(res.bundle, {})[1]


def test_tampered_count(small_chain):
    data, _, ctx = small_chain
    sc = data["s7_country_counts"]
    m = sc.get_column("merchant_id")[0]
    res = _s9(data, ctx, s7_country_counts=sc.with_columns(
        pl.when(pl.col("merchant_id") == m).then(pl.col("count") + 1).otherwise(pl.col("count")).alias("count")))
    codes = _failed_codes(res)
    assert "1A-S7-001" in codes and "E_RNG_ACCOUNTING" in codes
    assert res.bundle["sum_mismatch.json"]["evidence"]["first_keys"] == [m]
    assert not res.bundle["replay_s7_country_counts.json"]["passed"]


def test_tampered_selected(small_chain):
    data, _, ctx = small_chain
    sm = data["s6_membership"]
    row = sm.filter(~pl.col("selected")).row(0, named=True)
    hit = (pl.col("merchant_id") == row["merchant_id"]) & (pl.col("candidate_rank") == row["candidate_rank"])
    res = _s9(data, ctx, s6_membership=sm.with_columns(
        pl.when(hit).then(True).otherwise(pl.col("selected")).alias("selected")))
    assert "1A-S6-001" in _failed_codes(res)
    assert res.bundle["membership_mismatch.json"]["evidence"]["first_keys"] == [row["merchant_id"]]


def test_tampered_trace_total(small_chain):
    data, _, ctx = small_chain
    tr = data[ds.RNG_TRACE]
    bad = tr.with_columns(pl.when(pl.col("family") == "1A.s6.gumbel").then(pl.col("draws") + 1)
                          .otherwise(pl.col("draws")).alias("draws"))
    res = _s9(data, ctx, **{ds.RNG_TRACE: bad})
    assert _failed_codes(res) == {"E_RNG_ACCOUNTING"}
    problems = res.bundle["rng_accounting.json"]["problems"]
    assert {p.get("family") for p in problems} == {"1A.s6.gumbel"}
    missing = _s9(data, ctx, **{ds.RNG_TRACE: tr.filter(pl.col("family") != "1A.s1.hurdle")})
    assert not missing.bundle["rng_accounting.json"]["passed"]


def test_structural_schema_and_sort(small_chain):
    data, _, ctx = small_chain
    res = _s9(data, ctx, merchant_ids=data["merchant_ids"].with_columns(pl.col("mcc").cast(pl.Int64)))
    assert not res.bundle["structural_1A.json"]["passed"] and "1A-S9-001" in _failed_codes(res)
    res = _s9(data, ctx, outlet_catalogue=data["outlet_catalogue"].reverse())
    assert res.bundle["structural_1A.json"]["problems"]["sort"] == ["outlet_catalogue"]


def test_corridor_rate_is_a_significance_test_not_a_point_threshold(config):
    tiny_like = pl.DataFrame({"nb_rejections": [0] * 23 + [1, 1]})  # rate 2/27 = 0.074 > 0.06
    doc = s9.nb_corridor(tiny_like, config)
    assert doc["passed"] and doc["rejection_rate"] > 0.06 and not doc["p99_judged"]
    broken = pl.DataFrame({"nb_rejections": [0] * 15 + [2] * 10})  # rate 20/45, far above the bound
    assert not s9.nb_corridor(broken, config)["passed"]


def test_binomial_upper_tail_matches_a_direct_sum():
    from math import comb

    for k, n, p in [(0, 10, 0.1), (3, 10, 0.06), (7, 20, 0.5), (21, 20, 0.3)]:
        direct = sum(comb(n, j) * p**j * (1 - p) ** (n - j) for j in range(k, n + 1))
        assert abs(s9.binomial_upper_tail(k, n, p) - direct) < 1e-12


def test_corridor_and_pathology_docs(config):
    nb = pl.DataFrame({"nb_rejections": [0] * 90 + [1] * 5 + [5] * 5})
    doc = s9.nb_corridor(nb, config)
    assert not doc["passed"] and doc["code"] == "1A-S2-003" and doc["p99_rejections"] == 5.0
    st = pl.DataFrame({"expanded": [True] * 10 + [False], "exhausted": [True] + [False] * 10,
                       "ztp_zero_draws": [64] + [0] * 10})
    doc = s9.ztp_pathology(st, config)
    assert not doc["passed"] and doc["code"] == "1A-S4-002" and doc["exhausted_share"] == 0.1


def _realism_fixture():
    n = list(range(2, 12))  # 10 multi-site merchants, N = 2..11
    mids = list(range(1, 13))  # merchants 11 and 12 are single-site
    hd = pl.DataFrame({"merchant_id": mids, "is_multi": [True] * 10 + [False] * 2})
    nb = pl.DataFrame({"merchant_id": mids[:10], "n_outlets": n, "phi": [float(x) for x in range(1, 11)]})
    rows = []
    for m, k in zip(mids, n + [1, 1], strict=True):
        foreign = 2 if k >= 10 else 0  # the two largest have 2 foreign outlets in one country
        rows += [(m, "DE", "DE")] * (k - foreign) + [(m, "DE", "FR")] * foreign
    oc = pl.DataFrame(rows, orient="row", schema=["merchant_id", "home_country_iso", "legal_country_iso"])
    feats = pl.DataFrame({"merchant_id": mids, "is_eligible": [True] * 12})
    s3 = pl.DataFrame([(m, "DE", True) for m in mids] + [(m, f"C{j}", False) for m in mids[:10]
                                                           for j in range(m % 5)], orient="row",
                      schema=["merchant_id", "country_iso", "is_home"])
    s6 = pl.DataFrame([(m, j < (m % 5) // 2) for m in mids[:10] for j in range(m % 5)], orient="row",
                      schema=["merchant_id", "selected"])
    mi = pl.DataFrame({"merchant_id": mids, "channel": ["card_present"] * 9 + ["card_not_present"] * 3})
    return {ds.MERCHANT_IDS: mi, ds.HURDLE_DECISIONS: hd, ds.NB_OUTLET_DRAWS: nb, ds.OUTLET_CATALOGUE: oc,
            ds.S3_CANDIDATE_SET: s3, ds.S6_MEMBERSHIP: s6, ds.MERCHANT_FEATURES: feats}


def test_realism_metrics_on_known_values():
    m = s9.realism_metrics(_realism_fixture())
    n = np.arange(2, 12, dtype=float)
    assert m["single_site_share"] == 2 / 12
    assert m["median_outlets"] == 6.5
    assert m["top10_outlet_share"] == 11 / n.sum()
    mad = np.abs(n[:, None] - n[None, :]).mean()
    assert m["outlet_gini"] == pytest.approx(mad / (2 * n.mean()))
    phi = np.arange(1, 11, dtype=float)
    assert m["phi_cv"] == pytest.approx(phi.std() / phi.mean())
    assert m["phi_p95_p05"] == pytest.approx(np.quantile(phi, 0.95) / np.quantile(phi, 0.05))
    assert m["home_ne_legal_share"] == 4 / (n.sum() + 2)
    assert m["multi_country_share"] == 2 / 12
    # P90(N) = 10.1 → {11}: 2/11 foreign; P50 = 6.5 → N ≤ 6: no foreign rows
    assert m["size_gradient_pp"] == pytest.approx(100 * 2 / 11)
    c = np.array([m_ % 5 for m_ in range(1, 13)], dtype=float)
    c[10:] = 0
    assert m["candidate_breadth_median"] == float(np.median(c[:10]))
    r = np.array([(m_ % 5) // 2 for m_ in range(1, 11)], dtype=float)
    assert m["realisation_ratio_median"] == float(np.median(r[c[:10] > 0] / c[:10][c[:10] > 0]))
    assert m["spearman_c_r"] == pytest.approx(float(np.corrcoef(
        pl.Series(c[:10]).rank("average").to_numpy(), pl.Series(r).rank("average").to_numpy())[0, 1]))
    assert m["channel_cp_share"] == 0.75


@pytest.mark.parametrize(("preset", "enforced"), [("tiny", False), ("medium", True)])
def test_realism_enforcement_by_preset(config, preset, enforced):
    ctx = make_ctx(make_world(preset), config)
    doc = s9.realism(_realism_fixture(), ctx)
    assert doc["enforced"] is enforced and doc["gates_passed"] is False
    assert doc["passed"] is (not enforced)
    assert "single_site_share" in doc["failed_gates"]
    out = s9.check_realism(s9.StateResult(outputs={}, bundle={"realism_1A.json": doc}), {}, ctx)
    assert not out.passed and out.severity == ("ERROR" if enforced else "WARN")
