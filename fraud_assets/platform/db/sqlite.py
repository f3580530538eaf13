"""SQLite adapter of `SqlStore` (profile `local`).

One file per component (and run, where the component says so). Connections are
pooled: a transaction checks one out, uses it on one thread, and returns it;
idle connections are reused by any thread. Every connection runs WAL,
`synchronous=NORMAL` (durable across process crashes; `FULL` on request),
`busy_timeout=5000`, `foreign_keys=ON`. Writes open with `BEGIN IMMEDIATE`, so
writers queue on the file lock instead of failing at commit.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fraud_assets.platform.db import migrations as _migrations
from fraud_assets.platform.db.protocol import (
    ConstraintViolation,
    Dialect,
    Migration,
    Params,
    Row,
    StoreConveniences,
    StoreUnavailable,
    iter_backoff,
)

_LOCKED_MESSAGES = ("database is locked", "database table is locked", "unable to open")


class _SqliteTx:
    dialect: Dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Params = ()) -> int:
        return _call(lambda: self._conn.execute(sql, tuple(params)).rowcount)

    def executemany(self, sql: str, rows: Iterable[Params]) -> int:
        return _call(lambda: self._conn.executemany(sql, (tuple(r) for r in rows)).rowcount)

    def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return _call(lambda: self._conn.execute(sql, tuple(params)).fetchall())

    def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        return _call(lambda: self._conn.execute(sql, tuple(params)).fetchone())


def _call(fn: Any) -> Any:
    try:
        return fn()
    except sqlite3.IntegrityError as exc:
        raise ConstraintViolation(str(exc)) from exc
    except sqlite3.OperationalError as exc:
        if any(m in str(exc) for m in _LOCKED_MESSAGES):
            raise StoreUnavailable(f"sqlite: {exc}") from exc
        raise


class SqliteStore(StoreConveniences):
    """`SqlStore` over one SQLite file."""

    dialect: Dialect = "sqlite"

    def __init__(
        self,
        path: str | Path,
        component: str,
        *,
        synchronous: str = "NORMAL",
        busy_timeout_ms: int = 5000,
        max_idle: int = 8,
    ) -> None:
        if synchronous.upper() not in {"NORMAL", "FULL"}:
            raise ValueError(f"synchronous must be NORMAL or FULL, got {synchronous!r}")
        self.path = Path(path)
        self.component = component
        self.synchronous = synchronous.upper()
        self.busy_timeout_ms = busy_timeout_ms
        self.max_idle = max_idle
        self._lock = threading.Lock()
        self._idle: list[sqlite3.Connection] = []
        self._open: set[sqlite3.Connection] = set()
        self._closed = False
        self.connects = 0  # connections ever opened (tests check reuse)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    # ---------------------------------------------------------- connections

    def _connect(self) -> sqlite3.Connection:
        last: Exception | None = None
        for delay in iter_backoff():
            if delay:
                time.sleep(delay)
            try:
                conn = sqlite3.connect(
                    self.path,
                    timeout=self.busy_timeout_ms / 1000,
                    isolation_level=None,
                    check_same_thread=False,
                )
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(f"PRAGMA synchronous={self.synchronous}")
                conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
                conn.execute("PRAGMA foreign_keys=ON")
            except sqlite3.OperationalError as exc:
                last = exc
                continue
            with self._lock:
                self._open.add(conn)
                self.connects += 1
            return conn
        raise StoreUnavailable(f"sqlite: cannot open {self.path}: {last}", component=self.component) from last

    def _checkout(self) -> sqlite3.Connection:
        with self._lock:
            if self._closed:
                raise StoreUnavailable("store is closed", component=self.component)
            if self._idle:
                return self._idle.pop()
        return self._connect()

    def _checkin(self, conn: sqlite3.Connection, *, discard: bool) -> None:
        with self._lock:
            if not discard and not self._closed and conn.in_transaction is False and len(self._idle) < self.max_idle:
                self._idle.append(conn)
                return
            self._open.discard(conn)
        try:
            conn.close()
        except sqlite3.Error:
            pass

    # ---------------------------------------------------------- transactions

    @contextmanager
    def transaction(self, *, read_only: bool = False) -> Iterator[_SqliteTx]:
        conn = self._checkout()
        discard = False
        try:
            if read_only:
                conn.execute("PRAGMA query_only=ON")
            try:
                conn.execute("BEGIN" if read_only else "BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise StoreUnavailable(f"sqlite: cannot begin: {exc}", component=self.component) from exc
            try:
                yield _SqliteTx(conn)
            except BaseException:
                discard = not _rollback(conn)
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                discard = not _rollback(conn)
                if isinstance(exc, sqlite3.IntegrityError):
                    raise ConstraintViolation(str(exc)) from exc
                raise StoreUnavailable(f"sqlite: commit failed: {exc}", component=self.component) from exc
        finally:
            if read_only and not discard:
                try:
                    conn.execute("PRAGMA query_only=OFF")
                except sqlite3.Error:
                    discard = True
            self._checkin(conn, discard=discard)

    # ---------------------------------------------------------- migrations

    def migrate(self, migrations: Sequence[Migration]) -> list[int]:
        # BEGIN IMMEDIATE already serialises writers on the file.
        return _migrations.run(self, migrations, lock=lambda tx: None)

    def applied_migrations(self) -> list[int]:
        return _migrations.applied_versions(self)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conns = list(self._open)
            self._idle.clear()
            self._open.clear()
        for conn in conns:
            try:
                conn.close()
            except sqlite3.Error:
                pass

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _rollback(conn: sqlite3.Connection) -> bool:
    """Roll back; False when the connection itself is unusable."""
    try:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        return True
    except sqlite3.Error:
        return False
