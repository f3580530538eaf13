"""iso3166_canonical, and Namibia "NA" surviving as a string in every ISO column."""

from __future__ import annotations

import polars as pl
import pyarrow.parquet as pq
import pytest

from fraud_assets.core.errors import EngineFailure
from fraud_assets.reference import catalog
from fraud_assets.reference import iso3166_canonical as iso


def test_pycountry_plus_kosovo(built_reference_root):
    frame = catalog.load(built_reference_root, "iso3166_canonical")
    assert frame.height == 250 and frame["country_iso"].is_sorted()
    xk = frame.filter(pl.col("country_iso") == "XK").row(0, named=True)
    assert xk == {"country_iso": "XK", "alpha3": "XKX", "numeric": None, "name": "Kosovo"}
    assert frame.filter(pl.col("country_iso") == "NA").row(0, named=True)["numeric"] == 516


def test_literal_assembly_and_checks():
    rows = [{"alpha_2": "NA", "alpha_3": "NAM", "numeric": "516", "name": "Namibia"},
            {"alpha_2": "DE", "alpha_3": "DEU", "numeric": "276", "name": "Germany"}]
    geonames = {"XK": {"iso3": "XKX", "isonumeric": 0, "name": "Kosovo"}}
    frame = iso.assemble(rows, geonames)
    assert frame.to_dicts() == [
        {"country_iso": "DE", "alpha3": "DEU", "numeric": 276, "name": "Germany"},
        {"country_iso": "NA", "alpha3": "NAM", "numeric": 516, "name": "Namibia"},
        {"country_iso": "XK", "alpha3": "XKX", "numeric": None, "name": "Kosovo"},
    ]
    assert iso.check(frame)["namibia_na"]["passed"]
    with pytest.raises(EngineFailure) as err:
        iso.check(frame.filter(pl.col("country_iso") != "NA"))
    assert err.value.keys == ["NA"]


NAMIBIA_EVERYWHERE = ("iso3166_canonical", "world_countries", "gdp_per_capita", "gdp_bucket_map", "cities",
                      "country_neighbours", "currencies", "tzdb_zone_tab", "tzdb_zone1970_tab")


@pytest.mark.parametrize("dataset_id", NAMIBIA_EVERYWHERE)
def test_namibia_is_the_string_na_everywhere(built_reference_root, dataset_id):
    path = catalog.dataset_dir(built_reference_root, dataset_id) / f"{dataset_id}.parquet"
    table = pq.read_table(path)  # a second reader: pyarrow, no type inference
    for column in ("country_iso", "neighbour_iso"):
        if column in table.column_names:
            assert str(table.schema.field(column).type) in ("string", "large_string", "string_view")
            assert table.column(column).null_count == 0
    assert "NA" in table.column("country_iso").to_pylist()
