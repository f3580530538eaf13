"""1B S0 — gate and seal (spec/engine/1B.md, section "S0 — Gate and seal").

S0.1 (recompute parameter_hash / manifest_fingerprint → `E_FINGERPRINT_MISMATCH`),
S0.2 (verify 1A's `_passed.flag` by recomputation → `E_NO_PASS_NO_READ`, before
anything of 1A is read) and S0.4 (`sealed_inputs.parquet`, `s0_gate_receipt.json`)
are the runner's gate. This module is S0.3: validate the 1B config for the world's
preset and resolve the tile grid (`20 % tpd == 0`, else `1B-S0-002 GRID_INCOMPATIBLE`)
into the one-row `s0_tile_grid`, and confirm the sealed 1A inputs carry the consumed
contract (columns, partition tokens) — content digests of them go to the report.
No RNG.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from fraud_assets.core.digest import content_digest
from fraud_assets.core.errors import E_FINGERPRINT_MISMATCH, E_NO_PASS_NO_READ, EngineFailure
from fraud_assets.engine.seg_1b import datasets as ds
from fraud_assets.engine.seg_1b.common import missing_output, outcome
from fraud_assets.engine.seg_1b.config import CODE_CONFIG_INVALID, Config1B
from fraud_assets.engine.seg_1b.grid import CODE_GRID_INCOMPATIBLE, Grid
from fraud_assets.engine.state import CheckOutcome, StateContext, StateResult

CHECK_WORLD_IDENTITY, CODE_FINGERPRINT = "world_identity_1B", E_FINGERPRINT_MISMATCH
CHECK_UPSTREAM_1A, CODE_NO_PASS = "upstream_1A_contract", E_NO_PASS_NO_READ
CHECK_CONFIG_VALID = "config_valid_1B"  # CODE_CONFIG_INVALID = "1B-S0-001"
CHECK_GRID, CODE_GRID = "grid_compatible", CODE_GRID_INCOMPATIBLE

# INTEGRATION B.1: what 1B consumes of 1A
OUTLET_COLUMNS = {"merchant_id": pl.Int64, "legal_country_iso": pl.String, "site_order": pl.Int32,
                  "final_country_outlet_count": pl.Int32}
UNIVERSE_COLUMNS = {"country_iso": pl.String, "continent": pl.String, "region_floor_share": pl.Float64}


def resolve_grid(cfg: Config1B, preset: str) -> Grid:
    """The preset's grid; unknown preset or `raster_cells_per_degree % tpd != 0` → 1B-S0-002."""
    tg = cfg.tile_grid
    if preset not in tg.tiles_per_degree:
        raise EngineFailure(CODE_GRID_INCOMPATIBLE, f"tile_grid.tiles_per_degree has no preset {preset!r}",
                            dataset="config/engine/1B/tile_grid.yaml", keys=[preset])
    return Grid(tg.tiles_per_degree[preset], tg.raster_cells_per_degree, tg.authalic_radius_m)


def grid_frame(grid: Grid, cfg: Config1B, preset: str) -> pl.DataFrame:
    tg = cfg.tile_grid
    return ds.conform(pl.DataFrame({
        "preset": [preset], "tiles_per_degree": [grid.tpd], "raster_cells_per_degree": [grid.raster_cells_per_degree],
        "raster_factor": [grid.factor], "nrows": [grid.nrows], "ncols": [grid.ncols],
        "inclusion_rule": [tg.inclusion_rule], "min_land_fraction": [tg.min_land_fraction],
        "authalic_radius_m": [grid.authalic_radius_m],
    }), ds.S0_TILE_GRID)


def contract_problems(frame: pl.DataFrame | None, columns: Mapping[str, pl.DataType]) -> list[str]:
    if frame is None:
        return ["missing"]
    problems = []
    for col, dtype in columns.items():
        if col not in frame.columns:
            problems.append(f"missing column {col}")
        elif frame.schema[col] != dtype:
            problems.append(f"column {col} is {frame.schema[col]}, expected {dtype}")
    return problems


def run(inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> StateResult:
    cfg: Config1B = ctx.config
    preset = ctx.world.preset.name
    grid = resolve_grid(cfg, preset)
    oc = inputs[ds.OUTLET_CATALOGUE]
    cu = inputs[ds.COUNTRY_UNIVERSE]
    problems = contract_problems(oc, OUTLET_COLUMNS) + contract_problems(cu, UNIVERSE_COLUMNS)
    if problems:
        raise EngineFailure(CODE_NO_PASS, f"1A inputs break the consumed contract: {problems[:5]}",
                            dataset=ds.OUTLET_CATALOGUE, keys=problems)
    report = {
        "preset": preset, "tiles_per_degree": grid.tpd, "raster_factor": grid.factor,
        "nrows": grid.nrows, "ncols": grid.ncols,
        "outlet_catalogue_rows": oc.height,
        "outlet_pairs": oc.select(ds.PAIR_KEY).unique().height,
        "outlet_countries": oc.get_column("legal_country_iso").n_unique(),
        "universe_countries": cu.height,
        "outlet_catalogue_digest": content_digest(oc, [*OUTLET_COLUMNS], list(ds.SITE_KEY)),
        "country_universe_digest": content_digest(cu, [*UNIVERSE_COLUMNS], ["country_iso"]),
    }
    return StateResult(outputs={ds.S0_TILE_GRID: grid_frame(grid, cfg, preset)}, report=report)


# ---- checks ---------------------------------------------------------------------------------------


def check_world_identity(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    """S0.1: the runner recomputed identity before running S0 (fails closed there); a recomputed
    identity handed over in exec_settings["recomputed_identity"] must equal the world."""
    recomputed = ctx.exec_settings.get("recomputed_identity")
    if recomputed is None:
        return outcome(CODE_FINGERPRINT, [], 0, note="identity recomputed by the runner's S0 gate")
    bad = [k for k in ("parameter_hash", "manifest_fingerprint") if recomputed.get(k) != getattr(ctx.world, k)]
    return outcome(CODE_FINGERPRINT, bad, 2)


def check_upstream_1a(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    """S0.2: the 1A inputs read through the sealed receipt carry the consumed columns and this world's
    partition (`manifest_fingerprint`, `global_seed` embedded in outlet_catalogue)."""
    oc, cu = inputs.get(ds.OUTLET_CATALOGUE), inputs.get(ds.COUNTRY_UNIVERSE)
    bad = [f"outlet_catalogue: {p}" for p in contract_problems(oc, OUTLET_COLUMNS)]
    bad += [f"country_universe: {p}" for p in contract_problems(cu, UNIVERSE_COLUMNS)]
    if oc is not None and "manifest_fingerprint" in oc.columns:
        if oc.filter(pl.col("manifest_fingerprint") != ctx.world.manifest_fingerprint).height:
            bad.append("outlet_catalogue: manifest_fingerprint differs from the world")
    if oc is not None and "global_seed" in oc.columns:
        if oc.filter(pl.col("global_seed") != ctx.world.seed).height:
            bad.append("outlet_catalogue: global_seed differs from the world's seed")
    if oc is not None and oc.height == 0:
        bad.append("outlet_catalogue: empty")
    return outcome(CODE_NO_PASS, bad, 2, rows=oc.height if oc is not None else None)


def check_config_valid(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    """S0.3: the config validates strictly and knows the world's preset."""
    bad = []
    try:
        Config1B.model_validate(ctx.config.model_dump())
    except Exception as exc:  # noqa: BLE001 — evidence, not control flow
        bad.append(f"invalid: {exc}"[:300])
    if ctx.world.preset.name not in ctx.config.tile_grid.tiles_per_degree:
        bad.append(f"tiles_per_degree lacks {ctx.world.preset.name}")
    return outcome(CODE_CONFIG_INVALID, bad, 1)


def check_grid(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    """1B-S0-002: `raster_cells_per_degree % tpd == 0` and the written grid is the preset's."""
    frame = result.outputs.get(ds.S0_TILE_GRID)
    if frame is None:
        return missing_output(CODE_GRID, ds.S0_TILE_GRID)
    bad = []
    if frame.height != 1:
        bad.append(f"{frame.height} rows")
    else:
        row = frame.row(0, named=True)
        tpd, cells = row["tiles_per_degree"], row["raster_cells_per_degree"]
        if tpd < 1 or cells % tpd != 0 or row["raster_factor"] * tpd != cells:
            bad.append(f"tpd {tpd} incompatible with {cells} cells per degree")
        if row["nrows"] != 180 * tpd or row["ncols"] != 360 * tpd:
            bad.append("nrows/ncols differ from 180·tpd × 360·tpd")
        expected = ctx.config.tile_grid.tiles_per_degree.get(ctx.world.preset.name)
        if row["preset"] != ctx.world.preset.name or tpd != expected:
            bad.append(f"grid of preset {row['preset']} tpd {tpd}, world preset {ctx.world.preset.name} tpd {expected}")
    return outcome(CODE_GRID, bad, 1)
