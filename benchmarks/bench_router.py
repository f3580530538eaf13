"""2B routing fabric throughput: numba kernels vs the numpy vectorised path vs the plain-Python reference.

Run: `PYTHONPATH=. python benchmarks/bench_router.py [merchants]`. Builds a synthetic fabric (merchants with
1–15 sites over a few countries and tz groups, 14 days of group masses), then routes the same arrivals
(zone-pinned as 5B sends them, orphan zones and day-mix rows) through every path and prints picks/s and
ratios measured in this one run; asserts only that the three paths agree. Numba kernels are warmed up
first, so compile time is excluded. `encode` (strings/dates → codes) is timed separately: 5B encodes once
per batch and calls `route_one_nb` from its own kernel.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import date, timedelta

import numpy as np
import polars as pl

from fraud_assets.core import rng as core_rng
from fraud_assets.core.ids import site_ids_from_keys
from fraud_assets.engine.seg_2b import laws
from fraud_assets.engine.seg_2b.config import load_config
from fraud_assets.engine.seg_2b.router import RoutingFabric
from fraud_assets.settings import config_root

N_VEC = 2_000_000
N_PY = 20_000
ZONES = {"AU": ["Australia/Perth", "Australia/Sydney"], "DE": ["Europe/Berlin"], "ES": ["Atlantic/Canary", "Europe/Madrid"],
         "FR": ["Europe/Paris"], "US": ["America/Chicago", "America/Denver", "America/Los_Angeles", "America/New_York"]}


def synthetic(merchants: int, days: list[date], seed: int = 1) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    cfg = load_config(config_root() / "engine" / "2B")
    countries = sorted(ZONES)
    rows = []
    for i in range(merchants):
        mid = 1_000 + 13 * i
        home = countries[int(rng.integers(len(countries)))]
        order: dict[str, int] = {}
        for _ in range(int(rng.choice([1, 1, 2, 3, 5, 8, 15]))):
            c = home if rng.random() < 0.7 else countries[int(rng.integers(len(countries)))]
            order[c] = order.get(c, 0) + 1
            rows.append((mid, c, order[c], ZONES[c][int(rng.integers(len(ZONES[c])))], float(rng.gamma(1.0, 3000.0)),
                         home))
    sites = pl.DataFrame(rows, orient="row", schema={
        "merchant_id": pl.Int64, "legal_country_iso": pl.String, "site_order": pl.Int32, "tzid": pl.String,
        "density": pl.Float64, "home_country_iso": pl.String})
    w = laws.site_weight_table(sites, cfg.site_weights)
    w = w.with_columns(site_ids_from_keys(w.get_column("merchant_id"), w.get_column("legal_country_iso"),
                                          w.get_column("site_order")))
    groups = w.group_by("merchant_id", "group_index").agg(pl.col("tz_group_id").first(), pl.col("base_share").first())
    eff = groups.join(pl.DataFrame({"utc_day": days}), how="cross").with_columns(
        pl.Series("gamma", rng.lognormal(0.0, 0.12, groups.height * len(days))))
    return w, laws.group_weights(eff)


def arrivals(w: pl.DataFrame, days: list[date], n: int, seed: int = 2) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, w.height, n)
    kind = rng.random(n)  # 90 % pinned (5B's case), 5 % orphan, 5 % day mix
    s = w.select("merchant_id", "legal_country_iso", "tz_group_id").gather(pick)
    zone = np.where(kind < 0.90, s.get_column("tz_group_id").to_numpy(),
                    np.where(kind < 0.95, "Etc/Orphan", None))
    root = core_rng.RngRoot("0" * 64, "1" * 64)
    words = core_rng.words(root.stream("bench.2B.router", "k", seed=42), n)
    return pl.DataFrame({"merchant_id": s.get_column("merchant_id"), "legal_country_iso": s.get_column("legal_country_iso"),
                         "utc_day": pl.Series([days[i] for i in rng.integers(0, len(days), n).tolist()], dtype=pl.Date),
                         "zone": pl.Series(zone.tolist(), dtype=pl.String),
                         "w_group": words[:, 0], "w_site": words[:, 1]})


def _best(fn: Callable[[], object], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    merchants = int(sys.argv[1]) if len(sys.argv) > 1 else 2_500
    days = [date(2026, 3, 2) + timedelta(days=i) for i in range(14)]
    t0 = time.perf_counter()
    w, gw = synthetic(merchants, days)
    t1 = time.perf_counter()
    fabric = RoutingFabric.build(w, gw, days)
    t2 = time.perf_counter()
    a = arrivals(w, days, N_VEC)
    m, c, z, d = fabric.encode(a.get_column("merchant_id"), a.get_column("legal_country_iso"),
                               a.get_column("utc_day"), a.get_column("zone"))
    wg, ws = a.get_column("w_group").to_numpy(), a.get_column("w_site").to_numpy()
    fabric.route_codes(m[:10], c[:10], z[:10], d[:10], wg[:10], ws[:10])  # warm up numba
    rows_nb, _ = fabric.route_codes(m, c, z, d, wg, ws)
    rows_np, _ = fabric.route_codes(m, c, z, d, wg, ws, engine="numpy")
    assert np.array_equal(rows_nb, rows_np)
    fabric.set_reference_masses(gw)
    head = a.head(N_PY).rows()
    ref = [fabric.route_reference(mid, cc, day, zone, g, s)[0] for mid, cc, day, zone, g, s in head]
    assert np.array_equal(np.array(ref), rows_nb[:N_PY])

    t_nb = _best(lambda: fabric.route_codes(m, c, z, d, wg, ws))
    t_np = _best(lambda: fabric.route_codes(m, c, z, d, wg, ws, engine="numpy"))
    t_py = _best(lambda: [fabric.route_reference(mid, cc, day, zone, g, s) for mid, cc, day, zone, g, s in head], 1)
    t_enc = _best(lambda: fabric.encode(a.get_column("merchant_id"), a.get_column("legal_country_iso"),
                                        a.get_column("utc_day"), a.get_column("zone")))
    r_nb, r_np, r_py = N_VEC / t_nb, N_VEC / t_np, N_PY / t_py
    print(f"2B router benchmark: {merchants:,} merchants, {w.height:,} sites, {len(fabric.tables):,} packed tables, "
          f"{len(days)} days (world {t1 - t0:.2f} s, fabric pack {t2 - t1:.2f} s)")
    print(f"arrivals: numba/numpy {N_VEC:,}, python {N_PY:,}; 90 % zone-pinned, 5 % orphan, 5 % day mix")
    print(f"  numba  route_codes : {r_nb:12,.0f} picks/s  (x{r_nb / r_py:,.0f} vs python, x{r_nb / r_np:.2f} vs numpy)")
    print(f"  numpy  route_codes : {r_np:12,.0f} picks/s  (x{r_np / r_py:,.0f} vs python)")
    print(f"  python reference   : {r_py:12,.0f} picks/s")
    print(f"  encode (polars)    : {N_VEC / t_enc:12,.0f} arrivals/s  (strings and dates → codes, once per batch)")


if __name__ == "__main__":
    main()
