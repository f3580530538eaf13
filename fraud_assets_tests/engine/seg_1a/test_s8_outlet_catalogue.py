"""1A S8 outlet catalogue: rows per count, site_id format, overflow, sort, partition tokens, the S8 checks."""

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from fraud_assets.core.errors import EngineFailure
from fraud_assets.engine.seg_1a import datasets as ds
from fraud_assets.engine.seg_1a import s8_outlet_catalogue as s8
from fraud_assets.engine.seg_1a.catalogue import S8
from fraud_assets.engine.state import StateResult

from .conftest import make_ctx, make_world

COUNTS = pl.DataFrame([(2, "US", 0, True, 3), (2, "CA", 1, False, 1), (1, "NA", 0, True, 1)], orient="row",
                      schema={"merchant_id": pl.Int64, "country_iso": pl.String, "candidate_rank": pl.Int32,
                              "is_home": pl.Boolean, "count": pl.Int32})
HD = pl.DataFrame({"merchant_id": [1, 2], "is_multi": [False, True]})
NB = pl.DataFrame({"merchant_id": [2], "n_outlets": [4]}, schema={"merchant_id": pl.Int64, "n_outlets": pl.Int32})
MI = pl.DataFrame({"merchant_id": [1, 2], "home_country_iso": ["NA", "US"]})


def _inputs(counts=COUNTS):
    return {ds.S7_COUNTRY_COUNTS: counts, ds.HURDLE_DECISIONS: HD, ds.NB_OUTLET_DRAWS: NB, ds.MERCHANT_IDS: MI}


def _run(config, counts=COUNTS):
    ctx = make_ctx(make_world(seed=2**64 - 1), config)
    return s8.run(_inputs(counts), ctx), ctx


def test_catalogue_literal(config):
    res, ctx = _run(config)
    expected = pl.DataFrame({
        "manifest_fingerprint": ["f" * 64] * 5,
        "merchant_id": [1, 2, 2, 2, 2],
        "site_id": ["000001", "000001", "000001", "000002", "000003"],
        "home_country_iso": ["NA", "US", "US", "US", "US"],
        "legal_country_iso": ["NA", "CA", "US", "US", "US"],
        "single_vs_multi_flag": [False, True, True, True, True],
        "raw_nb_outlet_draw": [1, 4, 4, 4, 4],
        "final_country_outlet_count": [1, 1, 3, 3, 3],
        "site_order": [1, 1, 1, 2, 3],
        "global_seed": [2**64 - 1] * 5,
    }, schema=ds.SCHEMAS["outlet_catalogue"])
    assert_frame_equal(res.outputs["outlet_catalogue"], expected)
    for chk in S8.checks:
        assert chk.fn(res, _inputs(), ctx).passed, chk.name


def test_overflow_fixture_raises_1A_S8_002(config):
    big = COUNTS.with_columns(pl.when(pl.col("country_iso") == "US").then(1_000_000).otherwise(pl.col("count"))
                              .cast(pl.Int32).alias("count"))
    with pytest.raises(EngineFailure) as err:
        _run(config, big)
    assert err.value.code == "1A-S8-002" and err.value.keys == [[2, "US"]]


def _check(config, fn, edit):
    res, ctx = _run(config)
    return fn(StateResult(outputs={"outlet_catalogue": edit(res.outputs["outlet_catalogue"])}), _inputs(), ctx)


def test_sequence_gap_1A_S8_001(config):
    gap = lambda oc: oc.filter(~((pl.col("legal_country_iso") == "US") & (pl.col("site_order") == 2)))  # noqa: E731
    out = _check(config, s8.check_sequence_gap, gap)
    assert not out.passed and out.evidence["code"] == "1A-S8-001" and out.evidence["first_keys"] == [[2, "US"]]


def test_site_id_overflow_1A_S8_002(config):
    bad = lambda oc: oc.with_columns(pl.when(pl.col("merchant_id") == 1).then(pl.lit("1")).otherwise(pl.col("site_id"))  # noqa: E731
                                     .alias("site_id"))
    out = _check(config, s8.check_site_id_overflow, bad)
    assert not out.passed and out.evidence["code"] == "1A-S8-002" and out.evidence["first_keys"] == [[1, "NA", 1]]


def test_outlet_sum_1A_S8_003(config):
    extra = lambda oc: pl.concat([oc, oc.tail(1).with_columns(pl.lit(4, dtype=pl.Int32).alias("site_order"))])  # noqa: E731
    out = _check(config, s8.check_outlet_sum, extra)
    assert not out.passed and out.evidence["code"] == "1A-S8-003" and out.evidence["first_keys"] == [2]
    flag = lambda oc: oc.with_columns(pl.lit(True).alias("single_vs_multi_flag"))  # noqa: E731
    assert _check(config, s8.check_outlet_sum, flag).evidence["first_keys"] == [1]


def test_partition_tokens_E_PARTITION_MISMATCH(config):
    bad = lambda oc: oc.with_columns(pl.lit(7, dtype=pl.UInt64).alias("global_seed"))  # noqa: E731
    out = _check(config, s8.check_partition, bad)
    assert not out.passed and out.evidence["code"] == "E_PARTITION_MISMATCH" and out.evidence["failed"] == 5
    fp = lambda oc: oc.with_columns(pl.lit("0" * 64).alias("manifest_fingerprint"))  # noqa: E731
    assert not _check(config, s8.check_partition, fp).passed


def test_chain_rows_and_sort(small_chain):
    data, results, ctx = small_chain
    oc = results["S8"].outputs["outlet_catalogue"]
    assert oc.height == int(data["s7_country_counts"].get_column("count").sum())
    assert oc.equals(oc.sort("merchant_id", "legal_country_iso", "site_order"))
    for chk in S8.checks:
        assert chk.fn(results["S8"], {k: data[k] for k in S8.reads}, ctx).passed
