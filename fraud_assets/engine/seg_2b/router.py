"""The routing fabric: 2B's one implementation of the routing law (spec/engine/2B.md "S5", "S6",
"What 5B.S4 consumes"; INTEGRATION (c) and (e)#1–3). Used by 2B S5–S7 and by 5B S4.

```
fabric = RoutingFabric.open(store, world, zone_of=None)          # verifies manifests, headers, digests
fabric = RoutingFabric.from_inputs(inputs, world, zone_of=None)  # the same from a state's input frames
fabric.route_physical(merchant_id, legal_country_iso, utc_day, zone, w_group, w_site) -> PhysicalRoutes
fabric.route_virtual(merchant_id, w_mode, w_edge)                -> VirtualRoutes
fabric.packed_tables() -> PackedTables   (flat buffers; `route_one_nb(i64, u32, layout, ...)` runs the law in numba)
fabric.packed_edges()  -> PackedEdges    (`route_virtual_one_nb`)
```

At open the fabric packs, with `core.alias.build`, from `s1_site_weights.p_weight` (members in
`(legal_country_iso, site_order)` order):

* one **zone table** per `(m, c, zone_of(c, tzid))`;
* one **country-group table** per `(m, c, tz_group_id)` (the restriction of 2B's `(m, g)` slice
  to country c) and one **merchant-country table** per `(m, c)` (the `M_c = 0` fallback);
* and takes the **(m, g) slices** of the day-mix path from the S2 blob (`read_table` at the
  index's offsets, `p_within`, members from `member_row_offset`), or packs them from
  `p_within` when no blob is given (same bytes: a test pins it).

Identical member lists with identical weights share one table. Per arrival (both words always
consumed — a fixed budget of two per physical arrival):

1. `utc_day ∉ D` → `2B-R-002 DAY_OUT_OF_GRID`; merchant without sites (or without a site in the
   arrival's country on the orphan path) → `2B-R-001 NO_SITES`.
2. zone given and `(m, c, zone)` has a table → site = decode(`w_site`) on it; group = the site's
   group; `zone_pinned`.
3. zone given, no table → group = inverse CDF of the day's `mass_q31` restricted to the groups
   holding a site of m in c (re-cumulated in `group_index` order, total `M_c`) at
   `r = ((w_group >> 33)·M_c) >> 31`; site = decode(`w_site`) on the country-group table;
   `orphan_zone`. `M_c = 0` → the merchant-country table, `country_fallback`.
4. zone null (2B's audit only) → group = inverse CDF of `mass_q31(m, d, ·)` at `w_group >> 33`;
   site = decode(`w_site`) on the (m, g) slice; `day_mix`.

Virtual (S6): merchant not in the plan → `site`; else `edge` iff `(w_mode >> 33) <
edge_threshold_q31`, edge = decode(`w_edge`) on the merchant's 3B slice.

Three implementations of the same law, pinned equal bit for bit by the tests:
`engine="numba"` (`route_one_nb`, default; `core.alias.decode_nb` on table views), `engine="numpy"`
(vectorised gathers over the flat `uint32` arrays, the codec's decode law applied to every table
at once) and `route_reference` / `route_virtual_reference` (plain Python, dicts and
`core.alias.decode` per arrival; S7 replays its subsample through them).

A numba caller (5B S4) routes one arrival inside its own kernel with
`route_one_nb(pk.i64, pk.u32, pk.layout, m, c, z, d, w_group, w_site)` after
`m, c, z, d = fabric.encode(merchant_id, legal_country_iso, utc_day, zone)` outside it, or a whole
batch with `route_many_nb`; both are the code `route_physical(engine="numba")` runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, NamedTuple

import numba
import numpy as np
import polars as pl

from fraud_assets.core import alias
from fraud_assets.core.digest import content_digest
from fraud_assets.core.errors import E_ALIAS_CODEC_MISMATCH, EngineFailure
from fraud_assets.engine.seg_2b import common
from fraud_assets.engine.seg_2b import datasets as ds
from fraud_assets.engine.seg_2b.blob import index_digest

CODE_NO_SITES = "2B-R-001"
CODE_DAY_OUT_OF_GRID = "2B-R-002"
CODE_FABRIC_INPUT = "2B-R-003"  # not in the spec: a fabric input disagrees with its manifest or is incomplete

ROUTE_PATHS = ("zone_pinned", "orphan_zone", "country_fallback", "day_mix")
PATH_PINNED, PATH_ORPHAN, PATH_FALLBACK, PATH_DAY_MIX = 0, 1, 2, 3
CHANNELS = ("site", "edge")
CHANNEL_SITE, CHANNEL_EDGE = 0, 1
ZONE_NULL, ZONE_UNKNOWN = -1, -2
ERR_NO_SITES = -1

VIRTUAL_ONLY, HYBRID, NON_VIRTUAL = "VIRTUAL_ONLY", "HYBRID", "NON_VIRTUAL"

# Columns whose content digests the router manifest records (what the fabric consumes).
S1_DIGEST_COLUMNS = ("merchant_id", "legal_country_iso", "site_order", "site_id", "tz_group_id", "group_index",
                     "member_index", "p_weight", "p_within")
S1_DIGEST_SORT = ("merchant_id", "group_index", "member_index")
S4_DIGEST_COLUMNS = ("merchant_id", "utc_day", "group_index", "tz_group_id", "mass_q31")
S4_DIGEST_SORT = ("merchant_id", "utc_day", "group_index")
PLAN_DIGEST_COLUMNS = ("merchant_id", "virtual_mode", "edge_share", "edge_threshold_q31", "edge_count",
                       "edge_slice_offset_bytes", "edge_slice_length_bytes", "has_sites")

ZoneOf = Callable[[str, str], Any]

_S32 = np.uint64(32)
_S33 = np.uint64(33)
_S31 = np.uint64(31)
_LOW31 = np.uint64((1 << 31) - 1)
_Q31 = 1 << 31


def identity_zone_of(country_iso: str, tzid: str) -> str:
    """The default `zone_of`: zone = tzid (2B's own audit)."""
    return tzid


def _zone_name(value: Any) -> str:
    """`zone_of` may return the zone or `(zone, mapping)` (engine.common.zone_canon)."""
    return value[0] if isinstance(value, tuple) else value


def s1_digest(weights: pl.DataFrame) -> str:
    return content_digest(weights, list(S1_DIGEST_COLUMNS), list(S1_DIGEST_SORT))


def s4_digest(group_weights: pl.DataFrame) -> str:
    return content_digest(group_weights, list(S4_DIGEST_COLUMNS), list(S4_DIGEST_SORT))


def plan_digest(plan: pl.DataFrame) -> str:
    return content_digest(plan, list(PLAN_DIGEST_COLUMNS), ["merchant_id"])


# ---- packed arrays --------------------------------------------------------------------------------


# The int64 arrays of the physical law, in the order they are laid out in `PackedTables.i64`.
I64_FIELDS = ("member_row", "tab_off", "zone_key", "zone_moff", "zone_table", "mc_key", "mc_moff", "mc_table",
              "mc_goff", "mc_cg_table", "rcdf", "m_goff", "mg_table", "dcdf")


class PackedTables(NamedTuple):
    """Every physical table in two flat buffers, plus named views of them.

    `u32` = `prob` ‖ `alias` (the codec's arrays of every table, concatenated), `i64` = the
    `I64_FIELDS` arrays concatenated, `layout` = their start offsets in `i64`, then the entry count
    E (where `alias` starts in `u32`), D, NC, NZ. A numba caller passes `(i64, u32, layout)` to
    `route_one_nb`: three arguments instead of sixteen arrays, because numba increfs every array
    argument of every call (inlined or not), which costs more than the routing itself.

    Entries of table t are `[tab_off[t], tab_off[t+1])` of `prob`, `alias` (index = column within the
    table) and `member_row` (the member's row in `sites`, i.e. in `s1_site_weights` order). Keys:
    merchant code m (index into `merchant_ids`), country code c, zone code z (the fabric's vocabularies)."""

    i64: np.ndarray
    u32: np.ndarray
    layout: tuple  # (offset of each I64_FIELDS array in i64, ..., E, n_days, n_countries, n_zones)
    prob: np.ndarray  # uint32[E]
    alias: np.ndarray  # uint32[E]
    member_row: np.ndarray  # int64[E]
    tab_off: np.ndarray  # int64[T + 1]
    zone_key: np.ndarray  # int64, sorted: (m·NC + c)·NZ + z
    zone_moff: np.ndarray  # int64[M + 1]: merchant m's zone keys are [zone_moff[m], zone_moff[m+1])
    zone_table: np.ndarray  # int64, table of each zone key
    mc_key: np.ndarray  # int64, sorted: m·NC + c
    mc_moff: np.ndarray  # int64[M + 1]: merchant m's (m, c) entries are [mc_moff[m], mc_moff[m+1])
    mc_table: np.ndarray  # int64, merchant-country (fallback) table
    mc_goff: np.ndarray  # int64[n_mc + 1]: restricted groups of (m, c) are [mc_goff[i], mc_goff[i+1])
    mc_cg_table: np.ndarray  # int64, country-group table of each restricted group
    rcdf: np.ndarray  # int64: restricted day CDF, index mc_goff[i]·D + d·n_i + k
    m_goff: np.ndarray  # int64[M + 1]: groups of m are [m_goff[m], m_goff[m+1]) in group_index order
    mg_table: np.ndarray  # int64, the (m, g) slice table (day mix)
    dcdf: np.ndarray  # int64: full day CDF, index m_goff[m]·D + d·G(m) + g
    mc_group: np.ndarray  # int16, group_index of each restricted group
    site_group: np.ndarray  # int16[S], group_index of each site row
    n_days: int
    n_countries: int
    n_zones: int

    @classmethod
    def pack(cls, prob: np.ndarray, alias_: np.ndarray, arrays: dict[str, np.ndarray], mc_group: np.ndarray,
             site_group: np.ndarray, n_days: int, n_countries: int, n_zones: int) -> PackedTables:
        parts = [np.ascontiguousarray(arrays[name], dtype=np.int64) for name in I64_FIELDS]
        offsets = np.concatenate([[0], np.cumsum([p.shape[0] for p in parts])]).astype(np.int64)
        i64 = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        u32 = np.concatenate([np.asarray(prob, np.uint32), np.asarray(alias_, np.uint32)])
        e = int(np.asarray(prob).shape[0])
        views = {name: i64[offsets[k]:offsets[k + 1]] for k, name in enumerate(I64_FIELDS)}
        layout = tuple(int(x) for x in offsets[:-1]) + (e, int(n_days), int(n_countries), int(n_zones))
        return cls(i64=i64, u32=u32, layout=layout, prob=u32[:e], alias=u32[e:], mc_group=mc_group,
                   site_group=site_group, n_days=int(n_days), n_countries=int(n_countries), n_zones=int(n_zones),
                   **views)


class PackedEdges(NamedTuple):
    """The virtual plan and its 3B edge slices in flat arrays (`route_virtual_one_nb`)."""

    merchant_id: np.ndarray  # int64, sorted plan merchants
    threshold: np.ndarray  # int64 edge_threshold_q31
    prob: np.ndarray  # uint32[E]
    alias: np.ndarray  # uint32[E]
    tab_off: np.ndarray  # int64[P + 1]


# ---- numba kernels --------------------------------------------------------------------------------


@numba.njit(cache=True, inline="always")
def _lower_bound(i64, base, lo, hi, key):
    """First position in [lo, hi) of the sorted run i64[base + lo : base + hi] whose value is ≥ key."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if i64[base + mid] < key:
            lo = mid + 1
        else:
            hi = mid
    return lo


@numba.njit(cache=True, inline="always")
def route_one_nb(i64, u32, layout, m, c, z, d, w_group, w_site):
    """One physical arrival → (site_row int64, route_path int64); site_row −1 = no site (2B-R-001).

    `(i64, u32, layout)` from `PackedTables`; m, c, z, d codes from `RoutingFabric.encode` (z = −1 null
    zone, −2 zone outside the fabric's vocabulary); w_group, w_site raw uint64 words. Inlined into the
    caller's kernel (5B's S4): take the three arguments out of `PackedTables` once, outside the loop."""
    (o_row, o_tab, o_zkey, o_zmoff, o_ztab, o_mckey, o_mcmoff, o_mctab, o_mcgoff, o_cgtab, o_rcdf, o_mgoff,
     o_mgtab, o_dcdf, n_entries, nd, nc, nz) = layout
    t = -1
    path = 1
    if z == -1:  # day mix over all groups at w_group >> 33
        g0 = i64[o_mgoff + m]
        ng = i64[o_mgoff + m + 1] - g0
        base = o_dcdf + g0 * nd + d * ng
        r = np.int64(w_group >> np.uint64(33))
        k = 0
        while k < ng - 1 and r >= i64[base + k]:
            k += 1
        t = i64[o_mgtab + g0 + k]
        path = 3
    elif c >= 0:
        pinned = False
        if z >= 0:  # the zone table (m, c, zone)
            key = (np.int64(m) * nc + c) * nz + z
            hi = i64[o_zmoff + m + 1]
            i = _lower_bound(i64, o_zkey, i64[o_zmoff + m], hi, key)
            if i < hi and i64[o_zkey + i] == key:
                t = i64[o_ztab + i]
                path = 0
                pinned = True
        if not pinned:  # orphan: the day's masses restricted to m's groups in c
            key = np.int64(m) * nc + c
            hi = i64[o_mcmoff + m + 1]
            j = _lower_bound(i64, o_mckey, i64[o_mcmoff + m], hi, key)
            if j < hi and i64[o_mckey + j] == key:
                g0 = i64[o_mcgoff + j]
                ng = i64[o_mcgoff + j + 1] - g0
                base = o_rcdf + g0 * nd + d * ng
                total = i64[base + ng - 1]
                if total == 0:
                    t = i64[o_mctab + j]
                    path = 2
                else:
                    r = np.int64(((w_group >> np.uint64(33)) * np.uint64(total)) >> np.uint64(31))
                    k = 0
                    while k < ng - 1 and r >= i64[base + k]:
                        k += 1
                    t = i64[o_cgtab + g0 + k]
    if t < 0:
        return np.int64(-1), path
    a = i64[o_tab + t]
    b = i64[o_tab + t + 1]
    return i64[o_row + a + alias.decode_nb(u32[a:b], u32[n_entries + a:n_entries + b], w_site)], path


@numba.njit(cache=True)
def route_many_nb(i64, u32, layout, m, c, z, d, w_group, w_site):
    """`route_one_nb` over arrays of arrivals → (site_row int64[], route_path uint8[])."""
    n = m.shape[0]
    rows = np.empty(n, dtype=np.int64)
    paths = np.empty(n, dtype=np.uint8)
    for i in range(n):
        r, p = route_one_nb(i64, u32, layout, m[i], c[i], z[i], d[i], w_group[i], w_site[i])
        rows[i] = r
        paths[i] = p
    return rows, paths


@numba.njit(cache=True)
def route_virtual_one_nb(pe, p, w_mode, w_edge):
    """One arrival of plan merchant p (index into `pe.merchant_id`; −1 = not in the plan) →
    (channel 0 site / 1 edge, edge_seq_index or −1)."""
    if p < 0:
        return 0, -1
    if np.int64(w_mode >> np.uint64(33)) >= pe.threshold[p]:
        return 0, -1
    a = pe.tab_off[p]
    b = pe.tab_off[p + 1]
    return 1, alias.decode_nb(pe.prob[a:b], pe.alias[a:b], w_edge)


@numba.njit(cache=True)
def route_virtual_many_nb(pe, p, w_mode, w_edge):
    threshold, prob, alias_, tab_off = pe.threshold, pe.prob, pe.alias, pe.tab_off
    n = p.shape[0]
    channel = np.zeros(n, dtype=np.uint8)
    edge = np.full(n, -1, dtype=np.int32)
    for i in range(n):
        q = p[i]
        if q >= 0 and np.int64(w_mode[i] >> np.uint64(33)) < threshold[q]:
            a = tab_off[q]
            b = tab_off[q + 1]
            channel[i] = 1
            edge[i] = alias.decode_nb(prob[a:b], alias_[a:b], w_edge[i])
    return channel, edge


# ---- numpy path -----------------------------------------------------------------------------------


def _decode_rows_np(pk: PackedTables, t: np.ndarray, w_site: np.ndarray) -> np.ndarray:
    """core.alias's decode law gathered over the concatenated tables (pinned to `decode` by the tests)."""
    a = pk.tab_off[t]
    n = (pk.tab_off[t + 1] - a).astype(np.uint64)
    col = (((w_site >> _S32) * n) >> _S32).astype(np.int64)
    e = a + col
    j = np.where((w_site & _LOW31) < pk.prob[e], col, pk.alias[e].astype(np.int64))
    return pk.member_row[a + j]


def _inverse_cdf_np(cdf: np.ndarray, base: np.ndarray, ng: np.ndarray, r: np.ndarray) -> np.ndarray:
    """First k < ng with r < cdf[base + k] (segments non-decreasing, last entry > r)."""
    k = np.zeros(r.shape[0], dtype=np.int64)
    if r.shape[0] == 0:
        return k
    top = int(ng.max()) - 1
    last = cdf.shape[0] - 1
    for step in range(max(top, 0)):
        live = step < ng - 1
        c = cdf[np.minimum(base + step, last)]
        k += (live & (r >= c)).astype(np.int64)
    return k


def _lookup_np(keys: np.ndarray, query: np.ndarray) -> np.ndarray:
    if keys.shape[0] == 0:
        return np.full(query.shape[0], -1, dtype=np.int64)
    i = np.searchsorted(keys, query)
    ic = np.minimum(i, keys.shape[0] - 1)
    return np.where(keys[ic] == query, ic, -1)


def route_many_np(pk: PackedTables, m: np.ndarray, c: np.ndarray, z: np.ndarray, d: np.ndarray,
                  w_group: np.ndarray, w_site: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = m.shape[0]
    rows = np.full(n, -1, dtype=np.int64)
    paths = np.full(n, PATH_ORPHAN, dtype=np.uint8)
    nd = pk.n_days
    # day mix
    mix = z == ZONE_NULL
    if mix.any():
        mm = m[mix]
        g0 = pk.m_goff[mm]
        ng = pk.m_goff[mm + 1] - g0
        k = _inverse_cdf_np(pk.dcdf, g0 * nd + d[mix] * ng, ng, (w_group[mix] >> _S33).astype(np.int64))
        rows[mix] = _decode_rows_np(pk, pk.mg_table[g0 + k], w_site[mix])
        paths[mix] = PATH_DAY_MIX
    # pinned
    zoned = ~mix & (c >= 0)
    zi = np.full(n, -1, dtype=np.int64)
    if zoned.any():
        q = (m.astype(np.int64) * pk.n_countries + c) * pk.n_zones + z
        zi[zoned] = np.where(z[zoned] >= 0, _lookup_np(pk.zone_key, q[zoned]), -1)
    pinned = zi >= 0
    if pinned.any():
        rows[pinned] = _decode_rows_np(pk, pk.zone_table[zi[pinned]], w_site[pinned])
        paths[pinned] = PATH_PINNED
    # orphan / fallback
    orphan = zoned & ~pinned
    if orphan.any():
        mi = _lookup_np(pk.mc_key, m[orphan].astype(np.int64) * pk.n_countries + c[orphan])
        ok = mi >= 0
        idx = np.flatnonzero(orphan)[ok]
        mi = mi[ok]
        g0 = pk.mc_goff[mi]
        ng = pk.mc_goff[mi + 1] - g0
        base = g0 * nd + d[idx] * ng
        total = pk.rcdf[base + ng - 1]
        fb = total == 0
        if fb.any():
            rows[idx[fb]] = _decode_rows_np(pk, pk.mc_table[mi[fb]], w_site[idx[fb]])
            paths[idx[fb]] = PATH_FALLBACK
        go = ~fb
        if go.any():
            r = (((w_group[idx[go]] >> _S33) * total[go].astype(np.uint64)) >> _S31).astype(np.int64)
            k = _inverse_cdf_np(pk.rcdf, base[go], ng[go], r)
            rows[idx[go]] = _decode_rows_np(pk, pk.mc_cg_table[g0[go] + k], w_site[idx[go]])
            paths[idx[go]] = PATH_ORPHAN
    return rows, paths


def route_virtual_many_np(pe: PackedEdges, p: np.ndarray, w_mode: np.ndarray,
                          w_edge: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = p.shape[0]
    channel = np.zeros(n, dtype=np.uint8)
    edge = np.full(n, -1, dtype=np.int32)
    inplan = p >= 0
    pp = np.where(inplan, p, 0)
    thr = pe.threshold[pp] if pe.threshold.shape[0] else np.zeros(n, dtype=np.int64)
    is_edge = inplan & ((w_mode >> _S33).astype(np.int64) < thr)
    if is_edge.any():
        q = pp[is_edge]
        w = w_edge[is_edge]
        a = pe.tab_off[q]
        cnt = (pe.tab_off[q + 1] - a).astype(np.uint64)
        col = (((w >> _S32) * cnt) >> _S32).astype(np.int64)
        e = a + col
        edge[is_edge] = np.where((w & _LOW31) < pe.prob[e], col, pe.alias[e].astype(np.int64)).astype(np.int32)
        channel[is_edge] = CHANNEL_EDGE
    return channel, edge


# ---- results --------------------------------------------------------------------------------------


@dataclass
class PhysicalRoutes:
    """Routed arrivals: rows of `fabric.sites` plus the route path of each arrival."""

    fabric: RoutingFabric
    site_row: np.ndarray  # int64
    route_path: np.ndarray  # uint8 (ROUTE_PATHS)

    @property
    def site_id(self) -> np.ndarray:
        return self.fabric.site_id[self.site_row]

    @property
    def site_order(self) -> np.ndarray:
        return self.fabric.site_order[self.site_row]

    @property
    def group_index(self) -> np.ndarray:
        return self.fabric.packed.site_group[self.site_row]

    @property
    def tz_group_id(self) -> pl.Series:
        return self.fabric.sites.get_column("tz_group_id").gather(self.site_row)

    @property
    def legal_country_iso(self) -> pl.Series:
        return self.fabric.sites.get_column("legal_country_iso").gather(self.site_row)

    def frame(self) -> pl.DataFrame:
        return pl.DataFrame({
            "tz_group_id": self.tz_group_id, "legal_country_iso": self.legal_country_iso,
            "site_order": pl.Series(self.site_order, dtype=pl.Int32), "site_id": pl.Series(self.site_id, dtype=pl.Int64),
            "route_path": pl.Series(np.asarray(ROUTE_PATHS, dtype=object)[self.route_path].tolist(), dtype=pl.String),
        })


@dataclass
class VirtualRoutes:
    channel: np.ndarray  # uint8 (CHANNELS)
    edge_seq_index: np.ndarray  # int32, −1 for site

    def frame(self) -> pl.DataFrame:
        return pl.DataFrame({"channel": pl.Series(np.asarray(CHANNELS, dtype=object)[self.channel].tolist(),
                                                  dtype=pl.String),
                             "edge_seq_index": pl.Series(self.edge_seq_index, dtype=pl.Int32)})


# ---- the fabric -----------------------------------------------------------------------------------


def _strings(values: Any, n: int | None = None) -> pl.Series:
    if isinstance(values, pl.Series):
        return values.cast(pl.String)
    if values is None:
        return pl.Series([None] * (n or 0), dtype=pl.String)
    return pl.Series(list(values) if not isinstance(values, np.ndarray) else values.tolist(), dtype=pl.String)


def _codes(values: pl.Series, vocab: Sequence[str], missing: int) -> np.ndarray:
    """Index of each value in `vocab` (sorted); `missing` where absent; −1 for nulls."""
    if len(vocab) == 0:
        return np.where(values.is_null().to_numpy(), -1, missing).astype(np.int64)
    mapping = pl.DataFrame({"v": list(vocab), "code": np.arange(len(vocab), dtype=np.int64)},
                           schema={"v": pl.String, "code": pl.Int64})
    joined = pl.DataFrame({"v": values}).with_row_index("i").join(mapping, on="v", how="left").sort("i")
    code = joined.get_column("code").fill_null(missing).to_numpy()
    return np.where(values.is_null().to_numpy(), -1, code).astype(np.int64)


def _days(values: Any) -> pl.Series:
    if isinstance(values, pl.Series):
        s = values
    elif isinstance(values, np.ndarray) and values.dtype.kind == "M":
        s = pl.Series(values.astype("datetime64[D]"))
    else:
        s = pl.Series(list(values))
    return s.cast(pl.Date)


def _words(values: Any) -> np.ndarray:
    if isinstance(values, pl.Series):
        values = values.to_numpy()
    return np.ascontiguousarray(np.asarray(values, dtype=np.uint64))


@dataclass
class _Table:
    rows: np.ndarray  # member rows in member order
    prob: np.ndarray
    alias: np.ndarray


@dataclass
class RoutingFabric:
    """Packed routing tables of one world; see the module docstring."""

    sites: pl.DataFrame  # s1 rows (s1 sort order): merchant_id, legal_country_iso, site_order, site_id, ...
    days: list[date]
    merchant_ids: np.ndarray  # int64, sorted vocabulary (code m)
    countries: list[str]  # sorted vocabulary (code c)
    zones: list[str]  # sorted vocabulary (code z)
    packed: PackedTables
    tables: list[_Table]
    site_zone: pl.Series  # zone of each site row
    site_id: np.ndarray | None = None  # int64 per site row
    site_order: np.ndarray | None = None  # int32 per site row
    virtual: VirtualRouter | None = None
    prob_qbits: int = alias.PROB_QBITS
    _ref: dict[str, Any] = field(default_factory=dict)

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def build(cls, site_weights: pl.DataFrame, group_weights: pl.DataFrame, days: Sequence[date], *,
              zone_of: ZoneOf | None = None, alias_index: pl.DataFrame | None = None,
              alias_blob: bytes | None = None, plan: pl.DataFrame | None = None,
              edge_blob: bytes | None = None, edge_catalogue: pl.DataFrame | None = None) -> RoutingFabric:
        """Pack the tables from frames (S1 rows in their sort order, S4 rows, the day grid)."""
        zone_fn = zone_of or identity_zone_of
        days = list(days)
        sites = site_weights.sort("merchant_id", "group_index", "member_index")
        merchant_ids = np.unique(sites.get_column("merchant_id").to_numpy()).astype(np.int64)
        countries = sorted(set(sites.get_column("legal_country_iso").to_list()))
        pairs = sites.select("legal_country_iso", "tz_group_id").unique().sort("legal_country_iso", "tz_group_id")
        zmap = {(c, t): _zone_name(zone_fn(c, t)) for c, t in pairs.iter_rows()}
        site_zone = pl.Series("zone", [zmap[(c, t)] for c, t in sites.select("legal_country_iso", "tz_group_id")
                                       .iter_rows()], dtype=pl.String)
        zones = sorted(set(zmap.values()))
        nc, nz, nd = max(len(countries), 1), max(len(zones), 1), len(days)
        s = sites.with_row_index("row").with_columns(
            site_zone,
            pl.Series("m", np.searchsorted(merchant_ids, sites.get_column("merchant_id").to_numpy()), dtype=pl.Int64),
            pl.Series("c", _codes(sites.get_column("legal_country_iso"), countries, -1), dtype=pl.Int64),
        ).with_columns(pl.Series("z", _codes(site_zone, zones, -1), dtype=pl.Int64))

        tables: list[_Table] = []
        dedupe: dict[tuple, int] = {}

        def add(rows: np.ndarray, weights: np.ndarray, kind: str,
                table: tuple[np.ndarray, np.ndarray] | None = None) -> int:
            key = (kind, rows.tobytes())
            if key in dedupe:
                return dedupe[key]
            prob, al = table if table is not None else alias.build(weights)
            tables.append(_Table(rows.astype(np.int64), np.asarray(prob, dtype=np.uint32),
                                 np.asarray(al, dtype=np.uint32)))
            dedupe[key] = len(tables) - 1
            return dedupe[key]

        pw = s.get_column("p_weight").to_numpy()
        pwithin = s.get_column("p_within").to_numpy()

        # (m, g) slices for the day mix, in slice order (= S2's slice_seq)
        grp = s.group_by("m", "group_index", maintain_order=True).agg(pl.col("row"))
        blob_tables = None
        if alias_blob is not None and alias_index is not None:
            blob_tables = _slices_from_blob(alias_blob, alias_index, sites)
        mg_table = np.empty(grp.height, dtype=np.int32)
        for i, rows in enumerate(grp.get_column("row").to_list()):
            r = np.asarray(rows, dtype=np.int64)
            mg_table[i] = add(r, pwithin[r], "within", blob_tables[i] if blob_tables is not None else None)
        g_count = np.bincount(grp.get_column("m").to_numpy(), minlength=merchant_ids.shape[0])
        m_goff = np.concatenate([[0], np.cumsum(g_count)]).astype(np.int64)
        if (g_count == 0).any():
            raise EngineFailure(CODE_FABRIC_INPUT, "a merchant of the vocabulary has no group")
        site_group = s.get_column("group_index").to_numpy().astype(np.int16)

        # zone tables (m, c, zone); members of every table in (legal_country_iso, site_order) order
        zt = s.sort("m", "c", "z", "site_order").group_by("m", "c", "z", maintain_order=True).agg(
            pl.col("row"))
        zone_key = ((zt.get_column("m").to_numpy() * nc + zt.get_column("c").to_numpy()) * nz
                    + zt.get_column("z").to_numpy()).astype(np.int64)
        zone_table = np.array([add(np.asarray(r, np.int64), pw[np.asarray(r, np.int64)], "weight")
                               for r in zt.get_column("row").to_list()], dtype=np.int32)
        # merchant-country tables and their restricted groups
        mc = s.sort("m", "c", "site_order").group_by("m", "c", maintain_order=True).agg(pl.col("row"))
        mc_key = (mc.get_column("m").to_numpy() * nc + mc.get_column("c").to_numpy()).astype(np.int64)
        mc_table = np.array([add(np.asarray(r, np.int64), pw[np.asarray(r, np.int64)], "weight")
                             for r in mc.get_column("row").to_list()], dtype=np.int32)
        cg = s.sort("m", "c", "group_index", "site_order").group_by("m", "c", "group_index", maintain_order=True).agg(
            pl.col("row"))
        mc_cg_table = np.array([add(np.asarray(r, np.int64), pw[np.asarray(r, np.int64)], "weight")
                                for r in cg.get_column("row").to_list()], dtype=np.int32)
        cg_count = cg.group_by("m", "c", maintain_order=True).len().get_column("len").to_numpy()
        mc_goff = np.concatenate([[0], np.cumsum(cg_count)]).astype(np.int64)
        mc_group = cg.get_column("group_index").to_numpy().astype(np.int16)

        # day masses: (m, g) rows × days
        mass = _mass_matrix(group_weights, merchant_ids, m_goff, days)
        dcdf = _segmented_cdf(mass, np.arange(mass.shape[0]), m_goff)
        cg_rows = m_goff[cg.get_column("m").to_numpy()] + mc_group.astype(np.int64)
        rcdf = _segmented_cdf(mass, cg_rows, mc_goff)

        prob = np.concatenate([t.prob for t in tables]) if tables else np.zeros(0, np.uint32)
        al = np.concatenate([t.alias for t in tables]) if tables else np.zeros(0, np.uint32)
        member_row = np.concatenate([t.rows for t in tables]) if tables else np.zeros(0, np.int64)
        tab_off = np.concatenate([[0], np.cumsum([t.rows.shape[0] for t in tables])]).astype(np.int64)
        order_z = np.argsort(zone_key, kind="stable")
        n_m = merchant_ids.shape[0]
        zone_moff = np.searchsorted(zone_key[order_z], np.arange(n_m + 1, dtype=np.int64) * nc * nz)
        mc_moff = np.searchsorted(mc_key, np.arange(n_m + 1, dtype=np.int64) * nc)
        packed = PackedTables.pack(prob, al, {
            "member_row": member_row, "tab_off": tab_off, "zone_key": zone_key[order_z], "zone_moff": zone_moff,
            "zone_table": zone_table[order_z], "mc_key": mc_key, "mc_moff": mc_moff, "mc_table": mc_table,
            "mc_goff": mc_goff, "mc_cg_table": mc_cg_table, "rcdf": rcdf, "m_goff": m_goff, "mg_table": mg_table,
            "dcdf": dcdf}, mc_group, site_group, nd, nc, nz)
        fabric = cls(sites=sites, days=days, merchant_ids=merchant_ids, countries=countries, zones=zones,
                     packed=packed, tables=tables, site_zone=site_zone,
                     site_id=sites.get_column("site_id").to_numpy(),
                     site_order=sites.get_column("site_order").to_numpy().astype(np.int32))
        if plan is not None:
            fabric.virtual = VirtualRouter.build(plan, edge_blob, edge_catalogue)
        return fabric

    @classmethod
    def from_inputs(cls, inputs: Mapping[str, Any], world, *, zone_of: ZoneOf | None = None,  # noqa: ANN001
                    verify: bool = True) -> RoutingFabric:
        """The fabric from a state's input frames (dataset id → frame, as the runner hands them over).

        Needs `s1_site_weights` and `s4_group_weights`; uses `s2_alias_index` + `s2_alias_blob`
        for the day-mix slices, `s6_virtual_routing_plan` + `edge_alias_blob_3B` (+ `edge_catalogue_3B`)
        for the virtual stage, and verifies `s5_router_manifest` / `s6_virtual_manifest` when present."""
        days = common.day_grid(world.preset)
        blob = common.blob_bytes(inputs[ds.S2_ALIAS_BLOB], ds.S2_ALIAS_BLOB) if ds.S2_ALIAS_BLOB in inputs else None
        index = inputs.get(ds.S2_ALIAS_INDEX)
        plan = inputs.get(ds.S6_PLAN)
        edge_blob = common.blob_bytes(inputs[ds.EDGE_ALIAS_BLOB], ds.EDGE_ALIAS_BLOB) \
            if plan is not None and ds.EDGE_ALIAS_BLOB in inputs else None
        if verify:
            verify_inputs(inputs, days, blob, edge_blob)
        return cls.build(inputs[ds.S1_SITE_WEIGHTS], inputs[ds.S4_GROUP_WEIGHTS], days, zone_of=zone_of,
                         alias_index=index if blob is not None else None, alias_blob=blob, plan=plan,
                         edge_blob=edge_blob, edge_catalogue=inputs.get(ds.EDGE_CATALOGUE))

    @classmethod
    def open(cls, store, world, zone_of: ZoneOf | None = None, *, virtual: bool = True,  # noqa: ANN001
             verify: bool = True) -> RoutingFabric:
        """The fabric of a sealed world read from a `WorldStore` (2B's datasets and 3B's edge blob)."""
        from fraud_assets.core.dictionary import Kind
        from fraud_assets.engine import catalogue as engine_catalogue

        wanted = [ds.S1_SITE_WEIGHTS, ds.S4_GROUP_WEIGHTS, ds.S2_ALIAS_INDEX, ds.S2_ALIAS_BLOB, ds.S2_ALIAS_MANIFEST,
                  ds.S5_ROUTER_MANIFEST]
        if virtual:
            wanted += [ds.S6_PLAN, ds.S6_MANIFEST, ds.EDGE_ALIAS_BLOB, ds.EDGE_CATALOGUE]
        inputs: dict[str, Any] = {}
        for dataset_id in wanted:
            spec = engine_catalogue.dictionary()[dataset_id]
            relative = spec.relative_path(world.manifest_fingerprint, world.seed)
            if spec.kind is Kind.JSON:
                inputs[dataset_id] = json.loads(store.read_bytes(relative))
            elif spec.kind is Kind.FILES:
                files = sorted(p for p in store.path(relative).iterdir() if p.is_file())
                inputs[dataset_id] = {p.name: p.read_bytes() for p in files}
            else:
                inputs[dataset_id] = store.read_parquet(relative)
        return cls.from_inputs(inputs, world, zone_of=zone_of, verify=verify)

    # -- encoding -------------------------------------------------------------------------------

    def encode(self, merchant_id: Any, legal_country_iso: Any, utc_day: Any,
               zone: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Codes (m, c, z, d) of arrivals; raises 2B-R-001 (merchant without sites) / 2B-R-002 (day)."""
        mid = np.asarray(merchant_id.to_numpy() if isinstance(merchant_id, pl.Series) else merchant_id,
                         dtype=np.int64)
        n = mid.shape[0]
        m = np.searchsorted(self.merchant_ids, mid)
        mc = np.minimum(m, max(self.merchant_ids.shape[0] - 1, 0))
        unknown = (self.merchant_ids.shape[0] == 0) | (self.merchant_ids[mc] != mid) if n else np.zeros(0, bool)
        if np.any(unknown):
            bad = np.unique(mid[unknown])[:10].tolist()
            raise EngineFailure(CODE_NO_SITES, "merchant without sites in s1_site_weights",
                                dataset=ds.S1_SITE_WEIGHTS, keys=bad)
        day = _days(utc_day)
        if day.null_count():
            raise EngineFailure(CODE_DAY_OUT_OF_GRID, "utc_day is null", keys=np.flatnonzero(
                day.is_null().to_numpy())[:10].tolist())
        d = day.to_physical().to_numpy().astype(np.int64) - (self.days[0] - date(1970, 1, 1)).days \
            if self.days else np.full(n, -1, np.int64)
        out = (d < 0) | (d >= len(self.days))
        if np.any(out):
            bad = sorted({str(x) for x in day.filter(pl.Series(out)).unique().head(10).to_list()})
            raise EngineFailure(CODE_DAY_OUT_OF_GRID, "utc_day outside the day grid D",
                                keys=bad, first=self.days[0].isoformat() if self.days else None,
                                last=self.days[-1].isoformat() if self.days else None)
        z = _codes(_strings(zone, n), self.zones, ZONE_UNKNOWN)
        c = _codes(_strings(legal_country_iso, n), self.countries, -1)
        return mc.astype(np.int64), c, z, d

    # -- routing --------------------------------------------------------------------------------

    def packed_tables(self) -> PackedTables:
        return self.packed

    def packed_edges(self) -> PackedEdges:
        return self._virtual().edges

    def _virtual(self) -> VirtualRouter:
        if self.virtual is None:
            raise EngineFailure(CODE_FABRIC_INPUT, "the fabric was opened without the virtual plan")
        return self.virtual

    def route_codes(self, m: np.ndarray, c: np.ndarray, z: np.ndarray, d: np.ndarray, w_group: Any, w_site: Any,
                    *, engine: str = "numba") -> tuple[np.ndarray, np.ndarray]:
        wg, ws = _words(w_group), _words(w_site)
        if engine == "numba":
            pk = self.packed
            rows, paths = route_many_nb(pk.i64, pk.u32, pk.layout, m, c, z, d, wg, ws)
        elif engine == "numpy":
            rows, paths = route_many_np(self.packed, m, c, z, d, wg, ws)
        else:
            raise ValueError(f"engine must be 'numba' or 'numpy', got {engine!r}")
        return rows, paths

    def route_physical(self, merchant_id: Any, legal_country_iso: Any, utc_day: Any, zone: Any, w_group: Any,
                       w_site: Any, *, engine: str = "numba") -> PhysicalRoutes:
        m, c, z, d = self.encode(merchant_id, legal_country_iso, utc_day, zone)
        zoned_without_country = (z != ZONE_NULL) & (c < 0)
        rows, paths = self.route_codes(m, c, z, d, w_group, w_site, engine=engine)
        missing = (rows < 0) | zoned_without_country
        if missing.any():
            idx = np.flatnonzero(missing)[:10]
            mids = np.asarray(merchant_id.to_numpy() if isinstance(merchant_id, pl.Series) else merchant_id)
            countries = _strings(legal_country_iso, len(m)).gather(idx).to_list()
            raise EngineFailure(CODE_NO_SITES, "no site of the merchant in the arrival's country",
                                dataset=ds.S1_SITE_WEIGHTS,
                                keys=[[int(mids[i]), countries[j]] for j, i in enumerate(idx.tolist())])
        return PhysicalRoutes(self, rows, paths)

    def route_virtual(self, merchant_id: Any, w_mode: Any, w_edge: Any, *, engine: str = "numba") -> VirtualRoutes:
        return self._virtual().route(merchant_id, w_mode, w_edge, engine=engine)

    def edge_attributes(self, merchant_id: Any, edge_seq_index: Any) -> pl.DataFrame:
        return self._virtual().edge_attributes(merchant_id, edge_seq_index)

    # -- plain-Python reference -----------------------------------------------------------------

    def _reference(self) -> dict[str, Any]:
        """Dict lookups built from the frames, independent of the packed keys and CDF arrays."""
        if self._ref:
            return self._ref
        sites = self.sites.with_row_index("row").with_columns(self.site_zone)
        zone_t: dict[tuple, Any] = {}
        cg_t: dict[tuple, Any] = {}
        mc_t: dict[tuple, Any] = {}
        mg_t: dict[tuple, Any] = {}
        groups_in_c: dict[tuple, list[int]] = {}
        pw = self.sites.get_column("p_weight").to_list()
        by_key: dict[tuple, list[tuple]] = {}
        for r in sites.select("row", "merchant_id", "legal_country_iso", "site_order", "tz_group_id", "group_index",
                              "zone").iter_rows():
            row, mid, c, so, _, gi, z = r
            for kind, key in (("zone", (mid, c, z)), ("cg", (mid, c, gi)), ("mc", (mid, c)), ("mg", (mid, gi))):
                by_key.setdefault((kind, key), []).append((c, so, row))
            lst = groups_in_c.setdefault((mid, c), [])
            if gi not in lst:
                lst.append(gi)
        for (kind, key), members in by_key.items():
            members.sort()
            rows = [m[2] for m in members]
            if kind == "mg":
                t = self.tables[int(self.packed.mg_table[self._mg_position(key)])]  # the S2 slice itself
                if list(t.rows) != rows:
                    raise EngineFailure(CODE_FABRIC_INPUT, "slice members out of member order", keys=[list(key)])
                tab = (t.prob, t.alias, rows)
            else:
                prob, al = alias.build([pw[i] for i in rows])
                tab = (prob, al, rows)
            {"zone": zone_t, "cg": cg_t, "mc": mc_t, "mg": mg_t}[kind][key] = tab
        masses: dict[tuple, list[int]] = {}
        self._ref.update(zone=zone_t, cg=cg_t, mc=mc_t, mg=mg_t, groups_in_c={k: sorted(v) for k, v in
                                                                            groups_in_c.items()},
                         masses=masses)
        return self._ref

    def _mg_position(self, key: tuple) -> int:
        mid, gi = key
        m = int(np.searchsorted(self.merchant_ids, mid))
        return int(self.packed.m_goff[m]) + int(gi)

    def set_reference_masses(self, group_weights: pl.DataFrame) -> None:
        """Masses for the reference router: {(merchant_id, utc_day): [mass_q31 by group_index]}."""
        ref = self._reference()
        masses: dict[tuple, list[int]] = {}
        for mid, day, gi, mass in group_weights.sort("merchant_id", "utc_day", "group_index").select(
                "merchant_id", "utc_day", "group_index", "mass_q31").iter_rows():
            lst = masses.setdefault((mid, day), [])
            if gi != len(lst):
                raise EngineFailure(CODE_FABRIC_INPUT, "s4_group_weights misses a group", keys=[[mid, str(day), gi]])
            lst.append(int(mass))
        ref["masses"] = masses

    def route_reference(self, merchant_id: int, legal_country_iso: str | None, utc_day: date, zone: str | None,
                        w_group: int, w_site: int) -> tuple[int, int]:
        """One arrival, plain Python: (site_row, route_path). Call `set_reference_masses` first."""
        ref = self._reference()
        if not ref["masses"]:
            raise EngineFailure(CODE_FABRIC_INPUT, "set_reference_masses() before route_reference()")
        if utc_day not in self.days:
            raise EngineFailure(CODE_DAY_OUT_OF_GRID, "utc_day outside the day grid D", keys=[str(utc_day)])
        if (merchant_id, 0) not in ref["mg"]:
            raise EngineFailure(CODE_NO_SITES, "merchant without sites", keys=[merchant_id])
        w_group, w_site = int(w_group), int(w_site)

        def site(tab: tuple) -> int:
            prob, al, rows = tab
            return rows[alias.decode(prob, al, w_site)]

        def pick(cum: list[int], r: int) -> int:
            for k, c in enumerate(cum):
                if r < c:
                    return k
            return len(cum) - 1

        if zone is None:
            masses = ref["masses"][(merchant_id, utc_day)]
            cum = list(np.cumsum(masses).tolist())
            g = pick(cum, w_group >> 33)
            return site(ref["mg"][(merchant_id, g)]), PATH_DAY_MIX
        tab = ref["zone"].get((merchant_id, legal_country_iso, zone))
        if tab is not None:
            return site(tab), PATH_PINNED
        groups = ref["groups_in_c"].get((merchant_id, legal_country_iso))
        if not groups:
            raise EngineFailure(CODE_NO_SITES, "no site of the merchant in the arrival's country",
                                keys=[[merchant_id, legal_country_iso]])
        masses = ref["masses"][(merchant_id, utc_day)]
        cum, total = [], 0
        for g in groups:
            total += masses[g]
            cum.append(total)
        if total == 0:
            return site(ref["mc"][(merchant_id, legal_country_iso)]), PATH_FALLBACK
        r = ((w_group >> 33) * total) >> 31
        g = groups[pick(cum, r)]
        return site(ref["cg"][(merchant_id, legal_country_iso, g)]), PATH_ORPHAN

    def route_virtual_reference(self, merchant_id: int, w_mode: int, w_edge: int) -> tuple[int, int]:
        return self._virtual().reference(merchant_id, w_mode, w_edge)


@dataclass
class VirtualRouter:
    """The virtual stage: the S6 plan and the plan merchants' 3B edge slices (`RoutingFabric.virtual`)."""

    plan: pl.DataFrame
    edges: PackedEdges
    edge_catalogue: pl.DataFrame | None = None
    prob_qbits: int | None = None
    _ref: dict[int, tuple] = field(default_factory=dict)

    @classmethod
    def build(cls, plan: pl.DataFrame, edge_blob: bytes | None,
              edge_catalogue: pl.DataFrame | None = None) -> VirtualRouter:
        plan = plan.sort("merchant_id")
        probs, aliases, counts = [], [], []
        qbits = None
        if plan.height:
            if edge_blob is None:
                raise EngineFailure(CODE_FABRIC_INPUT, "a virtual plan needs the 3B edge alias blob")
            qbits = alias.read_header(edge_blob).prob_qbits
            for mid, off, n in plan.select("merchant_id", "edge_slice_offset_bytes", "edge_count").iter_rows():
                prob, al = alias.read_table(edge_blob, int(off))
                if prob.shape[0] != n:
                    raise EngineFailure(CODE_FABRIC_INPUT, "edge slice size differs from the plan's edge_count",
                                        dataset=ds.EDGE_ALIAS_BLOB, keys=[mid], slice_n=int(prob.shape[0]),
                                        edge_count=int(n))
                probs.append(prob)
                aliases.append(al)
                counts.append(n)
        edges = PackedEdges(
            merchant_id=plan.get_column("merchant_id").to_numpy().astype(np.int64),
            threshold=plan.get_column("edge_threshold_q31").to_numpy().astype(np.int64),
            prob=np.concatenate(probs).astype(np.uint32) if probs else np.zeros(0, np.uint32),
            alias=np.concatenate(aliases).astype(np.uint32) if aliases else np.zeros(0, np.uint32),
            tab_off=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))
        return cls(plan, edges, edge_catalogue, qbits)

    def plan_codes(self, merchant_id: Any) -> np.ndarray:
        """Index of each merchant in the plan (−1: not a virtual merchant)."""
        mid = np.asarray(merchant_id.to_numpy() if isinstance(merchant_id, pl.Series) else merchant_id,
                         dtype=np.int64)
        return _lookup_np(self.edges.merchant_id, mid)

    def route(self, merchant_id: Any, w_mode: Any, w_edge: Any, *, engine: str = "numba") -> VirtualRoutes:
        p = self.plan_codes(merchant_id)
        wm, we = _words(w_mode), _words(w_edge)
        if engine == "numba":
            ch, e = route_virtual_many_nb(self.edges, p, wm, we)
        elif engine == "numpy":
            ch, e = route_virtual_many_np(self.edges, p, wm, we)
        else:
            raise ValueError(f"engine must be 'numba' or 'numpy', got {engine!r}")
        return VirtualRoutes(ch, e)

    def reference(self, merchant_id: int, w_mode: int, w_edge: int) -> tuple[int, int]:
        """One virtual arrival, plain Python: (channel, edge_seq_index)."""
        if not self._ref:
            pe = self.edges
            for i, mid in enumerate(pe.merchant_id.tolist()):
                a, b = int(pe.tab_off[i]), int(pe.tab_off[i + 1])
                self._ref[mid] = (int(pe.threshold[i]), pe.prob[a:b], pe.alias[a:b])
        entry = self._ref.get(int(merchant_id))
        if entry is None:
            return CHANNEL_SITE, -1
        thr, prob, al = entry
        if (int(w_mode) >> 33) >= thr:
            return CHANNEL_SITE, -1
        return CHANNEL_EDGE, alias.decode(prob, al, int(w_edge))

    def edge_attributes(self, merchant_id: Any, edge_seq_index: Any) -> pl.DataFrame:
        """3B's attributes of routed edges (`edge_id`, country, coordinates, `tzid_operational`) in input order."""
        if self.edge_catalogue is None:
            raise EngineFailure(CODE_FABRIC_INPUT, "the fabric was opened without edge_catalogue_3B")
        q = pl.DataFrame({"merchant_id": pl.Series(np.asarray(merchant_id), dtype=pl.Int64),
                          "edge_seq_index": pl.Series(np.asarray(edge_seq_index), dtype=pl.Int32)}).with_row_index("i")
        cols = [c for c in ("edge_id", "country_iso", "lat_deg", "lon_deg", "tzid_operational")
                if c in self.edge_catalogue.columns]
        cat = self.edge_catalogue.select("merchant_id", pl.col("edge_seq_index").cast(pl.Int32), *cols)
        return q.join(cat, on=["merchant_id", "edge_seq_index"], how="left").sort("i").drop("i")


# ---- packing helpers ------------------------------------------------------------------------------


def _slices_from_blob(blob: bytes, index: pl.DataFrame, sites: pl.DataFrame) -> list[tuple[np.ndarray, np.ndarray]]:
    """(prob, alias) of every S2 slice in (merchant_id, group_index) order, checked against S1's groups."""
    header = alias.read_header(blob)
    idx = index.sort("merchant_id", "group_index")
    groups = sites.group_by("merchant_id", "group_index", maintain_order=True).agg(pl.len().alias("n"),
                                                                                  pl.col("tz_group_id").first())
    if idx.height != groups.height or header.table_count != idx.height:
        raise EngineFailure(CODE_FABRIC_INPUT, "s2_alias_index does not hold one slice per (merchant, group)",
                            dataset=ds.S2_ALIAS_INDEX, slices=idx.height, groups=groups.height,
                            table_count=header.table_count)
    out = []
    for r, (mid, gi, n, _) in zip(idx.iter_rows(named=True), groups.iter_rows(), strict=True):
        if (r["merchant_id"], r["group_index"], r["n_members"]) != (mid, gi, n):
            raise EngineFailure(CODE_FABRIC_INPUT, "s2_alias_index disagrees with s1_site_weights",
                                dataset=ds.S2_ALIAS_INDEX, keys=[[mid, gi]])
        if r["prob_qbits"] != header.prob_qbits:
            raise EngineFailure(E_ALIAS_CODEC_MISMATCH, "index prob_qbits echo differs from the blob header",
                                dataset=ds.S2_ALIAS_INDEX, keys=[[mid, gi]], echo=r["prob_qbits"],
                                header=header.prob_qbits)
        prob, al = alias.read_table(blob, int(r["blob_offset_bytes"]))
        if prob.shape[0] != n:
            raise EngineFailure(CODE_FABRIC_INPUT, "slice size differs from the group's members",
                                dataset=ds.S2_ALIAS_BLOB, keys=[[mid, gi]])
        out.append((prob, al))
    return out


def _mass_matrix(group_weights: pl.DataFrame, merchant_ids: np.ndarray, m_goff: np.ndarray,
                 days: Sequence[date]) -> np.ndarray:
    """mass_q31 as an int64 matrix [(m, g) row, day]; every cell must be present exactly once."""
    nd = len(days)
    n_rows = int(m_goff[-1])
    mass = np.full((n_rows, nd), -1, dtype=np.int64)
    gw = group_weights.select("merchant_id", "utc_day", "group_index", "mass_q31")
    mid = gw.get_column("merchant_id").to_numpy()
    m = np.searchsorted(merchant_ids, mid)
    mc = np.minimum(m, max(merchant_ids.shape[0] - 1, 0))
    d = gw.get_column("utc_day").to_physical().to_numpy().astype(np.int64) - (days[0] - date(1970, 1, 1)).days \
        if nd else np.zeros(gw.height, np.int64)
    gi = gw.get_column("group_index").to_numpy().astype(np.int64)
    ng = (m_goff[mc + 1] - m_goff[mc]) if merchant_ids.shape[0] else np.zeros_like(gi)
    ok = (merchant_ids.shape[0] > 0) & (merchant_ids[mc] == mid) & (d >= 0) & (d < nd) & (gi >= 0) & (gi < ng)
    if not ok.all():
        raise EngineFailure(CODE_FABRIC_INPUT, "s4_group_weights rows outside the merchants' groups × D",
                            dataset=ds.S4_GROUP_WEIGHTS, keys=np.flatnonzero(~ok)[:10].tolist())
    rows = m_goff[mc] + gi
    flat = rows * nd + d
    if np.unique(flat).shape[0] != flat.shape[0] or flat.shape[0] != n_rows * nd:
        raise EngineFailure(CODE_FABRIC_INPUT, "s4_group_weights does not cover every (merchant, group, day) once",
                            dataset=ds.S4_GROUP_WEIGHTS, rows=int(flat.shape[0]), expected=n_rows * nd)
    mass.reshape(-1)[flat] = gw.get_column("mass_q31").to_numpy()
    if (mass < 0).any():
        raise EngineFailure(CODE_FABRIC_INPUT, "negative mass_q31", dataset=ds.S4_GROUP_WEIGHTS)
    return mass


def _segmented_cdf(mass: np.ndarray, pair_rows: np.ndarray, seg_off: np.ndarray) -> np.ndarray:
    """Per segment s of pairs [seg_off[s], seg_off[s+1]) and day d: cumulative masses of its pairs,
    laid out at index seg_off[s]·D + d·n_s + k."""
    n_pairs = pair_rows.shape[0]
    nd = mass.shape[1]
    out = np.zeros(n_pairs * nd, dtype=np.int64)
    if n_pairs == 0 or nd == 0:
        return out
    sub = mass[pair_rows, :]  # (P, D)
    cs = np.cumsum(sub, axis=0)
    seg_len = np.diff(seg_off)
    seg = np.repeat(np.arange(seg_len.shape[0]), seg_len)
    start = seg_off[seg]
    prev = np.where((start > 0)[:, None], cs[np.maximum(start - 1, 0), :], 0)
    rc = cs - prev  # (P, D): cumulative within segment
    k = np.arange(n_pairs) - start
    n_s = seg_len[seg]
    idx = (start * nd)[:, None] + np.arange(nd)[None, :] * n_s[:, None] + k[:, None]
    out[idx.reshape(-1)] = rc.reshape(-1)
    return out


# ---- manifest verification ------------------------------------------------------------------------


def verify_inputs(inputs: Mapping[str, Any], days: Sequence[date], blob: bytes | None,
                  edge_blob: bytes | None) -> None:
    """Check the fabric's inputs against the router / virtual manifests (when present) and headers."""
    router = common.json_input(inputs.get(ds.S5_ROUTER_MANIFEST)) if ds.S5_ROUTER_MANIFEST in inputs else None
    if blob is not None:
        header = alias.read_header(blob)  # refuses a foreign qbits (E_ALIAS_CODEC_MISMATCH)
        man2 = common.json_input(inputs.get(ds.S2_ALIAS_MANIFEST)) if ds.S2_ALIAS_MANIFEST in inputs else None
        for name, echo in (("s2_alias_manifest", man2), ("s5_router_manifest", router)):
            if echo is not None and echo.get("prob_qbits") != header.prob_qbits:
                raise EngineFailure(E_ALIAS_CODEC_MISMATCH, f"{name}.prob_qbits differs from the blob header",
                                    echo=echo.get("prob_qbits"), header=header.prob_qbits)
        if router is not None and router.get("blob_sha256") != common.sha256_hex(blob):
            raise EngineFailure(CODE_FABRIC_INPUT, "s2 alias blob differs from s5_router_manifest.blob_sha256",
                                dataset=ds.S2_ALIAS_BLOB)
    if router is not None:
        grid = router.get("day_grid") or {}
        want = common.day_grid_doc(list(days))
        if {k: grid.get(k) for k in want} != want:
            raise EngineFailure(CODE_FABRIC_INPUT, "s5_router_manifest day grid differs from the world's",
                                manifest=grid, world=want)
        digests = router.get("digests") or {}
        checks = [(ds.S1_SITE_WEIGHTS, s1_digest), (ds.S4_GROUP_WEIGHTS, s4_digest)]
        if ds.S2_ALIAS_INDEX in inputs:
            checks.append((ds.S2_ALIAS_INDEX, index_digest))
        for dataset_id, fn in checks:
            if dataset_id in inputs and digests.get(dataset_id) != fn(inputs[dataset_id]):
                raise EngineFailure(CODE_FABRIC_INPUT, f"{dataset_id} differs from s5_router_manifest's digest",
                                    dataset=dataset_id)
    virtual = common.json_input(inputs.get(ds.S6_MANIFEST)) if ds.S6_MANIFEST in inputs else None
    if virtual is not None and edge_blob is not None:
        header = alias.read_header(edge_blob)
        if virtual.get("prob_qbits") != header.prob_qbits:
            raise EngineFailure(E_ALIAS_CODEC_MISMATCH, "s6_virtual_manifest.prob_qbits differs from the 3B header",
                                echo=virtual.get("prob_qbits"), header=header.prob_qbits)
        if virtual.get("edge_blob_sha256") != common.sha256_hex(edge_blob):
            raise EngineFailure(CODE_FABRIC_INPUT, "3B edge blob differs from s6_virtual_manifest.edge_blob_sha256",
                                dataset=ds.EDGE_ALIAS_BLOB)
        if ds.S6_PLAN in inputs and virtual.get("plan_digest") != plan_digest(inputs[ds.S6_PLAN]):
            raise EngineFailure(CODE_FABRIC_INPUT, "s6_virtual_routing_plan differs from its manifest digest",
                                dataset=ds.S6_PLAN)
