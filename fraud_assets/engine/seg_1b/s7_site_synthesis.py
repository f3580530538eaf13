"""1B S7 — site synthesis (spec/engine/1B.md, section "S7"). No RNG.

The `outlet_catalogue` keys (authoritative) left-joined with S5 and S6 on the site key.
Checks: exactly 1:1 (`1B-S7-701 ROW_MISSING`, `-702 ROW_EXTRA`, `-703 DUP_KEY`); S5 and
S6 tile equal (`-706 TILE_DRIFT`); the point maps to its tile by the grid law
(`-704 OUTSIDE_TILE`) and intersects the country's polygon — fallbacks re-checked too
(`-705 OUTSIDE_COUNTRY`); lat ∈ [−90, 90], lon ∈ [−180, 180) (part of 704).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl
import shapely

from fraud_assets.engine.seg_1b import datasets as ds
from fraud_assets.engine.seg_1b.common import key_list, missing_output, outcome
from fraud_assets.engine.seg_1b.grid import country_geometries, grid_from_frame
from fraud_assets.engine.state import CheckOutcome, StateContext, StateResult

CODE_ROW_MISSING, CHECK_ROW_MISSING = "1B-S7-701", "synthesis_row_missing"
CODE_ROW_EXTRA, CHECK_ROW_EXTRA = "1B-S7-702", "synthesis_row_extra"
CODE_DUP_KEY, CHECK_DUP_KEY = "1B-S7-703", "synthesis_dup_key"
CODE_OUTSIDE_TILE, CHECK_OUTSIDE_TILE = "1B-S7-704", "synthesis_outside_tile"
CODE_OUTSIDE_COUNTRY, CHECK_OUTSIDE_COUNTRY = "1B-S7-705", "synthesis_outside_country"
CODE_TILE_DRIFT, CHECK_TILE_DRIFT = "1B-S7-706", "synthesis_tile_drift"

KEY = list(ds.SITE_KEY)


def synthesise(outlets: pl.DataFrame, assigned: pl.DataFrame, jittered: pl.DataFrame) -> pl.DataFrame:
    keys = outlets.select(KEY).unique().sort(KEY)
    j = (keys.join(assigned.select(*KEY, pl.col("tile_id").alias("tile_s5")), on=KEY, how="left")
         .join(jittered.select(*KEY, "tile_id", "lat_deg", "lon_deg", "placement"), on=KEY, how="left"))
    return ds.conform(j.with_columns(pl.coalesce("tile_id", "tile_s5").alias("tile_id")), ds.S7_SITE_SYNTHESIS)


def run(inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> StateResult:
    out = synthesise(inputs[ds.OUTLET_CATALOGUE], inputs[ds.S5_SITE_TILE], inputs[ds.S6_SITE_JITTER])
    counts = out.group_by("placement").len().sort("placement")
    return StateResult(outputs={ds.S7_SITE_SYNTHESIS: out}, report={
        "rows": out.height, "placements": dict(counts.iter_rows()),
        "southern_share": out.filter(pl.col("lat_deg") < 0).height / out.height if out.height else None,
    })


# ---- checks ---------------------------------------------------------------------------------------


def _out(result: StateResult, code: str):
    out = result.outputs.get(ds.S7_SITE_SYNTHESIS)
    return (out, None) if out is not None else (None, missing_output(code, ds.S7_SITE_SYNTHESIS))


def check_row_missing(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    """1B-S7-701: every outlet has a row, and an S5 and S6 row behind it (no null point or tile)."""
    out, miss = _out(result, CODE_ROW_MISSING)
    if miss:
        return miss
    oc = inputs[ds.OUTLET_CATALOGUE].select(KEY).unique()
    missing = oc.join(out.select(KEY), on=KEY, how="anti").sort(KEY)
    for upstream in (ds.S5_SITE_TILE, ds.S6_SITE_JITTER):
        missing = pl.concat([missing, oc.join(inputs[upstream].select(KEY), on=KEY, how="anti")])
    nulls = out.filter(pl.any_horizontal(pl.all().is_null())).select(KEY)
    bad = pl.concat([missing, nulls]).unique().sort(KEY)
    return outcome(CODE_ROW_MISSING, key_list(bad, KEY), oc.height)


def check_row_extra(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    """1B-S7-702: no row (in S5, S6 or S7) for a site the outlet_catalogue does not have."""
    out, miss = _out(result, CODE_ROW_EXTRA)
    if miss:
        return miss
    oc = inputs[ds.OUTLET_CATALOGUE].select(KEY).unique()
    extra = [f.select(KEY).join(oc, on=KEY, how="anti")
             for f in (out, inputs[ds.S5_SITE_TILE], inputs[ds.S6_SITE_JITTER])]
    bad = pl.concat(extra).unique().sort(KEY)
    return outcome(CODE_ROW_EXTRA, key_list(bad, KEY), out.height)


def check_dup_key(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    """1B-S7-703: the site key is unique in the outlet_catalogue, S5, S6 and S7."""
    out, miss = _out(result, CODE_DUP_KEY)
    if miss:
        return miss
    dups = [f.select(KEY).filter(pl.struct(KEY).is_duplicated())
            for f in (inputs[ds.OUTLET_CATALOGUE], inputs[ds.S5_SITE_TILE], inputs[ds.S6_SITE_JITTER], out)]
    bad = pl.concat(dups).unique().sort(KEY)
    return outcome(CODE_DUP_KEY, key_list(bad, KEY), out.height)


def check_tile_drift(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    """1B-S7-706: S5's and S6's tile_id agree for every site (and S7 carries that tile)."""
    out, miss = _out(result, CODE_TILE_DRIFT)
    if miss:
        return miss
    j = (inputs[ds.S5_SITE_TILE].select(*KEY, pl.col("tile_id").alias("t5"))
         .join(inputs[ds.S6_SITE_JITTER].select(*KEY, pl.col("tile_id").alias("t6")), on=KEY, how="inner")
         .join(out.select(*KEY, pl.col("tile_id").alias("t7")), on=KEY, how="inner"))
    bad = j.filter((pl.col("t5") != pl.col("t6")) | (pl.col("t5") != pl.col("t7"))).sort(KEY)
    return outcome(CODE_TILE_DRIFT, key_list(bad, KEY), j.height)


def check_outside_tile(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    """1B-S7-704: the point maps to its tile by the grid law; lat ∈ [−90, 90], lon ∈ [−180, 180)."""
    out, miss = _out(result, CODE_OUTSIDE_TILE)
    if miss:
        return miss
    grid = grid_from_frame(inputs[ds.S0_TILE_GRID])
    pts = out.filter(pl.col("lat_deg").is_not_null() & pl.col("lon_deg").is_not_null())
    tid = grid.tile_id_of(pts.get_column("lat_deg").to_numpy(), pts.get_column("lon_deg").to_numpy())
    bad = pts.filter((pl.Series(tid) != pts.get_column("tile_id").cast(pl.Int64)) | (pl.col("lon_deg") >= 180.0)
                     | (pl.col("lon_deg") < -180.0) | (pl.col("lat_deg").abs() > 90.0))
    return outcome(CODE_OUTSIDE_TILE, key_list(bad, KEY), pts.height)


def check_outside_country(result: StateResult, inputs: Mapping[str, pl.DataFrame],
                          ctx: StateContext) -> CheckOutcome:
    """1B-S7-705: every point (fallbacks re-checked) intersects its country's polygon."""
    out, miss = _out(result, CODE_OUTSIDE_COUNTRY)
    if miss:
        return miss
    pts = out.filter(pl.col("lat_deg").is_not_null() & pl.col("lon_deg").is_not_null())
    geoms = country_geometries(inputs[ds.REF_COUNTRIES], pts.get_column("legal_country_iso").unique().to_list())
    inside = np.ones(pts.height, dtype=bool)
    iso = pts.get_column("legal_country_iso").to_numpy()
    lat, lon = pts.get_column("lat_deg").to_numpy(), pts.get_column("lon_deg").to_numpy()
    for c in np.unique(iso):
        sel = np.flatnonzero(iso == c)
        inside[sel] = shapely.intersects_xy(geoms[c], lon[sel], lat[sel]) if c in geoms else False
    bad = pts.filter(pl.Series(~inside))
    return outcome(CODE_OUTSIDE_COUNTRY, key_list(bad, KEY), pts.height,
                   fallback_sites=pts.filter(pl.col("placement") == "fallback").height)
