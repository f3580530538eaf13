"""SQL store fixtures: one embedded PostgreSQL per session (started lazily by the first
integration test that needs it), a fresh store per test on each adapter."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from fraud_assets.platform.db import SqliteStore, SqlStore
from fraud_assets.platform.services import free_port
from fraud_assets.platform.services.postgres import PostgresHandle, start_postgres

ADAPTERS = ["sqlite", pytest.param("postgres", marks=pytest.mark.integration)]


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresHandle]:
    base = tmp_path_factory.mktemp("pg") / "postgres"
    last: Exception | None = None
    for _ in range(3):  # the probed port may be taken before postgres binds it
        try:
            handle = start_postgres(base, free_port(), timeout_s=60)
            break
        except Exception as exc:  # noqa: BLE001
            last = exc
    else:
        raise RuntimeError(f"could not start PostgreSQL: {last}")
    try:
        yield handle
    finally:
        handle.stop()


def new_store(adapter: str, request: pytest.FixtureRequest, tmp_path: Path, **options) -> SqlStore:
    component = "c_" + uuid.uuid4().hex[:10]
    if adapter == "sqlite":
        return SqliteStore(tmp_path / f"{component}.sqlite", component, **options)
    from fraud_assets.platform.db.postgres import PostgresStore

    server: PostgresHandle = request.getfixturevalue("pg_server")
    return PostgresStore(server.dsn(), component, **options)


@pytest.fixture(params=ADAPTERS)
def sql_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    store = new_store(request.param, request, tmp_path)
    try:
        yield store
    finally:
        store.close()
