"""S9: the bundle of the literal chain passes; tampering with a coordinate, a tile or a trace total is
caught; the NN kernel equals brute force; realism metrics on a fixture with known values;
realism is WARN off the enforced presets."""

import math

import numpy as np
import polars as pl
import pytest

from fraud_assets.engine.seg_1b import catalogue
from fraud_assets.engine.seg_1b import datasets as ds
from fraud_assets.engine.seg_1b import s9_validation as s9
from fraud_assets.engine.state import StateResult

from .conftest import make_ctx, make_world


def _rerun(data, ctx, **over):
    d = {**data, **over}
    return s9.run({k: d[k] for k in catalogue.S9.reads}, ctx)


def test_the_bundle_of_the_chain_passes(literal_chain):
    data, results, ctx = literal_chain
    bundle = results["S9"].bundle
    assert bundle["summary.json"]["passed"], bundle["summary.json"]["failed"]
    expected = {"structural_1B.json", "parity_1B.json", "rng_accounting.json", "realism_1B.json",
                "egress_checksums.json", "summary.json", "replay_s4_alloc_plan.json",
                "replay_s5_site_tile_assignment.json", "replay_s6_site_jitter.json", "weight_sum.json",
                "allocation_law.json", "synthesis_outside_country.json"}
    assert expected <= set(bundle)
    for chk in catalogue.S9.checks:
        outcome = chk.fn(results["S9"], data, ctx)
        assert outcome.passed or chk.name == "realism_1B", chk.name
    assert results["S9"].plots["site_map"][:8] == b"\x89PNG\r\n\x1a\n"
    trace = bundle["rng_accounting.json"]["trace"]
    assert trace["S6/1B.s6.jitter"]["keys"] == data[ds.SITE_LOCATIONS].height


def test_a_tampered_coordinate_is_caught(literal_chain):
    data, _, ctx = literal_chain
    row3 = pl.int_range(pl.len()) == 3
    loc = data[ds.SITE_LOCATIONS].with_columns(
        pl.when(row3).then(pl.col("lon_deg") + 1e-7).otherwise(pl.col("lon_deg")).alias("lon_deg"))
    res = _rerun(data, ctx, **{ds.SITE_LOCATIONS: loc})
    failed = res.bundle["summary.json"]["failed"]
    assert "parity_1B.json" in failed and "egress_parity.json" in failed
    assert not s9.check_parity(res, data, ctx).passed
    s6 = data[ds.S6_SITE_JITTER].with_columns(
        pl.when(row3).then(pl.col("lat_deg") + 1e-12).otherwise(pl.col("lat_deg")).alias("lat_deg"))
    res = _rerun(data, ctx, **{ds.S6_SITE_JITTER: s6})
    assert "replay_s6_site_jitter.json" in res.bundle["summary.json"]["failed"]
    assert not s9.check_replay(res, data, ctx).passed


def test_a_tampered_tile_is_caught(literal_chain):
    data, _, ctx = literal_chain
    s5 = data[ds.S5_SITE_TILE]
    tiles = data[ds.S4_ALLOC_PLAN].filter(pl.col("merchant_id") == 12).get_column("tile_id")
    swapped = s5.with_columns(pl.when((pl.col("merchant_id") == 12) & (pl.col("tile_id") == tiles[0]))
                              .then(pl.lit(tiles[1], dtype=pl.UInt64)).otherwise(pl.col("tile_id")).alias("tile_id"))
    res = _rerun(data, ctx, **{ds.S5_SITE_TILE: swapped})
    failed = set(res.bundle["summary.json"]["failed"])
    assert {"replay_s5_site_tile_assignment.json", "tile_quota.json"} <= failed
    assert "1B-S5-503" in res.bundle["summary.json"]["failed_codes"]


def test_a_tampered_trace_total_is_caught(literal_chain):
    data, _, ctx = literal_chain
    trace = data[ds.RNG_TRACE].with_columns(
        pl.when(pl.col("family") == "1B.s6.jitter").then(pl.col("draws") + 4).otherwise(pl.col("draws")).alias("draws"))
    res = _rerun(data, ctx, **{ds.RNG_TRACE: trace})
    assert res.bundle["summary.json"]["failed"] == ["rng_accounting.json"]
    assert not s9.check_rng_accounting(res, data, ctx).passed
    extra = pl.concat([data[ds.RNG_TRACE], pl.DataFrame([("S7", "1B.s7.surprise", 1, 1, 1)], orient="row",
                                                        schema=ds.RNG_TRACE_SCHEMA)])
    res = _rerun(data, ctx, **{ds.RNG_TRACE: extra})
    assert res.bundle["summary.json"]["failed"] == ["rng_accounting.json"]


def test_a_missing_dataset_fails_closed(literal_chain):
    data, _, ctx = literal_chain
    d = {k: v for k, v in data.items() if k != ds.S6_SITE_JITTER}
    res = s9.run({k: d.get(k) for k in catalogue.S9.reads if k in d}, ctx)
    assert not res.bundle["summary.json"]["passed"]
    assert res.bundle["structural_1B.json"]["problems"]["missing_dataset"] == [ds.S6_SITE_JITTER]


def test_nearest_neighbour_kernel_equals_brute_force():
    rng = np.random.default_rng(3)
    lat, lon = rng.uniform(-60, 60, 300), rng.uniform(-180, 180, 300)
    lat[5], lon[5] = lat[6], lon[6]  # a coincident pair
    got = s9.nearest_neighbour_km_nb(lat, lon)
    assert got.tolist() == s9.nearest_neighbour_km_py(lat.tolist(), lon.tolist())
    assert got[5] == got[6] == 0.0
    assert s9.nearest_neighbour_km_nb(np.array([1.0]), np.array([2.0]))[0] == math.inf


def _fixture_inputs():
    """4 universe countries: XA 6 sites on a 0.1° line (NN 11.1 km), XB 2, XC 2 (coincident), XD none."""
    sites = [("XA", 10.0 + 0.1 * i, 20.0, 1) for i in range(6)] + [("XB", -5.0, 30.0, 2), ("XB", -6.0, 30.0, 2)] \
        + [("XC", -7.0, 40.0, 3), ("XC", -7.0, 40.0, 3)]
    s7 = pl.DataFrame({"merchant_id": list(range(len(sites))), "legal_country_iso": [s[0] for s in sites],
                       "site_order": [1] * len(sites), "tile_id": [s[3] for s in sites],
                       "lat_deg": [s[1] for s in sites], "lon_deg": [s[2] for s in sites],
                       "placement": ["city"] * 9 + ["fallback"]},
                      schema=ds.SCHEMAS[ds.S7_SITE_SYNTHESIS])
    cu = pl.DataFrame({"country_iso": ["XA", "XB", "XC", "XD"], "continent": ["Asia", "Africa", "Africa", "Europe"],
                       "region_floor_share": [None, 0.25, 0.25, None]},
                      schema={"country_iso": pl.String, "continent": pl.String, "region_floor_share": pl.Float64})
    ti = pl.DataFrame({"country_iso": ["XA", "XB", "XC"], "tile_id": [1, 2, 3], "land_area_m2": [1e10, 1e10, 1e10]},
                      schema={"country_iso": pl.String, "tile_id": pl.UInt64, "land_area_m2": pl.Float64})
    tw = pl.DataFrame({"country_iso": ["XA", "XB", "XC"], "tile_id": [1, 2, 3], "weight_fp": [10**9] * 3,
                       "dp": [9] * 3, "pop_mass": [1.0] * 3}, schema=ds.SCHEMAS[ds.TILE_WEIGHTS])
    return {ds.S7_SITE_SYNTHESIS: s7, ds.COUNTRY_UNIVERSE: cu, ds.TILE_INDEX: ti, ds.TILE_WEIGHTS: tw}


def test_realism_metrics_on_known_values(config):
    cfg = config.model_copy(update={"validation": config.validation.model_copy(update={
        "realism": config.validation.realism.model_copy(update={"nn_min_sites": 5, "collapse_min_sites": 2,
                                                                "fidelity_min_sites": 2})})})
    m, details = s9.realism_metrics(_fixture_inputs(), make_ctx(make_world("tiny"), cfg))
    # counts over the universe [6, 2, 2, 0]: Gini = 2·Σ i·x_(i) / (n·Σx) − (n+1)/n
    assert m["country_gini"] == pytest.approx(2 * (0 * 1 + 2 * 2 + 2 * 3 + 6 * 4) / (4 * 10) - 5 / 4)
    assert m["top1"] == m["top5"] == m["top10"] == pytest.approx(0.6)  # max(1, ⌊p·4⌋) = 1 country
    assert m["coverage"] == 0.75 and m["southern_share"] == pytest.approx(0.4)
    assert m["region_floor_ratio"] == pytest.approx(0.4 / 0.25)  # Africa holds 4 of 10 sites
    assert m["coincident_share"] == pytest.approx(0.2) and m["fallback_rate"] == pytest.approx(0.1)
    nn = 6371.0088 * math.radians(0.1)
    assert m["nn_tail_ratio"] == pytest.approx(1.0, rel=1e-9)  # XA only: equal spacing
    assert m["clark_evans"] == pytest.approx(nn / (0.5 * math.sqrt(1e4 / 6)), rel=1e-6)
    assert m["tile_collapse_countries"] == 0.0 and m["placement_fidelity"] == 0.0
    assert details["universe_countries"] == 4


def test_gate_results_and_severity(literal_chain, config):
    data, results, ctx = literal_chain
    gates = config.validation.realism.gates
    res = s9.gate_results({"country_gini": 0.7, "top1": 0.05, "nn_tail_ratio": None, "clark_evans": 0.2,
                           "tile_collapse_countries": 1.0}, gates)
    assert res["country_gini"] is False and res["top1"] is True and res["nn_tail_ratio"] is None
    assert res["clark_evans"] is True and res["tile_collapse_countries"] is False
    warn = s9.check_realism(results["S9"], data, ctx)
    assert warn.severity == "WARN"
    enforced = make_ctx(make_world("medium"), config)
    assert s9.check_realism(results["S9"], data, enforced).severity == "ERROR"
    stab = s9.seed_stability([{"metrics": {"country_gini": 0.5, "top1": 0.07}},
                              {"metrics": {"country_gini": 0.52, "top1": 0.08}}], 0.3)
    assert stab["passed"] and stab["cv"]["country_gini"] == pytest.approx(0.01 / 0.51)


def test_egress_checksum_is_the_parquet_digest(literal_chain):
    from fraud_assets.core.canonical import sha256_hex
    from fraud_assets.core.store import parquet_bytes

    data, results, _ = literal_chain
    doc = results["S9"].bundle["egress_checksums.json"]
    assert doc["files"]["part-00000.parquet"] == sha256_hex(parquet_bytes(data[ds.SITE_LOCATIONS]))
    assert doc["rows"] == data[ds.SITE_LOCATIONS].height and len(doc["content_digest"]) == 64


def test_state_checks_recheck_on_written_data(literal_chain):
    data, results, ctx = literal_chain
    written = StateResult(outputs={}, bundle=results["S9"].bundle)
    assert s9.check_state_checks(written, data, ctx).passed
