"""1A S5 — currency → country weights (seed-free, no RNG).

Spec: spec/engine/1A.md, section "S5". A merchant's settlement currency κ is its
home's primary currency (or a configured override by home country). For each κ in
use: GDP shares over its currency area blended with a settlement-hub prior, floored
at `min_share` on the support, renormalised and quantised to `dp` decimals so each
currency sums to exactly 10^dp.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import polars as pl

from fraud_assets.engine.seg_1a import datasets as ds
from fraud_assets.engine.seg_1a.common import key_list, largest_remainder, missing_output, outcome
from fraud_assets.engine.seg_1a.config import Currency
from fraud_assets.engine.state import CheckOutcome, StateContext, StateResult

SOURCE_PRIMARY, SOURCE_OVERRIDE = "home_primary_legal_tender", "override"
SPARSE_THRESHOLD = 2

CHECK_WEIGHT_SUM, CODE_WEIGHT_SUM = "weight_sum", "1A-S5-001"


def merchant_currency(merchants: pl.DataFrame, currencies: pl.DataFrame, cfg: Currency) -> pl.DataFrame:
    prim = dict(currencies.filter(pl.col("is_primary")).select("country_iso", "currency").iter_rows())
    m = merchants.select("merchant_id", "home_country_iso").sort("merchant_id")
    homes = m.get_column("home_country_iso").to_list()
    kappa = [cfg.kappa_overrides.get(h, prim.get(h)) for h in homes]
    source = [SOURCE_OVERRIDE if h in cfg.kappa_overrides else SOURCE_PRIMARY for h in homes]
    out = m.select("merchant_id").with_columns(pl.Series("kappa", kappa, dtype=pl.String),
                                               pl.Series("source", source, dtype=pl.String))
    return ds.conform(out, ds.MERCHANT_CURRENCY)


def currency_weights(kappa: str, universe: list[str], primary: Mapping[str, str], gdp: Mapping[str, float],
                     cfg: Currency) -> list[tuple[str, float, int, bool, bool]]:
    """(country_iso, weight, weight_fp, in_currency_area, is_hub) over the support, ISO order."""
    area = sorted(c for c in universe if primary.get(c) == kappa)
    hubs = sorted(c for c in cfg.settlement_hubs if c in set(universe))
    support = sorted(set(area) | set(hubs))
    if not support:
        raise ValueError(f"currency {kappa}: empty support (no area country, no hub in the universe)")
    g_tot = math.fsum(gdp[c] for c in area)
    h_tot = math.fsum(cfg.settlement_hubs[c] for c in hubs)
    s_area = {c: gdp[c] / g_tot for c in area} if g_tot > 0 else {}
    s_hub = {c: cfg.settlement_hubs[c] / h_tot for c in hubs} if h_tot > 0 else {}
    w = cfg.blend(kappa)
    if not s_area:
        w = 1.0
    elif not s_hub:
        w = 0.0
    q = {c: (1.0 - w) * s_area.get(c, 0.0) + w * s_hub.get(c, 0.0) for c in support}
    floored = {c: max(v, cfg.min_share) for c, v in q.items()}
    tot = math.fsum(floored.values())
    p = [floored[c] / tot for c in support]
    unit = 10 ** cfg.dp
    fp = largest_remainder([x * unit for x in p], unit, support, base="rint")
    area_set, hub_set = set(area), set(hubs)
    return [(c, int(f) / unit, int(f), c in area_set, c in hub_set) for c, f in zip(support, fp, strict=True)]


def build_weights(mc: pl.DataFrame, universe: pl.DataFrame, currencies: pl.DataFrame,
                  gdp_pc: pl.DataFrame, cfg: Currency) -> tuple[pl.DataFrame, pl.DataFrame]:
    uni = sorted(universe.get_column("country_iso").to_list())
    primary = dict(currencies.filter(pl.col("is_primary")).select("country_iso", "currency").iter_rows())
    g = gdp_pc.filter(pl.col("country_iso").is_in(uni))
    gdp = {c: pc * pop for c, pc, pop in g.select("country_iso", "gdp_pc_usd", "population").iter_rows()}
    rows, flags = [], []
    for kappa in sorted(set(mc.get_column("kappa").drop_nulls().to_list())):
        for r in currency_weights(kappa, uni, primary, gdp, cfg):
            rows.append((kappa, *r))
        size = sum(1 for c in uni if primary.get(c) == kappa)
        flags.append((kappa, size < SPARSE_THRESHOLD, size, SPARSE_THRESHOLD))
    w = pl.DataFrame(rows, orient="row", schema={
        "currency": pl.String, "country_iso": pl.String, "weight": pl.Float64, "weight_fp": pl.Int64,
        "in_currency_area": pl.Boolean, "is_hub": pl.Boolean})
    f = pl.DataFrame(flags, orient="row", schema={
        "currency": pl.String, "is_sparse": pl.Boolean, "area_size": pl.Int32, "threshold": pl.Int32})
    return ds.conform(w, ds.CCY_COUNTRY_WEIGHTS), ds.conform(f, ds.SPARSE_FLAG)


def run(inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> StateResult:
    cfg: Currency = ctx.config.currency
    mc = merchant_currency(inputs[ds.MERCHANT_IDS], inputs[ds.REF_CURRENCIES], cfg)
    w, f = build_weights(mc, inputs[ds.COUNTRY_UNIVERSE], inputs[ds.REF_CURRENCIES], inputs[ds.REF_GDP], cfg)
    return StateResult(
        outputs={ds.MERCHANT_CURRENCY: mc, ds.CCY_COUNTRY_WEIGHTS: w, ds.SPARSE_FLAG: f},
        report={"currencies": f.height, "sparse_currencies": int(f.get_column("is_sparse").sum()),
                "weight_rows": w.height})


def check_weight_sum(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    """1A-S5-001: per currency Σ weight_fp = 10^dp, weight = weight_fp/10^dp, hubs in every support,
    every merchant currency covered."""
    w = result.outputs.get(ds.CCY_COUNTRY_WEIGHTS)
    mc = result.outputs.get(ds.MERCHANT_CURRENCY)
    if w is None or mc is None:
        return missing_output(CODE_WEIGHT_SUM, ds.CCY_COUNTRY_WEIGHTS)
    cfg: Currency = ctx.config.currency
    unit = 10 ** cfg.dp
    per = w.group_by("currency").agg(pl.col("weight_fp").sum().alias("s"), pl.col("weight_fp").min().alias("mn"),
                                     pl.col("is_hub").sum().alias("hubs"))
    uni = set(inputs[ds.COUNTRY_UNIVERSE].get_column("country_iso").to_list())
    n_hubs = sum(1 for c in cfg.settlement_hubs if c in uni)
    bad_sum = per.filter((pl.col("s") != unit) | (pl.col("mn") < 0) | (pl.col("hubs") != n_hubs)).sort("currency")
    bad_w = w.filter((pl.col("weight") - pl.col("weight_fp") / unit).abs() > 1e-15)
    uncovered = mc.select("kappa").unique().join(per.select(pl.col("currency").alias("kappa")), on="kappa",
                                                 how="anti").sort("kappa")
    bad = (key_list(bad_sum, ["currency"]) + key_list(bad_w, ["currency", "country_iso"])
           + key_list(uncovered, ["kappa"]))
    return outcome(CODE_WEIGHT_SUM, bad, per.height, unit=unit, bad_sums=bad_sum.height,
                   bad_weights=bad_w.height, uncovered=uncovered.height)
