#!/usr/bin/env python3
"""Produce and consume throughput against a Kafka-protocol broker with confluent-kafka, next to the
disk's sequential write bandwidth measured in the same run (dd with conv=fdatasync), as a ratio.

    .venv/bin/python tools/kafka_throughput.py --bootstrap 127.0.0.1:9092 --data-directory ./data

Each case produces `--megabytes` of records of one size with acks=all (and acks=1) to a fresh
6-partition topic, then consumes them from the beginning. Figures are medians of `--runs` runs."""
import argparse
import statistics
import subprocess
import time
import uuid

import confluent_kafka
from confluent_kafka.admin import AdminClient, NewTopic


def disk_write_bandwidth(directory, megabytes=512):
    """MB/s of one sequential write of `megabytes`, fdatasync'd (dd conv=fdatasync)."""
    path = f"{directory}/dd-{uuid.uuid4().hex}"
    started = time.monotonic()
    subprocess.run(["dd", "if=/dev/zero", f"of={path}", "bs=1M", f"count={megabytes}", "conv=fdatasync"],
                   check=True, capture_output=True)
    elapsed = time.monotonic() - started
    subprocess.run(["rm", "-f", path], check=True)
    return megabytes / elapsed


def produce(bootstrap, topic, size, total_bytes, acks):
    producer = confluent_kafka.Producer({
        "bootstrap.servers": bootstrap, "acks": acks, "linger.ms": 5, "batch.size": 1_000_000,
        "queue.buffering.max.kbytes": 1_048_576, "queue.buffering.max.messages": 2_000_000, "compression.type": "none",
    })
    value = b"x" * size
    count = total_bytes // size
    failed = []
    started = time.monotonic()
    for index in range(count):
        while True:
            try:
                producer.produce(topic, value=value, partition=index % 6,
                                 on_delivery=lambda error, message: error is not None and failed.append(error))
                break
            except BufferError:
                producer.poll(0.01)
        if index % 10_000 == 0:
            producer.poll(0)
    remaining = producer.flush(120)
    elapsed = time.monotonic() - started
    assert remaining == 0 and not failed, f"{remaining} undelivered, {len(failed)} failed: {failed[:3]}"
    return count / elapsed, count * size / elapsed / 1e6


def consume(bootstrap, topic, count):
    consumer = confluent_kafka.Consumer({
        "bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex}", "enable.auto.commit": False,
        "fetch.max.bytes": 52_428_800, "max.partition.fetch.bytes": 10_485_760, "queued.max.messages.kbytes": 1_048_576,
    })
    consumer.assign([confluent_kafka.TopicPartition(topic, partition, confluent_kafka.OFFSET_BEGINNING) for partition in range(6)])
    received = 0
    size = 0
    started = time.monotonic()
    while received < count:
        messages = consumer.consume(10_000, 1.0)
        for message in messages:
            if message.error() is None:
                received += 1
                size += len(message.value())
    elapsed = time.monotonic() - started
    consumer.close()
    return received / elapsed, size / elapsed / 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--data-directory", required=True, help="where dd writes (the broker's data directory)")
    parser.add_argument("--megabytes", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    arguments = parser.parse_args()
    admin = AdminClient({"bootstrap.servers": arguments.bootstrap})
    disk = statistics.median(disk_write_bandwidth(arguments.data_directory) for _ in range(arguments.runs))
    print(f"disk sequential write (dd bs=1M conv=fdatasync): {disk:.0f} MB/s (median of {arguments.runs})")
    print(f"{'case':<24}{'records/s':>12}{'MB/s':>10}{'vs disk':>10}")
    for size in (100, 1024):
        for acks in ("all", "1"):
            produced, consumed = [], []
            for _ in range(arguments.runs):
                topic = f"throughput-{size}-{acks}-{uuid.uuid4().hex[:8]}"
                for future in admin.create_topics([NewTopic(topic, 6, 1)]).values():
                    future.result()
                total = arguments.megabytes * 1_000_000
                produced.append(produce(arguments.bootstrap, topic, size, total, acks))
                consumed.append(consume(arguments.bootstrap, topic, total // size))
                for future in admin.delete_topics([topic]).values():
                    future.result()
            for label, results in ((f"produce {size} B acks={acks}", produced), (f"consume {size} B", consumed)):
                records = statistics.median(r[0] for r in results)
                megabytes = statistics.median(r[1] for r in results)
                print(f"{label:<24}{records:>12,.0f}{megabytes:>10.1f}{megabytes / disk:>10.2f}")


if __name__ == "__main__":
    main()
