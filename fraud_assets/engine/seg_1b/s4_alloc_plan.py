"""1B S4 — tile allocation plan by systematic sampling (spec/engine/1B.md, section "S4").

Per pair (m, c, n), grouped by country so the country arrays are built once: the tiles
of c with `weight_fp > 0` ascending by tile_id, cumulative integer weights `C` (int64,
`C_T = K`); `u ~ 1B.s4.alloc(m, c)` (one block, lane 0); `U = ⌊u·K⌋`; for
`j = 0 … n−1` the tile of `x_j = U + j·K` is the first i with `n·C_i > x_j`
(`searchsorted(n·C, x, side="right")`, exact int64 for n ≤ 10^6). `n_sites_tile` =
occurrences, positives only. Laws (`1B-S4-404 ALLOCATION_MISMATCH`): Σ = n and every
count ∈ {⌊n·w/K⌋, ⌈n·w/K⌉}. `alloc_counts_py` is the plain-Python reference.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl

from fraud_assets.core.errors import EngineFailure
from fraud_assets.core.rng import blocks, u01
from fraud_assets.engine.seg_1b import datasets as ds
from fraud_assets.engine.seg_1b.common import key_list, missing_output, outcome, pair_keys, tally
from fraud_assets.engine.state import CheckOutcome, StateContext, StateResult

FAMILY_ALLOC = "1B.s4.alloc"
CODE_ALLOCATION_MISMATCH = "1B-S4-404"
CODE_COUNTRY_WITHOUT_TILES = "1B-S3-301"
CHECK_ALLOCATION = "allocation_law"
N_MAX = 10**6  # n·K must stay inside int64


def draw_offsets(pairs: pl.DataFrame, root, seed: int, k: int) -> np.ndarray:
    """U = ⌊u·K⌋ per pair, u = u01(lane 0) of block (0, 0) of `1B.s4.alloc(m, c)`."""
    if pairs.height == 0:
        return np.zeros(0, dtype=np.int64)
    sa = root.streams(FAMILY_ALLOC, pair_keys(pairs), seed=seed)
    w0, _ = blocks(sa.k, sa.c_hi, sa.c_lo, 0, 0)
    return np.floor(u01(w0) * float(k)).astype(np.int64)


def alloc_counts(n: np.ndarray, offsets: np.ndarray, cum: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray,
                                                                                         np.ndarray]:
    """Sparse counts for the pairs of one country: (pair index, tile index, count), positives only,
    sorted by (pair, tile). Pairs sharing an n share one `searchsorted` over n·C."""
    codes = []
    t = np.int64(cum.shape[0])
    for value in np.unique(n):
        rows = np.flatnonzero(n == value)
        x = (offsets[rows][:, None] + np.arange(value, dtype=np.int64)[None, :] * np.int64(k)).ravel()
        tile = np.searchsorted(np.int64(value) * cum, x, side="right").astype(np.int64)
        codes.append(np.repeat(rows.astype(np.int64), int(value)) * t + tile)
    if not codes:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    unique, counts = np.unique(np.concatenate(codes), return_counts=True)
    return unique // t, unique % t, counts.astype(np.int64)


def alloc_counts_py(n: int, offset: int, cum: Sequence[int], k: int) -> list[int]:
    """Plain-Python reference for one pair: counts per tile (first i with n·C_i > U + j·K)."""
    counts = [0] * len(cum)
    for j in range(n):
        x = offset + j * k
        i = 0
        while n * cum[i] <= x:
            i += 1
        counts[i] += 1
    return counts


def allocate(req: pl.DataFrame, tile_weights: pl.DataFrame, offsets: np.ndarray, k: int) -> pl.DataFrame:
    """The plan for every pair of `req` (sorted by pair key; `offsets` aligned to it)."""
    req = req.with_columns(pl.Series("U", offsets, dtype=pl.Int64), pl.int_range(pl.len()).alias("_row"))
    parts = []
    tw = tile_weights.filter(pl.col("weight_fp") > 0).sort(list(ds.TILE_KEY))
    for (iso,), group in req.group_by(["legal_country_iso"], maintain_order=True):
        tiles = tw.filter(pl.col("country_iso") == iso)
        if tiles.height == 0:
            raise EngineFailure(CODE_COUNTRY_WITHOUT_TILES, "country has no tile with weight_fp > 0",
                                dataset=ds.TILE_WEIGHTS, keys=[iso])
        weights = tiles.get_column("weight_fp").to_numpy()
        cum = np.cumsum(weights, dtype=np.int64)
        if int(cum[-1]) != k:
            raise EngineFailure(CODE_ALLOCATION_MISMATCH, f"Σ weight_fp of {iso} is {int(cum[-1])}, expected {k}",
                                dataset=ds.TILE_WEIGHTS, keys=[iso])
        n = group.get_column("n_sites").to_numpy().astype(np.int64)
        if (n < 1).any() or (n > N_MAX).any():
            raise EngineFailure(CODE_ALLOCATION_MISMATCH, f"n_sites outside 1..{N_MAX}", dataset=ds.S3_REQUIREMENTS,
                                keys=key_list(group.filter((pl.col("n_sites") < 1) | (pl.col("n_sites") > N_MAX)),
                                              list(ds.PAIR_KEY)))
        pair_idx, tile_idx, counts = alloc_counts(n, group.get_column("U").to_numpy(), cum, k)
        parts.append(pl.DataFrame({
            "merchant_id": group.get_column("merchant_id").to_numpy()[pair_idx],
            "legal_country_iso": [iso] * pair_idx.shape[0],
            "tile_id": tiles.get_column("tile_id").to_numpy()[tile_idx],
            "n_sites_tile": counts,
        }, schema={"merchant_id": pl.Int64, "legal_country_iso": pl.String, "tile_id": pl.UInt64,
                   "n_sites_tile": pl.Int64}))
    if not parts:
        return ds.empty(ds.S4_ALLOC_PLAN)
    return ds.conform(pl.concat(parts), ds.S4_ALLOC_PLAN)


def run(inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> StateResult:
    req = inputs[ds.S3_REQUIREMENTS].sort(list(ds.PAIR_KEY))
    tw = inputs[ds.TILE_WEIGHTS]
    k = 10 ** int(tw.get_column("dp")[0]) if tw.height else 10**ctx.config.tile_weights.dp
    offsets = draw_offsets(req, ctx.world.rng, ctx.world.seed, k)
    plan = allocate(req, tw, offsets, k)
    pairs = req.height
    per_pair = plan.group_by(list(ds.PAIR_KEY)).len()
    return StateResult(outputs={ds.S4_ALLOC_PLAN: plan}, rng=[tally(FAMILY_ALLOC, pairs, pairs, pairs)], report={
        "pairs": pairs, "rows": plan.height, "sites": int(plan.get_column("n_sites_tile").sum() or 0),
        "tiles_used": plan.select("legal_country_iso", "tile_id").unique().height,
        "tiles_per_pair_max": int(per_pair.get_column("len").max() or 0),
    })


# ---- checks ---------------------------------------------------------------------------------------


def law_violations(plan: pl.DataFrame, req: pl.DataFrame, tile_weights: pl.DataFrame) -> pl.DataFrame:
    """Pairs breaking Σ = n, positivity, or the floor/ceil law (tiles joined with their weights)."""
    k = 10 ** int(tile_weights.get_column("dp")[0]) if tile_weights.height else 1
    j = (plan.join(req, on=list(ds.PAIR_KEY), how="left")
         .join(tile_weights.select(pl.col("country_iso").alias("legal_country_iso"), "tile_id", "weight_fp"),
               on=["legal_country_iso", "tile_id"], how="left"))
    expected = pl.col("n_sites").cast(pl.Int64) * pl.col("weight_fp")
    lo = expected // k
    hi = (expected + k - 1) // k
    bad_rows = j.filter(pl.col("weight_fp").is_null() | pl.col("n_sites").is_null() | (pl.col("weight_fp") <= 0)
                        | (pl.col("n_sites_tile") < 1) | (pl.col("n_sites_tile") < lo) | (pl.col("n_sites_tile") > hi))
    sums = plan.group_by(list(ds.PAIR_KEY)).agg(pl.col("n_sites_tile").sum().alias("placed"))
    mism = (req.join(sums, on=list(ds.PAIR_KEY), how="full", coalesce=True)
            .filter(pl.col("placed").is_null() | pl.col("n_sites").is_null() | (pl.col("placed") != pl.col("n_sites"))))
    # a tile with n·w ≥ K must receive ⌊n·w/K⌋ ≥ 1 sites even though it has no plan row
    n_max = req.group_by("legal_country_iso").agg(pl.col("n_sites").max().cast(pl.Int64).alias("n_max"))
    candidates = (tile_weights.select(pl.col("country_iso").alias("legal_country_iso"), "tile_id", "weight_fp")
                  .join(n_max, on="legal_country_iso", how="inner")
                  .filter(pl.col("n_max") * pl.col("weight_fp") >= k).drop("n_max"))
    heavy = (req.join(candidates, on="legal_country_iso", how="inner")
             .filter(pl.col("n_sites").cast(pl.Int64) * pl.col("weight_fp") >= k)
             .join(plan.select(*ds.PAIR_KEY, "tile_id"), on=[*ds.PAIR_KEY, "tile_id"], how="anti"))
    keys = list(ds.PAIR_KEY)
    return pl.concat([bad_rows.select(keys), mism.select(keys), heavy.select(keys)]).unique().sort(keys)


def check_allocation(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    """1B-S4-404: per pair Σ n_sites_tile = n; every count ∈ {⌊n·w/K⌋, ⌈n·w/K⌉}; tiles have weight > 0."""
    plan = result.outputs.get(ds.S4_ALLOC_PLAN)
    if plan is None:
        return missing_output(CODE_ALLOCATION_MISMATCH, ds.S4_ALLOC_PLAN)
    req = inputs[ds.S3_REQUIREMENTS]
    bad = law_violations(plan, req, inputs[ds.TILE_WEIGHTS])
    return outcome(CODE_ALLOCATION_MISMATCH, key_list(bad, list(ds.PAIR_KEY)), req.height, rows=plan.height)
