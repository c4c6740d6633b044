"""Topic and broker configs as Kafka 3.9/4.x accepts them, through confluent-kafka's and kafka-python's admin
clients: every topic config is accepted with Kafka's validation and reported by DescribeConfigs; altering a
missing topic answers UNKNOWN_TOPIC_OR_PARTITION; compression.type recompresses what is stored (checked in
the segment files); message.timestamp.after.max.ms refuses records from the future; the dynamic broker
configs change the defaults of topics at once and survive a restart; read-only broker configs are refused
with Kafka's message."""
import json
import struct
import time
import uuid

import confluent_kafka
import kafka
import pytest
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource,
                                   NewTopic)
from kafka.admin import ConfigResource as KpConfigResource
from kafka.admin import ConfigResourceType as KpConfigResourceType
from kafka.admin import KafkaAdminClient
from kafka.admin import NewTopic as KpNewTopic

import kafka_wire as wire

UNKNOWN_TOPIC_OR_PARTITION = 3
INVALID_TIMESTAMP = 32
INVALID_CONFIG = 40
INVALID_REQUEST = 42
LZ4, GZIP, NONE = 3, 1, 0

# Every topic config of Kafka 3.9 (4.x's 33 and the three 3.9-only ones), each with a valid value other than
# its default where one exists.
EVERY_TOPIC_CONFIG = {
    "cleanup.policy": "compact,delete",
    "compression.gzip.level": "5",
    "compression.lz4.level": "10",
    "compression.type": "lz4",
    "compression.zstd.level": "7",
    "delete.retention.ms": "3600000",
    "file.delete.delay.ms": "30000",
    "flush.messages": "1",
    "flush.ms": "1000",
    "follower.replication.throttled.replicas": "0:0",
    "index.interval.bytes": "8192",
    "leader.replication.throttled.replicas": "*",
    "local.retention.bytes": "-2",
    "local.retention.ms": "-2",
    "max.compaction.lag.ms": "86400000",
    "max.message.bytes": "2000000",
    "message.downconversion.enable": "false",
    "message.format.version": "2.8",
    "message.timestamp.after.max.ms": "3600000",
    "message.timestamp.before.max.ms": "86400000000",
    "message.timestamp.difference.max.ms": "86400000000",
    "message.timestamp.type": "CreateTime",
    "min.cleanable.dirty.ratio": "0.3",
    "min.compaction.lag.ms": "1000",
    "min.insync.replicas": "1",
    "preallocate": "true",
    "remote.log.copy.disable": "false",
    "remote.log.delete.on.disable": "false",
    "remote.storage.enable": "false",
    "retention.bytes": "1073741824",
    "retention.ms": "86400000",
    "segment.bytes": "1048576",
    "segment.index.bytes": "1048576",
    "segment.jitter.ms": "1000",
    "segment.ms": "3600000",
    "unclean.leader.election.enable": "false",
}

KAFKA_DEFAULTS = {
    "compression.type": "producer", "compression.gzip.level": "-1", "compression.lz4.level": "9",
    "compression.zstd.level": "3", "max.compaction.lag.ms": "9223372036854775807", "message.format.version": "3.0-IV1",
    "min.cleanable.dirty.ratio": "0.5", "message.timestamp.after.max.ms": "9223372036854775807",
    "message.downconversion.enable": "true", "remote.storage.enable": "false", "local.retention.ms": "-2",
    "leader.replication.throttled.replicas": "", "preallocate": "false", "segment.jitter.ms": "0",
    "retention.ms": "604800000", "cleanup.policy": "delete",
}


def name(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def admin_for(server):
    return AdminClient({"bootstrap.servers": server.bootstrap})


def describe(admin, resource):
    return admin.describe_configs([resource])[resource].result()


def error_of(future):
    """The KafkaError a confluent-kafka admin future failed with, or None."""
    try:
        future.result()
    except confluent_kafka.KafkaException as exception:
        return exception.args[0]
    return None


def create(admin, topic, configs=None, partitions=1):
    for future in admin.create_topics([NewTopic(topic, partitions, 1, config=configs or {})]).values():
        future.result()


def incremental(admin, resource_type, resource_name, changes):
    """IncrementalAlterConfigs SET (value) or DELETE (None) of {name: value}; the KafkaError or None."""
    entries = [ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET if value is not None else AlterConfigOpType.DELETE)
               for key, value in changes.items()]
    resource = ConfigResource(resource_type, resource_name, incremental_configs=entries)
    return error_of(list(admin.incremental_alter_configs([resource]).values())[0])


# confluent-kafka refuses a BROKER resource with an empty name (the cluster default) before sending it and
# kafka-python wants a broker id: the cluster default is reached with raw requests.

def raw_incremental(server, resource_type, resource_name, changes):
    """IncrementalAlterConfigs v0, SET (value) or DELETE (None) of {name: value}: (error code, message)."""
    entries = wire.array(list(changes.items()), lambda item: wire.string(item[0]) + wire.int8(0 if item[1] is not None else 1)
                         + wire.string(item[1]))
    body = wire.array([resource_name], lambda name: wire.int8(resource_type) + wire.string(name) + entries) + wire.int8(0)
    return _alter_result(server, 44, 0, body)


def raw_alter(server, resource_type, resource_name, configs):
    """AlterConfigs v1 replacing the resource's configs with {name: value}: (error code, message)."""
    entries = wire.array(list(configs.items()), lambda item: wire.string(item[0]) + wire.string(item[1]))
    body = wire.array([resource_name], lambda name: wire.int8(resource_type) + wire.string(name) + entries) + wire.int8(0)
    return _alter_result(server, 33, 1, body)


def _alter_result(server, api_key, version, body):
    connection = wire.Connection(server.bootstrap)
    try:
        reader = connection.call(api_key, version, body)
        reader.int32()
        [result] = reader.array(lambda r: (r.int16(), r.string(), r.int8(), r.string()))
    finally:
        connection.close()
    return result[0], result[1]


def raw_describe(server, resource_type, resource_name):
    """DescribeConfigs v1: {name: (value, read only, source)}, or (error code, message) on error."""
    body = wire.array([resource_name], lambda name: wire.int8(resource_type) + wire.string(name) + wire.array(None, wire.string)) + wire.int8(0)
    connection = wire.Connection(server.bootstrap)
    try:
        reader = connection.call(32, 1, body)
        reader.int32()

        def entry(r):
            name, value, read_only, source, _ = r.string(), r.string(), r.int8(), r.int8(), r.int8()
            r.array(lambda s: (s.string(), s.string(), s.int8()))
            return name, (value, bool(read_only), source)

        [(code, message, _, _, configs)] = reader.array(lambda r: (r.int16(), r.string(), r.int8(), r.string(), r.array(entry)))
    finally:
        connection.close()
    return (code, message) if code else dict(configs)


BROKER = 4
TOPIC = 2


def raw_describe_v3(server, resource_type, resource_name, keys):
    """DescribeConfigs v3 with documentation: {name: (value, source, config type, documentation)}."""
    body = (wire.array([resource_name], lambda name: wire.int8(resource_type) + wire.string(name) + wire.array(keys, wire.string))
            + wire.int8(1) + wire.int8(1))
    connection = wire.Connection(server.bootstrap)
    try:
        reader = connection.call(32, 3, body)
        reader.int32()

        def entry(r):
            name, value, _, source, _ = r.string(), r.string(), r.int8(), r.int8(), r.int8()
            synonyms = r.array(lambda s: (s.string(), s.string(), s.int8()))
            config_type, documentation = r.int8(), r.string()
            return name, (value, source, config_type, documentation, synonyms)

        [(code, _, _, _, configs)] = reader.array(lambda r: (r.int16(), r.string(), r.int8(), r.string(), r.array(entry)))
    finally:
        connection.close()
    assert code == 0
    return dict(configs)


def stored_batches(data, topic, partition=0):
    """(base offset, record count, codec) of every batch in the partition's segment files."""
    batches = []
    for segment in sorted((data / f"{topic}-{partition}").glob("*.log")):
        content = segment.read_bytes()
        position = 0
        while position + 61 <= len(content):
            base_offset, length = struct.unpack_from(">qi", content, position)
            if length <= 0:
                break
            attributes = struct.unpack_from(">h", content, position + 21)[0]
            records = struct.unpack_from(">i", content, position + 57)[0]
            batches.append((base_offset, records, attributes & 0x07))
            position += 12 + length
    return batches


def consume_all(bootstrap, topic, expected, timeout=30):
    consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": name("reader"), "auto.offset.reset": "earliest"})
    consumer.assign([confluent_kafka.TopicPartition(topic, 0, 0)])
    values = []
    deadline = time.time() + timeout
    try:
        while len(values) < expected and time.time() < deadline:
            message = consumer.poll(1.0)
            if message is not None and message.error() is None:
                values.append(message.value())
    finally:
        consumer.close()
    return values


# --- every topic config --------------------------------------------------------------------------------

def test_every_kafka_topic_config_is_accepted_and_described(server):
    admin = admin_for(server)
    topic = name("every-config")
    create(admin, topic, EVERY_TOPIC_CONFIG)
    described = describe(admin, ConfigResource(ConfigResource.Type.TOPIC, topic))
    assert set(described) == set(EVERY_TOPIC_CONFIG), set(described) ^ set(EVERY_TOPIC_CONFIG)
    for key, value in EVERY_TOPIC_CONFIG.items():
        entry = described[key]
        assert (entry.value, entry.source, entry.is_read_only) == (value, ConfigSource.DYNAMIC_TOPIC_CONFIG.value, False), key

    # A topic without values of its own reports Kafka's defaults (3.9's where 3.9 and 4.x differ).
    plain = name("plain-config")
    create(admin, plain)
    described = describe(admin, ConfigResource(ConfigResource.Type.TOPIC, plain))
    assert set(described) == set(EVERY_TOPIC_CONFIG)
    for key, value in KAFKA_DEFAULTS.items():
        assert described[key].value == value, key
        assert described[key].source == ConfigSource.DEFAULT_CONFIG.value, key
    # Synonyms name the broker config that supplies the default.
    synonyms = described["max.compaction.lag.ms"].synonyms
    assert "log.cleaner.max.compaction.lag.ms" in synonyms, synonyms
    # DescribeConfigs v3: Kafka's config types (BOOLEAN 1, STRING 2, INT 3, LONG 5, DOUBLE 6, LIST 7) and a
    # documentation that says which configs are accepted but change nothing here.
    typed = raw_describe_v3(server, TOPIC, plain, ["cleanup.policy", "compression.type", "segment.bytes", "retention.ms",
                                                   "min.cleanable.dirty.ratio", "preallocate", "message.format.version"])
    assert {key: value[2] for key, value in typed.items()} == {
        "cleanup.policy": 7, "compression.type": 2, "segment.bytes": 3, "retention.ms": 5, "min.cleanable.dirty.ratio": 6,
        "preallocate": 1, "message.format.version": 2}
    assert "no effect" in typed["preallocate"][3] and "no effect" in typed["message.format.version"][3]
    assert "recompress" in typed["compression.type"][3]
    assert typed["retention.ms"][4] == [("log.retention.ms", "604800000", 5)]

    # kafka-python creates with every config too, alters one, and reads them back with their types.
    kp = KafkaAdminClient(bootstrap_servers=server.bootstrap)
    try:
        other = name("kp-every-config")
        kp.create_topics([KpNewTopic(other, num_partitions=1, replication_factor=1, topic_configs=EVERY_TOPIC_CONFIG)])
        assert kp.alter_configs([KpConfigResource(KpConfigResourceType.TOPIC, other, {"max.compaction.lag.ms": "172800000"})],
                                incremental=True) == {"topic": {other: "OK"}}
        modified = kp.describe_configs([KpConfigResource(KpConfigResourceType.TOPIC, other)])["topic"][other]
        expected = dict(EVERY_TOPIC_CONFIG, **{"max.compaction.lag.ms": "172800000"})
        assert {key: entry["value"] for key, entry in modified.items()} == expected
    finally:
        kp.close()


@pytest.mark.parametrize("configs, message", [
    ({"compression.type": "LZ4"},
     "Invalid value LZ4 for configuration compression.type: String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer"),
    ({"no.such.config": "1"}, "Unknown topic config name: no.such.config"),
    ({"max.compaction.lag.ms": "0"}, "Invalid value 0 for configuration max.compaction.lag.ms: Value must be at least 1"),
    ({"min.cleanable.dirty.ratio": "1.5"},
     "Invalid value 1.5 for configuration min.cleanable.dirty.ratio: Value must be no more than 1"),
    ({"min.compaction.lag.ms": "10000", "max.compaction.lag.ms": "5000"},
     "conflict topic config setting min.compaction.lag.ms (10000) > max.compaction.lag.ms (5000)"),
    ({"remote.storage.enable": "true"},
     "Tiered Storage functionality is disabled in the broker. Topic cannot be configured with remote log storage."),
    ({"message.format.version": "4.0"}, "Invalid value 4.0 for configuration message.format.version: Version 4.0 is not a valid version"),
])
def test_bad_topic_configs_get_kafkas_invalid_config(server, configs, message):
    admin = admin_for(server)
    topic = name("bad-config")
    error = error_of(list(admin.create_topics([NewTopic(topic, 1, 1, config=configs)]).values())[0])
    assert error is not None and error.code() == INVALID_CONFIG, error
    assert error.str() == message
    # The same through IncrementalAlterConfigs on an existing topic; nothing is applied.
    create(admin, topic)
    error = incremental(admin, ConfigResource.Type.TOPIC, topic, configs)
    assert error is not None and error.code() == INVALID_CONFIG and error.str() == message, error
    described = describe(admin, ConfigResource(ConfigResource.Type.TOPIC, topic))
    assert all(described[key].source != ConfigSource.DYNAMIC_TOPIC_CONFIG.value for key in configs if key in described)


# --- a missing topic -----------------------------------------------------------------------------------

def test_altering_configs_of_a_missing_topic_answers_unknown_topic(server):
    admin = admin_for(server)
    missing = name("missing")
    error = incremental(admin, ConfigResource.Type.TOPIC, missing, {"max.compaction.lag.ms": "86400000"})
    assert error is not None and error.code() == UNKNOWN_TOPIC_OR_PARTITION, error
    assert error.str() == f"The topic '{missing}' does not exist."
    legacy = ConfigResource(ConfigResource.Type.TOPIC, missing, set_config={"message.format.version": "2.8"})
    error = error_of(admin.alter_configs([legacy])[legacy])
    assert error is not None and error.code() == UNKNOWN_TOPIC_OR_PARTITION, error
    kp = KafkaAdminClient(bootstrap_servers=server.bootstrap)
    try:
        answer = kp.alter_configs([KpConfigResource(KpConfigResourceType.TOPIC, missing, {"retention.ms": "1000"})],
                                  incremental=False, raise_on_unknown=False)
        assert "UnknownTopicOrPartition" in str(answer["topic"][missing]), answer
    finally:
        kp.close()


# --- compression.type ----------------------------------------------------------------------------------

def test_compression_type_recompresses_what_is_stored(server):
    admin = admin_for(server)
    topic = name("lz4-topic")
    create(admin, topic, {"compression.type": "lz4"})
    kp = kafka.KafkaProducer(bootstrap_servers=server.bootstrap, compression_type=None, linger_ms=5)
    for index in range(20):
        kp.send(topic, key=b"k", value=b"kafka-python %d " % index + b"x" * 200, partition=0)
    kp.flush()
    kp.close()
    producer = confluent_kafka.Producer({"bootstrap.servers": server.bootstrap, "compression.codec": "none", "linger.ms": 5})
    for index in range(20):
        producer.produce(topic, key=b"k", value=b"confluent %d " % index + b"y" * 200, partition=0)
    assert producer.flush(10) == 0

    batches = stored_batches(server.data, topic)
    assert sum(count for _, count, _ in batches) == 40, batches
    assert {codec for _, _, codec in batches} == {LZ4}, batches
    values = consume_all(server.bootstrap, topic, 40)
    assert len(values) == 40
    assert values[0].startswith(b"kafka-python 0 ") and values[20].startswith(b"confluent 0 ")
    # kafka-python's consumer decompresses them too.
    consumer = kafka.KafkaConsumer(bootstrap_servers=server.bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=10_000)
    consumer.assign([kafka.TopicPartition(topic, 0)])
    assert len([message for message in consumer][:40]) == 40
    consumer.close()

    # Another codec is recompressed too (lz4 from the producer, gzip stored); uncompressed decompresses.
    for codec_name, stored in [("gzip", GZIP), ("uncompressed", NONE)]:
        other = name(f"{codec_name}-topic")
        create(admin, other, {"compression.type": codec_name})
        producer = confluent_kafka.Producer({"bootstrap.servers": server.bootstrap, "compression.codec": "lz4"})
        for index in range(5):
            producer.produce(other, value=b"record %d" % index, partition=0)
        assert producer.flush(10) == 0
        assert {codec for _, _, codec in stored_batches(server.data, other)} == {stored}
        assert consume_all(server.bootstrap, other, 5) == [b"record %d" % index for index in range(5)]


# --- message.timestamp.after.max.ms --------------------------------------------------------------------

def test_timestamp_after_max_refuses_records_from_the_future(server):
    admin = admin_for(server)
    topic = name("future")
    create(admin, topic, {"message.timestamp.after.max.ms": "60000"})
    now = int(time.time() * 1000)
    producer = confluent_kafka.Producer({"bootstrap.servers": server.bootstrap, "message.send.max.retries": 0})
    reports = []
    # One batch each: Kafka refuses a whole batch when one of its records is out of range.
    producer.produce(topic, value=b"from the future", timestamp=now + 3_600_000, on_delivery=lambda error, message: reports.append(error))
    producer.flush(10)
    producer.produce(topic, value=b"now", timestamp=now, on_delivery=lambda error, message: reports.append(error))
    producer.flush(10)
    assert len(reports) == 2
    assert reports[0] is not None and reports[0].code() == INVALID_TIMESTAMP, reports
    assert reports[1] is None, reports
    kp = kafka.KafkaProducer(bootstrap_servers=server.bootstrap, retries=0)
    try:
        with pytest.raises(kafka.errors.InvalidTimestampError):
            kp.send(topic, value=b"future", timestamp_ms=now + 3_600_000).get(timeout=10)
        assert kp.send(topic, value=b"past", timestamp_ms=now - 3_600_000).get(timeout=10).offset == 1
    finally:
        kp.close()
    assert consume_all(server.bootstrap, topic, 2) == [b"now", b"past"]


# --- dynamic broker configs ----------------------------------------------------------------------------

def test_dynamic_broker_defaults_apply_at_once_and_survive_a_restart(server):
    admin = admin_for(server)
    topic = name("follows-broker")
    create(admin, topic)
    topic_resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    assert describe(admin, topic_resource)["retention.ms"].value == "604800000"

    # The cluster default (empty broker name).
    assert raw_incremental(server, BROKER, "", {"log.retention.ms": "3600000", "compression.type": "gzip"}) == (0, None)
    entry = describe(admin, topic_resource)["retention.ms"]
    assert (entry.value, entry.source) == ("3600000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value)
    broker_entry = describe(admin, ConfigResource(ConfigResource.Type.BROKER, "0"))["log.retention.ms"]
    assert (broker_entry.value, broker_entry.source, broker_entry.is_read_only) == \
        ("3600000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value, False)
    # Described with the empty name, the broker lists its dynamic cluster defaults only, as Kafka does.
    assert raw_describe(server, BROKER, "") == {"log.retention.ms": ("3600000", False, 3), "compression.type": ("gzip", False, 3)}
    # The new default reaches the open log at once: batches are now stored gzip.
    producer = confluent_kafka.Producer({"bootstrap.servers": server.bootstrap, "compression.codec": "none"})
    producer.produce(topic, value=b"stored with the broker's codec", partition=0)
    assert producer.flush(10) == 0
    assert [codec for _, _, codec in stored_batches(server.data, topic)] == [GZIP]

    # This broker's own value wins over the cluster default; kafka-python sets it by broker id.
    kp = KafkaAdminClient(bootstrap_servers=server.bootstrap)
    try:
        answer = kp.alter_configs([KpConfigResource(KpConfigResourceType.BROKER, "0", {"log.retention.ms": "7200000"})], incremental=True)
        assert answer == {"broker": {"0": "OK"}}, answer
    finally:
        kp.close()
    entry = describe(admin, topic_resource)["retention.ms"]
    assert (entry.value, entry.source) == ("7200000", ConfigSource.DYNAMIC_BROKER_CONFIG.value)
    assert json.loads((server.data / "dynamic-broker-configs.json").read_text())["broker"] == {"log.retention.ms": "7200000"}

    server.restart()
    admin = admin_for(server)
    entry = describe(admin, topic_resource)["retention.ms"]
    assert (entry.value, entry.source) == ("7200000", ConfigSource.DYNAMIC_BROKER_CONFIG.value)
    # Deleting this broker's value falls back to the cluster default, which is still there after the restart.
    assert incremental(admin, ConfigResource.Type.BROKER, "0", {"log.retention.ms": None}) is None
    entry = describe(admin, topic_resource)["retention.ms"]
    assert (entry.value, entry.source) == ("3600000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value)
    # A topic value still wins over every broker default.
    assert incremental(admin, ConfigResource.Type.TOPIC, topic, {"retention.ms": "60000"}) is None
    assert describe(admin, topic_resource)["retention.ms"].value == "60000"
    # AlterConfigs replaces the whole cluster default set: an empty set removes them all.
    assert raw_alter(server, BROKER, "", {}) == (0, None)
    assert raw_describe(server, BROKER, "") == {}
    entry = describe(admin, ConfigResource(ConfigResource.Type.TOPIC, topic))["compression.type"]
    assert (entry.value, entry.source) == ("producer", ConfigSource.DEFAULT_CONFIG.value)


def test_broker_configs_kafka_cannot_change_at_runtime_are_refused(server):
    admin = admin_for(server)
    error = incremental(admin, ConfigResource.Type.BROKER, "0", {"log.retention.hours": "1"})
    assert error is not None and error.code() == INVALID_REQUEST, error
    assert error.str() == "Cannot update these configs dynamically: Set(log.retention.hours)"
    legacy = ConfigResource(ConfigResource.Type.BROKER, "0", set_config={"log.dirs": "/elsewhere", "num.partitions": "3"})
    error = error_of(admin.alter_configs([legacy])[legacy])
    assert error is not None and error.code() == INVALID_REQUEST
    assert error.str() == "Cannot update these configs dynamically: Set(log.dirs, num.partitions)"
    assert raw_alter(server, BROKER, "", {"log.retention.minutes": "5"}) == \
        (INVALID_REQUEST, "Cannot update these configs dynamically: Set(log.retention.minutes)")
    # A bad value, another broker's id, a per-broker config at the cluster level.
    assert raw_incremental(server, BROKER, "", {"log.retention.ms": "abc"}) == \
        (INVALID_REQUEST, "Invalid value abc for configuration log.retention.ms: Not a number of type LONG")
    # (confluent-kafka would route a request for broker 7 to broker 7, which does not exist.)
    assert raw_incremental(server, BROKER, "7", {"log.retention.ms": "1000"}) == \
        (INVALID_REQUEST, "Unexpected broker id, expected 0, but received 7")
    assert raw_incremental(server, BROKER, "zero", {"log.retention.ms": "1000"}) == \
        (INVALID_REQUEST, "Node id must be an integer, but it is: zero")
    assert raw_incremental(server, BROKER, "", {"listeners": "PLAINTEXT://:9999"}) == \
        (INVALID_REQUEST, "Cannot update these configs at default cluster level, broker id must be specified: Set(listeners)")
    # Nothing was stored; the read-only config is described read-only, the dynamic one not.
    broker = describe(admin, ConfigResource(ConfigResource.Type.BROKER, "0"))
    assert broker["log.dirs"].is_read_only and broker["log.dirs"].value == str(server.data)
    assert not broker["log.retention.ms"].is_read_only and broker["log.retention.ms"].value == "604800000"
    # Names Kafka does not define are custom configs: accepted and stored, as Kafka does.
    assert incremental(admin, ConfigResource.Type.BROKER, "0", {"custom.setting": "anything"}) is None
    assert describe(admin, ConfigResource(ConfigResource.Type.BROKER, "0"))["custom.setting"].value == "anything"
