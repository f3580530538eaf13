"""3B S1: classification law and lineage, draws, settlement buckets, country points, tz fallbacks, checks."""

from __future__ import annotations

import hashlib

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraud_assets.engine.seg_3b import catalogue, common, policy
from fraud_assets.engine.seg_3b import datasets as ds
from fraud_assets.engine.seg_3b import s1_virtual as s1
from fraud_assets_tests.engine.seg_3b.conftest import (
    CNP,
    CP,
    make_ctx,
    make_world,
    merchants_frame,
    outlets_frame,
    run_checks,
    with_config,
)

MAX_ID = 2**63 - 1


def _inputs(refs, mids: pl.DataFrame, outlets: dict[int, int] | None = None) -> dict:
    home = dict(mids.select("merchant_id", "home_country_iso").iter_rows())
    counts = outlets or {m: 1 for m in home}
    return {**refs, ds.MERCHANT_IDS: mids, ds.OUTLET_CATALOGUE: outlets_frame(counts, home)}


def _first_mcc(rule, known):
    codes = policy.rule_mcc_set(rule, known)
    return 5411 if codes is None else min(codes)


def test_every_rule_is_reachable(refs, config):
    known = frozenset(refs[ds.REF_MCC].get_column("mcc").to_list())
    rules = config.virtual_rules.rules
    mids = merchants_frame([(100 + i, _first_mcc(r, known), r.channel, "US") for i, r in enumerate(rules)])
    vc, _ = s1.classify(_inputs(refs, mids), make_ctx(config=config))
    assert vc.get_column("rule_id").to_list() == [r.rule_id for r in rules]
    vr99 = vc.filter(pl.col("rule_id") == "VR99").row(0, named=True)
    assert vr99["decision_reason"] == "DEFAULT_GUARD" and vr99["virtual_mode"] == "NON_VIRTUAL"
    assert vr99["p_virtual"] is None


def test_overrides_accept_and_deny_without_draws(refs, config):
    mids = merchants_frame([(1, 5411, CP, "US"), (2, 5815, CNP, "US"), (3, 5815, CNP, "GB")])
    cfg = with_config(config, virtual_rules={"overrides": [{"merchant_id": 1, "mode": "VIRTUAL_ONLY"},
                                                           {"merchant_id": 2, "mode": "NON_VIRTUAL"}]})
    vc, draws = s1.classify(_inputs(refs, mids), make_ctx(config=cfg))
    rows = {r["merchant_id"]: r for r in vc.iter_rows(named=True)}
    assert (rows[1]["virtual_mode"], rows[1]["decision_reason"], rows[1]["rule_id"]) == \
        ("VIRTUAL_ONLY", "OVERRIDE_ACCEPT", "OVERRIDE")
    assert (rows[2]["virtual_mode"], rows[2]["decision_reason"]) == ("NON_VIRTUAL", "OVERRIDE_DENY")
    assert rows[1]["rule_version"] == cfg.virtual_rules.version and rows[1]["edge_share"] == 1.0
    assert draws["3B.s1.virtual"] == 1  # only merchant 3 drew


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 9999), st.sampled_from([CP, CNP])), min_size=1, max_size=40))
def test_rule_id_is_never_null(cached_refs, cached_config, pairs):
    mids = merchants_frame([(i, mcc, ch, "FR") for i, (mcc, ch) in enumerate(pairs)])
    vc, _ = s1.classify(_inputs(cached_refs, mids), make_ctx(config=cached_config))
    assert vc.get_column("rule_id").null_count() == 0 and vc.get_column("rule_version").null_count() == 0
    assert vc.get_column("decision_reason").null_count() == 0


@pytest.fixture(scope="module")
def cached_refs(refs):
    return {k: refs[k] for k in (ds.REF_GDP_BUCKET, ds.REF_MCC)}


@pytest.fixture(scope="module")
def cached_config(config):
    return config


def test_p_of_one_draws_nothing(refs, config):
    # VR01 0.9 · size(1 outlet) 1.3 · gdp(US) ≥ 1 with the cap lifted to 1.0 → accept without a uniform
    mids = merchants_frame([(1, 5815, CNP, "US"), (2, 5411, CP, "US")])
    cfg = with_config(config, virtual_rules={"modifiers": {"propensity_cap": 1.0}})
    vc, draws = s1.classify(_inputs(refs, mids), make_ctx(config=cfg))
    assert vc.get_column("virtual_mode").to_list() == ["VIRTUAL_ONLY", "NON_VIRTUAL"]
    assert draws == {"3B.s1.virtual": 0, "3B.s1.hybrid_share": 0}
    assert vc.row(0, named=True)["p_virtual"] == 1.0


def test_propensity_law_and_modifiers(refs, config):
    gdp = dict(refs[ds.REF_GDP_BUCKET].select("country_iso", "gdp_bucket").iter_rows())
    mids = merchants_frame([(1, 7372, CNP, "NG"), (2, 7372, CNP, "US"), (3, 7372, CNP, "US")])
    vc, _ = s1.classify(_inputs(refs, mids, {1: 1, 2: 1, 3: 30}), make_ctx(config=config))
    p = vc.get_column("p_virtual").to_list()
    m = config.virtual_rules.modifiers.gdp_bucket
    assert p[0] == pytest.approx(min(0.7 * 1.3 * m[gdp["NG"]], 0.98))
    assert p[2] == pytest.approx(0.7 * 0.5 * m[gdp["US"]])  # 30 outlets → 0.5
    assert s1.size_multiplier(0, config.virtual_rules.modifiers.size) == 1.3  # absent = 1 outlet


def test_outcomes_vary_within_a_cell_and_hybrid_shares(chain):
    data, _, _ = chain
    vc = data[ds.VIRTUAL_CLASSIFICATION]
    cells = vc.filter(pl.col("p_virtual").is_between(0.0, 1.0, closed="none")).group_by("mcc", "channel").agg(
        pl.col("is_virtual").any().alias("a"), (~pl.col("is_virtual")).any().alias("b"), pl.len())
    assert cells.filter(pl.col("a") & pl.col("b")).height >= 1
    hyb = vc.filter(pl.col("virtual_mode") == "HYBRID").get_column("edge_share")
    assert hyb.len() and hyb.min() >= 0.15 and hyb.max() <= 0.60 and hyb.n_unique() == hyb.len()


def test_classification_is_order_independent(refs, synthetic, config):
    mids, oc = synthetic
    ctx = make_ctx(config=config)
    a, _ = s1.classify({**refs, ds.MERCHANT_IDS: mids, ds.OUTLET_CATALOGUE: oc}, ctx)
    b, _ = s1.classify({**refs, ds.MERCHANT_IDS: mids.sample(fraction=1.0, shuffle=True, seed=3),
                        ds.OUTLET_CATALOGUE: oc.reverse()}, ctx)
    assert a.equals(b)


def test_us_bucket_one_is_new_york_and_washington(refs, config):
    cand = s1.candidates(refs[ds.REF_CITIES], ["US"], 500)["US"]
    plan = s1.bucket_plan(cand, config.settlement_policy.buckets)
    b1 = next(m for name, _, m in plan if name == "B1")
    assert sorted(cand.get_column("name").gather(b1).to_list()) == ["New York City", "Washington"]
    assert [name for name, _, _ in plan] == ["B1", "B2", "B3", "B4", "B5"]
    assert sum(p for _, p, _ in plan) == pytest.approx(1.0)
    members = np.concatenate([m for _, _, m in plan])
    assert len(members) == len(set(members.tolist())) == 500


def test_small_country_drops_empty_buckets(refs, config):
    cand = s1.candidates(refs[ds.REF_CITIES], ["TK"], 500)["TK"]  # three villages
    plan = s1.bucket_plan(cand, config.settlement_policy.buckets)
    assert [n for n, _, _ in plan] == ["B1", "B2"]
    assert [p for _, p, _ in plan] == pytest.approx([0.5, 0.5])


def test_settlement_country_point_and_fallback_tz(refs, config):
    # UM has no city: its representative point, a derived zone, and still 4 uniforms
    mids = merchants_frame([(MAX_ID, 7372, CNP, "UM"), (5, 7372, CNP, "US")])
    cfg = with_config(config, virtual_rules={"modifiers": {"propensity_cap": 1.0},
                                             "overrides": [{"merchant_id": MAX_ID, "mode": "VIRTUAL_ONLY"},
                                                           {"merchant_id": 5, "mode": "VIRTUAL_ONLY"}]})
    ctx = make_ctx(config=cfg)
    res = s1.run(_inputs(refs, mids), ctx)
    vs = res.outputs[ds.VIRTUAL_SETTLEMENT]
    um = vs.filter(pl.col("settlement_country_iso") == "UM").row(0, named=True)
    assert um["merchant_id"] == MAX_ID and vs.schema["merchant_id"] == pl.Int64
    assert um["coord_source"] == "country_point" and um["city_geonameid"] is None and um["evidence_url"] is None
    assert um["tz_source"] == "DERIVED" and um["tzid_settlement"].startswith("Pacific/")
    assert um["offset_km"] <= 3.0
    us = vs.filter(pl.col("settlement_country_iso") == "US").row(0, named=True)
    assert us["tz_source"] == "INGEST" and us["evidence_url"] == f"https://sws.geonames.org/{us['city_geonameid']}/"
    assert {t.family: t.draws for t in res.rng}["3B.s1.settlement"] == 8
    outcomes = run_checks(catalogue.S1, res, {**_inputs(refs, mids), ds.S0_GATE_SUMMARY: None}, ctx)
    assert all(o.passed for c, o in outcomes.items() if c != "3B-S1-001")


def test_settlement_tz_ladder(refs, config):
    # a city tzid the tzdata wheel does not load → resolver at the point; the ladder never returns null
    inputs = dict(refs)
    tz, src = s1.settlement_tz(["Mars/Olympus", "Europe/Paris", None], np.array([40.7128, 48.85, 51.5]),
                               np.array([-74.006, 2.35, -0.12]), ["US", "FR", "GB"], inputs, config)
    assert tz == ["America/New_York", "Europe/Paris", "Europe/London"]
    assert src == ["DERIVED", "INGEST", "DERIVED"]


def test_settlement_site_id_recipe():
    expected = int.from_bytes(hashlib.sha256(b"fa.3B.settlement\x1f42").digest()[0:8], "little")
    assert s1.settlement_site_id(42) == f"{expected:016x}"
    assert len(s1.settlement_site_id(MAX_ID)) == 16


@settings(max_examples=200, deadline=None)
@given(st.floats(-90, 90), st.floats(-180, 180), st.floats(0, 50), st.floats(0, 2 * np.pi))
def test_offsets_stay_in_range_and_lon_never_minus_180(lat, lon, r, theta):
    la, lo = common.offset_points(np.array([lat]), np.array([lon]), np.array([r]), np.array([theta]))
    assert -89.9 <= la[0] <= 89.9
    assert -180.0 < lo[0] <= 180.0


def test_s1_checks_catch_tampering(chain):
    data, results, ctx = chain
    res = results["S1"]
    inputs = {k: data[k] for k in catalogue.S1.reads}
    assert all(o.passed for o in run_checks(catalogue.S1, res, data, ctx).values())
    vc = data[ds.VIRTUAL_CLASSIFICATION]
    vs = data[ds.VIRTUAL_SETTLEMENT]

    def outcome(code: str, **outputs):
        tampered = s1.StateResult(outputs={ds.VIRTUAL_CLASSIFICATION: vc, ds.VIRTUAL_SETTLEMENT: vs, **outputs})
        check = next(c for c in catalogue.S1.checks if c.code == code)
        return check.fn(tampered, inputs, ctx)

    assert not outcome("3B-S1-002", **{ds.VIRTUAL_CLASSIFICATION: vc.tail(-1)}).passed
    assert not outcome("3B-S1-003", **{ds.VIRTUAL_CLASSIFICATION: vc.with_columns(
        pl.when(pl.col("is_virtual")).then(None).otherwise(pl.col("rule_id")).alias("rule_id"))}).passed
    assert not outcome("3B-S1-004", **{ds.VIRTUAL_SETTLEMENT: pl.concat([vs, vs.head(1)])}).passed
    assert not outcome("3B-S1-005", **{ds.VIRTUAL_SETTLEMENT: vs.tail(-1)}).passed
    assert not outcome("3B-S1-006", **{ds.VIRTUAL_SETTLEMENT: vs.with_columns(
        pl.lit("Mars/Olympus").alias("tzid_settlement"))}).passed
    assert not outcome("3B-S1-007", **{ds.VIRTUAL_SETTLEMENT: vs.with_columns(pl.lit(-180.0).alias("lon_deg"))}).passed
    summary = common.json_input(data[ds.S0_GATE_SUMMARY])
    bad_inputs = {**inputs, ds.S0_GATE_SUMMARY: pl.DataFrame([{**summary, "passed": False}])}
    assert not s1.check_gate(res, bad_inputs, ctx).passed
    assert not s1.check_gate(res, inputs, make_ctx(make_world("small", 7), ctx.config)).passed
