"""`tzdb_links`: the `L target link_name` lines of tzdata's `tzdata.zi` (ARCHITECTURE §9).

Columns `link_name, target`, sorted by `link_name`. Every link name and target
must load through `zoneinfo` from the tzdata wheel.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from fraud_assets.reference.intake import Built, Source, available_tzids, check_unique, fail, package_file, passed

DATASET_ID = "tzdb_links"
RECIPE_VERSION = 1
DEPENDS: tuple[str, ...] = ()
SOURCES = (Source("tzdata", "tzdata", "zoneinfo/tzdata.zi"),)
TOOLCHAIN = ("polars",)
SCHEMA = {"link_name": pl.String, "target": pl.String}
SORT = ("link_name",)


def parse_links(text: str) -> pl.DataFrame:
    rows = []
    for line in text.splitlines():
        if line.startswith("L "):
            _, target, link_name = line.split()
            rows.append({"link_name": link_name, "target": target})
    return pl.DataFrame(rows, schema=SCHEMA, orient="row").sort(list(SORT))


def check(frame: pl.DataFrame) -> dict[str, dict]:
    if frame.is_empty():
        raise fail(DATASET_ID, "non_empty", "tzdata.zi has no L lines")
    checks = {"primary_key": check_unique(DATASET_ID, frame, ["link_name"])}
    known = available_tzids()
    unknown = sorted((set(frame["link_name"]) | set(frame["target"])) - known)
    if unknown:
        raise fail(DATASET_ID, "tzid_in_tzdata", f"{len(unknown)} names unknown to the tzdata wheel", unknown)
    chained = sorted(set(frame["target"]) & set(frame["link_name"]))
    checks["tzid_in_tzdata"] = passed(links=frame.height, targets=frame["target"].n_unique(),
                                      link_to_link=len(chained))
    return checks


def build(inputs: Mapping[str, pl.DataFrame]) -> Built:
    frame = parse_links(package_file("tzdata", "zoneinfo/tzdata.zi").read_text(encoding="utf-8"))
    return Built(frame=frame, checks=check(frame))
