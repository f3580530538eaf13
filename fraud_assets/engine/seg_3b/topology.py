"""The 3B edge law (spec/engine/3B.md, "S2"): the world's CDN base, per-merchant catalogues, the index.

Not a state: `s2_edges` runs it, S5 replays it through the catalogue and re-derives the
index and the polygon diagnostic from it.

Per world (`EdgeWorld`): eligible countries `E` (≥ 1 city, minus `excluded_countries`,
ISO order); edge cities of c (population ≥ `edge_city_min_population`, else c's most
populous city; population desc, geonameid asc); `hub(c)` = the first; base weight
`b(c) = gdp_md_est^0.75 / Σ` (0 without GDP).

Per virtual merchant m (settlement s in country c_s; every step a pure function of m):

1. footprint class by one uniform of `3B.s2.footprint` over the group's mix row
   (HYBRID merchants use the HYBRID row, unknown groups `default`);
2. `N = clamp(⌊median · size_mult · h · exp(σ ζ) + 0.5⌋, min, max)`, ζ the Box–Muller
   normal of block 0 of `3B.s2.edge_count`;
3. `p(c) = (1−λ) b(c) + λ L(c)/ΣL`, `L(c) = exp(−d(s, hub(c))/τ)`; `p(c_s) *= β`,
   normalise, closed-form clamp of `p(c_s)` into [floor, cap] (skipped if c_s ∉ E);
4. slot k's country by inverse CDF (uniform k of `3B.s2.edge_country`); if c_s ∈ E and
   no slot chose it, the slot with the smallest p (ties: highest k) moves to c_s;
5. canonical order by (country_iso, k) → `edge_seq_index` i;
6. city by inverse CDF over `population^γ · exp(−d(s, city)/τ)` (uniform i of
   `3B.s2.edge_city`);
7. jitter `r = 15 km·√u, θ = 2πu'` (lanes of block i of `3B.s2.edge_jitter`), always
   accepted;
8. operational tz: the resolver's tzid if it loads and it (or its link target) is in the
   edge country's zone.tab set (`POLYGON`); else the city tzid if it loads (`CITY`); else
   the country's first loadable zone.tab zone (`COUNTRY_DEFAULT`);
9. `cap_i = exp(σ_cap ζ_i − σ_cap²/2)` (ζ_i the normal of block i of
   `3B.s2.edge_capacity`), `μ_i = population^η · exp(−dist_i/τw) · cap_i`,
   `edge_weight = μ/Σμ`;
10. `edge_id = core.ids.edge_ids_from_keys(merchant_id, edge_seq_index)`.

Uniforms per merchant: 1 + 2 + N + N + 2N + 2N = 3 + 6N.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import shapely

from fraud_assets.core.digest import content_digest, encode_lines
from fraud_assets.core.ids import edge_ids_from_keys
from fraud_assets.engine.seg_3b import common
from fraud_assets.engine.seg_3b import datasets as ds
from fraud_assets.engine.seg_3b.config import CLASSES, Config3B, EdgeTopology

FAMILY_FOOTPRINT = "3B.s2.footprint"
FAMILY_EDGE_COUNT = "3B.s2.edge_count"
FAMILY_EDGE_COUNTRY = "3B.s2.edge_country"
FAMILY_EDGE_CITY = "3B.s2.edge_city"
FAMILY_EDGE_JITTER = "3B.s2.edge_jitter"
FAMILY_EDGE_CAPACITY = "3B.s2.edge_capacity"
FAMILIES = (FAMILY_FOOTPRINT, FAMILY_EDGE_COUNT, FAMILY_EDGE_COUNTRY, FAMILY_EDGE_CITY, FAMILY_EDGE_JITTER,
            FAMILY_EDGE_CAPACITY)
# uniforms per merchant as (fixed, per edge); blocks likewise
UNIFORMS_PER_FAMILY = {FAMILY_FOOTPRINT: (1, 0), FAMILY_EDGE_COUNT: (2, 0), FAMILY_EDGE_COUNTRY: (0, 1),
                       FAMILY_EDGE_CITY: (0, 1), FAMILY_EDGE_JITTER: (0, 2), FAMILY_EDGE_CAPACITY: (0, 2)}
BLOCKS_PER_FAMILY = {FAMILY_FOOTPRINT: (1, 0), FAMILY_EDGE_COUNT: (1, 0), FAMILY_EDGE_COUNTRY: (0, 1),
                     FAMILY_EDGE_CITY: (0, 1), FAMILY_EDGE_JITTER: (0, 1), FAMILY_EDGE_CAPACITY: (0, 1)}

POLYGON, CITY, COUNTRY_DEFAULT = "POLYGON", "CITY", "COUNTRY_DEFAULT"
TZ_SOURCES = (POLYGON, CITY, COUNTRY_DEFAULT)
HYBRID_ROW = "HYBRID"
DEFAULT_ROW = "default"
POLYGON_BUFFER_DEG = 0.25  # the coarse-polygon diagnostic (spec S2 step 7)

SETTLEMENT_COLUMNS = ("merchant_id", "settlement_country_iso", "lat_deg", "lon_deg")


def expected_uniforms(n_edges: int) -> int:
    return 3 + 6 * int(n_edges)


def family_counts(edge_counts: np.ndarray) -> dict[str, tuple[int, int, int]]:
    """(keys, uniforms, blocks) per S2 family for merchants with `edge_counts` edges."""
    n = np.asarray(edge_counts, dtype=np.int64)
    total = int(n.sum())
    out = {}
    for fam in FAMILIES:
        fu, eu = UNIFORMS_PER_FAMILY[fam]
        fb, eb = BLOCKS_PER_FAMILY[fam]
        out[fam] = (int(n.size), fu * n.size + eu * total, fb * n.size + eb * total)
    return out


# ---- the world's CDN base -------------------------------------------------------------------------


@dataclass
class CountryCities:
    geonameid: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    population: np.ndarray
    tzid: list[str]


class EdgeWorld:
    """Eligible countries, their edge cities and hubs, base weights (one per world, order-free)."""

    def __init__(self, cities: pl.DataFrame, countries: pl.DataFrame, topo: EdgeTopology) -> None:
        cb = topo.cdn_base
        excluded = set(cb.excluded_countries)
        ordered = cities.sort(["country_iso", "population", "geonameid"], descending=[False, True, False])
        self.iso: list[str] = sorted(set(ordered.get_column("country_iso").unique().to_list()) - excluded)
        self.index = {c: i for i, c in enumerate(self.iso)}
        self.cities: dict[str, CountryCities] = {}
        keep = ordered.filter(pl.col("country_iso").is_in(self.iso)).with_columns(
            pl.int_range(pl.len()).over("country_iso").alias("_rank"))
        edge = keep.filter((pl.col("population") >= cb.edge_city_min_population) | (pl.col("_rank") == 0))
        for (c,), g in edge.group_by(["country_iso"], maintain_order=True):
            self.cities[c] = CountryCities(g.get_column("geonameid").to_numpy(), g.get_column("lat_deg").to_numpy(),
                                           g.get_column("lon_deg").to_numpy(),
                                           g.get_column("population").to_numpy().astype(np.float64),
                                           g.get_column("tzid").to_list())
        self.hub_lat = np.array([self.cities[c].lat[0] for c in self.iso])
        self.hub_lon = np.array([self.cities[c].lon[0] for c in self.iso])
        gdp = dict(countries.select("country_iso", "gdp_md_est").iter_rows())
        g = np.array([float(gdp.get(c) or 0.0) for c in self.iso])
        g = np.where(np.isfinite(g) & (g > 0), g, 0.0) ** cb.gdp_exponent
        self.base = g / g.sum() if g.sum() > 0 else np.full(len(self.iso), 1.0 / max(len(self.iso), 1))

    def country_probabilities(self, lat: float, lon: float, home: str, k: Any) -> np.ndarray:
        """Step 3: `p` over `iso` for a settlement at (lat, lon) in `home`, class parameters `k`."""
        d = common.haversine_km(lat, lon, self.hub_lat, self.hub_lon)
        loc = np.exp(-(d - d.min()) / k.locality_tau_km)
        p = (1.0 - k.locality_lambda) * self.base + k.locality_lambda * loc / loc.sum()
        h = self.index.get(home)
        if h is None:
            return p / p.sum()
        p[h] *= k.settlement_boost
        p = p / p.sum()
        ph = p[h]
        t = min(max(ph, k.settlement_share_floor), k.settlement_share_cap)
        if ph < 1.0:
            p = p * ((1.0 - t) / (1.0 - ph))
        p[h] = t
        return p


_WORLDS: dict[tuple, EdgeWorld] = {}


def edge_world(cities: pl.DataFrame, countries: pl.DataFrame, topo: EdgeTopology) -> EdgeWorld:
    """`EdgeWorld` memoised per process by the content of its inputs (S2 and S5's replay share it)."""
    from fraud_assets.engine.seg_3b.config import policy_digest

    key = (cities.height, int(cities.get_column("geonameid").hash(seed=5).sum()),
           int(cities.get_column("population").hash(seed=5).sum()),
           int(cities.get_column("lat_deg").hash(seed=5).sum()), int(cities.get_column("tzid").hash(seed=5).sum()),
           countries.height, int(countries.get_column("gdp_md_est").hash(seed=5).sum()), policy_digest(topo))
    hit = _WORLDS.get(key)
    if hit is None:
        hit = EdgeWorld(cities, countries, topo)
        while len(_WORLDS) >= 2:
            _WORLDS.pop(next(iter(_WORLDS)))
        _WORLDS[key] = hit
    return hit


# ---- per-merchant laws ----------------------------------------------------------------------------


def size_multiplier(outlet_count: int, topo: EdgeTopology) -> float:
    sm = topo.size_multiplier
    return float(min(max((max(int(outlet_count), 1) / sm.reference_outlets) ** sm.exponent, sm.min), sm.max))


def edge_count(k: Any, outlet_count: int, hybrid: bool, zeta: float, topo: EdgeTopology) -> int:
    h = topo.hybrid_edge_count_multiplier if hybrid else 1.0
    raw = k.edge_count_median * size_multiplier(outlet_count, topo) * h * np.exp(k.edge_count_sigma * zeta)
    return int(min(max(int(np.floor(raw + 0.5)), k.edge_count_min), k.edge_count_max))


def footprint_row(mode: str, group: str | None, topo: EdgeTopology) -> tuple[float, float, float]:
    if mode == "HYBRID":
        return topo.footprint_mix[HYBRID_ROW]
    return topo.footprint_mix.get(group or DEFAULT_ROW, topo.footprint_mix[DEFAULT_ROW])


def slot_countries(p: np.ndarray, u: np.ndarray, home: int | None) -> np.ndarray:
    """Step 4: country index per slot; the forced home-market edge."""
    cum = np.cumsum(p)
    idx = np.minimum(np.searchsorted(cum, u * cum[-1], side="right"), p.size - 1)
    if home is not None and idx.size and not (idx == home).any():
        pk = p[idx]
        low = np.flatnonzero(pk == pk.min())
        idx[low[-1]] = home
    return idx


# ---- the catalogue --------------------------------------------------------------------------------


@dataclass
class Catalogue:
    edges: pl.DataFrame
    index: pl.DataFrame
    edge_counts: np.ndarray  # per merchant (merchant_id order)
    outside_polygon: int
    figures: dict


def virtual_merchants(classification: pl.DataFrame, settlement: pl.DataFrame) -> pl.DataFrame:
    return (classification.filter(pl.col("is_virtual"))
            .select("merchant_id", "virtual_mode", "rule_group", "outlet_count")
            .join(settlement.select(SETTLEMENT_COLUMNS), on="merchant_id", how="left")
            .sort("merchant_id"))


def build(classification: pl.DataFrame, settlement: pl.DataFrame, inputs: Mapping[str, Any], cfg: Config3B,
          world: Any) -> Catalogue:
    topo = cfg.edge_topology
    vm = virtual_merchants(classification, settlement)
    if vm.filter(pl.col("lat_deg").is_null()).height:
        from fraud_assets.core.errors import EngineFailure

        raise EngineFailure("3B-S2-001", "a virtual merchant has no settlement row", dataset=ds.VIRTUAL_SETTLEMENT,
                            keys=vm.filter(pl.col("lat_deg").is_null()).get_column("merchant_id").head(10).to_list())
    ew = edge_world(inputs[ds.REF_CITIES], inputs[ds.REF_COUNTRIES], topo)
    ids = vm.get_column("merchant_id").to_numpy()
    m = ids.size
    modes = vm.get_column("virtual_mode").to_list()
    groups = vm.get_column("rule_group").to_list()
    outlets = vm.get_column("outlet_count").to_list()
    s_lat = vm.get_column("lat_deg").to_numpy()
    s_lon = vm.get_column("lon_deg").to_numpy()
    homes = vm.get_column("settlement_country_iso").to_list()
    # 1-2 footprint and edge count
    u_fp = common.uniforms(world, FAMILY_FOOTPRINT, ids, 1)
    zeta = common.normals(world, FAMILY_EDGE_COUNT, ids, 1)
    cls = [CLASSES[common.inverse_cdf(np.asarray(footprint_row(modes[i], groups[i], topo)), u_fp[i])]
           for i in range(m)]
    n_edges = np.array([edge_count(topo.classes[cls[i]], outlets[i], modes[i] == "HYBRID", zeta[i], topo)
                        for i in range(m)], dtype=np.int64)
    # flat per-edge draws (merchant-major; position = slot k or edge_seq_index i)
    u_country = common.uniforms(world, FAMILY_EDGE_COUNTRY, ids, n_edges)
    u_city = common.uniforms(world, FAMILY_EDGE_CITY, ids, n_edges)
    u_jr, u_jt = common.uniform_pairs(world, FAMILY_EDGE_JITTER, ids, n_edges)
    z_cap = common.normals(world, FAMILY_EDGE_CAPACITY, ids, n_edges)
    starts = np.concatenate([[0], np.cumsum(n_edges)]).astype(np.int64)
    total = int(starts[-1])
    country_idx = np.empty(total, dtype=np.int64)
    slot_k = np.empty(total, dtype=np.int64)
    city_pos = np.empty(total, dtype=np.int64)
    for i in range(m):
        a, b = starts[i], starts[i + 1]
        k = topo.classes[cls[i]]
        p = ew.country_probabilities(s_lat[i], s_lon[i], homes[i], k)
        slots = slot_countries(p, u_country[a:b], ew.index.get(homes[i]))
        order = np.lexsort((np.arange(slots.size), slots))
        country_idx[a:b] = slots[order]
        slot_k[a:b] = order
        for c in np.unique(slots):
            sel = np.flatnonzero(country_idx[a:b] == c)
            cc = ew.cities[ew.iso[c]]
            d = common.haversine_km(s_lat[i], s_lon[i], cc.lat, cc.lon)
            w = cc.population ** topo.city_population_exponent * np.exp(-(d - d.min()) / k.locality_tau_km)
            for j in sel:
                city_pos[a + j] = common.inverse_cdf(w, u_city[a + j])
    owner = np.repeat(np.arange(m, dtype=np.int64), n_edges)
    seq = (np.arange(total, dtype=np.int64) - starts[owner]).astype(np.int32)
    iso = [ew.iso[c] for c in country_idx.tolist()]
    c_geo = np.empty(total, dtype=np.int64)
    c_lat = np.empty(total)
    c_lon = np.empty(total)
    c_pop = np.empty(total)
    c_tz: list[str] = [""] * total
    for e in range(total):
        cc = ew.cities[iso[e]]
        j = city_pos[e]
        c_geo[e], c_lat[e], c_lon[e], c_pop[e], c_tz[e] = cc.geonameid[j], cc.lat[j], cc.lon[j], cc.population[j], \
            cc.tzid[j]
    # 7 jitter
    lat, lon = common.offset_points(c_lat, c_lon, topo.jitter_radius_km * np.sqrt(u_jr), 2.0 * np.pi * u_jt)
    # 8 operational tz
    tzid, tz_source = operational_tz(lat, lon, iso, c_tz, inputs, cfg)
    # 9 weights
    sigma = topo.weight.capacity_sigma
    cap = np.exp(sigma * z_cap - 0.5 * sigma * sigma)
    dist = common.haversine_km(s_lat[owner], s_lon[owner], lat, lon)
    tau_w = np.array([topo.classes[cls[i]].weight_tau_km for i in range(m)])[owner] if total else np.zeros(0)
    mu = c_pop ** topo.weight.population_exponent * np.exp(-dist / tau_w) * cap
    sums = np.bincount(owner, weights=mu, minlength=m)
    weight = mu / sums[owner] if total else mu
    edge_id = edge_ids_from_keys(ids[owner], seq) if total else pl.Series("edge_id", [], dtype=pl.Int64)
    home_arr = np.asarray(homes, dtype=object)
    edges = pl.DataFrame({
        "merchant_id": pl.Series(ids[owner], dtype=pl.Int64), "edge_id": edge_id,
        "edge_seq_index": pl.Series(seq, dtype=pl.Int32), "country_iso": pl.Series(iso, dtype=pl.String),
        "city_geonameid": pl.Series(c_geo, dtype=pl.Int64),
        "lat_deg": pl.Series(lat, dtype=pl.Float64), "lon_deg": pl.Series(lon, dtype=pl.Float64),
        "tzid_operational": pl.Series(tzid, dtype=pl.String), "tz_source": pl.Series(tz_source, dtype=pl.String),
        "edge_weight": pl.Series(weight, dtype=pl.Float64), "capacity_factor": pl.Series(cap, dtype=pl.Float64),
        "distance_to_settlement_km": pl.Series(dist, dtype=pl.Float64),
        "is_settlement_country": pl.Series(np.asarray(iso, dtype=object) == home_arr[owner] if total else [],
                                           dtype=pl.Boolean),
        "footprint_class": pl.Series([cls[i] for i in owner.tolist()], dtype=pl.String),
    }).with_columns(pl.lit(topo.version, dtype=pl.String).alias("topology_policy_version"))
    edges = ds.conform(ds.with_partition(edges, world.manifest_fingerprint, world.seed), ds.EDGE_CATALOGUE)
    index = build_index(edges, vm, world)
    outside = int(outside_polygon(edges, inputs[ds.REF_COUNTRIES]).sum())
    figures = {"merchants": m, "edges": total, "outside_polygon": outside,
               "classes": {c: cls.count(c) for c in CLASSES},
               "tz_source": {s: tz_source.count(s) for s in TZ_SOURCES},
               "eligible_countries": len(ew.iso)}
    return Catalogue(edges, index, n_edges, outside, figures)


def operational_tz(lat: np.ndarray, lon: np.ndarray, countries: list[str], city_tz: list[str],
                   inputs: Mapping[str, Any], cfg: Config3B) -> tuple[list[str | None], list[str | None]]:
    n = len(countries)
    if n == 0:
        return [], []
    loads = common.loadable_tzids(inputs[ds.REF_TZIF_DIGEST])
    tab = common.zone_tab_sets(inputs[ds.REF_ZONE_TAB])
    links = common.link_targets(inputs[ds.REF_LINKS])
    resolved = common.resolver_from(inputs, cfg.edge_topology.tz_resolver).resolve(lat, lon, countries)
    res = resolved.get_column("tzid").to_list()
    tz: list[str | None] = [None] * n
    src: list[str | None] = [None] * n
    for e in range(n):
        t = res[e]
        zones = tab.get(countries[e], ())
        if t is not None and t in loads and (t in zones or links.get(t) in zones):
            tz[e], src[e] = t, POLYGON
        elif city_tz[e] in loads:
            tz[e], src[e] = city_tz[e], CITY
        else:
            first = next((z for z in zones if z in loads), None)
            if first is not None:
                tz[e], src[e] = first, COUNTRY_DEFAULT
    return tz, src


# ---- the index ------------------------------------------------------------------------------------


def merchant_digests(edges: pl.DataFrame) -> dict[int, str]:
    """Per merchant `content_digest(rows, EDGE_LAW_COLUMNS, ["edge_seq_index"])`, from one line encoding
    of the whole catalogue (edge_seq_index is unique within a merchant, so the order is the key order)."""
    ordered = edges.sort("merchant_id", "edge_seq_index")
    lines = encode_lines(ordered, list(ds.EDGE_LAW_COLUMNS)).to_list()
    owner = ordered.get_column("merchant_id").to_list()
    out: dict[int, str] = {}
    start = 0
    for i in range(1, len(owner) + 1):
        if i == len(owner) or owner[i] != owner[start]:
            out[owner[start]] = hashlib.sha256("".join(lines[start:i]).encode("utf-8")).hexdigest()
            start = i
    return out


def _merchant_rows(edges: pl.DataFrame) -> pl.DataFrame:
    """Per merchant figures from its catalogue rows."""
    if edges.height == 0:
        return pl.DataFrame(schema={"merchant_id": pl.Int64, "edge_count_total": pl.Int32,
                                    "country_count": pl.Int32, "settlement_country_share": pl.Float64,
                                    "top1_edge_share": pl.Float64, "weight_gini": pl.Float64,
                                    "weighted_median_distance_km": pl.Float64, "merchant_edge_digest": pl.String})
    rows = []
    digests = merchant_digests(edges)
    for (mid,), g in edges.sort("merchant_id", "edge_seq_index").group_by(["merchant_id"], maintain_order=True):
        w = g.get_column("edge_weight").to_numpy()
        rows.append({
            "merchant_id": mid, "edge_count_total": g.height,
            "country_count": g.get_column("country_iso").n_unique(),
            "settlement_country_share": float(w[g.get_column("is_settlement_country").to_numpy()].sum()),
            "top1_edge_share": float(w.max()), "weight_gini": common.gini(w),
            "weighted_median_distance_km": common.weighted_median(
                g.get_column("distance_to_settlement_km").to_numpy(), w),
            "merchant_edge_digest": digests[mid],
        })
    return pl.DataFrame(rows, schema={"merchant_id": pl.Int64, "edge_count_total": pl.Int32,
                                      "country_count": pl.Int32, "settlement_country_share": pl.Float64,
                                      "top1_edge_share": pl.Float64, "weight_gini": pl.Float64,
                                      "weighted_median_distance_km": pl.Float64, "merchant_edge_digest": pl.String})


def build_index(edges: pl.DataFrame, merchants: pl.DataFrame, world: Any) -> pl.DataFrame:
    """`edge_catalogue_index_3B`: a GLOBAL row then one MERCHANT row per virtual merchant."""
    per = _merchant_rows(edges)
    fp = (edges.group_by("merchant_id").agg(pl.col("footprint_class").first())
          if edges.height else pl.DataFrame(schema={"merchant_id": pl.Int64, "footprint_class": pl.String}))
    merchant = (merchants.select("merchant_id", "virtual_mode", pl.col("settlement_country_iso"))
                .join(per, on="merchant_id", how="left").join(fp, on="merchant_id", how="left")
                .with_columns(pl.lit(ds.SCOPE_MERCHANT).alias("scope"),
                              pl.col("edge_count_total").fill_null(0).cast(pl.Int32),
                              pl.lit(None, dtype=pl.Int32).alias("merchant_count"),
                              pl.lit(None, dtype=pl.String).alias("edge_catalogue_digest")))
    glob = pl.DataFrame({
        "scope": [ds.SCOPE_GLOBAL], "merchant_id": pl.Series([None], dtype=pl.Int64),
        "edge_count_total": pl.Series([edges.height], dtype=pl.Int32),
        "merchant_count": pl.Series([merchants.height], dtype=pl.Int32),
        "edge_catalogue_digest": [content_digest(edges, list(ds.EDGE_LAW_COLUMNS), ["merchant_id", "edge_seq_index"])],
    })
    frame = pl.concat([glob, merchant], how="diagonal_relaxed")
    return ds.conform(ds.with_partition(frame, world.manifest_fingerprint, world.seed), ds.EDGE_CATALOGUE_INDEX)


# ---- the coarse-polygon diagnostic ----------------------------------------------------------------


_BUFFERED: dict[tuple, dict[str, Any]] = {}


def buffered_polygons(countries: pl.DataFrame, wanted: set[str]) -> dict[str, Any]:
    """Country polygons buffered by 0.25°, prepared (memoised per process by content)."""
    key = (countries.height, int(countries.get_column("geometry").hash(seed=3).sum()))
    cache = _BUFFERED.setdefault(key, {})
    todo = sorted(wanted - set(cache))
    if todo:
        sub = countries.filter(pl.col("country_iso").is_in(todo)).select("country_iso", "geometry")
        geoms = shapely.from_wkb(sub.get_column("geometry").to_list())
        buf = shapely.buffer(geoms, POLYGON_BUFFER_DEG)
        shapely.prepare(buf)
        cache.update(dict(zip(sub.get_column("country_iso").to_list(), buf)))
        for c in todo:
            cache.setdefault(c, None)
        while len(_BUFFERED) > 2:
            _BUFFERED.pop(next(iter(_BUFFERED)))
    return cache


def outside_polygon(edges: pl.DataFrame, countries: pl.DataFrame) -> np.ndarray:
    """Per edge: outside its country's polygon buffered by 0.25° (a diagnostic, never a retry)."""
    if edges.height == 0:
        return np.zeros(0, dtype=bool)
    iso = edges.get_column("country_iso").to_numpy()
    lat = edges.get_column("lat_deg").to_numpy()
    lon = edges.get_column("lon_deg").to_numpy()
    polys = buffered_polygons(countries, set(iso.tolist()))
    out = np.ones(edges.height, dtype=bool)
    for c in np.unique(iso):
        sel = np.flatnonzero(iso == c)
        g = polys.get(c)
        if g is not None:
            out[sel] = ~shapely.intersects_xy(g, lon[sel], lat[sel])
    return out
