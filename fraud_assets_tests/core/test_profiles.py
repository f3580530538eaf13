"""Profiles: YAML + environment, unknown keys rejected, locators never silently missing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fraud_assets.core.errors import E_CONFIG_INVALID, EngineFailure
from fraud_assets.core.profiles import (
    CONFIG_DIR,
    E_CONFIG_PLACEHOLDER_UNRESOLVED,
    E_LOCATOR_MISSING,
    E_RTDL_LOCATOR_MISSING,
    PROFILE_NAMES,
    load_profile,
)

PARITY_PG = "postgresql://postgres@127.0.0.1:55432/fraud_assets"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in list(os.environ):
        if var.startswith("FRAUD_ASSETS_"):
            monkeypatch.delenv(var)


def write_profile(tmp_path: Path, name: str, text: str) -> Path:
    (tmp_path / f"{name}.yaml").write_text(text)
    return tmp_path


def test_every_shipped_profile_file_exists() -> None:
    assert sorted(p.stem for p in CONFIG_DIR.glob("*.yaml")) == sorted(PROFILE_NAMES)


def test_local_is_embedded_with_zero_services() -> None:
    p = load_profile("local")
    assert p.name == "local"
    assert (p.world_store.kind, p.bus.kind, p.db.kind, p.objects.kind) == ("local", "sqlite", "sqlite", "local")
    assert p.rtdl.clock == "drain"
    assert p.home == Path("./.fraud_assets")
    assert p.bus_sqlite_path == p.home_dir / "platform" / "eb" / "eb.sqlite"
    assert p.sql_for("ig").kind == "sqlite" and p.sql_for("ig").dsn is None
    knobs = p.engine.knobs("5b", "S4")
    assert (knobs.workers, knobs.in_process_below_arrivals, knobs.progress_interval_s) == (2, 2_000_000, 10)


def test_local_parity_defaults_match_services_up() -> None:
    p = load_profile("local_parity")
    assert (p.bus.kind, p.db.kind, p.objects.kind) == ("kafka", "postgres", "s3")
    assert p.db.dsn == PARITY_PG and p.bus.kafka.bootstrap == "127.0.0.1:59092"
    assert p.bus.kafka.idempotence == "required"
    assert p.objects.endpoint == "http://127.0.0.1:59000" and p.objects.bucket == "fraud-assets"
    assert p.rtdl_dsn("df") == PARITY_PG and p.rtdl.clock == "wall"
    assert p.sql_for("registry").dsn == PARITY_PG


def test_profile_name_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_profile().name == "local"
    monkeypatch.setenv("FRAUD_ASSETS_PROFILE", "local_parity")
    assert load_profile().name == "local_parity"


def test_unknown_profile_name_is_an_error() -> None:
    with pytest.raises(EngineFailure) as info:
        load_profile("prod")
    assert info.value.code == E_CONFIG_INVALID


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("bogus: 1\n", "bogus"),
        ("db:\n  kind: sqlite\n  dns: x\n", "db.dns"),
        ("engine:\n  exec:\n    5B:\n      s4: {worker: 2}\n", "worker"),
        ("rtdl:\n  clock: sometimes\n", "rtdl.clock"),
    ],
)
def test_unknown_or_invalid_keys_in_the_file_are_rejected(tmp_path: Path, text: str, where: str) -> None:
    with pytest.raises(EngineFailure) as info:
        load_profile("local", config_dir=write_profile(tmp_path, "local", text))
    assert info.value.code == E_CONFIG_INVALID and where in str(info.value)


def test_unknown_nested_key_in_the_environment_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAUD_ASSETS_DB__DNS", "postgresql://x")
    with pytest.raises(EngineFailure) as info:
        load_profile("local")
    assert info.value.code == E_CONFIG_INVALID and "db.dns" in str(info.value)


def test_environment_overrides_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FRAUD_ASSETS_HOME", str(tmp_path / "h"))
    monkeypatch.setenv("FRAUD_ASSETS_DB__DSN", "postgresql://u@db.internal:5432/fa")
    monkeypatch.setenv("FRAUD_ASSETS_RTDL__BATCH_MAX_RECORDS__DF", "32")
    monkeypatch.setenv("FRAUD_ASSETS_ENGINE__EXEC__5B__S4__WORKERS", "4")
    monkeypatch.setenv("FRAUD_ASSETS_BUS__KAFKA__BOOTSTRAP", "127.0.0.1:9999")
    p = load_profile("local_parity")
    assert p.home_dir == (tmp_path / "h").resolve()
    assert p.db.dsn == "postgresql://u@db.internal:5432/fa"
    assert p.rtdl_dsn("ieg") == PARITY_PG  # a field override touches that field only
    assert p.rtdl.batch_max_records.df == 32 and p.rtdl.batch_max_records.ieg == 500
    knobs = p.engine.knobs("5B", "s4")
    assert (knobs.workers, knobs.in_process_below_arrivals) == (4, 2_000_000)  # merged, not replaced
    assert p.bus.kafka.bootstrap == "127.0.0.1:9999" and p.bus.kafka.idempotence == "required"


def test_placeholders_take_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAUD_ASSETS_PG_DSN", "postgresql://postgres@127.0.0.1:6000/fraud_assets")
    p = load_profile("local_parity")
    assert p.db.dsn == p.rtdl_dsn("dla") == "postgresql://postgres@127.0.0.1:6000/fraud_assets"


def test_unresolved_placeholder_is_a_startup_error(tmp_path: Path) -> None:
    cfg = write_profile(tmp_path, "local", "db:\n  kind: postgres\n  dsn: ${FA_TEST_SURELY_UNSET}\n")
    with pytest.raises(EngineFailure) as info:
        load_profile("local", config_dir=cfg)
    assert info.value.code == E_CONFIG_PLACEHOLDER_UNRESOLVED and "db.dsn" in str(info.value)


def test_missing_locator_in_parity_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAUD_ASSETS_DB__DSN", "")
    with pytest.raises(EngineFailure) as info:
        load_profile("local_parity")
    assert info.value.code == E_LOCATOR_MISSING and info.value.keys == ["db.dsn"]


def test_missing_bus_and_object_locators(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAUD_ASSETS_BUS__KAFKA__BOOTSTRAP", "")
    monkeypatch.setenv("FRAUD_ASSETS_OBJECTS__ENDPOINT", "")
    with pytest.raises(EngineFailure) as info:
        load_profile("local_parity")
    assert info.value.code == E_LOCATOR_MISSING
    assert info.value.keys == ["bus.kafka.bootstrap", "objects.endpoint"]


def test_missing_rtdl_dsn_is_the_rtdl_code(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAUD_ASSETS_RTDL__DSN__DF", "")
    with pytest.raises(EngineFailure) as info:
        load_profile("local_parity")
    assert info.value.code == E_RTDL_LOCATOR_MISSING and info.value.keys == ["rtdl.dsn.df"]


def test_parity_never_falls_back_to_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAUD_ASSETS_DB__KIND", "sqlite")
    with pytest.raises(EngineFailure) as info:
        load_profile("local_parity")
    assert info.value.code == E_LOCATOR_MISSING and "db.kind (postgres required)" in info.value.keys


def test_dev_min_without_environment_lists_every_missing_locator() -> None:
    with pytest.raises(EngineFailure) as info:
        load_profile("dev_min")
    assert info.value.code == E_LOCATOR_MISSING
    for field in ("world_store.locator", "bus.kafka.bootstrap", "db.dsn", "objects.bucket"):
        assert field in str(info.value)


def test_dev_min_loads_with_its_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAUD_ASSETS_WORLD_LOCATOR", "s3://fa-world/worlds")
    monkeypatch.setenv("FRAUD_ASSETS_KAFKA_BOOTSTRAP", "b-1.msk.internal:9092")
    monkeypatch.setenv("FRAUD_ASSETS_PG_DSN", "postgresql://fa@rds.internal:5432/fa")
    monkeypatch.setenv("FRAUD_ASSETS_S3_BUCKET", "fa-evidence")
    p = load_profile("dev_min")
    assert (p.launcher, p.objects.endpoint, p.bus.kafka.compression) == ("ecs", None, "lz4")
    assert p.world_root == "s3://fa-world/worlds" and p.rtdl_dsn("al") == "postgresql://fa@rds.internal:5432/fa"


def test_sql_component_override(tmp_path: Path) -> None:
    cfg = write_profile(
        tmp_path, "local",
        "db:\n  kind: sqlite\n  ig:\n    kind: postgres\n    dsn: postgresql://x@127.0.0.1:1/ig\n    pool: {max_size: 8}\n",
    )
    p = load_profile("local", config_dir=cfg)
    ig = p.sql_for("ig")
    assert (ig.kind, ig.dsn, ig.pool.max_size) == ("postgres", "postgresql://x@127.0.0.1:1/ig", 8)
    assert p.sql_for("sr").kind == "sqlite"
    with pytest.raises(KeyError):
        p.sql_for("ieg")
