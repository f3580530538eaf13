"""1A S3 candidate set: geometry, gravity order, tiers and caps, the S3 checks."""

import math

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from fraud_assets.engine.seg_1a import datasets as ds
from fraud_assets.engine.seg_1a import s3_candidates as s3
from fraud_assets.engine.seg_1a.catalogue import S3
from fraud_assets.engine.state import StateResult

from .conftest import make_ctx, make_world, with_config


def test_fiji_centroid_is_antimeridian_safe_and_russia_sane(refs):
    cent = {r[0]: (r[1], r[2]) for r in s3.country_centroids(refs[ds.REF_CITIES], ["FJ", "RU"]).iter_rows()}
    fj_lat, fj_lon = cent["FJ"]
    assert abs(fj_lon) > 178.0 and -19.0 < fj_lat < -16.0  # a naive lon mean would land near 0°
    ru_lat, ru_lon = cent["RU"]
    assert 37.6 < ru_lon < 60.0 and 50.0 < ru_lat < 57.0  # pulled from Moscow toward Vladivostok


def test_distance_matrix_symmetric_and_plausible(refs):
    cent = s3.country_centroids(refs[ds.REF_CITIES], ["DE", "FJ", "FR", "NZ"]).sort("country_iso")
    d = s3.distance_matrix_km(cent.get_column("lat_deg").to_numpy(), cent.get_column("lon_deg").to_numpy())
    np.testing.assert_allclose(d, d.T)
    assert np.all(np.diag(d) == 0.0)
    assert 600 < d[0, 2] < 1000  # DE–FR
    assert 1500 < d[1, 3] < 2700  # FJ–NZ across the antimeridian, not ~20 000 km
    assert d.max() <= math.pi * s3.EARTH_RADIUS_KM


def test_tier_of(config):
    cfg = config.crossborder.candidates
    assert [s3.tier_of(n, cfg) for n in (2, 9, 10, 39, 40, 149, 150, 900)] == [
        ("T1_LOCAL", 6), ("T1_LOCAL", 6), ("T2_REGIONAL", 9), ("T2_REGIONAL", 9), ("T3_MULTINATIONAL", 14),
        ("T3_MULTINATIONAL", 14), ("T4_GLOBAL", 20), ("T4_GLOBAL", 20)]


def test_iso_breaks_score_ties(config):
    cfg = with_config(config, crossborder={"candidates": {"tiers": [{"name": "T1_LOCAL", "n_min": 2, "cap": 2}]}})
    k = 4
    scores = {"iso": ["AA", "BB", "CC", "DD"], "ls": np.zeros((k, k)), "dist": np.ones((k, k)),
              "nb": np.zeros((k, k), dtype=bool), "same": np.zeros((k, k), dtype=bool), "hub": np.zeros(k, dtype=bool),
              "admissible": ~np.eye(k, dtype=bool)}
    t = s3.ranked_candidates(scores, cfg.crossborder.candidates).filter(pl.col("home") == "DD")
    assert t.get_column("country_iso").to_list() == ["AA", "BB"]
    assert t.get_column("base_weight").to_list() == [0.5, 0.5]
    assert t.get_column("reason_codes").to_list() == [["GRAVITY"], ["GRAVITY"]]


def _literal_inputs(refs, config):
    uni = pl.DataFrame({"country_iso": ["DE", "ES", "FR", "GB", "RU", "US"]})
    feats = pl.DataFrame({
        "merchant_id": [4, 1, 2, 3],
        "mcc": [5411] * 4, "channel_sym": ["CP"] * 4, "home_country_iso": ["FR", "DE", "DE", "RU"],
        "gdp_pc_usd": [1.0] * 4, "ln_gdp_pc": [0.0] * 4, "gdp_bucket": [3] * 4, "openness": [0.2] * 4,
        "is_eligible": [True, True, False, False], "eligibility_rule": ["default"] * 4,
    }, schema=ds.SCHEMAS["merchant_features"])
    nb = pl.DataFrame({"merchant_id": [4, 2, 3], "mu": [9.0] * 3, "phi": [8.0] * 3, "n_outlets": [12, 5, 3],
                       "nb_rejections": [0] * 3, "gamma_draws": [3] * 3, "poisson_draws": [1] * 3},
                      schema=ds.SCHEMAS["nb_outlet_draws"])
    inputs = {k: refs[k] for k in S3.reads if k.startswith("ref.")}
    inputs.update({ds.MERCHANT_FEATURES: feats, ds.NB_OUTLET_DRAWS: nb, ds.COUNTRY_UNIVERSE: uni})
    return inputs


def test_candidates_literal(refs, config):
    inputs = _literal_inputs(refs, config)
    ctx = make_ctx(make_world(), config)
    res = s3.run(inputs, ctx)
    cs = res.outputs["s3_candidate_set"]
    assert cs.schema == pl.Schema(ds.SCHEMAS["s3_candidate_set"])
    # merchant 1 single-site, 2 ineligible, 3 sanctioned home (ineligible): only the home row
    homes = cs.filter(pl.col("merchant_id").is_in([1, 2, 3]))
    assert homes.select("merchant_id", "country_iso", "candidate_rank", "tier").rows() == [
        (1, "DE", 0, "T0_SINGLE"), (2, "DE", 0, "T1_LOCAL"), (3, "RU", 0, "T1_LOCAL")]
    assert homes.get_column("reason_codes").to_list() == [["HOME"]] * 3
    m4 = cs.filter(pl.col("merchant_id") == 4)
    assert m4.get_column("candidate_rank").to_list() == list(range(5))  # FR home + 4 of 5 (RU sanctioned)
    assert m4.get_column("country_iso").to_list()[0] == "FR"
    assert "RU" not in m4.get_column("country_iso").to_list()
    foreign = m4.filter(~pl.col("is_home"))
    assert foreign.get_column("log_score").is_sorted(descending=True)
    assert math.fsum(foreign.get_column("base_weight").to_list()) == pytest.approx(1.0, abs=1e-15)
    assert foreign.get_column("filter_tags").to_list() == [["T2_REGIONAL"]] * 4
    reasons = dict(zip(foreign.get_column("country_iso").to_list(), foreign.get_column("reason_codes").to_list(),
                       strict=True))
    assert reasons["DE"] == ["GRAVITY", "HUB", "NEIGHBOUR", "SAME_CURRENCY"]
    assert reasons["GB"] == ["GRAVITY", "HUB"]
    for chk in S3.checks:
        assert chk.fn(res, inputs, ctx).passed, chk.name
    shuffled = {k: v.reverse() for k, v in inputs.items()}
    assert_frame_equal(s3.run(shuffled, ctx).outputs["s3_candidate_set"], cs)


def test_tier_cap_applies(refs, config):
    cfg = with_config(config, crossborder={"candidates": {"tiers": [
        {"name": "T1_LOCAL", "n_min": 2, "cap": 1}, {"name": "T2_REGIONAL", "n_min": 10, "cap": 2}]}})
    cs = s3.run(_literal_inputs(refs, cfg), make_ctx(make_world(), cfg)).outputs["s3_candidate_set"]
    assert cs.filter(pl.col("merchant_id") == 4).height == 3


def _tamper_check(refs, config, fn, edit):
    inputs = _literal_inputs(refs, config)
    ctx = make_ctx(make_world(), config)
    cs = s3.run(inputs, ctx).outputs["s3_candidate_set"]
    return fn(StateResult(outputs={"s3_candidate_set": edit(cs)}), inputs, ctx)


def test_rank_invalid_1A_S3_001(refs, config):
    gap = lambda cs: cs.with_columns(  # noqa: E731
        pl.when((pl.col("merchant_id") == 4) & (pl.col("candidate_rank") == 4)).then(7)
        .otherwise(pl.col("candidate_rank")).cast(pl.Int32).alias("candidate_rank"))
    out = _tamper_check(refs, config, s3.check_rank_invalid, gap)
    assert not out.passed and out.evidence["code"] == "1A-S3-001" and out.evidence["first_keys"] == [4]
    extra_row = lambda cs: pl.concat([cs, cs.filter((pl.col("merchant_id") == 4) & (pl.col("candidate_rank") == 1))  # noqa: E731
                                      .with_columns(pl.lit(0, dtype=pl.Int32).alias("candidate_rank"),
                                                    pl.lit("FR").alias("country_iso"))])
    assert not _tamper_check(refs, config, s3.check_rank_invalid, extra_row).passed
    foreign_for_ineligible = lambda cs: pl.concat([cs, cs.filter(pl.col("merchant_id") == 4).tail(1)  # noqa: E731
                                                   .with_columns(pl.lit(2, dtype=pl.Int64).alias("merchant_id"),
                                                                 pl.lit(1, dtype=pl.Int32).alias("candidate_rank"),
                                                                 pl.lit("T1_LOCAL").alias("tier"))])
    out = _tamper_check(refs, config, s3.check_rank_invalid, foreign_for_ineligible)
    assert not out.passed and out.evidence["first_keys"] == [2]


def test_outside_universe_1A_S3_002(refs, config):
    sanctioned = lambda cs: cs.with_columns(  # noqa: E731
        pl.when((pl.col("merchant_id") == 4) & (pl.col("candidate_rank") == 2)).then(pl.lit("RU"))
        .otherwise(pl.col("country_iso")).alias("country_iso"))
    out = _tamper_check(refs, config, s3.check_outside_universe, sanctioned)
    assert not out.passed and out.evidence["code"] == "1A-S3-002" and out.evidence["first_keys"] == [[4, "RU"]]
    outside = lambda cs: cs.with_columns(  # noqa: E731
        pl.when(pl.col("merchant_id") == 1).then(pl.lit("JP")).otherwise(pl.col("country_iso")).alias("country_iso"))
    assert not _tamper_check(refs, config, s3.check_outside_universe, outside).passed
