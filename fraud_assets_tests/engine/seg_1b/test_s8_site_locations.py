"""S8: site_locations is S7 projected to the INTEGRATION B.1 contract; a changed value or a lost row
fails the egress parity (1B-S9-901)."""

import polars as pl

from fraud_assets.engine.seg_1b import catalogue
from fraud_assets.engine.seg_1b import datasets as ds
from fraud_assets.engine.seg_1b import s8_site_locations as s8
from fraud_assets.engine.state import StateResult

from .conftest import failed_checks


def test_egress_of_the_chain(literal_chain):
    data, results, ctx = literal_chain
    loc = results["S8"].outputs[ds.SITE_LOCATIONS]
    assert loc.height == data[ds.OUTLET_CATALOGUE].height
    assert loc.columns == ["merchant_id", "legal_country_iso", "site_order", "lat_deg", "lon_deg"]
    assert loc.equals(data[ds.S7_SITE_SYNTHESIS].select(loc.columns))
    assert failed_checks(catalogue.S8, results["S8"], data, ctx) == {}


def test_egress_parity_catches_a_changed_value_and_a_lost_row(literal_chain):
    data, results, ctx = literal_chain
    loc = results["S8"].outputs[ds.SITE_LOCATIONS]
    changed = loc.with_columns(pl.when(pl.int_range(pl.len()) == 5).then(pl.col("lat_deg") + 1e-9)
                               .otherwise(pl.col("lat_deg")).alias("lat_deg"))
    failed = failed_checks(catalogue.S8, StateResult(outputs={ds.SITE_LOCATIONS: changed}), data, ctx)
    assert failed["egress_parity"]["code"] == "1B-S9-901"
    lost = StateResult(outputs={ds.SITE_LOCATIONS: loc.slice(1)})
    assert set(failed_checks(catalogue.S8, lost, data, ctx)) == {"egress_parity"}
    assert s8.project(data[ds.S7_SITE_SYNTHESIS]).equals(loc)
