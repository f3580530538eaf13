"""1A → 1B → 2A → 3A over the real reference data through `EngineRunner.build` (no Dagster): every blocking
check passes, re-running 3A is byte-identical (`ALREADY_PUBLISHED`), seed 7 shares the seed-free priors
while its zone_alloc partition coexists, and a missing or tampered upstream gate is refused."""

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
from fraud_assets.engine.seg_3a import catalogue
from fraud_assets.engine.seg_3a import datasets as ds
from fraud_assets.engine.worlds import register
from fraud_assets.reference import catalog as reference
from fraud_assets.settings import config_root

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def home(tmp_path_factory, built_reference_root) -> Path:
    home = tmp_path_factory.mktemp("home_3a")
    shutil.copytree(built_reference_root / "reference", home / "reference")
    return home


def _world(home: Path, seed: int):
    return register(WorldStore(home), config_root(), "tiny", seed, reference.reference_digests(home))[0]


def _build(home: Path, seed: int):
    world = _world(home, seed)
    return world, EngineRunner(WorldStore(home), config_root()).build(world, through="3A")


def _files(home: Path, root: str) -> dict[str, str]:
    return {p.relative_to(home).as_posix(): sha256_file(p) for p in sorted((home / root).rglob("*")) if p.is_file()}


def _frame(home: Path, dataset_id: str, world) -> pl.DataFrame:
    spec = engine_catalogue.dictionary()[dataset_id]
    return pl.read_parquet(home / spec.relative_path(world.manifest_fingerprint, world.seed) / "part-00000.parquet")


@pytest.fixture(scope="module")
def tiny42(home):
    return _build(home, 42)


def test_tiny_42_passes_every_gate_and_conserves_1a(home, tiny42):
    world, executions = tiny42
    seg = [e for e in executions if e.spec.segment == "3A"]
    assert [e.spec.state for e in seg] == ["S0", "S2", "S1", "S3", "S4", "S5", "S6", "S7"]
    for e in seg:
        assert not e.failed_checks, (e.spec.state, {n: e.checks[n].evidence for n in e.failed_checks})
    s7 = seg[-1]
    assert s7.checks["hashgate_3A"].passed and s7.result.bundle["summary.json"]["passed"]
    assert (home / bundle_dir("3A", world) / "_passed.flag").is_file()
    oc = _frame(home, "outlet_catalogue", world)
    alloc = _frame(home, ds.ZONE_ALLOC, world)
    n1a = oc.group_by("merchant_id", "legal_country_iso").len("n")
    got = alloc.group_by("merchant_id", "legal_country_iso").agg(pl.col("zone_site_count").sum().alias("n"))
    assert n1a.sort("merchant_id", "legal_country_iso").equals(
        got.sort("merchant_id", "legal_country_iso").cast({"n": n1a.schema["n"]}))
    trace = EngineRunner(WorldStore(home), config_root()).read_trace("3A", world)
    assert set(trace.get_column("family").to_list()) == {"3A.s1.escalation", "3A.s3.dispersion", "3A.s3.dirichlet"}
    receipt = (home / "data/layer1/3A/receipts" / f"manifest_fingerprint={world.manifest_fingerprint}"
               / "seed=42" / "sealed_inputs.parquet")
    sealed = set(pl.read_parquet(receipt).get_column("input_id").to_list())
    assert {"outlet_catalogue", "site_timezones", "ref.tzdb_zone_tab", "ref.tzdb_links",
            "config.engine/3A/zone_mixture_policy.yaml"} <= sealed
    assert not sealed & {d.id for d in ds.DATASETS}


def test_rerunning_3a_is_byte_identical(home, tiny42):
    world, _ = tiny42
    before = _files(home, "data/layer1/3A")
    runner = EngineRunner(WorldStore(home), config_root())
    for spec in catalogue.STATES:
        e = runner.execute(spec, world)
        assert {r.status for r in e.published.values()} == {PublishStatus.ALREADY_PUBLISHED}, spec.state
        assert not e.failed_checks
    assert _files(home, "data/layer1/3A") == before


def test_seed_7_shares_the_priors_and_coexists(home, tiny42):
    world42, _ = tiny42
    world7, executions = _build(home, 7)
    seg = {e.spec.state: e for e in executions if e.spec.segment == "3A"}
    assert not any(e.failed_checks for e in seg.values())
    assert seg["S2"].published[ds.S2_PRIORS].status is PublishStatus.ALREADY_PUBLISHED
    assert len(list(home.glob("data/layer1/3A/s2_country_zone_priors/*/part-*.parquet"))) == 1
    assert len(list(home.glob("data/layer1/3A/zone_alloc/*/seed=*/part-*.parquet"))) == 2
    h42 = _frame(home, ds.ZONE_ALLOC, world42).get_column("routing_universe_hash").unique().to_list()
    h7 = _frame(home, ds.ZONE_ALLOC, world7).get_column("routing_universe_hash").unique().to_list()
    assert len(h42) == len(h7) == 1 and h42 != h7


def test_a_missing_upstream_pass_flag_is_refused(home, tiny42):
    world, _ = tiny42
    flag = home / bundle_dir("2A", world) / "_passed.flag"
    saved = flag.read_bytes()
    try:
        flag.unlink()
        with pytest.raises(EngineFailure) as info:
            EngineRunner(WorldStore(home), config_root()).execute(catalogue.S0, world)
        assert info.value.code == E_NO_PASS_NO_READ and "2A" in str(info.value)
    finally:
        flag.write_bytes(saved)


def test_a_tampered_upstream_file_is_refused(home, tiny42):
    world, _ = tiny42
    spec = engine_catalogue.dictionary()["site_timezones"]
    target = home / spec.relative_path(world.manifest_fingerprint, world.seed) / "part-00000.parquet"
    original = target.read_bytes()
    runner = EngineRunner(WorldStore(home), config_root())
    try:
        target.write_bytes(original + b"\0")  # one byte more in 2A's egress
        with pytest.raises(EngineFailure) as info:  # S0: 2A's bundle no longer verifies
            runner.execute(catalogue.S0, world)
        assert info.value.code == E_NO_PASS_NO_READ and "2A" in str(info.value)
        with pytest.raises(EngineFailure) as info:  # a later read: bytes changed since S0 sealed them
            runner.execute(catalogue.S3, world)
        assert info.value.code == E_NO_PASS_NO_READ and "site_timezones" in str(info.value)
    finally:
        target.write_bytes(original)
    assert not runner.execute(catalogue.S3, world).failed_checks
