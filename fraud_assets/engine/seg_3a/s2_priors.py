"""3A S2 — country zone priors (spec/engine/3A.md, "S2"; seed-free `F`, no RNG, no merchant data).

1. Universe `Z_tab(c)` for every `c` of `iso3166_canonical`: its tzdata `zone.tab` rows
   (`zone_tab`, reference point = the zone.tab coordinates); else the distinct `cities.tzid`
   of `c` that zoneinfo loads (`city_tz`, reference point = the most populous such city);
   else the 2A ladder (`engine.common.tz_resolve`) at the `world_countries` representative
   point (`polygon`).
2. City mass: each city of `c` goes to its own tzid when it is in `Z_tab(c)`, else to the
   universe zone naming the same tzdata zone (`tzdb_links`; the `engine.common.zone_canon`
   link law), else to the zone with the nearest reference point (haversine, ties tzid asc).
   `mass(c, z) = Σ population` (`city_population`). No city mass: the area of
   `tz_polygon(z) ∩ country_polygon(c)` in EPSG:6933 (`polygon_area`, when `area_fallback`);
   still none: mass 1 on the first universe row (`zone_tab_principal`).
3. `share_raw = mass/Σ`; material set = `{share_raw ≥ min_zone_mass_share} ∪ {argmax}`
   (ties tzid asc); every immaterial zone merges into the nearest material zone by
   reference point (ties tzid asc) → `share_merged`.
4. `π ∝ share_merged^τ`; `alpha_raw = A·π`.
5. Where `K(c) ≥ 2`: `alpha_effective = max(alpha_raw, floor(z))` once; `share_effective =
   alpha_effective/Σ`, `alpha_sum_country = Σ alpha_effective`.

Outputs `s2_zone_universe_3A` (every universe zone) and `s2_country_zone_priors` (material
zones only). Checks `3A-S2-001..006` (module bottom).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import polars as pl

from fraud_assets.engine.common import zone_canon
from fraud_assets.engine.seg_3a import common
from fraud_assets.engine.seg_3a import datasets as ds
from fraud_assets.engine.seg_3a.config import Config3A
from fraud_assets.engine.state import CheckOutcome, StateContext, StateResult

CODE_UNIVERSE_EMPTY = "3A-S2-001"
CODE_INVALID_TZID = "3A-S2-002"
CODE_ALPHA_DEGENERATE = "3A-S2-003"
CODE_SHARE_SUM = "3A-S2-004"
CODE_MERGE_TARGET = "3A-S2-005"
CODE_COVERAGE = "3A-S2-006"

CHECK_UNIVERSE_EMPTY = "s2_zone_universe_nonempty"
CHECK_INVALID_TZID = "s2_tzid_loads"
CHECK_ALPHA = "s2_alpha_valid"
CHECK_SHARE_SUM = "s2_share_sum"
CHECK_MERGE_TARGET = "s2_merge_target_material"
CHECK_COVERAGE = "s2_country_coverage"

ZONE_TAB, CITY_TZ, POLYGON = "zone_tab", "city_tz", "polygon"
CITY_POPULATION, POLYGON_AREA, ZONE_TAB_PRINCIPAL = "city_population", "polygon_area", "zone_tab_principal"
SHARE_SUM_TOL = 1e-12
EQUAL_AREA_CRS = "EPSG:6933"
# Row order before every float reduction: polars leaves join output order unspecified, and a float sum
# depends on its order, so frames are sorted by this key after each join.
ORDER = ["country_iso", "row_order", "tzid"]

UNIVERSE_COLS = {"country_iso": pl.String, "tzid": pl.String, "zone_source": pl.String,
                 "ref_lat_deg": pl.Float64, "ref_lon_deg": pl.Float64, "row_order": pl.Int32}


# ---- step 1: the universe ---------------------------------------------------------------------------


def universe_from_zone_tab(countries: list[str], zone_tab: pl.DataFrame) -> pl.DataFrame:
    return (zone_tab.filter(pl.col("country_iso").is_in(countries))
            .sort("country_iso", "row_order")
            .unique(["country_iso", "tzid"], keep="first", maintain_order=True)
            .select("country_iso", "tzid", pl.lit(ZONE_TAB).alias("zone_source"),
                    pl.col("lat_deg").alias("ref_lat_deg"), pl.col("lon_deg").alias("ref_lon_deg"),
                    pl.int_range(pl.len()).over("country_iso").cast(pl.Int32).alias("row_order")))


def universe_from_cities(countries: list[str], cities: pl.DataFrame) -> pl.DataFrame:
    """`city_tz`: distinct loadable city tzids; reference point = the most populous city of each
    (ties geonameid asc); rows ordered by that city's population (desc), then tzid."""
    loadable = sorted(common.available_tzids())
    c = cities.filter(pl.col("country_iso").is_in(countries) & pl.col("tzid").is_in(loadable))
    top = (c.sort(["country_iso", "tzid", "population", "geonameid"], descending=[False, False, True, False])
           .unique(["country_iso", "tzid"], keep="first", maintain_order=True)
           .sort(["country_iso", "population", "tzid"], descending=[False, True, False]))
    return top.select("country_iso", "tzid", pl.lit(CITY_TZ).alias("zone_source"),
                      pl.col("lat_deg").alias("ref_lat_deg"), pl.col("lon_deg").alias("ref_lon_deg"),
                      pl.int_range(pl.len()).over("country_iso").cast(pl.Int32).alias("row_order"))


def universe_from_polygon(countries: list[str], world_countries: pl.DataFrame, tz_world: pl.DataFrame,
                          zone_tab: pl.DataFrame) -> pl.DataFrame:
    """`polygon`: the 2A ladder (no overrides) at each country's representative point."""
    wc = world_countries.filter(pl.col("country_iso").is_in(countries)).sort("country_iso")
    if wc.is_empty() or tz_world.is_empty():
        return pl.DataFrame(schema=UNIVERSE_COLS)
    from fraud_assets.engine.common import tz_resolve as tr

    world = tr.TzWorld.of(tz_world)
    zones = tr.build_zone_sets(world.civil_tzids, zone_tab, zone_tab.head(0))
    res = tr.TzResolver(world, zones).resolve(wc.get_column("rep_lat_deg").to_numpy(),
                                              wc.get_column("rep_lon_deg").to_numpy(),
                                              wc.get_column("country_iso").to_list())
    return wc.select("country_iso", pl.col("rep_lat_deg").alias("ref_lat_deg"),
                     pl.col("rep_lon_deg").alias("ref_lon_deg")).with_columns(
        res.get_column("tzid"), pl.lit(POLYGON).alias("zone_source"), pl.lit(0, dtype=pl.Int32).alias("row_order")
    ).select(list(UNIVERSE_COLS))


def build_universe(iso: pl.DataFrame, zone_tab: pl.DataFrame, cities: pl.DataFrame,
                   world_countries: pl.DataFrame, tz_world: pl.DataFrame) -> pl.DataFrame:
    """`country_iso, tzid, zone_source, ref_lat_deg, ref_lon_deg, row_order` for every country that has one."""
    countries = sorted(iso.get_column("country_iso").unique().to_list())
    parts = [universe_from_zone_tab(countries, zone_tab)]
    todo = sorted(set(countries) - set(parts[0].get_column("country_iso").to_list()))
    if todo:
        parts.append(universe_from_cities(todo, cities))
        todo = sorted(set(todo) - set(parts[-1].get_column("country_iso").to_list()))
    if todo:
        parts.append(universe_from_polygon(todo, world_countries, tz_world, zone_tab))
    return pl.concat([p.select(list(UNIVERSE_COLS)).cast(UNIVERSE_COLS) for p in parts]) \
        .sort("country_iso", "row_order", "tzid")


# ---- step 2: mass -----------------------------------------------------------------------------------


def city_targets(universe: pl.DataFrame, cities: pl.DataFrame, links: pl.DataFrame) -> pl.DataFrame:
    """`country_iso, population, target` for every city of a universe country (population > 0)."""
    c = cities.filter(pl.col("country_iso").is_in(universe.get_column("country_iso").unique().to_list())
                      & (pl.col("population") > 0)).select("geonameid", "country_iso", "tzid", "lat_deg", "lon_deg",
                                                          "population")
    if c.is_empty():
        return pl.DataFrame(schema={"country_iso": pl.String, "population": pl.Int64, "target": pl.String})
    as_material = universe.select("country_iso", "tzid", pl.lit(True).alias("is_material"),
                                  pl.lit(None, dtype=pl.String).alias("merged_into_tzid"),
                                  pl.lit(0.0).alias("share_raw"))
    canon = zone_canon.ZoneCanon.build(as_material, links)
    mapped = canon.map(c, country="country_iso", tzid="tzid", zone="target", mapping="how")
    direct = mapped.filter(pl.col("how") != zone_canon.FOREIGN).select("country_iso", "population", "target")
    off = mapped.filter(pl.col("how") == zone_canon.FOREIGN).select("geonameid", "country_iso", "lat_deg", "lon_deg",
                                                                    "population")
    if off.height:
        cand = off.join(universe.select("country_iso", pl.col("tzid").alias("target"), "ref_lat_deg",
                                        "ref_lon_deg"), on="country_iso", how="inner")
        d = common.haversine_km(cand.get_column("lat_deg").to_numpy(), cand.get_column("lon_deg").to_numpy(),
                                cand.get_column("ref_lat_deg").to_numpy(), cand.get_column("ref_lon_deg").to_numpy())
        nearest = (cand.with_columns(pl.Series("d_km", d)).sort("geonameid", "d_km", "target")
                   .unique("geonameid", keep="first", maintain_order=True)
                   .select("country_iso", "population", "target"))
        direct = pl.concat([direct, nearest])
    return direct


def polygon_areas(universe: pl.DataFrame, countries: list[str], world_countries: pl.DataFrame,
                  tz_world: pl.DataFrame, links: pl.DataFrame) -> dict[tuple[str, str], float]:
    """`(c, z) → area (m²)` of `tz_polygon(z) ∩ country_polygon(c)` in EPSG:6933.

    `tz_polygon(z)` = the `tz_world` parts named `z`, or (when `tz_world` spells the zone
    otherwise) the parts of every name of the same tzdata zone."""
    import shapely
    from pyproj import Transformer

    from fraud_assets.reference.proj_guard import ensure_proj_data

    if not countries or tz_world.is_empty():
        return {}
    ensure_proj_data()
    to_ea = Transformer.from_crs("EPSG:4326", EQUAL_AREA_CRS, always_xy=True)
    target = dict(links.select("link_name", "target").iter_rows())
    by_canon: dict[str, set[str]] = {}
    tz_names = set(tz_world.get_column("tzid").unique().to_list())
    for t in sorted(tz_names):
        by_canon.setdefault(target.get(t, t), set()).add(t)
    wc = {c: g for c, g in world_countries.filter(pl.col("country_iso").is_in(countries))
          .select("country_iso", "geometry").iter_rows()}
    out: dict[tuple[str, str], float] = {}
    for c, z in universe.filter(pl.col("country_iso").is_in(countries)).select("country_iso", "tzid").iter_rows():
        if c not in wc:
            out[(c, z)] = 0.0
            continue
        names = {z} if z in tz_names else by_canon.get(target.get(z, z), set())
        parts = tz_world.filter(pl.col("tzid").is_in(sorted(names)))
        if parts.is_empty():
            out[(c, z)] = 0.0
            continue
        country = shapely.make_valid(shapely.from_wkb(wc[c]))
        tz = shapely.make_valid(shapely.union_all(shapely.from_wkb(parts.sort("tzid", "part_id")
                                                                   .get_column("geometry").to_numpy())))
        inter = shapely.intersection(country, tz)
        if inter.is_empty:
            out[(c, z)] = 0.0
            continue
        projected = shapely.transform(inter, lambda xy: np.column_stack(to_ea.transform(xy[:, 0], xy[:, 1])))
        area = float(shapely.area(projected))
        out[(c, z)] = area if math.isfinite(area) and area > 0 else 0.0
    return out


def zone_mass(universe: pl.DataFrame, cities: pl.DataFrame, links: pl.DataFrame, world_countries: pl.DataFrame,
              tz_world: pl.DataFrame, area_fallback: bool) -> pl.DataFrame:
    """`universe` + `population_mass`, `mass_basis` (per country)."""
    targets = city_targets(universe, cities, links)
    mass = targets.group_by("country_iso", "target").agg(pl.col("population").sum().cast(pl.Float64).alias("m"))
    u = (universe.join(mass.rename({"target": "tzid"}), on=["country_iso", "tzid"], how="left")
         .with_columns(pl.col("m").fill_null(0.0).alias("population_mass")).drop("m").sort(ORDER))
    total = u.group_by("country_iso").agg(pl.col("population_mass").sum().alias("total"))
    empty = sorted(total.filter(pl.col("total") <= 0).get_column("country_iso").to_list())
    basis = {c: CITY_POPULATION for c in total.get_column("country_iso").to_list()}
    if empty:
        areas = polygon_areas(universe, empty, world_countries, tz_world, links) if area_fallback else {}
        area_total: dict[str, float] = {}
        for (c, _), a in areas.items():
            area_total[c] = area_total.get(c, 0.0) + a
        fill = []
        for c, z, order in u.filter(pl.col("country_iso").is_in(empty)).select("country_iso", "tzid",
                                                                             "row_order").iter_rows():
            if area_total.get(c, 0.0) > 0:
                basis[c] = POLYGON_AREA
                fill.append((c, z, areas.get((c, z), 0.0)))
            else:
                basis[c] = ZONE_TAB_PRINCIPAL
                fill.append((c, z, 1.0 if order == 0 else 0.0))
        f = pl.DataFrame(fill, schema={"country_iso": pl.String, "tzid": pl.String, "fill": pl.Float64},
                         orient="row")
        u = u.join(f, on=["country_iso", "tzid"], how="left").with_columns(
            pl.coalesce("fill", "population_mass").alias("population_mass")).drop("fill").sort(ORDER)
    return u.with_columns(pl.col("country_iso").replace_strict(basis, return_dtype=pl.String).alias("mass_basis"))


# ---- steps 3–5: material set, merging, tempering, floors -------------------------------------------


def material_and_merge(u: pl.DataFrame, min_share: float) -> pl.DataFrame:
    """+ `share_raw`, `is_material`, `merged_into_tzid` (null for material zones)."""
    u = u.sort(ORDER).with_columns((pl.col("population_mass") / pl.col("population_mass").sum().over("country_iso"))
                                   .alias("share_raw"))
    argmax = (u.sort(["country_iso", "share_raw", "tzid"], descending=[False, True, False])
              .unique("country_iso", keep="first", maintain_order=True).select("country_iso", "tzid")
              .with_columns(pl.lit(True).alias("is_argmax")))
    u = u.join(argmax, on=["country_iso", "tzid"], how="left").sort(ORDER).with_columns(
        ((pl.col("share_raw") >= min_share) | pl.col("is_argmax").fill_null(False)).alias("is_material")
    ).drop("is_argmax")
    imm = u.filter(~pl.col("is_material")).select("country_iso", "tzid", "ref_lat_deg", "ref_lon_deg")
    merged = pl.DataFrame(schema={"country_iso": pl.String, "tzid": pl.String, "merged_into_tzid": pl.String})
    if imm.height:
        cand = imm.join(u.filter(pl.col("is_material")).select(
            "country_iso", pl.col("tzid").alias("merged_into_tzid"), pl.col("ref_lat_deg").alias("mlat"),
            pl.col("ref_lon_deg").alias("mlon")), on="country_iso", how="inner")
        d = common.haversine_km(cand.get_column("ref_lat_deg").to_numpy(), cand.get_column("ref_lon_deg").to_numpy(),
                                cand.get_column("mlat").to_numpy(), cand.get_column("mlon").to_numpy())
        merged = (cand.with_columns(pl.Series("d_km", d)).sort("country_iso", "tzid", "d_km", "merged_into_tzid")
                  .unique(["country_iso", "tzid"], keep="first", maintain_order=True)
                  .select("country_iso", "tzid", "merged_into_tzid"))
    return u.join(merged, on=["country_iso", "tzid"], how="left").sort(ORDER)


def priors_from_universe(u: pl.DataFrame, cfg: Config3A) -> pl.DataFrame:
    """Material zones with `share_merged`, π, alphas, floors and the country figures."""
    pp, fp = cfg.zone_prior_policy, cfg.zone_floor_policy
    gained = (u.sort(ORDER).filter(~pl.col("is_material")).group_by("country_iso", "merged_into_tzid")
              .agg(pl.col("share_raw").sum().alias("gain")).rename({"merged_into_tzid": "tzid"}))
    floors = {o.tzid: o.floor_alpha for o in fp.overrides}
    p = (u.filter(pl.col("is_material")).select("country_iso", "tzid", "mass_basis", "share_raw")
         .join(gained, on=["country_iso", "tzid"], how="left").sort("country_iso", "tzid")
         .with_columns((pl.col("share_raw") + pl.col("gain").fill_null(0.0)).alias("share_merged")).drop("gain")
         .with_columns(pl.len().over("country_iso").cast(pl.Int32).alias("zone_count_country"),
                       (pl.col("share_merged") ** pp.temperature).alias("_t"))
         .with_columns((pl.col("_t") / pl.col("_t").sum().over("country_iso")).alias("prior_share"))
         .with_columns((pl.col("prior_share") * pp.prior_concentration).alias("alpha_raw"),
                       pl.col("tzid").replace_strict(floors, default=fp.default_floor_alpha,
                                                     return_dtype=pl.Float64).alias("_floor"))
         .with_columns(pl.when(pl.col("zone_count_country") >= 2)
                       .then(pl.max_horizontal("alpha_raw", "_floor")).otherwise(pl.col("alpha_raw"))
                       .alias("alpha_effective"))
         .with_columns((pl.col("alpha_effective") > pl.col("alpha_raw")).alias("floor_applied"),
                       pl.col("alpha_effective").sum().over("country_iso").alias("alpha_sum_country"))
         .with_columns((pl.col("alpha_effective") / pl.col("alpha_sum_country")).alias("share_effective"))
         .with_columns((1.0 / (pl.col("share_effective") ** 2).sum().over("country_iso"))
                       .alias("effective_zone_count"))
         .drop("_t", "_floor"))
    return p.with_columns(pl.lit(pp.version).alias("prior_policy_version"),
                          pl.lit(fp.version).alias("floor_policy_version"))


def build_priors(inputs: Mapping[str, pl.DataFrame], cfg: Config3A) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(`s2_zone_universe_3A`, `s2_country_zone_priors`) without partition columns."""
    universe = build_universe(inputs[ds.REF_ISO], inputs[ds.REF_ZONE_TAB], inputs[ds.REF_CITIES],
                              inputs[ds.REF_COUNTRIES], inputs[ds.REF_TZ_WORLD])
    massed = zone_mass(universe, inputs[ds.REF_CITIES], inputs[ds.REF_LINKS], inputs[ds.REF_COUNTRIES],
                       inputs[ds.REF_TZ_WORLD], cfg.zone_prior_policy.area_fallback)
    u = material_and_merge(massed, cfg.zone_prior_policy.min_zone_mass_share)
    return u, priors_from_universe(u, cfg)


def priors_report(universe: pl.DataFrame, priors: pl.DataFrame) -> dict:
    multi = priors.filter(pl.col("zone_count_country") >= 2)
    top1 = multi.group_by("country_iso").agg(pl.col("share_effective").max().alias("top1")).sort("country_iso")
    return common.jsonable({
        "countries": priors.get_column("country_iso").n_unique(), "universe_rows": universe.height,
        "prior_rows": priors.height,
        "zone_source": dict(universe.group_by("zone_source").len().sort("zone_source").iter_rows()),
        "mass_basis": dict(priors.unique("country_iso").group_by("mass_basis").len().sort("mass_basis").iter_rows()),
        "multi_zone_countries": top1.get_column("country_iso").to_list(),
        "median_top1_multi_zone": common.median(top1.get_column("top1").to_numpy()),
        "max_top1_multi_zone": float(top1.get_column("top1").max()) if top1.height else None,
        "alpha_sum_min": float(priors.get_column("alpha_sum_country").min()) if priors.height else None,
        "alpha_sum_max": float(priors.get_column("alpha_sum_country").max()) if priors.height else None,
        "floors_applied": priors.filter(pl.col("floor_applied")).height,
    })


# ---- run ------------------------------------------------------------------------------------------


def run(inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> StateResult:
    cfg: Config3A = ctx.config
    mf = ctx.world.manifest_fingerprint
    universe, priors = build_priors(inputs, cfg)
    u_out = ds.conform(common.with_partition(universe, mf), ds.S2_UNIVERSE)
    p_out = ds.conform(common.with_partition(priors, mf), ds.S2_PRIORS)
    return StateResult(outputs={ds.S2_UNIVERSE: u_out, ds.S2_PRIORS: p_out}, report=priors_report(u_out, p_out))


# ---- checks ---------------------------------------------------------------------------------------


def universe_empty_problems(universe: pl.DataFrame, iso: pl.DataFrame) -> list[str]:
    have = set(universe.get_column("country_iso").to_list())
    return sorted(set(iso.get_column("country_iso").to_list()) - have)


def invalid_tzid_problems(universe: pl.DataFrame) -> list[str]:
    ok = common.available_tzids()
    bad = universe.filter(~pl.col("tzid").is_in(sorted(ok)) | pl.col("tzid").is_null()).sort("country_iso", "tzid")
    return common.key_texts(bad, ["country_iso", "tzid"], limit=bad.height)


def alpha_problems(priors: pl.DataFrame, cfg: Config3A) -> list[str]:
    lo, hi = cfg.zone_prior_policy.alpha_sum_bounds
    bad = priors.filter(~pl.col("alpha_effective").is_finite() | (pl.col("alpha_effective") <= 0)
                        | ~pl.col("alpha_raw").is_finite() | (pl.col("alpha_raw") <= 0)
                        | (pl.col("alpha_sum_country") < lo) | (pl.col("alpha_sum_country") > hi)
                        | pl.col("alpha_effective").is_null()).sort("country_iso", "tzid")
    return common.key_texts(bad, ["country_iso", "tzid", "alpha_effective", "alpha_sum_country"], limit=bad.height)


def share_sum_problems(universe: pl.DataFrame, priors: pl.DataFrame, tol: float = SHARE_SUM_TOL) -> list[str]:
    sums = priors.group_by("country_iso").agg(pl.col("share_effective").sum().alias("eff"),
                                              pl.col("share_merged").sum().alias("merged"),
                                              pl.col("prior_share").sum().alias("prior"))
    raw = universe.group_by("country_iso").agg(pl.col("share_raw").sum().alias("raw"))
    j = sums.join(raw, on="country_iso", how="full", coalesce=True)
    bad = j.filter(pl.any_horizontal([((pl.col(c) - 1.0).abs() > tol) | pl.col(c).is_null()
                                      for c in ("eff", "merged", "prior", "raw")])).sort("country_iso")
    return common.key_texts(bad, ["country_iso", "eff", "merged", "raw"], limit=bad.height)


def merge_target_problems(universe: pl.DataFrame) -> list[str]:
    material = universe.filter(pl.col("is_material")).select("country_iso", pl.col("tzid").alias("merged_into_tzid"),
                                                            pl.lit(True).alias("ok"))
    imm = universe.filter(~pl.col("is_material")).join(material, on=["country_iso", "merged_into_tzid"], how="left")
    bad = imm.filter(pl.col("ok").is_null()).sort("country_iso", "tzid")
    stray = universe.filter(pl.col("is_material") & pl.col("merged_into_tzid").is_not_null())
    return common.key_texts(bad, ["country_iso", "tzid", "merged_into_tzid"], limit=bad.height) + \
        common.key_texts(stray, ["country_iso", "tzid", "merged_into_tzid"], limit=stray.height)


def coverage_problems(priors: pl.DataFrame, universe: pl.DataFrame, iso: pl.DataFrame) -> list[str]:
    missing = sorted(set(iso.get_column("country_iso").to_list()) - set(priors.get_column("country_iso").to_list()))
    material = universe.filter(pl.col("is_material")).select("country_iso", "tzid")
    differ = material.join(priors.select("country_iso", "tzid"), on=["country_iso", "tzid"], how="anti")
    extra = priors.select("country_iso", "tzid").join(material, on=["country_iso", "tzid"], how="anti")
    return [f"missing|{c}" for c in missing] + [f"not_in_priors|{k}" for k in common.key_texts(
        differ, ["country_iso", "tzid"], limit=differ.height)] + [f"not_material|{k}" for k in common.key_texts(
            extra, ["country_iso", "tzid"], limit=extra.height)]


def _outputs(result: StateResult) -> tuple[pl.DataFrame | None, pl.DataFrame | None]:
    return result.outputs.get(ds.S2_UNIVERSE), result.outputs.get(ds.S2_PRIORS)


def check_universe_empty(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    u, _ = _outputs(result)
    if u is None:
        return common.missing_output(CODE_UNIVERSE_EMPTY, ds.S2_UNIVERSE)
    iso = inputs[ds.REF_ISO]
    return common.outcome(CODE_UNIVERSE_EMPTY, universe_empty_problems(u, iso), iso.height)


def check_invalid_tzid(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    u, _ = _outputs(result)
    if u is None:
        return common.missing_output(CODE_INVALID_TZID, ds.S2_UNIVERSE)
    return common.outcome(CODE_INVALID_TZID, invalid_tzid_problems(u), u.height)


def check_alpha(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    _, p = _outputs(result)
    if p is None:
        return common.missing_output(CODE_ALPHA_DEGENERATE, ds.S2_PRIORS)
    return common.outcome(CODE_ALPHA_DEGENERATE, alpha_problems(p, ctx.config), p.height,
                          alpha_sum_bounds=list(ctx.config.zone_prior_policy.alpha_sum_bounds))


def check_share_sum(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    u, p = _outputs(result)
    if u is None or p is None:
        return common.missing_output(CODE_SHARE_SUM, ds.S2_PRIORS)
    return common.outcome(CODE_SHARE_SUM, share_sum_problems(u, p), p.get_column("country_iso").n_unique(),
                          tolerance=SHARE_SUM_TOL)


def check_merge_target(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    u, _ = _outputs(result)
    if u is None:
        return common.missing_output(CODE_MERGE_TARGET, ds.S2_UNIVERSE)
    return common.outcome(CODE_MERGE_TARGET, merge_target_problems(u), u.height)


def check_coverage(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    u, p = _outputs(result)
    if u is None or p is None:
        return common.missing_output(CODE_COVERAGE, ds.S2_PRIORS)
    iso = inputs[ds.REF_ISO]
    return common.outcome(CODE_COVERAGE, coverage_problems(p, u, iso), iso.height)
