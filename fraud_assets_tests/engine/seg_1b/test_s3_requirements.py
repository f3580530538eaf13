"""S3: pair counts with parity to the outlet catalogue; inconsistent catalogues and countries
without tiles fail; nothing is dropped."""

import polars as pl

from fraud_assets.engine.seg_1b import catalogue
from fraud_assets.engine.seg_1b import datasets as ds
from fraud_assets.engine.seg_1b import s3_requirements as s3

from .conftest import failed_checks, outlet_catalogue


def test_requirements_are_the_pair_counts(literal_chain):
    data, results, ctx = literal_chain
    req = results["S3"].outputs[ds.S3_REQUIREMENTS]
    expected = pl.DataFrame(
        {"merchant_id": [11, 11, 12, 13, 14, 14, 15, 16, 17, 18],
         "legal_country_iso": ["AA", "ZA", "ZA", "FJ", "KI", "RU", "LS", "NA", "AA", "RU"],
         "n_sites": [5, 2, 40, 7, 3, 12, 1, 9, 1, 4]}, schema=ds.SCHEMAS[ds.S3_REQUIREMENTS])
    assert req.equals(expected)
    assert failed_checks(catalogue.S3, results["S3"], data, ctx) == {}


def test_inconsistent_catalogue_fails_1B_S3_302(literal_chain):
    data, results, ctx = literal_chain
    oc = outlet_catalogue()
    wrong_count = oc.with_columns(pl.when((pl.col("merchant_id") == 13) & (pl.col("site_order") == 2))
                                  .then(8).otherwise(pl.col("final_country_outlet_count"))
                                  .cast(pl.Int32).alias("final_country_outlet_count"))
    gap = oc.filter(~((pl.col("merchant_id") == 12) & (pl.col("site_order") == 3)))
    dup = pl.concat([oc, oc.filter((pl.col("merchant_id") == 15))])
    for broken, bad_pair in ((wrong_count, [13, "FJ"]), (gap, [12, "ZA"]), (dup, [15, "LS"])):
        d = {**data, ds.OUTLET_CATALOGUE: broken}
        res = s3.run(d, ctx)
        failed = failed_checks(catalogue.S3, res, d, ctx)
        assert set(failed) == {"catalogue_consistent"}
        assert failed["catalogue_consistent"]["code"] == "1B-S3-302"
        assert bad_pair in failed["catalogue_consistent"]["first_keys"]


def test_country_without_tiles_fails_1B_S3_301(literal_chain):
    data, _, ctx = literal_chain
    d = {**data, ds.OUTLET_CATALOGUE: outlet_catalogue([(11, "AA", 2), (12, "XX", 3)])}
    res = s3.run(d, ctx)
    assert res.outputs[ds.S3_REQUIREMENTS].height == 2  # nothing dropped
    failed = failed_checks(catalogue.S3, res, d, ctx)
    assert set(failed) == {"country_without_tiles"} and failed["country_without_tiles"]["first_keys"] == ["XX"]
    assert res.report["countries_without_tiles"] == ["XX"]


def test_tampered_requirements_are_caught(literal_chain):
    data, results, ctx = literal_chain
    req = results["S3"].outputs[ds.S3_REQUIREMENTS]
    bad = type(results["S3"])(outputs={ds.S3_REQUIREMENTS: req.filter(pl.col("merchant_id") != 17)})
    assert set(failed_checks(catalogue.S3, bad, data, ctx)) == {"catalogue_consistent"}
