"""`fraud-assets services up|down|status|env` for the parity lane, driven through the CLI
in subprocesses (the services must outlive the command that started them)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import fraud_assets
from fraud_assets.platform.services import command, free_port, manager, pid_alive

REPO = Path(fraud_assets.__file__).resolve().parents[1]


def cli(home: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(REPO), "FRAUD_ASSETS_HOME": str(home), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "fraud_assets.platform.services.command", "services", *args],
        env=full_env, capture_output=True, text=True, timeout=timeout, cwd=REPO,
    )


def recorded_pids(home: Path) -> dict[str, int]:
    state = json.loads((home / "services" / "state.json").read_text())
    return {name: int(entry["pid"]) for name, entry in state.items()}


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    home = tmp_path_factory.mktemp("home")
    ports = {"FRAUD_ASSETS_PG_PORT": str(free_port()), "FRAUD_ASSETS_KAFKA_PORT": str(free_port()),
             "FRAUD_ASSETS_S3_PORT": str(free_port())}
    t0 = time.monotonic()
    up = cli(home, "up", "--json", env=ports)
    info = {"home": home, "env": ports, "up": up, "up_seconds": time.monotonic() - t0}
    try:
        yield info
    finally:
        cli(home, "down")


# ---------------------------------------------------------------- integration


@pytest.mark.integration
def test_up_then_status_healthy_within_30s(services: dict) -> None:
    up = services["up"]
    assert up.returncode == 0, up.stderr
    assert services["up_seconds"] < 60  # includes initdb; health itself is awaited inside `up`
    deadline = time.monotonic() + 30
    while True:
        status = cli(services["home"], "status", "--json")
        doc = json.loads(status.stdout)
        if doc["healthy"] or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert list(doc) == ["postgres_dsn", "kafka_bootstrap", "s3_endpoint", "healthy"]
    assert doc["healthy"] is True and status.returncode == 0
    env = services["env"]
    assert doc["postgres_dsn"] == f"postgresql://postgres@127.0.0.1:{env['FRAUD_ASSETS_PG_PORT']}/fraud_assets"
    assert doc["kafka_bootstrap"] == f"127.0.0.1:{env['FRAUD_ASSETS_KAFKA_PORT']}"
    assert doc["s3_endpoint"] == f"http://127.0.0.1:{env['FRAUD_ASSETS_S3_PORT']}"
    assert json.loads(up.stdout) == doc


@pytest.mark.integration
def test_up_is_idempotent(services: dict) -> None:
    before = recorded_pids(services["home"])
    again = cli(services["home"], "up", "--json", env=services["env"])
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["healthy"] is True
    assert recorded_pids(services["home"]) == before


@pytest.mark.integration
def test_up_on_other_ports_while_running_is_refused(services: dict) -> None:
    other = {**services["env"], "FRAUD_ASSETS_S3_PORT": str(free_port())}
    res = cli(services["home"], "up", env=other)
    assert res.returncode == 2 and "services down" in res.stderr


@pytest.mark.integration
def test_parity_endpoints_work(services: dict) -> None:
    from fraud_assets.platform.db.postgres import PostgresStore
    from fraud_assets.platform.objects.s3 import S3ObjectStore
    from fraud_assets.platform.services import tansu

    doc = json.loads(cli(services["home"], "status", "--json").stdout)
    store = PostgresStore(doc["postgres_dsn"], "services_smoke")
    try:
        assert store.probe()
    finally:
        store.close()
    objects = S3ObjectStore(manager.DEFAULT_BUCKET, endpoint=doc["s3_endpoint"])
    assert objects.publish("smoke/one.txt", b"1").status.value == "PUBLISHED"
    assert tansu.is_healthy(doc["kafka_bootstrap"])


@pytest.mark.integration
def test_dagster_instance_uses_postgres_storage(services: dict, tmp_path: Path) -> None:
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(REPO / "deploy" / "local_parity" / "dagster.yaml", dagster_home / "dagster.yaml")
    exports = cli(services["home"], "env")
    assert exports.returncode == 0, exports.stderr
    env = dict(line.removeprefix("export ").split("=", 1) for line in exports.stdout.splitlines())
    assert env["FRAUD_ASSETS_DAGSTER_PG_URL"].endswith("/dagster")
    run_env = {**os.environ, "DAGSTER_HOME": str(dagster_home),
               "FRAUD_ASSETS_DAGSTER_PG_URL": env["FRAUD_ASSETS_DAGSTER_PG_URL"]}
    for args in (["instance", "migrate"], ["instance", "info"]):
        res = subprocess.run([sys.executable, "-m", "dagster", *args], env=run_env, capture_output=True,
                             text=True, timeout=180, cwd=tmp_path)
        assert res.returncode == 0, res.stdout + res.stderr
    assert "run_storage: PostgresRunStorage" in res.stdout
    assert "event_log_storage: PostgresEventLogStorage" in res.stdout
    assert "schedule_storage: PostgresScheduleStorage" in res.stdout
    from fraud_assets.platform.db.postgres import admin_query

    tables = {r[0] for r in admin_query(env["FRAUD_ASSETS_DAGSTER_PG_URL"],
                                        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"runs", "event_logs", "jobs"} <= tables


@pytest.mark.integration
def test_down_stops_everything(services: dict) -> None:
    pids = recorded_pids(services["home"])
    res = cli(services["home"], "down")
    assert res.returncode == 0, res.stderr
    assert not any(pid_alive(pid) for pid in pids.values())
    status = cli(services["home"], "status", "--json")
    assert status.returncode == 1
    assert json.loads(status.stdout) == {"postgres_dsn": None, "kafka_bootstrap": None, "s3_endpoint": None,
                                         "healthy": False}
    assert cli(services["home"], "down").returncode == 0  # idempotent


# ---------------------------------------------------------------- unit


def test_status_without_services_is_unhealthy(tmp_path: Path) -> None:
    st = manager.status(tmp_path)
    assert st.public() == {"postgres_dsn": None, "kafka_bootstrap": None, "s3_endpoint": None, "healthy": False}


def test_ports_from_flags_env_and_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in manager.PORT_ENV.values():
        monkeypatch.delenv(var, raising=False)
    assert manager.ServicePorts.resolve() == manager.ServicePorts(55432, 59092, 59000)
    monkeypatch.setenv("FRAUD_ASSETS_KAFKA_PORT", "6000")
    assert manager.ServicePorts.resolve(postgres=7000) == manager.ServicePorts(7000, 6000, 59000)


def test_add_subcommand_registers_services_with_a_handler() -> None:
    parser = argparse.ArgumentParser(prog="fraud-assets")
    sub = parser.add_subparsers(dest="command")
    command.add_subcommand(sub)
    args = parser.parse_args(["services", "status", "--json", "--home", "/x"])
    assert args.func is command.handler and args.services_action == "status" and args.json
    args = parser.parse_args(["services", "up", "--pg-port", "1234"])
    assert args.pg_port == 1234 and args.kafka_port is None
    with pytest.raises(SystemExit):
        parser.parse_args(["services"])


def test_env_exports_follow_the_profile_variables() -> None:
    st = manager.ServicesStatus("postgresql://postgres@127.0.0.1:1/fraud_assets", "127.0.0.1:2",
                                "http://127.0.0.1:3", True, {"s3": {"bucket": "b"}})
    assert st.env() == {
        "FRAUD_ASSETS_PG_DSN": "postgresql://postgres@127.0.0.1:1/fraud_assets",
        "FRAUD_ASSETS_DAGSTER_PG_URL": "postgresql://postgres@127.0.0.1:1/dagster",
        "FRAUD_ASSETS_KAFKA_BOOTSTRAP": "127.0.0.1:2",
        "FRAUD_ASSETS_S3_ENDPOINT": "http://127.0.0.1:3",
        "FRAUD_ASSETS_S3_BUCKET": "b",
    }
