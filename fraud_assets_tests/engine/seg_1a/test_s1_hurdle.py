"""1A S1 hurdle: η/π per step, draws only for 0 < π < 1, the S1 checks."""

import math
from decimal import Decimal, getcontext

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from fraud_assets.engine.seg_1a import datasets as ds
from fraud_assets.engine.seg_1a import s1_hurdle as s1
from fraud_assets.engine.seg_1a.common import logistic
from fraud_assets.engine.state import StateResult

from .conftest import make_ctx, make_world, with_config

FEATURES = pl.DataFrame({
    "merchant_id": [30, 10, 20],
    "mcc": [5411, 7995, 100],
    "channel_sym": ["CP", "CNP", "CP"],
    "home_country_iso": ["DE", "NA", "IN"],
    "gdp_pc_usd": [46_000.0, 5_000.0, 1_900.0],
    "ln_gdp_pc": [math.log(46_000.0), math.log(5_000.0), math.log(1_900.0)],
    "gdp_bucket": [5, 2, 1],
    "openness": [0.34, 0.20, 0.02],
    "is_eligible": [True, False, True],
    "eligibility_rule": ["default", "deny_high_risk_cnp", "default"],
}, schema=ds.SCHEMAS["merchant_features"])
COEFS = pl.DataFrame({"mcc": [100, 5411, 7995], "beta_hurdle_mcc": [0.0, 1.15, -0.5],
                      "beta_mu_mcc": [0.0, 2.2, -0.05], "beta_phi_mcc": [0.0, -0.6, 0.0]},
                     schema=ds.SCHEMAS["model_coefficients"])


def _inputs():
    return {ds.MERCHANT_FEATURES: FEATURES, ds.MODEL_COEFFICIENTS: COEFS}


def test_add_eta_literal(config):
    out = s1.add_eta(FEATURES, COEFS, config.hurdle)
    h = config.hurdle
    expected_eta = [math.fsum((h.intercept, h.channel.CNP, h.gdp_bucket[2], -0.5)),
                    math.fsum((h.intercept, h.channel.CP, h.gdp_bucket[1], 0.0)),
                    math.fsum((h.intercept, h.channel.CP, h.gdp_bucket[5], 1.15))]
    assert out.get_column("merchant_id").to_list() == [10, 20, 30]
    assert out.get_column("eta").to_list() == expected_eta
    assert out.get_column("pi").to_list() == [logistic(e) for e in expected_eta]


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=-700.0, max_value=700.0))
def test_stable_logistic_matches_high_precision(eta):
    getcontext().prec = 60
    exact = 1 / (1 + (-Decimal(eta)).exp())
    got = logistic(eta)
    assert 0.0 <= got <= 1.0
    assert math.isclose(got, float(exact), rel_tol=4e-16, abs_tol=0.0) or got == float(exact)


def test_run_draws_and_is_multi_law(config):
    ctx = make_ctx(make_world("tiny", 42), config)
    res = s1.run(_inputs(), ctx)
    hd = res.outputs["hurdle_decisions"]
    assert hd.schema == pl.Schema(ds.SCHEMAS["hurdle_decisions"])
    assert hd.get_column("merchant_id").to_list() == [10, 20, 30]
    assert hd.get_column("u").null_count() == 0
    assert (hd.get_column("is_multi") == (hd.get_column("u") < hd.get_column("pi"))).all()
    assert res.rng[0].family == "1A.s1.hurdle" and res.rng[0].draws == 3 == res.rng[0].blocks
    assert s1.check_hurdle_cardinality(res, _inputs(), ctx).passed
    assert s1.check_hurdle_u(res, _inputs(), ctx).passed


def test_replay_and_order_independence(config):
    ctx = make_ctx(make_world("tiny", 42), config)
    a = s1.run(_inputs(), ctx).outputs["hurdle_decisions"]
    shuffled = {ds.MERCHANT_FEATURES: FEATURES.reverse(), ds.MODEL_COEFFICIENTS: COEFS.reverse()}
    assert_frame_equal(a, s1.run(shuffled, ctx).outputs["hurdle_decisions"])
    other_seed = s1.run(_inputs(), make_ctx(make_world("tiny", 7), config)).outputs["hurdle_decisions"]
    assert other_seed.get_column("u").to_list() != a.get_column("u").to_list()


@pytest.mark.parametrize(("intercept", "multi"), [(60.0, True), (-800.0, False)])
def test_pi_zero_or_one_draws_nothing(config, intercept, multi):
    cfg = with_config(config, hurdle={"intercept": intercept})
    ctx = make_ctx(make_world(), cfg)
    res = s1.run(_inputs(), ctx)
    hd = res.outputs["hurdle_decisions"]
    assert hd.get_column("pi").to_list() == [1.0 if multi else 0.0] * 3
    assert hd.get_column("u").null_count() == 3 and hd.get_column("deterministic").all()
    assert hd.get_column("is_multi").to_list() == [multi] * 3
    assert (res.rng[0].keys, res.rng[0].draws, res.rng[0].blocks) == (0, 0, 0)
    assert s1.check_hurdle_u(res, _inputs(), ctx).passed


def _run(config):
    ctx = make_ctx(make_world(), config)
    return s1.run(_inputs(), ctx), ctx


def test_cardinality_1A_S1_001(config):
    res, ctx = _run(config)
    hd = res.outputs["hurdle_decisions"]
    for bad in (pl.concat([hd, hd.head(1)]), hd.tail(2)):
        out = s1.check_hurdle_cardinality(StateResult(outputs={"hurdle_decisions": bad}), _inputs(), ctx)
        assert not out.passed and out.evidence["code"] == "1A-S1-001" and out.evidence["first_keys"] == [10]


def test_u_invalid_1A_S1_002(config):
    res, ctx = _run(config)
    hd = res.outputs["hurdle_decisions"]
    row0 = pl.col("merchant_id") == 20
    tampered = [
        hd.with_columns(pl.when(row0).then(~pl.col("is_multi")).otherwise(pl.col("is_multi")).alias("is_multi")),
        hd.with_columns(pl.when(row0).then(None).otherwise(pl.col("u")).alias("u")),
        hd.with_columns(pl.when(row0).then(1.0).otherwise(pl.col("u")).alias("u")),
        hd.with_columns(pl.when(row0).then(True).otherwise(pl.col("deterministic")).alias("deterministic")),
    ]
    for bad in tampered:
        out = s1.check_hurdle_u(StateResult(outputs={"hurdle_decisions": bad}), _inputs(), ctx)
        assert not out.passed and out.evidence["first_keys"] == [20], bad
