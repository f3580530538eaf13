"""1B S6 — in-tile jitter with point-in-country acceptance (spec/engine/1B.md, section "S6").

Per site `(m, c, s, t)`: the tile's cities are the `cities` rows of country c with
population > 0 whose point maps to tile t, sorted by geonameid, with integer cumulative
populations; `p_city(t) = p_city` (0.85) if the tile has cities, else 0. Attempt
`a = 1 … max_attempts` takes four uniforms from `1B.s6.jitter(m, c, s)`: blocks
`(0, 2a−2)` → (u0, u1) and `(0, 2a−1)` → (u2, u3).

* city (`u0 < p_city(t)`): city i = first with cumulative population > u1·total;
  σ = clamp(scale·(pop_i/pop_ref)^exponent, min, max) km, r = σ·√(−2 ln u2), θ = 2π·u3,
  lat = lat_i + (r/km_per_degree)·sin θ, lon = lon_i + r·cos θ/(km_per_degree·cos lat_i),
  lon normalised to [−180, 180);
* uniform (otherwise; u1 drawn and unused): lon = clip_min_lon + u2·(clip_max_lon −
  clip_min_lon), lat = clip_min_lat + u3·(clip_max_lat − clip_min_lat).

Accept iff the point maps to tile t by the grid law (half-open as in the grid) and
`shapely.intersects_xy(country, lon, lat)`; stop at the first acceptance. After
`max_attempts` rejections: `point_on_surface(country ∩ tile box)`, placement
`fallback` (never an abort). Vectorised rounds: all pending sites attempt `a`
together in a numba kernel (`candidates_nb`, plain-Python reference `candidate_py`),
the country test is one `intersects_xy` per country and round. A site's draws depend
only on its key and attempt index, so results never depend on batching or order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numba
import numpy as np
import polars as pl
import shapely

from fraud_assets.core.rng import TWO_PI, block, philox_block_nb, u01_nb, u01_py
from fraud_assets.engine.seg_1b import datasets as ds
from fraud_assets.engine.seg_1b.common import key_list, missing_output, outcome, site_keys, tally
from fraud_assets.engine.seg_1b.config import Jitter
from fraud_assets.engine.seg_1b.grid import Grid, country_geometries, grid_from_frame, tile_of_nb, tile_of_py
from fraud_assets.engine.state import CheckOutcome, StateContext, StateResult

FAMILY_JITTER = "1B.s6.jitter"
UNIFORMS_PER_ATTEMPT = 4
BLOCKS_PER_ATTEMPT = 2
PLACEMENT_UNIFORM, PLACEMENT_CITY, PLACEMENT_FALLBACK = "uniform", "city", "fallback"
PLACEMENTS = (PLACEMENT_UNIFORM, PLACEMENT_CITY, PLACEMENT_FALLBACK)  # kind codes 0, 1, 2
DEG = math.pi / 180.0

CODE_OUTSIDE_TILE = "1B-S7-704"
CODE_OUTSIDE_COUNTRY = "1B-S7-705"
CHECK_JITTER_IN_TILE = "jitter_in_tile"
CHECK_JITTER_IN_COUNTRY = "jitter_in_country"


@dataclass(frozen=True)
class JitterParams:
    p_city: float
    scale: float
    pop_ref: float
    exponent: float
    sigma_min: float
    sigma_max: float
    km_per_degree: float
    max_attempts: int

    @classmethod
    def of(cls, cfg: Jitter) -> JitterParams:
        s = cfg.city_sigma_km
        return cls(cfg.p_city, s.scale, s.pop_ref, s.exponent, s.min, s.max, cfg.km_per_degree, cfg.max_attempts)


# ---- the candidate of one attempt ---------------------------------------------------------------------


@numba.njit(cache=True)
def _normalise_lon_nb(lon):
    if math.isfinite(lon) and (lon >= 180.0 or lon < -180.0):
        lon = lon - 360.0 * math.floor((lon + 180.0) / 360.0)
        if lon >= 180.0:
            lon = lon - 360.0
    return lon


@numba.njit(cache=True)
def candidates_nb(idx, attempt, k, c_hi, c_lo, city_off, city_len, city_total, cum, city_lat, city_lon, city_pop,
                  clip_min_lon, clip_max_lon, clip_min_lat, clip_max_lat, tile_row, tile_col, tpd, nrows, ncols,
                  p_city, scale, pop_ref, exponent, sigma_min, sigma_max, km_per_degree):
    """Attempt `attempt` of the sites `idx`: (lat, lon, kind 0 uniform / 1 city, city index or −1, in tile)."""
    n = idx.shape[0]
    lat_out = np.empty(n, dtype=np.float64)
    lon_out = np.empty(n, dtype=np.float64)
    kind = np.empty(n, dtype=np.int8)
    city = np.empty(n, dtype=np.int64)
    in_tile = np.empty(n, dtype=np.bool_)
    q0 = np.uint64(2 * attempt - 2)
    q1 = np.uint64(2 * attempt - 1)
    zero = np.uint64(0)
    for j in range(n):
        i = idx[j]
        w00, w01 = philox_block_nb(k[i], c_hi[i], c_lo[i], zero, q0)
        w10, w11 = philox_block_nb(k[i], c_hi[i], c_lo[i], zero, q1)
        u0 = u01_nb(w00)
        u1 = u01_nb(w01)
        u2 = u01_nb(w10)
        u3 = u01_nb(w11)
        if city_len[i] > 0 and u0 < p_city:
            target = u1 * city_total[i]
            lo = city_off[i]
            hi = city_off[i] + city_len[i] - 1
            while lo < hi:  # first position with cum > target
                mid = (lo + hi) // 2
                if cum[mid] > target:
                    hi = mid
                else:
                    lo = mid + 1
            lat_i = city_lat[lo]
            lon_i = city_lon[lo]
            sigma = scale * (city_pop[lo] / pop_ref) ** exponent
            if sigma < sigma_min:
                sigma = sigma_min
            if sigma > sigma_max:
                sigma = sigma_max
            r = sigma * math.sqrt(-2.0 * math.log(u2))
            theta = TWO_PI * u3
            lat = lat_i + (r / km_per_degree) * math.sin(theta)
            lon = _normalise_lon_nb(lon_i + r * math.cos(theta) / (km_per_degree * math.cos(lat_i * DEG)))
            kind[j] = 1
            city[j] = lo
        else:
            lon = clip_min_lon[i] + u2 * (clip_max_lon[i] - clip_min_lon[i])
            lat = clip_min_lat[i] + u3 * (clip_max_lat[i] - clip_min_lat[i])
            kind[j] = 0
            city[j] = -1
        row, col = tile_of_nb(lat, lon, tpd, nrows, ncols)
        lat_out[j] = lat
        lon_out[j] = lon
        in_tile[j] = row == tile_row[i] and col == tile_col[i]
    return lat_out, lon_out, kind, city, in_tile


def _normalise_lon_py(lon: float) -> float:
    if math.isfinite(lon) and (lon >= 180.0 or lon < -180.0):
        lon = lon - 360.0 * math.floor((lon + 180.0) / 360.0)
        if lon >= 180.0:
            lon = lon - 360.0
    return lon


def candidate_py(stream: tuple[int, int, int], attempt: int, cities: Sequence[tuple[float, float, int]],
                 clip: tuple[float, float, float, float], tile: tuple[int, int], grid: Grid,
                 params: JitterParams) -> tuple[float, float, int, int, bool]:
    """Plain-Python reference of one site's attempt: `cities` = [(lat, lon, pop)] of the tile by geonameid,
    `clip` = (min_lon, min_lat, max_lon, max_lat). Returns (lat, lon, kind, city position or −1, in tile)."""
    w00, w01 = block(stream, 0, 2 * attempt - 2)
    w10, w11 = block(stream, 0, 2 * attempt - 1)
    u0, u1, u2, u3 = u01_py(w00), u01_py(w01), u01_py(w10), u01_py(w11)
    if cities and u0 < params.p_city:
        total = float(sum(p for _, _, p in cities))
        target = u1 * total
        acc, pos = 0, len(cities) - 1
        for i, (_, _, p) in enumerate(cities):
            acc += p
            if float(acc) > target:
                pos = i
                break
        lat_i, lon_i, pop_i = cities[pos]
        sigma = min(max(params.scale * (pop_i / params.pop_ref) ** params.exponent, params.sigma_min),
                    params.sigma_max)
        r = sigma * math.sqrt(-2.0 * math.log(u2))
        theta = TWO_PI * u3
        lat = lat_i + (r / params.km_per_degree) * math.sin(theta)
        lon = _normalise_lon_py(lon_i + r * math.cos(theta) / (params.km_per_degree * math.cos(lat_i * DEG)))
        kind, city = 1, pos
    else:
        min_lon, min_lat, max_lon, max_lat = clip
        lon = min_lon + u2 * (max_lon - min_lon)
        lat = min_lat + u3 * (max_lat - min_lat)
        kind, city = 0, -1
    row, col = tile_of_py(lat, lon, grid.tpd, grid.nrows, grid.ncols)
    return lat, lon, kind, city, (row, col) == tile


# ---- site and city tables ------------------------------------------------------------------------------


def site_table(assigned: pl.DataFrame, bounds: pl.DataFrame, grid: Grid) -> pl.DataFrame:
    """Sites (sorted by key) with their tile's box, clip box, centroid, row and col."""
    b = bounds.rename({"country_iso": "legal_country_iso"})
    sites = assigned.select(*ds.SITE_KEY, "tile_id").sort(list(ds.SITE_KEY)).join(
        b, on=["legal_country_iso", "tile_id"], how="left", maintain_order="left")
    row, col = grid.row_col(sites.get_column("tile_id").cast(pl.Int64).to_numpy())
    return sites.with_columns(pl.Series("tile_row", row, dtype=pl.Int64), pl.Series("tile_col", col, dtype=pl.Int64))


def city_table(cities: pl.DataFrame, sites: pl.DataFrame, grid: Grid) -> pl.DataFrame:
    """Cities of the sites' (country, tile) pairs, sorted by (country, tile, geonameid), with the
    integer cumulative population inside each (country, tile)."""
    c = cities.filter(pl.col("population") > 0).select(
        pl.col("country_iso").alias("legal_country_iso"), "geonameid", "lat_deg", "lon_deg",
        pl.col("population").cast(pl.Int64))
    tid = grid.tile_id_of(c.get_column("lat_deg").to_numpy(), c.get_column("lon_deg").to_numpy())
    c = c.with_columns(pl.Series("tile_id", tid, dtype=pl.Int64)).filter(pl.col("tile_id") >= 0)
    wanted = sites.select("legal_country_iso", pl.col("tile_id").cast(pl.Int64)).unique()
    c = c.join(wanted, on=["legal_country_iso", "tile_id"], how="semi").sort("legal_country_iso", "tile_id",
                                                                             "geonameid")
    return c.with_columns(pl.col("population").cum_sum().over("legal_country_iso", "tile_id").alias("cum"))


def site_city_ranges(sites: pl.DataFrame, cities: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per site: offset and length of its tile's cities in `cities`, and their total population."""
    groups = (cities.with_row_index("_pos").group_by("legal_country_iso", "tile_id")
              .agg(pl.col("_pos").min().cast(pl.Int64).alias("off"), pl.len().cast(pl.Int64).alias("len"),
                   pl.col("population").sum().alias("total")))
    j = sites.select("legal_country_iso", pl.col("tile_id").cast(pl.Int64)).join(
        groups, on=["legal_country_iso", "tile_id"], how="left", maintain_order="left")
    return (j.get_column("off").fill_null(0).to_numpy().astype(np.int64),
            j.get_column("len").fill_null(0).to_numpy().astype(np.int64),
            j.get_column("total").fill_null(0).cast(pl.Float64).to_numpy())


# ---- the rounds ------------------------------------------------------------------------------------------


def jitter(sites: pl.DataFrame, cities: pl.DataFrame, geoms: Mapping[str, object], grid: Grid,
           params: JitterParams, root, seed: int) -> pl.DataFrame:
    """Placed points for every site of `sites` (a `site_table`), in the order of `sites`."""
    n = sites.height
    lat = np.full(n, np.nan)
    lon = np.full(n, np.nan)
    kind = np.full(n, -1, dtype=np.int8)
    city = np.full(n, -1, dtype=np.int64)
    attempts = np.zeros(n, dtype=np.int64)
    if n == 0:
        return _frame(sites, lat, lon, kind, city, attempts, cities)
    sa = root.streams(FAMILY_JITTER, site_keys(sites), seed=seed)
    off, length, total = site_city_ranges(sites, cities)
    cum = cities.get_column("cum").cast(pl.Float64).to_numpy()
    c_lat = cities.get_column("lat_deg").to_numpy()
    c_lon = cities.get_column("lon_deg").to_numpy()
    c_pop = cities.get_column("population").cast(pl.Float64).to_numpy()
    col = {name: sites.get_column(name).to_numpy() for name in (
        "clip_min_lon_deg", "clip_max_lon_deg", "clip_min_lat_deg", "clip_max_lat_deg", "tile_row", "tile_col")}
    iso = sites.get_column("legal_country_iso").to_numpy()
    pending = np.arange(n, dtype=np.int64)
    for attempt in range(1, params.max_attempts + 1):
        c_lat_a, c_lon_a, kind_a, city_a, in_tile = candidates_nb(
            pending, attempt, sa.k, sa.c_hi, sa.c_lo, off, length, total, cum, c_lat, c_lon, c_pop,
            col["clip_min_lon_deg"], col["clip_max_lon_deg"], col["clip_min_lat_deg"], col["clip_max_lat_deg"],
            col["tile_row"], col["tile_col"], grid.tpd, grid.nrows, grid.ncols, params.p_city, params.scale,
            params.pop_ref, params.exponent, params.sigma_min, params.sigma_max, params.km_per_degree)
        accept = in_tile.copy()
        tested = np.flatnonzero(in_tile)
        if tested.size:
            countries = iso[pending[tested]]
            for c in np.unique(countries):
                sel = tested[countries == c]
                accept[sel] = shapely.intersects_xy(geoms[c], c_lon_a[sel], c_lat_a[sel])
        done = pending[accept]
        lat[done], lon[done] = c_lat_a[accept], c_lon_a[accept]
        kind[done], city[done] = kind_a[accept], city_a[accept]
        attempts[done] = attempt
        pending = pending[~accept]
        if pending.size == 0:
            break
    if pending.size:
        f_lat, f_lon = fallback_points(sites, pending, geoms)
        lat[pending], lon[pending] = f_lat, f_lon
        kind[pending] = 2
        attempts[pending] = params.max_attempts
    return _frame(sites, lat, lon, kind, city, attempts, cities)


def fallback_points(sites: pl.DataFrame, rows: np.ndarray, geoms: Mapping[str, object]) -> tuple[np.ndarray,
                                                                                                   np.ndarray]:
    """`point_on_surface(country ∩ tile box)` of the sites `rows` (deterministic)."""
    sub = sites[rows.tolist()]
    boxes = shapely.box(sub.get_column("min_lon_deg").to_numpy(), sub.get_column("min_lat_deg").to_numpy(),
                        sub.get_column("max_lon_deg").to_numpy(), sub.get_column("max_lat_deg").to_numpy())
    country = np.array([geoms[c] for c in sub.get_column("legal_country_iso").to_list()], dtype=object)
    points = shapely.point_on_surface(shapely.intersection(country, boxes))
    return shapely.get_y(points), shapely.get_x(points)


def _frame(sites: pl.DataFrame, lat, lon, kind, city, attempts, cities: pl.DataFrame) -> pl.DataFrame:
    geonameid = cities.get_column("geonameid").to_numpy()
    gid = geonameid[np.maximum(city, 0)] if geonameid.size else np.zeros(city.shape[0], dtype=np.int64)
    gid_col = pl.select(pl.when(pl.Series(city >= 0)).then(pl.Series(gid, dtype=pl.Int64)).otherwise(None)
                        .alias("city_geonameid")).to_series()
    placement = np.array(PLACEMENTS, dtype=object)[np.maximum(kind, 0)]
    lat_s, lon_s = pl.Series("lat_deg", lat, dtype=pl.Float64), pl.Series("lon_deg", lon, dtype=pl.Float64)
    out = sites.select(*ds.SITE_KEY, "tile_id").with_columns(
        lat_s, lon_s,
        (lat_s - sites.get_column("centroid_lat_deg")).alias("delta_lat_deg"),
        (lon_s - sites.get_column("centroid_lon_deg")).alias("delta_lon_deg"),
        pl.Series("placement", placement.tolist(), dtype=pl.String),
        gid_col,
        pl.Series("attempts", attempts, dtype=pl.Int16),
    )
    return ds.conform(out, ds.S6_SITE_JITTER)


def run(inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> StateResult:
    grid = grid_from_frame(inputs[ds.S0_TILE_GRID])
    params = JitterParams.of(ctx.config.placement.jitter)
    sites = site_table(inputs[ds.S5_SITE_TILE], inputs[ds.TILE_BOUNDS], grid)
    cities = city_table(inputs[ds.REF_CITIES], sites, grid)
    geoms = country_geometries(inputs[ds.REF_COUNTRIES], sites.get_column("legal_country_iso").unique().to_list())
    out = jitter(sites, cities, geoms, grid, params, ctx.world.rng, ctx.world.seed)
    total_attempts = int(out.get_column("attempts").cast(pl.Int64).sum() or 0)
    n = out.height
    counts = {p: out.filter(pl.col("placement") == p).height for p in PLACEMENTS}
    return StateResult(
        outputs={ds.S6_SITE_JITTER: out},
        rng=[tally(FAMILY_JITTER, n, UNIFORMS_PER_ATTEMPT * total_attempts, BLOCKS_PER_ATTEMPT * total_attempts)],
        report={"sites": n, "placements": counts, "attempts_total": total_attempts,
                "attempts_mean": total_attempts / n if n else None,
                "attempts_max": int(out.get_column("attempts").max() or 0),
                "fallback_rate": counts[PLACEMENT_FALLBACK] / n if n else None,
                "tiles_with_cities": cities.select("legal_country_iso", "tile_id").unique().height},
    )


# ---- checks ---------------------------------------------------------------------------------------


def outside_tile(points: pl.DataFrame, grid: Grid) -> pl.DataFrame:
    """Rows whose (lat, lon) does not map to their tile_id by the grid law (or lon ∉ [−180, 180))."""
    tid = grid.tile_id_of(points.get_column("lat_deg").to_numpy(), points.get_column("lon_deg").to_numpy())
    return points.filter((pl.Series(tid) != points.get_column("tile_id").cast(pl.Int64))
                         | (pl.col("lon_deg") >= 180.0) | pl.col("lat_deg").is_null())


def outside_country(points: pl.DataFrame, geoms: Mapping[str, object]) -> pl.DataFrame:
    """Rows whose point does not intersect their legal country's polygon (boundary inclusive)."""
    bad = np.zeros(points.height, dtype=bool)
    iso = points.get_column("legal_country_iso").to_numpy()
    lat = points.get_column("lat_deg").fill_null(np.nan).to_numpy()
    lon = points.get_column("lon_deg").fill_null(np.nan).to_numpy()
    for c in np.unique(iso):
        sel = np.flatnonzero(iso == c)
        geom = geoms.get(c)
        bad[sel] = True if geom is None else ~shapely.intersects_xy(geom, lon[sel], lat[sel])
    return points.filter(pl.Series(bad))


def check_jitter_in_tile(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    """1B-S7-704 (at S6): every point lies in its tile (grid law); one row per S5 site, same tile."""
    out = result.outputs.get(ds.S6_SITE_JITTER)
    if out is None:
        return missing_output(CODE_OUTSIDE_TILE, ds.S6_SITE_JITTER)
    grid = grid_from_frame(inputs[ds.S0_TILE_GRID])
    bad = key_list(outside_tile(out, grid), list(ds.SITE_KEY))
    s5 = inputs[ds.S5_SITE_TILE].select(*ds.SITE_KEY, "tile_id").sort(list(ds.SITE_KEY))
    if not out.select(*ds.SITE_KEY, "tile_id").equals(s5):
        bad.append("site keys or tiles differ from s5_site_tile_assignment")
    limit = ctx.config.placement.jitter.max_attempts
    odd = out.filter((pl.col("attempts") < 1) | (pl.col("attempts") > limit)
                     | ((pl.col("placement") == PLACEMENT_CITY) != pl.col("city_geonameid").is_not_null())
                     | ((pl.col("placement") == PLACEMENT_FALLBACK) & (pl.col("attempts") != limit))
                     | ~pl.col("placement").is_in(list(PLACEMENTS)))
    bad += [f"inconsistent placement {k}" for k in key_list(odd, list(ds.SITE_KEY))]
    return outcome(CODE_OUTSIDE_TILE, bad, out.height)


def check_jitter_in_country(result: StateResult, inputs: Mapping[str, pl.DataFrame],
                            ctx: StateContext) -> CheckOutcome:
    """1B-S7-705 (at S6): every point (fallbacks included) intersects its country's polygon."""
    out = result.outputs.get(ds.S6_SITE_JITTER)
    if out is None:
        return missing_output(CODE_OUTSIDE_COUNTRY, ds.S6_SITE_JITTER)
    geoms = country_geometries(inputs[ds.REF_COUNTRIES], out.get_column("legal_country_iso").unique().to_list())
    bad = key_list(outside_country(out, geoms), list(ds.SITE_KEY))
    return outcome(CODE_OUTSIDE_COUNTRY, bad, out.height)
