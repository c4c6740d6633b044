"""Produce and consume with real Kafka clients against the real binary, every compression codec,
admin calls (create topic, list offsets by time, delete records, describe configs)."""
import asyncio
import subprocess
import time

import aiokafka
import confluent_kafka
import kafka
import pytest
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic
from kafka.admin import KafkaAdminClient
from kafka.admin import NewTopic as KafkaPythonNewTopic

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
BASE_TIMESTAMP = 1_700_000_000_000


def expected_records(codec, count=60):
    return [
        (f"key-{index}".encode(), f"{codec} value {index} ".encode() * 5, [("h", f"v{index}".encode())], BASE_TIMESTAMP + index)
        for index in range(count)
    ]


def consume_assigned(bootstrap, topic, partitions, expected_total, timeout=30):
    consumer = confluent_kafka.Consumer({
        "bootstrap.servers": bootstrap, "group.id": "readers", "enable.auto.commit": False, "auto.offset.reset": "earliest",
    })
    consumer.assign([confluent_kafka.TopicPartition(topic, partition, confluent_kafka.OFFSET_BEGINNING) for partition in partitions])
    messages = []
    deadline = time.time() + timeout
    while len(messages) < expected_total and time.time() < deadline:
        message = consumer.poll(0.5)
        if message is None:
            continue
        assert not message.error(), message.error()
        messages.append(message)
    consumer.close()
    return messages


def test_kcat_100000_messages_with_keys_and_headers(server):
    lines = "".join(f"key-{index % 97}:value-{index}\n" for index in range(100_000))
    produced = subprocess.run(["kcat", "-b", server.bootstrap, "-P", "-t", "bulk", "-K:", "-H", "source=kcat"],
                              input=lines, capture_output=True, text=True, timeout=300)
    assert produced.returncode == 0, produced.stderr
    consumed = subprocess.run(["kcat", "-b", server.bootstrap, "-C", "-t", "bulk", "-o", "beginning", "-e", "-q", "-f", "%k|%s|%h|%o\n"],
                              capture_output=True, text=True, timeout=300)
    assert consumed.returncode == 0, consumed.stderr
    rows = consumed.stdout.splitlines()
    assert len(rows) == 100_000
    for index, row in enumerate(rows):
        assert row == f"key-{index % 97}|value-{index}|source=kcat|{index}"


def test_confluent_kafka_every_codec_round_trips(server):
    admin = AdminClient({"bootstrap.servers": server.bootstrap})
    for future in admin.create_topics([NewTopic("codecs", num_partitions=6, replication_factor=1)]).values():
        future.result()
    for codec in CODECS:
        producer = confluent_kafka.Producer({"bootstrap.servers": server.bootstrap, "compression.type": codec, "acks": "all", "linger.ms": 20})
        for key, value, headers, timestamp in expected_records(codec):
            producer.produce("codecs", key=key, value=value, headers=headers, timestamp=timestamp, partition=CODECS.index(codec))
        assert producer.flush(30) == 0
    messages = consume_assigned(server.bootstrap, "codecs", range(6), expected_total=len(CODECS) * 60)
    by_partition = {}
    for message in messages:
        by_partition.setdefault(message.partition(), []).append(message)
    for codec in CODECS:
        got = by_partition[CODECS.index(codec)]
        assert [m.offset() for m in got] == list(range(60))
        assert [(m.key(), m.value(), m.headers(), m.timestamp()[1]) for m in got] == expected_records(codec)


def test_kafka_python_every_codec_round_trips(server):
    admin = KafkaAdminClient(bootstrap_servers=server.bootstrap)
    admin.create_topics([KafkaPythonNewTopic("kp-codecs", num_partitions=6, replication_factor=1)])
    admin.close()
    for codec in CODECS:
        producer = kafka.KafkaProducer(bootstrap_servers=server.bootstrap, acks="all",
                                       compression_type=None if codec == "none" else codec)
        for key, value, headers, timestamp in expected_records(codec):
            producer.send("kp-codecs", key=key, value=value, headers=headers, timestamp_ms=timestamp, partition=CODECS.index(codec))
        producer.flush(30)
        producer.close()
    consumer = kafka.KafkaConsumer(bootstrap_servers=server.bootstrap, auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=5000)
    consumer.assign([kafka.TopicPartition("kp-codecs", partition) for partition in range(6)])
    consumer.seek_to_beginning()
    got = {}
    for message in consumer:
        got.setdefault(message.partition, []).append((message.key, message.value, list(message.headers), message.timestamp))
    consumer.close()
    for codec in CODECS:
        assert got[CODECS.index(codec)] == [(k, v, h, t) for k, v, h, t in expected_records(codec)]


def test_aiokafka_round_trip(server):
    async def run():
        producer = aiokafka.AIOKafkaProducer(bootstrap_servers=server.bootstrap)
        await producer.start()
        try:
            for index in range(20):
                await producer.send_and_wait("aio", key=b"k%d" % index, value=b"v%d" % index)
        finally:
            await producer.stop()
        consumer = aiokafka.AIOKafkaConsumer(bootstrap_servers=server.bootstrap, auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign([aiokafka.TopicPartition("aio", 0)])
            await consumer.seek_to_beginning()
            values = []
            while len(values) < 20:
                batch = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), 10)
                for messages in batch.values():
                    values += [(m.key, m.value) for m in messages]
            return values
        finally:
            await consumer.stop()

    assert asyncio.run(run()) == [(b"k%d" % i, b"v%d" % i) for i in range(20)]


def test_list_offsets_by_time_delete_records_and_describe_configs(server):
    admin = AdminClient({"bootstrap.servers": server.bootstrap})
    for future in admin.create_topics([NewTopic("admin-calls", 1, 1, config={"retention.ms": "3600000"})]).values():
        future.result()
    producer = confluent_kafka.Producer({"bootstrap.servers": server.bootstrap})
    for index in range(10):
        producer.produce("admin-calls", value=b"v%d" % index, timestamp=BASE_TIMESTAMP + index * 1000)
    assert producer.flush(10) == 0

    consumer = confluent_kafka.Consumer({"bootstrap.servers": server.bootstrap, "group.id": "times"})
    found = consumer.offsets_for_times([confluent_kafka.TopicPartition("admin-calls", 0, BASE_TIMESTAMP + 4_500)], timeout=10)
    assert found[0].offset == 5
    beyond = consumer.offsets_for_times([confluent_kafka.TopicPartition("admin-calls", 0, BASE_TIMESTAMP + 60_000)], timeout=10)
    assert beyond[0].offset == -1
    low, high = consumer.get_watermark_offsets(confluent_kafka.TopicPartition("admin-calls", 0), timeout=10)
    assert (low, high) == (0, 10)

    deleted = admin.delete_records([confluent_kafka.TopicPartition("admin-calls", 0, 7)])
    for future in deleted.values():
        assert future.result().low_watermark == 7
    low, high = consumer.get_watermark_offsets(confluent_kafka.TopicPartition("admin-calls", 0), timeout=10)
    assert (low, high) == (7, 10)
    consumer.close()
    remaining = consume_assigned(server.bootstrap, "admin-calls", [0], expected_total=3)
    assert [m.value() for m in remaining] == [b"v7", b"v8", b"v9"]

    resource = ConfigResource(ConfigResource.Type.TOPIC, "admin-calls")
    configs = list(admin.describe_configs([resource]).values())[0].result()
    assert configs["retention.ms"].value == "3600000"
    assert configs["retention.ms"].source == confluent_kafka.admin.ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert configs["cleanup.policy"].value == "delete"
    assert configs["segment.bytes"].is_default

    # Changes through IncrementalAlterConfigs show up in DescribeConfigs.
    change = ConfigResource(ConfigResource.Type.TOPIC, "admin-calls", incremental_configs=[
        confluent_kafka.admin.ConfigEntry("retention.ms", "7200000", incremental_operation=confluent_kafka.admin.AlterConfigOpType.SET),
    ])
    for future in admin.incremental_alter_configs([change]).values():
        future.result()
    configs = list(admin.describe_configs([resource]).values())[0].result()
    assert configs["retention.ms"].value == "7200000"

    # An unknown config is refused with INVALID_CONFIG.
    bad = ConfigResource(ConfigResource.Type.TOPIC, "admin-calls", incremental_configs=[
        confluent_kafka.admin.ConfigEntry("no.such.config", "1", incremental_operation=confluent_kafka.admin.AlterConfigOpType.SET),
    ])
    with pytest.raises(confluent_kafka.KafkaException) as refused:
        for future in admin.incremental_alter_configs([bad]).values():
            future.result()
    assert refused.value.args[0].code() == confluent_kafka.KafkaError.INVALID_CONFIG


def test_kafka_python_admin_describes_configs_and_deletes_records(server):
    admin = KafkaAdminClient(bootstrap_servers=server.bootstrap)
    admin.create_topics([KafkaPythonNewTopic("kp-admin", num_partitions=2, replication_factor=1, topic_configs={"cleanup.policy": "compact"})])
    # kafka-python 3 reports the configs that differ from the defaults.
    described = admin.describe_configs([kafka.admin.ConfigResource(kafka.admin.ConfigResourceType.TOPIC, "kp-admin")])
    modified = described["topic"]["kp-admin"]
    assert modified["cleanup.policy"]["value"] == "compact"
    assert "segment.bytes" not in modified
    producer = kafka.KafkaProducer(bootstrap_servers=server.bootstrap)
    for index in range(5):
        producer.send("kp-admin", key=b"k%d" % index, value=b"v", partition=0)
    producer.flush()
    producer.close()
    result = admin.delete_records({kafka.TopicPartition("kp-admin", 0): 3})
    assert result[kafka.TopicPartition("kp-admin", 0)]["low_watermark"] == 3
    admin.delete_topics(["kp-admin"])
    assert "kp-admin" not in admin.list_topics()
    admin.close()


def test_compacted_topic_refuses_records_without_keys(server):
    admin = AdminClient({"bootstrap.servers": server.bootstrap})
    for future in admin.create_topics([NewTopic("keyed", 1, 1, config={"cleanup.policy": "compact"})]).values():
        future.result()
    producer = confluent_kafka.Producer({"bootstrap.servers": server.bootstrap, "message.send.max.retries": 0})
    errors = []
    producer.produce("keyed", value=b"no key", on_delivery=lambda error, message: errors.append(error))
    producer.flush(10)
    assert errors[0] is not None and errors[0].code() == confluent_kafka.KafkaError.INVALID_RECORD


def test_topic_ids_and_configs_survive_a_restart(server):
    admin = AdminClient({"bootstrap.servers": server.bootstrap})
    for future in admin.create_topics([NewTopic("stable", 3, 1, config={"retention.ms": "123456"})]).values():
        future.result()

    def describe():
        client = AdminClient({"bootstrap.servers": server.bootstrap})
        description = list(client.describe_topics(confluent_kafka.TopicCollection(["stable"])).values())[0].result()
        configs = list(client.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, "stable")]).values())[0].result()
        return str(description.topic_id), len(description.partitions), configs["retention.ms"].value

    before = describe()
    assert before[1:] == (3, "123456")
    server.kill()
    server.start()
    assert describe() == before
