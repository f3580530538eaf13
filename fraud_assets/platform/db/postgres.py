"""PostgreSQL adapter of `SqlStore` (psycopg 3 + psycopg_pool); profiles `local_parity`, `dev_min`.

The connection lifecycle of control_ingress §1.3 / rtdl §2.5:

* one `psycopg_pool.ConnectionPool` per (DSN, component, schema, run) per process,
  shared by every store opened with that key, `min_size=1`, `max_size=4` by default;
* connection establishment retries `OperationalError` after 50, 100 and 200 ms,
  then gives up with `StoreUnavailable` (the pool keeps trying in the background);
* checkout validates the connection (`ConnectionPool.check_connection`); a
  connection that broke, or whose commit/rollback failed, is closed and never
  returned to the pool, and the pool's idle connections are re-checked at once;
* connections run in autocommit mode and every transaction is an explicit
  `BEGIN … COMMIT/ROLLBACK`, so a connection is back to `idle` before it returns
  to the pool — never `idle in transaction`;
* session settings at connect: `application_name=fraud_assets.<component>[.<run>]`,
  `search_path=<schema>`, `idle_in_transaction_session_timeout`, `lock_timeout`,
  `statement_timeout`.

This module is the only place in the code base that calls `psycopg.connect`.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql as pg_sql
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout

from fraud_assets.platform.db import migrations as _migrations
from fraud_assets.platform.db.protocol import (
    CONNECT_BACKOFF_S,
    ConstraintViolation,
    Dialect,
    Migration,
    Params,
    Row,
    StoreConveniences,
    StoreUnavailable,
    iter_backoff,
)
from fraud_assets.platform.db.sql import RESERVED_IDENTIFIERS, to_pyformat

log = logging.getLogger(__name__)

_SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class PgSessionSettings:
    statement_timeout_s: float = 30.0
    lock_timeout_s: float = 5.0
    idle_in_transaction_timeout_s: float = 30.0
    connect_timeout_s: int = 5

    def options(self, schema: str) -> str:
        ms = lambda s: f"{int(round(s * 1000))}ms"  # noqa: E731
        return " ".join(
            [
                f"-c search_path={schema}",
                f"-c statement_timeout={ms(self.statement_timeout_s)}",
                f"-c lock_timeout={ms(self.lock_timeout_s)}",
                f"-c idle_in_transaction_session_timeout={ms(self.idle_in_transaction_timeout_s)}",
            ]
        )


class _RetryingConnection(psycopg.Connection):
    """`connect` with the bounded retry: attempts after 0, 50, 100, 200 ms."""

    @classmethod
    def connect(cls, conninfo: str = "", **kwargs: Any):  # type: ignore[override]
        last: Exception | None = None
        for delay in iter_backoff():
            if delay:
                time.sleep(delay)
            try:
                return super().connect(conninfo, **kwargs)
            except psycopg.OperationalError as exc:
                last = exc
        raise StoreUnavailable(
            f"postgres: connect failed after {len(CONNECT_BACKOFF_S) + 1} attempts: {_first_line(last)}"
        ) from last


def _first_line(exc: BaseException | None) -> str:
    return str(exc).strip().splitlines()[0] if exc and str(exc).strip() else repr(exc)


def _is_broken(conn: psycopg.Connection) -> bool:
    return conn.closed or conn.broken


# ------------------------------------------------------------------ shared pools


class _PoolEntry:
    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool
        self.refs = 0


_POOLS: dict[tuple[Any, ...], _PoolEntry] = {}
_POOLS_LOCK = threading.Lock()


def _acquire_pool(key: tuple[Any, ...], factory: Any) -> ConnectionPool:
    with _POOLS_LOCK:
        entry = _POOLS.get(key)
        if entry is None or entry.pool.closed:
            entry = _POOLS[key] = _PoolEntry(factory())
        entry.refs += 1
        return entry.pool


def _release_pool(key: tuple[Any, ...]) -> None:
    with _POOLS_LOCK:
        entry = _POOLS.get(key)
        if entry is None:
            return
        entry.refs -= 1
        if entry.refs > 0:
            return
        del _POOLS[key]
    entry.pool.close(timeout=5.0)


# ------------------------------------------------------------------ transactions


class _PgTx:
    dialect: Dialect = "postgres"

    def __init__(self, conn: psycopg.Connection, store: PostgresStore) -> None:
        self._conn = conn
        self._store = store

    def _run(self, fn: Any) -> Any:
        try:
            return fn()
        except pg_errors.IntegrityError as exc:
            raise ConstraintViolation(str(exc)) from exc
        except psycopg.OperationalError as exc:
            if _is_broken(self._conn):
                raise self._store._unavailable("connection lost", exc) from exc
            raise

    def execute(self, sql: str, params: Params = ()) -> int:
        def run() -> int:
            cur = self._conn.execute(to_pyformat(sql), params) if params else self._conn.execute(sql)
            return cur.rowcount

        return self._run(run)

    def executemany(self, sql: str, rows: Iterable[Params]) -> int:
        def run() -> int:
            with self._conn.cursor() as cur:
                cur.executemany(to_pyformat(sql), list(rows))
                return cur.rowcount

        return self._run(run)

    def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        def run() -> list[Row]:
            cur = self._conn.execute(to_pyformat(sql), params) if params else self._conn.execute(sql)
            return cur.fetchall()

        return self._run(run)

    def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        def run() -> Row | None:
            cur = self._conn.execute(to_pyformat(sql), params) if params else self._conn.execute(sql)
            return cur.fetchone()

        return self._run(run)


class PostgresStore(StoreConveniences):
    """`SqlStore` over one PostgreSQL schema (one per component: `sr`, `ig`, `rtdl_ieg`, …)."""

    dialect: Dialect = "postgres"

    def __init__(
        self,
        dsn: str,
        component: str,
        *,
        schema: str | None = None,
        run_id: str | None = None,
        min_size: int = 1,
        max_size: int = 4,
        checkout_timeout_s: float = 5.0,
        session: PgSessionSettings = PgSessionSettings(),
    ) -> None:
        if not dsn:
            raise ValueError("PostgresStore needs a DSN")
        schema = schema or component
        if not _SCHEMA_RE.match(schema) or schema.upper() in RESERVED_IDENTIFIERS:
            raise ValueError(f"invalid schema name {schema!r}")
        self.dsn = dsn
        self.component = component
        self.schema = schema
        self.run_id = run_id
        self.application_name = f"fraud_assets.{component}" + (f".{run_id}" if run_id else "")
        self.checkout_timeout_s = checkout_timeout_s
        self._key = (os.getpid(), dsn, component, schema, run_id)
        kwargs = {
            "autocommit": True,
            "application_name": self.application_name[:63],
            "options": session.options(schema),
            "connect_timeout": session.connect_timeout_s,
        }
        self._pool = _acquire_pool(
            self._key,
            lambda: ConnectionPool(
                dsn,
                connection_class=_RetryingConnection,
                kwargs=kwargs,
                min_size=min_size,
                max_size=max_size,
                check=ConnectionPool.check_connection,
                name=self.application_name,
                timeout=checkout_timeout_s,
                reconnect_timeout=300.0,
                open=True,
            ),
        )
        self._closed = False

    # ---------------------------------------------------------- helpers

    def _unavailable(self, what: str, exc: BaseException | None, **context: Any) -> StoreUnavailable:
        # A broken connection usually means every idle one is broken too (restart,
        # failover): re-check the idle connections now instead of one per checkout.
        try:
            self._pool.check()
        except Exception:  # pragma: no cover - best effort
            pass
        return StoreUnavailable(
            f"postgres ({self.component}): {what}: {_first_line(exc)}", component=self.component, **context
        )

    def _checkout(self) -> psycopg.Connection:
        if self._closed:
            raise StoreUnavailable("store is closed", component=self.component)
        try:
            return self._pool.getconn(timeout=self.checkout_timeout_s)
        except (PoolTimeout, PoolClosed) as exc:
            raise self._unavailable("no connection", exc) from exc

    def _rollback(self, conn: psycopg.Connection) -> None:
        """Roll back; a connection that cannot roll back is closed (the pool drops it)."""
        if _is_broken(conn):
            return
        try:
            conn.execute("ROLLBACK")
        except Exception:
            conn.close()

    @contextmanager
    def transaction(self, *, read_only: bool = False) -> Iterator[_PgTx]:
        conn = self._checkout()
        try:
            try:
                conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" if read_only else "BEGIN")
            except psycopg.OperationalError as exc:
                conn.close()
                raise self._unavailable("cannot begin", exc) from exc
            try:
                yield _PgTx(conn, self)
            except BaseException:
                self._rollback(conn)
                raise
            try:
                conn.execute("COMMIT")
            except psycopg.Error as exc:
                if _is_broken(conn):
                    raise self._unavailable("commit outcome unknown", exc, commit_unknown=True) from exc
                self._rollback(conn)
                if isinstance(exc, pg_errors.IntegrityError):
                    raise ConstraintViolation(str(exc)) from exc
                raise
        finally:
            if not _is_broken(conn) and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                conn.close()  # never hand back a connection inside a transaction
            self._pool.putconn(conn)

    # ---------------------------------------------------------- migrations

    def _migration_lock(self, tx: _PgTx) -> None:
        tx.fetchone("SELECT pg_advisory_xact_lock(hashtext(?))", (f"fa.migrate.{self.schema}",))
        tx.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')  # name checked in __init__

    def migrate(self, migrations: Sequence[Migration]) -> list[int]:
        return _migrations.run(self, migrations, lock=self._migration_lock)

    def applied_migrations(self) -> list[int]:
        return _migrations.applied_versions(self)

    def pool_stats(self) -> dict[str, int]:
        return dict(self._pool.get_stats())

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        _release_pool(self._key)

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ------------------------------------------------------------------ admin helpers


def probe_dsn(dsn: str, *, timeout_s: int = 2) -> bool:
    """True when a fresh connection to `dsn` answers `SELECT 1` (no retry)."""
    try:
        with psycopg.connect(dsn, connect_timeout=max(1, int(timeout_s)), autocommit=True) as conn:
            return conn.execute("SELECT 1").fetchone() == (1,)
    except psycopg.Error:
        return False


def ensure_database(dsn: str, name: str) -> bool:
    """Create database `name` on the server of `dsn` (connected to its maintenance DB)
    unless it exists; True when it was created."""
    if not _SCHEMA_RE.match(name):
        raise ValueError(f"invalid database name {name!r}")
    with psycopg.connect(dsn, connect_timeout=5, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return False
        try:
            conn.execute(pg_sql.SQL("CREATE DATABASE {}").format(pg_sql.Identifier(name)))
        except pg_errors.DuplicateDatabase:
            return False
        return True


def admin_query(dsn: str, sql: str, params: Params = ()) -> list[Row]:
    """One-off query on a fresh connection (operations and tests: pg_stat_activity …)."""
    with psycopg.connect(dsn, connect_timeout=5, autocommit=True) as conn:
        cur = conn.execute(to_pyformat(sql), params) if params else conn.execute(sql)
        return cur.fetchall() if cur.description else []
