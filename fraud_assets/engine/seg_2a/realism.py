"""2A figures: the S1 run report, reference zone shares and the realism gates (spec 2A "Realism gates").

Not a state: S1 uses `run_report` for its metadata, S5 for the bundle; S5 computes
`realism_metrics` and renders `plot_tz_shares`.

* Reference shares `E(c, z)`: every `cities` point of a country (population > 0)
  resolved with the S1 ladder (steps 1–3, 5–7, F; no overrides), weighted by
  population — the same polygons and names as the sites, so no link-name
  translation. Only countries with ≥ `cohort.min_sites` sites are resolved.
* Cohorts: `C_multi` = countries with ≥ min_sites sites and ≥ 2 zones with
  `E ≥ material_share`; `C_large` = `C_multi` ∩ sites ≥ large_min_sites; `K(c)` =
  number of material zones; `H_n = −Σ s ln s / ln K(c)` over the country's site tz
  shares `s`.
* Gates 1–12 of the spec table are evaluated against the `[min, max]` bounds of
  `validation.gates`; gate 13 (cross-seed CV) needs several seeds and is left to
  realism certification. A gate whose cohort is empty is `null` (not evaluated):
  reported, and a failure only where the gates are enforced.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl

from fraud_assets.engine.common import tz_resolve as tr
from fraud_assets.engine.seg_2a import common
from fraud_assets.engine.seg_2a import datasets as ds

KEY = ds.KEY
GATE_NUMBERS = {
    "multi_tz_country_share": 1, "median_top1_share": 2, "median_top1_top2_gap": 3,
    "median_normalised_entropy": 4, "large_top1_below_095_share": 5, "median_total_variation": 6,
    "fallback_rate": 7, "max_country_fallback_rate": 8, "fallback_exception_rate": 9, "override_rate": 10,
    "out_of_country_rate": 11, "crosscheck_mismatches": 12,
}


# ---- S1 run report ---------------------------------------------------------------------------------


def run_report(frame: pl.DataFrame, max_listed: int, tzid_col: str = "tzid_provisional") -> dict:
    """Counts per resolution and per country, distinct tzids, the exceptions (≤ max_listed; count exact)."""
    per_res = dict(frame.group_by("resolution").len().sort("resolution").iter_rows())
    fallback = pl.col("resolution").is_in(list(tr.FALLBACK_RESOLUTIONS))
    per_country = (frame.group_by("legal_country_iso").agg(
        pl.len().alias("sites"), fallback.sum().alias("fallbacks"),
        (pl.col("resolution") == tr.COUNTRY_SNAP).sum().alias("snaps"),
        (pl.col("resolution") == tr.POLYGON_FOREIGN).sum().alias("foreign"),
        (pl.col("resolution") == tr.OVERRIDE).sum().alias("overrides"),
        pl.col(tzid_col).n_unique().alias("tzids")).sort("legal_country_iso"))
    exc = frame.filter(pl.col("fallback_exception")).sort(KEY)
    fallbacks = frame.filter(fallback).sort(KEY)

    def site(r: dict, **extra) -> dict:
        return {"key": [r["merchant_id"], r["legal_country_iso"], r["site_order"]], **extra}

    return common.jsonable({
        "sites": frame.height, "resolutions": per_res,
        "fallbacks": fallbacks.height, "exceptions_count": exc.height,
        "exceptions": [site(r, lat_deg=r["lat_deg"], lon_deg=r["lon_deg"], candidates=r["candidate_tzids"],
                            tzid=r[tzid_col], distance_m=r["fallback_distance_m"])
                       for r in exc.head(max_listed).iter_rows(named=True)],
        "fallback_sites": [site(r, resolution=r["resolution"], tzid=r[tzid_col],
                                distance_m=r["fallback_distance_m"])
                           for r in fallbacks.head(max_listed).iter_rows(named=True)],
        "distinct_tzids": frame.get_column(tzid_col).n_unique(),
        "out_of_country": frame.filter(~pl.col("in_country")).height,
        "per_country": {r["legal_country_iso"]: {k: v for k, v in r.items() if k != "legal_country_iso"}
                        for r in per_country.iter_rows(named=True)},
    })


# ---- shares -----------------------------------------------------------------------------------------


def site_shares(site_tz: pl.DataFrame) -> pl.DataFrame:
    """`country_iso, tzid, sites, share` of every (country, site tzid)."""
    return (site_tz.group_by("legal_country_iso", "tzid").len("sites")
            .with_columns((pl.col("sites") / pl.col("sites").sum().over("legal_country_iso")).alias("share"))
            .rename({"legal_country_iso": "country_iso"}).sort("country_iso", "tzid"))


def reference_shares(cities: pl.DataFrame, countries: Sequence[str], resolver: tr.TzResolver) -> pl.DataFrame:
    """`E(c, z)`: population share of zone z among `cities` of c, zones by the S1 ladder (no overrides)."""
    c = cities.filter(pl.col("country_iso").is_in(list(countries)) & (pl.col("population") > 0)).sort("geonameid")
    if c.is_empty():
        return pl.DataFrame(schema={"country_iso": pl.String, "tzid": pl.String, "population": pl.Int64,
                                    "share": pl.Float64})
    res = resolver.resolve(c.get_column("lat_deg").to_numpy(), c.get_column("lon_deg").to_numpy(),
                           c.get_column("country_iso").to_list())
    return (c.select("country_iso", "population").with_columns(res.get_column("tzid"))
            .group_by("country_iso", "tzid").agg(pl.col("population").sum())
            .with_columns((pl.col("population") / pl.col("population").sum().over("country_iso")).alias("share"))
            .sort("country_iso", "tzid"))


def dispersion_km(sites: pl.DataFrame) -> pl.DataFrame:
    """Per country: RMS great-circle distance (km) of its sites from their mean point (3-D mean on the sphere).

    Sums are exact (`math.fsum`) over sites in site-key order, so the figure never depends on
    thread scheduling or hash order.
    """
    ordered = sites.sort("legal_country_iso", "merchant_id", "site_order")
    countries = ordered.get_column("legal_country_iso").to_list()
    lat = np.radians(ordered.get_column("lat_deg").to_numpy())
    lon = np.radians(ordered.get_column("lon_deg").to_numpy())
    xyz = np.column_stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])
    rows = []
    start = 0
    for end in range(1, len(countries) + 1):
        if end < len(countries) and countries[end] == countries[start]:
            continue
        block = xyz[start:end]
        mean = np.array([math.fsum(block[:, i]) / len(block) for i in range(3)])
        cosang = np.clip(block @ mean / math.sqrt(math.fsum(mean * mean)), -1.0, 1.0)
        d_km = np.arccos(cosang) * tr.EARTH_RADIUS_M / 1000.0
        rows.append((countries[start], math.sqrt(math.fsum(d_km * d_km) / len(block))))
        start = end
    return pl.DataFrame(rows, schema={"country_iso": pl.String, "dispersion_km": pl.Float64}, orient="row")


def _median(values: Sequence[float]) -> float | None:
    return float(np.median(np.asarray(values, dtype=np.float64))) if len(values) else None


def spearman(a: Sequence[float], b: Sequence[float]) -> float | None:
    if len(a) < 3:
        return None
    ra = pl.Series(a, dtype=pl.Float64).rank("average").to_numpy()
    rb = pl.Series(b, dtype=pl.Float64).rank("average").to_numpy()
    if ra.std() == 0 or rb.std() == 0:
        return None
    return float(np.corrcoef(ra, rb)[0, 1])


def cohort_metrics(shares: pl.DataFrame, ref: pl.DataFrame, sites_per_country: Mapping[str, int],
                   min_sites: int, large_min_sites: int, material: float,
                   dispersion: Mapping[str, float] | None = None) -> tuple[dict, dict]:
    """Gates 1–6 and per-country figures over `C_multi` / `C_large`."""
    per: dict[str, dict] = {}
    by_site = {c: dict(zip(g.get_column("tzid").to_list(), g.get_column("share").to_list()))
               for (c,), g in shares.group_by(["country_iso"], maintain_order=True)}
    by_ref = {c: dict(zip(g.get_column("tzid").to_list(), g.get_column("share").to_list()))
              for (c,), g in ref.group_by(["country_iso"], maintain_order=True)}
    for c in sorted(sites_per_country):
        n = sites_per_country[c]
        if n < min_sites or c not in by_ref:
            continue
        e = by_ref[c]
        k = sum(1 for v in e.values() if v >= material)
        if k < 2:
            continue
        s = by_site.get(c, {})
        top = sorted(s.values(), reverse=True) + [0.0, 0.0]
        h = -math.fsum(s[z] * math.log(s[z]) for z in sorted(s) if s[z] > 0) / math.log(k)
        tv = 0.5 * math.fsum(abs(s.get(z, 0.0) - e.get(z, 0.0)) for z in sorted(set(s) | set(e)))
        per[c] = {"sites": n, "material_zones": k, "site_tzids": len(s), "top1": top[0], "top2": top[1],
                  "gap": top[0] - top[1], "entropy_n": h, "total_variation": tv, "large": n >= large_min_sites,
                  "site_shares": {z: s[z] for z in sorted(s)},
                  "reference_shares": {z: e[z] for z in sorted(e)}}
        if dispersion is not None:
            per[c]["dispersion_km"] = dispersion.get(c)
    multi = list(per.values())
    large = [v for v in multi if v["large"]]
    m = {
        "c_multi": len(multi), "c_large": len(large),
        "multi_tz_country_share": (sum(v["site_tzids"] >= 2 for v in multi) / len(multi)) if multi else None,
        "median_top1_share": _median([v["top1"] for v in multi]),
        "median_top1_top2_gap": _median([v["gap"] for v in multi]),
        "median_normalised_entropy": _median([v["entropy_n"] for v in multi]),
        "large_top1_below_095_share": (sum(v["top1"] < 0.95 for v in large) / len(large)) if large else None,
        "median_total_variation": _median([v["total_variation"] for v in multi]),
    }
    if dispersion is not None:
        pairs = [(v["dispersion_km"], v["entropy_n"]) for v in multi if v.get("dispersion_km") is not None]
        m["spearman_dispersion_entropy"] = spearman([p[0] for p in pairs], [p[1] for p in pairs])
    return m, per


def rate_metrics(lookup: pl.DataFrame, site_tz: pl.DataFrame, legality: Mapping, min_sites: int) -> dict:
    """Gates 7–12 and the diagnostics that need no reference."""
    n = lookup.height
    fallback = pl.col("resolution").is_in(list(tr.FALLBACK_RESOLUTIONS))
    per = lookup.group_by("legal_country_iso").agg(pl.len().alias("n"), fallback.sum().alias("f")) \
        .filter(pl.col("n") >= min_sites)
    overrides = lookup.filter(pl.col("resolution") == tr.OVERRIDE).height \
        + site_tz.filter(pl.col("resolution") == "override_pin").height

    def rate(k: int) -> float | None:
        return k / n if n else None

    return {
        "sites": n,
        "fallback_rate": rate(lookup.filter(fallback).height),
        "max_country_fallback_rate": float((per.get_column("f") / per.get_column("n")).max()) if per.height else None,
        "fallback_exception_rate": rate(lookup.filter(pl.col("fallback_exception")).height),
        "override_rate": rate(overrides),
        "out_of_country_rate": rate(site_tz.filter(~pl.col("in_country")).height),
        "crosscheck_mismatches": legality.get("crosscheck_mismatches"),
        "snap_rate": rate(lookup.filter(pl.col("resolution") == tr.COUNTRY_SNAP).height),
        "tiebreak_rate": rate(lookup.filter(pl.col("resolution") == tr.COUNTRY_TIEBREAK).height),
        "nudge_rate": rate(lookup.filter(pl.col("resolution") == tr.NUDGE).height),
        "distinct_tzids": site_tz.get_column("tzid").n_unique(),
        "countries": site_tz.get_column("legal_country_iso").n_unique(),
    }


def evaluate_gates(metrics: Mapping[str, float | None], gates: Mapping[str, tuple[float | None, float | None]],
                   enforced: bool) -> dict:
    """Per gate: value, bounds, passed (None when the value is None: not evaluated)."""
    results: dict[str, dict] = {}
    for name, (lo, hi) in gates.items():
        v = metrics.get(name)
        ok = None if v is None else ((lo is None or v >= lo) and (hi is None or v <= hi))
        results[name] = {"gate": GATE_NUMBERS.get(name), "value": v, "min": lo, "max": hi, "passed": ok}
    failed = sorted(n for n, r in results.items() if r["passed"] is False)
    unevaluated = sorted(n for n, r in results.items() if r["passed"] is None)
    gates_passed = not failed and (not enforced or not unevaluated)
    return {"gate_results": results, "failed_gates": failed, "unevaluated_gates": unevaluated,
            "gates_passed": gates_passed}


# ---- plot -------------------------------------------------------------------------------------------


def plot_tz_shares(per_country: Mapping[str, dict], shares: pl.DataFrame, title: str, max_countries: int = 20) -> bytes:
    """Stacked bars of site tz shares per country (reference `E` beside it where known); deterministic PNG."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    counts = shares.group_by("country_iso").agg(pl.col("sites").sum()).sort(["sites", "country_iso"],
                                                                          descending=[True, False])
    multi = shares.group_by("country_iso").len().filter(pl.col("len") >= 2).get_column("country_iso").to_list()
    order = [c for c in counts.get_column("country_iso").to_list() if c in per_country or c in multi]
    order = (order or counts.get_column("country_iso").to_list())[:max_countries]
    by_site = {c: dict(zip(g.get_column("tzid").to_list(), g.get_column("share").to_list()))
               for (c,), g in shares.group_by(["country_iso"], maintain_order=True)}
    fig = Figure(figsize=(9.0, 0.45 * max(len(order), 4) + 1.6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    cmap = matplotlib.colormaps["tab20"]
    rows, labels = [], []
    for c in order:
        rows.append((c, "sites", by_site.get(c, {})))
        labels.append(f"{c} sites")
        if c in per_country:
            rows.append((c, "ref", per_country[c]["reference_shares"]))
            labels.append(f"{c} E(c,z)")
    for y, (c, kind, sh) in enumerate(rows):
        left = 0.0
        for i, (z, v) in enumerate(sorted(sh.items(), key=lambda kv: (-kv[1], kv[0]))):
            ax.barh(y, v, left=left, color=cmap(i % 20), edgecolor="white", linewidth=0.5,
                    hatch="//" if kind == "ref" else None)
            if v >= 0.12:
                ax.text(left + v / 2, y, z.split("/")[-1][:14], ha="center", va="center", fontsize=6)
            left += v
    ax.set_yticks(range(len(rows)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0.0, 1.0)
    ax.set_xlabel("share of the country's sites (hatched: population reference E(c, z))")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return buf.getvalue()
