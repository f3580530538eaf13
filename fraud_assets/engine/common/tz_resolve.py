"""Point → IANA time zone: 2A's resolution ladder without overrides (ARCHITECTURE §13, spec 2A S1).

Shared by 2A S1 (site lookup), 2A S5 (reference zone shares of `cities`) and 3B
S1/S2. Everything is EPSG:4326 degrees; distances are haversine (R = 6371.0088 km);
no PROJ.

Three pieces:

* `ZoneSets` — the per-country zone lists of spec 2A "Conventions": `TW` (civil
  `tz_world` tzids), `Z_tab(c)` (zone.tab ∩ TW in row order, plus
  `extra_country_zones[c]`) and `Z(c)` (`Z_tab(c)` then zone1970.tab zones listing
  `c`, deduplicated); `rank(c, z)` = position in `Z(c)`. Build with
  `build_zone_sets`, carry as a frame with `to_frame` / `from_frame`.
* `TzWorld` — the decoded, indexed `tz_world` layer: an STRtree over part bounding
  boxes, WKB decoded and `shapely.prepare`d lazily per part (only parts a point
  falls in are ever decoded for membership). `TzWorld.of(frame)` is memoised per
  process by content, so several states (or seeds) in one process decode once.
* `TzResolver.resolve(lat, lon, country, overrides=None)` — the ladder:

  1. membership: `C0` = distinct civil tzids whose part covers the point (boundary
     inclusive; `Etc/*` ocean parts never answer);
  2. `|C0| = 1` → `polygon` (then **F**);
  3. nudge once to `(clamp(lat+ε), wrap(lon+ε))`: `|C1| = 1` → `nudge` (then **F**);
  4. overrides — not here: the caller passes `overrides(indices)` to answer the
     still-unresolved rows (2A S1 applies its governed `applies_to: unresolved` rows);
  5. same-country tie-break: `(C0 ∪ C1) ∩ Z(c)` → lowest `rank(c, ·)` → `country_tiebreak`;
  6. `|Z_tab(c)| = 1` → `country_singleton`;
  7. nearest part with tzid in `Z_tab(c)`, else `Z(c)`, else `TW`, by
     `(d_m, tzid, part_id)` with `d_m` the haversine length of
     `shapely.shortest_line(part, point)` → `nearest_polygon`,
     `fallback_exception = d_m > ε·111 000 m`;

  **F** (after 2 and 3): `Z(c) ≠ ∅` and `z ∉ Z(c)` → the nearest `Z(c)` part within
  `foreign_snap_max_km` → `country_snap` (distance recorded), else `polygon_foreign`.

  Steps 1–3 run vectorised over all points; 4–7 and F row-wise over the few rows
  that need them. The answer is never null and never aborts. Nearest-part searches
  only measure parts whose bounding box meets the spherical cap of a growing
  radius (25 km, 200 km, 1 000 km, 5 000 km, the globe): a part outside the cap is
  farther than the radius, so the minimum is exact. Across the antimeridian the
  point is measured at the longitude shift (±360°) closest to the part's box, so a
  Fiji point east of 180° sees Fiji's polygon west of it at its true distance.

Results are a pure function of each point (order- and batch-independent).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl
import shapely

EARTH_RADIUS_M = 6_371_008.8
METRES_PER_DEGREE = 111_000.0  # the fallback threshold T_m = ε · 111 000 m

POLYGON = "polygon"
NUDGE = "nudge"
COUNTRY_SNAP = "country_snap"
POLYGON_FOREIGN = "polygon_foreign"
OVERRIDE = "override"
COUNTRY_TIEBREAK = "country_tiebreak"
COUNTRY_SINGLETON = "country_singleton"
NEAREST_POLYGON = "nearest_polygon"
RESOLUTIONS = (POLYGON, NUDGE, COUNTRY_SNAP, POLYGON_FOREIGN, OVERRIDE, COUNTRY_TIEBREAK, COUNTRY_SINGLETON,
               NEAREST_POLYGON)
FALLBACK_RESOLUTIONS = (COUNTRY_SINGLETON, NEAREST_POLYGON)
DISTANCE_RESOLUTIONS = (COUNTRY_SNAP, NEAREST_POLYGON)

SEARCH_RADII_KM = (25.0, 200.0, 1000.0, 5000.0, math.inf)

RESULT_SCHEMA = {
    "tzid": pl.String, "resolution": pl.String, "candidate_count": pl.Int8, "candidate_tzids": pl.String,
    "nudge_lat_deg": pl.Float64, "nudge_lon_deg": pl.Float64, "override_scope": pl.String,
    "fallback_distance_m": pl.Float64, "fallback_exception": pl.Boolean, "in_country": pl.Boolean,
}


# ---- geometry helpers ----------------------------------------------------------------------------


def wrap_lon(lon: np.ndarray | float) -> np.ndarray:
    """`r = (lon + 180) mod 360; lon = r − 180`, with −180 mapped to +180.

    Longitudes already in [−180, 180] are returned unchanged (the formula's identity,
    without its rounding noise: 0.002 stays 0.002, not 0.0020000000000095).
    """
    x = np.asarray(lon, dtype=np.float64)
    r = np.where((x >= -180.0) & (x <= 180.0), x, np.mod(x + 180.0, 360.0) - 180.0)
    return np.where(r == -180.0, 180.0, r)


def nudge(lat: np.ndarray, lon: np.ndarray, epsilon: float) -> tuple[np.ndarray, np.ndarray]:
    """The ε-nudged point: `lat' = clamp(lat + ε, −90, 90)`, `lon' = wrap(lon + ε)`."""
    return (np.clip(np.asarray(lat, dtype=np.float64) + epsilon, -90.0, 90.0),
            wrap_lon(np.asarray(lon, dtype=np.float64) + epsilon))


def haversine_m(lat1, lon1, lat2, lon2) -> np.ndarray:  # noqa: ANN001 - floats or arrays
    """Great-circle distance in metres, R = 6371.0088 km."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dp / 2.0) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2.0) ** 2
    return 2.0 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def cap_boxes(lat: float, lon: float, radius_km: float) -> list[tuple[float, float, float, float]]:
    """Lon/lat boxes (xmin, ymin, xmax, ymax) covering the spherical cap of `radius_km` around a point.

    The cap's latitude span is `lat ± Δ` (Δ = r/R); its longitude half-width is
    `asin(sin Δ / cos lat)` unless the cap reaches a pole (then all longitudes). A
    span crossing ±180° is split into two boxes. A tiny margin keeps the cover
    conservative against rounding.
    """
    if not math.isfinite(radius_km) or radius_km * 1000.0 >= math.pi * EARTH_RADIUS_M:
        return [(-180.0, -90.0, 180.0, 90.0)]
    delta = radius_km * 1000.0 / EARTH_RADIUS_M
    d_deg = math.degrees(delta) * 1.001 + 1e-9
    lo_lat, hi_lat = lat - d_deg, lat + d_deg
    if lo_lat <= -90.0 or hi_lat >= 90.0:
        return [(-180.0, max(lo_lat, -90.0), 180.0, min(hi_lat, 90.0))]
    ratio = math.sin(delta) / math.cos(math.radians(lat))
    if ratio >= 1.0:
        return [(-180.0, lo_lat, 180.0, hi_lat)]
    d_lon = math.degrees(math.asin(ratio)) * 1.001 + 1e-9
    west, east = lon - d_lon, lon + d_lon
    if d_lon >= 180.0:
        return [(-180.0, lo_lat, 180.0, hi_lat)]
    boxes = [(max(west, -180.0), lo_lat, min(east, 180.0), hi_lat)]
    if west < -180.0:
        boxes.append((west + 360.0, lo_lat, 180.0, hi_lat))
    if east > 180.0:
        boxes.append((-180.0, lo_lat, east - 360.0, hi_lat))
    return boxes


# ---- zone sets ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ZoneSets:
    """`TW`, `Z_tab(c)` and `Z(c)` of spec 2A "Conventions" (deterministic, computed once)."""

    civil: tuple[str, ...]  # TW, ASCII order
    z_tab: Mapping[str, tuple[str, ...]]
    z: Mapping[str, tuple[str, ...]]
    _rank: Mapping[tuple[str, str], int] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        ranks = {(c, t): i for c, zones in self.z.items() for i, t in enumerate(zones)}
        object.__setattr__(self, "_rank", ranks)
        object.__setattr__(self, "_civil_set", frozenset(self.civil))

    def zones(self, country: str | None) -> tuple[str, ...]:
        return self.z.get(country, ()) if country is not None else ()

    def tab_zones(self, country: str | None) -> tuple[str, ...]:
        return self.z_tab.get(country, ()) if country is not None else ()

    def rank(self, country: str | None, tzid: str) -> int | None:
        return self._rank.get((country, tzid))

    def is_civil(self, tzid: str) -> bool:
        return tzid in self._civil_set  # type: ignore[attr-defined]

    def in_country(self, country: str | None, tzid: str) -> bool:
        """`z ∈ Z(c)` or `Z(c) = ∅`."""
        zones = self.zones(country)
        return not zones or tzid in zones

    def to_frame(self) -> pl.DataFrame:
        """One row per `(country_iso, tzid)` of `Z(c)`: `rank` and whether it is in `Z_tab(c)`."""
        rows = [(c, t, i, t in self.z_tab.get(c, ())) for c in sorted(self.z) for i, t in enumerate(self.z[c])]
        return pl.DataFrame(rows, schema={"country_iso": pl.String, "tzid": pl.String, "rank": pl.Int32,
                                          "in_zone_tab": pl.Boolean}, orient="row")

    @classmethod
    def from_frame(cls, frame: pl.DataFrame, civil: Iterable[str]) -> ZoneSets:
        z: dict[str, list[str]] = {}
        z_tab: dict[str, list[str]] = {}
        for c, t, _, in_tab in frame.sort("country_iso", "rank").iter_rows():
            z.setdefault(c, []).append(t)
            if in_tab:
                z_tab.setdefault(c, []).append(t)
        return cls(tuple(sorted(set(civil))), {c: tuple(v) for c, v in z_tab.items()},
                   {c: tuple(v) for c, v in z.items()})


def build_zone_sets(civil_tzids: Iterable[str], zone_tab: pl.DataFrame, zone1970_tab: pl.DataFrame,
                    extra_country_zones: Mapping[str, Sequence[str]] | None = None) -> ZoneSets:
    """`Z_tab(c)` = zone.tab ∩ TW in row order + extras; `Z(c)` = `Z_tab(c)` then zone1970 ∩ TW, deduplicated."""
    tw = set(civil_tzids)
    extra = {c: list(v) for c, v in (extra_country_zones or {}).items()}
    z_tab: dict[str, list[str]] = {}
    for c, t in zone_tab.sort("country_iso", "row_order").select("country_iso", "tzid").iter_rows():
        if t in tw and t not in z_tab.setdefault(c, []):
            z_tab[c].append(t)
    for c in sorted(extra):
        for t in extra[c]:
            if t not in z_tab.setdefault(c, []):
                z_tab[c].append(t)
    z: dict[str, list[str]] = {c: list(v) for c, v in z_tab.items()}
    for c, t in zone1970_tab.sort("country_iso", "row_order").select("country_iso", "tzid").iter_rows():
        if t in tw and t not in z.setdefault(c, []):
            z[c].append(t)
    return ZoneSets(tuple(sorted(tw)), {c: tuple(v) for c, v in z_tab.items() if v},
                    {c: tuple(v) for c, v in z.items() if v})


# ---- the indexed tz_world layer ---------------------------------------------------------------------


_CACHE: dict[tuple, TzWorld] = {}
_CACHE_SIZE = 1


def frame_key(frame: pl.DataFrame) -> tuple:
    """A cheap in-process content key of a `tz_world` frame (memo key, never persisted)."""
    return (frame.height, int(frame.get_column("geometry").hash(seed=7).sum()),
            int(frame.get_column("tzid").hash(seed=7).sum()), int(frame.get_column("part_id").hash(seed=7).sum()),
            int(frame.get_column("is_civil").hash(seed=7).sum()) if "is_civil" in frame.columns else 0)


class TzWorld:
    """`tz_world` decoded on demand: tzids, bounding boxes, an STRtree of boxes, prepared parts."""

    def __init__(self, frame: pl.DataFrame, non_civil_prefixes: Sequence[str] = ("Etc/",)) -> None:
        f = frame.sort("tzid", "part_id")
        self.tzid: np.ndarray = np.asarray(f.get_column("tzid").to_list(), dtype=object)
        self.part_id: np.ndarray = f.get_column("part_id").to_numpy().astype(np.int32)
        prefixes = tuple(non_civil_prefixes)
        self.is_civil: np.ndarray = np.array([not t.startswith(prefixes) for t in self.tzid], dtype=bool)
        self.bounds: np.ndarray = f.select("min_lon_deg", "min_lat_deg", "max_lon_deg", "max_lat_deg").to_numpy()
        self._wkb: np.ndarray = f.get_column("geometry").to_numpy()
        self._geoms: np.ndarray = np.full(f.height, None, dtype=object)
        self._prepared = np.zeros(f.height, dtype=bool)
        self.civil_tzids: tuple[str, ...] = tuple(sorted({t for t, c in zip(self.tzid, self.is_civil) if c}))
        self.civil_code = {t: i for i, t in enumerate(self.civil_tzids)}
        self.part_code = np.array([self.civil_code.get(t, -1) if c else -1
                                   for t, c in zip(self.tzid, self.is_civil)], dtype=np.int32)
        self.tree = shapely.STRtree(shapely.box(*self.bounds.T))
        self._by_tzid: dict[str, np.ndarray] = {}
        for i, t in enumerate(self.tzid):
            self._by_tzid.setdefault(t, []).append(i)  # type: ignore[arg-type]
        self._by_tzid = {t: np.asarray(v, dtype=np.int64) for t, v in self._by_tzid.items()}
        self._validity: np.ndarray | None = None

    @classmethod
    def of(cls, frame: pl.DataFrame, non_civil_prefixes: Sequence[str] = ("Etc/",)) -> TzWorld:
        """Memoised per process by the frame's content (the same bytes decode once)."""
        key = (frame_key(frame), tuple(non_civil_prefixes))
        hit = _CACHE.get(key)
        if hit is None:
            hit = cls(frame, non_civil_prefixes)
            while len(_CACHE) >= _CACHE_SIZE:
                _CACHE.pop(next(iter(_CACHE)))
            _CACHE[key] = hit
        return hit

    @property
    def parts(self) -> int:
        return len(self.tzid)

    def geometries(self, idx: np.ndarray | Sequence[int], *, prepare: bool = False) -> np.ndarray:
        idx = np.asarray(idx, dtype=np.int64)
        missing = idx[np.equal(self._geoms[idx], None)]
        if missing.size:
            missing = np.unique(missing)
            self._geoms[missing] = shapely.from_wkb(self._wkb[missing])
        if prepare:
            todo = np.unique(idx[~self._prepared[idx]])
            if todo.size:
                shapely.prepare(self._geoms[todo])
                self._prepared[todo] = True
        return self._geoms[idx]

    def validity(self) -> np.ndarray:
        """`shapely.is_valid` of every part (decoding all of them once)."""
        if self._validity is None:
            geoms = self.geometries(np.arange(self.parts))
            self._validity = shapely.is_valid(geoms) & ~shapely.is_empty(geoms) \
                & (shapely.get_type_id(geoms) == 3)
        return self._validity

    def parts_of(self, tzids: Iterable[str]) -> np.ndarray:
        found = [self._by_tzid[t] for t in tzids if t in self._by_tzid]
        return np.sort(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)

    # -- membership -----------------------------------------------------------------------------
    def civil_hits(self, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Distinct `(point index, civil tzid code)` pairs whose part covers the point (boundary inclusive).

        Boxes first (STRtree, no predicate), then one prepared `intersects_xy` per part
        over the points in its box; non-civil parts are dropped before the exact test.
        """
        lat = np.asarray(lat, dtype=np.float64)
        lon = np.asarray(lon, dtype=np.float64)
        if lat.size == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32)
        pts_idx, part_idx = self.tree.query(shapely.points(lon, lat))
        keep = self.part_code[part_idx] >= 0
        pts_idx, part_idx = pts_idx[keep], part_idx[keep]
        if pts_idx.size == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32)
        order = np.lexsort((pts_idx, part_idx))
        pts_idx, part_idx = pts_idx[order], part_idx[order]
        starts = np.flatnonzero(np.r_[True, part_idx[1:] != part_idx[:-1]])
        ends = np.r_[starts[1:], part_idx.size]
        geoms = self.geometries(part_idx[starts], prepare=True)
        hit = np.zeros(pts_idx.size, dtype=bool)
        for g, s, e in zip(geoms, starts, ends):
            p = pts_idx[s:e]
            hit[s:e] = shapely.intersects_xy(g, lon[p], lat[p])
        codes = self.part_code[part_idx[hit]]
        pairs = np.unique(np.stack([pts_idx[hit].astype(np.int64), codes.astype(np.int64)], axis=1), axis=0) \
            if hit.any() else np.zeros((0, 2), dtype=np.int64)
        return pairs[:, 0], pairs[:, 1].astype(np.int32)

    def civil_sets(self, lat: np.ndarray, lon: np.ndarray) -> list[tuple[str, ...]]:
        """Per point, the sorted civil tzids covering it (a plain reference of `civil_hits`)."""
        pts, codes = self.civil_hits(lat, lon)
        out: list[list[str]] = [[] for _ in range(len(np.asarray(lat)))]
        for p, c in zip(pts.tolist(), codes.tolist()):
            out[p].append(self.civil_tzids[c])
        return [tuple(sorted(v)) for v in out]

    # -- nearest part -------------------------------------------------------------------------------
    def nearest(self, lat: float, lon: float, tzids: Iterable[str],
                max_km: float = math.inf) -> tuple[float, str, int] | None:
        """The part with tzid in `tzids` minimising `(d_m, tzid, part_id)`, or None if none within `max_km`.

        `d_m` = haversine length of `shapely.shortest_line(part, point)` (point shifted by
        ±360° towards the part's box across the antimeridian).
        """
        allowed = self.parts_of(tzids)
        if allowed.size == 0:
            return None
        allowed_set = np.zeros(self.parts, dtype=bool)
        allowed_set[allowed] = True
        measured: dict[int, float] = {}
        for radius in SEARCH_RADII_KM:
            r = min(radius, max_km)
            cand: set[int] = set()
            for box in cap_boxes(lat, lon, r):
                found = self.tree.query(shapely.box(*box))
                cand.update(int(i) for i in found if allowed_set[i])
            todo = sorted(cand - set(measured))
            if todo:
                for i, d in zip(todo, self._distances(lat, lon, np.asarray(todo, dtype=np.int64))):
                    measured[i] = float(d)
            best = min(((d, self.tzid[i], int(self.part_id[i])) for i, d in measured.items()), default=None)
            if best is not None and best[0] <= r * 1000.0:
                return best
            if r >= max_km:
                return None
        return min(((d, self.tzid[i], int(self.part_id[i])) for i, d in measured.items()), default=None)

    def _distances(self, lat: float, lon: float, idx: np.ndarray) -> np.ndarray:
        geoms = self.geometries(idx)
        b = self.bounds[idx]
        shifts = np.array([-360.0, 0.0, 360.0])
        # planar distance from each shifted longitude to the part's lon range; pick the closest shift
        xs = lon + shifts[None, :]
        gap = np.maximum(b[:, [0]] - xs, 0.0) + np.maximum(xs - b[:, [2]], 0.0)
        x = lon + shifts[np.argmin(gap + np.array([1e-9, 0.0, 1e-9])[None, :], axis=1)]
        lines = shapely.shortest_line(geoms, shapely.points(x, np.full(idx.size, lat)))
        coords = shapely.get_coordinates(lines).reshape(-1, 2, 2)
        return haversine_m(coords[:, 0, 1], coords[:, 0, 0], coords[:, 1, 1], coords[:, 1, 0])


# ---- the ladder ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LadderPolicy:
    epsilon_degrees: float = 0.002
    foreign_snap_max_km: float = 25.0

    @property
    def exception_threshold_m(self) -> float:
        return self.epsilon_degrees * METRES_PER_DEGREE


# overrides(indices) -> per index (tzid or None, scope or None), for rows still unresolved after step 3
OverrideFn = Callable[[np.ndarray], Sequence[tuple[str | None, str | None]]]


class TzResolver:
    def __init__(self, world: TzWorld, zones: ZoneSets, policy: LadderPolicy = LadderPolicy()) -> None:
        self.world = world
        self.zones = zones
        self.policy = policy

    def _sets(self, n: int, pts: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, dict[int, tuple[str, ...]]]:
        """(count per point, {point: sorted tzids} for points whose count ≠ 1), plus the single code."""
        count = np.bincount(pts, minlength=n).astype(np.int64) if pts.size else np.zeros(n, dtype=np.int64)
        multi: dict[int, tuple[str, ...]] = {}
        sel = count[pts] != 1 if pts.size else np.zeros(0, dtype=bool)
        for p, c in zip(pts[sel].tolist(), codes[sel].tolist()):
            multi.setdefault(p, ())
            multi[p] = multi[p] + (self.world.civil_tzids[c],)
        return count, {k: tuple(sorted(v)) for k, v in multi.items()}

    def resolve(self, lat: Sequence[float] | np.ndarray, lon: Sequence[float] | np.ndarray,
                country: Sequence[str | None], *, overrides: OverrideFn | None = None) -> pl.DataFrame:
        """One row per input point (input order), columns `RESULT_SCHEMA`."""
        lat = np.asarray(lat, dtype=np.float64)
        lon = np.asarray(lon, dtype=np.float64)
        country = list(country)
        n = lat.size
        if not (lon.size == n == len(country)):
            raise ValueError("lat, lon and country must have the same length")
        if n and (not np.isfinite(lat).all() or not np.isfinite(lon).all()
                  or (np.abs(lat) > 90).any() or (np.abs(lon) > 180).any()):
            raise ValueError("coordinates must be finite, |lat| ≤ 90 and |lon| ≤ 180")
        eps = self.policy.epsilon_degrees
        tz: list[str | None] = [None] * n
        res: list[str | None] = [None] * n
        scope: list[str | None] = [None] * n
        dist = np.full(n, np.nan)
        exc = np.zeros(n, dtype=bool)
        nlat = np.full(n, np.nan)
        nlon = np.full(n, np.nan)
        cand_txt: list[str | None] = [None] * n

        # 1-2 membership
        pts, codes = self.world.civil_hits(lat, lon)
        c0_count, c0_multi = self._sets(n, pts, codes)
        single = np.flatnonzero(c0_count == 1)
        single_code = np.full(n, -1, dtype=np.int64)
        one = c0_count[pts] == 1 if pts.size else np.zeros(0, dtype=bool)
        single_code[pts[one]] = codes[one]
        for i in single.tolist():
            tz[i] = self.world.civil_tzids[single_code[i]]
            res[i] = POLYGON
        # 3 nudge
        todo = np.flatnonzero(c0_count != 1)
        c1_sets: dict[int, tuple[str, ...]] = {}
        if todo.size:
            la, lo = nudge(lat[todo], lon[todo], eps)
            nlat[todo], nlon[todo] = la, lo
            sub_pts, sub_codes = self.world.civil_hits(la, lo)
            for p, c in zip(sub_pts.tolist(), sub_codes.tolist()):
                i = int(todo[p])
                c1_sets[i] = c1_sets.get(i, ()) + (self.world.civil_tzids[c],)
            for i in todo.tolist():
                c0 = c0_multi.get(i, ())
                c1 = tuple(sorted(c1_sets.get(i, ())))
                c1_sets[i] = c1
                union = sorted(set(c0) | set(c1))
                cand_txt[i] = "|".join(union) if union else None
                if len(c1) == 1:
                    tz[i] = c1[0]
                    res[i] = NUDGE
        # F foreign check (rows answered by polygon or nudge)
        snap_m = self.policy.foreign_snap_max_km * 1000.0
        for i in range(n):
            if res[i] not in (POLYGON, NUDGE):
                continue
            zc = self.zones.zones(country[i])
            if not zc or tz[i] in zc:
                continue
            near = self.world.nearest(lat[i], lon[i], zc, max_km=self.policy.foreign_snap_max_km) \
                if snap_m > 0 else None
            if near is not None and near[0] <= snap_m:
                tz[i], res[i], dist[i] = near[1], COUNTRY_SNAP, near[0]
            else:
                res[i] = POLYGON_FOREIGN
        # 4 overrides (caller's), for rows still unresolved
        pending = np.asarray([i for i in range(n) if res[i] is None], dtype=np.int64)
        if overrides is not None and pending.size:
            answers = overrides(pending)
            for i, (t, s) in zip(pending.tolist(), answers):
                if t is not None:
                    tz[i], res[i], scope[i] = t, OVERRIDE, s
        # 5-7 row-wise
        for i in range(n):
            if res[i] is not None:
                continue
            c = country[i]
            union = set(c0_multi.get(i, ())) | set(c1_sets.get(i, ()))
            ranked = sorted((self.zones.rank(c, t), t) for t in union if self.zones.rank(c, t) is not None)
            if ranked:
                tz[i], res[i] = ranked[0][1], COUNTRY_TIEBREAK
                continue
            tab = self.zones.tab_zones(c)
            if len(tab) == 1:
                tz[i], res[i] = tab[0], COUNTRY_SINGLETON
                continue
            target = tab or self.zones.zones(c) or self.world.civil_tzids
            near = self.world.nearest(lat[i], lon[i], target)
            if near is None:  # pragma: no cover - TW is never empty for a valid tz_world
                raise ValueError(f"no civil polygon at all for point {i}")
            tz[i], res[i], dist[i] = near[1], NEAREST_POLYGON, near[0]
            exc[i] = near[0] > self.policy.exception_threshold_m
        in_country = [self.zones.in_country(c, t) for c, t in zip(country, tz)]
        return pl.DataFrame({
            "tzid": tz, "resolution": res, "candidate_count": np.minimum(c0_count, 127),
            "candidate_tzids": cand_txt, "nudge_lat_deg": nlat, "nudge_lon_deg": nlon, "override_scope": scope,
            "fallback_distance_m": dist, "fallback_exception": exc, "in_country": in_country,
        }, schema=RESULT_SCHEMA).with_columns(
            pl.col("nudge_lat_deg").fill_nan(None), pl.col("nudge_lon_deg").fill_nan(None),
            pl.col("fallback_distance_m").fill_nan(None))


def resolver_for(tz_world: pl.DataFrame, zone_tab: pl.DataFrame, zone1970_tab: pl.DataFrame, *,
                 epsilon_degrees: float = 0.002, foreign_snap_max_km: float = 25.0,
                 extra_country_zones: Mapping[str, Sequence[str]] | None = None,
                 non_civil_prefixes: Sequence[str] = ("Etc/",)) -> TzResolver:
    """Convenience for consumers (3B): index `tz_world`, build the zone sets, return a resolver."""
    world = TzWorld.of(tz_world, non_civil_prefixes)
    zones = build_zone_sets(world.civil_tzids, zone_tab, zone1970_tab, extra_country_zones)
    return TzResolver(world, zones, LadderPolicy(epsilon_degrees, foreign_snap_max_km))


__all__ = [
    "COUNTRY_SINGLETON", "COUNTRY_SNAP", "COUNTRY_TIEBREAK", "DISTANCE_RESOLUTIONS", "EARTH_RADIUS_M",
    "FALLBACK_RESOLUTIONS", "LadderPolicy", "NEAREST_POLYGON", "NUDGE", "OVERRIDE", "POLYGON", "POLYGON_FOREIGN",
    "RESOLUTIONS", "RESULT_SCHEMA", "TzResolver", "TzWorld", "ZoneSets", "build_zone_sets", "cap_boxes",
    "haversine_m", "nudge", "resolver_for", "wrap_lon",
]
