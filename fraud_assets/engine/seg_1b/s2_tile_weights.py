"""1B S2 — tile weights (deterministic, seed-free) (spec/engine/1B.md, section "S2 — Tile weights").

1. Raster contract: EPSG:4326 (`crs.to_epsg() == 4326`, under the PROJ guard), transform
   `(1/20, 0, −180, 0, −1/20, 90)`, 3600 × 7200, float32, nodata absent or 0; NaN/nodata
   cells count 0; a negative or ±inf cell → `1B-S2-105 RASTER_INVALID`.
2. `R(t)`: the f×f raster cells of every tile (f = 20/tpd), summed in float64, reading
   bands of `BAND_RASTER_ROWS` raster rows (a code constant: the reduction shape, hence
   the bits, never depends on a setting), so memory holds one band.
3. Shared tiles split by land: `P(c,t) = R(t)·lf(c,t) / Σ_c' lf(c',t)`.
4. `m(c,t) = (1−β)·P/ΣP + β·A/ΣA` (A = land_area_m2, β = rural_mix, sums by `math.fsum`
   so order never matters); `ΣP = 0` → `m = A/ΣA` and the country is reported as a
   zero-population fallback; no tiles / `ΣA ≤ 0` → `1B-S2-103 ZERO_COUNTRY`.
5. Fixed point `K = 10^dp`: `z = ⌊m·K⌋`, +1 to the `K − Σz` largest remainders (ties
   tile_id ascending); per country `Σ weight_fp = K` (`1B-S2-104 WEIGHT_SUM`).
No RNG.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import polars as pl

from fraud_assets.core.errors import EngineFailure
from fraud_assets.engine.seg_1b import datasets as ds
from fraud_assets.engine.seg_1b.common import key_list, missing_output, outcome
from fraud_assets.engine.seg_1b.config import TileWeights
from fraud_assets.engine.seg_1b.grid import Grid, grid_from_frame
from fraud_assets.engine.state import CheckOutcome, StateContext, StateResult

CODE_ZERO_COUNTRY = "1B-S2-103"
CODE_WEIGHT_SUM = "1B-S2-104"
CODE_RASTER_INVALID = "1B-S2-105"
CHECK_ZERO_COUNTRY = "zero_country"
CHECK_WEIGHT_SUM = "weight_sum"
CHECK_RASTER_VALID = "raster_valid"

RASTER_CELLS_PER_DEG = 20
RASTER_SHAPE = (180 * RASTER_CELLS_PER_DEG, 360 * RASTER_CELLS_PER_DEG)  # (height, width)
RASTER_TRANSFORM = (1.0 / RASTER_CELLS_PER_DEG, 0.0, -180.0, 0.0, -1.0 / RASTER_CELLS_PER_DEG, 90.0)
BAND_RASTER_ROWS = 360  # raster rows per read (a multiple of every f = 20/tpd)


# ---- 1. raster contract -------------------------------------------------------------------------


def crs_epsg(crs: str) -> int | None:
    """EPSG code of a CRS string, resolved by rasterio under the PROJ guard."""
    from rasterio.crs import CRS

    from fraud_assets.reference.proj_guard import ensure_proj_data

    ensure_proj_data()
    try:
        return CRS.from_string(crs).to_epsg() if crs else None
    except Exception:  # noqa: BLE001 — an unreadable CRS is a contract violation, reported below
        return None


def raster_contract_problems(meta, cells_per_degree: int = RASTER_CELLS_PER_DEG) -> list[str]:
    """Every violation of the raster contract visible in its metadata."""
    problems = []
    shape = (180 * cells_per_degree, 360 * cells_per_degree)
    if (meta.height, meta.width) != shape:
        problems.append(f"shape {(meta.height, meta.width)} != {shape}")
    expected = (1.0 / cells_per_degree, 0.0, -180.0, 0.0, -1.0 / cells_per_degree, 90.0)
    if any(abs(a - b) > 1e-12 for a, b in zip(meta.transform, expected, strict=True)):
        problems.append(f"transform {tuple(meta.transform)} != {expected}")
    if str(meta.dtype) != "float32":
        problems.append(f"dtype {meta.dtype} != float32")
    if meta.nodata not in (None, 0.0):
        problems.append(f"nodata {meta.nodata} must be absent or 0")
    if crs_epsg(meta.crs) != 4326:
        problems.append(f"CRS {meta.crs!r} is not EPSG:4326")
    return problems


# ---- 2. raster → tiles --------------------------------------------------------------------------


def tile_raster_sums(raster, grid: Grid) -> tuple[np.ndarray, dict]:
    """R(t) as a float64 (nrows, ncols) array of tile sums, read band by band."""
    meta = raster.meta()
    problems = raster_contract_problems(meta, grid.raster_cells_per_degree)
    if problems:
        raise EngineFailure(CODE_RASTER_INVALID, f"population raster breaks the contract: {problems}",
                            dataset="population_raster", keys=problems)
    f = grid.factor
    band = max(f, (BAND_RASTER_ROWS // f) * f)
    sums = np.zeros((grid.nrows, grid.ncols), dtype=np.float64)
    nan_cells = 0
    for start in range(0, meta.height, band):
        stop = min(meta.height, start + band)
        block = np.asarray(raster.read_rows(start, stop), dtype=np.float64)
        if block.shape != (stop - start, meta.width):
            raise EngineFailure(CODE_RASTER_INVALID, f"raster rows {start}..{stop} read as {block.shape}",
                                dataset="population_raster")
        nan = np.isnan(block)
        bad = (~nan & ~np.isfinite(block)) | (block < 0)
        if bad.any():
            r, c = np.argwhere(bad)[0]
            raise EngineFailure(CODE_RASTER_INVALID, f"{int(bad.sum())} negative or infinite cells in rows "
                                f"{start}..{stop}", dataset="population_raster",
                                keys=[f"row={start + int(r)},col={int(c)}"])
        if nan.any():
            nan_cells += int(nan.sum())
            block = np.where(nan, 0.0, block)
        nt = (stop - start) // f
        sums[start // f:start // f + nt] = block.reshape(nt, f, grid.ncols, f).sum(axis=(1, 3))
    figures = {"raster_total": math.fsum(sums.ravel().tolist()), "nan_cells": nan_cells, "band_rows": band,
               "crs": meta.crs, "factor": f}
    return sums, figures


# ---- 3-5. weights -------------------------------------------------------------------------------


def fixed_point(m: np.ndarray, tile_id: np.ndarray, k: int) -> np.ndarray:
    """Integers ⌊m·K⌋ plus one for the K − Σ largest remainders (ties tile_id ascending)."""
    scaled = m * float(k)
    z = np.floor(scaled).astype(np.int64)
    r = scaled - z
    short = int(k - int(z.sum()))
    if short < 0 or short > z.shape[0]:
        raise EngineFailure(CODE_WEIGHT_SUM, f"largest remainder cannot place {short} units over {z.shape[0]} tiles",
                            dataset=ds.TILE_WEIGHTS)
    if short:
        order = np.lexsort((tile_id, -r))
        z[order[:short]] += 1
    return z


def country_mass(pop: np.ndarray, area: np.ndarray, beta: float) -> tuple[np.ndarray, bool]:
    """m(c,·) of one country and whether it fell back to area (Σ P = 0)."""
    total_a = math.fsum(area.tolist())
    if not total_a > 0.0:
        raise ValueError("no land area")
    a = area / total_a
    total_p = math.fsum(pop.tolist())
    if total_p > 0.0:
        return (1.0 - beta) * (pop / total_p) + beta * a, False
    return a, True


def shared_land(tile_index: pl.DataFrame) -> np.ndarray:
    """F(t) = Σ_c lf(c, t) for every row of `tile_index` (in its order); a tile of one country keeps its
    own fraction, a shared tile sums its fractions with `math.fsum`, so country order never matters."""
    shared = (tile_index.filter(pl.col("tile_id").is_duplicated()).group_by("tile_id")
              .agg(pl.col("land_fraction").alias("lfs")).sort("tile_id"))
    sums = pl.DataFrame({"tile_id": shared.get_column("tile_id"),
                         "F": [math.fsum(v) for v in shared.get_column("lfs").to_list()]},
                        schema={"tile_id": tile_index.schema["tile_id"], "F": pl.Float64})
    joined = tile_index.select("tile_id", "land_fraction").join(sums, on="tile_id", how="left", maintain_order="left")
    return joined.select(pl.coalesce("F", "land_fraction")).to_series().to_numpy()


def build_weights(tile_index: pl.DataFrame, sums: np.ndarray, grid: Grid,
                  cfg: TileWeights) -> tuple[pl.DataFrame, dict]:
    ti = tile_index.sort(list(ds.TILE_KEY))
    tile_id = ti.get_column("tile_id").cast(pl.Int64).to_numpy()
    frac = ti.get_column("land_fraction").to_numpy()
    area = ti.get_column("land_area_m2").to_numpy()
    row, col = grid.row_col(tile_id)
    raster = sums[row, col]
    pop = raster * frac / shared_land(ti)
    k = 10 ** cfg.dp
    iso = ti.get_column("country_iso").to_numpy()
    starts = np.flatnonzero(np.r_[True, iso[1:] != iso[:-1]]) if iso.size else np.zeros(0, dtype=np.int64)
    ends = np.r_[starts[1:], iso.size]
    weight = np.zeros(iso.size, dtype=np.int64)
    fallback: list[str] = []
    pop_mass: dict[str, float] = {}
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        c = str(iso[s])
        try:
            m, fell_back = country_mass(pop[s:e], area[s:e], cfg.rural_mix)
        except ValueError:
            raise EngineFailure(CODE_ZERO_COUNTRY, "country has no land area to weight", dataset=ds.TILE_WEIGHTS,
                                keys=[c]) from None
        if fell_back:
            fallback.append(c)
        weight[s:e] = fixed_point(m, tile_id[s:e], k)
        pop_mass[c] = math.fsum(pop[s:e].tolist())
    out = ds.conform(ti.select("country_iso", "tile_id").with_columns(
        pl.Series("weight_fp", weight, dtype=pl.Int64), pl.lit(cfg.dp, dtype=pl.Int8).alias("dp"),
        pl.Series("pop_mass", pop, dtype=pl.Float64)), ds.TILE_WEIGHTS)
    in_country = np.zeros((grid.nrows, grid.ncols), dtype=bool)
    in_country[row, col] = True
    report = {
        "rows": out.height, "countries": len(pop_mass), "dp": cfg.dp, "rural_mix": cfg.rural_mix,
        "zero_population_fallback": sorted(fallback),
        "raster_mass_in_country_tiles": math.fsum(sums[in_country].tolist()),
        "raster_mass_outside_country_tiles": math.fsum(sums[~in_country].tolist()),
        "pop_mass": dict(sorted(pop_mass.items())),
        "shared_tiles": int(ti.get_column("tile_id").is_duplicated().sum()),
    }
    return out, report


def run(inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> StateResult:
    grid = grid_from_frame(inputs[ds.S0_TILE_GRID])
    sums, figures = tile_raster_sums(inputs[ds.REF_RASTER], grid)
    out, report = build_weights(inputs[ds.TILE_INDEX], sums, grid, ctx.config.tile_weights)
    report["raster"] = figures
    return StateResult(outputs={ds.TILE_WEIGHTS: out}, report=report)


# ---- checks ---------------------------------------------------------------------------------------


def check_zero_country(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    """1B-S2-103: every country of tile_index has weights, same rows as tile_index, weights ≥ 0."""
    tw = result.outputs.get(ds.TILE_WEIGHTS)
    if tw is None:
        return missing_output(CODE_ZERO_COUNTRY, ds.TILE_WEIGHTS)
    ti = inputs[ds.TILE_INDEX]
    bad = []
    missing = ti.select(ds.TILE_KEY).join(tw.select(ds.TILE_KEY), on=list(ds.TILE_KEY), how="anti")
    extra = tw.select(ds.TILE_KEY).join(ti.select(ds.TILE_KEY), on=list(ds.TILE_KEY), how="anti")
    bad += [f"missing {k}" for k in key_list(missing, list(ds.TILE_KEY))]
    bad += [f"extra {k}" for k in key_list(extra, list(ds.TILE_KEY))]
    neg = tw.filter((pl.col("weight_fp") < 0) | (pl.col("pop_mass") < 0) | ~pl.col("pop_mass").is_finite())
    bad += [f"negative {k}" for k in key_list(neg, list(ds.TILE_KEY))]
    positive = tw.filter(pl.col("weight_fp") > 0).get_column("country_iso").unique()
    bad += [f"no positive weight {c}" for c in sorted(set(ti.get_column("country_iso").unique().to_list())
                                                       - set(positive.to_list()))]
    return outcome(CODE_ZERO_COUNTRY, bad, ti.height, missing=missing.height, extra=extra.height)


def check_weight_sum(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    """1B-S2-104: per country Σ weight_fp = 10^dp exactly, dp as configured."""
    tw = result.outputs.get(ds.TILE_WEIGHTS)
    if tw is None:
        return missing_output(CODE_WEIGHT_SUM, ds.TILE_WEIGHTS)
    dp = ctx.config.tile_weights.dp
    sums = tw.group_by("country_iso").agg(pl.col("weight_fp").sum().alias("s")).sort("country_iso")
    bad = key_list(sums.filter(pl.col("s") != 10**dp), ["country_iso"])
    bad += ["dp differs"] if tw.filter(pl.col("dp") != dp).height else []
    return outcome(CODE_WEIGHT_SUM, bad, sums.height, expected=10**dp)


def check_raster_valid(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    """1B-S2-105: the raster's metadata meets the contract (its values were scanned by the run, which
    fails closed on a negative or infinite cell)."""
    raster = inputs.get(ds.REF_RASTER)
    if raster is None:
        return outcome(CODE_RASTER_INVALID, ["raster input missing"], 1)
    problems = raster_contract_problems(raster.meta(), ctx.config.tile_grid.raster_cells_per_degree)
    scanned = (result.report or {}).get("raster")
    return outcome(CODE_RASTER_INVALID, problems, 1, scanned=scanned)
