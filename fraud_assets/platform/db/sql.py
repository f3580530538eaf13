"""Portable SQL text: placeholder translation, statement splitting, identifier guard.

* Portable SQL uses `?` positional placeholders and plain `%`. The PostgreSQL
  adapter rewrites `?` → `%s` outside literals, identifiers and comments and
  doubles every `%` (psycopg parses `%` even inside string literals, so an
  unescaped `LIKE 'x%'` would otherwise fail).
* `split_statements` splits a script on `;` outside quotes and comments.
* `check_identifiers` rejects DDL that names a table, column or index with an SQL
  keyword of SQLite or PostgreSQL (`E_RESERVED_IDENTIFIER`); migrations run it on
  every statement, lint tests may run it on any DDL.
"""

from __future__ import annotations

import re
from functools import lru_cache

from fraud_assets.core.errors import EngineFailure
from fraud_assets.platform.db.protocol import E_RESERVED_IDENTIFIER

# SQLite's keyword list (sqlite.org/lang_keywords.html).
_SQLITE_KEYWORDS = """
ABORT ACTION ADD AFTER ALL ALTER ALWAYS ANALYZE AND AS ASC ATTACH AUTOINCREMENT BEFORE BEGIN
BETWEEN BY CASCADE CASE CAST CHECK COLLATE COLUMN COMMIT CONFLICT CONSTRAINT CREATE CROSS
CURRENT CURRENT_DATE CURRENT_TIME CURRENT_TIMESTAMP DATABASE DEFAULT DEFERRABLE DEFERRED DELETE
DESC DETACH DISTINCT DO DROP EACH ELSE END ESCAPE EXCEPT EXCLUDE EXCLUSIVE EXISTS EXPLAIN FAIL
FILTER FIRST FOLLOWING FOR FOREIGN FROM FULL GENERATED GLOB GROUP GROUPS HAVING IF IGNORE
IMMEDIATE IN INDEX INDEXED INITIALLY INNER INSERT INSTEAD INTERSECT INTO IS ISNULL JOIN KEY
LAST LEFT LIKE LIMIT MATCH MATERIALIZED NATURAL NO NOT NOTHING NOTNULL NULL NULLS OF OFFSET ON
OR ORDER OTHERS OUTER OVER PARTITION PLAN PRAGMA PRECEDING PRIMARY QUERY RAISE RANGE RECURSIVE
REFERENCES REGEXP REINDEX RELEASE RENAME REPLACE RESTRICT RETURNING RIGHT ROLLBACK ROW ROWS
SAVEPOINT SELECT SET TABLE TEMP TEMPORARY THEN TIES TO TRANSACTION TRIGGER UNBOUNDED UNION
UNIQUE UPDATE USING VACUUM VALUES VIEW VIRTUAL WHEN WHERE WINDOW WITH WITHOUT
"""
# PostgreSQL's reserved keywords (incl. "reserved, can be function or type").
_POSTGRES_RESERVED = """
ALL ANALYSE ANALYZE AND ANY ARRAY AS ASC ASYMMETRIC AUTHORIZATION BINARY BOTH CASE CAST CHECK
COLLATE COLLATION COLUMN CONCURRENTLY CONSTRAINT CREATE CROSS CURRENT_CATALOG CURRENT_DATE
CURRENT_ROLE CURRENT_SCHEMA CURRENT_TIME CURRENT_TIMESTAMP CURRENT_USER DEFAULT DEFERRABLE DESC
DISTINCT DO ELSE END EXCEPT FALSE FETCH FOR FOREIGN FREEZE FROM FULL GRANT GROUP HAVING ILIKE IN
INITIALLY INNER INTERSECT INTO IS ISNULL JOIN LATERAL LEADING LEFT LIKE LIMIT LOCALTIME
LOCALTIMESTAMP NATURAL NOT NOTNULL NULL OFFSET ON ONLY OR ORDER OUTER OVERLAPS PLACING PRIMARY
REFERENCES RETURNING RIGHT SELECT SESSION_USER SIMILAR SOME SYMMETRIC SYSTEM_USER TABLE
TABLESAMPLE THEN TO TRAILING TRUE UNION UNIQUE USER USING VARIADIC VERBOSE WHEN WHERE WINDOW WITH
"""
# Non-reserved words the platform specs forbid all the same (control_ingress §1.3, rtdl §2.4).
_PLATFORM_EXTRA = "KEY VALUE TIMESTAMP PARTITION ROWS RANGE WINDOW GROUP USER OFFSET ORDER"

RESERVED_IDENTIFIERS: frozenset[str] = frozenset(
    (_SQLITE_KEYWORDS + _POSTGRES_RESERVED + _PLATFORM_EXTRA).split()
)


# ---------------------------------------------------------------- lexing


def _scan(sql: str):
    """Yield (kind, text) chunks: kind in {code, squote, dquote, comment, dollar}."""
    i, n = 0, len(sql)
    start = 0
    while i < n:
        ch = sql[i]
        if ch == "'" or ch == '"':
            if start < i:
                yield "code", sql[start:i]
            j = i + 1
            while j < n:
                if sql[j] == ch:
                    if j + 1 < n and sql[j + 1] == ch:  # doubled quote escapes itself
                        j += 2
                        continue
                    break
                j += 1
            yield ("squote" if ch == "'" else "dquote"), sql[i : j + 1]
            i = start = j + 1
        elif ch == "-" and sql.startswith("--", i):
            if start < i:
                yield "code", sql[start:i]
            j = sql.find("\n", i)
            j = n if j < 0 else j
            yield "comment", sql[i:j]
            i = start = j
        elif ch == "/" and sql.startswith("/*", i):
            if start < i:
                yield "code", sql[start:i]
            j = sql.find("*/", i + 2)
            j = n if j < 0 else j + 2
            yield "comment", sql[i:j]
            i = start = j
        elif ch == "$":
            m = re.match(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$", sql[i:])
            if m and (i == 0 or not (sql[i - 1].isalnum() or sql[i - 1] == "_")):
                tag = m.group(0)
                if start < i:
                    yield "code", sql[start:i]
                j = sql.find(tag, i + len(tag))
                j = n if j < 0 else j + len(tag)
                yield "dollar", sql[i:j]
                i = start = j
            else:
                i += 1
        else:
            i += 1
    if start < n:
        yield "code", sql[start:n]


@lru_cache(maxsize=4096)
def to_pyformat(sql: str) -> str:
    """Portable `?` SQL → psycopg `%s` SQL (every literal `%` doubled)."""
    out = []
    for kind, text in _scan(sql):
        text = text.replace("%", "%%")
        if kind == "code":
            text = text.replace("?", "%s")
        out.append(text)
    return "".join(out)


def split_statements(script: str) -> list[str]:
    """Split on `;` outside quotes and comments; empty statements are dropped."""
    statements: list[str] = []
    current: list[str] = []
    for kind, text in _scan(script):
        if kind != "code":
            current.append(text)
            continue
        parts = text.split(";")
        for k, part in enumerate(parts):
            current.append(part)
            if k < len(parts) - 1:
                statements.append("".join(current))
                current = []
    statements.append("".join(current))
    cleaned = []
    for stmt in statements:
        code_only = "".join(t for kind, t in _scan(stmt) if kind != "comment").strip()
        if code_only:
            cleaned.append(stmt.strip())
    return cleaned


# ---------------------------------------------------------------- identifier guard

_IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
_QUALIFIED = rf"{_IDENT}(?:\s*\.\s*{_IDENT})?"
_CREATE_TABLE = re.compile(
    rf"^\s*CREATE\s+(?:(?:GLOBAL|LOCAL)\s+)?(?:TEMP\s+|TEMPORARY\s+|UNLOGGED\s+)?TABLE\s+"
    rf"(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>{_QUALIFIED})\s*(?P<rest>.*)$",
    re.IGNORECASE | re.DOTALL,
)
_CREATE_INDEX = re.compile(
    rf"^\s*CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?"
    rf"(?P<name>{_QUALIFIED})\s+ON\b",
    re.IGNORECASE | re.DOTALL,
)
_CREATE_VIEW = re.compile(
    rf"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMP\s+|TEMPORARY\s+)?(?:MATERIALIZED\s+)?VIEW\s+"
    rf"(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>{_QUALIFIED})",
    re.IGNORECASE | re.DOTALL,
)
_ALTER_ADD = re.compile(
    rf"^\s*ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?{_QUALIFIED}\s+ADD\s+(?:COLUMN\s+)?"
    rf"(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>{_IDENT})",
    re.IGNORECASE | re.DOTALL,
)
_ALTER_RENAME = re.compile(
    rf"^\s*ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?{_QUALIFIED}\s+RENAME\s+"
    rf"(?:(?:COLUMN\s+)?{_IDENT}\s+)?TO\s+(?P<name>{_IDENT})",
    re.IGNORECASE | re.DOTALL,
)
_CONSTRAINT_HEADS = {"CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN", "EXCLUDE", "LIKE"}


def _unquote(ident: str) -> str:
    ident = ident.strip()
    if ident.startswith('"'):
        return ident[1:-1].replace('""', '"')
    return ident


def _last_part(qualified: str) -> str:
    parts = re.findall(_IDENT, qualified)
    return _unquote(parts[-1]) if parts else qualified


def _column_defs(rest: str) -> list[str]:
    """Top-level comma-separated elements of the first parenthesised list."""
    start = rest.find("(")
    if start < 0:
        return []
    depth, elements, buf = 0, [], []
    for kind, text in _scan(rest[start:]):
        if kind != "code":
            buf.append(text)
            continue
        for ch in text:
            if ch == "(":
                depth += 1
                if depth == 1:
                    continue
            elif ch == ")":
                depth -= 1
                if depth == 0:
                    elements.append("".join(buf))
                    return [e.strip() for e in elements if e.strip()]
            elif ch == "," and depth == 1:
                elements.append("".join(buf))
                buf = []
                continue
            buf.append(ch)
    return [e.strip() for e in elements if e.strip()]


def ddl_identifiers(statement: str) -> list[str]:
    """Names a DDL statement introduces: table/view/index names and column names."""
    code = "".join(t if kind != "comment" else " " for kind, t in _scan(statement))
    names: list[str] = []
    if m := _CREATE_TABLE.match(code):
        names.append(_last_part(m.group("name")))
        rest = m.group("rest")
        if not re.match(r"\s*AS\b", rest, re.IGNORECASE):
            for element in _column_defs(rest):
                head = re.match(_IDENT, element)
                if head and head.group(0).upper() not in _CONSTRAINT_HEADS:
                    names.append(_unquote(head.group(0)))
    elif m := _CREATE_INDEX.match(code):
        names.append(_last_part(m.group("name")))
    elif m := _CREATE_VIEW.match(code):
        names.append(_last_part(m.group("name")))
    elif m := _ALTER_ADD.match(code):
        head = m.group("name")
        if head.upper() not in _CONSTRAINT_HEADS:
            names.append(_unquote(head))
    elif m := _ALTER_RENAME.match(code):
        names.append(_unquote(m.group("name")))
    return names


def check_identifiers(statement: str) -> None:
    """Raise `E_RESERVED_IDENTIFIER` when DDL names anything with an SQL keyword."""
    bad = [name for name in ddl_identifiers(statement) if name.upper() in RESERVED_IDENTIFIERS]
    if bad:
        raise EngineFailure(
            E_RESERVED_IDENTIFIER,
            f"SQL keyword used as identifier: {', '.join(bad)} "
            "(use offset_value, partition_id, msg_key, msg_value, group_name, ...)",
            keys=bad,
            statement=" ".join(statement.split())[:200],
        )
