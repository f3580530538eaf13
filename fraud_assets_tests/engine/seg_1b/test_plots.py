"""The site map PNG: byte-identical across renders and row orders, no Software chunk."""

import polars as pl
from shapely.geometry import MultiPolygon, box

from fraud_assets.engine.seg_1b import datasets as ds
from fraud_assets.engine.seg_1b.plots import site_map_png

from .conftest import literal_countries

PNG = b"\x89PNG\r\n\x1a\n"


def test_site_map_png_is_byte_identical(literal_chain):
    data, _, _ = literal_chain
    a = site_map_png(data[ds.S7_SITE_SYNTHESIS], data[ds.REF_COUNTRIES], "t")
    b = site_map_png(data[ds.S7_SITE_SYNTHESIS].sample(fraction=1.0, shuffle=True, seed=9), data[ds.REF_COUNTRIES], "t")
    assert a == b and a[:8] == PNG and b"Software" not in a


def test_an_empty_map_renders():
    sites = pl.DataFrame(schema=ds.SCHEMAS[ds.S7_SITE_SYNTHESIS])
    png = site_map_png(sites, literal_countries({"XA": MultiPolygon([box(0, 0, 1, 1)])}), "empty")
    assert png[:8] == PNG and png == site_map_png(sites, literal_countries({"XA": MultiPolygon([box(0, 0, 1, 1)])}),
                                                  "empty")
