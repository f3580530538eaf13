"""kill -9 of a consumer subprocess at random points, ≥ 20 trials per adapter (control_ingress §7).

The consumer applies side effects idempotently in its own SQLite transaction and commits the bus
offset only afterwards. After every crash a new process resumes from the group's committed offsets.
Checked: every record applied exactly once (no loss, no double apply), every attempt starts exactly at
the committed offsets and reads contiguously from there (no delivery below a commit, no gap), and
re-deliveries happen only for records whose offsets were not yet committed when the process died.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import time
from collections import defaultdict
from pathlib import Path

from fraud_assets.platform.bus.protocol import PublishRecord
from fraud_assets_tests.platform.bus.support import crash_consumer, subprocess_context

KILLS = 20
RECORDS = 600
PARTITIONS = 3


def _effects_db(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        PRAGMA journal_mode=WAL;
        CREATE TABLE starts(attempt INTEGER, partition_id INTEGER, start_offset INTEGER, committed_offset INTEGER);
        CREATE TABLE deliveries(attempt INTEGER, batch_no INTEGER, partition_id INTEGER, offset_value INTEGER, seq INTEGER);
        CREATE TABLE applied(partition_id INTEGER, offset_value INTEGER, seq INTEGER, attempt INTEGER,
                             PRIMARY KEY(partition_id, offset_value));
        """
    )
    conn.close()


def _run_child(spec: dict, *, kill_after_ready_s: float | None) -> int:
    ctx = subprocess_context()
    ready = ctx.Event()
    proc = ctx.Process(target=crash_consumer, args=(json.dumps(spec), ready))
    proc.start()
    if kill_after_ready_s is not None and ready.wait(60):
        time.sleep(kill_after_ready_s)
        proc.kill()  # SIGKILL; a process that already finished is left alone
    proc.join(120)
    assert proc.exitcode in (0, -signal.SIGKILL), f"consumer failed with exit code {proc.exitcode}"
    return proc.exitcode


def test_consumer_kill9_exactly_once(bus_case, new_topic, tmp_path):
    seed = int(os.environ.get("FRAUD_ASSETS_BUS_CRASH_SEED", "20260327"))  # vary locally to explore
    rng = random.Random(seed)
    topic = new_topic("crash")
    bus = bus_case.open()
    bus.ensure_topics({topic: PARTITIONS})
    for lo in range(0, RECORDS, 100):
        outcomes = bus.publish_batch(
            [PublishRecord(topic, f"k{i % 41}", b"%d" % i, {"seq": str(i)}) for i in range(lo, lo + 100)]
        )
        assert all(o.status == "ok" for o in outcomes)
    heads = bus.head_offsets(topic)
    effects = tmp_path / "effects.sqlite"
    _effects_db(effects)
    base = {
        "kind": bus_case.kind,
        "config": bus_case.config,
        "topic": topic,
        "group": f"crash-{topic}",
        "effects": str(effects),
        "heads": heads,
    }
    kills, plans, attempt = 0, {}, 0
    while kills < KILLS:
        assert attempt < KILLS * 3, "consumer keeps finishing before it can be killed"
        batch = rng.randint(1, 12)
        if attempt % 3 == 2:  # killed from outside at a random moment
            plan = {"external": True}
            spec = {**base, "attempt": attempt, "batch": batch, "crash": None, "pause_s": 0.005}
            code = _run_child(spec, kill_after_ready_s=rng.uniform(0.0, 0.25))
        else:  # dies at a chosen record and phase
            plan = {"after": rng.randint(1, 15), "phase": rng.choice(["mid_batch", "before_commit", "after_commit"])}
            spec = {**base, "attempt": attempt, "batch": batch, "crash": plan}
            code = _run_child(spec, kill_after_ready_s=None)
        plans[attempt] = {**plan, "batch": batch, "code": code}
        kills += code == -signal.SIGKILL
        attempt += 1
    assert _run_child({**base, "attempt": attempt, "batch": 50, "crash": None}, kill_after_ready_s=None) == 0
    plans[attempt] = {"final": True, "code": 0}

    conn = sqlite3.connect(effects)
    context = f"seed={seed} adapter={bus_case.kind} plans={plans}"
    # exactly once: every (partition, offset) and every seq applied once, nothing else
    applied = conn.execute("SELECT partition_id, offset_value, seq FROM applied").fetchall()
    assert sorted((p, o) for p, o, _ in applied) == [(p, o) for p in range(PARTITIONS) for o in range(heads[p])], context
    assert sorted(s for _, _, s in applied) == list(range(RECORDS)), context
    assert bus.committed(base["group"], topic) == heads, context
    # every attempt starts at the committed offsets and reads contiguously from there
    starts = defaultdict(dict)
    for a, p, start, committed in conn.execute("SELECT attempt, partition_id, start_offset, committed_offset FROM starts"):
        assert start == (committed if committed is not None else 0), (a, p, context)
        starts[a][p] = start
    assert set(starts) == set(plans), context
    delivered = defaultdict(list)
    for a, p, o in conn.execute("SELECT attempt, partition_id, offset_value FROM deliveries ORDER BY rowid"):
        delivered[(a, p)].append(o)
    for (a, p), offsets in delivered.items():
        assert offsets == list(range(starts[a][p], starts[a][p] + len(offsets))), (a, p, context)
    # Applied-but-uncommitted records at the start of each attempt are the only ones delivered again.
    # They can only come from the previous attempt's pending set plus its last logged batch when it died
    # after the effects commit but before the offset commit; a death mid-batch (rolled back), after the
    # offset commit or a clean exit adds nothing; a death between the two commits always adds its batch.
    last_batch: dict[int, set[tuple[int, int]]] = defaultdict(set)
    last_no = {a: n for a, n in conn.execute("SELECT attempt, MAX(batch_no) FROM deliveries GROUP BY attempt")}
    for a, p, o in conn.execute("SELECT attempt, partition_id, offset_value FROM deliveries WHERE batch_no = "
                                "(SELECT MAX(batch_no) FROM deliveries d WHERE d.attempt = deliveries.attempt)"):
        last_batch[a].add((p, o))
    assert set(last_batch) == set(last_no), context
    applied_before: set[tuple[int, int]] = set()
    previous_pending: set[tuple[int, int]] = set()
    for a in sorted(plans):
        pending = {(p, o) for p, o in applied_before if o >= starts[a][p]}
        previous = plans.get(a - 1)
        if previous is not None:
            if previous["code"] == 0 or previous.get("phase") in ("after_commit", "mid_batch"):
                assert pending <= previous_pending, (a, context)
            else:
                assert pending <= previous_pending | last_batch[a - 1], (a, context)
                if previous.get("phase") == "before_commit":
                    assert last_batch[a - 1] and last_batch[a - 1] <= pending, (a, context)
        redelivered = {(p, o) for p in range(PARTITIONS) for o in delivered.get((a, p), [])} & applied_before
        assert redelivered <= pending, (a, context)
        applied_before.update((p, o) for p in range(PARTITIONS) for o in delivered.get((a, p), []))
        previous_pending = pending
    bus.close()
