"""The `SqlStore` contract, run on every adapter (SQLite always, PostgreSQL as integration)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from fraud_assets.core.errors import EngineFailure
from fraud_assets.platform.db import (
    E_MIGRATION_DRIFT,
    E_MIGRATION_INVALID,
    E_RESERVED_IDENTIFIER,
    ConstraintViolation,
    Migration,
    SqlStore,
    Tx,
)
from fraud_assets_tests.platform.db.conftest import ADAPTERS, new_store

KV = [
    Migration(1, "kv", "CREATE TABLE kv (k_id TEXT PRIMARY KEY, v_text TEXT NOT NULL, n_count INTEGER NOT NULL DEFAULT 0)"),
    Migration(2, "kv_index", "CREATE INDEX kv_by_text ON kv (v_text)"),
]
UPSERT = (
    "INSERT INTO kv (k_id, v_text, n_count) VALUES (?, ?, 1)"
    " ON CONFLICT (k_id) DO UPDATE SET n_count = kv.n_count + 1, v_text = excluded.v_text"
)


def backend_id(tx: Tx) -> object:
    if tx.dialect == "postgres":
        return tx.fetchone("SELECT pg_backend_pid()")[0]
    return None


def test_store_satisfies_protocol(sql_store: SqlStore) -> None:
    assert isinstance(sql_store, SqlStore)
    assert sql_store.probe()


def test_commit_on_success(sql_store: SqlStore) -> None:
    sql_store.migrate(KV)
    with sql_store.transaction() as tx:
        assert tx.execute(UPSERT, ("a", "x")) == 1
        tx.execute(UPSERT, ("a", "y"))
    assert sql_store.fetchall("SELECT k_id, v_text, n_count FROM kv") == [("a", "y", 2)]


def test_rollback_on_error(sql_store: SqlStore) -> None:
    sql_store.migrate(KV)
    with pytest.raises(RuntimeError, match="boom"):
        with sql_store.transaction() as tx:
            tx.execute(UPSERT, ("a", "x"))
            raise RuntimeError("boom")
    assert sql_store.fetchall("SELECT k_id FROM kv") == []
    # the connection went back clean: the next transaction works and commits
    sql_store.execute(UPSERT, ("b", "x"))
    assert sql_store.fetchall("SELECT k_id FROM kv") == [("b",)]


def test_constraint_violation_is_portable_and_rolls_back(sql_store: SqlStore) -> None:
    sql_store.migrate(KV)
    sql_store.execute("INSERT INTO kv (k_id, v_text) VALUES (?, ?)", ("a", "x"))
    with pytest.raises(ConstraintViolation):
        with sql_store.transaction() as tx:
            tx.execute("INSERT INTO kv (k_id, v_text) VALUES (?, ?)", ("b", "x"))
            tx.execute("INSERT INTO kv (k_id, v_text) VALUES (?, ?)", ("a", "y"))
    assert sql_store.fetchall("SELECT k_id, v_text FROM kv ORDER BY k_id") == [("a", "x")]


def test_returning_executemany_and_percent_literals(sql_store: SqlStore) -> None:
    sql_store.migrate(KV)
    assert sql_store.executemany(
        "INSERT INTO kv (k_id, v_text) VALUES (?, ?)", [("a", "50%"), ("b", "x"), ("c", "5%?")]
    ) in (3, -1)
    with sql_store.transaction() as tx:
        got = tx.fetchall(
            "INSERT INTO kv (k_id, v_text) VALUES (?, ?) ON CONFLICT (k_id) DO NOTHING RETURNING k_id", ("d", "z")
        )
        assert got == [("d",)]
        assert tx.fetchall(
            "INSERT INTO kv (k_id, v_text) VALUES (?, ?) ON CONFLICT (k_id) DO NOTHING RETURNING k_id", ("d", "z")
        ) == []
    assert sql_store.fetchall("SELECT k_id FROM kv WHERE v_text LIKE '%\\%%' ESCAPE '\\' ORDER BY k_id") == [
        ("a",), ("c",)
    ]
    assert sql_store.fetchall("SELECT k_id FROM kv WHERE v_text LIKE '%?' AND k_id <> ? ORDER BY k_id", ("z",)) == [
        ("c",)
    ]


def test_read_only_transaction_refuses_writes(sql_store: SqlStore) -> None:
    sql_store.migrate(KV)
    with pytest.raises(Exception):
        with sql_store.transaction(read_only=True) as tx:
            tx.execute(UPSERT, ("a", "x"))
    sql_store.execute(UPSERT, ("a", "x"))  # the connection is writable again afterwards
    assert sql_store.fetchone("SELECT n_count FROM kv WHERE k_id = ?", ("a",)) == (1,)


def test_bytes_roundtrip_with_dialect_specific_ddl(sql_store: SqlStore) -> None:
    sql_store.migrate(
        [Migration(1, "blobs", {"sqlite": "CREATE TABLE blobs (b_id INTEGER PRIMARY KEY, payload BLOB)",
                                "postgres": "CREATE TABLE blobs (b_id INTEGER PRIMARY KEY, payload BYTEA)"})]
    )
    sql_store.execute("INSERT INTO blobs (b_id, payload) VALUES (?, ?)", (1, b"\x00\xffzz"))
    assert sql_store.fetchone("SELECT payload FROM blobs WHERE b_id = ?", (1,)) == (b"\x00\xffzz",)


# ---------------------------------------------------------------- migrations


def test_migrations_are_ordered_idempotent_and_recorded(sql_store: SqlStore) -> None:
    assert sql_store.migrate(KV[:1]) == [1]
    assert sql_store.migrate(KV[:1]) == []
    assert sql_store.migrate(KV) == [2]
    assert sql_store.migrate(KV) == []
    assert sql_store.applied_migrations() == [1, 2]
    rows = sql_store.fetchall(
        "SELECT component, version, name FROM schema_migrations ORDER BY version"
    )
    assert rows == [(sql_store.component, 1, "kv"), (sql_store.component, 2, "kv_index")]


def test_changed_or_unknown_migration_is_drift(sql_store: SqlStore) -> None:
    sql_store.migrate(KV)
    changed = [Migration(1, "kv", "CREATE TABLE kv (k_id TEXT PRIMARY KEY)"), KV[1]]
    with pytest.raises(EngineFailure) as info:
        sql_store.migrate(changed)
    assert info.value.code == E_MIGRATION_DRIFT
    with pytest.raises(EngineFailure) as info:
        sql_store.migrate(KV[:1])  # the store has version 2, the code does not
    assert info.value.code == E_MIGRATION_DRIFT


@pytest.mark.parametrize("versions", [[2, 1], [1, 1], [0, 1]])
def test_migration_order_is_enforced(sql_store: SqlStore, versions: list[int]) -> None:
    steps = [Migration(v, f"m{i}", f"CREATE TABLE m{i} (x_id INTEGER)") for i, v in enumerate(versions)]
    with pytest.raises(EngineFailure) as info:
        sql_store.migrate(steps)
    assert info.value.code == E_MIGRATION_INVALID


def test_reserved_identifier_rejected_before_anything_runs(sql_store: SqlStore) -> None:
    steps = [KV[0], Migration(2, "bad", "CREATE TABLE eb (topic TEXT, offset INTEGER)")]
    with pytest.raises(EngineFailure) as info:
        sql_store.migrate(steps)
    assert info.value.code == E_RESERVED_IDENTIFIER
    assert sql_store.applied_migrations() == []


def test_concurrent_migrations_apply_each_step_once(request, sql_store: SqlStore, tmp_path: Path) -> None:
    adapter = request.node.callspec.params["sql_store"]
    if adapter == "sqlite":
        from fraud_assets.platform.db import SqliteStore

        stores = [SqliteStore(sql_store.path, sql_store.component) for _ in range(4)]  # type: ignore[attr-defined]
    else:
        from fraud_assets.platform.db.postgres import PostgresStore

        stores = [PostgresStore(sql_store.dsn, sql_store.component, schema=sql_store.schema, run_id=f"r{i}")  # type: ignore[attr-defined]
                  for i in range(4)]
    barrier = threading.Barrier(len(stores))

    def run(store: SqlStore) -> list[int]:
        barrier.wait()
        return store.migrate(KV)

    try:
        with ThreadPoolExecutor(len(stores)) as pool:
            results = list(pool.map(run, stores))
    finally:
        for s in stores:
            s.close()
    assert sorted(v for r in results for v in r) == [1, 2]
    assert sql_store.fetchone("SELECT COUNT(*) FROM schema_migrations") == (2,)


# ---------------------------------------------------------------- pooling


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_thousand_short_transactions_from_eight_threads_reuse_connections(
    adapter: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    store = new_store(adapter, request, tmp_path)
    try:
        store.migrate(KV)
        backends: set[object] = set()
        lock = threading.Lock()

        def work(i: int) -> None:
            with store.transaction() as tx:
                tx.execute(UPSERT, (f"k{i % 16}", "x"))
                pid = backend_id(tx)
            with lock:
                backends.add(pid)

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(work, range(1000)))
        assert store.fetchone("SELECT SUM(n_count) FROM kv") == (1000,)
        if adapter == "sqlite":
            assert store.connects <= 8  # type: ignore[attr-defined]
        else:
            from fraud_assets.platform.db.postgres import admin_query

            stats = store.pool_stats()  # type: ignore[attr-defined]
            assert len(backends) <= 4
            assert stats["connections_num"] <= 4
            server = admin_query(
                store.dsn,  # type: ignore[attr-defined]
                "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = ?",
                (store.application_name,),  # type: ignore[attr-defined]
            )[0][0]
            assert 1 <= server <= 4
    finally:
        store.close()
