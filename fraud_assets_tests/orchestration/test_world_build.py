"""End to end through the real Dagster instance: build, replay, seeds, tamper, gates, identity."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from fraud_assets import cli
from fraud_assets.core.canonical import sha256_file
from fraud_assets.core.errors import E_FINGERPRINT_MISMATCH, E_NO_PASS_NO_READ, EngineFailure
from fraud_assets.core.store import PublishStatus, WorldStore
from fraud_assets.engine import catalogue
from fraud_assets.engine.runner import EngineRunner, GatedReader
from fraud_assets.engine.state import StateSpec
from fraud_assets.engine.worlds import compute_identity, load_world
from fraud_assets.reference import catalog as reference
from fraud_assets.settings import config_root

pytestmark = pytest.mark.e2e


def _data_digests(home: Path) -> dict[str, str]:
    return {p.relative_to(home).as_posix(): sha256_file(p) for p in sorted((home / "data").rglob("*")) if p.is_file()}


def _world(home: Path, seed: int):
    """The tiny world of `seed` under the repository's config."""
    store = WorldStore(home)
    identity = compute_identity(config_root(), "tiny", reference.reference_digests(home))
    return store, load_world(store, config_root(), identity.manifest_fingerprint, seed)


@pytest.fixture(scope="module")
def built(world_home):
    """The tiny world, seed 42, through every implemented segment (the README's main job)."""
    assert cli.main(["world", "build", "--preset", "tiny", "--seed", "42"]) == 0
    return world_home


def test_build_passes_every_blocking_check_and_verifies(built, capsys):
    assert cli.main(["world", "verify", "--preset", "tiny", "--seed", "42"]) == 0
    out = capsys.readouterr().out
    for seg in catalogue.segments():
        assert f"{seg.segment}: PASS" in out
        assert (next(built.glob(f"data/layer1/{seg.segment}/validation/*/seed=42")) / "_passed.flag").is_file()


def test_rebuild_in_another_process_with_other_hash_seed_and_threads_is_byte_identical(built):
    """Replay law: a second build, with another PYTHONHASHSEED and one thread, changes no byte."""
    before = _data_digests(built)
    env = {**os.environ, "PYTHONHASHSEED": "12345", "POLARS_MAX_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "fraud_assets.cli", "world", "build", "--preset", "tiny",
                           "--seed", "42"], env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert _data_digests(built) == before
    store, world = _world(built, 42)
    execution = EngineRunner(store, config_root()).execute(catalogue.writer_of("outlet_catalogue"), world)
    assert {r.status for r in execution.published.values()} == {PublishStatus.ALREADY_PUBLISHED}


def test_seed_7_is_another_world_with_the_same_fingerprint(built):
    assert cli.main(["world", "build", "--preset", "tiny", "--seed", "7", "--through", "1A"]) == 0
    _, w42 = _world(built, 42)
    _, w7 = _world(built, 7)
    assert w7.manifest_fingerprint == w42.manifest_fingerprint
    catalog_42 = pl.read_parquet(next(built.glob("data/layer1/1A/outlet_catalogue/*/seed=42/*.parquet")))
    catalog_7 = pl.read_parquet(next(built.glob("data/layer1/1A/outlet_catalogue/*/seed=7/*.parquet")))
    assert not catalog_42.drop("global_seed").equals(catalog_7.drop("global_seed"))
    # seed-free datasets are shared: one partition for both seeds
    assert len(list(built.glob("data/layer1/1A/merchant_ids/*/part-*.parquet"))) == 1


def test_downstream_read_without_a_receipt_is_refused(built):
    """A registered but unbuilt world: 1B has no S0 receipt, so it may not read 1A's catalogue."""
    assert cli.main(["world", "register", "--preset", "tiny", "--seed", "99"]) == 0
    store, world = _world(built, 99)
    with pytest.raises(EngineFailure) as info:
        GatedReader(store, world, "1B").read("outlet_catalogue")
    assert info.value.code == E_NO_PASS_NO_READ and "no S0 gate receipt" in str(info.value)


def test_a_one_byte_policy_change_is_a_new_world_and_never_overwrites(built, tmp_path, monkeypatch, capsys):
    before = _data_digests(built)
    _, old = _world(built, 42)
    changed = tmp_path / "config"
    shutil.copytree(config_root(), changed)
    hurdle = changed / "engine" / "1A" / "hurdle.yaml"
    hurdle.write_bytes(hurdle.read_bytes() + b"\n")
    monkeypatch.setenv("FRAUD_ASSETS_CONFIG", str(changed))
    assert cli.main(["world", "register", "--preset", "tiny", "--seed", "42"]) == 0
    out = capsys.readouterr().out
    assert f"parameter_hash={old.parameter_hash}" not in out
    assert old.manifest_fingerprint not in out and "manifest_fingerprint=" in out
    # the old world's S0 now fails closed against the changed config
    with pytest.raises(EngineFailure) as info:
        EngineRunner(WorldStore(built), changed).execute(catalogue.segment("1A").states[0], old)
    assert info.value.code == E_FINGERPRINT_MISMATCH
    after = _data_digests(built)
    assert {k: v for k, v in after.items() if k in before} == before


def test_tampering_fails_verify_the_hashgate_and_downstream_gates(built, tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    shutil.copytree(built / "data", home / "data")
    shutil.copytree(built / "reference", home / "reference")
    monkeypatch.setenv("FRAUD_ASSETS_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    victim = next(home.glob("data/layer1/1A/outlet_catalogue/*/seed=42/part-00000.parquet"))
    frame = pl.read_parquet(victim)
    victim.chmod(0o644)
    frame.with_columns(pl.col("site_order").reverse()).write_parquet(victim)
    relative = victim.relative_to(home).as_posix()

    assert cli.main(["world", "verify", "--preset", "tiny", "--seed", "42"]) == 1
    out = capsys.readouterr().out
    assert "1A: FAIL" in out and relative in out

    store, world = _world(home, 42)
    execution = EngineRunner(store, config_root()).execute(catalogue.segment("1A").validation_state, world)
    hashgate = execution.checks["hashgate_1A"]
    assert not hashgate.passed and any(relative in p for p in hashgate.evidence["problems"])

    downstream_s0 = StateSpec(segment="1B", state="S0", name="gate", reads=(), writes=(), run=lambda i, c: None,
                              upstream=("1A",))
    with pytest.raises(EngineFailure) as info:
        EngineRunner(store, config_root()).gate(downstream_s0, world)
    assert info.value.code == E_NO_PASS_NO_READ and relative in str(info.value)
