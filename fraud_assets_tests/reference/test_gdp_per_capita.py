"""gdp_per_capita: observed GDP per head, continent-median imputation, positivity."""

from __future__ import annotations

import polars as pl
import pytest

from fraud_assets.core.errors import EngineFailure
from fraud_assets.reference import catalog
from fraud_assets.reference import gdp_per_capita as gp


def world(rows):
    return pl.DataFrame(rows, schema={"country_iso": pl.String, "continent_code": pl.String, "pop_est": pl.Int64,
                                      "gdp_md_est": pl.Float64, "synthetic": pl.Boolean}, orient="row")


def test_literal_imputation():
    w = world([("AA", "EU", 1_000_000, 10_000.0, False),  # 10k a head
               ("BB", "EU", 1_000_000, 30_000.0, False),  # 30k
               ("CC", "EU", 500, None, True),  # synthetic -> EU median 20k
               ("DD", "OC", 2_000, 0.0, False),  # non-positive GDP, no OC observation -> global median 20k
               ("EE", "AF", 0, None, True)])  # uninhabited: no row
    frame, figures = gp.assemble(w)
    assert frame.rows() == [("AA", 10_000.0, 1_000_000, False), ("BB", 30_000.0, 1_000_000, False),
                            ("CC", 20_000.0, 500, True), ("DD", 20_000.0, 2_000, True)]
    assert figures["uninhabited_dropped"] == ["EE"]
    assert gp.check(frame, w)["gdp_positive"]["passed"]


def test_synthetic_with_observed_gdp_is_refused():
    w = world([("AA", "EU", 10, 1.0, True)])
    frame, _ = gp.assemble(w)
    with pytest.raises(EngineFailure) as err:
        gp.check(frame, w)
    assert err.value.keys == ["AA"]


def test_published(built_reference_root):
    frame = catalog.load(built_reference_root, "gdp_per_capita")
    assert frame.schema == pl.Schema(gp.SCHEMA)
    assert frame["gdp_pc_usd"].min() > 0 and frame["population"].min() > 0
    imputed = frame.filter(pl.col("country_iso").is_in(["SG", "HK", "MT", "BH"]))
    assert imputed.height == 4 and imputed["imputed"].all()
    us = frame.filter(pl.col("country_iso") == "US").row(0, named=True)
    assert not us["imputed"] and 30_000 < us["gdp_pc_usd"] < 100_000
