"""2B S1: hand-computed weights, the closed-form cap, groups and member order, and each check code."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraud_assets.core.errors import EngineFailure
from fraud_assets.core.ids import site_id_from_key
from fraud_assets.engine.seg_2b import catalogue, laws
from fraud_assets.engine.seg_2b import datasets as ds
from fraud_assets.engine.seg_2b import s1_site_weights as s1
from fraud_assets.engine.state import StateResult
from fraud_assets_tests.engine.seg_2b.conftest import (FakeRaster, base_inputs, cell_of, failed, literal_sites,
                                                       make_ctx, run_checks)

THREE = [(77, "FR", [("FR", 1, 48.0, 2.0, "Europe/Paris"), ("FR", 2, 45.0, 5.0, "Europe/Paris"),
                     ("DE", 1, 52.0, 13.0, "Europe/Berlin")])]
DENSITY = {(48.0, 2.0): 1000.0, (45.0, 5.0): 5000.0, (52.0, 13.0): 8000.0}


def _run(merchants, density=None, ctx=None):  # noqa: ANN001, ANN202
    raster = FakeRaster({cell_of(lat, lon): v for (lat, lon), v in (density or {}).items()})
    inputs = base_inputs(literal_sites(merchants), {}, raster)
    ctx = ctx or make_ctx()
    res = s1.run({k: inputs[k] for k in catalogue.S1.reads}, ctx)
    return res, inputs, ctx


def test_three_sites_by_hand():
    res, _, _ = _run(THREE, DENSITY)
    out = res.outputs[ds.S1_SITE_WEIGHTS]
    a = {("FR", 1): 3000.0 ** 0.6, ("FR", 2): 2 * 7000.0 ** 0.6, ("DE", 1): 10000.0 ** 0.6}  # FR/2 flagship
    total = sum(a.values())
    p = {k: 0.9 * v / total + 0.1 / 3 for k, v in a.items()}  # max ≈ 0.51 < cap 0.8
    got = {(r["legal_country_iso"], r["site_order"]): r for r in out.iter_rows(named=True)}
    for key, want in p.items():
        assert math.isclose(got[key]["p_weight"], want, rel_tol=1e-12)
    assert got[("FR", 2)]["is_flagship"] and not got[("DE", 1)]["is_flagship"]
    assert [r["tz_group_id"] for r in out.iter_rows(named=True)] == ["Europe/Berlin", "Europe/Paris", "Europe/Paris"]
    assert out.get_column("group_index").to_list() == [0, 1, 1]
    assert out.get_column("member_index").to_list() == [0, 0, 1]
    paris = p[("FR", 1)] + p[("FR", 2)]
    assert math.isclose(got[("FR", 1)]["base_share"], paris, rel_tol=1e-12)
    assert math.isclose(got[("FR", 1)]["p_within"], p[("FR", 1)] / paris, rel_tol=1e-12)
    assert got[("DE", 1)]["p_within"] == 1.0
    assert got[("FR", 1)]["density"] == 1000.0 and not got[("FR", 1)]["cap_applied"]
    assert got[("FR", 2)]["site_id"] == site_id_from_key(77, "FR", 2)
    assert set(out.get_column("weight_profile").to_list()) == {"density_v1"}


def test_cap_is_one_closed_form_step():
    res, _, _ = _run([(5, "GB", [("GB", 1, 51.5, -0.1, "Europe/London"), ("GB", 2, 53.0, -2.0, "Europe/London")])],
                     {(51.5, -0.1): 1e6, (53.0, -2.0): 0.0})
    out = res.outputs[ds.S1_SITE_WEIGHTS].sort("site_order")
    assert out.get_column("p_weight").to_list() == [0.8, pytest.approx(0.2, abs=1e-15)]
    assert out.get_column("cap_applied").to_list() == [True, True]


def test_single_site_and_missing_home_country():
    res, _, _ = _run([(1, "FR", [("FR", 1, 48.8, 2.3, "Europe/Paris")]),
                      (2, "IT", [("CH", 1, 47.4, 8.5, "Europe/Zurich"), ("CH", 2, 46.2, 6.1, "Europe/Zurich")])],
                     {(47.4, 8.5): 10.0, (46.2, 6.1): 900.0})
    out = res.outputs[ds.S1_SITE_WEIGHTS]
    one = out.filter(pl.col("merchant_id") == 1).row(0, named=True)
    assert one["p_weight"] == 1.0 and one["p_within"] == 1.0 and one["base_share"] == 1.0 and one["is_flagship"]
    two = out.filter(pl.col("merchant_id") == 2).sort("site_order")
    assert two.get_column("is_flagship").to_list() == [False, True]  # no IT site: max density among all


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.0, 5e6, allow_nan=False), min_size=1, max_size=40), st.integers(0, 1))
def test_cap_never_loops_and_every_site_stays_under_it(densities, home_first):
    n = len(densities)
    sites = pl.DataFrame({
        "merchant_id": [9] * n, "legal_country_iso": ["FR"] * n, "site_order": list(range(1, n + 1)),
        "tzid": ["Europe/Paris"] * n, "density": densities, "home_country_iso": ["FR" if home_first else "DE"] * n,
    }, schema={"merchant_id": pl.Int64, "legal_country_iso": pl.String, "site_order": pl.Int32, "tzid": pl.String,
               "density": pl.Float64, "home_country_iso": pl.String})
    cfg = make_ctx().config.site_weights
    out = laws.site_weight_table(sites, cfg)
    p = out.get_column("p_weight").to_numpy()
    assert abs(p.sum() - 1.0) <= 1e-12 and (p > 0).all()
    if n >= 2:
        assert p.max() <= cfg.cap_for(n) + 1e-15
        assert p.min() >= 0.0
    else:
        assert p[0] == 1.0


def test_member_row_offset_addresses_members(tiny_chain):
    data, _, _ = tiny_chain
    w = data[ds.S1_SITE_WEIGHTS]
    index = data[ds.S2_ALIAS_INDEX]
    for r in index.iter_rows(named=True):
        rows = w.slice(r["member_row_offset"], r["n_members"])
        assert set(rows.get_column("merchant_id").to_list()) == {r["merchant_id"]}
        assert set(rows.get_column("group_index").to_list()) == {r["group_index"]}
        assert rows.get_column("member_index").to_list() == list(range(r["n_members"]))
        keys = rows.select("legal_country_iso", "site_order").rows()
        assert keys == sorted(keys)


def test_checks_pass_on_the_literal_world(tiny_chain):
    data, results, ctx = tiny_chain
    assert failed(run_checks(catalogue.S1, results["S1"], data, ctx)) == {}


def test_site_set_mismatch_raises_001(literal):
    loc, tz, mids = literal
    inputs = base_inputs((loc, tz.slice(1), mids), {})
    with pytest.raises(EngineFailure) as info:
        s1.run({k: inputs[k] for k in catalogue.S1.reads}, make_ctx())
    assert info.value.code == "2B-S1-001"


def test_invalid_raster_sample_raises_004():
    with pytest.raises(EngineFailure) as info:
        _run(THREE, {(45.0, 5.0): float("nan")})
    assert info.value.code == "2B-S1-004"
    with pytest.raises(EngineFailure) as info:
        _run(THREE, {(45.0, 5.0): -1.0})
    assert info.value.code == "2B-S1-004"


def test_only_bands_holding_a_site_are_read():
    raster = FakeRaster()
    laws.sample_density(raster, np.array([48.0, 47.9, -33.0]), np.array([2.0, 2.1, 151.0]))
    assert len(raster.reads) == 2 and all((b - a) <= laws.RASTER_BAND_ROWS for a, b in raster.reads)


@pytest.mark.parametrize("code, tamper", [
    ("2B-S1-001", lambda f: f.slice(1)),
    ("2B-S1-002", lambda f: f.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(0.0)
                                           .otherwise(pl.col("p_weight")).alias("p_weight"))),
    ("2B-S1-003", lambda f: f.with_columns(pl.col("p_within") * 1.001)),
    ("2B-S1-004", lambda f: f.with_columns(pl.when(pl.int_range(pl.len()) == 2).then(float("inf"))
                                           .otherwise(pl.col("density")).alias("density"))),
    ("2B-S1-005", lambda f: f.with_columns(pl.col("member_index") + 1)),
    ("2B-S1-006", lambda f: f.with_columns(pl.lit(12345, dtype=pl.Int64).alias("site_id"))),
])
def test_each_check_catches_its_tamper(tiny_chain, code, tamper):
    data, results, ctx = tiny_chain
    bad = StateResult(outputs={ds.S1_SITE_WEIGHTS: tamper(data[ds.S1_SITE_WEIGHTS])})
    checks = run_checks(catalogue.S1, bad, data, ctx)
    assert not checks[code].passed, checks[code].evidence
