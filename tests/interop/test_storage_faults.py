"""Damaged and missing files between runs, seen through real clients: a lost or damaged topic registry,
a torn tail after a clean stop, corrupt batches in the middle of a log. Nothing intact is lost, no offset is
handed out twice, and damage is answered with an error rather than an empty read."""
import struct
import time

import confluent_kafka
from confluent_kafka.admin import AdminClient, NewTopic

from test_kafka_clients import consume_assigned


def create_topic(bootstrap, name, partitions=1, **config):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(name, partitions, 1, config={k.replace("_", "."): str(v) for k, v in config.items()})]).values():
        future.result()


def produce(bootstrap, topic, values, partition=0, batch_size=None):
    config = {"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": "all"}
    if batch_size:
        config["batch.num.messages"] = batch_size
    producer = confluent_kafka.Producer(config)
    offsets = []
    errors = []

    def delivered(error, message):
        if error:
            errors.append(error)
        else:
            offsets.append(message.offset())

    for value in values:
        producer.produce(topic, value=value, partition=partition, on_delivery=delivered)
        producer.poll(0)
    assert producer.flush(60) == 0
    assert not errors, errors[:3]
    return offsets


def committed_offset(bootstrap, group, topic, partition=0):
    consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    committed = consumer.committed([confluent_kafka.TopicPartition(topic, partition)], timeout=10)
    consumer.close()
    return committed[0].offset


def commit(bootstrap, group, topic, offset, partition=0):
    consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    consumer.commit(offsets=[confluent_kafka.TopicPartition(topic, partition, offset)], asynchronous=False)
    consumer.close()


def test_a_missing_topic_registry_deletes_nothing(server):
    create_topic(server.bootstrap, "orders", partitions=3, retention_ms=86_400_000)
    for partition in range(3):
        produce(server.bootstrap, "orders", [b"order-%d-%d" % (partition, index) for index in range(200)], partition=partition)
    commit(server.bootstrap, "billing", "orders", 150)
    server.stop()
    (server.data / "topics.json").unlink()
    server.start()
    log = server.log()
    assert "removing a partition directory" not in log
    assert "adopted it with its data" in log and "topic=orders" in log
    # Every record is still there, offsets continue where they were, and committed offsets survived.
    messages = consume_assigned(server.bootstrap, "orders", [0, 1, 2], expected_total=600)
    assert sorted(m.value() for m in messages) == sorted(b"order-%d-%d" % (p, i) for p in range(3) for i in range(200))
    assert produce(server.bootstrap, "orders", [b"after"], partition=1) == [200]
    assert committed_offset(server.bootstrap, "billing", "orders") == 150
    # The internal offsets topic got back the compaction its owner needs.
    admin = AdminClient({"bootstrap.servers": server.bootstrap})
    resource = confluent_kafka.admin.ConfigResource("topic", "__consumer_offsets")
    configs = admin.describe_configs([resource])[resource].result()
    assert configs["cleanup.policy"].value == "compact"


def test_a_damaged_topic_registry_is_kept_aside_and_rebuilt(server):
    create_topic(server.bootstrap, "telemetry", partitions=2)
    produce(server.bootstrap, "telemetry", [b"t-%d" % index for index in range(100)], partition=1)
    server.stop()
    (server.data / "topics.json").write_bytes(b'{"version": 1, "topics": [{"name": "telem')
    server.start()
    assert list(server.data.glob("topics.json.damaged-*")), "the damaged registry is kept for the operator"
    messages = consume_assigned(server.bootstrap, "telemetry", [1], expected_total=100)
    assert [m.value() for m in messages] == [b"t-%d" % index for index in range(100)]


def test_a_partition_directory_with_another_topic_id_is_kept_aside(server):
    create_topic(server.bootstrap, "shared", partitions=1)
    produce(server.bootstrap, "shared", [b"first"])
    server.stop()
    metadata = server.data / "shared-0" / "partition.metadata"
    metadata.write_text("version: 0\ntopic_id: AAAAAAAAAAAAAAAAAAAAAQ\n")
    server.start()
    stray = list(server.data.glob("shared-0.*-stray"))
    assert len(stray) == 1 and list(stray[0].glob("*.log")), "the directory is kept, with its data"
    assert "kept it aside" in server.log()


def test_a_torn_tail_after_a_clean_stop_never_reuses_offsets(server):
    create_topic(server.bootstrap, "clean-torn")
    # 200 batches of 99 records: 19,800 records.
    producer = confluent_kafka.Producer({"bootstrap.servers": server.bootstrap, "linger.ms": 1000, "batch.num.messages": 99, "acks": "all"})
    for batch in range(200):
        for index in range(99):
            producer.produce("clean-torn", value=b"b%d-r%d" % (batch, index), partition=0)
        assert producer.flush(30) == 0
    assert server.stop() == 0
    segment = server.data / "clean-torn-0" / "00000000000000000000.log"
    size = segment.stat().st_size
    with open(segment, "r+b") as file:
        file.truncate(size - 37)
    server.start()
    low, high = confluent_kafka.Consumer({"bootstrap.servers": server.bootstrap, "group.id": "w"}).get_watermark_offsets(
        confluent_kafka.TopicPartition("clean-torn", 0), timeout=10)
    # The intact records stay readable and the log end does not move back.
    assert (low, high) == (0, 19_800)
    messages = consume_assigned(server.bootstrap, "clean-torn", [0], expected_total=19_701, timeout=60)
    assert len(messages) == 19_701
    assert [m.offset() for m in messages] == list(range(19_701))
    assert produce(server.bootstrap, "clean-torn", [b"after"]) == [19_800]


def flip_byte(path, position):
    with open(path, "r+b") as file:
        file.seek(position)
        value = file.read(1)[0]
        file.seek(position)
        file.write(bytes([value ^ 0xFF]))


def batch_positions(path):
    data = path.read_bytes()
    positions = []
    position = 0
    while position + 12 <= len(data):
        positions.append(position)
        length = struct.unpack(">i", data[position + 8:position + 12])[0]
        position += 12 + length
    return positions


def test_a_corrupt_batch_in_the_middle_answers_a_storage_error(server):
    create_topic(server.bootstrap, "damaged")
    producer = confluent_kafka.Producer({"bootstrap.servers": server.bootstrap, "linger.ms": 0})
    for index in range(40):
        producer.produce("damaged", value=b"value-%d" % index, partition=0)
        producer.flush(10)
    assert server.stop() == 0
    segment = server.data / "damaged-0" / "00000000000000000000.log"
    positions = batch_positions(segment)
    flip_byte(segment, positions[20] + 70)
    with open(segment, "r+b") as file:
        file.seek(positions[30] + 8)
        file.write(struct.pack(">i", 0x7FFFFFF0))
    server.start()
    consumer = confluent_kafka.Consumer({"bootstrap.servers": server.bootstrap, "group.id": "d", "enable.auto.commit": False})
    consumer.assign([confluent_kafka.TopicPartition("damaged", 0, 0)])
    values = []
    deadline = time.time() + 20
    # Keep the consumer fetching after the last good record, so that it reaches the damage.
    while time.time() < deadline and (len(values) < 20 or "a read met a corrupt record batch" not in server.log()):
        message = consumer.poll(0.5)
        if message is not None and not message.error():
            values.append(message.value())
    consumer.close()
    # Everything before the damage arrives, nothing after it; the damage itself is reported (a storage error
    # for the partition, and a log line), not silently skipped.
    assert values == [b"value-%d" % index for index in range(20)]
    assert "a read met a corrupt record batch" in server.log()
    # Records after the damage stay readable by offset.
    after = confluent_kafka.Consumer({"bootstrap.servers": server.bootstrap, "group.id": "d2", "enable.auto.commit": False})
    after.assign([confluent_kafka.TopicPartition("damaged", 0, 31)])
    later = []
    deadline = time.time() + 15
    while time.time() < deadline and len(later) < 9:
        message = after.poll(0.5)
        if message is not None and not message.error():
            later.append(message.value())
    after.close()
    assert later == [b"value-%d" % index for index in range(31, 40)]
