"""The 2B laws as pure functions over arrays and frames: S1 site weights, S3 day effects, S4 group masses.

Not a state: S1, S3 and S4 compute their outputs with these functions and S7 replays
them from the sealed inputs to prove the written data (spec "S7" step 1 and 3). Every
reduction runs serially in a fixed row order (numpy `reduceat` over contiguous
segments), so a value never depends on thread count or batching.

* `site_weight_table` — S1 steps 2–6 (density → attractiveness → flagship → mix →
  one closed-form cap → groups).
* `q31` — integer group masses: largest remainder of `p·2^31` (residual desc,
  `group_index` asc), summing to exactly `2^31` per (merchant, day).
* `merchant_sigma`, `day_effects` — S3: merchant volatility regime, group σ, AR(1) innovations,
  clipped log-normal γ; one numpy step per day across all series.
* `group_weights` — S4: `base_share·γ`, serial renormalisation, `mass_q31`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import numpy as np
import polars as pl

from fraud_assets.core import rng as core_rng
from fraud_assets.core.errors import EngineFailure
from fraud_assets.core.ids import site_ids_from_keys
from fraud_assets.engine.common.checks import key_list
from fraud_assets.engine.seg_2b import common
from fraud_assets.engine.seg_2b import datasets as ds
from fraud_assets.engine.seg_2b.config import DayEffects, SiteWeights

Q31 = 1 << 31
CODE_SITE_SET_MISMATCH = "2B-S1-001"
CODE_RASTER_SAMPLE_INVALID = "2B-S1-004"
KEY = ["merchant_id", "legal_country_iso", "site_order"]

FAMILY_SIGMA = "2B.s3.sigma"
FAMILY_DAY_EFFECT = "2B.s3.day_effect"
FAMILY_AUDIT_ROUTE = "2B.s5.audit_route"
FAMILY_AUDIT_EDGE = "2B.s6.audit_edge"

RASTER_CELLS_PER_DEG = 20
RASTER_ROWS = 180 * RASTER_CELLS_PER_DEG
RASTER_COLS = 360 * RASTER_CELLS_PER_DEG
RASTER_BAND_ROWS = 512  # the reference GeoTIFF is tiled 512 × 512: one band = one row of tiles


# ---- S1 -------------------------------------------------------------------------------------------


def raster_cells(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`row = min(⌊(90 − lat)·20⌋, 3599)`, `col = min(⌊(lon + 180)·20⌋, 7199)` (clamped at 0 too)."""
    row = np.floor((90.0 - lat) * RASTER_CELLS_PER_DEG)
    col = np.floor((lon + 180.0) * RASTER_CELLS_PER_DEG)
    row = np.clip(row, 0, RASTER_ROWS - 1).astype(np.int64)
    col = np.clip(col, 0, RASTER_COLS - 1).astype(np.int64)
    return row, col


def sample_density(raster, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:  # noqa: ANN001 - RasterSource
    """ρ at every point: one gather per band of `RASTER_BAND_ROWS` rows holding a point (float64).

    Only the bands that hold a site are read, so tiny worlds touch a few MB of the 100 MB raster.
    NaN, ±inf or negative samples raise `2B-S1-004 RASTER_SAMPLE_INVALID`."""
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    out = np.empty(lat.shape[0], dtype=np.float64)
    if lat.shape[0] == 0:
        return out
    bad_coord = ~np.isfinite(lat) | ~np.isfinite(lon)
    if bad_coord.any():
        raise EngineFailure(CODE_RASTER_SAMPLE_INVALID, "site coordinates are not finite",
                            dataset="site_locations", keys=np.flatnonzero(bad_coord)[:10].tolist())
    row, col = raster_cells(lat, lon)
    band = row // RASTER_BAND_ROWS
    for b in np.unique(band):
        start = int(b) * RASTER_BAND_ROWS
        stop = min(RASTER_ROWS, start + RASTER_BAND_ROWS)
        block = np.asarray(raster.read_rows(start, stop), dtype=np.float64)
        sel = band == b
        out[sel] = block[row[sel] - start, col[sel]]
    bad = ~np.isfinite(out) | (out < 0)
    if bad.any():
        idx = np.flatnonzero(bad)
        raise EngineFailure(CODE_RASTER_SAMPLE_INVALID, f"{idx.size} raster samples are NaN, infinite or negative",
                            dataset="population_raster",
                            keys=[f"row={int(row[i])},col={int(col[i])}" for i in idx[:10]])
    return out


def _segments(keys: np.ndarray) -> np.ndarray:
    """Start index of every run of equal values in a sorted key array."""
    if keys.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]])).astype(np.int64)


def _first_true(mask: np.ndarray, starts: np.ndarray, n: int) -> np.ndarray:
    """Per segment, the first index where `mask` holds (n if none)."""
    idx = np.where(mask, np.arange(n, dtype=np.int64), n)
    return np.minimum.reduceat(idx, starts) if n else np.zeros(0, dtype=np.int64)


def site_weight_table(sites: pl.DataFrame, cfg: SiteWeights) -> pl.DataFrame:
    """S1 steps 3–6 over `sites` (site key, `home_country_iso`, `tzid`, `density`).

    Returns one row per site sorted `(merchant_id, group_index, member_index)` with
    `tz_group_id, group_index, member_index, n_sites, density, is_flagship, p_weight,
    base_share, p_within, cap_applied, weight_profile`."""
    f = sites.sort("merchant_id", "legal_country_iso", "site_order")
    n_rows = f.height
    mid = f.get_column("merchant_id").to_numpy()
    rho = f.get_column("density").to_numpy().astype(np.float64)
    home = (f.get_column("legal_country_iso") == f.get_column("home_country_iso")).fill_null(False).to_numpy()
    starts = _segments(mid)
    seg_id = np.repeat(np.arange(starts.shape[0]), np.diff(np.append(starts, n_rows))) if n_rows else starts
    n_of_seg = np.diff(np.append(starts, n_rows))
    n = n_of_seg[seg_id] if n_rows else np.zeros(0, dtype=np.int64)

    # 3. attractiveness
    a = np.power(rho + cfg.density.floor_persons_per_cell, cfg.density.exponent)
    # 4. flagship: max ρ among home-country sites (else all), lowest (country, site_order) on ties
    any_home = np.logical_or.reduceat(home, starts) if n_rows else np.zeros(0, dtype=bool)
    cand = np.where(any_home[seg_id], home, True) if n_rows else home
    rho_c = np.where(cand, rho, -np.inf)
    best = np.maximum.reduceat(rho_c, starts) if n_rows else rho_c
    flag_idx = _first_true(cand & (rho_c == best[seg_id]), starts, n_rows)
    is_flag = np.zeros(n_rows, dtype=bool)
    is_flag[flag_idx] = True
    a = np.where(is_flag, a * cfg.flagship.boost, a)
    # 5. normalise, mix, one closed-form cap
    p = a / np.add.reduceat(a, starts)[seg_id] if n_rows else a
    lam = cfg.uniform_mix
    multi = n >= 2
    p = np.where(multi, (1.0 - lam) * p + lam / np.maximum(n, 1), 1.0)
    cap = np.array([cfg.cap_for(int(k)) for k in n_of_seg], dtype=np.float64)
    pmax = np.maximum.reduceat(p, starts) if n_rows else p
    j = _first_true(p == pmax[seg_id], starts, n_rows)
    over = (n_of_seg >= 2) & (pmax > cap)
    capped_seg = np.zeros(starts.shape[0], dtype=bool) if not n_rows else over
    if n_rows and over.any():
        scale = np.ones(starts.shape[0], dtype=np.float64)
        scale[over] = (1.0 - cap[over]) / (1.0 - pmax[over])  # pmax > cap ≥ 0.5, so 1 − pmax > 0 here
        is_j = np.zeros(n_rows, dtype=bool)
        is_j[j] = True
        p = np.where(over[seg_id] & ~is_j, p * scale[seg_id], p)
        p = np.where(over[seg_id] & is_j, cap[seg_id], p)
    out = f.select("merchant_id", "legal_country_iso", "site_order", "tzid", "density").with_columns(
        pl.Series("n_sites", n, dtype=pl.Int32), pl.Series("is_flagship", is_flag, dtype=pl.Boolean),
        pl.Series("p_weight", p, dtype=pl.Float64),
        pl.Series("cap_applied", capped_seg[seg_id] if n_rows else np.zeros(0, bool), dtype=pl.Boolean),
    ).rename({"tzid": "tz_group_id"})
    # 6. groups: distinct tzids in ASCII order; members by (legal_country_iso, site_order)
    out = out.with_columns(
        (pl.col("tz_group_id").rank("dense").over("merchant_id") - 1).cast(pl.Int16).alias("group_index"),
    ).sort("merchant_id", "group_index", "legal_country_iso", "site_order")
    out = out.with_columns(pl.int_range(pl.len()).over("merchant_id", "group_index").cast(pl.Int32)
                           .alias("member_index"))
    gkey = out.select("merchant_id", "group_index")
    gstarts = _segments_multi(gkey)
    pw = out.get_column("p_weight").to_numpy()
    gid = np.repeat(np.arange(gstarts.shape[0]), np.diff(np.append(gstarts, out.height))) if out.height else gstarts
    base = np.add.reduceat(pw, gstarts)[gid] if out.height else pw
    return out.with_columns(pl.Series("base_share", base, dtype=pl.Float64),
                            pl.Series("p_within", pw / base if out.height else pw, dtype=pl.Float64),
                            pl.lit(cfg.weight_profile).alias("weight_profile"))


def _segments_multi(frame: pl.DataFrame) -> np.ndarray:
    """Starts of runs of equal rows of a frame already sorted by its columns."""
    if frame.height == 0:
        return np.zeros(0, dtype=np.int64)
    change = np.zeros(frame.height, dtype=bool)
    change[0] = True
    for c in frame.columns:
        v = frame.get_column(c).to_numpy()
        change[1:] |= v[1:] != v[:-1]
    return np.flatnonzero(change).astype(np.int64)


def segments_of(frame: pl.DataFrame, cols: Sequence[str]) -> np.ndarray:
    return _segments_multi(frame.select(list(cols)))


def join_sites(locations: pl.DataFrame, timezones: pl.DataFrame, merchants: pl.DataFrame) -> pl.DataFrame:
    """Site key, `lat_deg, lon_deg, tzid, home_country_iso`; the two site sets must be equal."""
    loc = locations.select(*KEY, "lat_deg", "lon_deg")
    tz = timezones.select(*KEY, "tzid")
    only_loc = loc.select(KEY).join(tz.select(KEY), on=KEY, how="anti")
    only_tz = tz.select(KEY).join(loc.select(KEY), on=KEY, how="anti")
    dup = pl.concat([loc.select(KEY).filter(pl.struct(KEY).is_duplicated()),
                     tz.select(KEY).filter(pl.struct(KEY).is_duplicated())])
    if only_loc.height or only_tz.height or dup.height:
        keys = key_list(pl.concat([only_loc, only_tz, dup]).sort(KEY).head(10), KEY)
        raise EngineFailure(CODE_SITE_SET_MISMATCH, "site_locations and site_timezones hold different site sets",
                            dataset=ds.SITE_TIMEZONES, keys=keys, only_site_locations=only_loc.height,
                            only_site_timezones=only_tz.height, duplicates=dup.height)
    nulls = tz.filter(pl.col("tzid").is_null())
    if nulls.height:
        raise EngineFailure(CODE_SITE_SET_MISMATCH, "site_timezones has null tzids", dataset=ds.SITE_TIMEZONES,
                            keys=key_list(nulls.sort(KEY).head(10), KEY))
    joined = loc.join(tz, on=KEY, how="inner")
    home = merchants.select("merchant_id", "home_country_iso")
    return joined.join(home, on="merchant_id", how="left").sort(KEY)


def site_weights(inputs: Mapping[str, Any], cfg: SiteWeights) -> pl.DataFrame:
    """The S1 table without partition columns, from S1's inputs (S1 runs and S7 replays exactly this)."""
    sites = join_sites(inputs[ds.SITE_LOCATIONS], inputs[ds.SITE_TIMEZONES], inputs[ds.MERCHANT_IDS])
    density = sample_density(inputs[ds.REF_POPULATION_RASTER], sites.get_column("lat_deg").to_numpy(),
                             sites.get_column("lon_deg").to_numpy())
    table = site_weight_table(sites.with_columns(pl.Series("density", density, dtype=pl.Float64)),
                              cfg)
    return table.with_columns(site_ids_from_keys(table.get_column("merchant_id"),
                                                 table.get_column("legal_country_iso"),
                                                 table.get_column("site_order")))


# ---- integer masses -------------------------------------------------------------------------------


def q31(p: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Largest remainder of `p·2^31` per segment (rows in `group_index` order), summing to exactly 2^31.

    `p·2^31` is exact in float64 (a power-of-two scale), so floors and residuals are exact;
    leftover units go one each to the largest residuals, ties to the lower `group_index`."""
    p = np.asarray(p, dtype=np.float64)
    n = p.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    scaled = p * float(Q31)
    floors = np.floor(scaled)
    resid = scaled - floors
    m = floors.astype(np.int64)
    lengths = np.diff(np.append(starts, n))
    seg = np.repeat(np.arange(starts.shape[0]), lengths)
    deficit = Q31 - np.add.reduceat(m, starts)
    if (deficit < 0).any() or (deficit > lengths).any():
        bad = np.flatnonzero((deficit < 0) | (deficit > lengths))
        raise EngineFailure("2B-S4-002", "group probabilities do not sum to 1 closely enough for q31",
                            keys=bad[:10].tolist(), deficits=deficit[bad[:10]].tolist())
    local = np.arange(n, dtype=np.int64) - starts[seg]
    order = np.lexsort((local, -resid, seg))  # by segment, residual desc, group_index asc
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n, dtype=np.int64) - starts[seg[order]]
    return m + (rank < deficit[seg]).astype(np.int64)


# ---- S3 -------------------------------------------------------------------------------------------


def size_bucket(n_sites: np.ndarray, cfg: DayEffects) -> np.ndarray:
    b = cfg.size_buckets
    return np.where(n_sites <= b.small_max_sites, "small", np.where(n_sites <= b.mid_max_sites, "mid", "large"))


def merchant_sigma(merchants: pl.DataFrame, cfg: DayEffects, root: core_rng.RngRoot, seed: int) -> pl.DataFrame:
    """`merchant_id, n_sites, size_bucket, zeta, sigma_merchant` (ζ from `2B.s3.sigma`, key merchant_id)."""
    m = merchants.sort("merchant_id")
    ids = m.get_column("merchant_id").to_numpy()
    n_sites = m.get_column("n_sites").to_numpy()
    zeta = core_rng.sample_normal(root.streams(FAMILY_SIGMA, ids.astype(np.int64), seed=seed)).values \
        if ids.shape[0] else np.zeros(0)
    bucket = size_bucket(n_sites, cfg)
    base = np.select([bucket == "small", bucket == "mid"], [cfg.sigma_base.small, cfg.sigma_base.mid],
                     cfg.sigma_base.large)
    lo, hi = cfg.sigma_bounds
    sigma = np.clip(base * np.exp(cfg.sigma_merchant_log_sd * zeta), lo, hi)
    return pl.DataFrame({"merchant_id": ids, "n_sites": n_sites, "size_bucket": bucket, "zeta": zeta,
                         "sigma_merchant": sigma},
                        schema={"merchant_id": pl.Int64, "n_sites": pl.Int32, "size_bucket": pl.String,
                                "zeta": pl.Float64, "sigma_merchant": pl.Float64})


def day_effect_keys(merchant_id: np.ndarray, tz_group_id: Sequence[str], day: Sequence[date]) -> list[str]:
    """`merchant_id|tz_group_id|utc_day` stream keys of `2B.s3.day_effect`."""
    return [f"{m}|{g}|{d.isoformat()}" for m, g, d in zip(merchant_id.tolist(), tz_group_id, day, strict=True)]


def day_effects(groups: pl.DataFrame, sigma: pl.DataFrame, days: Sequence[date], cfg: DayEffects,
                root: core_rng.RngRoot, seed: int) -> pl.DataFrame:
    """S3 rows for every (m, g) of `groups` (`merchant_id, tz_group_id, group_index, base_share`) × `days`.

    Each series' innovations come from its own keys, the AR(1) runs one numpy step per day
    across all series, so a row does not depend on which other series are in the batch."""
    g = groups.sort("merchant_id", "group_index").join(
        sigma.select("merchant_id", "sigma_merchant"), on="merchant_id", how="left", maintain_order="left")
    n_series, n_days = g.height, len(days)
    lo, hi = cfg.sigma_bounds
    sig_mg = np.clip(g.get_column("sigma_merchant").to_numpy()
                     * (1.0 + cfg.group_share_sensitivity * (1.0 - g.get_column("base_share").to_numpy())), lo, hi)
    mids = g.get_column("merchant_id").to_numpy()
    gids = g.get_column("tz_group_id").to_list()
    eps = np.empty((n_series, n_days), dtype=np.float64)
    for d_i, d in enumerate(days):
        keys = day_effect_keys(mids, gids, [d] * n_series)
        eps[:, d_i] = core_rng.sample_normal(root.streams(FAMILY_DAY_EFFECT, keys, seed=seed)).values \
            if n_series else np.zeros(0)
    phi = cfg.ar1_phi
    innov = math.sqrt(1.0 - phi * phi)
    z = np.empty_like(eps)
    if n_days:
        z[:, 0] = eps[:, 0]
    for d_i in range(1, n_days):
        z[:, d_i] = phi * z[:, d_i - 1] + innov * eps[:, d_i]
    log_gamma = -0.5 * sig_mg[:, None] ** 2 + sig_mg[:, None] * z
    glo, ghi = cfg.gamma_clip
    raw = np.exp(log_gamma)
    gamma = np.clip(raw, glo, ghi)
    clipped = (raw < glo) | (raw > ghi)
    rep = lambda col: np.repeat(col, n_days)  # noqa: E731 - series-major, then day
    out = pl.DataFrame({
        "merchant_id": rep(mids), "tz_group_id": rep(np.asarray(gids, dtype=object)).tolist(),
        "group_index": rep(g.get_column("group_index").to_numpy()),
        "utc_day": np.tile(np.asarray(days, dtype="datetime64[D]"), n_series),
        "day_index": np.tile(np.arange(n_days), n_series),
        "sigma_group": rep(sig_mg), "epsilon": eps.ravel(), "z": z.ravel(), "log_gamma": log_gamma.ravel(),
        "gamma": gamma.ravel(), "clipped": clipped.ravel(),
    }, schema={"merchant_id": pl.Int64, "tz_group_id": pl.String, "group_index": pl.Int16, "utc_day": pl.Date,
               "day_index": pl.Int16, "sigma_group": pl.Float64, "epsilon": pl.Float64, "z": pl.Float64,
               "log_gamma": pl.Float64, "gamma": pl.Float64, "clipped": pl.Boolean})
    return out.sort("merchant_id", "utc_day", "group_index")


def merchants_of(weights: pl.DataFrame) -> pl.DataFrame:
    return weights.group_by("merchant_id").agg(pl.col("n_sites").first()).sort("merchant_id")


def groups_of(weights: pl.DataFrame) -> pl.DataFrame:
    """(m, g) with `tz_group_id` and `base_share`, in `(merchant_id, group_index)` order."""
    return weights.group_by("merchant_id", "group_index").agg(
        pl.col("tz_group_id").first(), pl.col("base_share").first()).sort("merchant_id", "group_index")


def day_effect_tables(weights: pl.DataFrame, world, cfg: DayEffects) -> tuple[pl.DataFrame, pl.DataFrame]:  # noqa: ANN001
    """(sigma, effects) of S3 without partition columns, on the world's day grid (S3 runs, S7 replays)."""
    sigma = merchant_sigma(merchants_of(weights), cfg, world.rng, world.seed)
    effects = day_effects(groups_of(weights), sigma, common.day_grid(world.preset), cfg, world.rng, world.seed)
    return sigma, effects


def grid_errors(effects: pl.DataFrame, weights: pl.DataFrame, days: list) -> list:
    """Rows missing from or extra to `G(m) × D`, and duplicate rows."""
    expected = groups_of(weights).select("merchant_id", "group_index", "tz_group_id").join(
        pl.DataFrame({"utc_day": common.day_series(days)}), how="cross")
    keys = ["merchant_id", "group_index", "tz_group_id", "utc_day"]
    got = effects.select(keys)
    missing = expected.join(got, on=keys, how="anti").sort(keys)
    extra = got.join(expected, on=keys, how="anti").sort(keys)
    dup = got.filter(pl.struct(keys).is_duplicated()).sort(keys)
    return key_list(pl.concat([missing, extra, dup]), keys)


# ---- S4 -------------------------------------------------------------------------------------------


def group_weights(effects: pl.DataFrame) -> pl.DataFrame:
    """S4 from S3 rows (`merchant_id, utc_day, tz_group_id, group_index, gamma`) joined with `base_share`."""
    f = effects.sort("merchant_id", "utc_day", "group_index")
    starts = segments_of(f, ["merchant_id", "utc_day"])
    n = f.height
    lengths = np.diff(np.append(starts, n))
    seg = np.repeat(np.arange(starts.shape[0]), lengths)
    raw = f.get_column("base_share").to_numpy() * f.get_column("gamma").to_numpy()
    total = np.add.reduceat(raw, starts) if n else raw
    p = raw / total[seg] if n else raw
    mass = q31(p, starts)
    return f.select("merchant_id", "utc_day", "tz_group_id", "group_index", "base_share", "gamma").with_columns(
        pl.Series("n_groups", lengths[seg] if n else np.zeros(0, np.int64), dtype=pl.Int16),
        pl.Series("mass_raw", raw, dtype=pl.Float64), pl.Series("p_group", p, dtype=pl.Float64),
        pl.Series("mass_q31", mass, dtype=pl.Int64))


S4_GRID = ["merchant_id", "utc_day", "group_index"]
S4_TOLERANCE = 1e-12


def group_weight_table(effects: pl.DataFrame, weights: pl.DataFrame) -> pl.DataFrame:
    base = weights.group_by("merchant_id", "group_index").agg(pl.col("base_share").first())
    joined = effects.select("merchant_id", "utc_day", "tz_group_id", "group_index", "gamma").join(
        base, on=["merchant_id", "group_index"], how="left")
    return group_weights(joined)


def coverage_errors(weights4: pl.DataFrame, effects: pl.DataFrame) -> list:
    a = weights4.select(S4_GRID)
    b = effects.select(S4_GRID)
    diff = pl.concat([a.join(b, on=S4_GRID, how="anti"), b.join(a, on=S4_GRID, how="anti"),
                      a.filter(pl.struct(S4_GRID).is_duplicated())]).sort(S4_GRID)
    return key_list(diff, S4_GRID)


def s4_normalisation_errors(weights4: pl.DataFrame) -> tuple[list, float]:
    s = weights4.group_by("merchant_id", "utc_day").agg(pl.col("p_group").sum().alias("p"),
                                                        pl.col("mass_q31").sum().alias("m"),
                                                        (pl.col("mass_q31") < 0).any().alias("neg"))
    bad = s.filter(((pl.col("p") - 1.0).abs() > S4_TOLERANCE) | (pl.col("m") != Q31) | pl.col("neg"))
    worst = float((s.get_column("p") - 1.0).abs().max() or 0.0) if s.height else 0.0
    return key_list(bad.sort("merchant_id", "utc_day"), ["merchant_id", "utc_day"]), worst


def gamma_echo_errors(weights4: pl.DataFrame, effects: pl.DataFrame) -> list:
    j = weights4.select(*S4_GRID, "gamma").join(effects.select(*S4_GRID, pl.col("gamma").alias("g3")), on=S4_GRID, how="inner")
    bad = j.filter(pl.col("gamma") != pl.col("g3")).sort(S4_GRID)
    return key_list(bad, S4_GRID)


def base_share_echo_errors(weights4: pl.DataFrame, weights: pl.DataFrame) -> list:
    base = weights.group_by("merchant_id", "group_index").agg(pl.col("base_share").first().alias("b1"))
    j = weights4.select(*S4_GRID, "base_share").join(base, on=["merchant_id", "group_index"], how="left")
    bad = j.filter(pl.col("b1").is_null() | (pl.col("base_share") != pl.col("b1"))).sort(S4_GRID)
    return key_list(bad, S4_GRID)
