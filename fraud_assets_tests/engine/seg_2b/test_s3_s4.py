"""2B S3 day effects and S4 group weights: the world's day grid, AR(1) laws, batching, exact integer masses."""

from __future__ import annotations

import math
from datetime import date, datetime, timezone

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from fraud_assets.engine.seg_2b import catalogue, common, laws
from fraud_assets.engine.seg_2b import datasets as ds
from fraud_assets.engine.state import RngTally, StateResult
from fraud_assets_tests.engine.seg_2b.conftest import failed, make_ctx, make_world, run_checks


def test_day_grid_is_the_world_horizon_across_a_month_and_a_dst_change(tiny_chain):
    world = make_world("tiny", start=datetime(2026, 3, 27, tzinfo=timezone.utc), days=10)
    days = common.day_grid(world.preset)
    assert days[0] == date(2026, 3, 27) and days[-1] == date(2026, 4, 5) and len(days) == 10
    assert date(2026, 3, 29) in days  # EU spring-forward inside
    data, _, ctx = tiny_chain
    weights = data[ds.S1_SITE_WEIGHTS]
    sigma, effects = laws.day_effect_tables(weights, world, ctx.config.day_effects)
    assert sorted(set(effects.get_column("utc_day").to_list())) == days
    assert effects.height == weights.select("merchant_id", "group_index").unique().height * 10
    assert effects.get_column("day_index").max() == 9


def test_checks_pass_and_trace_counts(tiny_chain):
    data, results, ctx = tiny_chain
    assert failed(run_checks(catalogue.S3, results["S3"], data, ctx)) == {}
    assert failed(run_checks(catalogue.S4, results["S4"], data, ctx)) == {}
    rows = data[ds.S3_DAY_EFFECTS].height
    merchants = data[ds.S1_SITE_WEIGHTS].get_column("merchant_id").n_unique()
    tallies = {t.family: (t.keys, t.draws, t.blocks) for t in results["S3"].rng}
    assert tallies == {"2B.s3.sigma": (merchants, 2 * merchants, merchants),
                       "2B.s3.day_effect": (rows, 2 * rows, rows)}


def _groups(n: int, base_share: float = 0.5) -> tuple[pl.DataFrame, pl.DataFrame]:
    ids = np.arange(1, n + 1, dtype=np.int64) * 11
    groups = pl.DataFrame({"merchant_id": ids, "group_index": np.zeros(n, np.int16),
                           "tz_group_id": ["Europe/Paris"] * n, "base_share": np.full(n, base_share)},
                          schema={"merchant_id": pl.Int64, "group_index": pl.Int16, "tz_group_id": pl.String,
                                  "base_share": pl.Float64})
    merchants = pl.DataFrame({"merchant_id": ids, "n_sites": np.full(n, 5, np.int32)})
    return groups, merchants


def test_ar1_is_stationary_and_gamma_has_mean_one():
    ctx = make_ctx()
    cfg = ctx.config.day_effects
    n, days = 20_000, [date(2026, 3, 27 + i) for i in range(4)]
    groups, merchants = _groups(n)
    sigma = laws.merchant_sigma(merchants, cfg, ctx.world.rng, ctx.world.seed)
    eff = laws.day_effects(groups, sigma, days, cfg, ctx.world.rng, ctx.world.seed)
    z_last = eff.filter(pl.col("day_index") == 3).get_column("z").to_numpy()
    # Var(Z_k) = 1 for every k: sample variance within 5 standard errors (z form, never a fixed tolerance)
    assert abs(z_last.var() - 1.0) <= 5 * math.sqrt(2.0 / n)
    eps = eff.sort("merchant_id", "day_index").get_column("epsilon").to_numpy().reshape(n, 4)
    assert abs(np.corrcoef(eps[:, 0], eps[:, 1])[0, 1]) <= 5 / math.sqrt(n)  # innovations independent
    z = eff.sort("merchant_id", "day_index").get_column("z").to_numpy().reshape(n, 4)
    assert abs(np.corrcoef(z[:, 2], z[:, 3])[0, 1] - cfg.ar1_phi) <= 5 / math.sqrt(n)
    raw = np.exp(eff.get_column("log_gamma").to_numpy())  # E[exp(−σ²/2 + σZ)] = 1
    assert abs(raw.mean() - 1.0) <= 5 * raw.std() / math.sqrt(raw.shape[0])
    g = eff.get_column("gamma").to_numpy()
    lo, hi = cfg.gamma_clip
    assert (g >= lo).all() and (g <= hi).all() and (eff.get_column("clipped").to_numpy() == ((raw < lo) | (raw > hi))).all()


def test_rows_do_not_depend_on_batching_or_merchant_order():
    ctx = make_ctx()
    cfg = ctx.config.day_effects
    days = [date(2026, 3, 27 + i) for i in range(3)]
    groups, merchants = _groups(40)
    sigma = laws.merchant_sigma(merchants, cfg, ctx.world.rng, ctx.world.seed)
    whole = laws.day_effects(groups, sigma, days, cfg, ctx.world.rng, ctx.world.seed)
    shuffled = groups.sample(fraction=1.0, shuffle=True, seed=3)
    parts = [laws.day_effects(shuffled.slice(i, 7), sigma, days, cfg, ctx.world.rng, ctx.world.seed)
             for i in range(0, 40, 7)]
    assert pl.concat(parts).sort("merchant_id", "utc_day", "group_index").equals(whole)
    half = laws.merchant_sigma(merchants.reverse().slice(0, 20), cfg, ctx.world.rng, ctx.world.seed)
    assert half.equals(sigma.filter(pl.col("merchant_id").is_in(half.get_column("merchant_id").to_list())))


def test_merchants_get_their_own_volatility_regime(synthetic_chain):
    data, _, _ = synthetic_chain
    s = data[ds.S3_MERCHANT_SIGMA]
    assert s.get_column("sigma_merchant").n_unique() > s.height // 2
    assert set(s.get_column("size_bucket").to_list()) <= {"small", "mid", "large"}
    lo, hi = make_ctx().config.day_effects.sigma_bounds
    assert s.get_column("sigma_merchant").min() >= lo and s.get_column("sigma_merchant").max() <= hi


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.floats(1e-6, 1.0), st.floats(0.5, 2.0)), min_size=1, max_size=12))
def test_q31_masses_sum_to_2_31_exactly(pairs):
    base = np.array([b for b, _ in pairs])
    frame = pl.DataFrame({"merchant_id": [1] * len(pairs), "utc_day": [date(2026, 3, 27)] * len(pairs),
                          "tz_group_id": [f"Z/{i:02d}" for i in range(len(pairs))],
                          "group_index": list(range(len(pairs))), "base_share": base / base.sum(),
                          "gamma": [g for _, g in pairs]},
                         schema_overrides={"group_index": pl.Int16})
    out = laws.group_weights(frame)
    assert abs(out.get_column("p_group").sum() - 1.0) <= 1e-12
    m = out.get_column("mass_q31").to_numpy()
    assert int(m.sum()) == 1 << 31 and (m >= 0).all()
    assert np.abs(m - out.get_column("p_group").to_numpy() * 2.0 ** 31).max() < 1.0 + 1e-6


def test_q31_ties_go_to_the_lower_group_index():
    p = np.array([1 / 3, 1 / 3, 1 / 3])
    m = laws.q31(p, np.array([0]))
    assert m.sum() == 1 << 31 and m[0] >= m[1] >= m[2] and m[0] - m[2] <= 1


def _s3(data, effects=None, rng=None) -> StateResult:  # noqa: ANN001
    return StateResult(outputs={ds.S3_DAY_EFFECTS: data[ds.S3_DAY_EFFECTS] if effects is None else effects,
                                ds.S3_MERCHANT_SIGMA: data[ds.S3_MERCHANT_SIGMA]},
                       rng=rng if rng is not None else [])


def test_s3_checks_catch_their_tampers(tiny_chain):
    data, results, ctx = tiny_chain
    e = data[ds.S3_DAY_EFFECTS]
    assert not run_checks(catalogue.S3, _s3(data, e.slice(1), results["S3"].rng), data, ctx)["2B-S3-001"].passed
    inf = e.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(float("inf")).otherwise(pl.col("gamma"))
                         .alias("gamma"))
    assert not run_checks(catalogue.S3, _s3(data, inf, results["S3"].rng), data, ctx)["2B-S3-002"].passed
    short = [RngTally(t.family, t.keys, t.draws - 2, t.blocks) for t in results["S3"].rng]
    assert not run_checks(catalogue.S3, _s3(data, rng=short), data, ctx)["2B-S3-003"].passed


def test_s4_checks_catch_their_tampers(tiny_chain):
    data, _, ctx = tiny_chain
    g = data[ds.S4_GROUP_WEIGHTS]
    first = pl.int_range(pl.len()) == 0
    cases = {
        "2B-S4-001": g.slice(1),
        "2B-S4-002": g.with_columns(pl.when(first).then(pl.col("mass_q31") + 1).otherwise(pl.col("mass_q31"))
                                    .alias("mass_q31")),
        "2B-S4-003": g.with_columns(pl.when(first).then(pl.col("gamma") * 1.01).otherwise(pl.col("gamma"))
                                    .alias("gamma")),
        "2B-S4-004": g.with_columns(pl.when(first).then(pl.col("base_share") * 0.5).otherwise(pl.col("base_share"))
                                    .alias("base_share")),
    }
    for code, frame in cases.items():
        checks = run_checks(catalogue.S4, StateResult(outputs={ds.S4_GROUP_WEIGHTS: frame}), data, ctx)
        assert not checks[code].passed, code
