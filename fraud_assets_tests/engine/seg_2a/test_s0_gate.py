"""2A S0: policy, horizon, tz_world and tzdata validations, each failing with its spec code."""

from __future__ import annotations

import datetime as dt
from datetime import date

import polars as pl
import pytest
import shapely

from fraud_assets.core.errors import EngineFailure
from fraud_assets.core.identity import World, WorldPreset
from fraud_assets.engine.common.tz_resolve import TzWorld
from fraud_assets.engine.seg_2a import catalogue, common
from fraud_assets.engine.seg_2a import datasets as ds
from fraud_assets.engine.seg_2a import s0_gate as s0
from fraud_assets.engine.seg_2a.config import OverrideRow, load_config
from fraud_assets.engine.seg_2a.overrides import validate_overrides
from fraud_assets_tests.engine.seg_2a.conftest import CONFIG_DIR, make_ctx, make_world, with_config

CIVIL = frozenset({"Europe/Paris", "Europe/Belgrade", "Asia/Hebron"})
HORIZON = date(2026, 3, 27)


def row(**kw) -> OverrideRow:
    base = {"scope": "country", "target": "RS", "tzid": "Europe/Belgrade", "applies_to": "unresolved",
            "expiry": None, "notes": "ladder picks Budapest on the Danube border"}
    return OverrideRow(**{**base, **kw})


def problems(*rows: OverrideRow) -> list[str]:
    return validate_overrides(list(rows), CIVIL, {5411, 4829}, {"RS", "FR", "PS"}, HORIZON)


def test_nudge_range():
    assert s0.validate_nudge(0.002) == [] and s0.validate_nudge(0.01) == []
    assert s0.validate_nudge(0.0) and s0.validate_nudge(-0.001) and s0.validate_nudge(0.0100001)


@pytest.mark.parametrize("bad", [
    row(tzid="Mars/Olympus"),                                   # unknown tzid
    row(tzid="Etc/GMT+1"),                                      # not a civil tz_world tzid
    row(scope="site", target="12|RS"),                          # bad site target
    row(scope="site", target="012|RS|1"),
    row(scope="site", target="12|ZZ|1"),                        # unknown country in a site target
    row(scope="mcc", target="541"),
    row(scope="mcc", target="9999"),                            # not in mcc_codes
    row(scope="country", target="ZZ"),
    row(scope="region", target="EU"),
    row(applies_to="sometimes"),
    row(notes=None), row(notes="  "),                           # missing provenance
])
def test_each_bad_override_row_is_rejected(bad):
    assert problems(bad)


def test_good_rows_and_active_duplicates():
    good = [row(), row(scope="site", target="123|FR|2", tzid="Europe/Paris", applies_to="always"),
            row(scope="mcc", target="5411", tzid="Asia/Hebron")]
    assert problems(*good) == []
    assert problems(row(), row(tzid="Europe/Paris"))                       # two active rows, same target
    assert problems(row(), row(applies_to="always")) == []                 # different applies_to
    assert problems(row(expiry=date(2026, 3, 26)), row()) == []            # the first expired before the horizon
    assert problems(row(expiry=date(2026, 3, 27)), row())                  # expiry = horizon start: still active


def test_horizon():
    ok = make_world("tiny").preset
    assert s0.validate_horizon(ok) == []
    noon = WorldPreset("tiny", 50, dt.datetime(2026, 3, 27, 12, tzinfo=dt.timezone.utc), 3)
    long = WorldPreset("tiny", 50, ok.horizon_start_utc, 121)
    zero = WorldPreset("tiny", 50, ok.horizon_start_utc, 0)
    assert s0.validate_horizon(noon) and s0.validate_horizon(long) and s0.validate_horizon(zero)


def test_unknown_config_key_is_config_invalid(tmp_path):
    for f in CONFIG_DIR.glob("*.yaml"):
        (tmp_path / f.name).write_bytes(f.read_bytes())
    (tmp_path / "tz_nudge.yaml").write_text("version: v1\nepsilon_degrees: 0.002\nepsilon: 1\n")
    with pytest.raises(EngineFailure) as info:
        load_config(tmp_path)
    assert info.value.code == "2A-S0-001"


def _tz_world(polygons: list[tuple[str, shapely.Polygon]]) -> pl.DataFrame:
    geoms = [p for _, p in polygons]
    b = shapely.bounds(geoms)
    return pl.DataFrame({
        "tzid": [t for t, _ in polygons], "part_id": list(range(len(polygons))),
        "is_civil": [not t.startswith("Etc/") for t, _ in polygons],
        "geometry": [shapely.to_wkb(g) for g in geoms],
        "min_lon_deg": b[:, 0], "min_lat_deg": b[:, 1], "max_lon_deg": b[:, 2], "max_lat_deg": b[:, 3],
        "n_vertices": [int(shapely.get_num_coordinates(g)) for g in geoms],
    }, schema_overrides={"part_id": pl.Int32, "n_vertices": pl.Int32})


def test_tz_world_validation():
    available = frozenset(common.tzif_bytes())
    good = _tz_world([("Europe/Paris", shapely.box(0, 40, 5, 50)), ("Etc/GMT", shapely.box(-10, 40, 0, 50))])
    assert s0.validate_tz_world(good, TzWorld(good), available) == []
    bowtie = shapely.Polygon([(0, 0), (2, 2), (2, 0), (0, 2)])
    assert any("invalid" in p for p in s0.validate_tz_world(
        _tz_world([("Europe/Paris", bowtie)]), TzWorld(_tz_world([("Europe/Paris", bowtie)])), available))
    unknown = _tz_world([("Mars/Olympus", shapely.box(0, 0, 1, 1))])
    assert any("do not load" in p for p in s0.validate_tz_world(unknown, TzWorld(unknown), available))
    assert s0.validate_tz_world(good.head(0), None, available) == ["tz_world is empty"]


def test_tzdb_digest_mismatch_on_a_swapped_wheel(refs):
    installed = common.tzif_bytes()
    assert s0.validate_tzdb_digest(refs[ds.REF_TZIF_DIGEST], installed)[0] == []
    fixture = refs[ds.REF_TZIF_DIGEST].with_columns(  # the digest another wheel would have sealed
        pl.when(pl.col("tzid") == "America/New_York").then(pl.lit("0" * 64)).otherwise(pl.col("tzif_sha256"))
        .alias("tzif_sha256"))
    found, _ = s0.validate_tzdb_digest(fixture, installed)
    assert found and "America/New_York" in found[0]
    assert s0.validate_tzdb_digest(fixture.filter(pl.col("tzid") != "UTC"), installed)[0]


def test_run_records_every_code_and_the_checks_fail_with_it(refs, config):
    inputs = {k: refs[k] for k in catalogue.S0.reads}
    ctx = make_ctx(make_world("tiny"), with_config(config, tz_nudge={"epsilon_degrees": 0.0}, tz_overrides={
        "overrides": [row(tzid="Mars/Olympus").model_dump(mode="json")]}))
    res = s0.run(inputs, ctx)
    receipt = res.outputs[ds.S0_TZ_RECEIPT]
    assert receipt["passed"] is False
    outcomes = {c.code: c.fn(res, inputs, ctx) for c in catalogue.S0.checks}
    assert not outcomes[s0.CODE_NUDGE_POLICY_INVALID].passed
    assert not outcomes[s0.CODE_OVERRIDES_INVALID].passed
    assert outcomes[s0.CODE_TZ_WORLD_INVALID].passed and outcomes[s0.CODE_TZDB_DIGEST_MISMATCH].passed
    assert outcomes[s0.CODE_HORIZON_INVALID].passed
    assert outcomes[s0.CODE_NUDGE_POLICY_INVALID].evidence["code"] == "2A-S0-021"


def test_run_on_the_real_reference(refs, config):
    res = s0.run({k: refs[k] for k in catalogue.S0.reads}, make_ctx(make_world("small"), config))
    receipt = res.outputs[ds.S0_TZ_RECEIPT]
    assert receipt["passed"] is True
    assert receipt["tzif_digest"] and receipt["iana_version"] and receipt["tz_world_data_version"]
    assert receipt["horizon"] == {"start_utc": "2026-03-02T00:00:00Z", "end_utc": "2026-03-16T00:00:00Z", "days": 14}
    zones = res.outputs[ds.S0_COUNTRY_ZONES]
    vn = zones.filter(pl.col("country_iso") == "VN").sort("rank")
    assert vn.get_column("tzid").to_list() == ["Asia/Ho_Chi_Minh", "Asia/Bangkok"]
    assert vn.get_column("in_zone_tab").to_list() == [True, False]
    summary = res.outputs[ds.S0_TZ_WORLD_SUMMARY]
    assert summary.filter(~pl.col("is_civil")).get_column("tzid").str.starts_with("Etc/").all()


def test_world_is_a_world():
    assert isinstance(make_world(), World)
