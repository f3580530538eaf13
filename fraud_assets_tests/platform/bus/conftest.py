"""Bus fixtures: every contract test runs against both adapters (Kafka on the session's Tansu broker)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from fraud_assets.platform.bus.protocol import EventBus
from fraud_assets_tests.platform.bus.support import BusCase

ADAPTERS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("kafka", id="kafka", marks=pytest.mark.integration),
]


@pytest.fixture(params=ADAPTERS)
def bus_case(request: pytest.FixtureRequest, tmp_path) -> BusCase:
    if request.param == "sqlite":
        return BusCase("sqlite", {"path": str(tmp_path / "eb.sqlite")})
    bootstrap = request.getfixturevalue("kafka_bootstrap")
    return BusCase("kafka", {"bootstrap": bootstrap, "request_timeout_s": 10.0})


@pytest.fixture
def bus(bus_case: BusCase) -> Iterator[EventBus]:
    opened = bus_case.open()
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def new_topic() -> Callable[[str], str]:
    """Unique topic names: the Kafka broker is shared by the whole session."""

    def make(label: str = "t") -> str:
        return f"test.{label}.{uuid.uuid4().hex[:12]}"

    return make
