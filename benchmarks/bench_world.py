"""Per-state seconds and rows of one world, built with the engine runner (no Dagster).

    FRAUD_ASSETS_HOME=/tmp/bench PYTHONPATH=. python benchmarks/bench_world.py --preset small --seed 42

Reference data is built (or reused) under FRAUD_ASSETS_HOME first. Seconds are wall
time on this machine and include numba compilation on a cold cache; compare states
with each other within one run, not across machines.
"""

from __future__ import annotations

import argparse
import time

from fraud_assets.core.store import WorldStore
from fraud_assets.engine.runner import EngineRunner
from fraud_assets.engine.worlds import register
from fraud_assets.reference import catalog
from fraud_assets.settings import config_root, fraud_assets_home


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--through", default=None)
    args = parser.parse_args()
    home = fraud_assets_home()
    started = time.perf_counter()
    catalog.build_all(home, skip_existing=True)
    print(f"reference ready in {time.perf_counter() - started:.1f}s")
    store = WorldStore(home)
    world, _ = register(store, config_root(), args.preset, args.seed, catalog.reference_digests(home))
    runner = EngineRunner(store, config_root())
    total = 0.0
    by_segment: dict[str, float] = {}
    for execution in runner.build(world, args.through):
        spec = execution.spec
        total += execution.seconds
        by_segment[spec.segment] = by_segment.get(spec.segment, 0.0) + execution.seconds
        rows = ", ".join(f"{k}={v}" for k, v in execution.rows.items())
        print(f"{spec.segment} {spec.state:<3} {spec.name:<24} {execution.seconds:7.2f}s  {rows}")
    print("per segment: " + ", ".join(f"{k} {v:.1f}s" for k, v in by_segment.items()) + f"; total {total:.1f}s")


if __name__ == "__main__":
    main()
