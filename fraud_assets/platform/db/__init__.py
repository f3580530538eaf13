"""SQL stores (ARCHITECTURE §11): one `SqlStore` protocol, SQLite and PostgreSQL adapters.

Every component store is written once against `SqlStore` in portable SQL and runs
on SQLite (profile `local`) or PostgreSQL (`local_parity`, `dev_min`):

    store = open_sql_store(kind="postgres", dsn=dsn, component="ig")
    store.migrate(IG_MIGRATIONS)
    with store.transaction() as tx:
        tx.execute("INSERT INTO ig_admissions (platform_run_id, event_id) VALUES (?, ?)"
                   " ON CONFLICT DO NOTHING", (run, event_id))
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from fraud_assets.platform.db.protocol import (
    CONNECT_BACKOFF_S,
    E_MIGRATION_DRIFT,
    E_MIGRATION_INVALID,
    E_RESERVED_IDENTIFIER,
    E_STORE_UNAVAILABLE,
    ConstraintViolation,
    Migration,
    SqlStore,
    StoreUnavailable,
    Tx,
)
from fraud_assets.platform.db.sql import (
    RESERVED_IDENTIFIERS,
    check_identifiers,
    ddl_identifiers,
    split_statements,
    to_pyformat,
)
from fraud_assets.platform.db.postgres import PgSessionSettings, PostgresStore
from fraud_assets.platform.db.sqlite import SqliteStore

__all__ = [
    "CONNECT_BACKOFF_S",
    "E_MIGRATION_DRIFT",
    "E_MIGRATION_INVALID",
    "E_RESERVED_IDENTIFIER",
    "E_STORE_UNAVAILABLE",
    "RESERVED_IDENTIFIERS",
    "ConstraintViolation",
    "Migration",
    "PgSessionSettings",
    "PostgresStore",
    "SqlStore",
    "SqliteStore",
    "StoreUnavailable",
    "Tx",
    "check_identifiers",
    "ddl_identifiers",
    "open_sql_store",
    "split_statements",
    "to_pyformat",
]


def open_sql_store(
    *,
    kind: Literal["sqlite", "postgres"],
    component: str,
    path: str | Path | None = None,
    dsn: str | None = None,
    **options: Any,
) -> SqlStore:
    """Open a component store: SQLite needs `path`, PostgreSQL needs `dsn` (never a fallback)."""
    if kind == "sqlite":
        if path is None:
            raise ValueError(f"{component}: sqlite store needs a path")
        return SqliteStore(path, component, **options)
    if kind == "postgres":
        if not dsn:
            raise ValueError(f"{component}: postgres store needs a DSN")
        return PostgresStore(dsn, component, **options)
    raise ValueError(f"unknown SQL store kind {kind!r}")
