"""3A S4: largest remainder — exact conservation, |count − N·share| < 1, tzid tie-break, checks."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraud_assets.engine.seg_3a import catalogue
from fraud_assets.engine.seg_3a import datasets as ds
from fraud_assets.engine.seg_3a import s4_zone_counts as s4
from fraud_assets.engine.state import StateResult
from fraud_assets_tests.engine.seg_3a.conftest import run_checks


def _shares(rows):
    return pl.DataFrame(rows, schema={"merchant_id": pl.Int64, "legal_country_iso": pl.String, "tzid": pl.String,
                                      "site_count": pl.Int32, "share_drawn": pl.Float64}, orient="row")


def test_literal_pair_with_a_tie_broken_by_tzid():
    f = _shares([(1, "US", "B", 3, 0.5), (1, "US", "A", 3, 0.5), (2, "MX", "X", 7, 0.1), (2, "MX", "Y", 7, 0.9)])
    out = s4.integerise(f)
    assert out.select("tzid", "fractional_target", "base_count", "residual_rank", "zone_site_count").rows() == [
        ("A", 1.5, 1, 1, 2), ("B", 1.5, 1, 2, 1),  # equal residuals: tzid ascending wins
        ("X", pytest.approx(0.7), 0, 1, 1), ("Y", pytest.approx(6.3), 6, 2, 6)]
    assert out.schema["zone_site_count"] == pl.Int32 and out.schema["residual_rank"] == pl.Int32


@st.composite
def pairs(draw):
    rows = []
    for m in range(draw(st.integers(1, 6))):
        k = draw(st.integers(1, 12))
        n = draw(st.integers(1, 500))
        w = draw(st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=k, max_size=k))
        if sum(w) == 0:
            w[0] = 1.0
        total = sum(w)
        rows += [(m, "US", f"Z/{z:02d}", n, x / total) for z, x in enumerate(w)]
    return rows


@settings(max_examples=150, deadline=None)
@given(pairs())
def test_conservation_and_rounding_bound(rows):
    out = s4.integerise(_shares(rows))
    per = out.group_by("merchant_id").agg(pl.col("zone_site_count").sum(), pl.col("site_count").first())
    assert (per.get_column("zone_site_count") == per.get_column("site_count")).all()
    assert (out.get_column("zone_site_count") >= 0).all()
    assert ((out.get_column("zone_site_count") - out.get_column("fractional_target")).abs() < 1).all()
    for (m,), g in out.group_by(["merchant_id"]):
        g = g.sort("tzid")
        ref = s4.largest_remainder(g.item(0, "site_count"), g.get_column("share_drawn").to_list(),
                                   g.get_column("tzid").to_list())
        assert g.get_column("zone_site_count").to_list() == ref


def test_negative_remainder_is_impossible_and_refused():
    assert s4.largest_remainder(10, [0.25, 0.25, 0.5], ["a", "b", "c"]) == [3, 2, 5]
    with pytest.raises(ValueError):
        s4.largest_remainder(10, [0.7, 0.7], ["a", "b"])  # shares summing to 1.4: R < 0


def test_checks_pass_and_each_catches_its_fault(chain):
    data, results, ctx = chain
    counts = data[ds.S4_COUNTS]
    ok = run_checks(catalogue.S4, results["S4"], data, ctx)
    assert all(o.passed for o in ok.values())

    def check(code: str, frame):
        return run_checks(catalogue.S4, StateResult(outputs={ds.S4_COUNTS: frame}), data, ctx)[code]

    assert not check("3A-S4-001", counts.tail(-1)).passed
    bumped = counts.with_columns(pl.when((pl.col("merchant_id") == 101) & (pl.col("tzid") == "America/Chicago"))
                                 .then(pl.col("zone_site_count") + 1).otherwise(pl.col("zone_site_count"))
                                 .cast(pl.Int32).alias("zone_site_count"))
    assert check("3A-S4-002", bumped).evidence["first_keys"] == ["101|US|39|38"]
    assert not check("3A-S4-004", bumped).passed
    negative = counts.with_columns(pl.lit(-1, dtype=pl.Int32).alias("zone_site_count"))
    assert not check("3A-S4-003", negative).passed
