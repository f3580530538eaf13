"""Embedded SQLite event bus (control_ingress §7.1; `offset_kind = sqlite_seq`, profile `local`).

One file shared by every run and every process of the profile (`platform/eb/eb.sqlite`): WAL,
`synchronous=NORMAL` (an acknowledged append survives a process crash), `busy_timeout`, and every write
in `BEGIN IMMEDIATE`, so several processes may publish, consume and commit on the same file.

* `eb_records` is the log and the truth; `eb_heads` is a cache updated in the same transaction.
  `verify_heads()` runs on open and after any write error: it recomputes every head from the records
  actually present (`max(offset_value) + 1`, or the partition's purge floor when it has none) and
  repairs the cache (`EB_HEAD_REPAIRED`, health AMBER). A log truncated by a crash or by hand
  therefore recovers heads from what is really there, and a head never claims missing records.
* A publish batch is one transaction: every valid record is `ok` (dense offsets from the head) or,
  on an exception, `rejected` (nothing was written).
* Values are zstd level 1 compressed when `compress_values` and `zstandard` is importable; without
  it values are stored raw (`codec="auto"`): zlib costs ~4x the whole per-event append budget on the
  reference machine. `codec="zlib"` is available explicitly. The codec is stored per record, so a
  file stays readable across installs and settings.
* New files use 16 KiB pages: ~1 KB envelopes then stay inline in the `WITHOUT ROWID` b-tree (with
  4 KiB pages they spill to overflow pages and appends run ~3x slower).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from fraud_assets.core.errors import EngineFailure
from fraud_assets.platform.bus.protocol import (
    E_EB_BUSY,
    E_EB_PARTITION_INVALID,
    E_EB_TOPIC_PARTITIONS_MISMATCH,
    E_EB_TOPIC_UNKNOWN,
    E_EB_UNAVAILABLE,
    EB_HEAD_REPAIRED,
    EB_PROBE_FAILED,
    EB_TOPIC_MISSING,
    BusHealth,
    BusPublishError,
    Positions,
    PublishOutcome,
    PublishRecord,
    StartPosition,
    admit,
    resolve_start_offsets,
)
from fraud_assets.platform.contracts.envelope import (
    BusRecord,
    EbRef,
    bus_record_unchecked,
    eb_ref_unchecked,
    format_ts_utc,
)
from fraud_assets.platform.contracts.ids import H

try:  # optional: zstd as the spec asks; zlib keeps the adapter dependency-free
    import zstandard as _zstd  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the install
    _zstd = None

CODEC_NONE, CODEC_ZLIB, CODEC_ZSTD = 0, 1, 2
CODECS = {"none": CODEC_NONE, "zlib": CODEC_ZLIB, "zstd": CODEC_ZSTD}
RECORD_MAX_BYTES = 1 << 20
PAGE_SIZE = 16384

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS eb_meta(
        store_id TEXT PRIMARY KEY,
        topic_seq INTEGER NOT NULL,
        created_wall_utc TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS eb_topics(
        topic TEXT PRIMARY KEY,
        partition_count INTEGER NOT NULL,
        creation_ordinal INTEGER NOT NULL,
        epoch TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS eb_records(
        topic TEXT NOT NULL,
        partition_id INTEGER NOT NULL,
        offset_value INTEGER NOT NULL,
        msg_key BLOB NOT NULL,
        msg_value BLOB NOT NULL,
        msg_codec INTEGER NOT NULL,
        msg_headers TEXT NOT NULL,
        event_id TEXT,
        platform_run_id TEXT,
        appended_at_utc TEXT NOT NULL,
        PRIMARY KEY(topic, partition_id, offset_value)) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS eb_records_event ON eb_records(topic, event_id)",
    "CREATE INDEX IF NOT EXISTS eb_records_run ON eb_records(platform_run_id, topic)",
    """CREATE TABLE IF NOT EXISTS eb_heads(
        topic TEXT NOT NULL,
        partition_id INTEGER NOT NULL,
        next_offset INTEGER NOT NULL,
        floor_offset INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY(topic, partition_id))""",
    """CREATE TABLE IF NOT EXISTS eb_consumer_offsets(
        group_name TEXT NOT NULL,
        topic TEXT NOT NULL,
        partition_id INTEGER NOT NULL,
        next_offset INTEGER NOT NULL,
        committed_wall_utc TEXT NOT NULL,
        PRIMARY KEY(group_name, topic, partition_id))""",
)

_INSERT = (
    "INSERT INTO eb_records(topic, partition_id, offset_value, msg_key, msg_value, msg_codec, "
    "msg_headers, event_id, platform_run_id, appended_at_utc) VALUES (?,?,?,?,?,?,?,?,?,?)"
)
_POLL = (
    "SELECT offset_value, msg_key, msg_value, msg_codec, msg_headers, appended_at_utc FROM eb_records "
    "WHERE topic=? AND partition_id=? AND offset_value>=? ORDER BY offset_value LIMIT ?"
)


_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _wall_utc() -> str:
    return format_ts_utc(datetime.now(UTC))


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class SqliteEventBus:
    kind = "sqlite"
    offset_kind: Literal["sqlite_seq"] = "sqlite_seq"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        compress_values: bool = True,
        codec: Literal["auto", "zstd", "zlib", "none"] = "auto",
        clock: Literal["wall", "drain"] = "wall",
        busy_timeout_ms: int = 5000,
        lock_wait_s: float = 30.0,
        record_max_bytes: int = RECORD_MAX_BYTES,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.clock = clock
        self.busy_timeout_ms = busy_timeout_ms
        self.lock_wait_s = lock_wait_s
        self.record_max_bytes = record_max_bytes
        self.synchronous = synchronous
        if not compress_values:
            codec = "none"
        elif codec == "auto":
            codec = "zstd" if _zstd is not None else "none"
        if codec == "zstd" and _zstd is None:
            raise EngineFailure(E_EB_UNAVAILABLE, "codec zstd needs the zstandard package")
        self.codec = CODECS[codec]
        self._local = threading.local()
        self._all_conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._partition_cache: dict[str, int] = {}
        self._expected: dict[str, int] = {}
        self.head_repairs: list[tuple[str, int, int, int]] = []
        try:
            self._init_schema()
            self.verify_heads()
        except sqlite3.DatabaseError as exc:
            raise EngineFailure(E_EB_UNAVAILABLE, f"cannot open SQLite bus: {exc}", path=str(self.path)) from exc

    # -- connections and transactions ---------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        local = self._local
        conn = getattr(local, "conn", None)
        if conn is None or local.pid != os.getpid():
            conn = sqlite3.connect(
                self.path, timeout=self.busy_timeout_ms / 1000, isolation_level=None, check_same_thread=False
            )
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
            conn.execute(f"PRAGMA page_size={PAGE_SIZE}")  # only takes effect on a new, empty file
            self._retry_busy(lambda: conn.execute("PRAGMA journal_mode=WAL").fetchone())
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
            local.conn, local.pid = conn, os.getpid()
            with self._conns_lock:
                self._all_conns.append(conn)
        return conn

    def _retry_busy(self, fn):  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + self.lock_wait_s
        delay = 0.005
        while True:
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() >= deadline:
                    if _is_busy(exc):
                        raise EngineFailure(E_EB_BUSY, f"SQLite bus locked for {self.lock_wait_s}s", path=str(self.path)) from exc
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.1)

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        self._retry_busy(lambda: conn.execute("BEGIN IMMEDIATE"))
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            if conn.in_transaction:
                conn.execute("COMMIT")

    def _init_schema(self) -> None:
        with self._write() as conn:
            for ddl in _SCHEMA:
                conn.execute(ddl)
            if conn.execute("SELECT 1 FROM eb_meta").fetchone() is None:
                conn.execute(
                    "INSERT INTO eb_meta(store_id, topic_seq, created_wall_utc) VALUES (?, 0, ?)",
                    (uuid.uuid4().hex, _wall_utc()),
                )
        self.store_id = self._conn().execute("SELECT store_id FROM eb_meta").fetchone()[0]

    # -- topics --------------------------------------------------------------------------------

    def ensure_topics(self, topic_map: Mapping[str, int]) -> None:
        with self._write() as conn:
            for topic, count in topic_map.items():
                if count < 1:
                    raise ValueError(f"{topic}: partitions must be >= 1")
                row = conn.execute("SELECT partition_count FROM eb_topics WHERE topic=?", (topic,)).fetchone()
                if row is not None:
                    if row[0] != count:
                        raise EngineFailure(
                            E_EB_TOPIC_PARTITIONS_MISMATCH,
                            "existing topic has another partition count (never auto-repartitioned)",
                            topic=topic,
                            existing=row[0],
                            expected=count,
                        )
                    self._expected[topic] = count
                    continue
                self._expected[topic] = count
                conn.execute("UPDATE eb_meta SET topic_seq = topic_seq + 1")
                ordinal = conn.execute("SELECT topic_seq FROM eb_meta").fetchone()[0]
                epoch = f"{ordinal}-{H(self.store_id, topic)[:8]}"
                conn.execute(
                    "INSERT INTO eb_topics(topic, partition_count, creation_ordinal, epoch) VALUES (?,?,?,?)",
                    (topic, count, ordinal, epoch),
                )
                conn.executemany(
                    "INSERT OR REPLACE INTO eb_heads(topic, partition_id, next_offset, floor_offset) VALUES (?,?,0,0)",
                    [(topic, p) for p in range(count)],
                )
        self._partition_cache.clear()

    def delete_topic(self, topic: str) -> None:
        """Drop a topic with its records, heads and group offsets (recreating it gives a new epoch)."""
        with self._write() as conn:
            for table in ("eb_records", "eb_heads", "eb_consumer_offsets", "eb_topics"):
                conn.execute(f"DELETE FROM {table} WHERE topic=?", (topic,))
        self._partition_cache.pop(topic, None)
        self._expected.pop(topic, None)

    def partitions(self, topic: str) -> int:
        count = self._partition_cache.get(topic)
        if count is None:
            row = self._conn().execute("SELECT partition_count FROM eb_topics WHERE topic=?", (topic,)).fetchone()
            if row is None:
                raise EngineFailure(E_EB_TOPIC_UNKNOWN, "topic does not exist", topic=topic)
            count = self._partition_cache[topic] = row[0]
        return count

    def topics(self) -> dict[str, int]:
        return dict(self._conn().execute("SELECT topic, partition_count FROM eb_topics").fetchall())

    def topic_epoch(self, topic: str) -> str:
        row = self._conn().execute("SELECT epoch FROM eb_topics WHERE topic=?", (topic,)).fetchone()
        if row is None:
            raise EngineFailure(E_EB_TOPIC_UNKNOWN, "topic does not exist", topic=topic)
        return row[0]

    # -- heads -----------------------------------------------------------------------------------

    def verify_heads(self) -> list[tuple[str, int, int, int]]:
        """Recompute every head from the records present; repair and report `(topic, p, old, new)`."""
        repairs: list[tuple[str, int, int, int]] = []
        with self._write() as conn:
            topics = conn.execute("SELECT topic, partition_count FROM eb_topics").fetchall()
            for topic, count in topics:
                cached = {
                    p: (n, f)
                    for p, n, f in conn.execute(
                        "SELECT partition_id, next_offset, floor_offset FROM eb_heads WHERE topic=?", (topic,)
                    )
                }
                for p in range(count):
                    old, floor = cached.get(p, (None, 0))
                    top = conn.execute(
                        "SELECT MAX(offset_value) FROM eb_records WHERE topic=? AND partition_id=?", (topic, p)
                    ).fetchone()[0]
                    truth = max(floor, top + 1) if top is not None else floor
                    if old != truth:
                        conn.execute(
                            "INSERT OR REPLACE INTO eb_heads(topic, partition_id, next_offset, floor_offset) "
                            "VALUES (?,?,?,?)",
                            (topic, p, truth, floor),
                        )
                        repairs.append((topic, p, -1 if old is None else old, truth))
        self.head_repairs.extend(repairs)
        return repairs

    def head_offsets(self, topic: str) -> dict[int, int]:
        count = self.partitions(topic)
        rows = dict(
            self._conn().execute("SELECT partition_id, next_offset FROM eb_heads WHERE topic=?", (topic,)).fetchall()
        )
        return {p: rows.get(p, 0) for p in range(count)}

    def low_watermarks(self, topic: str) -> dict[int, int]:
        count = self.partitions(topic)
        out = {}
        with self._read() as conn:
            heads = dict(conn.execute("SELECT partition_id, next_offset FROM eb_heads WHERE topic=?", (topic,)).fetchall())
            for p in range(count):
                low = conn.execute(
                    "SELECT MIN(offset_value) FROM eb_records WHERE topic=? AND partition_id=?", (topic, p)
                ).fetchone()[0]
                out[p] = heads.get(p, 0) if low is None else low
        return out

    def purge_before(self, topic: str, partition: int, offset: int) -> int:
        """Delete records below `offset` (retention/GC); the low watermark rises, the head never falls."""
        with self._write() as conn:
            deleted = conn.execute(
                "DELETE FROM eb_records WHERE topic=? AND partition_id=? AND offset_value<?", (topic, partition, offset)
            ).rowcount
            conn.execute(
                "UPDATE eb_heads SET floor_offset = MAX(floor_offset, ?), next_offset = MAX(next_offset, ?) "
                "WHERE topic=? AND partition_id=?",
                (offset, offset, topic, partition),
            )
        return deleted

    # -- publish ---------------------------------------------------------------------------------

    def _encode(self, value: bytes) -> bytes:
        if self.codec == CODEC_NONE:
            return value
        if self.codec == CODEC_ZSTD:
            zc = getattr(self._local, "zc", None)
            if zc is None:  # zstd (de)compressors are not thread-safe: one per thread
                zc = self._local.zc = _zstd.ZstdCompressor(level=1)
            return zc.compress(value)
        return zlib.compress(value, 1)

    @staticmethod
    def _decode(blob: bytes, codec: int) -> bytes:
        if codec == CODEC_NONE:
            return blob
        if codec == CODEC_ZLIB:
            return zlib.decompress(blob)
        if _zstd is None:
            raise EngineFailure(E_EB_UNAVAILABLE, "record is zstd-compressed but zstandard is not installed")
        return _zstd.ZstdDecompressor().decompress(blob)

    def publish(
        self,
        topic: str,
        key: str,
        value: bytes,
        headers: Mapping[str, str] | None = None,
        partition: int | None = None,
    ) -> EbRef:
        outcome = self.publish_batch([PublishRecord(topic, key, value, headers or {}, partition)])[0]
        if outcome.status != "ok":
            raise BusPublishError(outcome, topic)
        return outcome.eb_ref  # type: ignore[return-value]

    def publish_batch(self, records: Sequence[PublishRecord]) -> list[PublishOutcome]:
        outcomes: list[PublishOutcome | None] = [None] * len(records)
        prepared: list[tuple[int, str, int, tuple]] = []
        for i, rec in enumerate(records):
            partition = admit(rec, self.partitions, self.record_max_bytes)
            if isinstance(partition, PublishOutcome):
                outcomes[i] = partition
                continue
            headers = dict(rec.headers)
            if self.clock == "drain":
                appended = headers.get("ts_utc")
                if appended is None:
                    outcomes[i] = PublishOutcome("rejected", error="drain clock needs a ts_utc header")
                    continue
            else:
                appended = None
            row = (
                rec.key.encode("utf-8") if isinstance(rec.key, str) else bytes(rec.key),
                self._encode(rec.value),
                self.codec,
                _dumps(headers),
                headers.get("event_id"),
                headers.get("platform_run_id"),
                appended,
            )
            prepared.append((i, rec.topic, partition, row))
        if prepared:
            self._append(prepared, outcomes)
        return outcomes  # type: ignore[return-value]

    def _append(self, prepared: list[tuple[int, str, int, tuple]], outcomes: list[PublishOutcome | None]) -> None:
        for attempt in range(2):
            wall = _wall_utc()
            try:
                with self._write() as conn:
                    heads: dict[tuple[str, int], int] = {}
                    rows = []
                    assigned = []
                    for i, topic, partition, row in prepared:
                        tp = (topic, partition)
                        head = heads.get(tp)
                        if head is None:
                            found = conn.execute(
                                "SELECT next_offset FROM eb_heads WHERE topic=? AND partition_id=?", tp
                            ).fetchone()
                            if found is None:
                                raise EngineFailure(E_EB_TOPIC_UNKNOWN, "topic vanished", topic=topic)
                            head = found[0]
                        heads[tp] = head + 1
                        appended = row[6] or wall
                        rows.append((topic, partition, head, *row[:6], appended))
                        assigned.append((i, topic, partition, head, appended))
                    conn.executemany(_INSERT, rows)
                    conn.executemany(
                        "UPDATE eb_heads SET next_offset=? WHERE topic=? AND partition_id=?",
                        [(n, t, p) for (t, p), n in heads.items()],
                    )
            except sqlite3.IntegrityError as exc:
                # The head cache is behind the records (tampering, foreign writer): repair and retry once.
                self.verify_heads()
                if attempt == 0:
                    continue
                error, code = f"append failed: {exc}", None
            except EngineFailure as exc:
                self._partition_cache.clear()
                error, code = exc.message, exc.code
            except sqlite3.Error as exc:
                try:
                    self.verify_heads()
                except sqlite3.Error:
                    pass
                error, code = f"append failed: {exc}", E_EB_UNAVAILABLE
            else:
                for i, topic, partition, offset, appended in assigned:
                    outcomes[i] = PublishOutcome(
                        "ok",
                        eb_ref_unchecked(topic, partition, offset, "sqlite_seq"),
                        appended,
                    )
                return
            for i, *_ in prepared:
                outcomes[i] = PublishOutcome("rejected", error=error, code=code)
            return

    # -- consumer groups -------------------------------------------------------------------------

    def consumer(
        self,
        group_name: str,
        assignments: Positions | Sequence[str],
        *,
        start: StartPosition = "committed",
    ) -> SqliteConsumer:
        offsets = resolve_start_offsets(self, group_name, assignments, start)
        return SqliteConsumer(self, group_name, offsets)

    def commit(self, group_name: str, topic: str, partition: int, next_offset: int) -> None:
        self.commit_positions(group_name, {topic: {partition: next_offset}})

    def commit_positions(self, group_name: str, positions: Positions) -> None:
        wall = _wall_utc()
        rows = [
            (group_name, topic, int(p), int(o), wall) for topic, parts in positions.items() for p, o in parts.items()
        ]
        with self._write() as conn:
            conn.executemany(
                "INSERT INTO eb_consumer_offsets(group_name, topic, partition_id, next_offset, committed_wall_utc) "
                "VALUES (?,?,?,?,?) ON CONFLICT(group_name, topic, partition_id) DO UPDATE SET "
                "next_offset=excluded.next_offset, committed_wall_utc=excluded.committed_wall_utc",
                rows,
            )

    def committed(self, group_name: str, topic: str) -> dict[int, int]:
        return dict(
            self._conn()
            .execute(
                "SELECT partition_id, next_offset FROM eb_consumer_offsets WHERE group_name=? AND topic=?",
                (group_name, topic),
            )
            .fetchall()
        )

    def find_event(self, topic: str, event_id: str) -> list[EbRef]:
        """Every copy of `event_id` on `topic` (IG's reconciler lookup; indexed)."""
        rows = self._conn().execute(
            "SELECT partition_id, offset_value FROM eb_records WHERE topic=? AND event_id=? "
            "ORDER BY partition_id, offset_value",
            (topic, event_id),
        )
        return [eb_ref_unchecked(topic, p, o, "sqlite_seq") for p, o in rows]

    # -- health ----------------------------------------------------------------------------------

    def probe(self, expected: Mapping[str, int] | None = None) -> BusHealth:
        try:
            self._conn().execute("SELECT 1").fetchone()
            present = self.topics()
        except (sqlite3.Error, EngineFailure) as exc:
            return BusHealth("RED", ((EB_PROBE_FAILED, str(exc)),))
        reasons = []
        for topic, count in (expected if expected is not None else self._expected).items():
            if present.get(topic) != count:
                reasons.append((EB_TOPIC_MISSING, f"{topic}: expected {count}, found {present.get(topic)}"))
        if reasons:
            return BusHealth("RED", tuple(reasons))
        if self.head_repairs:
            return BusHealth("AMBER", ((EB_HEAD_REPAIRED, f"{len(self.head_repairs)} head(s) repaired"),))
        return BusHealth("GREEN")

    def close(self) -> None:
        with self._conns_lock:
            conns, self._all_conns = self._all_conns, []
        for conn in conns:
            try:
                conn.close()
            except sqlite3.Error:
                pass
        self._local = threading.local()

    def __enter__(self) -> SqliteEventBus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SqliteConsumer:
    """Reads assigned partitions in offset order; one read transaction per poll (consistent snapshot)."""

    def __init__(self, bus: SqliteEventBus, group_name: str, offsets: Mapping[str, Mapping[int, int]]) -> None:
        self.bus = bus
        self.group_name = group_name
        self._pos: dict[tuple[str, int], int] = {
            (topic, p): o for topic, parts in offsets.items() for p, o in parts.items()
        }
        self._order = sorted(self._pos)
        self._rr = 0
        self._closed = False

    def poll(self, max_records: int = 500, timeout_ms: int = 100) -> list[BusRecord]:
        deadline = time.monotonic() + timeout_ms / 1000
        delay = 0.001
        while True:
            out = self._fetch(max_records)
            now = time.monotonic()
            if out or now >= deadline:
                return out
            time.sleep(min(delay, deadline - now))
            delay = min(delay * 2, 0.05)

    def _fetch(self, max_records: int) -> list[BusRecord]:
        if self._closed:
            raise RuntimeError("consumer is closed")
        out: list[BusRecord] = []
        n = len(self._order)
        if not n:
            return out
        decode = self.bus._decode
        construct = bus_record_unchecked
        loads = json.loads
        with self.bus._read() as conn:
            for k in range(n):
                topic, partition = tp = self._order[(self._rr + k) % n]
                rows = conn.execute(_POLL, (topic, partition, self._pos[tp], max_records - len(out))).fetchall()
                for offset, key, blob, codec, headers, appended in rows:
                    out.append(
                        construct(topic, partition, offset, "sqlite_seq", key, decode(blob, codec), loads(headers), appended)
                    )
                if rows:
                    self._pos[tp] = rows[-1][0] + 1
                if len(out) >= max_records:
                    break
        self._rr = (self._rr + 1) % n
        return out

    def seek(self, topic: str, partition: int, offset: int) -> None:
        if (topic, partition) not in self._pos:
            raise EngineFailure(E_EB_PARTITION_INVALID, "partition not assigned", topic=topic, partition_id=partition)
        self._pos[(topic, partition)] = int(offset)

    def positions(self) -> dict[str, dict[int, int]]:
        out: dict[str, dict[int, int]] = {}
        for (topic, p), o in self._pos.items():
            out.setdefault(topic, {})[p] = o
        return out

    def commit(self, positions: Positions | None = None) -> None:
        self.bus.commit_positions(self.group_name, positions if positions is not None else self.positions())

    def close(self) -> None:
        self._closed = True

    def __enter__(self) -> SqliteConsumer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
