"""`gdp_bucket_map`: GDP-per-capita bucket 1..5 per country (ARCHITECTURE §9).

Jenks natural breaks (`jenkspy`, K=5) over the sorted non-imputed `gdp_pc_usd`,
excluding the `BREAKS_EXCLUDED_CONTINENTS` (Antarctica's research stations give
AQ 200k and TF 114k USD a head, which would take a class of their own and squeeze
every real economy into four). Classes are right-closed: bucket 1 is
`[b0, b1]`, bucket k is `(b_{k-1}, b_k]`. Every row of `gdp_per_capita` (imputed and
excluded ones included) is bucketed by those breaks; a value below `b0` falls in
bucket 1, above `b5` in bucket 5. `lower_usd, upper_usd` are the bucket's class
limits `b_{k-1}, b_k`. Sorted by `country_iso`.
"""

from __future__ import annotations

from collections.abc import Mapping

import jenkspy
import numpy as np
import polars as pl

from fraud_assets.reference.intake import Built, Source, check_foreign_key, check_unique, fail, passed

DATASET_ID = "gdp_bucket_map"
RECIPE_VERSION = 1
DEPENDS = ("gdp_per_capita", "world_countries")
SOURCES = (Source("jenkspy", "jenkspy"),)
TOOLCHAIN = ("polars", "numpy")
SCHEMA = {"country_iso": pl.String, "gdp_bucket": pl.Int8, "lower_usd": pl.Float64, "upper_usd": pl.Float64}
SORT = ("country_iso",)
N_BUCKETS = 5
BREAKS_EXCLUDED_CONTINENTS = ("AN",)


def jenks_breaks(values: list[float], k: int = N_BUCKETS) -> list[float]:
    """k+1 class limits [min, b1, ..., max] of the sorted values."""
    if len(values) < k:
        raise fail(DATASET_ID, "jenks", f"{len(values)} values cannot make {k} classes")
    return [float(b) for b in jenks_breaks_raw(sorted(values), k)]


def jenks_breaks_raw(values: list[float], k: int) -> list[float]:
    return list(jenkspy.jenks_breaks(values, n_classes=k))


def bucket_of(values: np.ndarray, breaks: list[float]) -> np.ndarray:
    """Right-closed bucket 1..k: the number of inner breaks strictly below the value, plus one."""
    return np.searchsorted(np.asarray(breaks[1:-1]), values, side="left") + 1


def assemble(gdp: pl.DataFrame, world: pl.DataFrame) -> tuple[pl.DataFrame, list[float]]:
    continent = world.select("country_iso", "continent_code")
    basis = (gdp.join(continent, on="country_iso", how="left")
             .filter(~pl.col("imputed") & ~pl.col("continent_code").is_in(list(BREAKS_EXCLUDED_CONTINENTS))))
    breaks = jenks_breaks(basis["gdp_pc_usd"].to_list())
    buckets = bucket_of(gdp["gdp_pc_usd"].to_numpy(), breaks)
    frame = pl.DataFrame({
        "country_iso": gdp["country_iso"],
        "gdp_bucket": pl.Series(buckets, dtype=pl.Int8),
        "lower_usd": [breaks[b - 1] for b in buckets],
        "upper_usd": [breaks[b] for b in buckets],
    }, schema=SCHEMA).sort(list(SORT))
    return frame, breaks


def check(frame: pl.DataFrame, gdp: pl.DataFrame, breaks: list[float]) -> dict[str, dict]:
    checks = {
        "primary_key": check_unique(DATASET_ID, frame, ["country_iso"]),
        "fk_country_iso": check_foreign_key(DATASET_ID, frame["country_iso"], gdp["country_iso"],
                                            "gdp_per_capita"),
    }
    if frame.height != gdp.height:
        missing = sorted(set(gdp["country_iso"]) - set(frame["country_iso"]))
        raise fail(DATASET_ID, "coverage", "every gdp_per_capita row needs a bucket", missing)
    if any(a >= b for a, b in zip(breaks, breaks[1:])):
        raise fail(DATASET_ID, "breaks_increasing", f"breaks not strictly increasing: {breaks}")
    bad = frame.filter(~pl.col("gdp_bucket").is_between(1, N_BUCKETS))
    if bad.height:
        raise fail(DATASET_ID, "bucket_range", "bucket outside 1..5", bad["country_iso"].to_list())
    counts = dict(sorted(frame.group_by("gdp_bucket").len().rows()))
    empty = [b for b in range(1, N_BUCKETS + 1) if not counts.get(b)]
    if empty:
        raise fail(DATASET_ID, "bucket_range", "empty buckets", empty)
    checks["bucket_range"] = passed(breaks=breaks, counts={str(k): v for k, v in counts.items()})
    return checks


def build(inputs: Mapping[str, pl.DataFrame]) -> Built:
    gdp, world = inputs["gdp_per_capita"], inputs["world_countries"]
    frame, breaks = assemble(gdp, world)
    return Built(frame=frame, checks=check(frame, gdp, breaks), extra={"breaks_usd": breaks})
