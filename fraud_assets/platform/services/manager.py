"""The parity lane's services: PostgreSQL, Tansu (Kafka protocol) and moto (S3).

`up` starts whatever is not already running and healthy (idempotent), each
daemonised on 127.0.0.1 with its data under `$FRAUD_ASSETS_HOME/services/<name>/`,
and records pids and ports in `services/state.json`; `down` stops them all and
checks that no process is left; `status` health-checks each one.

Ports: explicit arguments, else `FRAUD_ASSETS_PG_PORT`, `FRAUD_ASSETS_KAFKA_PORT`,
`FRAUD_ASSETS_S3_PORT`, else 55432 / 59092 / 59000 (the `local_parity` profile's
defaults). PostgreSQL gets the databases `fraud_assets` (platform stores) and
`dagster` (dagster-postgres instance storage); moto gets the bucket `fraud-assets`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import signal

from fraud_assets.platform.services import pid_alive, stop_pid
from fraud_assets.platform.services import postgres as pg
from fraud_assets.platform.services import s3

DEFAULT_PORTS = {"postgres": 55432, "kafka": 59092, "s3": 59000}
PORT_ENV = {"postgres": "FRAUD_ASSETS_PG_PORT", "kafka": "FRAUD_ASSETS_KAFKA_PORT", "s3": "FRAUD_ASSETS_S3_PORT"}
DEFAULT_BUCKET = "fraud-assets"
DATABASES = ("fraud_assets", "dagster")
SERVICES = ("postgres", "kafka", "s3")
STATE_FILE = "state.json"
# Tansu shuts down on SIGINT at once but may hang on SIGTERM while clients are connected.
_TANSU_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class ServicesError(RuntimeError):
    pass


@dataclass(frozen=True)
class ServicePorts:
    postgres: int = DEFAULT_PORTS["postgres"]
    kafka: int = DEFAULT_PORTS["kafka"]
    s3: int = DEFAULT_PORTS["s3"]

    @classmethod
    def resolve(cls, postgres: int | None = None, kafka: int | None = None, s3: int | None = None) -> ServicePorts:
        given = {"postgres": postgres, "kafka": kafka, "s3": s3}
        out = {}
        for name in SERVICES:
            value = given[name]
            if value is None and os.environ.get(PORT_ENV[name]):
                value = int(os.environ[PORT_ENV[name]])
            out[name] = int(value) if value is not None else DEFAULT_PORTS[name]
        return cls(**out)


@dataclass
class ServicesStatus:
    postgres_dsn: str | None = None
    kafka_bootstrap: str | None = None
    s3_endpoint: str | None = None
    healthy: bool = False
    services: dict[str, dict[str, Any]] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        """Exactly the four keys `services status --json` prints."""
        return {
            "postgres_dsn": self.postgres_dsn,
            "kafka_bootstrap": self.kafka_bootstrap,
            "s3_endpoint": self.s3_endpoint,
            "healthy": self.healthy,
        }

    def env(self) -> dict[str, str]:
        """The variables the `local_parity` profile and deploy/local_parity/dagster.yaml read."""
        out: dict[str, str] = {}
        if self.postgres_dsn:
            out["FRAUD_ASSETS_PG_DSN"] = self.postgres_dsn
            out["FRAUD_ASSETS_DAGSTER_PG_URL"] = self.postgres_dsn.rsplit("/", 1)[0] + "/dagster"
        if self.kafka_bootstrap:
            out["FRAUD_ASSETS_KAFKA_BOOTSTRAP"] = self.kafka_bootstrap
        if self.s3_endpoint:
            out["FRAUD_ASSETS_S3_ENDPOINT"] = self.s3_endpoint
            bucket = self.services.get("s3", {}).get("bucket")
            if bucket:
                out["FRAUD_ASSETS_S3_BUCKET"] = bucket
        return out


def services_dir(home: str | Path) -> Path:
    return Path(home).expanduser().resolve() / "services"


# ------------------------------------------------------------------ state file


def _read_state(sdir: Path) -> dict[str, dict[str, Any]]:
    try:
        return json.loads((sdir / STATE_FILE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _write_state(sdir: Path, state: dict[str, dict[str, Any]]) -> None:
    tmp = sdir / f".{STATE_FILE}.tmp"
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, sdir / STATE_FILE)


@contextlib.contextmanager
def _locked(sdir: Path) -> Iterator[None]:
    sdir.mkdir(parents=True, exist_ok=True)
    with open(sdir / ".lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# ------------------------------------------------------------------ health


def _tansu():  # imported lazily: owned by the bus work, may be absent in a partial checkout
    from fraud_assets.platform.services import tansu

    return tansu


def _healthy(name: str, entry: dict[str, Any]) -> bool:
    try:
        if name == "postgres":
            return pg.is_healthy(entry["dsn"])
        if name == "kafka":
            return pid_alive(entry.get("pid")) and bool(_tansu().is_healthy(entry["bootstrap"]))
        if name == "s3":
            return pid_alive(entry.get("pid")) and s3.is_healthy(entry["endpoint"])
    except Exception:
        return False
    return False


def status(home: str | Path) -> ServicesStatus:
    sdir = services_dir(home)
    state = _read_state(sdir)
    out = ServicesStatus()
    healthy = []
    for name in SERVICES:
        entry = dict(state.get(name, {}))
        ok = bool(entry) and _healthy(name, entry)
        entry["healthy"] = ok
        healthy.append(ok)
        out.services[name] = entry
    out.postgres_dsn = state.get("postgres", {}).get("dsn")
    out.kafka_bootstrap = state.get("kafka", {}).get("bootstrap")
    out.s3_endpoint = state.get("s3", {}).get("endpoint")
    out.healthy = all(healthy)
    return out


# ------------------------------------------------------------------ up / down


def _check_port(name: str, entry: dict[str, Any], port: int) -> None:
    if entry.get("port") != port:
        raise ServicesError(
            f"{name} already runs on port {entry.get('port')}, not {port}: run `services down` first"
        )


def up(
    home: str | Path,
    ports: ServicePorts | None = None,
    *,
    bucket: str = DEFAULT_BUCKET,
    timeout_s: float = 30,
) -> ServicesStatus:
    """Start every service not already running and healthy; return the status."""
    ports = ports or ServicePorts.resolve()
    sdir = services_dir(home)
    with _locked(sdir):
        state = _read_state(sdir)

        # PostgreSQL: start_postgres is itself idempotent (postmaster.pid).
        handle = pg.start_postgres(sdir / "postgres", ports.postgres, databases=DATABASES, timeout_s=timeout_s)
        state["postgres"] = {"pid": handle.pid, "port": handle.port, "dsn": handle.dsn("fraud_assets"),
                             "data_dir": str(handle.data_dir)}
        _write_state(sdir, state)

        entry = state.get("kafka", {})
        if entry and pid_alive(entry.get("pid")) and _healthy("kafka", entry):
            _check_port("kafka", entry, ports.kafka)
        else:
            if entry.get("pid"):
                stop_pid(int(entry["pid"]), signals=_TANSU_SIGNALS)
            th = _tansu().start_tansu(ports.kafka, sdir / "tansu", timeout_s=timeout_s)
            state["kafka"] = {"pid": th.pid, "port": ports.kafka, "bootstrap": th.bootstrap}
            _write_state(sdir, state)

        entry = state.get("s3", {})
        if entry and _healthy("s3", entry):
            _check_port("s3", entry, ports.s3)
        else:
            if entry.get("pid"):
                stop_pid(int(entry["pid"]))
            sh = s3.start_s3(ports.s3, sdir / "s3", timeout_s=timeout_s)
            state["s3"] = {"pid": sh.pid, "port": ports.s3, "endpoint": sh.endpoint, "bucket": bucket}
            _write_state(sdir, state)
        s3.ensure_bucket(state["s3"]["endpoint"], bucket)
        state["s3"]["bucket"] = bucket
        _write_state(sdir, state)

    deadline = time.monotonic() + timeout_s
    while True:
        st = status(home)
        if st.healthy or time.monotonic() > deadline:
            return st
        time.sleep(0.2)


def down(home: str | Path, *, timeout_s: float = 30) -> ServicesStatus:
    """Stop every recorded service; raise if a process survives."""
    sdir = services_dir(home)
    if not sdir.exists():
        return ServicesStatus()
    with _locked(sdir):
        state = _read_state(sdir)
        pids = []
        for name, signals in (("s3", (signal.SIGTERM,)), ("kafka", _TANSU_SIGNALS)):
            pid = state.get(name, {}).get("pid")
            if pid:
                stop_pid(int(pid), timeout_s=min(timeout_s, 10), signals=signals)
                pids.append((name, int(pid)))
        pg_pid = state.get("postgres", {}).get("pid")
        pg.stop_postgres(sdir / "postgres", timeout_s=timeout_s)
        if pg_pid:
            pids.append(("postgres", int(pg_pid)))
        deadline = time.monotonic() + 10
        while any(pid_alive(pid) for _, pid in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        survivors = [f"{name}:{pid}" for name, pid in pids if pid_alive(pid)]
        if survivors:
            raise ServicesError(f"processes still running after down: {', '.join(survivors)}")
        (sdir / STATE_FILE).unlink(missing_ok=True)
    return status(home)


def describe(st: ServicesStatus) -> str:
    lines = []
    for name in SERVICES:
        entry = st.services.get(name, {})
        where = entry.get("dsn") or entry.get("bootstrap") or entry.get("endpoint") or "-"
        lines.append(f"{name:9s} {'healthy' if entry.get('healthy') else 'DOWN':8s} pid={entry.get('pid', '-')} {where}")
    lines.append(f"healthy: {str(st.healthy).lower()}")
    return "\n".join(lines)


__all__ = ["DEFAULT_PORTS", "ServicePorts", "ServicesError", "ServicesStatus", "describe", "down",
           "services_dir", "status", "up"]
