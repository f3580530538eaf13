"""1A S5 currency weights: exact fixed-dp sums, hub support, euro area, overrides, the S5 check."""

import math

import polars as pl
import pytest

from fraud_assets.engine.seg_1a import datasets as ds
from fraud_assets.engine.seg_1a import s5_currency_weights as s5
from fraud_assets.engine.seg_1a.catalogue import S5
from fraud_assets.engine.seg_1a.common import largest_remainder
from fraud_assets.engine.state import StateResult

from .conftest import with_config


def test_largest_remainder_rint_and_floor():
    assert largest_remainder([0.5, 1.5, 1.0], 3, ["A", "B", "C"], base="rint").tolist() == [0, 2, 1]  # half-even
    assert largest_remainder([2.5, 2.5], 5, ["B", "A"], base="rint").tolist() == [2, 3]  # 2+2, +1 to ISO-first
    assert largest_remainder([0.6, 0.6, 0.8], 1, ["A", "B", "C"], base="rint").tolist() == [0, 0, 1]  # surplus: -1 to the lowest residuals
    assert largest_remainder([0.4, 0.4, 0.2], 1, ["C", "B", "A"], base="floor").tolist() == [0, 1, 0]


def test_currency_weights_literal(config):
    cur = config.currency.model_copy(update={"settlement_hubs": {"US": 0.6, "GB": 0.4}, "min_share": 0.0})
    gdp = {"DE": 3.0, "FR": 1.0, "US": 10.0, "GB": 2.0, "JP": 4.0}
    primary = {"DE": "EUR", "FR": "EUR", "US": "USD", "GB": "GBP", "JP": "JPY"}
    rows = s5.currency_weights("EUR", ["DE", "FR", "GB", "JP", "US"], primary, gdp, cur)
    assert [r[0] for r in rows] == ["DE", "FR", "GB", "US"]
    w = {r[0]: r[1] for r in rows}
    assert w["DE"] == pytest.approx(0.9 * 0.75) and w["FR"] == pytest.approx(0.9 * 0.25)
    assert w["US"] == pytest.approx(0.1 * 0.6) and w["GB"] == pytest.approx(0.1 * 0.4)
    assert sum(r[2] for r in rows) == 10**8
    assert [(r[3], r[4]) for r in rows] == [(True, False), (True, False), (False, True), (False, True)]


def test_min_share_floor_then_renormalise(config):
    cur = config.currency.model_copy(update={"settlement_hubs": {"US": 1.0}, "min_share": 0.2})
    rows = s5.currency_weights("JPY", ["JP", "US"], {"JP": "JPY", "US": "USD"}, {"JP": 1.0, "US": 1.0}, cur)
    # q = (0.85, 0.15) → floored (0.85, 0.2) → renormalised
    assert rows[0][1] == pytest.approx(0.85 / 1.05, abs=1e-8) and rows[1][1] == pytest.approx(0.2 / 1.05, abs=1e-8)


def test_chain_sums_hubs_and_euro_area(small_chain):
    data, results, ctx = small_chain
    w = results["S5"].outputs["ccy_country_weights_cache"]
    assert w.schema == pl.Schema(ds.SCHEMAS["ccy_country_weights_cache"])
    sums = w.group_by("currency").agg(pl.col("weight_fp").sum()).get_column("weight_fp").unique().to_list()
    assert sums == [10**8]
    uni = set(data["country_universe"].get_column("country_iso").to_list())
    hubs = {c for c in ctx.config.currency.settlement_hubs if c in uni}
    for ccy, part in w.group_by("currency"):
        assert hubs <= set(part.get_column("country_iso").to_list()), ccy
    eur = w.filter(pl.col("currency") == "EUR")
    assert set(eur.filter(pl.col("in_currency_area")).get_column("country_iso").to_list()) == {"DE", "ES", "FR"}
    flags = results["S5"].outputs["sparse_flag"]
    assert flags.filter(pl.col("currency") == "EUR").row(0) == ("EUR", False, 3, 2)
    assert flags.filter(pl.col("currency") == "JPY").row(0) == ("JPY", True, 1, 2)
    assert s5.check_weight_sum(results["S5"], {k: data[k] for k in S5.reads}, ctx).passed


def test_kappa_override_by_home_country(refs, config):
    cfg = with_config(config, currency={"kappa_overrides": {"NA": "ZAR"}})
    mi = pl.DataFrame({"merchant_id": [2, 1], "mcc": [5411, 5411], "channel": ["card_present"] * 2,
                       "home_country_iso": ["NA", "ZA"]}, schema=ds.SCHEMAS["merchant_ids"])
    mc = s5.merchant_currency(mi, refs[ds.REF_CURRENCIES], cfg.currency)
    assert mc.rows() == [(1, "ZAR", "home_primary_legal_tender"), (2, "ZAR", "override")]


def test_weight_sum_1A_S5_001(small_chain):
    data, results, ctx = small_chain
    w = results["S5"].outputs["ccy_country_weights_cache"]
    bad = w.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(pl.col("weight_fp") + 1)
                         .otherwise(pl.col("weight_fp")).alias("weight_fp"))
    first = bad.get_column("currency")[0]
    out = s5.check_weight_sum(StateResult(outputs={**results["S5"].outputs, "ccy_country_weights_cache": bad}),
                              {k: data[k] for k in S5.reads}, ctx)
    assert not out.passed and out.evidence["code"] == "1A-S5-001" and first in out.evidence["first_keys"]
    assert math.isclose(w.get_column("weight").sum() / w.get_column("currency").n_unique(), 1.0)
