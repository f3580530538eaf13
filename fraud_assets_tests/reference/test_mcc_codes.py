"""mcc_codes: every code iso18245 knows, with its ISO range."""

from __future__ import annotations

import polars as pl

from fraud_assets.reference import catalog
from fraud_assets.reference import mcc_codes as mc


def test_literal():
    frame = mc.assemble(["5411", "3000", "0742"])
    assert frame.rows() == [(742, "Veterinary services", 700, 999), (3000, "UNITED AIRLINES", 3000, 3999),
                            (5411, frame["description"][2], 5000, 5599)]
    assert frame["description"][2] == "Groceries and supermarkets"


def test_published(built_reference_root):
    frame = catalog.load(built_reference_root, "mcc_codes")
    assert frame.schema == pl.Schema(mc.SCHEMA)
    assert frame["mcc"].is_sorted() and frame["mcc"].is_unique().all()
    assert ((frame["range_start"] <= frame["mcc"]) & (frame["mcc"] <= frame["range_end"])).all()
    assert {5411, 5812, 5999, 7995, 4829} <= set(frame["mcc"].to_list())
