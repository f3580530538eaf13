"""S0: the resolved grid, GRID_INCOMPATIBLE, the 1A contract, and the checks."""

import polars as pl
import pytest

from fraud_assets.core.errors import EngineFailure
from fraud_assets.engine.seg_1b import catalogue
from fraud_assets.engine.seg_1b import datasets as ds
from fraud_assets.engine.seg_1b import s0_gate as s0
from fraud_assets.engine.seg_1b.config import Config1B
from fraud_assets.engine.state import StateResult

from .conftest import country_universe, failed_checks, make_ctx, make_world, outlet_catalogue, with_config


def _inputs(**over):
    base = {ds.OUTLET_CATALOGUE: outlet_catalogue(), ds.COUNTRY_UNIVERSE: country_universe()}
    base.update(over)
    return base


@pytest.mark.parametrize(("preset", "tpd"), [("tiny", 1), ("small", 2), ("medium", 4), ("large", 10)])
def test_grid_of_each_preset(config, preset, tpd):
    res = s0.run(_inputs(), make_ctx(make_world(preset), config))
    grid = res.outputs[ds.S0_TILE_GRID]
    expected = pl.DataFrame({"preset": [preset], "tiles_per_degree": [tpd], "raster_cells_per_degree": [20],
                             "raster_factor": [20 // tpd], "nrows": [180 * tpd], "ncols": [360 * tpd],
                             "inclusion_rule": ["any_overlap"], "min_land_fraction": [1e-4],
                             "authalic_radius_m": [6371007.181]}, schema=ds.SCHEMAS[ds.S0_TILE_GRID])
    assert grid.equals(expected)
    assert res.report["outlet_pairs"] == 10 and len(res.report["outlet_catalogue_digest"]) == 64
    assert failed_checks(catalogue.S0, res, _inputs(), make_ctx(make_world(preset), config)) == {}


def test_grid_incompatible_1B_S0_002(config):
    cfg = with_config(config, tile_grid={"tiles_per_degree": {"tiny": 3, "small": 2, "medium": 4, "large": 10}})
    with pytest.raises(EngineFailure) as info:
        s0.run(_inputs(), make_ctx(make_world("tiny"), cfg))
    assert info.value.code == "1B-S0-002"
    data = config.model_dump()
    data["tile_grid"]["tiles_per_degree"] = {"small": 2}
    cfg = Config1B.model_validate(data)
    with pytest.raises(EngineFailure) as info:
        s0.run(_inputs(), make_ctx(make_world("tiny"), cfg))
    assert info.value.code == "1B-S0-002"


def test_grid_check_catches_a_tampered_grid(config):
    ctx = make_ctx(make_world("tiny"), config)
    res = s0.run(_inputs(), ctx)
    bad = res.outputs[ds.S0_TILE_GRID].with_columns(pl.lit(3, dtype=pl.Int32).alias("tiles_per_degree"))
    out = s0.check_grid(StateResult(outputs={ds.S0_TILE_GRID: bad}), _inputs(), ctx)
    assert not out.passed and out.evidence["code"] == "1B-S0-002"


def test_1a_contract_violations_are_no_pass_no_read(config):
    ctx = make_ctx(make_world("tiny"), config)
    broken = outlet_catalogue().drop("final_country_outlet_count")
    with pytest.raises(EngineFailure) as info:
        s0.run(_inputs(**{ds.OUTLET_CATALOGUE: broken}), ctx)
    assert info.value.code == "E_NO_PASS_NO_READ"
    res = s0.run(_inputs(), ctx)
    other_world = outlet_catalogue(fingerprint="e" * 64)
    out = s0.check_upstream_1a(res, _inputs(**{ds.OUTLET_CATALOGUE: other_world}), ctx)
    assert not out.passed and out.evidence["code"] == "E_NO_PASS_NO_READ"
    out = s0.check_upstream_1a(res, _inputs(**{ds.OUTLET_CATALOGUE: outlet_catalogue(seed=7)}), ctx)
    assert not out.passed


def test_world_identity_check_compares_a_recomputed_identity(config):
    ctx = make_ctx(make_world("tiny"), config, recomputed_identity={"parameter_hash": "b" * 64,
                                                                     "manifest_fingerprint": "f" * 64})
    out = s0.check_world_identity(StateResult(outputs={}), {}, ctx)
    assert not out.passed and out.evidence["code"] == "E_FINGERPRINT_MISMATCH"
    assert s0.check_world_identity(StateResult(outputs={}), {}, make_ctx(config=config)).passed
