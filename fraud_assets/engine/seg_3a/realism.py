"""3A realism figures (spec/engine/3A.md, "Realism gates"); not a state — S6 computes and gates them.

Per world (escalated pairs unless noted):

* V01 median top-1 `share_effective` over countries with `K ≥ 2` (priors);
* V02 fraction of those countries whose top-1 is ≥ 0.99;
* V03 pairs with > 1 nonzero zone (S4); V04 pairs with ≥ 2 zones above 5 % of outlets;
* V05 median over `(c, z)` groups (≥ `min_group_merchants` escalated merchants in `c`) of the
  sample std of `share_drawn` across merchants;
* V06 / V07 median / p75 top-1 count share (S4); V08 median top-1 share of `zone_alloc`;
* V09 escalation rate of pairs with `K ≥ 2, n ≥ 2` per `K_eff` bucket [1,1.5), [1.5,2.5),
  [2.5,4), [4,∞) (buckets under 30 pairs skipped): the largest decrease between consecutive
  evaluated buckets;
* V10 variance retention `Σ var(count share) / Σ var(share_drawn)` over the V05 groups;
* V11 median L1 distance between a pair's `zone_alloc` shares and its 2A site-zone shares
  (sites mapped by `zone_canon`);
* V12 median entropy (nats) of count shares;
* V13 `site_tz_foreign` rate over all 2A sites (sanity);
* X02 escalation rate among pairs with `K ≥ 2, n ≥ 2` (a per-seed bound).

Cross-seed gates (X01, X03) need several worlds: `benchmarks/realism/3A`.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import numpy as np
import polars as pl

from fraud_assets.engine.common import zone_canon
from fraud_assets.engine.seg_3a import common

KEFF_BUCKETS = (1.0, 1.5, 2.5, 4.0, float("inf"))
MIN_BUCKET_PAIRS = 30
SHARE_ABOVE = 0.05


def _per_pair_counts(counts: pl.DataFrame) -> pl.DataFrame:
    share = pl.col("zone_site_count").cast(pl.Float64) / pl.col("site_count").cast(pl.Float64)
    return (counts.sort(common.PAIR_ZONE).with_columns(share.alias("count_share"))
            .group_by(common.PAIR).agg(
                (pl.col("zone_site_count") > 0).sum().alias("nonzero"),
                (pl.col("count_share") > SHARE_ABOVE).sum().alias("above"),
                pl.col("count_share").max().alias("top1"),
                (-(pl.when(pl.col("count_share") > 0).then(pl.col("count_share") * pl.col("count_share").log())
                   .otherwise(0.0))).sum().alias("entropy")))


def keff_bucket_rates(queue: pl.DataFrame) -> list[dict]:
    eligible = queue.filter((pl.col("zone_count_country") >= 2) & (pl.col("site_count") >= 2))
    rows = []
    for lo, hi in itertools.pairwise(KEFF_BUCKETS):
        b = eligible.filter((pl.col("effective_zone_count") >= lo) & (pl.col("effective_zone_count") < hi))
        rate = b.filter(pl.col("is_escalated")).height / b.height if b.height else None
        rows.append({"bucket": f"[{lo:g},{hi:g})", "pairs": b.height, "rate": rate,
                     "evaluated": b.height >= MIN_BUCKET_PAIRS})
    return rows


def max_decrease(buckets: list[dict]) -> float | None:
    rates = [b["rate"] for b in buckets if b["evaluated"]]
    if len(rates) < 2:
        return None
    return float(max(0.0, max(a - b for a, b in itertools.pairwise(rates))))


def group_figures(shares: pl.DataFrame, counts: pl.DataFrame, min_group: int) -> tuple[float | None, float | None, int]:
    """(V05 median std of share_drawn, V10 variance retention, number of groups)."""
    merchants = shares.group_by("legal_country_iso").agg(pl.col("merchant_id").n_unique().alias("m"))
    ok = merchants.filter(pl.col("m") >= min_group).get_column("legal_country_iso").to_list()
    if not ok:
        return None, None, 0
    j = (shares.filter(pl.col("legal_country_iso").is_in(ok)).select(*common.PAIR_ZONE, "share_drawn")
         .join(counts.select(*common.PAIR_ZONE, (pl.col("zone_site_count").cast(pl.Float64)
                                                 / pl.col("site_count").cast(pl.Float64)).alias("count_share")),
               on=common.PAIR_ZONE, how="inner").sort(common.PAIR_ZONE))
    g = j.group_by("legal_country_iso", "tzid").agg(pl.col("share_drawn").std().alias("sd"),
                                                     pl.col("share_drawn").var().alias("v_draw"),
                                                     pl.col("count_share").var().alias("v_count")) \
        .sort("legal_country_iso", "tzid")
    v_draw = float(g.get_column("v_draw").sum())
    v05 = common.median(g.get_column("sd").drop_nulls().to_numpy())
    v10 = float(g.get_column("v_count").sum()) / v_draw if v_draw > 0 else None
    return v05, v10, g.height


def site_zone_shares(site_tz: pl.DataFrame, canon: zone_canon.ZoneCanon) -> tuple[pl.DataFrame, int, int]:
    """(per pair and zone the 2A site share, foreign sites, all sites)."""
    mapped = canon.map(site_tz.select(*common.PAIR, "tzid"), country="legal_country_iso", tzid="tzid",
                       zone="zone", mapping="how")
    foreign = mapped.filter(pl.col("how") == zone_canon.FOREIGN).height
    shares = (mapped.group_by(*common.PAIR, "zone").agg(pl.len().alias("sites"))
              .with_columns((pl.col("sites") / pl.col("sites").sum().over(common.PAIR)).alias("site_share"))
              .rename({"zone": "tzid"}).select(*common.PAIR_ZONE, "site_share"))
    return shares, foreign, mapped.height


def metrics(priors: pl.DataFrame, queue: pl.DataFrame, shares: pl.DataFrame, counts: pl.DataFrame,
            alloc: pl.DataFrame, site_tz: pl.DataFrame, canon: zone_canon.ZoneCanon, min_group: int) -> dict:
    """Every per-world figure of the module docstring plus sample sizes."""
    multi = priors.filter(pl.col("zone_count_country") >= 2).group_by("country_iso") \
        .agg(pl.col("share_effective").max().alias("top1"))
    top1 = multi.get_column("top1").to_numpy()
    per = _per_pair_counts(counts)
    esc_pairs = per.height
    alloc_esc = alloc.filter(pl.col("is_escalated")).group_by(common.PAIR).agg(pl.col("zone_share").max().alias("top1"))
    v05, v10, groups = group_figures(shares, counts, min_group)
    buckets = keff_bucket_rates(queue)
    site_shares, foreign, sites = site_zone_shares(site_tz, canon)
    esc_alloc = alloc.filter(pl.col("is_escalated")).select(*common.PAIR_ZONE, "zone_share")
    l1 = (esc_alloc.join(site_shares.join(esc_alloc.select(common.PAIR).unique(), on=common.PAIR, how="semi"),
                         on=common.PAIR_ZONE, how="full", coalesce=True)
          .with_columns((pl.col("zone_share").fill_null(0.0) - pl.col("site_share").fill_null(0.0)).abs().alias("d"))
          .sort(common.PAIR_ZONE).group_by(common.PAIR).agg(pl.col("d").sum().alias("l1")))
    eligible = queue.filter((pl.col("zone_count_country") >= 2) & (pl.col("site_count") >= 2))
    return common.jsonable({
        "V01_median_top1_prior": common.median(top1),
        "V02_dominant_country_share": float((top1 >= 0.99).mean()) if top1.size else None,
        "V03_multi_zone_pair_share": float((per.get_column("nonzero") > 1).mean()) if esc_pairs else None,
        "V04_two_zones_above_5pct_share": float((per.get_column("above") >= 2).mean()) if esc_pairs else None,
        "V05_median_group_share_std": v05,
        "V06_median_top1_count_share": common.median(per.get_column("top1").to_numpy()),
        "V07_p75_top1_count_share": common.quantile(per.get_column("top1").to_numpy(), 0.75),
        "V08_zone_alloc_median_top1_share": common.median(alloc_esc.get_column("top1").to_numpy()),
        "V09_max_escalation_rate_decrease": max_decrease(buckets),
        "V10_variance_retention": v10,
        "V11_median_l1_to_sites": common.median(l1.get_column("l1").to_numpy()),
        "V12_median_count_entropy": common.median(per.get_column("entropy").to_numpy()),
        "V13_site_tz_foreign_rate": foreign / sites if sites else None,
        "X02_escalation_rate": (eligible.filter(pl.col("is_escalated")).height / eligible.height
                                if eligible.height else None),
        "escalated_pairs": esc_pairs, "pairs": queue.height, "groups": groups, "multi_zone_countries": int(top1.size),
        "sites": sites, "site_tz_foreign": foreign, "median_zones_above_5pct": common.median(
            per.get_column("above").to_numpy()),
        "keff_buckets": buckets,
    })


def evaluate(values: Mapping[str, object], gates: Mapping[str, tuple[float | None, float | None]],
             samples_ok: bool, enforced: bool) -> dict[str, dict]:
    """Per gate: value, bounds and status PASS | FAIL | WARN (failed, not enforced) | SKIPPED."""
    out: dict[str, dict] = {}
    for gate, (lo, hi) in gates.items():
        v = values.get(gate)
        if v is None or not samples_ok:
            status = "SKIPPED"
        else:
            ok = (lo is None or v >= lo) and (hi is None or v <= hi)
            status = "PASS" if ok else ("FAIL" if enforced else "WARN")
        out[gate] = {"value": v, "min": lo, "max": hi, "status": status}
    return out


def threshold_text(lo: float | None, hi: float | None) -> str:
    parts = ([f">= {lo:g}"] if lo is not None else []) + ([f"<= {hi:g}"] if hi is not None else [])
    return " and ".join(parts) or "open"


def per_pair_top1(counts: pl.DataFrame) -> np.ndarray:
    return _per_pair_counts(counts).get_column("top1").to_numpy()
