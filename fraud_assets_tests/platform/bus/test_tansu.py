"""Tansu launcher (`fraud_assets.platform.services.tansu`), integration: real broker processes.

Lives beside the bus tests because the Kafka adapter is its only user here; it mirrors
`fraud_assets/platform/services/tansu.py`.
"""

from __future__ import annotations

import json
import os
import socket

import pytest

from fraud_assets.core.errors import EngineFailure
from fraud_assets.platform.bus.kafka import KafkaEventBus
from fraud_assets.platform.bus.protocol import E_EB_CHECKPOINT_AHEAD_OF_HEAD
from fraud_assets.platform.services.tansu import (
    E_TANSU_NOT_LOOPBACK,
    E_TANSU_PORT_IN_USE,
    free_port,
    is_healthy,
    start_tansu,
    tansu_binary,
)

pytestmark = pytest.mark.integration


def test_binary_comes_from_the_wheel():
    path = tansu_binary()
    assert path.is_file() and os.access(path, os.X_OK)


def test_session_broker_is_healthy(tansu):
    assert tansu.is_running() and tansu.memory_only
    assert is_healthy(tansu.bootstrap)
    descriptor = json.loads((tansu.data_dir / "tansu.json").read_text())
    assert descriptor["pid"] == tansu.pid and descriptor["bootstrap"] == tansu.bootstrap
    assert descriptor["memory_only"] is True


def test_unhealthy_when_nothing_listens():
    assert not is_healthy(f"127.0.0.1:{free_port()}", timeout_s=0.5)


def test_refuses_busy_port_and_non_loopback(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        with pytest.raises(EngineFailure) as err:
            start_tansu(sock.getsockname()[1], tmp_path)
        assert err.value.code == E_TANSU_PORT_IN_USE
    with pytest.raises(EngineFailure) as err:
        start_tansu(free_port(), tmp_path, host="0.0.0.0")
    assert err.value.code == E_TANSU_NOT_LOOPBACK


def test_restart_is_memory_only_and_detected(tmp_path, new_topic):
    """Stop/start on the same port: topics and offsets are gone; old checkpoints are refused."""
    port = free_port()
    handle = start_tansu(port, tmp_path / "a", timeout_s=30, die_with_parent=True)
    topic = new_topic()
    try:
        with KafkaEventBus(handle.bootstrap) as bus:
            bus.ensure_topics({topic: 1})
            bus.publish(topic, "k", b"v")
            bus.commit("g", topic, 0, 1)
            epoch = bus.topic_epoch(topic)
    finally:
        assert handle.stop(grace_s=3) is not None
    assert not handle.is_running() and handle.stop() is not None  # idempotent
    assert not (tmp_path / "a" / "tansu.json").exists()
    assert not is_healthy(f"127.0.0.1:{port}", timeout_s=0.5)
    with start_tansu(port, tmp_path / "b", timeout_s=30, die_with_parent=True) as again:
        with KafkaEventBus(again.bootstrap) as bus:
            bus.ensure_topics({topic: 1})
            assert bus.topic_epoch(topic) != epoch
            assert bus.head_offsets(topic) == {0: 0}
            with pytest.raises(EngineFailure) as err:
                bus.consumer("g", {topic: {0: 1}})
            assert err.value.code == E_EB_CHECKPOINT_AHEAD_OF_HEAD
