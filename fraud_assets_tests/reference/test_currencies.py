"""currencies: exactly one primary currency per country, ISO 4217 minor units, successors."""

from __future__ import annotations

import polars as pl
import pytest

from fraud_assets.core.errors import EngineFailure
from fraud_assets.reference import catalog
from fraud_assets.reference import currencies as cu

UNITS = {"EUR": 2, "JPY": 0, "NAD": 2, "XAU": None}


def test_literal_assembly_with_successor():
    geonames = {"BG": {"currencycode": "BGN"}, "JP": {"currencycode": "JPY"}, "NA": {"currencycode": "NAD"},
                "AQ": {"currencycode": ""}}
    frame, figures = cu.assemble(geonames, {"BG", "JP", "NA", "AQ"}, UNITS)
    assert frame.rows() == [("BG", "EUR", True, 2), ("JP", "JPY", True, 0), ("NA", "NAD", True, 2)]
    assert figures == {"successor_applied": {"BG": "BGN->EUR"}, "countries_without_currency": ["AQ"]}


def test_unknown_currency_and_missing_units_fail():
    with pytest.raises(EngineFailure) as err:
        cu.assemble({"ZZ": {"currencycode": "ZZZ"}}, {"ZZ"}, UNITS)
    assert err.value.keys == ["ZZ:ZZZ"]
    with pytest.raises(EngineFailure):
        cu.assemble({"ZZ": {"currencycode": "XAU"}}, {"ZZ"}, UNITS)


def test_two_primaries_fail(built_reference_root):
    canonical = catalog.load(built_reference_root, "iso3166_canonical")
    frame = pl.DataFrame([("DE", "EUR", True, 2), ("DE", "USD", True, 2)], schema=cu.SCHEMA, orient="row")
    with pytest.raises(EngineFailure) as err:
        cu.check(frame, canonical)
    assert err.value.keys == ["DE"]


def test_published(built_reference_root):
    frame = catalog.load(built_reference_root, "currencies")
    assert frame.group_by("country_iso").agg(pl.col("is_primary").sum())["is_primary"].to_list() == [1] * frame.height
    assert frame.filter(pl.col("country_iso") == "JP").row(0) == ("JP", "JPY", True, 0)
    assert frame.filter(pl.col("country_iso") == "NA")["currency"].to_list() == ["NAD"]
