"""3A S1: the rule ladder (each reason, first match wins), monotone p, one draw per rule-e row, checks."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraud_assets.core import rng
from fraud_assets.core.errors import EngineFailure
from fraud_assets.engine.seg_3a import catalogue
from fraud_assets.engine.seg_3a import datasets as ds
from fraud_assets.engine.seg_3a import s1_escalation as s1
from fraud_assets.engine.seg_3a.config import load_config
from fraud_assets.engine.state import RngTally, StateResult
from fraud_assets_tests.engine.seg_3a.conftest import (
    CONFIG_DIR,
    MAX_ID,
    make_world,
    run_checks,
)

ESCALATION = load_config(CONFIG_DIR).zone_mixture_policy.escalation


def _structure(rows):
    return pl.DataFrame(rows, schema={"site_count": pl.Int32, "zone_count_country": pl.Int32,
                                      "effective_zone_count": pl.Float64, "top1_prior_share": pl.Float64},
                        orient="row")


def test_rule_ladder_reasons_and_first_match_order(config):
    esc = config.zone_mixture_policy.escalation
    frame = _structure([
        (100, 1, 1.0, 1.0),    # a: K = 1 beats forced escalation
        (1, 5, 3.0, 0.4),      # b: n < min_sites
        (35, 2, 1.1, 0.999),   # c: n ≥ 35 beats the dominant-zone guard
        (5, 2, 1.1, 0.95),     # d: 5·0.05 = 0.25 < 0.5
        (5, 3, 2.5, 0.5),      # e
        (34, 2, 1.2, 0.98),    # d: 34·0.02 = 0.68 ≥ 0.5 → e
    ])
    out = s1.rule_ladder(frame, esc)
    assert out.get_column("decision_reason").to_list() == [
        s1.FORCED_MONOLITHIC, s1.BELOW_MIN_SITES, s1.FORCED_ESCALATION, s1.DOMINANT_ZONE, s1.STOCHASTIC, s1.STOCHASTIC]
    probs = out.get_column("escalation_prob").to_list()
    assert probs[:4] == [None] * 4
    x = -1.0 + 0.9 * np.log(5) + 0.8 * np.log(2.5)
    assert probs[4] == pytest.approx(1 / (1 + np.exp(-x)), rel=1e-15)
    assert out.get_column("expected_secondary_sites").to_list()[3] == pytest.approx(0.25)


def test_probability_bounds_clamp(config):
    esc = config.zone_mixture_policy.escalation
    p = s1.escalation_prob(np.array([2, 10_000]), np.array([1.0, 50.0]), esc)
    assert p.tolist() == [pytest.approx(max(0.05, 1 / (1 + np.exp(1 - 0.9 * np.log(2))))), 0.95]


@settings(max_examples=80, deadline=None)
@given(st.integers(2, 10_000), st.integers(0, 500), st.floats(1.0, 30.0), st.floats(0.0, 10.0))
def test_probability_is_monotone_in_sites_and_effective_zones(n, dn, k, dk):
    esc = ESCALATION
    base = s1.escalation_prob(np.array([n]), np.array([k]), esc)[0]
    assert s1.escalation_prob(np.array([n + dn]), np.array([k]), esc)[0] >= base
    assert s1.escalation_prob(np.array([n]), np.array([k + dk]), esc)[0] >= base


def test_uniforms_are_lane_0_of_block_0_per_pair_key():
    root = rng.RngRoot("f" * 64, "a" * 64)
    keys = [s1.common.pair_key(MAX_ID, "FR"), "101|US"]
    u = s1.escalation_uniforms(keys, root, 42)
    for key, value in zip(keys, u):
        w0, _ = rng.block(root.stream(s1.FAMILY, key, seed=42), 0, 0)
        assert value == rng.u01_py(w0)
    assert keys[0] == "9223372036854775807|FR"


def test_chain_queue_covers_1a_with_one_draw_per_rule_e_row(chain):
    data, results, _ctx = chain
    q = data[ds.S1_ESCALATION]
    oc = data[ds.OUTLET_CATALOGUE]
    assert q.height == oc.select("merchant_id", "legal_country_iso").unique().height
    assert set(q.get_column("decision_reason").unique()) == set(s1.REASONS)
    rule_e = q.filter(pl.col("escalation_prob").is_not_null())
    assert results["S1"].rng == [RngTally(s1.FAMILY, rule_e.height, rule_e.height, rule_e.height)]
    assert (q.get_column("is_escalated") == q.get_column("decision_reason").is_in(list(s1.ESCALATED_REASONS))).all()
    big = q.filter(pl.col("merchant_id") == MAX_ID)
    assert big.schema["merchant_id"] == pl.Int64 and big.item(0, "site_count") == 2
    us = q.filter((pl.col("merchant_id") == 101) & (pl.col("legal_country_iso") == "US"))
    assert us.item(0, "decision_reason") == s1.FORCED_ESCALATION and us.item(0, "site_count") == 38
    assert q.filter(pl.col("legal_country_iso") == "DE").item(0, "decision_reason") == s1.FORCED_MONOLITHIC


def test_decisions_do_not_depend_on_row_order(chain, config):
    data, _, ctx = chain
    oc = data[ds.OUTLET_CATALOGUE]
    a, _ = s1.decide(oc, data[ds.S2_PRIORS], config, ctx.world)
    b, _ = s1.decide(oc.sample(fraction=1.0, shuffle=True, seed=3), data[ds.S2_PRIORS], config, ctx.world)
    assert a.equals(b)
    keys = s1.common.pair_keys(a.filter(pl.col("escalation_prob").is_not_null()))
    u42 = s1.escalation_uniforms(keys, ctx.world.rng, 42)
    u7 = s1.escalation_uniforms(keys, make_world(seed=7).rng, 7)
    assert (u42 != u7).all()  # the seed is part of every stream


def test_unknown_country_fails_closed(chain, config):
    data, _, ctx = chain
    priors = data[ds.S2_PRIORS].filter(pl.col("country_iso") != "MX")
    with pytest.raises(EngineFailure) as info:
        s1.decide(data[ds.OUTLET_CATALOGUE], priors, config, ctx.world)
    assert info.value.code == "3A-S1-002" and info.value.keys == ["107|MX"]


def test_checks_pass_and_each_catches_its_fault(chain):
    data, results, ctx = chain
    res = results["S1"]
    q = data[ds.S1_ESCALATION]
    ok = run_checks(catalogue.S1, res, data, ctx)
    assert all(o.passed for o in ok.values()), {k: o.evidence for k, o in ok.items() if not o.passed}

    def check(code: str, queue=q, rng_=None, inputs=None):
        r = StateResult(outputs={ds.S1_ESCALATION: queue}, rng=rng_ if rng_ is not None else res.rng)
        return run_checks(catalogue.S1, r, inputs or data, ctx)[code]

    bad_gate = dict(data)
    bad_gate[ds.S0_GATE] = data[ds.S0_GATE].with_columns(pl.lit(False).alias("passed"))
    assert not check("3A-S1-001", inputs=bad_gate).passed
    unknown = q.with_columns(pl.when(pl.col("legal_country_iso") == "FR").then(pl.lit("QQ"))
                             .otherwise(pl.col("legal_country_iso")).alias("legal_country_iso"))
    assert not check("3A-S1-002", queue=unknown).passed
    assert check("3A-S1-003", queue=q.tail(-1)).evidence["first_keys"][0].startswith("missing|")
    more = q.with_columns(pl.when(pl.col("merchant_id") == 103).then(11).otherwise(pl.col("site_count"))
                          .cast(pl.Int32).alias("site_count"))
    assert check("3A-S1-004", queue=more).evidence["first_keys"] == ["103|DE|11|10"]
    assert not check("3A-S1-005", queue=pl.concat([q, q.head(1)]).sort("merchant_id", "legal_country_iso")).passed
    flipped = q.with_columns(pl.when(pl.col("merchant_id") == 102).then(pl.col("is_escalated").not_())
                             .otherwise(pl.col("is_escalated")).alias("is_escalated"))
    assert check("3A-S1-006", queue=flipped).evidence["first_keys"][0].startswith("102|US")
    assert not check("3A-S1-007", rng_=[RngTally(s1.FAMILY, 1, 1, 1)]).passed
