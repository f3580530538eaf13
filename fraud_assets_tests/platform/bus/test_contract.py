"""One contract suite for every EventBus adapter (control_ingress §7, §15 EB).

Parametrised by the `bus` fixture over `sqlite` and `kafka` (Tansu, marked integration).
"""

from __future__ import annotations

from collections import defaultdict

import pytest

from fraud_assets.core.errors import EngineFailure
from fraud_assets.platform.bus import BusPublishError, PublishRecord, iter_records
from fraud_assets.platform.bus.protocol import (
    E_EB_CHECKPOINT_AHEAD_OF_HEAD,
    E_EB_PARTITION_INVALID,
    E_EB_RECORD_TOO_LARGE,
    E_EB_START_LATEST_FORBIDDEN,
    E_EB_TOPIC_PARTITIONS_MISMATCH,
    E_EB_TOPIC_UNKNOWN,
    EventBus,
)
from fraud_assets.platform.contracts.envelope import EbRef, parse_ts_utc
from fraud_assets.platform.contracts.topics import partition_for_key
from fraud_assets_tests.platform.bus.support import consume


def _publish_seq(bus: EventBus, topic: str, n: int, *, batch: int = 50, start: int = 0) -> list[EbRef]:
    refs: list[EbRef] = []
    for lo in range(start, start + n, batch):
        records = [
            PublishRecord(topic, str(i % 37), b"%d" % i, {"seq": str(i), "event_id": f"{i:064x}"})
            for i in range(lo, min(lo + batch, start + n))
        ]
        outcomes = bus.publish_batch(records)
        assert [o.status for o in outcomes] == ["ok"] * len(records), outcomes[:3]
        refs.extend(o.eb_ref for o in outcomes)
    return refs


def test_partition_routing_and_per_partition_order(bus, new_topic):
    topic = new_topic()
    bus.ensure_topics({topic: 4})
    refs = _publish_seq(bus, topic, 300)
    for i, ref in enumerate(refs):
        assert ref.partition == partition_for_key(str(i % 37), 4)
        assert ref.offset_kind == bus.offset_kind and ref.topic == topic
    with bus.consumer("g", [topic], start="earliest") as consumer:
        records = consume(consumer, 300)
    assert len(records) == 300
    by_partition = defaultdict(list)
    for rec in records:
        by_partition[rec.partition].append(rec)
    assert set(by_partition) == {0, 1, 2, 3}
    for partition, recs in by_partition.items():
        offsets = [r.offset_value for r in recs]
        assert offsets == list(range(len(recs))), "dense, increasing offsets per partition"
        seqs = [int(r.headers["seq"]) for r in recs]
        assert seqs == sorted(seqs), "publish order kept within the partition"
        for rec in recs:
            assert rec.key == str(int(rec.headers["seq"]) % 37).encode()
            assert rec.value == rec.headers["seq"].encode()
            assert rec.eb_ref == refs[int(rec.headers["seq"])]
            parse_ts_utc(rec.appended_at_utc)
    assert bus.head_offsets(topic) == {p: len(r) for p, r in by_partition.items()}
    assert bus.low_watermarks(topic) == {0: 0, 1: 0, 2: 0, 3: 0}


def test_explicit_partition_wins_and_is_checked(bus, new_topic):
    topic = new_topic()
    bus.ensure_topics({topic: 4})
    ref = bus.publish(topic, "7", b"x", {"a": "1"}, partition=3)
    assert (ref.partition, ref.offset_value) == (3, 0)
    outcome = bus.publish_batch([PublishRecord(topic, "7", b"x", partition=4)])[0]
    assert outcome.status == "rejected" and outcome.code == E_EB_PARTITION_INVALID
    with pytest.raises(BusPublishError) as err:
        bus.publish(topic, "7", b"x", partition=-1)
    assert err.value.outcome.status == "rejected"


def test_batch_rejects_only_bad_records(bus, new_topic):
    topic = new_topic()
    bus.ensure_topics({topic: 2})
    outcomes = bus.publish_batch(
        [
            PublishRecord(topic, "a", b"1"),
            PublishRecord(new_topic("missing"), "a", b"2"),
            PublishRecord(topic, "a", b"x" * ((1 << 20) + 1)),
            PublishRecord(topic, "a", b"3"),
        ]
    )
    assert [o.status for o in outcomes] == ["ok", "rejected", "rejected", "ok"]
    assert outcomes[1].code == E_EB_TOPIC_UNKNOWN and outcomes[2].code == E_EB_RECORD_TOO_LARGE
    assert [o.eb_ref.offset_value for o in (outcomes[0], outcomes[3])] == [0, 1]


def test_headers_keys_and_large_values_round_trip(bus, new_topic):
    topic = new_topic()
    bus.ensure_topics({topic: 1})
    headers = {"event_id": "e" * 64, "platform_run_id": "pr_0123456789abcdef0123", "note": "é✓"}
    big = bytes(range(256)) * 4000  # ~1 MB, binary
    bus.publish(topic, "clé", big, headers)
    with bus.consumer("g", [topic]) as consumer:
        (rec,) = consume(consumer, 1)
    assert rec.headers == headers and rec.key == "clé".encode() and rec.value == big


def test_group_resumes_exactly_after_commit(bus, new_topic):
    topic = new_topic()
    bus.ensure_topics({topic: 3})
    _publish_seq(bus, topic, 120)
    with bus.consumer("g1", [topic], start="committed") as consumer:
        first = consumer.poll(40, 2000)
        assert first
        consumer.commit()
        committed = consumer.positions()[topic]
    assert bus.committed("g1", topic) == committed
    with bus.consumer("g1", [topic], start="committed") as consumer:
        rest = consume(consumer, 120 - len(first))
    seen = [(r.partition, r.offset_value) for r in first + rest]
    assert len(seen) == len(set(seen)) == 120, "no loss, no redelivery after a commit"
    for rec in rest:
        assert rec.offset_value >= committed[rec.partition]
    # another group is independent and starts at the beginning
    with bus.consumer("g2", [topic]) as consumer:
        assert len(consume(consumer, 120)) == 120


def test_nothing_is_committed_implicitly(bus, new_topic):
    topic = new_topic()
    bus.ensure_topics({topic: 1})
    _publish_seq(bus, topic, 10)
    with bus.consumer("g", [topic]) as consumer:
        assert len(consume(consumer, 10)) == 10
    assert bus.committed("g", topic) == {}
    with bus.consumer("g", [topic]) as consumer:
        assert len(consume(consumer, 10)) == 10


def test_bus_level_commit(bus, new_topic):
    topic = new_topic()
    bus.ensure_topics({topic: 2})
    _publish_seq(bus, topic, 20)
    bus.commit("g", topic, 1, 3)
    assert bus.committed("g", topic) == {1: 3}
    with bus.consumer("g", [topic]) as consumer:
        records = consume(consumer, 20 - 3)
    assert min(r.offset_value for r in records if r.partition == 1) == 3
    assert min(r.offset_value for r in records if r.partition == 0) == 0


def test_seek_back_and_forward(bus, new_topic):
    topic = new_topic()
    bus.ensure_topics({topic: 1})
    _publish_seq(bus, topic, 30)
    with bus.consumer("g", {topic: {0: 0}}) as consumer:
        assert [r.offset_value for r in consume(consumer, 30)] == list(range(30))
        consumer.seek(topic, 0, 5)
        assert [r.offset_value for r in consume(consumer, 25)] == list(range(5, 30))
        consumer.seek(topic, 0, 28)
        assert [r.offset_value for r in consume(consumer, 2)] == [28, 29]
        assert consumer.positions() == {topic: {0: 30}}


def test_explicit_start_offsets_see_every_record_after_them(bus, new_topic):
    """A consumer started after 500 records from the facts' start_offsets sees all 500."""
    topic = new_topic()
    bus.ensure_topics({topic: 4})
    _publish_seq(bus, topic, 37)  # earlier runs on the shared topic
    start_offsets = bus.head_offsets(topic)
    _publish_seq(bus, topic, 500, start=1000, batch=100)
    with bus.consumer("late", {topic: start_offsets}) as consumer:
        records = consume(consumer, 500)
    assert len(records) == 500
    assert sorted(int(r.headers["seq"]) for r in records) == list(range(1000, 1500))


def test_latest_is_refused(bus, new_topic):
    topic = new_topic()
    bus.ensure_topics({topic: 1})
    with pytest.raises(EngineFailure) as err:
        bus.consumer("g", [topic], start="latest")
    assert err.value.code == E_EB_START_LATEST_FORBIDDEN
    assert "misses every record" in str(err.value)


def test_checkpoint_ahead_of_head_is_refused(bus, new_topic):
    topic = new_topic()
    bus.ensure_topics({topic: 2})
    _publish_seq(bus, topic, 4)
    heads = bus.head_offsets(topic)
    with pytest.raises(EngineFailure) as err:
        bus.consumer("g", {topic: {0: heads[0] + 1}})
    assert err.value.code == E_EB_CHECKPOINT_AHEAD_OF_HEAD
    bus.commit("g", topic, 1, heads[1] + 5)
    with pytest.raises(EngineFailure) as err:
        bus.consumer("g", [topic])
    assert err.value.code == E_EB_CHECKPOINT_AHEAD_OF_HEAD


def test_partition_count_mismatch_is_refused(bus, new_topic):
    topic = new_topic()
    bus.ensure_topics({topic: 2})
    bus.ensure_topics({topic: 2})  # idempotent
    with pytest.raises(EngineFailure) as err:
        bus.ensure_topics({topic: 4})
    assert err.value.code == E_EB_TOPIC_PARTITIONS_MISMATCH
    assert bus.partitions(topic) == 2


def test_epoch_changes_when_topic_is_recreated(bus, new_topic):
    topic = new_topic()
    bus.ensure_topics({topic: 1})
    _publish_seq(bus, topic, 5)
    epoch = bus.topic_epoch(topic)
    assert epoch == bus.topic_epoch(topic)
    bus.delete_topic(topic)
    bus.ensure_topics({topic: 1})
    assert bus.topic_epoch(topic) != epoch
    assert bus.head_offsets(topic) == {0: 0}
    with pytest.raises(EngineFailure) as err:  # an old checkpoint now points past the head
        bus.consumer("g", {topic: {0: 5}})
    assert err.value.code == E_EB_CHECKPOINT_AHEAD_OF_HEAD


def test_iter_records_drains_to_head(bus, new_topic):
    topic = new_topic()
    bus.ensure_topics({topic: 2})
    _publish_seq(bus, topic, 25)
    with bus.consumer("g", [topic]) as consumer:
        consume(consumer, 0)  # let the Kafka client connect before the short-timeout drain
        consumer.seek(topic, 0, 0)
        consumer.seek(topic, 1, 0)
        assert len(list(iter_records(consumer, max_records=7, timeout_ms=1500))) == 25


def test_probe(bus, new_topic):
    topic = new_topic()
    bus.ensure_topics({topic: 2})
    assert bus.probe().state == "GREEN"
    assert bus.probe({topic: 2}).state == "GREEN"
    assert bus.probe({new_topic("absent"): 1}).state == "RED"


def test_unknown_topic(bus, new_topic):
    with pytest.raises(EngineFailure) as err:
        bus.partitions(new_topic("absent"))
    assert err.value.code == E_EB_TOPIC_UNKNOWN


@pytest.mark.integration
def test_routing_identical_across_adapters(tmp_path, kafka_bootstrap, new_topic):
    """The same keys land in the same partitions on SQLite and Kafka (no client partitioner)."""
    from fraud_assets.platform.bus import open_bus

    topic = new_topic()
    keys = [str(k) for k in range(0, 2000, 7)] + ["pr_0123456789abcdef0123", "é", "e" * 64]
    placements = []
    for kind, config in (("sqlite", {"path": tmp_path / "eb.sqlite"}), ("kafka", {"bootstrap": kafka_bootstrap})):
        with open_bus(kind, **config) as bus:
            bus.ensure_topics({topic: 4})
            outcomes = bus.publish_batch([PublishRecord(topic, k, k.encode()) for k in keys])
            placements.append([o.eb_ref.partition for o in outcomes])
            assert bus.head_offsets(topic) == {p: placements[-1].count(p) for p in range(4)}
    assert placements[0] == placements[1] == [partition_for_key(k, 4) for k in keys]


def test_adapters_satisfy_the_protocol(bus):
    from fraud_assets.platform.bus.protocol import Consumer, EventBus

    assert isinstance(bus, EventBus)
    topic = f"proto.{bus.kind}.{id(bus)}"
    bus.ensure_topics({topic: 1})
    with bus.consumer("g", [topic]) as consumer:
        assert isinstance(consumer, Consumer)
