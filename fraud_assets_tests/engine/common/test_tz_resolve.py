"""engine.common.tz_resolve: geometry helpers, zone sets, membership and the ladder's laws on real tz_world."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from fraud_assets.engine.common import tz_resolve as tr

COUNTRIES = ["US", "CA", "RU", "CN", "BR", "AU", "FR", "DE", "ES", "PT", "FJ", "KI", "NO", "VN", "TG", "GH",
             "IN", "ID", "MX", "AR", "XK", "AQ", "ZZ"]


def test_wrap_and_nudge():
    assert tr.wrap_lon(np.array([-180.0, 180.0, 180.002, -180.5, 0.002, 540.0])).tolist() == pytest.approx(
        [180.0, 180.0, -179.998, 179.5, 0.002, 180.0])
    lat, lon = tr.nudge(np.array([90.0, -90.0, 10.0]), np.array([180.0, -180.0, 179.999]), 0.002)
    assert lat.tolist() == pytest.approx([90.0, -89.998, 10.002])
    assert lon.tolist() == pytest.approx([-179.998, -179.998, -179.999])


def test_haversine():
    assert tr.haversine_m(0.0, 0.0, 0.0, 1.0) == pytest.approx(2 * math.pi * tr.EARTH_RADIUS_M / 360)
    assert tr.haversine_m(0.0, 179.9, 0.0, -179.9) == pytest.approx(tr.haversine_m(0.0, 0.0, 0.0, 0.2))


@settings(max_examples=200, deadline=None)
@given(lat=st.floats(-89.0, 89.0), lon=st.floats(-180.0, 180.0), r_km=st.floats(1.0, 3000.0),
       bearing=st.floats(0.0, 2 * math.pi), frac=st.floats(0.0, 1.0))
def test_cap_boxes_cover_the_cap(lat, lon, r_km, bearing, frac):
    """A point at distance ≤ r from the centre lies in one of the boxes (destination-point formula)."""
    d = frac * r_km * 1000.0 / tr.EARTH_RADIUS_M
    p1, l1 = math.radians(lat), math.radians(lon)
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(bearing))
    l2 = l1 + math.atan2(math.sin(bearing) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2))
    y, x = math.degrees(p2), float(tr.wrap_lon(math.degrees(l2)))
    assert any(b[0] <= x <= b[2] and b[1] <= y <= b[3] for b in tr.cap_boxes(lat, lon, r_km))


def test_zone_sets(resolver):
    z = resolver.zones
    assert z.zones("VN") == ("Asia/Ho_Chi_Minh", "Asia/Bangkok")  # zone.tab first, then zone1970
    assert z.tab_zones("VN") == ("Asia/Ho_Chi_Minh",)
    assert z.zones("XK") == ("Europe/Belgrade",)                  # extra_country_zones
    assert z.zones("CN")[0] == "Asia/Shanghai" and z.rank("CN", "Asia/Urumqi") == 1
    assert z.in_country("ZZ", "Europe/Paris") and not z.in_country("FR", "America/Cayenne")
    assert all(t in z.civil for zones in z.z.values() for t in zones)
    again = tr.ZoneSets.from_frame(z.to_frame(), z.civil)
    assert again.z == z.z and again.z_tab == z.z_tab


def test_tz_world_is_memoised_by_content(tz_refs):
    a = tr.TzWorld.of(tz_refs["tz_world"])
    b = tr.TzWorld.of(tz_refs["tz_world"].clone())
    assert a is b and len(a.civil_tzids) > 400 and not any(t.startswith("Etc/") for t in a.civil_tzids)


@settings(max_examples=40, deadline=None)
@given(pts=st.lists(st.tuples(st.floats(-60.0, 75.0), st.floats(-180.0, 180.0)), min_size=1, max_size=40))
def test_membership_equals_a_per_point_reference(resolver, pts):
    """Vectorised bbox + prepared intersects_xy == a plain loop over every civil part with intersects."""
    w = resolver.world
    lat = np.array([p[0] for p in pts])
    lon = np.array([p[1] for p in pts])
    got = w.civil_sets(lat, lon)
    for i, (y, x) in enumerate(pts):
        cand = [j for j in w.tree.query(shapely.points(x, y)) if w.is_civil[j]]
        expected = sorted({w.tzid[j] for j in cand if shapely.intersects_xy(w.geometries([j])[0], x, y)})
        assert list(got[i]) == expected


@settings(max_examples=25, deadline=None)
@given(pts=st.lists(st.tuples(st.floats(-89.9, 89.9), st.floats(-180.0, 180.0), st.sampled_from(COUNTRIES)),
                    min_size=1, max_size=25), seed=st.integers(0, 1000))
def test_ladder_never_null_always_civil_and_order_free(resolver, pts, seed):
    lat = [p[0] for p in pts]
    lon = [p[1] for p in pts]
    cty = [p[2] for p in pts]
    out = resolver.resolve(lat, lon, cty)
    assert out.get_column("tzid").null_count() == 0
    assert set(out.get_column("tzid").to_list()) <= set(resolver.world.civil_tzids)
    assert set(out.get_column("resolution").to_list()) <= set(tr.RESOLUTIONS)
    perm = np.random.default_rng(seed).permutation(len(pts))
    shuffled = resolver.resolve([lat[i] for i in perm], [lon[i] for i in perm], [cty[i] for i in perm])
    inverse = np.argsort(perm)
    assert shuffled[inverse.tolist()].equals(out)
    k = len(pts) // 2
    batches = pl.concat([resolver.resolve(lat[:k], lon[:k], cty[:k]), resolver.resolve(lat[k:], lon[k:], cty[k:])])
    assert batches.equals(out)


@pytest.mark.parametrize(("lat", "lon", "tzids"), [
    (-16.8, 179.99, ["Pacific/Fiji"]),          # east of 180 → Fiji's polygon west of it
    (-16.8, -179.99, ["Pacific/Fiji"]),
    (65.0, -171.0, ["Asia/Anadyr"]),
    (38.70, -10.13, ["Europe/Lisbon"]),
])
def test_nearest_is_the_brute_force_minimum(resolver, lat, lon, tzids):
    w = resolver.world
    best = w.nearest(lat, lon, tzids)
    idx = w.parts_of(tzids)
    brute = min((float(d), w.tzid[i], int(w.part_id[i])) for i, d in zip(idx, w._distances(lat, lon, idx)))
    assert best == brute
    assert best[0] < 100_000  # never measured the long way round the globe


def test_override_hook_answers_only_unresolved_rows(resolver):
    seen = []

    def hook(idx):  # noqa: ANN001, ANN202
        seen.extend(idx.tolist())
        return [("Asia/Amman", "country")] * len(idx)

    out = resolver.resolve([31.947185499999996, 48.8566], [35.224610337028935, 2.3522], ["PS", "FR"], overrides=hook)
    assert seen == [0]
    assert out.get_column("tzid").to_list() == ["Asia/Amman", "Europe/Paris"]
    assert out.get_column("override_scope").to_list() == ["country", None]
