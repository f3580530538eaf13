"""The routing fabric (engine.seg_2b.router): paths, errors, batching, the two-word budget, numba =
numpy = plain Python, 3A zones through zone_canon, and χ² frequency tests on 10^6 picks."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numba
import numpy as np
import polars as pl
import pytest

from fraud_assets.core import rng as core_rng
from fraud_assets.core.errors import EngineFailure
from fraud_assets.engine.common.zone_canon import ZoneCanon
from fraud_assets.engine.seg_2b import common, router
from fraud_assets.engine.seg_2b import datasets as ds
from fraud_assets.engine.seg_2b.router import RoutingFabric, route_one_nb
from fraud_assets_tests.engine.seg_2b.conftest import literal_sites

Q31 = 1 << 31


def words(n: int, seed: int = 42, family: str = "test.2B.router") -> tuple[np.ndarray, np.ndarray]:
    """Two raw-word lanes of n blocks of one fixed core.rng stream."""
    root = core_rng.RngRoot("0" * 64, "1" * 64)
    w = core_rng.words(root.stream(family, "k", seed=seed), n)
    return np.ascontiguousarray(w[:, 0]), np.ascontiguousarray(w[:, 1])


@pytest.fixture(scope="module")
def fabric(synthetic_chain) -> RoutingFabric:
    data, _, ctx = synthetic_chain
    return RoutingFabric.from_inputs(data, ctx.world)


@pytest.fixture(scope="module")
def arrivals(fabric, synthetic_chain):
    """10^5 arrivals over every path: null zone, each site's own zone, orphan zones, random days."""
    data, _, _ = synthetic_chain
    w = data[ds.S1_SITE_WEIGHTS]
    n = 100_000
    rng = np.random.default_rng(11)
    pick = rng.integers(0, w.height, n)
    kind = rng.integers(0, 3, n)
    sites = w.select("merchant_id", "legal_country_iso", "tz_group_id").gather(pick)
    zone = [None if k == 0 else (t if k == 1 else "Etc/Orphan") for k, t in
            zip(kind.tolist(), sites.get_column("tz_group_id").to_list(), strict=True)]
    days = [fabric.days[i] for i in rng.integers(0, len(fabric.days), n).tolist()]
    wg, ws = words(n)
    return pl.DataFrame({"merchant_id": sites.get_column("merchant_id"),
                         "legal_country_iso": sites.get_column("legal_country_iso"),
                         "utc_day": pl.Series(days, dtype=pl.Date), "zone": pl.Series(zone, dtype=pl.String),
                         "w_group": wg, "w_site": ws})


def _route(fabric, a, engine="numba"):  # noqa: ANN001, ANN202
    return fabric.route_physical(a.get_column("merchant_id"), a.get_column("legal_country_iso"),
                                 a.get_column("utc_day"), a.get_column("zone"), a.get_column("w_group").to_numpy(),
                                 a.get_column("w_site").to_numpy(), engine=engine)


def test_every_path_is_exercised_and_numba_numpy_python_agree_bit_for_bit(fabric, arrivals, synthetic_chain):
    nb = _route(fabric, arrivals)
    np_ = _route(fabric, arrivals, "numpy")
    assert np.array_equal(nb.site_row, np_.site_row) and np.array_equal(nb.route_path, np_.route_path)
    counts = np.bincount(nb.route_path, minlength=4)
    assert counts[router.PATH_PINNED] and counts[router.PATH_ORPHAN] and counts[router.PATH_DAY_MIX]
    data, _, _ = synthetic_chain
    fabric.set_reference_masses(data[ds.S4_GROUP_WEIGHTS])
    for i, (mid, c, day, zone, wg, ws) in enumerate(arrivals.head(20_000).iter_rows()):
        assert fabric.route_reference(mid, c, day, zone, wg, ws) == (nb.site_row[i], nb.route_path[i]), i


@numba.njit
def _kernel_5b(i64, u32, layout, m, c, z, d, wg, ws):
    """What 5B's S4 kernel does: the same law on packed_tables(), one arrival at a time."""
    out = np.empty(m.shape[0], dtype=np.int64)
    for i in range(m.shape[0]):
        row, _ = route_one_nb(i64, u32, layout, m[i], c[i], z[i], d[i], wg[i], ws[i])
        out[i] = row
    return out


def test_packed_tables_in_a_numba_caller_reproduce_route_physical(fabric, arrivals):
    m, c, z, d = fabric.encode(arrivals.get_column("merchant_id"), arrivals.get_column("legal_country_iso"),
                               arrivals.get_column("utc_day"), arrivals.get_column("zone"))
    pk = fabric.packed_tables()
    rows = _kernel_5b(pk.i64, pk.u32, pk.layout, m, c, z, d, arrivals.get_column("w_group").to_numpy(),
                      arrivals.get_column("w_site").to_numpy())
    assert np.array_equal(rows, _route(fabric, arrivals).site_row)


def test_the_site_is_in_the_chosen_group_and_country(fabric, arrivals, synthetic_chain):
    data, _, _ = synthetic_chain
    res = _route(fabric, arrivals).frame()
    zoned = arrivals.get_column("zone").is_not_null()
    assert (res.get_column("legal_country_iso").filter(zoned) == arrivals.get_column("legal_country_iso")
            .filter(zoned)).all()
    a = arrivals
    # recompute the group of every day-mix arrival from S4's masses by hand
    gw = data[ds.S4_GROUP_WEIGHTS]
    masses = {(m, d): [] for m, d in gw.select("merchant_id", "utc_day").unique().iter_rows()}
    for m, d, g, t, mass in gw.sort("merchant_id", "utc_day", "group_index").select(
            "merchant_id", "utc_day", "group_index", "tz_group_id", "mass_q31").iter_rows():
        masses[(m, d)].append((t, mass))
    mix = a.with_row_index("i").filter(pl.col("zone").is_null()).head(5000)
    for i, m, d, wg in mix.select("i", "merchant_id", "utc_day", "w_group").iter_rows():
        r, cum = wg >> 33, 0
        for t, mass in masses[(m, d)]:
            cum += mass
            if r < cum:
                break
        assert res.get_column("tz_group_id")[i] == t


def test_orphan_arrivals_never_leave_their_country(fabric, arrivals):
    orphan = arrivals.with_columns(pl.lit("Etc/Orphan").alias("zone"))
    res = _route(fabric, orphan)
    assert set(np.unique(res.route_path).tolist()) <= {router.PATH_ORPHAN, router.PATH_FALLBACK}
    assert res.legal_country_iso.equals(orphan.get_column("legal_country_iso"), check_names=False)


def test_results_do_not_depend_on_batching_or_order(fabric, arrivals):
    whole = _route(fabric, arrivals)
    perm = np.random.default_rng(5).permutation(arrivals.height)
    shuffled = _route(fabric, arrivals[perm])
    assert np.array_equal(shuffled.site_row, whole.site_row[perm])
    chunks = [_route(fabric, arrivals.slice(i, 777)).site_row for i in range(0, arrivals.height, 777)]
    assert np.array_equal(np.concatenate(chunks), whole.site_row)


def test_fixed_two_word_budget(fabric, arrivals):
    """Both words are inputs of every arrival; a pinned arrival consumes w_group without using it."""
    res = _route(fabric, arrivals)
    pinned = arrivals.filter(pl.Series(res.route_path == router.PATH_PINNED))
    flipped = pinned.with_columns(pl.col("w_group") ^ pl.lit(0xFFFF_FFFF_0000_0000, dtype=pl.UInt64))
    assert np.array_equal(_route(fabric, pinned).site_row, _route(fabric, flipped).site_row)
    mix = arrivals.filter(pl.col("zone").is_null())
    moved = mix.with_columns(pl.col("w_group") ^ pl.lit(0xFFFF_0000_0000_0000, dtype=pl.UInt64))
    assert not np.array_equal(_route(fabric, mix).site_row, _route(fabric, moved).site_row)


def test_day_outside_the_grid_and_unknown_merchant_raise(fabric, arrivals):
    a = arrivals.head(3)
    late = a.with_columns(pl.lit(fabric.days[-1] + timedelta(days=1)).alias("utc_day"))
    with pytest.raises(EngineFailure) as info:
        _route(fabric, late)
    assert info.value.code == "2B-R-002"
    with pytest.raises(EngineFailure) as info:
        _route(fabric, a.with_columns(pl.lit(999, dtype=pl.Int64).alias("merchant_id")))
    assert info.value.code == "2B-R-001"
    elsewhere = a.with_columns(pl.lit("ZZ").alias("legal_country_iso"), pl.lit("Etc/Orphan").alias("zone"))
    with pytest.raises(EngineFailure) as info:
        _route(fabric, elsewhere)
    assert info.value.code == "2B-R-001"


def test_country_fallback_when_the_restricted_mass_is_zero(synthetic_chain):
    data, _, ctx = synthetic_chain
    w = data[ds.S1_SITE_WEIGHTS]
    multi = w.group_by("merchant_id", "legal_country_iso").agg(pl.col("group_index").n_unique().alias("g")) \
        .join(w.group_by("merchant_id").agg(pl.col("group_index").n_unique().alias("gm")), on="merchant_id") \
        .filter(pl.col("g") < pl.col("gm")).sort("merchant_id").row(0, named=True)
    mid, c = multi["merchant_id"], multi["legal_country_iso"]
    groups_c = w.filter((pl.col("merchant_id") == mid) & (pl.col("legal_country_iso") == c)) \
        .get_column("group_index").unique().to_list()
    gw = data[ds.S4_GROUP_WEIGHTS]
    n_other = gw.filter((pl.col("merchant_id") == mid) & ~pl.col("group_index").is_in(groups_c)) \
        .select("group_index").n_unique()
    # all of the day's mass on groups without a site in c
    gw = gw.with_columns(
        pl.when(pl.col("merchant_id") != mid).then(pl.col("mass_q31"))
        .when(pl.col("group_index").is_in(groups_c)).then(0)
        .otherwise(pl.lit(Q31 // n_other)).alias("mass_q31"))
    fab = RoutingFabric.build(w, gw, common.day_grid(ctx.world.preset))
    wg, ws = words(500, seed=3)
    res = fab.route_physical([mid] * 500, [c] * 500, [fab.days[0]] * 500, ["Etc/Orphan"] * 500, wg, ws)
    assert set(res.route_path.tolist()) == {router.PATH_FALLBACK}
    assert set(res.legal_country_iso.to_list()) == {c}


def test_zone_tables_follow_3a_zones_merged_and_linked():
    """zone_canon.zone_of on a 3A fixture: Detroit merged into New_York; a US/Eastern link; Kiev → Kyiv."""
    sites = literal_sites([
        (1, "US", [("US", 1, 40.7, -74.0, "America/New_York"), ("US", 2, 42.3, -83.0, "America/Detroit"),
                   ("US", 3, 41.9, -87.6, "America/Chicago"), ("US", 4, 40.8, -73.9, "US/Eastern")]),
        (2, "UA", [("UA", 1, 50.45, 30.52, "Europe/Kiev"), ("UA", 2, 49.8, 24.0, "Europe/Kyiv")]),
    ])
    universe = pl.DataFrame({
        "country_iso": ["US", "US", "US", "UA"],
        "tzid": ["America/New_York", "America/Chicago", "America/Detroit", "Europe/Kyiv"],
        "is_material": [True, True, False, True],
        "merged_into_tzid": [None, None, "America/New_York", None], "share_raw": [0.5, 0.3, 0.2, 1.0]})
    links = pl.DataFrame({"link_name": ["US/Eastern", "Europe/Kiev"], "target": ["America/New_York", "Europe/Kyiv"]})
    canon = ZoneCanon.build(universe, links)
    loc, tz, mids = sites
    weights = tz.with_columns(
        pl.col("tzid").alias("tz_group_id"),
        (pl.col("tzid").rank("dense").over("merchant_id") - 1).cast(pl.Int16).alias("group_index"),
        pl.lit(0.25).alias("p_weight")).sort("merchant_id", "group_index", "legal_country_iso", "site_order") \
        .with_columns(pl.int_range(pl.len()).over("merchant_id", "group_index").cast(pl.Int32).alias("member_index"),
                      pl.lit(1.0).alias("p_within"), pl.int_range(pl.len()).cast(pl.Int64).alias("site_id"))
    days = [date(2026, 3, 27)]
    groups = weights.select("merchant_id", "group_index", "tz_group_id").unique().sort("merchant_id", "group_index")
    gw = groups.with_columns(pl.lit(days[0]).alias("utc_day"),
                             (pl.lit(Q31) // pl.len().over("merchant_id")).alias("mass_q31"))
    gw = gw.with_columns((pl.col("mass_q31") + pl.when(pl.col("group_index") == 0)
                          .then(pl.lit(Q31) - pl.col("mass_q31").sum().over("merchant_id")).otherwise(0))
                         .alias("mass_q31"))
    fab = RoutingFabric.build(weights, gw, days, zone_of=canon.zone_of)
    assert set(fab.zones) == {"America/Chicago", "America/New_York", "Europe/Kyiv"}
    n = 4000
    wg, ws = words(n, seed=9)
    res = fab.route_physical([1] * n, ["US"] * n, days * n, ["America/New_York"] * n, wg, ws)
    assert set(res.route_path.tolist()) == {router.PATH_PINNED}
    assert set(res.tz_group_id.to_list()) == {"America/New_York", "America/Detroit", "US/Eastern"}
    res = fab.route_physical([2] * n, ["UA"] * n, days * n, ["Europe/Kyiv"] * n, wg, ws)
    assert set(res.tz_group_id.to_list()) == {"Europe/Kiev", "Europe/Kyiv"}  # the link name joins its zone


def _z(counts: np.ndarray, p: np.ndarray) -> float:
    """(χ² − df)/√(2df) of observed counts against probabilities p."""
    n = counts.sum()
    e = n * p
    df = p.shape[0] - 1
    return (float(((counts - e) ** 2 / e).sum()) - df) / math.sqrt(2 * df)


def test_a_million_day_mix_picks_match_the_target_mass(fabric, synthetic_chain):
    data, _, _ = synthetic_chain
    w = data[ds.S1_SITE_WEIGHTS]
    gw = data[ds.S4_GROUP_WEIGHTS]
    mid = w.group_by("merchant_id").agg(pl.col("group_index").n_unique().alias("g"), pl.len().alias("n")) \
        .filter(pl.col("g") >= 2).sort("n", "merchant_id", descending=[True, False]).row(0)[0]
    day = fabric.days[3]
    n = 1_000_000
    wg, ws = words(n, seed=42)
    res = fabric.route_physical(np.full(n, mid), None, [day] * n, None, wg, ws)
    sites = w.filter(pl.col("merchant_id") == mid).join(
        gw.filter(pl.col("utc_day") == day).select("merchant_id", "group_index", "mass_q31"),
        on=["merchant_id", "group_index"])
    p = (sites.get_column("mass_q31") / Q31 * sites.get_column("p_within")).to_numpy()
    counts = np.array([np.sum(res.site_id == s) for s in sites.get_column("site_id").to_list()])
    assert counts.sum() == n and abs(p.sum() - 1) < 1e-9
    assert _z(counts, p) <= 5.0


def test_a_million_pinned_picks_match_the_zone_table(fabric, synthetic_chain):
    data, _, _ = synthetic_chain
    w = data[ds.S1_SITE_WEIGHTS]
    top = w.group_by("merchant_id", "legal_country_iso", "tz_group_id").agg(pl.len().alias("n")) \
        .sort("n", "merchant_id", descending=[True, False]).row(0, named=True)
    members = w.filter((pl.col("merchant_id") == top["merchant_id"])
                       & (pl.col("legal_country_iso") == top["legal_country_iso"])
                       & (pl.col("tz_group_id") == top["tz_group_id"]))
    n = 1_000_000
    wg, ws = words(n, seed=7)
    res = fabric.route_physical(np.full(n, top["merchant_id"]), [top["legal_country_iso"]] * n,
                                [fabric.days[0]] * n, [top["tz_group_id"]] * n, wg, ws)
    pw = members.get_column("p_weight").to_numpy()
    counts = np.array([np.sum(res.site_id == s) for s in members.get_column("site_id").to_list()])
    assert members.height >= 3 and _z(counts, pw / pw.sum()) <= 5.0


def test_the_day_mix_slices_come_from_the_s2_blob_and_equal_a_fresh_pack(fabric, synthetic_chain):
    data, _, ctx = synthetic_chain
    fresh = RoutingFabric.build(data[ds.S1_SITE_WEIGHTS], data[ds.S4_GROUP_WEIGHTS], fabric.days)
    a, b = fabric.packed_tables(), fresh.packed_tables()
    for name in ("prob", "alias", "member_row", "tab_off", "mg_table", "dcdf", "rcdf", "zone_key"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


def test_a_manifest_mismatch_is_refused(synthetic_chain):
    data, _, ctx = synthetic_chain
    tampered = dict(data)
    tampered[ds.S4_GROUP_WEIGHTS] = data[ds.S4_GROUP_WEIGHTS].with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.col("mass_q31") + 1).otherwise(pl.col("mass_q31"))
        .alias("mass_q31"))
    with pytest.raises(EngineFailure) as info:
        RoutingFabric.from_inputs(tampered, ctx.world)
    assert info.value.code == "2B-R-003"
    man = {**common.json_input(data[ds.S5_ROUTER_MANIFEST]), "prob_qbits": 24}
    with pytest.raises(EngineFailure) as info:
        RoutingFabric.from_inputs({**data, ds.S5_ROUTER_MANIFEST: man}, ctx.world)
    assert info.value.code == "E_ALIAS_CODEC_MISMATCH"
