"""SQLite adapter specifics (control_ingress §7.1): processes sharing one file, crash/truncation head
recovery, head-cache repair, busy handling, purge floors, codecs, drain clock, DDL naming."""

from __future__ import annotations

import random
import shutil
import sqlite3
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from fraud_assets.core.errors import EngineFailure
from fraud_assets.platform.bus.protocol import (
    E_EB_BUSY,
    E_EB_CHECKPOINT_AHEAD_OF_HEAD,
    E_EB_OFFSET_EXPIRED,
    EB_HEAD_REPAIRED,
    PublishRecord,
)
from fraud_assets.platform.bus.sqlite import _SCHEMA, CODEC_NONE, CODEC_ZLIB, CODEC_ZSTD, PAGE_SIZE, SqliteEventBus
from fraud_assets_tests.platform.bus.support import consume, sqlite_crash_writer, sqlite_writer, subprocess_context


def _records(bus: SqliteEventBus, topic: str) -> list[tuple]:
    return bus._conn().execute(
        "SELECT partition_id, offset_value, msg_headers FROM eb_records WHERE topic=? ORDER BY partition_id, offset_value",
        (topic,),
    ).fetchall()


def test_several_processes_publish_and_consume_one_file(tmp_path):
    path = str(tmp_path / "eb.sqlite")
    topic = "multi"
    bus = SqliteEventBus(path)
    bus.ensure_topics({topic: 2})
    writers = [subprocess_context().Process(target=sqlite_writer, args=(path, topic, w, 150, 5)) for w in range(3)]
    for proc in writers:
        proc.start()
    seen = []
    with bus.consumer("reader", [topic]) as consumer:  # reads while the writers append
        deadline = time.monotonic() + 60
        while len(seen) < 450 and time.monotonic() < deadline:
            seen.extend(consumer.poll(100, 100))
    for proc in writers:
        proc.join(30)
        assert proc.exitcode == 0
    assert len(seen) == 450
    per_partition = defaultdict(list)
    for rec in seen:
        per_partition[rec.partition].append(rec)
    for recs in per_partition.values():
        assert [r.offset_value for r in recs] == list(range(len(recs)))  # dense, no gap, no overlap
        last_i: dict[str, int] = {}
        for rec in recs:
            w, i = rec.headers["writer"], int(rec.headers["i"])
            assert i > last_i.get(w, -1)  # each writer's order kept inside the partition
            last_i[w] = i
    assert Counter((r.headers["writer"], r.headers["i"]) for r in seen).most_common(1)[0][1] == 1
    assert bus.head_offsets(topic) == {p: len(r) for p, r in per_partition.items()}


def test_head_recovery_after_crash_and_truncated_wal(tmp_path):
    """kill -9 with the WAL un-checkpointed, then cut the WAL at random byte offsets: each reopened
    store holds a prefix of whole batches and heads recomputed from the records actually there."""
    src = tmp_path / "src"
    src.mkdir()
    path = src / "eb.sqlite"
    sizes = [1, 7, 3, 12, 5, 9, 2, 4, 8, 6]
    proc = subprocess_context().Process(target=sqlite_crash_writer, args=(str(path), "t", sizes))
    proc.start()
    proc.join(60)
    assert proc.exitcode == -9
    wal = Path(str(path) + "-wal")
    wal_size = wal.stat().st_size
    assert wal_size > 4096
    rng = random.Random(20260327)
    cuts = sorted({0, 32, wal_size, wal_size - 1, *(rng.randrange(32, wal_size) for _ in range(14))})
    prefixes = set()
    for n, cut in enumerate(cuts):
        case = tmp_path / f"cut{n}"
        case.mkdir()
        shutil.copy(path, case / "eb.sqlite")
        with open(wal, "rb") as fh:
            (case / "eb.sqlite-wal").write_bytes(fh.read(cut))
        bus = SqliteEventBus(case / "eb.sqlite", compress_values=False)
        if "t" not in bus.topics():
            prefixes.add(-1)
            bus.close()
            continue
        rows = _records(bus, "t")
        heads = bus.head_offsets("t")
        import json

        batches = Counter()
        for partition in range(3):
            offsets = [o for p, o, _ in rows if p == partition]
            assert offsets == list(range(len(offsets))), f"cut {cut}: gap in partition {partition}"
            assert heads[partition] == len(offsets), f"cut {cut}: head not recovered"
        for _, _, headers in rows:
            batches[int(json.loads(headers)["batch"])] += 1
        present = sorted(batches)
        assert present == list(range(len(present))), f"cut {cut}: not a prefix of batches"
        assert all(batches[b] == sizes[b] for b in present), f"cut {cut}: torn batch"
        prefixes.add(len(present))
        ref = bus.publish("t", "after", b"x", partition=0)  # appends continue at the recovered head
        assert ref.offset_value == heads[0]
        bus.close()
    assert len(sizes) in prefixes and len(prefixes) >= 3


def test_head_cache_tampering_is_repaired(tmp_path):
    path = tmp_path / "eb.sqlite"
    bus = SqliteEventBus(path)
    bus.ensure_topics({"t": 2})
    bus.publish_batch([PublishRecord("t", str(i), b"v", partition=i % 2) for i in range(10)])
    raw = sqlite3.connect(path)
    raw.execute("UPDATE eb_heads SET next_offset = next_offset + 10 WHERE partition_id = 0")
    raw.execute("DELETE FROM eb_heads WHERE partition_id = 1")
    raw.commit()
    bus.close()
    bus = SqliteEventBus(path)
    assert sorted(bus.head_repairs) == [("t", 0, 15, 5), ("t", 1, -1, 5)]
    assert bus.head_offsets("t") == {0: 5, 1: 5}
    health = bus.probe()
    assert health.state == "AMBER" and health.reasons[0][0] == EB_HEAD_REPAIRED
    # a head cache behind the records is repaired on the write error, and the append retried
    raw.execute("UPDATE eb_heads SET next_offset = 1 WHERE partition_id = 0")
    raw.commit()
    assert bus.publish("t", "x", b"v", partition=0).offset_value == 5


def test_lost_tail_records_lower_the_head_and_refuse_old_checkpoints(tmp_path):
    path = tmp_path / "eb.sqlite"
    bus = SqliteEventBus(path)
    bus.ensure_topics({"t": 1})
    bus.publish_batch([PublishRecord("t", "k", b"%d" % i) for i in range(10)])
    bus.commit("g", "t", 0, 8)
    raw = sqlite3.connect(path)
    raw.execute("DELETE FROM eb_records WHERE offset_value >= 5")
    raw.commit()
    bus.close()
    bus = SqliteEventBus(path)
    assert bus.head_offsets("t") == {0: 5}  # records are the truth; nothing is resurrected
    with pytest.raises(EngineFailure) as err:
        bus.consumer("g", ["t"])
    assert err.value.code == E_EB_CHECKPOINT_AHEAD_OF_HEAD


def test_busy_writer_waits_then_gives_up_clearly(tmp_path):
    path = tmp_path / "eb.sqlite"
    bus = SqliteEventBus(path, busy_timeout_ms=50, lock_wait_s=0.4)
    bus.ensure_topics({"t": 1})
    blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    threading.Timer(0.15, lambda: blocker.execute("COMMIT")).start()
    assert bus.publish("t", "k", b"1").offset_value == 0  # waited for the lock
    blocker.execute("BEGIN IMMEDIATE")
    try:
        outcome = bus.publish_batch([PublishRecord("t", "k", b"2")])[0]
    finally:
        blocker.execute("COMMIT")
    assert outcome.status == "rejected" and outcome.code == E_EB_BUSY
    assert bus.publish("t", "k", b"3").offset_value == 1  # nothing was written by the rejected batch


def test_purge_raises_low_watermark_never_lowers_head(tmp_path):
    bus = SqliteEventBus(tmp_path / "eb.sqlite")
    bus.ensure_topics({"t": 1})
    bus.publish_batch([PublishRecord("t", "k", b"%d" % i) for i in range(10)])
    assert bus.purge_before("t", 0, 4) == 4
    assert bus.low_watermarks("t") == {0: 4} and bus.head_offsets("t") == {0: 10}
    with pytest.raises(EngineFailure) as err:
        bus.consumer("g", {"t": {0: 2}})
    assert err.value.code == E_EB_OFFSET_EXPIRED
    with bus.consumer("g", ["t"]) as consumer:  # earliest = the low watermark
        assert [r.offset_value for r in consume(consumer, 6)] == list(range(4, 10))
    bus.purge_before("t", 0, 10)
    assert bus.verify_heads() == [] and bus.head_offsets("t") == {0: 10} and bus.low_watermarks("t") == {0: 10}
    assert bus.publish("t", "k", b"x").offset_value == 10


def test_codecs_are_stored_per_record(tmp_path):
    path = tmp_path / "eb.sqlite"
    zipped = SqliteEventBus(path, codec="zlib")
    zipped.ensure_topics({"t": 1})
    zipped.publish("t", "k", b"a" * 1000)
    plain = SqliteEventBus(path, compress_values=False)
    plain.publish("t", "k", b"b" * 1000)
    auto = SqliteEventBus(path)  # zstd when zstandard is installed, else raw
    auto.publish("t", "k", b"c" * 1000)
    codecs = [r[0] for r in plain._conn().execute("SELECT msg_codec FROM eb_records ORDER BY offset_value")]
    assert codecs == [CODEC_ZLIB, CODEC_NONE, auto.codec]
    assert auto.codec in (CODEC_NONE, CODEC_ZSTD)
    with plain.consumer("g", ["t"]) as consumer:
        assert [r.value for r in consume(consumer, 3)] == [b"a" * 1000, b"b" * 1000, b"c" * 1000]
    assert plain._conn().execute("PRAGMA page_size").fetchone()[0] == PAGE_SIZE


def test_drain_clock_appends_at_event_time(tmp_path):
    bus = SqliteEventBus(tmp_path / "eb.sqlite", clock="drain")
    bus.ensure_topics({"t": 1})
    ts = "2026-03-27T00:00:01.000001Z"
    bus.publish("t", "k", b"v", {"ts_utc": ts})
    assert bus.publish_batch([PublishRecord("t", "k", b"v")])[0].status == "rejected"
    with bus.consumer("g", ["t"]) as consumer:
        assert consume(consumer, 1)[0].appended_at_utc == ts


def test_replaced_file_has_new_epochs(tmp_path):
    first = SqliteEventBus(tmp_path / "a.sqlite")
    second = SqliteEventBus(tmp_path / "b.sqlite")
    for bus in (first, second):
        bus.ensure_topics({"t": 1})
    assert first.topic_epoch("t") != second.topic_epoch("t")
    assert first.topic_epoch("t").startswith("1-")


def test_find_event_for_reconciliation(tmp_path):
    bus = SqliteEventBus(tmp_path / "eb.sqlite")
    bus.ensure_topics({"t": 2})
    bus.publish("t", "k", b"v", {"event_id": "e1"}, partition=1)
    bus.publish("t", "k", b"v", {"event_id": "e1"}, partition=1)
    assert [r.offset_value for r in bus.find_event("t", "e1")] == [0, 1]
    assert bus.find_event("t", "e2") == []


RESERVED = {"offset", "partition", "key", "value", "group", "order", "rows", "timestamp", "user", "window", "range", "partitions"}


def test_ddl_uses_no_reserved_identifiers():
    conn = sqlite3.connect(":memory:")
    for ddl in _SCHEMA:
        conn.execute(ddl)
    names = []
    for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'index')"):
        names.append(table)
        names.extend(row[1] for row in conn.execute(f"PRAGMA table_info({table})"))
    assert len(names) > 20
    assert not RESERVED & {n.lower() for n in names}
