"""1B S5 — site → tile assignment (spec/engine/1B.md, section "S5").

Per pair: every `site_order s ∈ 1..n` draws `u_s ~ 1B.s5.site_tile_assign(m, c, s)` (one
block, lane 0); sites sorted by `(u_s, s)` are paired in order with S4's tiles expanded
ascending by tile_id, each repeated `n_sites_tile` times — a uniform random permutation
of the stratified plan. Per-tile quotas equal S4 exactly (`1B-S5-503
TILE_QUOTA_MISMATCH`). `assign_py` is the plain-Python reference.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl

from fraud_assets.core.rng import blocks, u01
from fraud_assets.engine.seg_1b import datasets as ds
from fraud_assets.engine.seg_1b.common import key_list, missing_output, outcome, site_keys, tally
from fraud_assets.engine.state import CheckOutcome, StateContext, StateResult

FAMILY_ASSIGN = "1B.s5.site_tile_assign"
CODE_TILE_QUOTA = "1B-S5-503"
CHECK_TILE_QUOTA = "tile_quota"


def sites_of(req: pl.DataFrame) -> pl.DataFrame:
    """One row per site `(merchant_id, legal_country_iso, site_order = 1..n)`, sorted by key."""
    return (req.sort(list(ds.PAIR_KEY))
            .select(*ds.PAIR_KEY, pl.int_ranges(1, pl.col("n_sites").cast(pl.Int32) + 1, dtype=pl.Int32)
                    .alias("site_order"))
            .explode("site_order"))


def draw(sites: pl.DataFrame, root, seed: int) -> pl.Series:
    if sites.height == 0:
        return pl.Series("u", [], dtype=pl.Float64)
    sa = root.streams(FAMILY_ASSIGN, site_keys(sites), seed=seed)
    w0, _ = blocks(sa.k, sa.c_hi, sa.c_lo, 0, 0)
    return pl.Series("u", u01(w0), dtype=pl.Float64)


def assign(sites: pl.DataFrame, plan: pl.DataFrame) -> pl.DataFrame:
    """Pair sites ranked by (u, site_order) with the plan's tiles expanded ascending by tile_id."""
    pair = list(ds.PAIR_KEY)
    ranked = (sites.sort([*pair, "u", "site_order"])
              .with_columns(pl.int_range(pl.len()).over(pair).alias("_slot")))
    slots = (plan.sort([*pair, "tile_id"])
             .select(*pair, pl.col("tile_id").repeat_by(pl.col("n_sites_tile")))
             .explode("tile_id")
             .with_columns(pl.int_range(pl.len()).over(pair).alias("_slot")))
    out = ranked.join(slots, on=[*pair, "_slot"], how="left")
    return ds.conform(out, ds.S5_SITE_TILE)


def assign_py(u: Sequence[float], tiles: Sequence[int], counts: Sequence[int]) -> list[int]:
    """Plain-Python reference for one pair: the tile of site_order 1..n."""
    order = sorted(range(len(u)), key=lambda i: (u[i], i + 1))
    expanded = [t for t, c in sorted(zip(tiles, counts, strict=True)) for _ in range(c)]
    out = [0] * len(u)
    for slot, i in enumerate(order):
        out[i] = expanded[slot]
    return out


def run(inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> StateResult:
    sites = sites_of(inputs[ds.S3_REQUIREMENTS])
    sites = sites.with_columns(draw(sites, ctx.world.rng, ctx.world.seed))
    out = assign(sites, inputs[ds.S4_ALLOC_PLAN])
    n = out.height
    return StateResult(outputs={ds.S5_SITE_TILE: out}, rng=[tally(FAMILY_ASSIGN, n, n, n)], report={
        "sites": n, "unassigned": out.filter(pl.col("tile_id").is_null()).height,
        "distinct_tiles": out.select("legal_country_iso", "tile_id").unique().height,
    })


def quota_mismatches(assigned: pl.DataFrame, plan: pl.DataFrame) -> pl.DataFrame:
    keys = [*ds.PAIR_KEY, "tile_id"]
    got = assigned.group_by(keys).agg(pl.len().cast(pl.Int64).alias("got"))
    want = plan.select(*keys, pl.col("n_sites_tile").cast(pl.Int64).alias("want"))
    j = want.join(got, on=keys, how="full", coalesce=True, nulls_equal=True)
    return j.filter(pl.col("got").is_null() | pl.col("want").is_null() | (pl.col("got") != pl.col("want"))).sort(keys)


def check_tile_quota(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    """1B-S5-503: sites per (pair, tile) equal S4's n_sites_tile; one row per site; no unassigned site."""
    out = result.outputs.get(ds.S5_SITE_TILE)
    if out is None:
        return missing_output(CODE_TILE_QUOTA, ds.S5_SITE_TILE)
    plan = inputs[ds.S4_ALLOC_PLAN]
    bad = key_list(quota_mismatches(out, plan), [*ds.PAIR_KEY, "tile_id"])
    expected = sites_of(inputs[ds.S3_REQUIREMENTS])
    if not out.select(ds.SITE_KEY).equals(expected.select(ds.SITE_KEY)):
        bad.append("site keys differ from s3_requirements expanded to 1..n")
    bad_u = out.filter(pl.col("u").is_null() | (pl.col("u") <= 0.0) | (pl.col("u") >= 1.0)).height
    if bad_u:
        bad.append(f"{bad_u} rows with u outside (0, 1)")
    return outcome(CODE_TILE_QUOTA, bad, plan.height, sites=out.height)
