"""`mcc_codes`: merchant category codes from `iso18245` (ARCHITECTURE §9).

The codes are every MCC any list shipped in `iso18245` knows (the ISO 18245
official list plus the Visa, Mastercard, Amex, Stripe, USDA and Alipay lists —
the set `iso18245.get_mcc` resolves); `description` is the ISO description,
else the first non-empty of Visa, Mastercard, Amex, Stripe, USDA, Alipay (the
private-use airline, car-rental and lodging codes have no ISO text);
`range_start, range_end` bound the ISO 18245 range the code belongs to
(`iso18245.get_mcc_range`). Sorted by `mcc`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping

import polars as pl

from fraud_assets.reference.intake import Built, Source, check_unique, fail, package_file, passed

DATASET_ID = "mcc_codes"
RECIPE_VERSION = 1
DEPENDS: tuple[str, ...] = ()
LISTS = ("iso18245_official_list.csv", "visa_list.csv", "mastercard_list.csv", "amex_list.csv",
         "stripe_list.csv", "usda_list.csv", "alipay_list.csv")
SOURCES = tuple(Source("iso18245", "iso18245", f"data/{name}") for name in (*LISTS, "iso18245_ranges.csv"))
TOOLCHAIN = ("polars",)
SCHEMA = {"mcc": pl.Int32, "description": pl.String, "range_start": pl.Int32, "range_end": pl.Int32}
SORT = ("mcc",)


def listed_codes() -> list[str]:
    codes: set[str] = set()
    for name in LISTS:
        text = package_file("iso18245", f"data/{name}").read_text(encoding="utf-8")
        rows = list(csv.reader(io.StringIO(text)))[1:]
        codes.update(r[0].strip() for r in rows if r and r[0].strip())
    return sorted(codes)


def describe(mcc) -> str:  # noqa: ANN001 - iso18245.MCC
    for text in (mcc.iso_description, mcc.visa_description, mcc.mastercard_description, mcc.amex_description,
                 mcc.stripe_description, mcc.usda_description, mcc.alipay_description):
        if text and text.strip():
            return text.strip()
    return ""


def assemble(codes: list[str]) -> pl.DataFrame:
    import iso18245

    rows = []
    for code in codes:
        mcc = iso18245.get_mcc(code)
        rows.append({"mcc": int(code), "description": describe(mcc),
                     "range_start": int(mcc.range.start), "range_end": int(mcc.range.end)})
    return pl.DataFrame(rows, schema=SCHEMA, orient="row").sort(list(SORT))


def check(frame: pl.DataFrame) -> dict[str, dict]:
    checks = {"primary_key": check_unique(DATASET_ID, frame, ["mcc"])}
    bad = frame.filter(~pl.col("mcc").is_between(0, 9999)
                       | ~((pl.col("range_start") <= pl.col("mcc")) & (pl.col("mcc") <= pl.col("range_end"))))
    if bad.height:
        raise fail(DATASET_ID, "mcc_range", "mcc outside 0..9999 or outside its ISO range", bad["mcc"].to_list())
    empty = frame.filter(pl.col("description") == "")["mcc"].to_list()
    if empty:
        raise fail(DATASET_ID, "description", "codes without any description", empty)
    checks["mcc_range"] = passed(codes=frame.height, ranges=frame.select("range_start").n_unique())
    return checks


def build(inputs: Mapping[str, pl.DataFrame]) -> Built:
    frame = assemble(listed_codes())
    return Built(frame=frame, checks=check(frame))
