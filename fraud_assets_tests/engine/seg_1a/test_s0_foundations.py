"""1A S0: country universe, merchant universe, features, coefficients, and the S0 checks."""

import hashlib
import io
import math
import struct

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from fraud_assets.core.errors import EngineFailure
from fraud_assets.core.ids import assign_merchant_ids, merchant_id_from_key
from fraud_assets.engine.seg_1a import datasets as ds
from fraud_assets.engine.seg_1a import s0_foundations as s0
from fraud_assets.engine.state import StateResult

from .conftest import make_ctx, make_world, with_config


@pytest.fixture(scope="module")
def tiny(refs, config):
    ctx = make_ctx(make_world("tiny", 42), config)
    return s0.run({k: refs[k] for k in _reads()}, ctx), ctx


def _reads():
    from fraud_assets.engine.seg_1a.catalogue import S0
    return S0.reads


# ---- S0.3 country universe --------------------------------------------------------------------


def test_candidate_homes_need_full_coverage_and_report_reasons(refs):
    frame, reasons = s0.candidate_homes(refs, ["AQ"])
    assert "XK" not in frame.get_column("country_iso").to_list()  # no currency
    assert reasons["no_primary_currency"] == ["AQ", "XK"]
    assert reasons["excluded_by_config"] == ["AQ"]
    assert {"NA", "SG"} <= set(frame.get_column("country_iso").to_list())  # Namibia; imputed-GDP synthetic box


def test_select_countries_forces_region_minimum_then_fills_by_weight_ties_iso():
    iso = ["AA", "BB", "CC", "DD", "EE"]
    cont = ["X", "X", "Y", "Y", "Z"]
    w = [5.0, 4.0, 1.0, 1.0, 3.0]
    assert s0.select_countries(iso, cont, w, 3, ["Y"], 1) == ["AA", "BB", "CC"]  # CC beats DD on ISO
    assert s0.select_countries(iso, cont, w, 2, [], 0) == ["AA", "BB"]
    assert s0.select_countries(iso, cont, w, 9, [], 0) == iso  # fewer than K: take all


def test_region_floor_lifts_a_continent_and_rescales_the_rest():
    out = s0.apply_region_floors(["A", "B", "C"], ["X", "X", "Y"], [0.45, 0.45, 0.10], {"Y": 0.2})
    assert out == pytest.approx([0.4, 0.4, 0.2])
    assert math.fsum(out) == pytest.approx(1.0)


def test_region_floor_infeasible_codes():
    with pytest.raises(EngineFailure, match="1A-S0-010"):
        s0.apply_region_floors(["A", "B"], ["X", "Y"], [0.5, 0.5], {"X": 0.7, "Y": 0.6})
    with pytest.raises(EngineFailure, match="1A-S0-010"):
        s0.apply_region_floors(["A", "B"], ["X", "X"], [0.5, 0.5], {"Y": 0.1})  # no country to lift


def test_water_fill_literal():
    counts = s0.water_fill(["A", "B", "C", "D"], [0.7, 0.1, 0.1, 0.1], 20, 2, 8)
    assert counts.tolist() == [8, 4, 4, 4]
    assert s0.water_fill(["A", "B", "C"], [1 / 3, 1 / 3, 1 / 3], 10, 1, 10).tolist() == [4, 3, 3]  # ISO tie


def test_universe_infeasible_code():
    with pytest.raises(EngineFailure, match="1A-S0-011"):
        s0.water_fill(["A", "B"], [0.5, 0.5], 3, 2, 5)  # n < m_min·K
    with pytest.raises(EngineFailure, match="1A-S0-011"):
        s0.water_fill(["A", "B"], [0.5, 0.5], 30, 1, 10)  # U·K < n


@settings(max_examples=150, deadline=None)
@given(st.lists(st.floats(min_value=1e-6, max_value=1e6), min_size=1, max_size=40),
       st.integers(min_value=1, max_value=5), st.floats(min_value=0.01, max_value=1.0),
       st.integers(min_value=0, max_value=5000))
def test_water_fill_law_sum_and_bounds(weights, m_min, share_cap, extra):
    k = len(weights)
    n = m_min * k + extra
    cap = s0.merchant_cap(share_cap, n)
    iso = [f"{chr(65 + i // 26)}{chr(65 + i % 26)}" for i in range(k)]
    tot = math.fsum(weights)
    shares = [w / tot for w in weights]
    if cap * k < n or cap < m_min:
        with pytest.raises(EngineFailure, match="1A-S0-011"):
            s0.water_fill(iso, shares, n, m_min, cap)
        return
    counts = s0.water_fill(iso, shares, n, m_min, cap)
    assert int(counts.sum()) == n
    assert counts.min() >= m_min and counts.max() <= cap


def test_country_universe_tiny(tiny, config):
    res, _ = tiny
    cu = res.outputs["country_universe"]
    assert cu.height == 12 and cu.schema == pl.Schema(ds.SCHEMAS["country_universe"])
    assert cu.get_column("country_iso").is_sorted()
    assert int(cu.get_column("n_merchants").sum()) == 50
    for cont, floor in config.merchant_universe.region_floor_share.items():
        assert cu.filter(pl.col("continent") == cont).get_column("share").sum() >= floor - 1e-12
        assert cu.filter(pl.col("continent") == cont).height >= 1  # region minimum
    assert cu.filter(pl.col("continent") == "Europe").get_column("region_floor_share").null_count() > 0


# ---- S0.4 merchant universe ------------------------------------------------------------------


def test_merchant_ids_are_seed_free(refs, config):
    a = s0.run({k: refs[k] for k in _reads()}, make_ctx(make_world("tiny", 42), config))
    b = s0.run({k: refs[k] for k in _reads()}, make_ctx(make_world("tiny", 7), config))
    for name in ("merchant_ids", "country_universe", "merchant_features", "model_coefficients"):
        assert_frame_equal(a.outputs[name], b.outputs[name])
    assert a.rng == b.rng


def test_merchant_id_recipe_and_collision_rehash():
    msg = b"\x1f".join([b"fraud_assets.merchant_id.v1", b"u1", b"DE", struct.pack("<I", 0)])
    mid = int.from_bytes(hashlib.sha256(msg).digest()[:8], "little") & (2**63 - 1)
    assert merchant_id_from_key("u1", "DE", 0) == mid and 0 < mid < 2**63
    assert merchant_id_from_key("u1", "DE", 0, 1) != mid

    def colliding(salt, iso, j, counter):  # every slot hashes to 5 until the counter moves it
        return 5 + counter if counter else 5

    ids = assign_merchant_ids([("AA", 0), ("AA", 1), ("BB", 0)], "u1", id_fn=colliding)
    assert ids == [5, 6, 7]

    def zero_first(salt, iso, j, counter):
        return counter * 11

    assert assign_merchant_ids([("AA", 0)], "u1", id_fn=zero_first) == [11]


def test_namibia_round_trips_through_parquet(tiny):
    mi = tiny[0].outputs["merchant_ids"]
    frame = pl.DataFrame({"home_country_iso": ["NA"], "merchant_id": [1]})
    buf = io.BytesIO()
    frame.write_parquet(buf)
    back = pl.read_parquet(io.BytesIO(buf.getvalue()))
    assert back.get_column("home_country_iso").to_list() == ["NA"]
    assert mi.get_column("home_country_iso").null_count() == 0


def test_mcc_inverse_cdf_skips_zero_mass_codes(config):
    codes = [100, 5411, 5412, 9999]
    cdf = s0.mcc_cdf(codes, config.merchant_universe)
    assert cdf[0] == 0.0 and cdf[-1] == cdf[-2]  # outside configured ranges: no mass
    picked = s0.draw_mcc(np.array([1e-9, 0.5, 1 - 1e-12]), codes, cdf)
    assert set(picked.tolist()) <= {5411, 5412}


def test_p_cnp_override_range_default_and_clamp(config):
    mu = config.merchant_universe
    assert s0.p_cnp(5411, 3, mu) == 0.05
    assert s0.p_cnp(4850, 5, mu) == pytest.approx(0.55 * 1.2)
    assert s0.p_cnp(1234, 1, mu) == pytest.approx(0.18 * 0.8)
    assert s0.p_cnp(5815, 5, mu) == 0.95  # 0.90 * 1.2 clamped


# ---- S0.5 features and coefficients ----------------------------------------------------------


def test_coefficients_add_every_matching_range_plus_exact(config):
    co = s0.build_coefficients(pl.DataFrame({"mcc": [5411, 5300, 100]}, schema={"mcc": pl.Int32}), config)
    expected = pl.DataFrame({
        "mcc": [100, 5300, 5411],
        "beta_hurdle_mcc": [0.0, 0.25 + 0.35, math.fsum([0.25, 0.30, 0.60])],
        "beta_mu_mcc": [0.0, 0.20 + 0.45, math.fsum([0.20, 0.30, 1.70])],
        "beta_phi_mcc": [0.0, -0.10, math.fsum([-0.10, 0.15, -0.65])],
    }, schema=ds.SCHEMAS["model_coefficients"])
    assert_frame_equal(co, expected)


def test_openness_and_eligibility_rules(config):
    cb = config.crossborder
    assert s0.openness(3, "CNP", 5964, cb) == pytest.approx(0.20 + 0.08 + 0.10)
    assert s0.openness(1, "CP", 1000, cb) == pytest.approx(0.02)
    assert s0.openness(5, "CNP", 5411, cb) == pytest.approx(0.35 + 0.08 + 0.03)
    assert s0.eligibility(5411, "CP", "RU", cb) == (False, "deny_sanctioned_home")
    assert s0.eligibility(7995, "CNP", "DE", cb) == (False, "deny_high_risk_cnp")
    assert s0.eligibility(7995, "CP", "DE", cb) == (True, "default")
    assert s0.eligibility(5816, "CNP", "RU", cb) == (False, "deny_sanctioned_home")  # lower priority wins


def test_features_literal(config):
    mi = pl.DataFrame({"merchant_id": [3, 1], "mcc": [7995, 5411], "channel": ["card_not_present", "card_present"],
                       "home_country_iso": ["DE", "RU"]}, schema=ds.SCHEMAS["merchant_ids"])
    cu = pl.DataFrame({"country_iso": ["DE", "RU"], "gdp_pc_usd": [46_000.0, 10_000.0],
                       "gdp_bucket": [5, 3]}, schema={"country_iso": pl.String, "gdp_pc_usd": pl.Float64,
                                                      "gdp_bucket": pl.Int8})
    f = s0.build_features(mi, cu, config)
    assert f.get_column("merchant_id").to_list() == [1, 3]
    assert f.get_column("channel_sym").to_list() == ["CP", "CNP"]
    assert f.get_column("ln_gdp_pc").to_list() == [math.log(10_000.0), math.log(46_000.0)]
    assert f.get_column("is_eligible").to_list() == [False, False]
    assert f.get_column("eligibility_rule").to_list() == ["deny_sanctioned_home", "deny_high_risk_cnp"]


# ---- checks: a passing run and one tampered frame per code ------------------------------------


def test_all_s0_checks_pass_on_the_run(tiny):
    from fraud_assets.engine.seg_1a.catalogue import S0
    res, ctx = tiny
    for chk in S0.checks:
        out = chk.fn(res, _refs_for(S0), ctx)
        assert out.passed, (chk.name, out.evidence)


def _refs_for(spec):
    from .conftest import literal_refs
    refs = literal_refs()
    return {k: refs[k] for k in spec.reads}


def _tamper(res, name, frame):
    return StateResult(outputs={**res.outputs, name: frame})


def test_region_floor_1A_S0_010(tiny):
    res, ctx = tiny
    cu = res.outputs["country_universe"].with_columns(
        pl.when(pl.col("continent") == "Africa").then(pl.col("share") / 10).otherwise(pl.col("share")).alias("share"))
    out = s0.check_region_floor(_tamper(res, "country_universe", cu), {}, ctx)
    assert not out.passed and "Africa" in out.evidence["first_keys"]


def test_universe_feasible_1A_S0_011(tiny):
    res, ctx = tiny
    cu = res.outputs["country_universe"]
    bumped = cu.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(11).otherwise(pl.col("n_merchants"))
                             .cast(pl.Int32).alias("n_merchants"))
    out = s0.check_universe_feasible(_tamper(res, "country_universe", bumped), {}, ctx)
    assert not out.passed and out.evidence["code"] == "1A-S0-011"


def test_channel_mix_1A_S0_012(tiny, config):
    res, _ = tiny
    ctx = make_ctx(make_world("small", 42), config)
    mi = pl.DataFrame({"merchant_id": range(1, 201), "mcc": [5411] * 200,
                       "channel": ["card_not_present"] * 100 + ["card_present"] * 100,
                       "home_country_iso": ["DE"] * 200}, schema=ds.SCHEMAS["merchant_ids"])
    out = s0.check_channel_mix(_tamper(res, "merchant_ids", mi), {}, ctx)
    assert not out.passed and out.evidence["card_present_share"] == 0.5
    ok = mi.with_columns(pl.lit("card_present").alias("channel"))
    assert not s0.check_channel_mix(_tamper(res, "merchant_ids", ok), {}, ctx).passed  # 1.0 > 0.90
    small = mi.head(199)  # below 200 merchants the bounds are not enforced
    assert s0.check_channel_mix(_tamper(res, "merchant_ids", small), {}, ctx).passed


def test_ingress_schema_1A_S0_013(tiny):
    from fraud_assets.engine.seg_1a.catalogue import S0
    res, ctx = tiny
    mi = res.outputs["merchant_ids"]
    first = mi.get_column("merchant_id")[0]
    bad_mcc = mi.with_columns(pl.when(pl.col("merchant_id") == first).then(1).otherwise(pl.col("mcc"))
                              .cast(pl.Int32).alias("mcc"))
    out = s0.check_ingress_schema(_tamper(res, "merchant_ids", bad_mcc), _refs_for(S0), ctx)
    assert not out.passed and out.evidence["counts"]["mcc_unknown"] == 1 and out.evidence["first_keys"] == [first]
    dup = pl.concat([mi, mi.head(1)]).sort("merchant_id")
    assert not s0.check_ingress_schema(_tamper(res, "merchant_ids", dup), _refs_for(S0), ctx).passed
    bad_iso = mi.with_columns(pl.lit("ZZ").alias("home_country_iso"))
    assert not s0.check_ingress_schema(_tamper(res, "merchant_ids", bad_iso), _refs_for(S0), ctx).passed
    bad_type = mi.with_columns(pl.col("mcc").cast(pl.Int64))
    assert not s0.check_ingress_schema(_tamper(res, "merchant_ids", bad_type), _refs_for(S0), ctx).passed


def test_config_invalid_preset_raises_1A_S0_001(refs, config):
    ctx = make_ctx(make_world("huge", merchants=10), config)
    with pytest.raises(EngineFailure, match="1A-S0-001"):
        s0.run({k: refs[k] for k in _reads()}, ctx)


def test_infeasible_universe_raises_from_run(refs, config):
    cfg = with_config(config, merchant_universe={"by_preset": {"tiny": {
        "n_countries": 12, "min_per_country": 5, "max_country_share": 0.2, "region_min_countries": 1}}})
    with pytest.raises(EngineFailure, match="1A-S0-011"):
        s0.run({k: refs[k] for k in _reads()}, make_ctx(make_world("tiny"), cfg))
