"""Audit rosters and router proofs shared by 2B S5, S6 and S7 (spec/engine/2B.md "S5", "S6", "S7" step 4).

* `roster` — S5's deterministic roster: every merchant × `d ∈ D` × `k < K`, zone by `k mod 4`
  (0 → null; 1, 3 → `G(m)[(k + ⌊k/4⌋) mod |G(m)|]` with the country of that group's member 0;
  2 → `"Etc/Orphan"` with the flagship's country).
* `audit_words` — both lanes of block (0, 0) of `family`'s stream for key `merchant_id|utc_day|k`.
* `router_manifest` — `s5_router_manifest.json`.
* `expected_groups` / `group_site_errors` — the group each roster row must land in, recomputed from
  S4's masses with polars (independent of the fabric's packed CDFs), and every incoherence.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

from fraud_assets.core import alias
from fraud_assets.core import rng as core_rng
from fraud_assets.engine.common.checks import jsonable, key_list
from fraud_assets.engine.seg_2b import common, router
from fraud_assets.engine.seg_2b import datasets as ds
from fraud_assets.engine.seg_2b.blob import index_digest

ORPHAN_ZONE = "Etc/Orphan"


def audit_k(merchants: int, n_days: int, max_rows: int, max_k: int) -> int:
    return int(min(max(max_rows // max(merchants * n_days, 1), 2), max_k))


def roster(weights: pl.DataFrame, days: list, k_count: int) -> pl.DataFrame:
    """`merchant_id, utc_day, k, zone, roster_country_iso` in (merchant_id, utc_day, k) order."""
    groups = weights.filter(pl.col("member_index") == 0).sort("merchant_id", "group_index").group_by(
        "merchant_id", maintain_order=True).agg(pl.col("tz_group_id"), pl.col("legal_country_iso").alias("g_country"))
    flag = weights.filter(pl.col("is_flagship")).group_by("merchant_id").agg(
        pl.col("legal_country_iso").first().alias("flag_country"))
    base = groups.join(flag, on="merchant_id", how="left").sort("merchant_id")
    ks = pl.DataFrame({"k": pl.Series(np.arange(k_count), dtype=pl.Int16)})
    grid = base.join(pl.DataFrame({"utc_day": common.day_series(days)}), how="cross").join(ks, how="cross")
    n_g = pl.col("tz_group_id").list.len()
    pos = ((pl.col("k").cast(pl.Int64) + pl.col("k").cast(pl.Int64) // 4) % n_g)
    kind = pl.col("k").cast(pl.Int64) % 4
    return grid.with_columns(
        pl.when(kind == 0).then(pl.lit(None, dtype=pl.String))
        .when(kind == 2).then(pl.lit(ORPHAN_ZONE))
        .otherwise(pl.col("tz_group_id").list.get(pos)).alias("zone"),
        pl.when(kind == 0).then(pl.lit(None, dtype=pl.String))
        .when(kind == 2).then(pl.col("flag_country"))
        .otherwise(pl.col("g_country").list.get(pos)).alias("roster_country_iso"),
    ).select("merchant_id", "utc_day", "k", "zone", "roster_country_iso").sort("merchant_id", "utc_day", "k")


def audit_keys(frame: pl.DataFrame) -> list[str]:
    """`merchant_id|utc_day|k` stream keys (shared by 2B.s5.audit_route and 2B.s6.audit_edge)."""
    return pl.select(pl.concat_str([frame.get_column("merchant_id").cast(pl.String),
                                    frame.get_column("utc_day").dt.strftime("%Y-%m-%d"),
                                    frame.get_column("k").cast(pl.String)], separator="|")).to_series().to_list()


def audit_words(frame: pl.DataFrame, family: str, root: core_rng.RngRoot, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Both lanes of block (0, 0) of each row's stream."""
    if frame.height == 0:
        return np.zeros(0, np.uint64), np.zeros(0, np.uint64)
    sa = root.streams(family, audit_keys(frame), seed=seed)
    return core_rng.blocks(sa.k, sa.c_hi, sa.c_lo, 0, 0)


def route_roster(fabric: router.RoutingFabric, plan: pl.DataFrame, w_group: np.ndarray, w_site: np.ndarray,
                 engine: str = "numba") -> pl.DataFrame:
    routes = fabric.route_physical(plan.get_column("merchant_id"), plan.get_column("roster_country_iso"),
                                   plan.get_column("utc_day"), plan.get_column("zone"), w_group, w_site,
                                   engine=engine)
    return pl.concat([plan, routes.frame().select("route_path", "tz_group_id", "legal_country_iso", "site_order",
                                                  "site_id")], how="horizontal").with_columns(
        pl.Series("w_group", w_group, dtype=pl.UInt64), pl.Series("w_site", w_site, dtype=pl.UInt64))


def router_manifest(inputs: Mapping[str, Any], days: list) -> dict:
    blob = common.blob_bytes(inputs[ds.S2_ALIAS_BLOB], ds.S2_ALIAS_BLOB)
    header = alias.read_header(blob)
    weights = inputs[ds.S1_SITE_WEIGHTS]
    index = inputs[ds.S2_ALIAS_INDEX]
    return jsonable({
        "codec": alias.CODEC, "layout_version": header.layout_version, "prob_qbits": header.prob_qbits,
        "digests": {ds.S1_SITE_WEIGHTS: router.s1_digest(weights), ds.S2_ALIAS_INDEX: index_digest(index),
                    ds.S4_GROUP_WEIGHTS: router.s4_digest(inputs[ds.S4_GROUP_WEIGHTS])},
        "digest_columns": {ds.S1_SITE_WEIGHTS: list(router.S1_DIGEST_COLUMNS),
                           ds.S4_GROUP_WEIGHTS: list(router.S4_DIGEST_COLUMNS)},
        "blob_sha256": common.sha256_hex(blob), "blob_size_bytes": len(blob),
        "n_merchants": weights.get_column("merchant_id").n_unique(), "n_sites": weights.height,
        "n_slices": index.height, "day_grid": common.day_grid_doc(days),
        "route_paths": list(router.ROUTE_PATHS),
    })


def expected_groups(sample: pl.DataFrame, group_weights: pl.DataFrame, weights: pl.DataFrame) -> pl.DataFrame:
    """The group each roster row must land in, recomputed from S4 masses with polars (independent of the
    fabric's packed CDFs): `merchant_id, utc_day, k, expected_group` (null where the zone pins the site)."""
    s = sample.select("merchant_id", "utc_day", "k", "zone", "roster_country_iso", "route_path", "w_group")
    r_top = (pl.col("w_group") // pl.lit(1 << 33, dtype=pl.UInt64)).cast(pl.Int64)  # w >> 33
    gw = group_weights.select("merchant_id", "utc_day", "group_index", "tz_group_id", "mass_q31")
    mix = s.filter(pl.col("route_path") == "day_mix").join(gw, on=["merchant_id", "utc_day"], how="inner").sort(
        "merchant_id", "utc_day", "k", "group_index").with_columns(
        pl.col("mass_q31").cum_sum().over("merchant_id", "utc_day", "k").alias("cum"))
    mix_pick = mix.filter(r_top < pl.col("cum")).group_by("merchant_id", "utc_day", "k").agg(
        pl.col("tz_group_id").first().alias("expected_group"))
    in_c = weights.select("merchant_id", pl.col("legal_country_iso").alias("roster_country_iso"),
                          "group_index").unique()
    orph = s.filter(pl.col("route_path").is_in(["orphan_zone", "country_fallback"])).join(
        in_c, on=["merchant_id", "roster_country_iso"], how="inner").join(
        gw, on=["merchant_id", "utc_day", "group_index"], how="inner").sort(
        "merchant_id", "utc_day", "k", "group_index").with_columns(
        pl.col("mass_q31").cum_sum().over("merchant_id", "utc_day", "k").alias("cum"),
        pl.col("mass_q31").sum().over("merchant_id", "utc_day", "k").alias("total"))
    top = pl.col("w_group") // pl.lit(1 << 33, dtype=pl.UInt64)
    orph = orph.with_columns((top * pl.col("total").cast(pl.UInt64) // pl.lit(1 << 31, dtype=pl.UInt64)).cast(pl.Int64)
                             .alias("r"))
    orph_pick = orph.filter((pl.col("total") > 0) & (pl.col("r") < pl.col("cum"))).group_by(
        "merchant_id", "utc_day", "k").agg(pl.col("tz_group_id").first().alias("expected_group"))
    return pl.concat([mix_pick, orph_pick])


def group_site_errors(sample: pl.DataFrame, group_weights: pl.DataFrame, weights: pl.DataFrame,
                      zone_of=router.identity_zone_of) -> list:  # noqa: ANN001
    """Rows whose site is not in the chosen group, not in the roster's country, or not in the pinned zone."""
    key = ["merchant_id", "utc_day", "k"]
    exp = expected_groups(sample, group_weights, weights)
    j = sample.join(exp, on=key, how="left")
    site_ok = sample.join(weights.select("merchant_id", "legal_country_iso", "site_order",
                                         pl.col("site_id").alias("w_site_id"),
                                         pl.col("tz_group_id").alias("site_group")),
                          on=["merchant_id", "legal_country_iso", "site_order"], how="left")
    bad = []
    group_bad = j.filter(pl.col("route_path").is_in(["day_mix", "orphan_zone"])
                         & (pl.col("expected_group").is_null() | (pl.col("expected_group") != pl.col("tz_group_id"))))
    bad += key_list(group_bad.sort(key), key)
    id_bad = site_ok.filter(pl.col("site_group").is_null() | (pl.col("site_group") != pl.col("tz_group_id"))
                            | (pl.col("w_site_id") != pl.col("site_id")))
    bad += key_list(id_bad.sort(key), key)
    country_bad = sample.filter(pl.col("zone").is_not_null()
                                & (pl.col("legal_country_iso") != pl.col("roster_country_iso")))
    bad += key_list(country_bad.sort(key), key)
    pinned = sample.filter(pl.col("route_path") == "zone_pinned")
    if pinned.height:
        zones = [router._zone_name(zone_of(c, t)) for c, t in
                 pinned.select("legal_country_iso", "tz_group_id").iter_rows()]
        zone_bad = pinned.filter(pl.Series(zones, dtype=pl.String) != pl.col("zone"))
        bad += key_list(zone_bad.sort(key), key)
    return bad


def empty_group_errors(index: pl.DataFrame, weights: pl.DataFrame) -> list:
    groups = weights.select("merchant_id", "group_index").unique()
    missing = groups.join(index.select("merchant_id", "group_index"), on=["merchant_id", "group_index"], how="anti")
    empty = index.filter(pl.col("n_members") < 1).select("merchant_id", "group_index")
    return key_list(pl.concat([missing, empty]).sort("merchant_id", "group_index"),
                           ["merchant_id", "group_index"])
