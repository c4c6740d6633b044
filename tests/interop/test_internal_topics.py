"""The internal topics (__consumer_offsets, __mqtt_sessions, __mqtt_retained, __mqtt_downlinks) belong to the
broker: clients see them marked internal and cannot write, truncate, delete, repartition or reconfigure them.
Produce and DeleteRecords answer what Apache Kafka answers (ReplicaManager: InvalidTopicException "Cannot
append to internal topic <name>" / "Cannot delete records of internal topic <name>", INVALID_TOPIC_EXCEPTION).
Apache Kafka has no broker-side guard for CreatePartitions, DeleteTopics or AlterConfigs on its internal
topics; here they hold the MQTT state, so those are refused with INVALID_REQUEST and a message naming the
reason. A record forged into __mqtt_retained must never reach an MQTT subscriber."""
import time

import confluent_kafka
import pytest
from confluent_kafka import TopicCollection, TopicPartition
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewPartitions)

import conftest
import kafka_wire as wire
from mqtt_helpers import unique, wait_until
from test_protocol_answers import NO_TAGS, compact_array, compact_string, flexible

INVALID_TOPIC_EXCEPTION = 17
INVALID_REQUEST = 42
MQTT_INTERNAL = ["__mqtt_sessions", "__mqtt_retained", "__mqtt_downlinks"]
INTERNAL = ["__consumer_offsets"] + MQTT_INTERNAL


# --- helpers -------------------------------------------------------------------------------------------

PERSISTENT_CLIENT = "persistent-device"


def prepare(server, clients):
    """Makes every internal topic exist and hold something: a retained MQTT message, a persistent session
    (client PERSISTENT_CLIENT), and an offset committed by group "committer" for "ordinary"-0. Returns the
    retained (topic, payload)."""
    retained = ("devices/real/state", b'{"on":true}')
    publisher = clients(server.mqtt_port, client_id=unique("publisher"))
    publisher.connect()
    publisher.publish(retained[0], retained[1], qos=1, retain=True)
    publisher.disconnect()
    # A persistent session (MQTT 5, session expiry) is written to __mqtt_sessions.
    persistent = clients(server.mqtt_port, client_id=PERSISTENT_CLIENT, clean=False, session_expiry=3600)
    persistent.connect()
    persistent.subscribe("commands/#", qos=1)
    persistent.disconnect()
    # A commit without joining a group creates __consumer_offsets.
    producer = confluent_kafka.Producer({"bootstrap.servers": server.bootstrap})
    producer.produce("ordinary", value=b"v")
    assert producer.flush(10) == 0
    consumer = confluent_kafka.Consumer({"bootstrap.servers": server.bootstrap, "group.id": "committer", "enable.auto.commit": False})
    consumer.commit(offsets=[TopicPartition("ordinary", 0, 1)], asynchronous=False)
    consumer.close()
    wait_until(lambda: all(high_watermark(server, topic) > 0 for topic in ["__mqtt_retained", "__mqtt_sessions", "__consumer_offsets"]),
               15, "the internal topics to hold records")
    return retained


def watermarks(server, topic, partition=0):
    consumer = confluent_kafka.Consumer({"bootstrap.servers": server.bootstrap, "group.id": unique("watermarks")})
    try:
        return consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
    finally:
        consumer.close()


def high_watermark(server, topic):
    """Sum of the high watermarks of every partition of `topic`."""
    return sum(watermarks(server, topic, partition)[1] for partition in range(partition_count(server, topic)))


def metadata_v1(server, topics):
    """{name: (error code, is_internal, partition count)} from a raw Metadata v1 request."""
    connection = wire.Connection(server.bootstrap)
    try:
        reader = connection.call(3, 1, wire.array(topics, wire.string))
        reader.array(lambda r: (r.int32(), r.string(), r.int32(), r.string()))
        reader.int32()
        described = reader.array(lambda r: (r.int16(), r.string(), r.int8(), r.array(
            lambda p: (p.int16(), p.int32(), p.int32(), p.array(lambda x: x.int32()), p.array(lambda x: x.int32())))))
    finally:
        connection.close()
    return {name: (error, bool(internal), len(partitions)) for error, name, internal, partitions in described}


def partition_count(server, topic):
    return metadata_v1(server, [topic])[topic][2]


def produce_v8(connection, topic, partition, batch):
    """Produce v8 (the first version whose partition answers carry an error message): (error code, base offset,
    error message)."""
    reader = connection.call(0, 8, wire.produce_v3(topic, partition, batch))
    results = []
    for _ in range(reader.int32()):
        reader.string()
        for _ in range(reader.int32()):
            reader.int32()
            code, base_offset = reader.int16(), reader.int64()
            reader.int64(), reader.int64()  # log append time, log start offset
            reader.array(lambda r: (r.int32(), r.string()))  # record errors
            results.append((code, base_offset, reader.string()))
    assert len(results) == 1, results
    return results[0]


def forged_batch(key, value, headers=()):
    """One record shaped like the broker's own retained messages (key = MQTT topic, value = payload, the
    broker's mqtt.* headers; a None value is a tombstone), timestamped now."""
    timestamp = int(time.time() * 1000)
    key = key.encode()
    value_field = wire.varint(-1) if value is None else wire.varint(len(value)) + value
    header_fields = wire.varint(len(headers)) + b"".join(
        wire.varint(len(name.encode())) + name.encode() + wire.varint(len(data)) + data for name, data in headers)
    body = wire.int8(0) + wire.varint(0) + wire.varint(0) + wire.varint(len(key)) + key + value_field + header_fields
    records = wire.varint(len(body)) + body
    after_crc = (wire.int16(0) + wire.int32(0) + wire.int64(timestamp) + wire.int64(timestamp) + wire.int64(-1)
                 + wire.int16(-1) + wire.int32(-1) + wire.int32(1) + records)
    return (wire.int64(0) + wire.int32(4 + 1 + 4 + len(after_crc)) + wire.int32(0) + wire.int8(2)
            + wire.uint32(wire.crc32c(after_crc)) + after_crc)


def admin_error(future):
    """The KafkaError a failed admin future carries, or None when the call succeeded."""
    try:
        future.result()
    except confluent_kafka.KafkaException as error:
        return error.args[0]
    return None


def raw_create_partitions(server, topic, count):
    """CreatePartitions v1: (error code, error message)."""
    connection = wire.Connection(server.bootstrap)
    try:
        body = wire.array([topic], lambda name: wire.string(name) + wire.int32(count) + wire.int32(-1)) + wire.int32(10_000) + wire.int8(0)
        reader = connection.call(37, 1, body)
        reader.int32()
        results = reader.array(lambda r: (r.string(), r.int16(), r.string()))
    finally:
        connection.close()
    assert [name for name, _, _ in results] == [topic], results
    return results[0][1:]


def raw_delete_topic(server, topic):
    """DeleteTopics v5 (the first version with an error message): (error code, error message)."""
    connection = wire.Connection(server.bootstrap)
    try:
        body = compact_array([topic], compact_string) + wire.int32(10_000) + NO_TAGS
        reader = flexible(connection.call(20, 5, body, flexible_header=True))
        reader.int32()

        def result(r):
            name, code, message = r.compact_string(), r.int16(), r.compact_string()
            r.tags()
            return name, code, message

        results = reader.compact_array(result)
    finally:
        connection.close()
    assert [name for name, _, _ in results] == [topic], results
    return results[0][1:]


def raw_alter_configs(server, topic, configs, incremental):
    """AlterConfigs v1 or IncrementalAlterConfigs v0 (SET) of one topic: (error code, error message)."""
    if incremental:
        entries = wire.array(list(configs.items()), lambda item: wire.string(item[0]) + wire.int8(0) + wire.string(item[1]))
    else:
        entries = wire.array(list(configs.items()), lambda item: wire.string(item[0]) + wire.string(item[1]))
    body = wire.array([topic], lambda name: wire.int8(2) + wire.string(name) + entries) + wire.int8(0)
    connection = wire.Connection(server.bootstrap)
    try:
        reader = connection.call(44 if incremental else 33, 0 if incremental else 1, body)
        reader.int32()
        results = reader.array(lambda r: (r.int16(), r.string(), r.int8(), r.string()))
    finally:
        connection.close()
    assert [name for _, _, _, name in results] == [topic], results
    return results[0][:2]


def retained_messages(server, clients, topic_filter="#", settle=1.5):
    """Every retained message a fresh subscriber to `topic_filter` gets: {topic: payload}."""
    subscriber = clients(server.mqtt_port, client_id=unique("reader"))
    subscriber.connect()
    subscriber.subscribe(topic_filter, qos=1)
    time.sleep(settle)
    messages = {m.topic: m.payload for m in subscriber.messages if m.retain}
    subscriber.disconnect()
    return messages


# --- Metadata ------------------------------------------------------------------------------------------

def test_metadata_and_describe_topics_mark_the_internal_topics(server, clients):
    prepare(server, clients)
    described = metadata_v1(server, INTERNAL + ["ordinary", "mqtt.events"])
    for topic in INTERNAL:
        assert described[topic][0] == 0, f"{topic}: {described[topic]}"
        assert described[topic][1] is True, f"{topic} is not marked internal in Metadata v1"
    assert described["ordinary"][1] is False and described["mqtt.events"][1] is False
    # The same through confluent-kafka's DescribeTopics.
    admin = AdminClient({"bootstrap.servers": server.bootstrap})
    futures = admin.describe_topics(TopicCollection(INTERNAL + ["ordinary"]))
    internal = {name: future.result().is_internal for name, future in futures.items()}
    assert internal == {**{topic: True for topic in INTERNAL}, "ordinary": False}


# --- Produce -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("topic", INTERNAL)
def test_produce_to_an_internal_topic_is_refused(server, clients, topic):
    prepare(server, clients)
    before = high_watermark(server, topic)
    connection = wire.Connection(server.bootstrap)
    code, base_offset, message = produce_v8(connection, topic, 0, forged_batch("devices/forged/state", b"forged"))
    # Apache Kafka: InvalidTopicException("Cannot append to internal topic <name>"); its produce answers leave the
    # message out (hasCustomErrorMessage = false), so a message, when there is one, must say the same.
    assert code == INVALID_TOPIC_EXCEPTION, f"produce to {topic}: error {code}, base offset {base_offset}, message {message!r}"
    assert base_offset == -1
    assert message is None or f"Cannot append to internal topic {topic}".lower() in message.lower(), message
    connection.close()
    assert high_watermark(server, topic) == before, f"{topic} grew"


def test_a_client_producer_gets_invalid_topic_from_an_internal_topic(server, clients):
    prepare(server, clients)
    before = high_watermark(server, "__mqtt_retained")
    producer = confluent_kafka.Producer({"bootstrap.servers": server.bootstrap, "message.send.max.retries": 0})
    reports = []
    producer.produce("__mqtt_retained", key=b"devices/forged/state", value=b"forged",
                     on_delivery=lambda error, message: reports.append(error))
    started = time.monotonic()
    assert producer.flush(10) == 0
    assert time.monotonic() - started < 5
    assert len(reports) == 1 and reports[0] is not None, reports
    assert reports[0].code() == confluent_kafka.KafkaError.TOPIC_EXCEPTION, reports[0]
    assert high_watermark(server, "__mqtt_retained") == before


# --- admin calls ---------------------------------------------------------------------------------------

def test_delete_records_on_an_internal_topic_is_refused(server, clients):
    """Apache Kafka: INVALID_TOPIC_EXCEPTION, "Cannot delete records of internal topic <name>"."""
    retained = prepare(server, clients)
    low, high = watermarks(server, "__mqtt_retained")
    admin = AdminClient({"bootstrap.servers": server.bootstrap})
    for topic in ["__mqtt_retained", "__consumer_offsets"]:
        partition_high = watermarks(server, topic)[1] if topic == "__mqtt_retained" else -1  # -1: up to the high watermark
        futures = admin.delete_records([TopicPartition(topic, 0, partition_high)])
        error = admin_error(list(futures.values())[0])
        assert error is not None, f"DeleteRecords on {topic} succeeded"
        assert error.code() == INVALID_TOPIC_EXCEPTION, f"DeleteRecords on {topic}: {error}"
    assert watermarks(server, "__mqtt_retained") == (low, high)
    assert retained_messages(server, clients, "devices/#") == {retained[0]: retained[1]}


@pytest.mark.parametrize("topic", ["__mqtt_sessions", "__mqtt_retained", "__consumer_offsets"])
def test_create_partitions_on_an_internal_topic_is_refused(server, clients, topic):
    """Apache Kafka has no broker-side check here; this broker keys its MQTT state by partition, so
    repartitioning is refused with INVALID_REQUEST and a message that says why."""
    prepare(server, clients)
    before = partition_count(server, topic)
    code, message = raw_create_partitions(server, topic, before + 2)
    assert code == INVALID_REQUEST, f"CreatePartitions v1 on {topic}: {code} {message!r}"
    assert message and "internal" in message.lower(), message
    admin = AdminClient({"bootstrap.servers": server.bootstrap})
    error = admin_error(admin.create_partitions([NewPartitions(topic, before + 3)])[topic])
    assert error is not None, f"confluent-kafka create_partitions on {topic} succeeded"
    assert error.code() == INVALID_REQUEST, f"create_partitions on {topic}: {error}"
    assert partition_count(server, topic) == before


@pytest.mark.parametrize("topic", INTERNAL)
def test_delete_topics_on_an_internal_topic_is_refused(server, clients, topic):
    retained = prepare(server, clients)
    code, message = raw_delete_topic(server, topic)
    assert code == INVALID_REQUEST, f"DeleteTopics v5 on {topic}: {code} {message!r}"
    assert message and "internal" in message.lower(), message
    admin = AdminClient({"bootstrap.servers": server.bootstrap})
    error = admin_error(admin.delete_topics([topic], operation_timeout=10)[topic])
    assert error is not None, f"confluent-kafka delete_topics on {topic} succeeded"
    assert error.code() == INVALID_REQUEST, f"delete_topics on {topic}: {error}"
    assert metadata_v1(server, [topic])[topic][0] == 0, f"{topic} is gone"
    assert retained_messages(server, clients, "devices/#") == {retained[0]: retained[1]}


@pytest.mark.parametrize("topic", ["__mqtt_retained", "__mqtt_sessions", "__consumer_offsets"])
def test_alter_configs_on_an_internal_topic_is_refused(server, clients, topic):
    """Turning a compacted state topic into a deleting one (or shortening its retention) would lose the
    broker's state: AlterConfigs and IncrementalAlterConfigs are refused with INVALID_REQUEST."""
    prepare(server, clients)
    admin = AdminClient({"bootstrap.servers": server.bootstrap})
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)

    def described():
        return {name: entry.value for name, entry in admin.describe_configs([resource])[resource].result().items()}

    before = described()
    assert before["cleanup.policy"] == "compact"
    change = {"cleanup.policy": "delete", "retention.ms": "1000"}
    for incremental in (False, True):
        code, message = raw_alter_configs(server, topic, change, incremental)
        api = "IncrementalAlterConfigs v0" if incremental else "AlterConfigs v1"
        assert code == INVALID_REQUEST, f"{api} on {topic}: {code} {message!r}"
        assert message and "internal" in message.lower(), f"{api}: {message!r}"
    incremental = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[
        ConfigEntry(name, value, incremental_operation=AlterConfigOpType.SET) for name, value in change.items()])
    error = admin_error(list(admin.incremental_alter_configs([incremental]).values())[0])
    assert error is not None and error.code() == INVALID_REQUEST, f"incremental_alter_configs on {topic}: {error}"
    legacy = ConfigResource(ConfigResource.Type.TOPIC, topic, set_config=change)
    error = admin_error(list(admin.alter_configs([legacy]).values())[0])
    assert error is not None and error.code() == INVALID_REQUEST, f"alter_configs on {topic}: {error}"
    assert described() == before


# --- forged retained messages --------------------------------------------------------------------------

def test_a_record_forged_into_mqtt_retained_is_not_delivered_after_a_restart(server, clients, monkeypatch):
    retained = prepare(server, clients)
    connection = wire.Connection(server.bootstrap)
    # A new retained message nobody published, and a tombstone for the real one. Whatever the broker answers,
    # neither may change what subscribers get.
    headers = [("mqtt.topic", b"devices/forged/state"), ("mqtt.qos", b"1"), ("mqtt.retain", b"true"),
               ("mqtt.client_id", b"forger")]
    forged = produce_v8(connection, "__mqtt_retained", 0, forged_batch("devices/forged/state", b"forged payload", headers))
    tombstone = produce_v8(connection, "__mqtt_retained", 0, forged_batch(retained[0], None))
    connection.close()
    print(f"forged record answered {forged}, forged tombstone answered {tombstone}")
    assert retained_messages(server, clients, "devices/#") == {retained[0]: retained[1]}
    restart(server, monkeypatch, "records were forged into __mqtt_retained")
    assert retained_messages(server, clients, "devices/#") == {retained[0]: retained[1]}


def restart(server, monkeypatch, what):
    """Restarts the server; fails at once (not after conftest's 30 s port wait) when the process exits."""
    def wait_for_port(port, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if server.process is not None and server.process.poll() is not None:
                raise TimeoutError(f"tributary exited with status {server.process.returncode}")
            try:
                with conftest.socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"nothing listens on port {port} after {timeout}s")

    monkeypatch.setattr(conftest, "wait_for_port", wait_for_port)
    try:
        server.restart()
    except RuntimeError as failure:
        reasons = [line for line in str(failure).splitlines() if " critical " in line or " error " in line]
        raise AssertionError(f"the server does not start after {what}: {reasons}") from None


def committed_offset(server, group, topic, partition=0):
    consumer = confluent_kafka.Consumer({"bootstrap.servers": server.bootstrap, "group.id": group})
    try:
        return consumer.committed([TopicPartition(topic, partition)], timeout=10)[0].offset
    finally:
        consumer.close()


@pytest.mark.parametrize("topic", INTERNAL)
def test_garbage_produced_into_an_internal_topic_does_not_break_a_restart(server, clients, topic, monkeypatch):
    """The broker reads its internal topics back when it starts. Whatever a client manages to send there must
    neither stop it from starting nor change the state it restores."""
    retained = prepare(server, clients)
    connection = wire.Connection(server.bootstrap)
    garbage = [("\x00\x01garbage", b"\xff\xfe\x00\x01"), (PERSISTENT_CLIENT, b"{not json"), ("devices/real/state", None)]
    answers = [produce_v8(connection, topic, 0, forged_batch(key, value)) for key, value in garbage]
    connection.close()
    print(f"garbage produced to {topic} answered {answers}")
    restart(server, monkeypatch, f"garbage was produced to {topic}")
    assert committed_offset(server, "committer", "ordinary") == 1
    returning = clients(server.mqtt_port, client_id=PERSISTENT_CLIENT, clean=False, session_expiry=3600)
    assert returning.connect() is True, "the persistent session was lost"
    returning.disconnect()
    assert retained_messages(server, clients, "#") == {retained[0]: retained[1]}
