"""gdp_bucket_map: Jenks K=5, right-closed buckets, every gdp_per_capita row bucketed."""

from __future__ import annotations

import numpy as np
import polars as pl

from fraud_assets.reference import catalog
from fraud_assets.reference import gdp_bucket_map as gb


def test_right_closed_buckets():
    breaks = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    values = np.array([0.5, 1.0, 2.0, 2.0001, 3.0, 5.0, 5.5, 6.0, 99.0])
    assert gb.bucket_of(values, breaks).tolist() == [1, 1, 1, 2, 2, 4, 5, 5, 5]


def test_published(built_reference_root):
    frame = catalog.load(built_reference_root, "gdp_bucket_map")
    gdp = catalog.load(built_reference_root, "gdp_per_capita")
    assert frame.schema == pl.Schema(gb.SCHEMA)
    assert frame["country_iso"].to_list() == gdp["country_iso"].to_list()
    assert sorted(frame["gdp_bucket"].unique().to_list()) == [1, 2, 3, 4, 5]
    breaks = catalog.provenance(built_reference_root, "gdp_bucket_map")["breaks_usd"]
    assert len(breaks) == 6 and breaks == sorted(breaks)
    joined = frame.join(gdp, on="country_iso")
    inside = joined.filter(~pl.col("imputed") & (pl.col("gdp_pc_usd") <= breaks[-1]))
    assert ((inside["gdp_pc_usd"] <= inside["upper_usd"]) & (inside["gdp_pc_usd"] >= inside["lower_usd"])).all()
    rich = frame.filter(pl.col("country_iso").is_in(["QA", "LU"]))["gdp_bucket"].to_list()
    poor = frame.filter(pl.col("country_iso").is_in(["CD", "BI"]))["gdp_bucket"].to_list()
    assert rich == [5, 5] and poor == [1, 1]
