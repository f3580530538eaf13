"""Portable SQL text: placeholders, statement splitting, the reserved-identifier guard."""

from __future__ import annotations

import pytest

from fraud_assets.core.errors import EngineFailure
from fraud_assets.platform.db import (
    E_RESERVED_IDENTIFIER,
    check_identifiers,
    ddl_identifiers,
    split_statements,
    to_pyformat,
)


@pytest.mark.parametrize(
    ("portable", "pyformat"),
    [
        ("SELECT a FROM t WHERE b = ? AND c = ?", "SELECT a FROM t WHERE b = %s AND c = %s"),
        ("SELECT '?' , ?", "SELECT '?' , %s"),
        ("SELECT a FROM t WHERE b LIKE 'x%' AND c = ?", "SELECT a FROM t WHERE b LIKE 'x%%' AND c = %s"),
        ('SELECT "odd?name" FROM t -- why?\nWHERE x = ?', 'SELECT "odd?name" FROM t -- why?\nWHERE x = %s'),
        ("SELECT 'it''s ?' || ?", "SELECT 'it''s ?' || %s"),
        ("SELECT 5 % 3", "SELECT 5 %% 3"),
        ("SELECT $$ ? $$, ?", "SELECT $$ ? $$, %s"),
    ],
)
def test_to_pyformat(portable: str, pyformat: str) -> None:
    assert to_pyformat(portable) == pyformat


def test_split_statements_respects_quotes_and_comments() -> None:
    script = """
        CREATE TABLE a (x_text TEXT DEFAULT ';');  -- trailing; comment
        /* block; comment */
        CREATE INDEX a_x ON a (x_text);
        ;
    """
    statements = split_statements(script)
    assert len(statements) == 2
    assert statements[0] == "CREATE TABLE a (x_text TEXT DEFAULT ';')"
    assert statements[1].endswith("CREATE INDEX a_x ON a (x_text)")


def test_ddl_identifiers_lists_table_and_columns_not_constraints() -> None:
    ddl = (
        "CREATE TABLE IF NOT EXISTS eb_records (topic TEXT NOT NULL, partition_id INTEGER,"
        " offset_value BIGINT, msg_key BLOB, CONSTRAINT pk PRIMARY KEY (topic, partition_id, offset_value),"
        " CHECK (offset_value >= 0)) WITHOUT ROWID"
    )
    assert ddl_identifiers(ddl) == ["eb_records", "topic", "partition_id", "offset_value", "msg_key"]
    assert ddl_identifiers("ALTER TABLE t ADD COLUMN IF NOT EXISTS n_seen INTEGER") == ["n_seen"]
    assert ddl_identifiers("CREATE UNIQUE INDEX IF NOT EXISTS t_by_x ON t (x_id)") == ["t_by_x"]
    assert ddl_identifiers("INSERT INTO t VALUES (1)") == []


@pytest.mark.parametrize(
    "ddl",
    [
        "CREATE TABLE eb (topic TEXT, offset INTEGER)",
        'CREATE TABLE eb (topic TEXT, "partition" INTEGER)',
        "CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT)",
        "CREATE TABLE u (user TEXT)",
        "CREATE TABLE o (order_id TEXT, \"order\" INTEGER)",
        "ALTER TABLE t ADD COLUMN timestamp TEXT",
        "ALTER TABLE t RENAME COLUMN a_x TO rows",
        "CREATE TABLE window (x_id INTEGER)",
    ],
)
def test_reserved_identifiers_are_rejected(ddl: str) -> None:
    with pytest.raises(EngineFailure) as info:
        check_identifiers(ddl)
    assert info.value.code == E_RESERVED_IDENTIFIER


def test_clean_ddl_passes_the_guard() -> None:
    check_identifiers(
        "CREATE TABLE eb_heads (topic TEXT, partition_id INTEGER, next_offset BIGINT, group_name TEXT,"
        " msg_key BLOB, msg_value BLOB, PRIMARY KEY (topic, partition_id))"
    )
