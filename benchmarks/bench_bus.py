"""Event bus throughput: publish + consume for both adapters, and raw confluent-kafka on the same Tansu.

One run, one machine: the SQLite adapter (default codec `auto` = zstd-1 if `zstandard` is installed,
else raw values; and explicit zlib-1),
the Kafka adapter (idempotent producer, explicit partitions) and a raw confluent-kafka
producer/consumer with the same producer settings against the same Tansu broker started here on a
free loopback port. Values are ~0.9 KB canonical envelopes with the seven bus headers, 4 partitions,
publish batches of 2 000 (the embedded IG batch) and polls of 2 000. Prints events/s and ratios;
nothing is asserted (ARCHITECTURE §12).

    PYTHONPATH=. python benchmarks/bench_bus.py [--events 100000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition

from fraud_assets.core.canonical import canonical_json
from fraud_assets.platform.bus.kafka import KafkaEventBus
from fraud_assets.platform.bus.protocol import EventBus, PublishRecord
from fraud_assets.platform.bus.sqlite import SqliteEventBus
from fraud_assets.platform.contracts import ids
from fraud_assets.platform.contracts.envelope import ts_utc_from_us
from fraud_assets.platform.contracts.hashing import payload_hash
from fraud_assets.platform.contracts.topics import partition_for_key
from fraud_assets.platform.services.tansu import free_port, start_tansu

PARTITIONS = 4
BATCH = 2000
PINS = {
    "platform_run_id": "pr_0123456789abcdef0123",
    "scenario_run_id": "0123456789abcdef0123456789abcdef",
    "scenario_id": "baseline_v1",
    "manifest_fingerprint": "a" * 64,
    "parameter_hash": "b" * 64,
    "seed": 42,
}
OUTPUT = "s3_event_stream_with_fraud_6B"


def make_records(topic: str, n: int) -> list[PublishRecord]:
    event_ids = ids.engine_event_ids(OUTPUT, [(i, 0) for i in range(n)], PINS)
    records = []
    for i, event_id in enumerate(event_ids):
        ts = ts_utc_from_us(1_774_569_600_000_000 + i * 1000)
        payload = {
            "flow_id": i,
            "event_seq": 0,
            "event_type": "AUTH_REQUEST",
            "ts_utc": ts,
            "amount": 12.5 + i % 100,
            "merchant_id": 1_000_000 + i % 5000,
            "party_id": i * 7 % 100_000,
            "account_id": i * 11 % 100_000,
            "instrument_id": i * 13 % 100_000,
            "device_id": i * 17 % 100_000,
            "ip_id": i * 19 % 100_000,
            "channel_group": "ECOM",
            "note": "x" * 300,
        }
        envelope = {
            "event_id": event_id,
            "event_class": "traffic_fraud",
            "event_type": OUTPUT,
            "schema_version": "v1",
            "producer": "svc:world_stream_producer",
            "ts_utc": ts,
            "pins": PINS,
            "payload": payload,
        }
        value = canonical_json(envelope)
        headers = {
            "event_id": event_id,
            "event_type": OUTPUT,
            "event_class": "traffic_fraud",
            "platform_run_id": PINS["platform_run_id"],
            "ts_utc": ts,
            "payload_hash": payload_hash(OUTPUT, "v1", payload),
            "producer": "svc:world_stream_producer",
        }
        key = str(i)
        records.append(PublishRecord(topic, key, value, headers, partition_for_key(key, PARTITIONS)))
    return records


def bench_adapter(bus: EventBus, topic: str, records: list[PublishRecord]) -> tuple[float, float]:
    bus.ensure_topics({topic: PARTITIONS})
    t0 = time.perf_counter()
    for lo in range(0, len(records), BATCH):
        outcomes = bus.publish_batch(records[lo : lo + BATCH])
        assert all(o.status == "ok" for o in outcomes), outcomes[0]
    publish_s = time.perf_counter() - t0
    consumer = bus.consumer("bench", [topic], start="earliest")
    got = 0
    t0 = time.perf_counter()
    while got < len(records):
        got += len(consumer.poll(BATCH, 1000))
    consume_s = time.perf_counter() - t0
    consumer.close()
    return len(records) / publish_s, len(records) / consume_s


def bench_raw_kafka(bootstrap: str, topic: str, records: list[PublishRecord]) -> tuple[float, float]:
    admin_bus = KafkaEventBus(bootstrap)
    admin_bus.ensure_topics({topic: PARTITIONS})
    admin_bus.close()
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "max.in.flight.requests.per.connection": 5,
            "linger.ms": 5,
            "batch.size": 1_048_576,
            "compression.type": "none",
        }
    )
    t0 = time.perf_counter()
    for i, rec in enumerate(records):
        while True:
            try:
                producer.produce(
                    topic, rec.value, rec.key, partition=rec.partition, headers=[(k, v.encode()) for k, v in rec.headers.items()]
                )
                break
            except BufferError:
                producer.poll(0.05)
        if i % BATCH == BATCH - 1:
            producer.flush(60)
    producer.flush(60)
    produce_s = time.perf_counter() - t0
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "raw", "enable.auto.commit": False, "fetch.wait.max.ms": 100})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    got = 0
    t0 = time.perf_counter()
    while got < len(records):
        got += sum(1 for m in consumer.consume(BATCH, 1.0) if m.error() is None)
    consume_s = time.perf_counter() - t0
    consumer.close()
    return len(records) / produce_s, len(records) / consume_s


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    n = args.events
    results: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench_bus_") as tmp:
        base = Path(tmp)
        records = make_records("placeholder", n)
        bytes_per = sum(len(r.value) for r in records) / n

        def retopic(topic: str) -> list[PublishRecord]:
            return [PublishRecord(topic, r.key, r.value, r.headers, r.partition) for r in records]

        for codec in ("auto", "zlib"):  # auto = zstd-1 when zstandard is installed, else raw values
            bus = SqliteEventBus(base / f"eb_{codec}.sqlite", codec=codec)  # type: ignore[arg-type]
            used = {0: "none", 1: "zlib-1", 2: "zstd-1"}[bus.codec]
            results[f"sqlite adapter (codec {codec}: {used})"] = bench_adapter(bus, "bench.sqlite", retopic("bench.sqlite"))
            bus.close()
        t0 = time.perf_counter()
        tansu = start_tansu(free_port(), base / "tansu", die_with_parent=True)
        tansu_start = time.perf_counter() - t0
        try:
            bus = KafkaEventBus(tansu.bootstrap)
            results["kafka adapter (Tansu)"] = bench_adapter(bus, "bench.adapter", retopic("bench.adapter"))
            bus.close()
            results["raw confluent-kafka (Tansu)"] = bench_raw_kafka(tansu.bootstrap, "bench.raw", retopic("bench.raw"))
        finally:
            tansu.stop()
    raw_pub, raw_con = results["raw confluent-kafka (Tansu)"]
    print(f"{n} events of {bytes_per:.0f} B (canonical envelope + 7 headers), {PARTITIONS} partitions, "
          f"batches of {BATCH}; Tansu start {tansu_start:.2f} s (memory-only)")
    print(f"{'measurement':40s} {'publish ev/s':>13s} {'consume ev/s':>13s} {'pub/raw':>8s} {'con/raw':>8s} {'µs/ev pub':>10s}")
    for name, (pub, con) in results.items():
        print(f"{name:40s} {pub:13.0f} {con:13.0f} {pub / raw_pub:7.2f}x {con / raw_con:7.2f}x {1e6 / pub:10.1f}")
    sqlite_pub = next(v[0] for k, v in results.items() if k.startswith("sqlite adapter (codec auto"))
    print(f"embedded bus append budget (control_ingress §14: 8 µs/event): measured {1e6 / sqlite_pub:.1f} µs "
          f"-> {8 / (1e6 / sqlite_pub):.2f} of budget rate")


if __name__ == "__main__":
    main()
