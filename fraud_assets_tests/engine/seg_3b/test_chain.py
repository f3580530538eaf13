"""1A → 3B over the real reference data through `EngineRunner.execute` (no Dagster): every blocking check
passes on tiny seed 42, a second build is byte-identical, seed 7 passes and shares the seed-free contract
(`ALREADY_PUBLISHED`), a tampered 1A bundle is refused at 3B's gate, and a byte flipped in the published
alias blob fails `hashgate_3B`.

3B reads 1A and reference data only (S0 `upstream=("1A",)`), so the chain runs 1A's and 3B's states
and skips 1B/2A/3A, which 3B never reads.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest

from fraud_assets.core import alias as core_alias
from fraud_assets.core.canonical import sha256_file
from fraud_assets.core.errors import E_NO_PASS_NO_READ, EngineFailure
from fraud_assets.core.store import PublishStatus, WorldStore
from fraud_assets.engine import catalogue as engine_catalogue
from fraud_assets.engine.runner import EngineRunner, bundle_dir
from fraud_assets.engine.seg_3b import catalogue
from fraud_assets.engine.seg_3b import datasets as ds
from fraud_assets.engine.worlds import register
from fraud_assets.reference import catalog as reference
from fraud_assets.settings import config_root


@pytest.fixture(scope="module")
def home(tmp_path_factory, built_reference_root) -> Path:
    home = tmp_path_factory.mktemp("home_3b")
    shutil.copytree(built_reference_root / "reference", home / "reference")
    return home


def _build(home: Path, seed: int):
    store = WorldStore(home)
    world, _ = register(store, config_root(), "tiny", seed, reference.reference_digests(home))
    runner = EngineRunner(store, config_root())
    executions = []
    for seg in ("1A", "3B"):
        for spec in engine_catalogue.segment(seg).states:
            e = runner.execute(spec, world)
            executions.append(e)
            if e.failed_checks:
                raise EngineFailure("E_CHECK_FAILED", f"{seg} {spec.state} failed",
                                    keys=e.failed_checks, evidence={n: e.checks[n].evidence for n in e.failed_checks})
    return world, executions


def _files(home: Path, root: str) -> dict[str, str]:
    return {p.relative_to(home).as_posix(): sha256_file(p) for p in sorted((home / root).rglob("*")) if p.is_file()}


def _path(home: Path, dataset_id: str, world) -> Path:
    return home / engine_catalogue.dictionary()[dataset_id].relative_path(world.manifest_fingerprint, world.seed)


@pytest.fixture(scope="module")
def tiny42(home):
    return _build(home, 42)


def test_tiny_42_passes_every_gate(home, tiny42):
    world, executions = tiny42
    seg = [e for e in executions if e.spec.segment == "3B"]
    assert [e.spec.state for e in seg] == ["S0", "S1", "S2", "S3", "S4", "S5"]
    for e in seg:
        assert not e.failed_checks, (e.spec.state, {n: e.checks[n].evidence for n in e.failed_checks})
        assert all(o.passed for n, o in e.checks.items() if n.startswith("schema_"))
    s5 = seg[-1]
    assert s5.checks["hashgate_3B"].passed and s5.result.bundle["summary.json"]["passed"]
    assert (home / bundle_dir("3B", world) / "_passed.flag").is_file()
    vc = pl.read_parquet(_path(home, ds.VIRTUAL_CLASSIFICATION, world) / "part-00000.parquet")
    assert vc.height == 50 and vc.get_column("rule_id").null_count() == 0
    edges = pl.read_parquet(_path(home, ds.EDGE_CATALOGUE, world) / "part-00000.parquet")
    blob = (_path(home, ds.EDGE_ALIAS_BLOB, world) / ds.EDGE_ALIAS_BLOB_FILE).read_bytes()
    header = core_alias.read_header(blob)
    assert header.entry_count_total == edges.height and header.table_count == vc.get_column("is_virtual").sum()
    universe = _path(home, ds.EDGE_UNIVERSE_HASH, world).read_bytes()
    assert b"edge_universe_hash" in universe
    datasets_json = (home / bundle_dir("3B", world) / "datasets.json").read_text()
    assert ds.EDGE_ALIAS_BLOB_FILE in datasets_json  # the blob is under the hash gate


def test_second_build_is_byte_identical(home, tiny42):
    before = _files(home, "data/layer1/3B")
    _, executions = _build(home, 42)
    assert _files(home, "data/layer1/3B") == before
    for e in executions:
        if e.spec.segment == "3B":
            assert {r.status for r in e.published.values()} == {PublishStatus.ALREADY_PUBLISHED}, e.spec.state


def test_seed_7_passes_and_shares_the_contract(home, tiny42):
    world7, executions = _build(home, 7)
    s4 = next(e for e in executions if e.spec.segment == "3B" and e.spec.state == "S4")
    assert s4.published[ds.VIRTUAL_VALIDATION_CONTRACT].status is PublishStatus.ALREADY_PUBLISHED
    assert s4.published[ds.VIRTUAL_ROUTING_POLICY].status is PublishStatus.PUBLISHED
    assert len(list(home.glob("data/layer1/3B/virtual_validation_contract_3B/*/part-*.parquet"))) == 1
    s5 = next(e for e in executions if e.spec.segment == "3B" and e.spec.state == "S5")
    assert s5.checks["hashgate_3B"].passed
    world42, _ = tiny42
    assert _path(home, ds.EDGE_UNIVERSE_HASH, world7).read_bytes() != _path(home, ds.EDGE_UNIVERSE_HASH,
                                                                              world42).read_bytes()


def test_a_tampered_1a_bundle_is_refused(home, tiny42):
    world, _ = tiny42
    target = next(p for p in sorted((home / bundle_dir("1A", world)).glob("*.json")) if p.name != "index.json")
    original = target.read_bytes()
    try:
        target.write_bytes(original.replace(b"{", b"{ ", 1))
        with pytest.raises(EngineFailure) as info:
            EngineRunner(WorldStore(home), config_root()).execute(catalogue.S0, world)
        assert info.value.code == E_NO_PASS_NO_READ and "1A" in str(info.value)
    finally:
        target.write_bytes(original)


def test_a_flipped_blob_byte_fails_the_hash_gate(home, tiny42):
    world, _ = tiny42
    target = _path(home, ds.EDGE_ALIAS_BLOB, world) / ds.EDGE_ALIAS_BLOB_FILE
    original = target.read_bytes()
    try:
        flipped = bytearray(original)
        flipped[-1] ^= 0x01
        target.write_bytes(bytes(flipped))
        execution = EngineRunner(WorldStore(home), config_root()).execute(catalogue.S5, world)
        assert "hashgate_3B" in execution.failed_checks
        assert any(ds.EDGE_ALIAS_BLOB_FILE in p for p in execution.checks["hashgate_3B"].evidence["problems"])
    finally:
        target.write_bytes(original)
