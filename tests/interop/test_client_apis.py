"""Every admin and consumer call of confluent-kafka, kafka-python and aiokafka that this broker claims to
serve (README "What works"), each checked against the answer it must give: topics, configs, records and
offsets, the cluster, consumer groups and their offsets, log dirs, producers, and the consumer's own calls
(watermarks, times, committed, position, assign/seek/pause/resume, regex subscriptions)."""
import asyncio
import shutil
import time
import uuid

import aiokafka
import confluent_kafka
import kafka
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource as AioConfigResource
from aiokafka.admin.config_resource import ConfigResourceType as AioConfigResourceType
from aiokafka.admin import NewPartitions as AioNewPartitions
from aiokafka.admin import NewTopic as AioNewTopic
from aiokafka.admin import RecordsToDelete
from confluent_kafka import ConsumerGroupTopicPartitions, TopicCollection, TopicPartition
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource,
                                   NewPartitions, NewTopic, OffsetSpec)
from kafka.admin import ConfigResource as KpConfigResource
from kafka.admin import ConfigResourceType as KpConfigResourceType
from kafka.admin import KafkaAdminClient, MemberToRemove
from kafka.admin import NewTopic as KpNewTopic
from kafka.admin import OffsetSpec as KpOffsetSpec
from kafka.protocol.api_key import ApiKey

from conftest import Server
from mqtt_helpers import LogWindow

BASE_TIMESTAMP = 1_700_000_000_000
GROUP_ARGS = ["--group-initial-rebalance-delay-ms", "0", "--group-min-session-timeout-ms", "1000",
              "--offsets-topic-partitions", "4"]


@pytest.fixture(scope="module")
def kafka_server(tributary_binary, tmp_path_factory):
    """One server for the module; each test uses topics and groups of its own."""
    root = tmp_path_factory.mktemp("client-apis")
    server = Server(tributary_binary, root / "data", GROUP_ARGS).start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(autouse=True)
def shared_server_log(kafka_server):
    window = LogWindow(kafka_server)
    yield
    window.dump()


def name(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def wait_until(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def create(bootstrap, topic, partitions=1, **config):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, partitions, 1, config={k.replace("_", "."): str(v) for k, v in config.items()})])[topic].result()


def produce(bootstrap, topic, count, partition=0, start=0, timestamp_step=1000):
    """`count` records v<start>.. with timestamps BASE_TIMESTAMP + index * step; returns their offsets."""
    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "enable.idempotence": True})
    offsets = []
    for index in range(start, start + count):
        producer.produce(topic, key=b"k%d" % index, value=b"v%d" % index, partition=partition,
                         timestamp=BASE_TIMESTAMP + index * timestamp_step,
                         on_delivery=lambda error, message: offsets.append(message.offset()) if error is None else None)
    assert producer.flush(15) == 0
    assert len(offsets) == count
    return offsets


def poll_values(consumer, count, timeout=15):
    values = []
    deadline = time.monotonic() + timeout
    while len(values) < count and time.monotonic() < deadline:
        message = consumer.poll(0.2)
        if message is not None:
            assert message.error() is None, message.error()
            values.append((message.topic(), message.partition(), message.offset(), message.value()))
    return values


def join_commit_and_leave(bootstrap, group, topic, partitions, expected, client_id="member"):
    """A confluent-kafka member of `group` consumes `expected` records of `topic` and commits; returns the consumer
    still in the group (the caller closes it)."""
    consumer = confluent_kafka.Consumer({
        "bootstrap.servers": bootstrap, "group.id": group, "client.id": client_id, "enable.auto.commit": False,
        "auto.offset.reset": "earliest", "session.timeout.ms": 6000,
    })
    consumer.subscribe([topic])
    got = poll_values(consumer, expected, timeout=20)
    assert len(got) == expected, got
    consumer.commit(asynchronous=False)
    return consumer


# =====================================================================================================
# confluent-kafka AdminClient
# =====================================================================================================

def test_confluent_admin_creates_describes_grows_and_deletes_topics(kafka_server):
    admin = AdminClient({"bootstrap.servers": kafka_server.bootstrap})
    topic = name("ck-topic")
    # validate_only checks without creating.
    admin.create_topics([NewTopic(topic, 2, 1)], validate_only=True)[topic].result()
    assert admin.describe_topics(TopicCollection([topic]))[topic].exception() is not None
    admin.create_topics([NewTopic(topic, 2, 1, config={"retention.ms": "3600000"})])[topic].result()
    with pytest.raises(confluent_kafka.KafkaException) as exists:
        admin.create_topics([NewTopic(topic, 2, 1)])[topic].result()
    assert exists.value.args[0].code() == confluent_kafka.KafkaError.TOPIC_ALREADY_EXISTS

    description = admin.describe_topics(TopicCollection([topic]))[topic].result()
    assert description.name == topic and not description.is_internal
    assert str(description.topic_id) not in ("", "AAAAAAAAAAAAAAAAAAAAAA")
    assert [(p.id, p.leader.id, [r.id for r in p.replicas], [r.id for r in p.isr]) for p in description.partitions] == \
        [(0, 0, [0], [0]), (1, 0, [0], [0])]

    admin.create_partitions([NewPartitions(topic, 5)])[topic].result()
    assert len(admin.describe_topics(TopicCollection([topic]))[topic].result().partitions) == 5
    with pytest.raises(confluent_kafka.KafkaException) as shrink:
        admin.create_partitions([NewPartitions(topic, 3)])[topic].result()
    assert shrink.value.args[0].code() == confluent_kafka.KafkaError.INVALID_PARTITIONS

    admin.delete_topics([topic], operation_timeout=10)[topic].result()
    with pytest.raises(confluent_kafka.KafkaException) as gone:
        admin.describe_topics(TopicCollection([topic]))[topic].result()
    assert gone.value.args[0].code() == confluent_kafka.KafkaError.UNKNOWN_TOPIC_OR_PART


def test_confluent_admin_list_topics_lists_every_topic(kafka_server):
    """librdkafka 2.16 asks for every topic with a Metadata v12 whose topic array count is left as a 4-byte
    placeholder; Apache Kafka reads the fields it knows and ignores the 3 bytes after them."""
    topic = name("ck-listed")
    create(kafka_server.bootstrap, topic, 3)
    admin = AdminClient({"bootstrap.servers": kafka_server.bootstrap})
    metadata = admin.list_topics(timeout=10)
    assert topic in metadata.topics and len(metadata.topics[topic].partitions) == 3
    assert {"mqtt.messages", "mqtt.events"} <= set(metadata.topics)
    assert list(metadata.brokers) == [0] and metadata.brokers[0].port == kafka_server.port
    assert metadata.controller_id == 0
    assert admin.list_topics(topic, timeout=10).topics[topic].error is None


def test_confluent_admin_describes_and_alters_configs(kafka_server):
    admin = AdminClient({"bootstrap.servers": kafka_server.bootstrap})
    topic = name("ck-configs")
    create(kafka_server.bootstrap, topic, retention_ms=3600000, segment_ms=600000)
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)

    def configs():
        return admin.describe_configs([resource])[resource].result()

    described = configs()
    assert described["retention.ms"].value == "3600000"
    assert described["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert described["cleanup.policy"].value == "delete" and described["cleanup.policy"].is_default
    assert described["max.message.bytes"].source == ConfigSource.DEFAULT_CONFIG.value

    # AlterConfigs replaces the whole set of dynamic configs: segment.ms goes back to its default.
    legacy = ConfigResource(ConfigResource.Type.TOPIC, topic, set_config={"retention.ms": "7200000", "cleanup.policy": "compact"})
    admin.alter_configs([legacy])[legacy].result()
    described = configs()
    assert (described["retention.ms"].value, described["cleanup.policy"].value) == ("7200000", "compact")
    assert described["segment.ms"].is_default

    # IncrementalAlterConfigs: SET, APPEND to a list, DELETE back to the default.
    incremental = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[
        ConfigEntry("max.message.bytes", "500000", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("cleanup.policy", "delete", incremental_operation=AlterConfigOpType.APPEND),
        ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE),
    ])
    admin.incremental_alter_configs([incremental])[incremental].result()
    described = configs()
    assert described["max.message.bytes"].value == "500000"
    assert sorted(described["cleanup.policy"].value.split(",")) == ["compact", "delete"]
    assert described["retention.ms"].is_default and described["retention.ms"].value == "604800000"

    # The broker's own configs are described too.
    broker = ConfigResource(ConfigResource.Type.BROKER, "0")
    broker_configs = admin.describe_configs([broker])[broker].result()
    assert broker_configs["log.retention.ms"].value == "604800000" and broker_configs["log.retention.ms"].is_default
    assert broker_configs["num.partitions"].value == "1"
    assert broker_configs["advertised.listeners"].value == f"PLAINTEXT://{kafka_server.bootstrap}"
    assert broker_configs["log.dirs"].value == str(kafka_server.data)


def test_confluent_admin_lists_offsets_and_deletes_records(kafka_server):
    admin = AdminClient({"bootstrap.servers": kafka_server.bootstrap})
    topic = name("ck-offsets")
    create(kafka_server.bootstrap, topic, 2)
    # Timestamps rise by a second, except the newest record of partition 0 is the oldest in time order.
    produce(kafka_server.bootstrap, topic, 9)
    producer = confluent_kafka.Producer({"bootstrap.servers": kafka_server.bootstrap})
    producer.produce(topic, value=b"late", partition=0, timestamp=BASE_TIMESTAMP - 5000)
    assert producer.flush(10) == 0
    tp, empty = TopicPartition(topic, 0), TopicPartition(topic, 1)

    def list_offsets(spec, partition=tp):
        return admin.list_offsets({partition: spec})[partition].result()

    assert list_offsets(OffsetSpec.earliest()).offset == 0
    assert list_offsets(OffsetSpec.latest()).offset == 10
    by_time = list_offsets(OffsetSpec.for_timestamp(BASE_TIMESTAMP + 4500))
    assert (by_time.offset, by_time.timestamp) == (5, BASE_TIMESTAMP + 5000)
    assert list_offsets(OffsetSpec.for_timestamp(BASE_TIMESTAMP + 60_000)).offset == -1
    newest = list_offsets(OffsetSpec.max_timestamp())
    assert (newest.offset, newest.timestamp) == (8, BASE_TIMESTAMP + 8000)
    assert list_offsets(OffsetSpec.earliest(), empty).offset == 0 and list_offsets(OffsetSpec.latest(), empty).offset == 0

    deleted = admin.delete_records([TopicPartition(topic, 0, 6)])
    assert list(deleted.values())[0].result().low_watermark == 6
    assert list_offsets(OffsetSpec.earliest()).offset == 6
    # Deleting up to the high watermark (offset -1) empties the partition.
    deleted = admin.delete_records([TopicPartition(topic, 0, confluent_kafka.OFFSET_END)])
    assert list(deleted.values())[0].result().low_watermark == 10
    with pytest.raises(confluent_kafka.KafkaException) as beyond:
        list(admin.delete_records([TopicPartition(topic, 1, 5)]).values())[0].result()
    assert beyond.value.args[0].code() == confluent_kafka.KafkaError.OFFSET_OUT_OF_RANGE


def test_confluent_admin_describes_the_cluster(kafka_server):
    admin = AdminClient({"bootstrap.servers": kafka_server.bootstrap})
    cluster = admin.describe_cluster(include_authorized_operations=True).result()
    assert cluster.controller.id == 0
    assert [(node.id, node.host, node.port) for node in cluster.nodes] == [(0, "127.0.0.1", kafka_server.port)]
    meta = (kafka_server.data / "meta.properties").read_text()
    assert f"cluster.id={cluster.cluster_id}" in meta
    assert cluster.authorized_operations  # every operation: no authorizer
    assert admin.cluster_id(timeout=10) == cluster.cluster_id


@pytest.mark.timeout(90)
def test_confluent_admin_group_calls(kafka_server):
    admin = AdminClient({"bootstrap.servers": kafka_server.bootstrap})
    topic, group = name("ck-groups"), name("ck-group")
    create(kafka_server.bootstrap, topic, 2)
    produce(kafka_server.bootstrap, topic, 4, partition=0)
    produce(kafka_server.bootstrap, topic, 6, partition=1)
    consumer = join_commit_and_leave(kafka_server.bootstrap, group, topic, 2, 10, client_id="ck-member")

    listed = {g.group_id: g for g in admin.list_consumer_groups().result().valid}
    assert listed[group].state == confluent_kafka.ConsumerGroupState.STABLE and not listed[group].is_simple_consumer_group
    only_empty = admin.list_consumer_groups(states={confluent_kafka.ConsumerGroupState.EMPTY}).result().valid
    assert group not in {g.group_id for g in only_empty}

    description = admin.describe_consumer_groups([group])[group].result()
    assert (description.state, description.partition_assignor, description.coordinator.id) == \
        (confluent_kafka.ConsumerGroupState.STABLE, "range", 0)
    [member] = description.members
    assert member.client_id == "ck-member" and member.host.startswith("/127.0.0.1")
    assert sorted((p.topic, p.partition) for p in member.assignment.topic_partitions) == [(topic, 0), (topic, 1)]

    # The deprecated list_groups (ListGroups + DescribeGroups) agrees.
    groups = {g.id: g for g in admin.list_groups(timeout=10)}
    assert groups[group].state == "Stable" and groups[group].protocol_type == "consumer" and len(groups[group].members) == 1

    def committed():
        result = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result()
        return {(p.topic, p.partition): p.offset for p in result.topic_partitions}

    assert committed() == {(topic, 0): 4, (topic, 1): 6}
    one = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 1)])])[group].result()
    assert [(p.partition, p.offset) for p in one.topic_partitions] == [(1, 6)]

    with pytest.raises(confluent_kafka.KafkaException) as busy:
        admin.delete_consumer_groups([group])[group].result()
    assert busy.value.args[0].code() == confluent_kafka.KafkaError.NON_EMPTY_GROUP
    consumer.close()
    wait_until(lambda: admin.describe_consumer_groups([group])[group].result().state == confluent_kafka.ConsumerGroupState.EMPTY,
               15, "the group to be empty")

    altered = admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group, [
        TopicPartition(topic, 0, 1), TopicPartition(topic, 1, 2)])])[group].result()
    assert [(p.partition, p.offset, p.error) for p in altered.topic_partitions] == [(0, 1, None), (1, 2, None)]
    assert committed() == {(topic, 0): 1, (topic, 1): 2}

    admin.delete_consumer_groups([group])[group].result()
    assert group not in {g.group_id for g in admin.list_consumer_groups().result().valid}
    assert all(offset < 0 for offset in committed().values())


# =====================================================================================================
# confluent-kafka Consumer
# =====================================================================================================

def test_confluent_consumer_offset_calls_assign_seek_pause_resume(kafka_server):
    topic, group = name("ck-consumer"), name("ck-consumer-group")
    create(kafka_server.bootstrap, topic, 2)
    produce(kafka_server.bootstrap, topic, 10, partition=0)
    produce(kafka_server.bootstrap, topic, 3, partition=1, start=100)
    consumer = confluent_kafka.Consumer({
        "bootstrap.servers": kafka_server.bootstrap, "group.id": group, "enable.auto.commit": False,
        "auto.offset.reset": "earliest", "fetch.wait.max.ms": 100,
    })
    tp0, tp1 = TopicPartition(topic, 0), TopicPartition(topic, 1)
    try:
        # Topic metadata for one topic (the all-topics form is a test of its own).
        described = consumer.list_topics(topic, timeout=10).topics[topic]
        assert described.error is None and sorted(described.partitions) == [0, 1]

        assert consumer.get_watermark_offsets(tp0, timeout=10) == (0, 10)
        assert consumer.get_watermark_offsets(tp1, timeout=10) == (0, 3)

        # Partition 1 holds v100.. stamped BASE_TIMESTAMP + 100 s onwards, at offsets 0..2.
        found = consumer.offsets_for_times([TopicPartition(topic, 0, BASE_TIMESTAMP + 2500),
                                            TopicPartition(topic, 1, BASE_TIMESTAMP + 101_000)], timeout=10)
        assert [(f.partition, f.offset) for f in found] == [(0, 3), (1, 1)]
        beyond = consumer.offsets_for_times([TopicPartition(topic, 0, BASE_TIMESTAMP + 99_000)], timeout=10)
        assert [(f.partition, f.offset) for f in beyond] == [(0, -1)]

        assert [c.offset for c in consumer.committed([tp0, tp1], timeout=10)] == [confluent_kafka.OFFSET_INVALID] * 2

        consumer.assign([TopicPartition(topic, 0, 2), TopicPartition(topic, 1, confluent_kafka.OFFSET_BEGINNING)])
        assert sorted((p.topic, p.partition) for p in consumer.assignment()) == [(topic, 0), (topic, 1)]
        got = poll_values(consumer, 11)
        assert sorted((p, o) for _, p, o, _ in got) == [(0, o) for o in range(2, 10)] + [(1, o) for o in range(3)]
        assert [p.offset for p in consumer.position([tp0, tp1])] == [10, 3]

        # Pause partition 0 and move it back: only partition 1 delivers until it is resumed.
        consumer.pause([tp0])
        consumer.seek(TopicPartition(topic, 0, 7))
        produce(kafka_server.bootstrap, topic, 2, partition=1, start=103)
        got = poll_values(consumer, 10, timeout=3)
        assert [(p, o) for _, p, o, _ in got] == [(1, 3), (1, 4)]
        consumer.resume([tp0])
        got = poll_values(consumer, 3)
        assert [(p, o, v) for _, p, o, v in got] == [(0, 7, b"v7"), (0, 8, b"v8"), (0, 9, b"v9")]

        consumer.commit(offsets=[TopicPartition(topic, 0, 10, metadata="done"), TopicPartition(topic, 1, 5)], asynchronous=False)
        committed = consumer.committed([tp0, tp1], timeout=10)
        assert [(c.offset, c.metadata) for c in committed] == [(10, "done"), (5, None)]

        consumer.incremental_unassign([tp1])
        assert [(p.topic, p.partition) for p in consumer.assignment()] == [(topic, 0)]
        consumer.incremental_assign([TopicPartition(topic, 1, 1)])
        assert [(p, o) for _, p, o, _ in poll_values(consumer, 4)] == [(1, 1), (1, 2), (1, 3), (1, 4)]
        consumer.unassign()
        assert consumer.assignment() == []
    finally:
        consumer.close()


@pytest.mark.timeout(60)
def test_confluent_consumer_group_member_calls(kafka_server):
    """subscribe, consume, memberid, assignment, store_offsets + commit(), committed, position, unsubscribe."""
    topic, group = name("ck-member"), name("ck-member-group")
    create(kafka_server.bootstrap, topic, 2)
    produce(kafka_server.bootstrap, topic, 4, partition=0)
    produce(kafka_server.bootstrap, topic, 4, partition=1, start=10)
    consumer = confluent_kafka.Consumer({
        "bootstrap.servers": kafka_server.bootstrap, "group.id": group, "client.id": "ck-member-client",
        "enable.auto.commit": False, "enable.auto.offset.store": False, "auto.offset.reset": "earliest",
    })
    assigned = []
    try:
        consumer.subscribe([topic], on_assign=lambda c, partitions: assigned.extend((p.topic, p.partition) for p in partitions))
        messages = []
        deadline = time.monotonic() + 20
        while len(messages) < 8 and time.monotonic() < deadline:
            messages += [m for m in consumer.consume(num_messages=10, timeout=0.5) if m.error() is None]
        assert sorted((m.partition(), m.offset()) for m in messages) == [(p, o) for p in (0, 1) for o in range(4)]
        assert sorted(assigned) == [(topic, 0), (topic, 1)]
        assert sorted((p.topic, p.partition) for p in consumer.assignment()) == [(topic, 0), (topic, 1)]
        assert consumer.memberid().startswith("ck-member-client-")

        last_of_partition_0 = [m for m in messages if m.partition() == 0][-1]
        consumer.store_offsets(message=last_of_partition_0)
        consumer.store_offsets(offsets=[TopicPartition(topic, 1, 2)])
        committed = consumer.commit(asynchronous=False)
        assert sorted((p.partition, p.offset) for p in committed) == [(0, 4), (1, 2)]
        assert [(p.partition, p.offset) for p in consumer.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)], timeout=10)] == \
            [(0, 4), (1, 2)]
        assert [p.offset for p in consumer.position([TopicPartition(topic, 0), TopicPartition(topic, 1)])] == [4, 4]
        consumer.unsubscribe()
        wait_until(lambda: consumer.poll(0.1) is None and consumer.assignment() == [], 10, "the assignment to be revoked")
    finally:
        consumer.close()
    admin = AdminClient({"bootstrap.servers": kafka_server.bootstrap})
    offsets = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result()
    assert sorted((p.partition, p.offset) for p in offsets.topic_partitions) == [(0, 4), (1, 2)]


def test_confluent_consumer_list_topics_lists_every_topic(kafka_server):
    topic = name("ck-consumer-listed")
    create(kafka_server.bootstrap, topic, 2)
    consumer = confluent_kafka.Consumer({"bootstrap.servers": kafka_server.bootstrap, "group.id": name("ck-lister")})
    try:
        metadata = consumer.list_topics(timeout=10)
        assert topic in metadata.topics and sorted(metadata.topics[topic].partitions) == [0, 1]
        # librdkafka names the broker that answered, or -1 when the answer came over the bootstrap
        # connection (before the broker's id was known).
        assert metadata.orig_broker_id in (0, -1)
        assert [broker.id for broker in metadata.brokers.values()] == [0]
    finally:
        consumer.close()


def regex_subscription_scenario(bootstrap, prefix, subscribe_and_collect):
    """Topics `<prefix>.a` (before subscribing) and `<prefix>.b` (after), plus one that does not match;
    `subscribe_and_collect(pattern, produce_later)` returns {(topic, value)} read by the subscriber."""
    create(bootstrap, f"{prefix}.a")
    create(bootstrap, f"other-{prefix}")
    produce(bootstrap, f"{prefix}.a", 3)
    produce(bootstrap, f"other-{prefix}", 2)

    def produce_later():
        create(bootstrap, f"{prefix}.b", 2)
        produce(bootstrap, f"{prefix}.b", 2, partition=1, start=10)

    got = subscribe_and_collect(f"^{prefix}\\..*", produce_later)
    assert got == {(f"{prefix}.a", b"v0"), (f"{prefix}.a", b"v1"), (f"{prefix}.a", b"v2"),
                   (f"{prefix}.b", b"v10"), (f"{prefix}.b", b"v11")}


@pytest.mark.timeout(60)
def test_confluent_consumer_regex_subscription_follows_new_topics(kafka_server):
    prefix = name("telemetry-ck").replace("-", "_")

    def subscribe_and_collect(pattern, produce_later):
        consumer = confluent_kafka.Consumer({
            "bootstrap.servers": kafka_server.bootstrap, "group.id": name("regex"), "auto.offset.reset": "earliest",
            "topic.metadata.refresh.interval.ms": 1000, "enable.auto.commit": False,
        })
        try:
            consumer.subscribe([pattern])
            got = {(t, v) for t, _, _, v in poll_values(consumer, 3, timeout=15)}
            if len(got) < 3:
                return got  # the subscription never matched: waiting for the new topic is pointless
            # The new topic causes a rebalance, after which the consumer resumes from its committed offsets
            # (as on Apache Kafka): commit, so that it does not read the first topic again.
            consumer.commit(asynchronous=False)
            produce_later()
            got |= {(t, v) for t, _, _, v in poll_values(consumer, 2, timeout=15)}
            return got
        finally:
            consumer.close()

    regex_subscription_scenario(kafka_server.bootstrap, prefix, subscribe_and_collect)


# =====================================================================================================
# kafka-python
# =====================================================================================================

def test_kafka_python_admin_topic_calls(kafka_server):
    admin = KafkaAdminClient(bootstrap_servers=kafka_server.bootstrap)
    topic = name("kp-topic")
    try:
        created = admin.create_topics([KpNewTopic(topic, 3, 1, topic_configs={"retention.ms": "3600000"})])
        [result] = created["topics"]
        assert (result["name"], result["error_code"], result["num_partitions"]) == (topic, 0, 3)
        assert result["configs"]["retention.ms"]["value"] == "3600000"
        admin.wait_for_topics([topic], timeout_ms=5000)
        assert topic in admin.list_topics()

        [described] = admin.describe_topics([topic])
        assert (described["name"], described["error_code"], described["is_internal"]) == (topic, 0, False)
        assert [(p["partition_index"], p["leader_id"], p["replica_nodes"], p["isr_nodes"]) for p in described["partitions"]] == \
            [(index, 0, [0], [0]) for index in range(3)]
        by_id = admin.describe_topics([uuid.UUID(described["topic_id"])])
        assert [t["name"] for t in by_id] == [topic]

        paged = admin.describe_topic_partitions([topic], response_partition_limit=2)
        assert [p["partition_index"] for p in paged["topics"][0]["partitions"]] == [0, 1]
        assert paged["next_cursor"] == {"topic_name": topic, "partition_index": 2}
        rest = admin.describe_topic_partitions([topic], cursor=paged["next_cursor"])
        assert [p["partition_index"] for p in rest["topics"][0]["partitions"]] == [2] and rest["next_cursor"] is None

        grown = admin.create_partitions({topic: 4})
        assert [(r.name, r.error_code) for r in grown.results] == [(topic, 0)]
        assert len(admin.describe_topics([topic])[0]["partitions"]) == 4

        deleted = admin.delete_topics([topic])
        assert [(t["name"], t["error_code"]) for t in deleted["topics"]] == [(topic, 0)]
        assert topic not in admin.list_topics()
    finally:
        admin.close()


def test_kafka_python_admin_config_calls(kafka_server):
    admin = KafkaAdminClient(bootstrap_servers=kafka_server.bootstrap)
    topic = name("kp-configs")
    create(kafka_server.bootstrap, topic, retention_ms=3600000)
    resource = KpConfigResource(KpConfigResourceType.TOPIC, topic)

    def modified():
        return {key: entry["value"] for key, entry in admin.describe_configs([resource])["topic"][topic].items()}

    try:
        assert modified() == {"retention.ms": "3600000"}
        everything = admin.describe_configs([KpConfigResource(KpConfigResourceType.TOPIC, topic)], config_filter="all")["topic"][topic]
        assert everything["cleanup.policy"]["value"] == "delete" and everything["cleanup.policy"]["config_source"] == "DEFAULT_CONFIG"
        assert everything["retention.ms"]["config_source"] == "DYNAMIC_TOPIC_CONFIG"

        assert admin.alter_configs([KpConfigResource(KpConfigResourceType.TOPIC, topic, {"retention.ms": "7200000"})], incremental=True) == \
            {"topic": {topic: "OK"}}
        assert admin.alter_configs([KpConfigResource(KpConfigResourceType.TOPIC, topic, {"segment.ms": "600000"})], incremental=False) == \
            {"topic": {topic: "OK"}}
        assert modified() == {"retention.ms": "7200000", "segment.ms": "600000"}
        assert admin.reset_configs([KpConfigResource(KpConfigResourceType.TOPIC, topic, ["segment.ms"])]) == {"topic": {topic: "OK"}}
        assert modified() == {"retention.ms": "7200000"}
        refused = admin.alter_configs([KpConfigResource(KpConfigResourceType.TOPIC, topic, {"no.such.config": "1"})],
                                      incremental=True, raise_on_unknown=False)
        assert "InvalidConfig" in str(refused["topic"][topic]), refused
    finally:
        admin.close()


def test_kafka_python_admin_offsets_records_cluster_log_dirs_and_producers(kafka_server):
    admin = KafkaAdminClient(bootstrap_servers=kafka_server.bootstrap)
    topic = name("kp-offsets")
    create(kafka_server.bootstrap, topic, 2)
    produce(kafka_server.bootstrap, topic, 10)
    tp0, tp1 = kafka.TopicPartition(topic, 0), kafka.TopicPartition(topic, 1)
    try:
        offsets = admin.list_partition_offsets({tp0: KpOffsetSpec.EARLIEST, tp1: KpOffsetSpec.LATEST})
        assert (offsets[tp0].offset, offsets[tp1].offset) == (0, 0)
        assert admin.list_partition_offsets({tp0: KpOffsetSpec.LATEST})[tp0].offset == 10
        newest = admin.list_partition_offsets({tp0: KpOffsetSpec.MAX_TIMESTAMP})[tp0]
        assert (newest.offset, newest.timestamp) == (9, BASE_TIMESTAMP + 9000)
        by_time = admin.list_partition_offsets({tp0: BASE_TIMESTAMP + 4500})[tp0]
        assert (by_time.offset, by_time.timestamp) == (5, BASE_TIMESTAMP + 5000)

        deleted = admin.delete_records({tp0: 4})
        assert deleted[tp0]["low_watermark"] == 4 and deleted[tp0]["error_code"] == 0
        assert admin.list_partition_offsets({tp0: KpOffsetSpec.EARLIEST})[tp0].offset == 4

        cluster = admin.describe_cluster()
        assert cluster["controller_id"] == 0
        assert [(b["broker_id"], b["host"], b["port"]) for b in cluster["brokers"]] == [(0, "127.0.0.1", kafka_server.port)]
        assert f"cluster.id={cluster['cluster_id']}" in (kafka_server.data / "meta.properties").read_text()

        [broker] = admin.describe_log_dirs({topic: [0, 1]})
        [log_dir] = broker["log_dirs"]
        assert broker["broker"] == 0 and log_dir["error_code"] == 0 and log_dir["log_dir"] == str(kafka_server.data)
        [described] = log_dir["topics"]
        sizes = {p["partition_index"]: p["partition_size"] for p in described["partitions"]}
        segment = kafka_server.data / f"{topic}-0" / "00000000000000000000.log"
        assert sizes == {0: segment.stat().st_size, 1: 0} and sizes[0] > 0
        everything = admin.describe_log_dirs()[0]["log_dirs"][0]["topics"]
        assert {topic, "mqtt.events"} <= {t["name"] for t in everything}

        state = admin.describe_producers([tp0])[tp0]
        [producer] = state.active_producers
        assert (producer.producer_epoch, producer.last_sequence, producer.last_timestamp) == (0, 9, BASE_TIMESTAMP + 9000)

        versions = admin.api_versions()
        assert (versions[ApiKey.Fetch], versions[ApiKey.Metadata], versions[ApiKey.DescribeLogDirs]) == ((4, 17), (0, 12), (0, 4))
        assert admin.get_broker_version_data(0).api_versions == versions
    finally:
        admin.close()


@pytest.mark.timeout(90)
def test_kafka_python_admin_group_calls(kafka_server):
    admin = KafkaAdminClient(bootstrap_servers=kafka_server.bootstrap)
    topic, group = name("kp-groups"), name("kp-group")
    create(kafka_server.bootstrap, topic, 2)
    produce(kafka_server.bootstrap, topic, 5, partition=0)
    produce(kafka_server.bootstrap, topic, 5, partition=1)
    tp0, tp1 = kafka.TopicPartition(topic, 0), kafka.TopicPartition(topic, 1)
    consumer = join_commit_and_leave(kafka_server.bootstrap, group, topic, 2, 10, client_id="kp-member")
    try:
        groups = {g["group_id"]: g for g in admin.list_groups()}
        assert groups[group]["protocol_type"] == "consumer" and groups[group]["group_state"] == "Stable"
        assert group not in {g["group_id"] for g in admin.list_groups(states_filter=["Empty"])}

        description = admin.describe_groups([group])[group]
        assert (description["group_state"], description["protocol_type"], description["protocol_data"]) == ("Stable", "consumer", "range")
        [member] = description["members"]
        assert member["client_id"] == "kp-member"
        assert member["member_assignment"]["assigned_partitions"] == [{"topic": topic, "partitions": [0, 1]}]

        def committed():
            return {(tp.topic, tp.partition): meta.offset for tp, meta in admin.list_group_offsets({group: None})[group].items()}

        assert committed() == {(topic, 0): 5, (topic, 1): 5}
        assert {tp.partition: m.offset for tp, m in admin.list_group_offsets({group: [tp1]})[group].items()} == {1: 5}

        # remove_group_members (LeaveGroup v3+) takes the member out; the group empties.
        removed = admin.remove_group_members(group, [MemberToRemove(member_id=member["member_id"])])
        assert list(removed.values()) == [kafka.errors.NoError], removed
        wait_until(lambda: admin.describe_groups([group])[group]["group_state"] == "Empty", 15, "the group to be empty")
        consumer.close()

        assert admin.alter_group_offsets(group, {tp0: kafka.structs.OffsetAndMetadata(2, "two", -1)}) == {tp0: kafka.errors.NoError}
        assert committed() == {(topic, 0): 2, (topic, 1): 5}
        reset = admin.reset_group_offsets(group, {tp0: KpOffsetSpec.LATEST, tp1: KpOffsetSpec.EARLIEST})
        assert {tp.partition: (result["error"], result["offset"]) for tp, result in reset.items()} == \
            {0: (kafka.errors.NoError, 5), 1: (kafka.errors.NoError, 0)}, reset
        assert committed() == {(topic, 0): 5, (topic, 1): 0}
        assert admin.delete_group_offsets(group, [tp1]) == {tp1: kafka.errors.NoError}
        assert committed() == {(topic, 0): 5}

        assert dict(admin.delete_groups([group])) == {group: "OK"}
        assert group not in {g["group_id"] for g in admin.list_groups()}
    finally:
        consumer.close()
        admin.close()


def test_kafka_python_consumer_offset_calls_seek_pause_resume(kafka_server):
    topic, group = name("kp-consumer"), name("kp-consumer-group")
    create(kafka_server.bootstrap, topic, 2)
    produce(kafka_server.bootstrap, topic, 10, partition=0)
    tp0, tp1 = kafka.TopicPartition(topic, 0), kafka.TopicPartition(topic, 1)
    consumer = kafka.KafkaConsumer(bootstrap_servers=kafka_server.bootstrap, group_id=group, enable_auto_commit=False,
                                   auto_offset_reset="earliest", fetch_max_wait_ms=100)

    def fetch(count, timeout=10):
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < count and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=200).values():
                got += [(r.partition, r.offset, r.value) for r in records]
        return got

    try:
        assert topic in consumer.topics()
        assert consumer.partitions_for_topic(topic) == {0, 1}
        assert consumer.beginning_offsets([tp0, tp1]) == {tp0: 0, tp1: 0}
        assert consumer.end_offsets([tp0, tp1]) == {tp0: 10, tp1: 0}
        found = consumer.offsets_for_times({tp0: BASE_TIMESTAMP + 2500, tp1: BASE_TIMESTAMP})
        assert (found[tp0].offset, found[tp0].timestamp, found[tp1]) == (3, BASE_TIMESTAMP + 3000, None)
        assert consumer.committed(tp0) is None

        consumer.assign([tp0, tp1])
        consumer.seek(tp0, 4)
        assert consumer.position(tp0) == 4
        assert [o for _, o, _ in fetch(6)] == list(range(4, 10))
        assert consumer.highwater(tp0) == 10
        consumer.seek_to_beginning(tp0)
        consumer.pause(tp0)
        assert consumer.paused() == {tp0}
        assert fetch(1, timeout=1) == []
        consumer.resume(tp0)
        assert [o for _, o, _ in fetch(10)] == list(range(10))
        consumer.seek_to_end(tp0)
        assert consumer.position(tp0) == 10
        consumer.commit({tp0: kafka.structs.OffsetAndMetadata(7, "seven", -1)})
        assert consumer.committed(tp0) == 7
        assert consumer.committed(tp0, metadata=True).metadata == "seven"
    finally:
        consumer.close()


@pytest.mark.timeout(60)
def test_kafka_python_consumer_regex_subscription_follows_new_topics(kafka_server):
    prefix = name("telemetry-kp").replace("-", "_")

    def subscribe_and_collect(pattern, produce_later):
        consumer = kafka.KafkaConsumer(bootstrap_servers=kafka_server.bootstrap, group_id=name("kp-regex"),
                                       auto_offset_reset="earliest", enable_auto_commit=False, metadata_max_age_ms=1000,
                                       fetch_max_wait_ms=100)
        got = set()

        def collect(count, timeout=20):
            deadline = time.monotonic() + timeout
            target = len(got) + count
            while len(got) < target and time.monotonic() < deadline:
                for records in consumer.poll(timeout_ms=200).values():
                    got.update((r.topic, r.value) for r in records)

        try:
            consumer.subscribe(pattern=pattern)
            collect(3)
            if len(got) < 3:
                return got
            produce_later()
            collect(2)
            return got
        finally:
            consumer.close()

    regex_subscription_scenario(kafka_server.bootstrap, prefix, subscribe_and_collect)


# =====================================================================================================
# aiokafka
# =====================================================================================================

def test_aiokafka_admin_calls(kafka_server):
    topic, group = name("aio-admin"), name("aio-group")

    async def run():
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_server.bootstrap)
        await admin.start()
        try:
            created = await admin.create_topics([AioNewTopic(topic, 2, 1, topic_configs={"retention.ms": "3600000"})])
            assert [(t[0], t[1]) for t in created.topic_errors] == [(topic, 0)]
            assert topic in await admin.list_topics()
            [described] = await admin.describe_topics([topic])
            assert (described["topic"], described["error_code"], described["is_internal"]) == (topic, 0, False)
            assert sorted(p["partition"] for p in described["partitions"]) == [0, 1]

            grown = await admin.create_partitions({topic: AioNewPartitions(3)})
            assert [(r[0], r[1]) for r in grown.topic_errors] == [(topic, 0)]
            assert len((await admin.describe_topics([topic]))[0]["partitions"]) == 3

            resource = AioConfigResource(AioConfigResourceType.TOPIC, topic)
            [response] = await admin.describe_configs([resource])
            [(code, _, _, resource_name, entries)] = response.resources
            values = {entry[0]: entry[1] for entry in entries}
            assert (code, resource_name, values["retention.ms"], values["cleanup.policy"]) == (0, topic, "3600000", "delete")
            [altered] = await admin.alter_configs([AioConfigResource(AioConfigResourceType.TOPIC, topic, {"retention.ms": "7200000"})])
            assert [(r[0], r[3]) for r in altered.resources] == [(0, topic)]
            [response] = await admin.describe_configs([resource])
            assert {e[0]: e[1] for e in response.resources[0][4]}["retention.ms"] == "7200000"

            cluster = await admin.describe_cluster()
            assert cluster["controller_id"] == 0
            assert [(b["node_id"], b["host"], b["port"]) for b in cluster["brokers"]] == [(0, "127.0.0.1", kafka_server.port)]
            assert await admin.find_coordinator(group) == 0

            produce(kafka_server.bootstrap, topic, 6, partition=1)
            low = await admin.delete_records({aiokafka.TopicPartition(topic, 1): RecordsToDelete(before_offset=4)})
            assert low == {aiokafka.TopicPartition(topic, 1): 4}

            consumer = join_commit_and_leave(kafka_server.bootstrap, group, topic, 3, 2, client_id="aio-member")
            try:
                groups = {g[0]: g for g in await admin.list_consumer_groups()}
                assert groups[group][1] == "consumer"
                [described_group] = await admin.describe_consumer_groups([group])
                [(code, group_id, state, protocol_type, protocol, members, *_)] = described_group.groups
                assert (code, group_id, state, protocol_type, protocol, len(members)) == (0, group, "Stable", "consumer", "range", 1)
                offsets = await admin.list_consumer_group_offsets(group)
                assert {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()} == {(topic, 1): 6}
            finally:
                consumer.close()

            deleted = await admin.delete_topics([topic])
            assert [(t[0], t[1]) for t in deleted.topic_error_codes] == [(topic, 0)]
            assert topic not in await admin.list_topics()
        finally:
            await admin.close()

    asyncio.run(run())


def test_aiokafka_consumer_offset_calls_seek_pause_resume(kafka_server):
    topic, group = name("aio-consumer"), name("aio-consumer-group")
    create(kafka_server.bootstrap, topic, 2)
    produce(kafka_server.bootstrap, topic, 10, partition=0)
    tp0, tp1 = aiokafka.TopicPartition(topic, 0), aiokafka.TopicPartition(topic, 1)

    async def run():
        consumer = aiokafka.AIOKafkaConsumer(bootstrap_servers=kafka_server.bootstrap, group_id=group, enable_auto_commit=False,
                                             auto_offset_reset="earliest", fetch_max_wait_ms=100)
        await consumer.start()

        async def fetch(count, timeout=10):
            got = []
            deadline = time.monotonic() + timeout
            while len(got) < count and time.monotonic() < deadline:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    got += [(r.partition, r.offset) for r in records]
            return got

        try:
            assert topic in await consumer.topics()
            assert await consumer.beginning_offsets([tp0, tp1]) == {tp0: 0, tp1: 0}
            assert await consumer.end_offsets([tp0, tp1]) == {tp0: 10, tp1: 0}
            found = await consumer.offsets_for_times({tp0: BASE_TIMESTAMP + 2500, tp1: BASE_TIMESTAMP})
            assert (found[tp0].offset, found[tp0].timestamp, found[tp1]) == (3, BASE_TIMESTAMP + 3000, None)
            assert await consumer.committed(tp0) is None

            consumer.assign([tp0, tp1])
            consumer.seek(tp0, 6)
            assert await consumer.position(tp0) == 6
            assert await fetch(4) == [(0, o) for o in range(6, 10)]
            assert consumer.partitions_for_topic(topic) == {0, 1}
            assert consumer.highwater(tp0) == 10 and consumer.last_stable_offset(tp0) == 10
            await consumer.seek_to_beginning(tp0)
            consumer.pause(tp0)
            assert consumer.paused() == {tp0}
            assert await fetch(1, timeout=1) == []
            consumer.resume(tp0)
            assert await fetch(10) == [(0, o) for o in range(10)]
            await consumer.commit({tp0: 8})
            assert await consumer.committed(tp0) == 8
            await consumer.seek_to_end(tp0)
            assert await consumer.position(tp0) == 10
            await consumer.seek_to_committed(tp0)
            assert await consumer.position(tp0) == 8
        finally:
            await consumer.stop()

    asyncio.run(run())


@pytest.mark.timeout(60)
def test_aiokafka_consumer_regex_subscription_follows_new_topics(kafka_server):
    prefix = name("telemetry-aio").replace("-", "_")

    def subscribe_and_collect(pattern, produce_later):
        async def run():
            consumer = aiokafka.AIOKafkaConsumer(bootstrap_servers=kafka_server.bootstrap, group_id=name("aio-regex"),
                                                 auto_offset_reset="earliest", enable_auto_commit=False,
                                                 metadata_max_age_ms=1000, fetch_max_wait_ms=100)
            await consumer.start()
            got = set()

            async def collect(count, timeout=20):
                deadline = time.monotonic() + timeout
                target = len(got) + count
                while len(got) < target and time.monotonic() < deadline:
                    for records in (await consumer.getmany(timeout_ms=200)).values():
                        got.update((r.topic, r.value) for r in records)

            try:
                consumer.subscribe(pattern=pattern)
                await collect(3)
                if len(got) < 3:
                    return got
                await asyncio.get_running_loop().run_in_executor(None, produce_later)
                await collect(2)
                return got
            finally:
                await consumer.stop()

        return asyncio.run(run())

    regex_subscription_scenario(kafka_server.bootstrap, prefix, subscribe_and_collect)
