"""1A S4 foreign target: every reason reachable, draws only where due, ZTP exhaustion, the S4 check."""

import math

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from fraud_assets.engine.seg_1a import datasets as ds
from fraud_assets.engine.seg_1a import s4_foreign_target as s4
from fraud_assets.engine.seg_1a.catalogue import S4
from fraud_assets.engine.state import StateResult

from .conftest import make_ctx, make_world, with_config

NB = pl.DataFrame({"merchant_id": [10, 20, 30, 40, 50], "mu": [9.0] * 5, "phi": [8.0] * 5,
                   "n_outlets": [5, 12, 40, 3, 160], "nb_rejections": [0] * 5, "gamma_draws": [3] * 5,
                   "poisson_draws": [1] * 5}, schema=ds.SCHEMAS["nb_outlet_draws"])
FEATS = pl.DataFrame({
    "merchant_id": [10, 20, 30, 40, 50, 60], "mcc": [5411] * 6, "channel_sym": ["CP"] * 6,
    "home_country_iso": ["DE"] * 6, "gdp_pc_usd": [1.0] * 6, "ln_gdp_pc": [0.0] * 6, "gdp_bucket": [3] * 6,
    "openness": [0.2, 0.3, 0.1, 0.2, 0.4, 0.2], "is_eligible": [False, True, True, True, True, True],
    "eligibility_rule": ["x"] * 6}, schema=ds.SCHEMAS["merchant_features"])


def _cands():
    rows = []
    for m, c in ((10, 0), (20, 3), (30, 5), (40, 0), (50, 4), (60, 0)):
        rows.append((m, "DE", 0, True))
        rows += [(m, iso, r, False) for r, iso in enumerate(["AT", "BE", "CH", "FR", "NL"][:c], start=1)]
    return pl.DataFrame(rows, orient="row", schema={"merchant_id": pl.Int64, "country_iso": pl.String,
                                                    "candidate_rank": pl.Int32, "is_home": pl.Boolean})


def _inputs():
    return {ds.NB_OUTLET_DRAWS: NB, ds.MERCHANT_FEATURES: FEATS, ds.S3_CANDIDATE_SET: _cands()}


def _run(cfg, seed=42):
    ctx = make_ctx(make_world(seed=seed), cfg)
    return s4.run(_inputs(), ctx), ctx


def test_base_frame_links(config):
    f = s4.base_frame(NB, FEATS, _cands(), config.crossborder)
    x, z = config.crossborder.expansion, config.crossborder.ztp
    row = f.filter(pl.col("merchant_id") == 20).row(0, named=True)
    assert row["admissible_count"] == 3
    eta = math.fsum((x.intercept, x.ln_n * math.log(12), x.openness * 0.3))
    assert row["_px"] == 1 / (1 + math.exp(-eta))
    assert row["_lam"] == math.exp(math.fsum((z.intercept, z.ln_n * math.log(12), z.openness * 0.3)))


def test_reasons_without_draws(config):
    res, ctx = _run(config)
    st = res.outputs["s4_foreign_target"]
    assert st.schema == pl.Schema(ds.SCHEMAS["s4_foreign_target"])
    by = {r["merchant_id"]: r for r in st.iter_rows(named=True)}
    assert by[10]["reason"] == "NOT_ELIGIBLE" and by[40]["reason"] == "NO_ADMISSIBLE"
    for m in (10, 40):
        assert by[m]["u_expand"] is None and by[m]["p_expand"] is None and by[m]["ztp_attempts"] == 0
    expand, ztp = res.rng
    assert expand.keys == expand.draws == 3  # 20, 30, 50
    assert s4.check_ztp_invalid(res, _inputs(), ctx).passed


def test_no_expansion_reachable(config):
    cfg = with_config(config, crossborder={"expansion": {"intercept": -60.0}})
    res, ctx = _run(cfg)
    st = res.outputs["s4_foreign_target"]
    assert st.filter(pl.col("u_expand").is_not_null()).get_column("reason").unique().to_list() == ["NO_EXPANSION"]
    assert res.rng[1].draws == 0
    assert s4.check_ztp_invalid(res, _inputs(), ctx).passed


def test_accepted_reachable_and_k_target_law(config):
    cfg = with_config(config, crossborder={"expansion": {"intercept": 60.0}, "ztp": {"intercept": 1.0}})
    res, ctx = _run(cfg)
    acc = res.outputs["s4_foreign_target"].filter(pl.col("reason") == "ACCEPTED")
    assert acc.get_column("merchant_id").to_list() == [20, 30, 50]
    assert (acc.get_column("k_target") >= 1).all()
    assert (acc.get_column("ztp_zero_draws") == acc.get_column("ztp_attempts") - 1).all()
    assert res.rng[1].keys == 3 and res.rng[1].draws >= 3
    assert s4.check_ztp_invalid(res, _inputs(), ctx).passed


def test_lambda_to_zero_exhausts(config):
    cfg = with_config(config, crossborder={"expansion": {"intercept": 60.0}, "ztp": {"intercept": -60.0}})
    res, ctx = _run(cfg)
    ex = res.outputs["s4_foreign_target"].filter(pl.col("expanded"))
    assert ex.get_column("reason").unique().to_list() == ["ZTP_EXHAUSTED"]
    assert ex.get_column("ztp_attempts").to_list() == [64] * 3 and ex.get_column("exhausted").all()
    assert (ex.get_column("k_target") == 0).all()
    assert res.rng[1].draws == 3 * 64
    assert s4.check_ztp_invalid(res, _inputs(), ctx).passed


def test_replay_and_order_independence(config):
    res, ctx = _run(config)
    again = s4.run({k: v.reverse() for k, v in _inputs().items()}, ctx)
    assert_frame_equal(res.outputs["s4_foreign_target"], again.outputs["s4_foreign_target"])
    assert res.rng == again.rng


def test_every_reason_reachable_on_the_chain(small_chain):
    data, results, ctx = small_chain
    st = results["S4"].outputs["s4_foreign_target"]
    assert {"NOT_ELIGIBLE", "NO_EXPANSION", "ACCEPTED"} <= set(st.get_column("reason").to_list())
    assert s4.check_ztp_invalid(results["S4"], {k: data[k] for k in S4.reads}, ctx).passed


@pytest.mark.parametrize("edit", [
    lambda c: pl.when(pl.col("reason") == "NOT_ELIGIBLE").then(2).otherwise(pl.col("k_target")).cast(pl.Int32)
    .alias("k_target"),
    lambda c: pl.when(pl.col("reason") == "NOT_ELIGIBLE").then(pl.lit("ACCEPTED")).otherwise(pl.col("reason"))
    .alias("reason"),
    lambda c: pl.when(pl.col("reason") == "NOT_ELIGIBLE").then(4).otherwise(pl.col("admissible_count"))
    .cast(pl.Int32).alias("admissible_count"),
])
def test_ztp_invalid_1A_S4_001(config, edit):
    res, ctx = _run(config)
    bad = res.outputs["s4_foreign_target"].with_columns(edit(None))
    out = s4.check_ztp_invalid(StateResult(outputs={"s4_foreign_target": bad}), _inputs(), ctx)
    assert not out.passed and out.evidence["code"] == "1A-S4-001" and out.evidence["first_keys"] == [10]


def test_missing_row_is_ztp_invalid(config):
    res, ctx = _run(config)
    bad = res.outputs["s4_foreign_target"].filter(pl.col("merchant_id") != 30)
    out = s4.check_ztp_invalid(StateResult(outputs={"s4_foreign_target": bad}), _inputs(), ctx)
    assert not out.passed and out.evidence["missing"] == 1
