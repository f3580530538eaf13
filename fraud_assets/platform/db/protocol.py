"""The SQL store protocol every component store is written against (ARCHITECTURE §11).

Portable SQL: `?` positional placeholders (the PostgreSQL adapter translates them),
standard types, `INSERT … ON CONFLICT … DO UPDATE/NOTHING` and `RETURNING`, no
keyword column names (`offset_value`, never `offset`). Rows come back as tuples.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from fraud_assets.core.errors import EngineFailure

Dialect = Literal["sqlite", "postgres"]
Params = Sequence[Any]
Row = tuple[Any, ...]

E_STORE_UNAVAILABLE = "E_STORE_UNAVAILABLE"
E_RESERVED_IDENTIFIER = "E_RESERVED_IDENTIFIER"
E_MIGRATION_INVALID = "E_MIGRATION_INVALID"
E_MIGRATION_DRIFT = "E_MIGRATION_DRIFT"

# Bounded connect retry: one attempt, then retries after 50, 100 and 200 ms.
CONNECT_BACKOFF_S: tuple[float, ...] = (0.05, 0.1, 0.2)


class StoreUnavailable(EngineFailure):
    """The store could not be reached (connect failed after the bounded retry, the
    connection broke mid-transaction, or the outcome of a commit is unknown).
    Retryable: a daemon turns health AMBER, backs off and tries again."""

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(E_STORE_UNAVAILABLE, message, **context)


class ConstraintViolation(Exception):
    """A portable integrity error (unique, foreign key, not null, check), raised by
    both adapters in place of `sqlite3.IntegrityError` / `psycopg.errors.IntegrityError`."""


@dataclass(frozen=True)
class Migration:
    """One ordered schema step of a component.

    `sql` is either portable SQL (one string, statements split on `;`), a list of
    statements, or a mapping `{"sqlite": ..., "postgres": ...}` of either form when
    the dialects need different DDL (e.g. `BLOB` vs `BYTEA`).
    """

    version: int
    name: str
    sql: str | Sequence[str] | Mapping[str, str | Sequence[str]]


@runtime_checkable
class Tx(Protocol):
    """One open transaction; every statement runs on the same connection."""

    dialect: Dialect

    def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; return the affected row count (-1 when unknown)."""
        ...

    def executemany(self, sql: str, rows: Iterable[Params]) -> int: ...

    def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...

    def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...


@runtime_checkable
class SqlStore(Protocol):
    """A component's SQL store: pooled, thread-safe connection reuse; bounded
    connect retry; `transaction()` commits on success and rolls back on error;
    broken connections are discarded, never returned to the pool."""

    dialect: Dialect
    component: str

    def transaction(self, *, read_only: bool = False) -> AbstractContextManager[Tx]: ...

    def tx(self, *, read_only: bool = False) -> AbstractContextManager[Tx]: ...

    def execute(self, sql: str, params: Params = ()) -> int: ...

    def executemany(self, sql: str, rows: Iterable[Params]) -> int: ...

    def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...

    def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...

    def migrate(self, migrations: Sequence[Migration]) -> list[int]: ...

    def applied_migrations(self) -> list[int]: ...

    def probe(self) -> bool: ...

    def close(self) -> None: ...


class StoreConveniences:
    """Single-statement helpers, each in its own transaction (mixin for adapters)."""

    def transaction(self, *, read_only: bool = False) -> AbstractContextManager[Tx]:  # pragma: no cover
        raise NotImplementedError

    def tx(self, *, read_only: bool = False) -> AbstractContextManager[Tx]:
        return self.transaction(read_only=read_only)

    def execute(self, sql: str, params: Params = ()) -> int:
        with self.transaction() as tx:
            return tx.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Params]) -> int:
        with self.transaction() as tx:
            return tx.executemany(sql, rows)

    def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        with self.transaction(read_only=True) as tx:
            return tx.fetchall(sql, params)

    def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        with self.transaction(read_only=True) as tx:
            return tx.fetchone(sql, params)

    def probe(self) -> bool:
        try:
            return self.fetchone("SELECT 1") == (1,)
        except Exception:
            return False


def iter_backoff() -> Iterator[float | None]:
    """Delays before each connect attempt: None for the first, then the backoff."""
    yield None
    yield from CONNECT_BACKOFF_S
