"""`tzdb_zone_tab`: tzdata's `zone.tab`, one row per line (ARCHITECTURE §9).

Columns `country_iso, tzid, lat_deg, lon_deg, comment, row_order`; ISO 6709
coordinates (`±DDMM[SS]±DDDMM[SS]`) converted to degrees; `row_order` is the
0-based file order of the line within its country. Sorted `(country_iso, row_order)`.
The parser is shared with `tzdb_zone1970_tab` (one row per listed country there).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import polars as pl

from fraud_assets.reference.intake import (
    Built,
    Source,
    available_tzids,
    check_foreign_key,
    check_unique,
    fail,
    package_file,
    passed,
)

DATASET_ID = "tzdb_zone_tab"
RECIPE_VERSION = 1
DEPENDS = ("iso3166_canonical",)
SOURCES = (Source("tzdata", "tzdata", "zoneinfo/zone.tab"),)
TOOLCHAIN = ("polars",)
SCHEMA = {"country_iso": pl.String, "tzid": pl.String, "lat_deg": pl.Float64, "lon_deg": pl.Float64,
          "comment": pl.String, "row_order": pl.Int32}
SORT = ("country_iso", "row_order")

_ISO6709 = re.compile(r"^([+-])(\d{2})(\d{2})(\d{2})?([+-])(\d{3})(\d{2})(\d{2})?$")


def iso6709_to_degrees(text: str) -> tuple[float, float]:
    """`+4230+00131` -> (42.5, 1.516...); `-690022+0393524` with seconds."""
    m = _ISO6709.match(text)
    if m is None:
        raise ValueError(f"not an ISO 6709 coordinate: {text!r}")
    lat_sign, lat_d, lat_m, lat_s, lon_sign, lon_d, lon_m, lon_s = m.groups()
    lat = int(lat_d) + int(lat_m) / 60 + int(lat_s or 0) / 3600
    lon = int(lon_d) + int(lon_m) / 60 + int(lon_s or 0) / 3600
    return (-lat if lat_sign == "-" else lat), (-lon if lon_sign == "-" else lon)


def parse_tab(text: str, dataset_id: str) -> pl.DataFrame:
    """Rows of a zone.tab-style file, one per listed country, `row_order` per country in file order."""
    rows = []
    counters: dict[str, int] = {}
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) < 3:
            raise fail(dataset_id, "parse", f"line {line_no} has {len(fields)} fields", [line])
        codes, coords, tzid = fields[0], fields[1], fields[2]
        comment = fields[3] if len(fields) > 3 and fields[3] else None
        try:
            lat, lon = iso6709_to_degrees(coords)
        except ValueError as exc:
            raise fail(dataset_id, "parse", str(exc), [line]) from exc
        for code in codes.split(","):
            order = counters.get(code, 0)
            counters[code] = order + 1
            rows.append({"country_iso": code, "tzid": tzid, "lat_deg": lat, "lon_deg": lon,
                         "comment": comment, "row_order": order})
    return pl.DataFrame(rows, schema=SCHEMA, orient="row").sort(list(SORT))


def check_tab(dataset_id: str, frame: pl.DataFrame, canonical: pl.DataFrame) -> dict[str, dict]:
    checks = {
        "primary_key": check_unique(dataset_id, frame, ["country_iso", "tzid"]),
        "fk_country_iso": check_foreign_key(dataset_id, frame["country_iso"], canonical["country_iso"],
                                            "iso3166_canonical"),
    }
    unknown = sorted(set(frame["tzid"]) - available_tzids())
    if unknown:
        raise fail(dataset_id, "tzid_in_tzdata", f"{len(unknown)} tzids unknown to the tzdata wheel", unknown)
    checks["tzid_in_tzdata"] = passed(tzids=frame["tzid"].n_unique())
    bad = frame.filter((pl.col("lat_deg").abs() > 90) | (pl.col("lon_deg").abs() > 180))
    if bad.height:
        raise fail(dataset_id, "coordinate_range", "coordinates out of range", bad["tzid"].to_list())
    checks["coordinate_range"] = passed(countries=frame["country_iso"].n_unique())
    return checks


def build(inputs: Mapping[str, pl.DataFrame]) -> Built:
    text = package_file("tzdata", "zoneinfo/zone.tab").read_text(encoding="utf-8")
    frame = parse_tab(text, DATASET_ID)
    return Built(frame=frame, checks=check_tab(DATASET_ID, frame, inputs["iso3166_canonical"]))
