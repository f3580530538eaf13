"""PostgreSQL connection lifecycle (control_ingress §1.3, rtdl §2.5)."""

from __future__ import annotations

import ast
import threading
import time
from pathlib import Path

import psycopg
import pytest

import fraud_assets
from fraud_assets.platform.db import CONNECT_BACKOFF_S, Migration, StoreUnavailable
from fraud_assets.platform.db import postgres as pgmod
from fraud_assets.platform.db.postgres import PgSessionSettings, PostgresStore, admin_query
from fraud_assets.platform.services import free_port
from fraud_assets.platform.services.postgres import PostgresHandle, start_postgres, stop_postgres

ROWS = [Migration(1, "rows_seen", "CREATE TABLE rows_seen (row_id INTEGER PRIMARY KEY, worker_id INTEGER NOT NULL)")]


def test_connect_retries_three_times_with_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[float] = []
    sleeps: list[float] = []

    def failing_connect(cls, conninfo: str = "", **kwargs):  # noqa: ANN001
        attempts.append(time.monotonic())
        raise psycopg.OperationalError("connection refused")

    monkeypatch.setattr(psycopg.Connection, "connect", classmethod(failing_connect))
    monkeypatch.setattr(pgmod.time, "sleep", sleeps.append)
    with pytest.raises(StoreUnavailable) as info:
        pgmod._RetryingConnection.connect("postgresql://x@127.0.0.1:1/x")
    assert len(attempts) == 4
    assert sleeps == list(CONNECT_BACKOFF_S) == [0.05, 0.1, 0.2]
    assert info.value.code == "E_STORE_UNAVAILABLE"


def test_no_psycopg_connect_outside_platform_db() -> None:
    root = Path(fraud_assets.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        if path.is_relative_to(root / "platform" / "db"):
            continue
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "connect" and isinstance(node.value, ast.Name) \
                    and node.value.id in {"psycopg", "psycopg2"}:
                offenders.append(f"{path.relative_to(root)}:{node.lineno}")
    assert offenders == []


@pytest.mark.integration
def test_unreachable_server_is_store_unavailable_quickly() -> None:
    store = PostgresStore(f"postgresql://postgres@127.0.0.1:{free_port()}/x", "unreachable", checkout_timeout_s=1)
    try:
        t0 = time.monotonic()
        with pytest.raises(StoreUnavailable):
            store.fetchone("SELECT 1")
        assert time.monotonic() - t0 < 10
    finally:
        store.close()


@pytest.mark.integration
def test_session_settings(pg_server: PostgresHandle) -> None:
    store = PostgresStore(pg_server.dsn(), "ieg", schema="rtdl_ieg", run_id="pr_0123456789abcdef0123",
                          session=PgSessionSettings(statement_timeout_s=10))
    try:
        with store.transaction(read_only=True) as tx:
            got = {
                name: tx.fetchone(f"SHOW {name}")[0]
                for name in ("application_name", "statement_timeout", "lock_timeout",
                             "idle_in_transaction_session_timeout", "search_path", "transaction_isolation",
                             "transaction_read_only")
            }
        assert got == {
            "application_name": "fraud_assets.ieg.pr_0123456789abcdef0123",
            "statement_timeout": "10s",
            "lock_timeout": "5s",
            "idle_in_transaction_session_timeout": "30s",
            "search_path": "rtdl_ieg",
            "transaction_isolation": "repeatable read",
            "transaction_read_only": "on",
        }
    finally:
        store.close()


@pytest.mark.integration
def test_one_pool_per_dsn_and_component(pg_server: PostgresHandle) -> None:
    a = PostgresStore(pg_server.dsn(), "shared_pool")
    b = PostgresStore(pg_server.dsn(), "shared_pool")
    try:
        assert a._pool is b._pool
        a.close()
        assert b.probe()  # the pool survives until its last store closes
    finally:
        b.close()


@pytest.mark.integration
def test_broken_connection_is_discarded_not_reused(pg_server: PostgresHandle) -> None:
    store = PostgresStore(pg_server.dsn(), "broken_conn")
    try:
        with pytest.raises(StoreUnavailable):
            with store.transaction() as tx:
                victim = tx.fetchone("SELECT pg_backend_pid()")[0]
                admin_query(pg_server.dsn(), "SELECT pg_terminate_backend(?)", (victim,))
                time.sleep(0.1)
                tx.fetchone("SELECT 1")
        with store.transaction() as tx:
            assert tx.fetchone("SELECT pg_backend_pid()")[0] != victim
    finally:
        store.close()


def _idle_in_transaction(dsn: str, app_prefix: str) -> list[tuple]:
    return admin_query(
        dsn,
        "SELECT pid, application_name, state FROM pg_stat_activity"
        " WHERE state LIKE 'idle in transaction%' AND application_name LIKE ?",
        (app_prefix + "%",),
    )


@pytest.mark.integration
def test_no_idle_in_transaction_after_errors(pg_server: PostgresHandle) -> None:
    store = PostgresStore(pg_server.dsn(), "no_idle_tx")
    try:
        store.migrate(ROWS)
        for i in range(20):
            with pytest.raises(ValueError):
                with store.transaction() as tx:
                    tx.execute("INSERT INTO rows_seen (row_id, worker_id) VALUES (?, ?)", (i, 0))
                    raise ValueError("abort")
        assert _idle_in_transaction(pg_server.dsn(), store.application_name) == []
        assert store.fetchone("SELECT COUNT(*) FROM rows_seen") == (0,)
    finally:
        store.close()


@pytest.mark.integration
def test_survives_postgres_restart_mid_workload(pg_server: PostgresHandle) -> None:
    """4 writers insert ids; the server is stopped and restarted underneath them.
    Every write whose commit returned is present afterwards; connections come back;
    nothing is left idle in transaction."""
    store = PostgresStore(pg_server.dsn(), "restart_workload", checkout_timeout_s=2)
    store.migrate(ROWS)
    committed: list[int] = []
    unavailable = [0]
    lock = threading.Lock()
    stop = threading.Event()
    next_id = iter(range(10**9))

    def writer(worker: int) -> None:
        row_id = None
        while not stop.is_set():
            if row_id is None:
                with lock:
                    row_id = next(next_id)
            try:
                with store.transaction() as tx:
                    tx.execute(
                        "INSERT INTO rows_seen (row_id, worker_id) VALUES (?, ?) ON CONFLICT (row_id) DO NOTHING",
                        (row_id, worker),
                    )
            except StoreUnavailable:
                with lock:
                    unavailable[0] += 1
                time.sleep(0.05)  # back off outside any transaction, retry the same id
                continue
            with lock:
                committed.append(row_id)
            row_id = None

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.7)
        before = len(committed)
        stop_postgres(pg_server.base_dir, mode="fast")
        time.sleep(1.0)
        start_postgres(pg_server.base_dir, pg_server.port)
        deadline = time.monotonic() + 30
        while len(committed) < before + 200 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    try:
        assert before > 0 and unavailable[0] > 0, "the restart did not hit the workload"
        assert len(committed) >= before + 200, "writes did not resume after the restart"
        stored = {r[0] for r in store.fetchall("SELECT row_id FROM rows_seen")}
        assert set(committed) <= stored  # no committed write lost
        assert _idle_in_transaction(pg_server.dsn(), store.application_name) == []
        server_conns = admin_query(
            pg_server.dsn(), "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = ?",
            (store.application_name,),
        )[0][0]
        assert server_conns <= 4
    finally:
        store.close()
