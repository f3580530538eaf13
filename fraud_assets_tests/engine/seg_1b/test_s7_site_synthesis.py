"""S7: the 1:1 join of outlet keys with S5 and S6; deleted, duplicated, extra, moved and drifted rows
are caught with their codes (1B-S7-701…706)."""

import polars as pl
import pytest

from fraud_assets.engine.seg_1b import catalogue
from fraud_assets.engine.seg_1b import datasets as ds
from fraud_assets.engine.seg_1b import s7_site_synthesis as s7

from .conftest import failed_checks

KEY = list(ds.SITE_KEY)


def test_synthesis_of_the_chain(literal_chain):
    data, results, ctx = literal_chain
    s7_out = results["S7"].outputs[ds.S7_SITE_SYNTHESIS]
    assert s7_out.height == data[ds.OUTLET_CATALOGUE].height
    assert s7_out.select(KEY).equals(data[ds.OUTLET_CATALOGUE].select(KEY))
    assert s7_out.drop("tile_id").equals(data[ds.S6_SITE_JITTER].select(s7_out.drop("tile_id").columns))
    assert failed_checks(catalogue.S7, results["S7"], data, ctx) == {}


def _s7_with(data, ctx, **over):
    d = {**data, **over}
    return s7.run({k: d[k] for k in catalogue.S7.reads}, ctx), d


@pytest.mark.parametrize(("tamper", "expected"), [
    ("delete", {"synthesis_row_missing"}),
    ("duplicate", {"synthesis_dup_key"}),
    ("extra", {"synthesis_row_extra"}),
    ("move", {"synthesis_outside_tile", "synthesis_outside_country"}),
    ("drift", {"synthesis_tile_drift", "synthesis_outside_tile"}),
])
def test_parity_failures_are_caught(literal_chain, tamper, expected):
    data, _, ctx = literal_chain
    s6 = data[ds.S6_SITE_JITTER]
    victim = (pl.col("merchant_id") == 16) & (pl.col("site_order") == 3)
    if tamper == "delete":
        res, d = _s7_with(data, ctx, **{ds.S6_SITE_JITTER: s6.filter(~victim)})
    elif tamper == "duplicate":
        res, d = _s7_with(data, ctx, **{ds.S6_SITE_JITTER: pl.concat([s6, s6.filter(victim)]).sort(KEY)})
    elif tamper == "extra":
        extra = s6.filter(victim).with_columns(pl.lit(99, dtype=pl.Int32).alias("site_order"))
        res, d = _s7_with(data, ctx, **{ds.S6_SITE_JITTER: pl.concat([s6, extra]).sort(KEY)})
    elif tamper == "move":  # into the sea west of Namibia, same tile id
        res, d = _s7_with(data, ctx, **{ds.S6_SITE_JITTER: s6.with_columns(
            pl.when(victim).then(pl.col("lon_deg") - 40.0).otherwise(pl.col("lon_deg")).alias("lon_deg"))})
    else:
        res, d = _s7_with(data, ctx, **{ds.S6_SITE_JITTER: s6.with_columns(
            pl.when(victim).then(pl.col("tile_id") + 1).otherwise(pl.col("tile_id")).alias("tile_id"))})
    failed = failed_checks(catalogue.S7, res, d, ctx)
    assert set(failed) == expected
    codes = {f["code"] for f in failed.values()}
    assert codes <= {"1B-S7-701", "1B-S7-702", "1B-S7-703", "1B-S7-704", "1B-S7-705", "1B-S7-706"}
    for f in failed.values():
        assert [16, "NA", 3] in f["first_keys"] or [16, "NA", 99] in f["first_keys"]
