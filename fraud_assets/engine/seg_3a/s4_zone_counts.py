"""3A S4 — integer zone counts by largest remainder (spec/engine/3A.md, "S4"; FS, no RNG).

Per escalated pair, `N = site_count`: `T_z = N·share_drawn_z`, `b_z = ⌊T_z⌋`,
`R = N − Σ b_z` (`0 ≤ R < K`, else `3A-S4-002`), `r_z = T_z − b_z`; zones ranked by
(`r_z` desc, `tzid` asc) and the first `R` get one more. No floors, no randomness.
`s4_zone_counts` keeps the full S3 grid (zero counts included).

Checks: domain equals S3 (`3A-S4-001`), `Σ_z zone_site_count = site_count`
(`3A-S4-002`), counts non-negative (`3A-S4-003`), replay of the integerisation
(`3A-S4-004`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import polars as pl

from fraud_assets.core.errors import EngineFailure
from fraud_assets.engine.seg_3a import common
from fraud_assets.engine.seg_3a import datasets as ds
from fraud_assets.engine.state import CheckOutcome, StateContext, StateResult

CODE_DOMAIN = "3A-S4-001"
CODE_CONSERVATION = "3A-S4-002"
CODE_NEGATIVE = "3A-S4-003"
CODE_REPLAY = "3A-S4-004"

CHECK_DOMAIN = "s4_domain_equals_s3"
CHECK_CONSERVATION = "s4_count_conservation"
CHECK_NEGATIVE = "s4_nonnegative"
CHECK_REPLAY = "s4_integerisation_replay"

COUNT_COLUMNS = ("fractional_target", "base_count", "residual", "residual_rank", "zone_site_count")


def largest_remainder(n: int, shares: list[float], tzids: list[str]) -> list[int]:
    """Plain-Python reference of one pair (tests pin `integerise` to it)."""
    t = [n * s for s in shares]
    b = [math.floor(x) for x in t]
    r = n - sum(b)
    if not 0 <= r < len(shares):
        raise ValueError(f"R = {r} outside [0, K)")
    order = sorted(range(len(shares)), key=lambda i: (-(t[i] - b[i]), tzids[i]))
    for i in order[:r]:
        b[i] += 1
    return b


def integerise(shares: pl.DataFrame) -> pl.DataFrame:
    """`merchant_id, legal_country_iso, tzid, site_count, share_drawn` + `COUNT_COLUMNS` (vectorised)."""
    f = (shares.select(*common.PAIR_ZONE, "site_count", "share_drawn")
         .with_columns((pl.col("site_count").cast(pl.Float64) * pl.col("share_drawn")).alias("fractional_target"))
         .with_columns(pl.col("fractional_target").floor().cast(pl.Int32).alias("base_count"))
         .with_columns((pl.col("fractional_target") - pl.col("base_count").cast(pl.Float64)).alias("residual"))
         .sort([*common.PAIR, "residual", "tzid"], descending=[False, False, True, False])
         .with_columns(pl.int_range(1, pl.len() + 1).over(common.PAIR).cast(pl.Int32).alias("residual_rank"),
                       (pl.col("site_count") - pl.col("base_count").sum().over(common.PAIR)).alias("_R"),
                       pl.len().over(common.PAIR).alias("_K")))
    bad = f.filter((pl.col("_R") < 0) | (pl.col("_R") >= pl.col("_K"))).unique(common.PAIR).sort(common.PAIR)
    if bad.height:
        raise EngineFailure(CODE_CONSERVATION, "largest remainder R outside [0, K)", dataset=ds.S4_COUNTS,
                            keys=common.key_texts(bad, [*common.PAIR, "_R", "_K"], bad.height))
    return (f.with_columns((pl.col("base_count") + (pl.col("residual_rank") <= pl.col("_R")).cast(pl.Int32))
                           .cast(pl.Int32).alias("zone_site_count"))
            .drop("_R", "_K").sort(common.PAIR_ZONE))


def run(inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> StateResult:
    w = ctx.world
    counts = integerise(inputs[ds.S3_SHARES])
    out = ds.conform(common.with_partition(counts, w.manifest_fingerprint, w.seed), ds.S4_COUNTS)
    per = out.group_by(common.PAIR).agg((pl.col("zone_site_count") > 0).sum().alias("nonzero"),
                                        (pl.col("zone_site_count").max() / pl.col("site_count").first()).alias("top1"))
    report = {"pairs": per.height, "rows": out.height,
              "multi_zone_pairs": per.filter(pl.col("nonzero") > 1).height,
              "multi_zone_rate": per.filter(pl.col("nonzero") > 1).height / per.height if per.height else None,
              "median_top1_count_share": common.median(per.get_column("top1").to_numpy())}
    return StateResult(outputs={ds.S4_COUNTS: out}, report=common.jsonable(report))


# ---- checks ---------------------------------------------------------------------------------------


def _out(result: StateResult) -> pl.DataFrame | None:
    return result.outputs.get(ds.S4_COUNTS)


def domain_problems(counts: pl.DataFrame, shares: pl.DataFrame) -> list[str]:
    a, b = counts.select(common.PAIR_ZONE), shares.select(common.PAIR_ZONE)
    missing = b.join(a, on=common.PAIR_ZONE, how="anti").sort(common.PAIR_ZONE)
    extra = a.join(b, on=common.PAIR_ZONE, how="anti").sort(common.PAIR_ZONE)
    j = counts.select(*common.PAIR_ZONE, "site_count", "share_drawn").join(
        shares.select(*common.PAIR_ZONE, "site_count", "share_drawn"), on=common.PAIR_ZONE, how="inner",
        suffix="_s3")
    moved = j.filter((pl.col("site_count") != pl.col("site_count_s3"))
                     | (pl.col("share_drawn") != pl.col("share_drawn_s3"))).sort(common.PAIR_ZONE)
    return [f"missing|{k}" for k in common.key_texts(missing, common.PAIR_ZONE, missing.height)] + \
        [f"extra|{k}" for k in common.key_texts(extra, common.PAIR_ZONE, extra.height)] + \
        [f"changed|{k}" for k in common.key_texts(moved, common.PAIR_ZONE, moved.height)]


def conservation_problems(counts: pl.DataFrame) -> list[str]:
    s = counts.group_by(common.PAIR).agg(pl.col("zone_site_count").sum().alias("sum"),
                                         pl.col("site_count").first().alias("n"))
    bad = s.filter(pl.col("sum") != pl.col("n")).sort(common.PAIR)
    return common.key_texts(bad, [*common.PAIR, "sum", "n"], bad.height)


def negative_problems(counts: pl.DataFrame) -> list[str]:
    bad = counts.filter((pl.col("zone_site_count") < 0) | (pl.col("base_count") < 0)).sort(common.PAIR_ZONE)
    return common.key_texts(bad, [*common.PAIR_ZONE, "zone_site_count"], bad.height)


def replay_problems(counts: pl.DataFrame, shares: pl.DataFrame) -> list[str]:
    try:
        again = integerise(shares)
    except EngineFailure as exc:
        return [f"replay failed: {exc.code}"]
    a = counts.select(*common.PAIR_ZONE, *COUNT_COLUMNS).sort(common.PAIR_ZONE)
    if a.height != again.height or not a.select(common.PAIR_ZONE).equals(again.select(common.PAIR_ZONE)):
        return ["key set differs from the replay"]
    diff = np.zeros(a.height, dtype=bool)
    for c in COUNT_COLUMNS:
        x, y = a.get_column(c).cast(pl.Float64).to_numpy(), again.get_column(c).cast(pl.Float64).to_numpy()
        diff |= ~(np.abs(x - y) <= 1e-12)
    bad = a.filter(pl.Series(diff))
    return common.key_texts(bad, common.PAIR_ZONE, bad.height)


def check_domain(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    out = _out(result)
    if out is None:
        return common.missing_output(CODE_DOMAIN, ds.S4_COUNTS)
    return common.outcome(CODE_DOMAIN, domain_problems(out, inputs[ds.S3_SHARES]), out.height)


def check_conservation(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    out = _out(result)
    if out is None:
        return common.missing_output(CODE_CONSERVATION, ds.S4_COUNTS)
    return common.outcome(CODE_CONSERVATION, conservation_problems(out), out.height)


def check_negative(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    out = _out(result)
    if out is None:
        return common.missing_output(CODE_NEGATIVE, ds.S4_COUNTS)
    return common.outcome(CODE_NEGATIVE, negative_problems(out), out.height)


def check_replay(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    out = _out(result)
    if out is None:
        return common.missing_output(CODE_REPLAY, ds.S4_COUNTS)
    return common.outcome(CODE_REPLAY, replay_problems(out, inputs[ds.S3_SHARES]), out.height)
