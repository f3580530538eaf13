"""1B S3 — site requirements (spec/engine/1B.md, section "S3 — Site requirements"). No RNG.

From the gated `outlet_catalogue`: `n_sites = count(rows)` per (merchant_id,
legal_country_iso). Nothing is dropped or filtered (parity with 1A is 1:1). Checks:
every row's `final_country_outlet_count = n_sites` and `site_order` is exactly 1..n
(`1B-S3-302 CATALOGUE_INCONSISTENT`); every legal country has a tile with
`weight_fp > 0` (`1B-S3-301 COUNTRY_WITHOUT_TILES`).
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from fraud_assets.engine.seg_1b import datasets as ds
from fraud_assets.engine.seg_1b.common import key_list, missing_output, outcome
from fraud_assets.engine.state import CheckOutcome, StateContext, StateResult

CODE_COUNTRY_WITHOUT_TILES = "1B-S3-301"
CODE_CATALOGUE_INCONSISTENT = "1B-S3-302"
CHECK_COUNTRY_WITHOUT_TILES = "country_without_tiles"
CHECK_CATALOGUE_CONSISTENT = "catalogue_consistent"


def requirements(outlets: pl.DataFrame) -> pl.DataFrame:
    return ds.conform(outlets.group_by(list(ds.PAIR_KEY)).agg(pl.len().alias("n_sites")), ds.S3_REQUIREMENTS)


def inconsistent_pairs(outlets: pl.DataFrame) -> pl.DataFrame:
    """Pairs whose rows disagree with their count or whose site_order is not exactly 1..n."""
    per = outlets.group_by(list(ds.PAIR_KEY)).agg(
        pl.len().alias("n"),
        pl.col("site_order").min().alias("lo"), pl.col("site_order").max().alias("hi"),
        pl.col("site_order").n_unique().alias("distinct"),
        pl.col("final_country_outlet_count").min().alias("c_lo"),
        pl.col("final_country_outlet_count").max().alias("c_hi"),
    )
    return per.filter((pl.col("lo") != 1) | (pl.col("hi") != pl.col("n")) | (pl.col("distinct") != pl.col("n"))
                      | (pl.col("c_lo") != pl.col("n")) | (pl.col("c_hi") != pl.col("n"))).sort(list(ds.PAIR_KEY))


def countries_without_tiles(req: pl.DataFrame, tile_weights: pl.DataFrame) -> list[str]:
    placeable = set(tile_weights.filter(pl.col("weight_fp") > 0).get_column("country_iso").unique().to_list())
    return sorted(set(req.get_column("legal_country_iso").unique().to_list()) - placeable)


def run(inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> StateResult:
    oc = inputs[ds.OUTLET_CATALOGUE]
    req = requirements(oc)
    n = req.get_column("n_sites")
    return StateResult(outputs={ds.S3_REQUIREMENTS: req}, report={
        "pairs": req.height, "sites": int(n.sum() or 0), "merchants": req.get_column("merchant_id").n_unique(),
        "countries": req.get_column("legal_country_iso").n_unique(),
        "n_sites_max": int(n.max() or 0),
        "inconsistent_pairs": inconsistent_pairs(oc).height,
        "countries_without_tiles": countries_without_tiles(req, inputs[ds.TILE_WEIGHTS]),
    })


def check_country_without_tiles(result: StateResult, inputs: Mapping[str, pl.DataFrame],
                                ctx: StateContext) -> CheckOutcome:
    """1B-S3-301: every legal country has ≥ 1 tile with weight_fp > 0."""
    req = result.outputs.get(ds.S3_REQUIREMENTS)
    if req is None:
        return missing_output(CODE_COUNTRY_WITHOUT_TILES, ds.S3_REQUIREMENTS)
    bad = countries_without_tiles(req, inputs[ds.TILE_WEIGHTS])
    return outcome(CODE_COUNTRY_WITHOUT_TILES, bad, req.get_column("legal_country_iso").n_unique())


def check_catalogue_consistent(result: StateResult, inputs: Mapping[str, pl.DataFrame],
                               ctx: StateContext) -> CheckOutcome:
    """1B-S3-302: counts equal n_sites, site_order is 1..n, and S3 keeps every pair with Σ n_sites = rows."""
    req = result.outputs.get(ds.S3_REQUIREMENTS)
    if req is None:
        return missing_output(CODE_CATALOGUE_INCONSISTENT, ds.S3_REQUIREMENTS)
    oc = inputs[ds.OUTLET_CATALOGUE]
    bad = key_list(inconsistent_pairs(oc), list(ds.PAIR_KEY))
    expected = requirements(oc)
    if not req.equals(expected):
        bad.append("s3_requirements differs from the outlet_catalogue's pair counts")
    total = int(req.get_column("n_sites").sum() or 0)
    if total != oc.height:
        bad.append(f"Σ n_sites {total} != outlet rows {oc.height}")
    return outcome(CODE_CATALOGUE_INCONSISTENT, bad, expected.height, rows=oc.height, sites=total)
