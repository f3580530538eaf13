import polars as pl

from fraud_assets.engine.common.checks import compare_frames, outcome, rng_accounting
from fraud_assets.engine.state import RngTally

KEYS = ["merchant_id", "site_order"]


def _frame(rows):
    return pl.DataFrame(rows, schema={"merchant_id": pl.Int64, "site_order": pl.Int32, "tags": pl.List(pl.String),
                                      "share": pl.Float64}, orient="row")


def test_equal_frames_with_list_columns_compare_equal():
    a = _frame([(1, 1, ["HOME"], 0.5), (1, 2, ["A", "B"], 0.5)])
    assert compare_frames(a, a.reverse(), KEYS)["equal"]


def test_missing_extra_and_differing_rows_are_counted_with_first_keys():
    written = _frame([(1, 1, ["HOME"], 0.5), (1, 2, ["A"], 0.5), (2, 1, None, 1.0)])
    replay = _frame([(1, 1, ["HOME"], 0.25), (1, 2, ["A"], 0.5), (3, 1, None, 1.0)])
    doc = compare_frames(written, replay, KEYS)
    assert not doc["equal"]
    assert (doc["keys_only_written"], doc["keys_only_replay"], doc["rows_differing"]) == (1, 1, 1)
    assert doc["columns_differing"] == {"share": 1}
    assert doc["first_keys"] == [[2, 1], [3, 1], [1, 1]]


def test_schema_mismatch_is_reported_not_compared():
    a = _frame([(1, 1, ["HOME"], 0.5)])
    doc = compare_frames(a, a.with_columns(pl.col("site_order").cast(pl.Int64)), KEYS)
    assert not doc["equal"] and doc["schema_replay"]["site_order"] == "Int64"


def test_rng_accounting_flags_undeclared_replayed_and_implied_mismatches():
    trace = pl.DataFrame({"state": ["S1", "S2"], "family": ["x.s1", "x.s9"], "keys": [3, 1], "draws": [3, 1],
                          "blocks": [3, 1]})
    problems, rows = rng_accounting(trace, {"S1": [RngTally("x.s1", 3, 4, 4)]}, {"S1": ["x.s1"]},
                                    {"x.s1": {"draws": 3}})
    kinds = sorted(next(iter(p)) for p in problems)
    assert kinds == ["state", "undeclared_family"]
    assert rows["S1/x.s1"] == {"keys": 3, "draws": 3, "blocks": 3}
    clean, _ = rng_accounting(trace.head(1), {"S1": [RngTally("x.s1", 3, 3, 3)]}, {"S1": ["x.s1"]},
                              {"x.s1": {"draws": 3}})
    assert clean == []


def test_outcome_passes_iff_no_offending_keys():
    assert outcome("X-1", [], 5).passed
    failed = outcome("X-1", [[1, "NA"]] * 20, 20, extra=1.5)
    assert not failed.passed and len(failed.evidence["first_keys"]) == 10 and failed.evidence["extra"] == 1.5
