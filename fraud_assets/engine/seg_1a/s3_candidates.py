"""1A S3 — cross-border candidate set, the sole inter-country order authority.

Spec: spec/engine/1A.md, section "S3". No RNG. The gravity score depends only on
(home, candidate), so the universe K×K score and distance matrices are computed
once; a merchant's candidates are the top `cap` (by score desc, ISO asc) of its
home's row, `cap` from its size tier.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl

from fraud_assets.engine.seg_1a import datasets as ds
from fraud_assets.engine.seg_1a.common import key_list, missing_output, outcome
from fraud_assets.engine.seg_1a.config import Candidates
from fraud_assets.engine.state import CheckOutcome, StateContext, StateResult

EARTH_RADIUS_KM = 6371.0088
TIER_SINGLE = "T0_SINGLE"
HOME = "HOME"
REASON_GRAVITY, REASON_HUB, REASON_NEIGHBOUR, REASON_CCY = "GRAVITY", "HUB", "NEIGHBOUR", "SAME_CURRENCY"

CHECK_RANK_INVALID, CODE_RANK_INVALID = "rank_invalid", "1A-S3-001"
CHECK_OUTSIDE_UNIVERSE, CODE_OUTSIDE_UNIVERSE = "candidate_outside_universe", "1A-S3-002"


# ---- geometry ---------------------------------------------------------------------------------


def unit_vectors(lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
    lat = np.radians(lat_deg)
    lon = np.radians(lon_deg)
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=1)


def country_centroids(cities: pl.DataFrame, countries: Sequence[str]) -> pl.DataFrame:
    """Population-weighted mean of unit 3-D vectors per country, back to lat/lon (antimeridian-safe)."""
    c = (cities.filter(pl.col("country_iso").is_in(list(countries)) & (pl.col("population") > 0))
         .select("country_iso", "lat_deg", "lon_deg", "population")
         .sort(["country_iso", "lat_deg", "lon_deg", "population"]))
    iso = c.get_column("country_iso").to_numpy()
    vec = unit_vectors(c.get_column("lat_deg").to_numpy(), c.get_column("lon_deg").to_numpy())
    w = c.get_column("population").cast(pl.Float64).to_numpy()
    wv = vec * w[:, None]
    out_iso, lat, lon = [], [], []
    if iso.size:
        starts = np.flatnonzero(np.r_[True, iso[1:] != iso[:-1]])
        ends = np.r_[starts[1:], iso.size]
        for s, e in zip(starts, ends, strict=True):
            x, y, z = (math.fsum(wv[s:e, j].tolist()) for j in range(3))
            out_iso.append(str(iso[s]))
            lat.append(math.degrees(math.atan2(z, math.hypot(x, y))))
            lon.append(math.degrees(math.atan2(y, x)))
    return pl.DataFrame({"country_iso": out_iso, "lat_deg": lat, "lon_deg": lon},
                        schema={"country_iso": pl.String, "lat_deg": pl.Float64, "lon_deg": pl.Float64})


def distance_matrix_km(lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
    """Great-circle distances (km) between all pairs, atan2 form (exact at 0 and π)."""
    v = unit_vectors(lat_deg, lon_deg)
    dot = np.clip(v @ v.T, -1.0, 1.0)
    cross = np.linalg.norm(np.cross(v[:, None, :], v[None, :, :]), axis=2)
    return EARTH_RADIUS_KM * np.arctan2(cross, dot)


# ---- scoring -----------------------------------------------------------------------------------


def tier_of(n: int, cfg: Candidates) -> tuple[str, int]:
    name, cap = cfg.tiers[0].name, cfg.tiers[0].cap
    for t in cfg.tiers:
        if n >= t.n_min:
            name, cap = t.name, t.cap
    return name, cap


def score_universe(universe: Sequence[str], inputs: Mapping[str, pl.DataFrame], cfg: Candidates) -> dict:
    """K×K log-score, distance, neighbour and same-currency matrices over the universe (ISO order)."""
    iso = sorted(universe)
    k = len(iso)
    cent = country_centroids(inputs[ds.REF_CITIES], iso)
    cmap = {r[0]: (r[1], r[2]) for r in cent.iter_rows()}
    missing = [c for c in iso if c not in cmap]
    if missing:
        raise ValueError(f"no city with population > 0 for universe countries {missing}")
    lat = np.array([cmap[c][0] for c in iso])
    lon = np.array([cmap[c][1] for c in iso])
    dist = distance_matrix_km(lat, lon)
    gdp = inputs[ds.REF_GDP].filter(pl.col("country_iso").is_in(iso)).sort("country_iso")
    gmap = {r[0]: (r[1], r[2]) for r in gdp.select("country_iso", "gdp_pc_usd", "population").iter_rows()}
    mass = np.array([math.log(gmap[c][0] * gmap[c][1]) for c in iso])
    pos = {c: i for i, c in enumerate(iso)}
    nb = np.zeros((k, k), dtype=bool)
    for a, b in inputs[ds.REF_NEIGHBOURS].select("country_iso", "neighbour_iso").iter_rows():
        if a in pos and b in pos and a != b:
            nb[pos[a], pos[b]] = nb[pos[b], pos[a]] = True
    prim = dict(inputs[ds.REF_CURRENCIES].filter(pl.col("is_primary"))
                .select("country_iso", "currency").iter_rows())
    ccy = np.array([prim.get(c, "") for c in iso], dtype=object)
    same = (ccy[:, None] == ccy[None, :]) & (ccy[:, None] != "")
    hub = np.array([c in set(cfg.hubs) for c in iso])
    g = cfg.gravity
    ls = (g.gdp_exponent * mass[None, :] - dist / g.distance_scale_km + g.neighbour_bonus * nb
          + g.same_currency_bonus * same + g.hub_bonus * hub[None, :])
    admissible = ~np.eye(k, dtype=bool) & ~np.isin(np.array(iso), cfg.sanctioned_iso)[None, :]
    return {"iso": iso, "ls": ls, "dist": dist, "nb": nb, "same": same, "hub": hub, "admissible": admissible}


def ranked_candidates(scores: dict, cfg: Candidates) -> pl.DataFrame:
    """Per (home, tier): the top `cap` foreign candidates with rank, score, weight, distance, reasons."""
    iso = scores["iso"]
    k = len(iso)
    iso_idx = np.arange(k)
    rows: dict[str, list] = {c: [] for c in ("home", "tier", "country_iso", "candidate_rank", "log_score",
                                             "base_weight", "distance_km", "reason_codes")}
    for h in range(k):
        adm = np.flatnonzero(scores["admissible"][h])
        ls_h = scores["ls"][h, adm]
        order = adm[np.lexsort((iso_idx[adm], -ls_h))]  # score desc, ISO asc
        for tier in cfg.tiers:
            top = order[:tier.cap]
            if top.size == 0:
                continue
            s = scores["ls"][h, top]
            e = np.exp(s - s.max())
            tot = math.fsum(e.tolist())
            for r, c in enumerate(top, start=1):
                reasons = [REASON_GRAVITY]
                if scores["hub"][c]:
                    reasons.append(REASON_HUB)
                if scores["nb"][h, c]:
                    reasons.append(REASON_NEIGHBOUR)
                if scores["same"][h, c]:
                    reasons.append(REASON_CCY)
                rows["home"].append(iso[h])
                rows["tier"].append(tier.name)
                rows["country_iso"].append(iso[c])
                rows["candidate_rank"].append(r)
                rows["log_score"].append(float(scores["ls"][h, c]))
                rows["base_weight"].append(float(e[r - 1] / tot))
                rows["distance_km"].append(float(scores["dist"][h, c]))
                rows["reason_codes"].append(sorted(reasons))
    return pl.DataFrame(rows, schema={
        "home": pl.String, "tier": pl.String, "country_iso": pl.String, "candidate_rank": pl.Int32,
        "log_score": pl.Float64, "base_weight": pl.Float64, "distance_km": pl.Float64,
        "reason_codes": pl.List(pl.String)})


def merchant_tiers(features: pl.DataFrame, nb: pl.DataFrame, cfg: Candidates) -> pl.DataFrame:
    m = features.select("merchant_id", "home_country_iso", "is_eligible").join(
        nb.select("merchant_id", "n_outlets"), on="merchant_id", how="left").sort("merchant_id")
    tiers = [TIER_SINGLE if n is None else tier_of(int(n), cfg)[0] for n in m.get_column("n_outlets").to_list()]
    return m.with_columns(pl.Series("tier", tiers, dtype=pl.String))


def build_candidates(features: pl.DataFrame, nb: pl.DataFrame, universe: pl.DataFrame,
                     inputs: Mapping[str, pl.DataFrame], cfg: Candidates) -> pl.DataFrame:
    m = merchant_tiers(features, nb, cfg)
    home = m.select(
        "merchant_id", pl.col("home_country_iso").alias("country_iso"),
        pl.lit(0, dtype=pl.Int32).alias("candidate_rank"), pl.lit(True).alias("is_home"), "tier",
        pl.lit(None, dtype=pl.Float64).alias("log_score"), pl.lit(None, dtype=pl.Float64).alias("base_weight"),
        pl.lit(None, dtype=pl.Float64).alias("distance_km"),
        pl.lit([HOME], dtype=pl.List(pl.String)).alias("reason_codes"),
        pl.lit([HOME], dtype=pl.List(pl.String)).alias("filter_tags"),
    )
    foreign_m = m.filter(pl.col("is_eligible") & (pl.col("tier") != TIER_SINGLE))
    parts = [home]
    if foreign_m.height:
        table = ranked_candidates(score_universe(universe.get_column("country_iso").to_list(), inputs, cfg), cfg)
        foreign = foreign_m.select("merchant_id", "home_country_iso", "tier").join(
            table, left_on=["home_country_iso", "tier"], right_on=["home", "tier"], how="inner")
        parts.append(foreign.select(
            "merchant_id", "country_iso", "candidate_rank", pl.lit(False).alias("is_home"), "tier",
            "log_score", "base_weight", "distance_km", "reason_codes",
            pl.concat_list(pl.col("tier")).alias("filter_tags"),
        ))
    return ds.conform(pl.concat(parts, how="vertical"), ds.S3_CANDIDATE_SET)


def run(inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> StateResult:
    cfg = ctx.config.crossborder.candidates
    out = build_candidates(inputs[ds.MERCHANT_FEATURES], inputs[ds.NB_OUTLET_DRAWS],
                           inputs[ds.COUNTRY_UNIVERSE], inputs, cfg)
    foreign = out.filter(~pl.col("is_home")).group_by("merchant_id").len()
    c = foreign.get_column("len").to_numpy() if foreign.height else np.zeros(0)
    return StateResult(outputs={ds.S3_CANDIDATE_SET: out}, report={
        "rows": out.height, "merchants_with_candidates": int(c.size),
        "median_candidates": float(np.median(c)) if c.size else None})


# ---- checks -------------------------------------------------------------------------------------


def check_rank_invalid(result: StateResult, inputs: Mapping[str, pl.DataFrame],
                       ctx: StateContext) -> CheckOutcome:
    """1A-S3-001: home = rank 0 (the merchant's home), ranks 0..C contiguous, no duplicates, C ≤ cap,
    single-site and ineligible merchants only the home row."""
    cs = result.outputs.get(ds.S3_CANDIDATE_SET)
    if cs is None:
        return missing_output(CODE_RANK_INVALID, ds.S3_CANDIDATE_SET)
    cfg = ctx.config.crossborder.candidates
    caps = {t.name: t.cap for t in cfg.tiers}
    feats = inputs[ds.MERCHANT_FEATURES].select("merchant_id", "home_country_iso", "is_eligible")
    per = cs.group_by("merchant_id").agg(
        pl.len().alias("rows"),
        pl.col("candidate_rank").min().alias("rmin"), pl.col("candidate_rank").max().alias("rmax"),
        pl.col("candidate_rank").n_unique().alias("rdistinct"), pl.col("country_iso").n_unique().alias("cdistinct"),
        (pl.col("is_home").cast(pl.Int32).sum()).alias("homes"),
        pl.col("country_iso").filter(pl.col("candidate_rank") == 0).first().alias("rank0_iso"),
        pl.col("is_home").filter(pl.col("candidate_rank") == 0).first().alias("rank0_home"),
        pl.col("tier").first().alias("tier"), pl.col("tier").n_unique().alias("tiers"),
    ).join(feats, on="merchant_id", how="full", coalesce=True)
    cap = pl.col("tier").replace_strict(caps, default=0, return_dtype=pl.Int64)
    bad = per.filter(
        pl.col("rows").is_null() | pl.col("home_country_iso").is_null()
        | (pl.col("rmin") != 0) | (pl.col("rmax") != pl.col("rows") - 1) | (pl.col("rdistinct") != pl.col("rows"))
        | (pl.col("cdistinct") != pl.col("rows")) | (pl.col("homes") != 1) | (pl.col("tiers") != 1)
        | (pl.col("rank0_iso") != pl.col("home_country_iso")) | ~pl.col("rank0_home").fill_null(False)
        | (pl.col("rows") - 1 > cap)
        | (((pl.col("tier") == TIER_SINGLE) | ~pl.col("is_eligible")) & (pl.col("rows") != 1))
    ).sort("merchant_id")
    return outcome(CODE_RANK_INVALID, key_list(bad, ["merchant_id"]), per.height)


def check_outside_universe(result: StateResult, inputs: Mapping[str, pl.DataFrame],
                           ctx: StateContext) -> CheckOutcome:
    """1A-S3-002: every candidate in the universe, no sanctioned foreign candidate."""
    cs = result.outputs.get(ds.S3_CANDIDATE_SET)
    if cs is None:
        return missing_output(CODE_OUTSIDE_UNIVERSE, ds.S3_CANDIDATE_SET)
    uni = inputs[ds.COUNTRY_UNIVERSE].get_column("country_iso").implode()
    sanctioned = ctx.config.crossborder.candidates.sanctioned_iso
    bad = cs.filter(~pl.col("country_iso").is_in(uni)
                    | (~pl.col("is_home") & pl.col("country_iso").is_in(sanctioned))
                    ).sort("merchant_id", "candidate_rank")
    return outcome(CODE_OUTSIDE_UNIVERSE, key_list(bad, ["merchant_id", "country_iso"]), cs.height)
