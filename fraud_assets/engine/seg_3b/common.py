"""Small 3B-only helpers: RNG addressing, geometry, inverse CDFs, weight statistics, evidence.

RNG addressing (spec 3B "Conventions"; ARCHITECTURE §6). Every 3B family is per
merchant, keyed by `merchant_id` (token `str(merchant_id)`), sequential at `p = 0`:

* single-uniform families (`3B.s1.virtual`, `3B.s1.hybrid_share`, `3B.s1.settlement`,
  `3B.s2.footprint`, `3B.s2.edge_country`, `3B.s2.edge_city`): uniform j is
  `u01(lane 0)` of block `(0, j)` — one uniform per block, lane 1 unused;
* paired families (`3B.s2.edge_count`, `3B.s2.edge_jitter`, `3B.s2.edge_capacity`):
  uniforms `2i, 2i+1` are lanes 0 and 1 of block `(0, i)`; normals are
  `core.rng`'s Box–Muller cosine branch of that block (`sample_normal`).

So every family has an exact, output-derivable count of uniforms and blocks, and
nothing depends on merchant order or batch size.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

from fraud_assets.core import rng as core_rng
from fraud_assets.core.identity import World
from fraud_assets.engine.common.checks import (  # noqa: F401 - re-exported
    FIRST_KEYS,
    jsonable,
    key_list,
    missing_output,
    outcome,
    tally,
)
from fraud_assets.engine.common.tz_resolve import EARTH_RADIUS_M, wrap_lon

KM_PER_DEGREE = 111.32
LAT_LIMIT = 89.9

# ---- RNG ------------------------------------------------------------------------------------------


def rng_root(world: World) -> core_rng.RngRoot:
    return core_rng.RngRoot(world.manifest_fingerprint, world.parameter_hash)


def _streams(world: World, family: str, merchant_ids: np.ndarray) -> core_rng.StreamArray:
    return rng_root(world).streams(family, np.asarray(merchant_ids, dtype=np.int64), seed=world.seed)


def _flat(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(owner index, position within owner) for `counts[i]` slots of owner i."""
    counts = np.asarray(counts, dtype=np.int64)
    owner = np.repeat(np.arange(counts.size, dtype=np.int64), counts)
    starts = np.cumsum(counts) - counts
    pos = np.arange(owner.size, dtype=np.int64) - starts[owner]
    return owner, pos


def uniforms(world: World, family: str, merchant_ids: np.ndarray, counts: np.ndarray | int) -> np.ndarray:
    """Single-uniform family: uniforms 0..counts[i]−1 of every merchant, flattened merchant-major."""
    ids = np.asarray(merchant_ids, dtype=np.int64)
    counts = np.broadcast_to(np.asarray(counts, dtype=np.int64), ids.shape)
    if ids.size == 0 or counts.sum() == 0:
        return np.zeros(0, dtype=np.float64)
    sa = _streams(world, family, ids)
    owner, pos = _flat(counts)
    w0, _ = core_rng.blocks(sa.k[owner], sa.c_hi[owner], sa.c_lo[owner], 0, pos.astype(np.uint64))
    return np.asarray(core_rng.u01(w0), dtype=np.float64)


def uniform_pairs(world: World, family: str, merchant_ids: np.ndarray,
                  counts: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
    """Paired family: (lane-0, lane-1) uniforms of blocks 0..counts[i]−1, flattened merchant-major."""
    ids = np.asarray(merchant_ids, dtype=np.int64)
    counts = np.broadcast_to(np.asarray(counts, dtype=np.int64), ids.shape)
    if ids.size == 0 or counts.sum() == 0:
        return np.zeros(0, dtype=np.float64), np.zeros(0, dtype=np.float64)
    sa = _streams(world, family, ids)
    owner, pos = _flat(counts)
    w0, w1 = core_rng.blocks(sa.k[owner], sa.c_hi[owner], sa.c_lo[owner], 0, pos.astype(np.uint64))
    return np.asarray(core_rng.u01(w0), dtype=np.float64), np.asarray(core_rng.u01(w1), dtype=np.float64)


def normals(world: World, family: str, merchant_ids: np.ndarray, counts: np.ndarray | int) -> np.ndarray:
    """Paired family: one standard normal (Box–Muller cosine branch) per block, flattened merchant-major."""
    ids = np.asarray(merchant_ids, dtype=np.int64)
    counts = np.broadcast_to(np.asarray(counts, dtype=np.int64), ids.shape)
    if ids.size == 0 or counts.sum() == 0:
        return np.zeros(0, dtype=np.float64)
    sa = _streams(world, family, ids)
    owner, pos = _flat(counts)
    flat = core_rng.StreamArray(np.ascontiguousarray(sa.k[owner]), np.ascontiguousarray(sa.c_hi[owner]),
                                np.ascontiguousarray(sa.c_lo[owner]))
    return np.asarray(core_rng.sample_normal(flat, p=0, q=pos.astype(np.uint64)).values, dtype=np.float64)


# ---- geometry -------------------------------------------------------------------------------------


def haversine_km(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> np.ndarray:
    """Great-circle distance in km, R = 6371.0088 km (the resolver's radius)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lon2, dtype=np.float64) - np.asarray(lon1, dtype=np.float64))
    a = np.sin(dp / 2.0) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2.0) ** 2
    return 2.0 * (EARTH_RADIUS_M / 1000.0) * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def offset_points(lat: Any, lon: Any, r_km: Any, theta: Any) -> tuple[np.ndarray, np.ndarray]:
    """`lat' = lat + r·cosθ/111.32`, `lon' = lon + r·sinθ/(111.32·cos lat)`; lon wrapped into
    (−180, 180], lat clamped to [−89.9, 89.9] (spec "Conventions")."""
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    r = np.asarray(r_km, dtype=np.float64)
    th = np.asarray(theta, dtype=np.float64)
    cos_lat = np.maximum(np.cos(np.radians(lat)), 1e-9)
    new_lat = np.clip(lat + r * np.cos(th) / KM_PER_DEGREE, -LAT_LIMIT, LAT_LIMIT)
    new_lon = wrap_lon(lon + r * np.sin(th) / (KM_PER_DEGREE * cos_lat))
    return new_lat, np.asarray(new_lon, dtype=np.float64)


# ---- inverse CDF ----------------------------------------------------------------------------------


def inverse_cdf(weights: np.ndarray, u: float) -> int:
    """Smallest j with u·Σw < cumsum(w)[j] (zero-weight entries are never chosen)."""
    cum = np.cumsum(np.asarray(weights, dtype=np.float64))
    j = int(np.searchsorted(cum, u * cum[-1], side="right"))
    if j >= cum.size:  # u·Σw rounded up to Σw: the last positive entry
        j = int(np.flatnonzero(np.asarray(weights) > 0)[-1])
    return j


# ---- weight statistics ----------------------------------------------------------------------------


def gini(weights: np.ndarray) -> float:
    """Gini coefficient of non-negative weights (0 for a single edge or equal weights)."""
    w = np.sort(np.asarray(weights, dtype=np.float64))
    n = w.size
    total = w.sum()
    if n <= 1 or total <= 0:
        return 0.0
    ranks = np.arange(1, n + 1, dtype=np.float64)
    return float(max(0.0, (2.0 * (ranks * w).sum()) / (n * total) - (n + 1.0) / n))


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The smallest value (values ascending, stable) at which the cumulative weight reaches half."""
    v = np.asarray(values, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    order = np.argsort(v, kind="stable")
    cum = np.cumsum(w[order])
    j = int(np.searchsorted(cum, 0.5 * cum[-1], side="left"))
    return float(v[order][min(j, v.size - 1)])


# ---- time zones -----------------------------------------------------------------------------------


def loadable_tzids(tzif_digest: pl.DataFrame) -> frozenset[str]:
    """Every key the pinned tzdata wheel loads (the sealed `tzif_digest` reference's keys)."""
    return frozenset(tzif_digest.get_column("tzid").to_list())


def zone_tab_sets(zone_tab: pl.DataFrame) -> dict[str, tuple[str, ...]]:
    """zone.tab zones per country, in file order."""
    out: dict[str, list[str]] = {}
    for c, t in zone_tab.sort("country_iso", "row_order").select("country_iso", "tzid").iter_rows():
        out.setdefault(c, []).append(t)
    return {c: tuple(v) for c, v in out.items()}


def link_targets(links: pl.DataFrame) -> dict[str, str]:
    return dict(links.select("link_name", "target").iter_rows())


# ---- JSON inputs and evidence ---------------------------------------------------------------------


def json_input(value: Any) -> dict:
    """A JSON dataset as the runner hands it over (a one-row frame) back to a dict."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, pl.DataFrame) and value.height:
        return value.to_dicts()[0]
    return {}


def resolver_from(inputs: Mapping[str, Any], policy: Any):
    """2A's ladder (`engine.common.tz_resolve`) over the sealed tz_world and zone tables, with the
    `edge_topology.tz_resolver` parameters (2A's values)."""
    from fraud_assets.engine.common import tz_resolve as tr
    from fraud_assets.engine.seg_3b import datasets as ds

    return tr.resolver_for(inputs[ds.REF_TZ_WORLD], inputs[ds.REF_ZONE_TAB], inputs[ds.REF_ZONE1970_TAB],
                           epsilon_degrees=policy.epsilon_degrees, foreign_snap_max_km=policy.foreign_snap_max_km,
                           extra_country_zones=policy.extra_country_zones)
