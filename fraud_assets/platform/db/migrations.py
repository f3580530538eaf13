"""Per-component schema migrations: ordered, idempotent, recorded.

Each store records what it applied in its own `schema_migrations` table
(`component, version, name, checksum, applied_utc`), in the component's SQLite
file or PostgreSQL schema. A migration runs in one transaction together with its
record, under a per-component lock (`BEGIN IMMEDIATE` / advisory lock), so two
processes migrating at once apply each step exactly once. A recorded step whose
SQL changed, or a recorded version the code does not know, is `E_MIGRATION_DRIFT`.
Every DDL statement passes the reserved-identifier guard before anything runs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from fraud_assets.core.canonical import sha256_hex
from fraud_assets.core.errors import EngineFailure
from fraud_assets.platform.db.protocol import (
    E_MIGRATION_DRIFT,
    E_MIGRATION_INVALID,
    Dialect,
    Migration,
    Tx,
)
from fraud_assets.platform.db.sql import check_identifiers, split_statements

if TYPE_CHECKING:
    from fraud_assets.platform.db.protocol import SqlStore

SCHEMA_MIGRATIONS_DDL = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " component TEXT NOT NULL,"
    " version INTEGER NOT NULL,"
    " name TEXT NOT NULL,"
    " checksum TEXT NOT NULL,"
    " applied_utc TEXT NOT NULL,"
    " PRIMARY KEY (component, version))"
)


def statements_for(migration: Migration, dialect: Dialect) -> list[str]:
    sql = migration.sql
    if isinstance(sql, Mapping):
        if dialect not in sql:
            raise EngineFailure(
                E_MIGRATION_INVALID, f"migration {migration.version} has no SQL for {dialect}"
            )
        sql = sql[dialect]
    if isinstance(sql, str):
        return split_statements(sql)
    return [s.strip() for s in sql if s.strip()]


def plan(migrations: Sequence[Migration], dialect: Dialect) -> list[tuple[Migration, list[str], str]]:
    """Validate order and identifiers; return (migration, statements, checksum)."""
    out = []
    previous = 0
    for m in migrations:
        if not isinstance(m.version, int) or m.version <= previous:
            raise EngineFailure(
                E_MIGRATION_INVALID,
                "migration versions must be positive integers in strictly increasing order",
                keys=[m.version for m in migrations],
            )
        previous = m.version
        statements = statements_for(m, dialect)
        if not statements:
            raise EngineFailure(E_MIGRATION_INVALID, f"migration {m.version} has no statements")
        for statement in statements:
            check_identifiers(statement)
        checksum = sha256_hex("\n;\n".join(statements).encode())
        out.append((m, statements, checksum))
    return out


def run(
    store: SqlStore,
    migrations: Sequence[Migration],
    lock: Callable[[Tx], None],
) -> list[int]:
    """Apply the pending migrations of `store.component`; return the versions applied."""
    steps = plan(migrations, store.dialect)
    component = store.component
    with store.transaction() as tx:
        lock(tx)
        tx.execute(SCHEMA_MIGRATIONS_DDL)
        recorded = {
            int(v): c
            for v, c in tx.fetchall(
                "SELECT version, checksum FROM schema_migrations WHERE component = ?", (component,)
            )
        }
    known = {m.version for m, _, _ in steps}
    unknown = sorted(set(recorded) - known)
    if unknown:
        raise EngineFailure(
            E_MIGRATION_DRIFT,
            f"{component}: the store has migrations this code does not know",
            keys=unknown,
        )
    applied: list[int] = []
    for m, statements, checksum in steps:
        if recorded.get(m.version) == checksum:
            continue
        if m.version in recorded:
            raise _drift(component, m)
        with store.transaction() as tx:
            lock(tx)
            row = tx.fetchone(
                "SELECT checksum FROM schema_migrations WHERE component = ? AND version = ?",
                (component, m.version),
            )
            if row is not None:  # another process applied it meanwhile
                if row[0] != checksum:
                    raise _drift(component, m)
                continue
            for statement in statements:
                tx.execute(statement)
            tx.execute(
                "INSERT INTO schema_migrations (component, version, name, checksum, applied_utc)"
                " VALUES (?, ?, ?, ?, ?)",
                (component, m.version, m.name, checksum, _utc_now()),
            )
            applied.append(m.version)
    return applied


def applied_versions(store: SqlStore) -> list[int]:
    with store.transaction(read_only=True) as tx:
        if not _has_table(tx):
            return []
        rows = tx.fetchall(
            "SELECT version FROM schema_migrations WHERE component = ? ORDER BY version",
            (store.component,),
        )
    return [int(r[0]) for r in rows]


def _has_table(tx: Tx) -> bool:
    if tx.dialect == "sqlite":
        sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    else:
        sql = "SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = current_schema() AND tablename = 'schema_migrations'"
    return tx.fetchone(sql) is not None


def _drift(component: str, m: Migration) -> EngineFailure:
    return EngineFailure(
        E_MIGRATION_DRIFT,
        f"{component}: migration {m.version} ({m.name}) was applied with different SQL",
        keys=[m.version],
    )


def _utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
