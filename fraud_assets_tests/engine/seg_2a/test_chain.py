"""1A → 1B → 2A over the real reference data through `EngineRunner.build` (no Dagster): every blocking
check passes, a second build is byte-identical, seed 7 shares the seed-free timetable
(`ALREADY_PUBLISHED`), and a tampered 1B bundle is refused at 2A's gate."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest

from fraud_assets.core.canonical import sha256_file
from fraud_assets.core.errors import E_NO_PASS_NO_READ, EngineFailure
from fraud_assets.core.store import PublishStatus, WorldStore
from fraud_assets.engine import catalogue as engine_catalogue
from fraud_assets.engine.runner import EngineRunner, bundle_dir
from fraud_assets.engine.seg_2a import catalogue
from fraud_assets.engine.seg_2a import datasets as ds
from fraud_assets.engine.worlds import register
from fraud_assets.reference import catalog as reference
from fraud_assets.settings import config_root

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def home(tmp_path_factory, built_reference_root) -> Path:  # noqa: F811
    home = tmp_path_factory.mktemp("home_2a")
    shutil.copytree(built_reference_root / "reference", home / "reference")
    return home


def _build(home: Path, seed: int, through: str = "2A"):
    store = WorldStore(home)
    world, _ = register(store, config_root(), "tiny", seed, reference.reference_digests(home))
    return world, EngineRunner(store, config_root()).build(world, through=through)


def _files(home: Path, root: str) -> dict[str, str]:
    return {p.relative_to(home).as_posix(): sha256_file(p) for p in sorted((home / root).rglob("*")) if p.is_file()}


def _frame(home: Path, dataset_id: str, world) -> pl.DataFrame:
    spec = engine_catalogue.dictionary()[dataset_id]
    return pl.read_parquet(home / spec.relative_path(world.manifest_fingerprint, world.seed) / "part-00000.parquet")


@pytest.fixture(scope="module")
def tiny42(home):
    world, executions = _build(home, 42)
    return world, executions


def test_tiny_42_passes_every_gate(home, tiny42):
    world, executions = tiny42
    seg = [e for e in executions if e.spec.segment == "2A"]
    assert [e.spec.state for e in seg] == ["S0", "S1", "S2", "S3", "S4", "S5"]
    for e in seg:
        assert not e.failed_checks, (e.spec.state, {n: e.checks[n].evidence for n in e.failed_checks})
    s5 = seg[-1]
    assert s5.checks["hashgate_2A"].passed and s5.result.bundle["summary.json"]["passed"]
    sites = _frame(home, "site_locations", world)
    st = _frame(home, ds.SITE_TIMEZONES, world)
    assert st.select(ds.KEY).equals(sites.select(ds.KEY).sort(ds.KEY))
    assert st.get_column("tzid").null_count() == 0
    assert (home / bundle_dir("2A", world) / "_passed.flag").is_file()
    assert next(home.glob("reports/layer1/2A/*/seed=42/S5_tz_shares.png")).read_bytes()[:4] == b"\x89PNG"
    legality = seg[4].result.outputs[ds.S4_LEGALITY_REPORT]
    assert legality["crosscheck_mismatches"] == 0 and legality["status"] == "PASS"


def test_second_build_is_byte_identical(home, tiny42):
    world, _ = tiny42
    before = _files(home, "data/layer1/2A")
    _, executions = _build(home, 42)
    assert _files(home, "data/layer1/2A") == before
    for e in executions:
        if e.spec.segment == "2A":
            assert {r.status for r in e.published.values()} == {PublishStatus.ALREADY_PUBLISHED}, e.spec.state


def test_seed_7_shares_the_timetable(home, tiny42):
    world7, executions = _build(home, 7)
    s3 = next(e for e in executions if e.spec.segment == "2A" and e.spec.state == "S3")
    assert s3.published[ds.TZ_TIMETABLE].status is PublishStatus.ALREADY_PUBLISHED
    assert not any(e.failed_checks for e in executions if e.spec.segment == "2A")
    assert len(list(home.glob("data/layer1/2A/tz_timetable/*/part-*.parquet"))) == 1


def test_a_tampered_1b_bundle_is_refused(home, tiny42):
    world, _ = tiny42
    target = home / bundle_dir("1B", world) / "summary.json"
    original = target.read_bytes()
    try:
        target.write_bytes(original.replace(b"{", b"{ ", 1))  # one byte more in an indexed bundle file
        with pytest.raises(EngineFailure) as info:
            EngineRunner(WorldStore(home), config_root()).execute(catalogue.S0, world)
        assert info.value.code == E_NO_PASS_NO_READ and "1B" in str(info.value)
    finally:
        target.write_bytes(original)
