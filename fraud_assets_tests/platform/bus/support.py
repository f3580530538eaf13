"""Helpers shared by the bus tests (and run as the crash-test consumer subprocess)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from fraud_assets.platform.bus import open_bus
from fraud_assets.platform.bus.protocol import Consumer, EventBus
from fraud_assets.platform.contracts.envelope import BusRecord


@dataclass
class BusCase:
    """An adapter under test: `kind` and a JSON-able `config`, so subprocesses can open the same bus."""

    kind: str
    config: dict[str, Any]

    def open(self) -> EventBus:
        return open_bus(self.kind, **self.config)


def consume(consumer: Consumer, expected: int, *, timeout_s: float = 15.0, max_records: int = 500) -> list[BusRecord]:
    """Poll until `expected` records arrived (or the timeout), then one short extra poll for surplus."""
    out: list[BusRecord] = []
    deadline = time.monotonic() + timeout_s
    while len(out) < expected and time.monotonic() < deadline:
        out.extend(consumer.poll(max_records, 200))
    out.extend(consumer.poll(max_records, 50))
    return out


# --- subprocess targets -----------------------------------------------------------------------------
# Run through `subprocess_context()`: a multiprocessing forkserver that has imported the bus once, so a
# child costs a fork instead of a fresh interpreter; no SQLite connection or Kafka client is ever forked.

_PRELOAD = ["fraud_assets.platform.bus.sqlite", "fraud_assets.platform.bus.kafka", "fraud_assets_tests.platform.bus.support"]
_CONTEXT = None


def subprocess_context():  # type: ignore[no-untyped-def]
    import multiprocessing

    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = multiprocessing.get_context("forkserver")
        _CONTEXT.set_forkserver_preload(_PRELOAD)
    return _CONTEXT


def sqlite_writer(path: str, topic: str, writer: int, n: int, batch: int) -> None:
    """Publish `n` records keyed by writer in batches, tagging `writer` and `i` in headers."""
    from fraud_assets.platform.bus.protocol import PublishRecord
    from fraud_assets.platform.bus.sqlite import SqliteEventBus

    bus = SqliteEventBus(path)
    for lo in range(0, n, batch):
        records = [
            PublishRecord(topic, f"w{writer}-{i % 5}", b"%d:%d" % (writer, i), {"writer": str(writer), "i": str(i)})
            for i in range(lo, min(lo + batch, n))
        ]
        outcomes = bus.publish_batch(records)
        assert all(o.status == "ok" for o in outcomes), outcomes
    bus.close()


def sqlite_crash_writer(path: str, topic: str, batch_sizes: list[int]) -> None:
    """Publish batches (one transaction each) and die by SIGKILL with the WAL un-checkpointed."""
    import os
    import signal

    from fraud_assets.platform.bus.protocol import PublishRecord
    from fraud_assets.platform.bus.sqlite import SqliteEventBus

    bus = SqliteEventBus(path, compress_values=False)
    bus._conn().execute("PRAGMA wal_autocheckpoint=0")
    bus.ensure_topics({topic: 3})
    for b, size in enumerate(batch_sizes):
        records = [
            PublishRecord(topic, f"k{b}-{j}", b"v" * 300, {"batch": str(b), "size": str(size), "j": str(j)})
            for j in range(size)
        ]
        assert all(o.status == "ok" for o in bus.publish_batch(records))
    os.kill(os.getpid(), signal.SIGKILL)


def crash_consumer(spec_json: str, ready=None) -> None:  # type: ignore[no-untyped-def]
    """Consumer for the kill -9 test: apply side effects idempotently, commit the bus offset last.

    `spec`: kind, config, topic, group, effects (SQLite path), attempt, batch, heads {partition: head},
    crash {after, phase: mid_batch|before_commit|after_commit} | null, pause_s (between batches).
    Sets the `ready` event once its consumer is positioned (the parent may then kill it at any moment).
    """
    import json
    import os
    import signal
    import sqlite3

    spec = json.loads(spec_json)
    topic, attempt, crash = spec["topic"], spec["attempt"], spec.get("crash")
    heads = {int(p): h for p, h in spec["heads"].items()}

    def maybe_die(phase: str, processed: int) -> None:
        if crash and crash["phase"] == phase and processed >= crash["after"]:
            os.kill(os.getpid(), signal.SIGKILL)

    effects = sqlite3.connect(spec["effects"], isolation_level=None, timeout=30)
    effects.execute("PRAGMA journal_mode=WAL")
    effects.execute("PRAGMA synchronous=NORMAL")
    bus = open_bus(spec["kind"], **spec["config"])
    committed = bus.committed(spec["group"], topic)
    consumer = bus.consumer(spec["group"], [topic], start="committed")
    starts = consumer.positions()[topic]
    effects.execute("BEGIN IMMEDIATE")
    effects.executemany(
        "INSERT INTO starts(attempt, partition_id, start_offset, committed_offset) VALUES (?,?,?,?)",
        [(attempt, p, o, committed.get(p)) for p, o in starts.items()],
    )
    effects.execute("COMMIT")
    if ready is not None:
        ready.set()
    processed = 0
    batch_no = 0
    while True:
        batch = consumer.poll(spec["batch"], 200)
        if not batch:
            if all(consumer.positions()[topic][p] >= h for p, h in heads.items()):
                break
            continue
        batch_no += 1
        effects.execute("BEGIN IMMEDIATE")
        for rec in batch:
            seq = int(rec.headers["seq"])
            effects.execute(
                "INSERT INTO deliveries(attempt, batch_no, partition_id, offset_value, seq) VALUES (?,?,?,?,?)",
                (attempt, batch_no, rec.partition, rec.offset_value, seq),
            )
            effects.execute(
                "INSERT OR IGNORE INTO applied(partition_id, offset_value, seq, attempt) VALUES (?,?,?,?)",
                (rec.partition, rec.offset_value, seq, attempt),
            )
            processed += 1
            maybe_die("mid_batch", processed)
        effects.execute("COMMIT")
        maybe_die("before_commit", processed)
        consumer.commit()
        maybe_die("after_commit", processed)
        if spec.get("pause_s"):
            time.sleep(spec["pause_s"])
    consumer.close()
    bus.close()
