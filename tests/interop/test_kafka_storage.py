"""Durability and storage behaviour seen through real clients: long polling, retention, compaction,
SIGKILL in the middle of acks=all produce, and a torn segment tail."""
import random
import time

import confluent_kafka
from confluent_kafka.admin import AdminClient, NewTopic

from test_kafka_clients import consume_assigned


def create_topic(bootstrap, name, partitions=1, **config):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(name, partitions, 1, config={k.replace("_", "."): str(v) for k, v in config.items()})]).values():
        future.result()


def test_long_poll_returns_as_soon_as_a_record_arrives(server):
    create_topic(server.bootstrap, "waiting")
    consumer = confluent_kafka.Consumer({
        "bootstrap.servers": server.bootstrap, "group.id": "long-poll", "fetch.wait.max.ms": 5000, "fetch.min.bytes": 1,
        "enable.auto.commit": False,
    })
    consumer.assign([confluent_kafka.TopicPartition("waiting", 0, confluent_kafka.OFFSET_END)])
    # Let the consumer settle into a waiting fetch on the empty partition.
    consumer.poll(1.5)
    producer = confluent_kafka.Producer({"bootstrap.servers": server.bootstrap})
    producer.produce("waiting", value=b"wake up")
    producer.flush(10)
    produced_at = time.monotonic()
    message = None
    while message is None and time.monotonic() - produced_at < 10:
        message = consumer.poll(0.1)
    waited = time.monotonic() - produced_at
    consumer.close()
    assert message is not None and message.value() == b"wake up"
    # A fetch that slept out its 5 s wait would deliver it up to 5 s late; the long poll wakes up on the append.
    assert waited < 4.0, f"the record took {waited:.1f}s to arrive"


def segment_files(server, topic, partition=0):
    return sorted(path.name for path in (server.data / f"{topic}-{partition}").glob("*.log"))


def test_retention_deletes_old_segments(server_factory):
    server = server_factory("--log-retention-check-interval-ms", "500").start()
    create_topic(server.bootstrap, "short-lived", segment_bytes=1000, retention_ms=3000)
    producer = confluent_kafka.Producer({"bootstrap.servers": server.bootstrap, "linger.ms": 0})
    # One batch per message (flushed one by one), so that segments roll every few batches.
    for index in range(60):
        producer.produce("short-lived", value=b"x" * 200)
        assert producer.flush(10) == 0
    assert len(segment_files(server, "short-lived")) > 5
    deadline = time.time() + 20
    while time.time() < deadline and len(segment_files(server, "short-lived")) > 1:
        time.sleep(0.5)
    assert len(segment_files(server, "short-lived")) == 1
    consumer = confluent_kafka.Consumer({"bootstrap.servers": server.bootstrap, "group.id": "retention"})
    low, high = consumer.get_watermark_offsets(confluent_kafka.TopicPartition("short-lived", 0), timeout=10)
    consumer.close()
    assert high == 60 and low > 0
    assert "retention deleted segments" in server.log()


def test_compacted_topic_keeps_the_latest_value_per_key(server_factory):
    server = server_factory("--log-retention-check-interval-ms", "500").start()
    create_topic(server.bootstrap, "latest", segment_bytes=1000, cleanup_policy="compact")
    producer = confluent_kafka.Producer({"bootstrap.servers": server.bootstrap, "linger.ms": 0})
    # A batch per round (flushed), so that the rounds spread over several segments.
    for round_ in range(20):
        for key in range(10):
            producer.produce("latest", key=f"key-{key}".encode(), value=f"round-{round_}".encode() * 5)
        assert producer.flush(10) == 0
    deadline = time.time() + 20
    while time.time() < deadline and "compacted" not in server.log():
        time.sleep(0.5)
    assert "compacted" in server.log()
    messages = consume_assigned(server.bootstrap, "latest", [0], expected_total=200, timeout=5)
    latest = {}
    for message in messages:
        latest[message.key()] = message.value()
    assert len(messages) < 200
    assert latest == {f"key-{key}".encode(): b"round-19" * 5 for key in range(10)}


def test_sigkill_during_acks_all_loses_nothing_acknowledged(server):
    """Ten times: produce with acks=all (no retries, so each acknowledged value is written once), kill -9 at
    a random moment, restart; every acknowledged record is there, in order, exactly once."""
    create_topic(server.bootstrap, "crash", partitions=1)
    rng = random.Random(7)
    acknowledged = []
    sequence = 0
    for round_ in range(10):
        producer = confluent_kafka.Producer({
            "bootstrap.servers": server.bootstrap, "acks": "all", "message.send.max.retries": 0, "enable.idempotence": False,
            "linger.ms": 1, "message.timeout.ms": 5000, "socket.timeout.ms": 2000,
        })

        def delivered(error, message):
            if error is None:
                acknowledged.append((message.offset(), message.value()))

        deadline = time.time() + rng.uniform(0.3, 1.5)
        while time.time() < deadline:
            producer.produce("crash", value=f"{round_}-{sequence}".encode(), on_delivery=delivered)
            sequence += 1
            producer.poll(0)
            if sequence % 100 == 0:
                time.sleep(0.005)
        server.kill()
        producer.flush(3)
        server.start()

    total = len(acknowledged)
    assert total > 1000
    messages = consume_assigned(server.bootstrap, "crash", [0], expected_total=sequence, timeout=20)
    stored = [(m.offset(), m.value()) for m in messages]
    stored_values = [value for _, value in stored]
    assert len(stored_values) == len(set(stored_values)), "a value was stored twice"
    offsets = dict(stored)
    for offset, value in acknowledged:
        assert offsets.get(offset) == value, f"acknowledged {value!r} at {offset} is missing"
    # Acknowledged records keep their produce order.
    positions = {value: offset for offset, value in stored}
    ordered = [positions[value] for _, value in sorted(acknowledged, key=lambda entry: (int(entry[1].split(b"-")[0]), int(entry[1].split(b"-")[1])))]
    assert ordered == sorted(ordered)


def test_torn_tail_is_cut_at_restart(server):
    create_topic(server.bootstrap, "torn")
    producer = confluent_kafka.Producer({"bootstrap.servers": server.bootstrap, "linger.ms": 0})
    for index in range(50):
        producer.produce("torn", value=b"value-%d" % index)
        producer.flush(10)
    server.kill()
    segment = server.data / "torn-0" / "00000000000000000000.log"
    good = segment.stat().st_size
    batch = segment.read_bytes()[:good][-100:]  # the tail of a real batch: a torn copy of it
    with open(segment, "ab") as file:
        file.write(batch[: len(batch) // 2])
        file.write(b"\x00\xde\xad\xbe\xef" * 7)
    server.start()
    assert segment.stat().st_size == good
    log = server.log()
    assert "recovery cut a torn segment tail" in log and "partition=torn-0" in log
    messages = consume_assigned(server.bootstrap, "torn", [0], expected_total=50)
    assert [m.value() for m in messages] == [b"value-%d" % index for index in range(50)]
    # Appends continue where the valid log ended.
    producer = confluent_kafka.Producer({"bootstrap.servers": server.bootstrap})
    offsets = []
    producer.produce("torn", value=b"after", on_delivery=lambda error, message: offsets.append(message.offset()))
    producer.flush(10)
    assert offsets == [50]
