"""Kafka's ACL authorizer (`kafka-authorizer: acl`): ACLs managed with CreateAcls/DescribeAcls/DeleteAcls
through librdkafka's AdminClient (as `kafka-acls` would), stored in the log (`__acls`), and applied in
every handler with Kafka's error codes: producers, consumers and their groups, topic administration,
Metadata listings, super users, prefixed and wildcard patterns, DENY over ALLOW, and the anonymous principal
of a plaintext listener."""
import time

import confluent_kafka
import confluent_kafka.admin as kadmin
import kafka
import kafka.admin
import kafka.errors
import pytest

from kafka_wire import Connection, int8, int32
from mqtt_helpers import unique
from test_sasl import sasl

ADMIN = ("admin", "admin-secret")
ALICE = ("alice", "alice-secret")
BOB = ("bob", "bob-secret")


def acl_server(server_factory, workdir, *extra, protocol="SASL_PLAINTEXT"):
    users = workdir / "users.txt"
    users.write_text("".join(f"{name} PLAIN {password}\n" for name, password in (ADMIN, ALICE, BOB)))
    server = server_factory("--users-file", str(users), "--super-users", "User:admin", "--kafka-authorizer", "acl", *extra)
    server.kafka_protocol = protocol
    return server.start()


def security(user):
    """SCRAM credentials of `user`; None: an anonymous client of a PLAINTEXT listener."""
    return sasl("SCRAM-SHA-256", *user) if user else {}


def admin_client(server, user=ADMIN):
    return kadmin.AdminClient({"bootstrap.servers": server.bootstrap, **security(user)})


def binding(principal, operation, resource_type=kadmin.ResourceType.TOPIC, name="t", pattern=kadmin.ResourcePatternType.LITERAL,
            permission=kadmin.AclPermissionType.ALLOW, host="*"):
    return kadmin.AclBinding(resource_type, name, pattern, principal, host, operation, permission)


def create(server, *bindings, user=ADMIN):
    admin = admin_client(server, user)  # kept alive until the answers are in
    futures = admin.create_acls(list(bindings))
    for future in futures.values():
        future.result(timeout=30)


def produce_error(server, user, topic, timeout=20.0):
    """The delivery error of one record (None when it was written)."""
    producer = confluent_kafka.Producer({"bootstrap.servers": server.bootstrap, "message.timeout.ms": int(timeout * 1000), **security(user)})
    outcome = []
    producer.produce(topic, value=b"v", on_delivery=lambda err, msg: outcome.append(err))
    producer.flush(timeout + 5)
    assert outcome, "no delivery report"
    return outcome[0]


def consume_error(server, user, topic, group, timeout=20.0):
    """The first error a subscribing consumer reports, or None once it reads a record."""
    consumer = confluent_kafka.Consumer({"bootstrap.servers": server.bootstrap, "group.id": group, "auto.offset.reset": "earliest", **security(user)})
    consumer.subscribe([topic])
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            return message.error()
    finally:
        consumer.close()
    raise AssertionError("the consumer neither read nor failed")


@pytest.mark.timeout(120)
def test_acls_are_managed_with_the_admin_api_and_survive_a_restart(server_factory, workdir):
    server = acl_server(server_factory, workdir)
    admin = admin_client(server)
    read_alice = binding("User:alice", kadmin.AclOperation.READ, name="telemetry.", pattern=kadmin.ResourcePatternType.PREFIXED)
    write_bob = binding("User:bob", kadmin.AclOperation.WRITE, name="commands")
    group_alice = binding("User:alice", kadmin.AclOperation.READ, kadmin.ResourceType.GROUP, name="*")
    create(server, read_alice, write_bob, group_alice)
    create(server, read_alice)  # already there: accepted, nothing changes

    everything = kadmin.AclBindingFilter(kadmin.ResourceType.ANY, None, kadmin.ResourcePatternType.ANY, None, None,
                                         kadmin.AclOperation.ANY, kadmin.AclPermissionType.ANY)
    assert set(admin.describe_acls(everything).result(timeout=30)) == {read_alice, write_bob, group_alice}
    # MATCH: the ACLs that apply to one topic name (prefixed and wildcard ones included).
    applying = kadmin.AclBindingFilter(kadmin.ResourceType.TOPIC, "telemetry.kitchen", kadmin.ResourcePatternType.MATCH, None, None,
                                       kadmin.AclOperation.ANY, kadmin.AclPermissionType.ANY)
    assert admin.describe_acls(applying).result(timeout=30) == [read_alice]

    # Only someone with ALTER on the cluster (here the super user) manages ACLs.
    with pytest.raises(confluent_kafka.KafkaException) as refused:
        create(server, binding("User:alice", kadmin.AclOperation.ALL, name="*"), user=ALICE)
    assert refused.value.args[0].code() == confluent_kafka.KafkaError.CLUSTER_AUTHORIZATION_FAILED
    # (librdkafka drops DescribeAcls' top-level error and shows an empty list; kafka-python reports it.)
    alice = kafka.admin.KafkaAdminClient(bootstrap_servers=server.bootstrap, security_protocol="SASL_PLAINTEXT",
                                         sasl_mechanism="SCRAM-SHA-256", sasl_plain_username=ALICE[0], sasl_plain_password=ALICE[1])
    any_acl = kafka.admin.ACLFilter(principal=None, host=None, operation=kafka.admin.ACLOperation.ANY,
                                    permission_type=kafka.admin.ACLPermissionType.ANY,
                                    resource_pattern=kafka.admin.ResourcePatternFilter(kafka.admin.ResourceType.ANY, None,
                                                                                       kafka.admin.ACLResourcePatternType.ANY))
    with pytest.raises(kafka.errors.ClusterAuthorizationFailedError):
        alice.describe_acls(any_acl)
    alice.close()
    # What Kafka refuses to store: the cluster resource under another name.
    with pytest.raises(confluent_kafka.KafkaException) as refused:
        create(server, binding("User:alice", kadmin.AclOperation.ALTER, kadmin.ResourceType.BROKER, name="my-cluster"))
    assert refused.value.args[0].code() == confluent_kafka.KafkaError.INVALID_REQUEST

    deleted = admin.delete_acls([kadmin.AclBindingFilter(kadmin.ResourceType.ANY, None, kadmin.ResourcePatternType.ANY, "User:bob", None,
                                                         kadmin.AclOperation.ANY, kadmin.AclPermissionType.ANY)])
    assert [list(future.result(timeout=30)) for future in deleted.values()] == [[write_bob]]

    server.restart()
    admin = admin_client(server)
    assert set(admin.describe_acls(everything).result(timeout=30)) == {read_alice, group_alice}
    # The ACLs live in a hidden internal topic: no client lists, describes or reads it (not even a super user).
    assert "__acls" not in admin.list_topics(timeout=10).topics
    for name in ("__acls", "__users"):
        with pytest.raises(confluent_kafka.KafkaException) as refused:
            admin.describe_topics(confluent_kafka.TopicCollection([name]))[name].result(timeout=30)
        assert refused.value.args[0].code() == confluent_kafka.KafkaError.TOPIC_AUTHORIZATION_FAILED


@pytest.mark.timeout(180)
def test_producers_and_consumers_need_their_acls(server_factory, workdir):
    server = acl_server(server_factory, workdir)
    topic, group = unique("orders"), unique("billing")
    create(server, binding("User:admin", kadmin.AclOperation.ALL, name=topic))
    assert produce_error(server, ADMIN, topic) is None

    # No ACL for alice: the topic is not hers to write, read or even see.
    error = produce_error(server, ALICE, topic, timeout=10)
    assert error is not None and error.code() == confluent_kafka.KafkaError.TOPIC_AUTHORIZATION_FAILED, error
    assert topic not in admin_client(server, ALICE).list_topics(timeout=10).topics
    assert topic in admin_client(server).list_topics(timeout=10).topics

    create(server, binding("User:alice", kadmin.AclOperation.WRITE, name="orders", pattern=kadmin.ResourcePatternType.PREFIXED))
    assert produce_error(server, ALICE, topic) is None
    assert topic in admin_client(server, ALICE).list_topics(timeout=10).topics  # WRITE implies DESCRIBE

    # Reading needs READ on the topic and on the group.
    create(server, binding("User:alice", kadmin.AclOperation.READ, name=topic))
    error = consume_error(server, ALICE, topic, group)
    assert error is not None and error.code() == confluent_kafka.KafkaError.GROUP_AUTHORIZATION_FAILED, error
    create(server, binding("User:alice", kadmin.AclOperation.READ, kadmin.ResourceType.GROUP, name=group))
    assert consume_error(server, ALICE, topic, group) is None

    # DENY wins over ALLOW, even a wildcard one.
    create(server, binding("User:*", kadmin.AclOperation.READ, name="*"),
           binding("User:bob", kadmin.AclOperation.READ, name=topic, permission=kadmin.AclPermissionType.DENY),
           binding("User:bob", kadmin.AclOperation.READ, kadmin.ResourceType.GROUP, name=group))
    error = consume_error(server, BOB, topic, group)
    assert error is not None and error.code() == confluent_kafka.KafkaError.TOPIC_AUTHORIZATION_FAILED, error
    assert "authorization denied" in server.log()

    # Administration: alice may not delete the topic or create others.
    admin = admin_client(server, ALICE)
    with pytest.raises(confluent_kafka.KafkaException) as refused:
        admin.delete_topics([topic])[topic].result(timeout=30)
    assert refused.value.args[0].code() == confluent_kafka.KafkaError.TOPIC_AUTHORIZATION_FAILED
    other = unique("other")
    with pytest.raises(confluent_kafka.KafkaException) as refused:
        admin.create_topics([kadmin.NewTopic(other, 1)])[other].result(timeout=30)
    assert refused.value.args[0].code() == confluent_kafka.KafkaError.TOPIC_AUTHORIZATION_FAILED
    resource = kadmin.ConfigResource(kadmin.ResourceType.BROKER, "0")
    with pytest.raises(confluent_kafka.KafkaException) as refused:
        admin.describe_configs([resource])[resource].result(timeout=30)
    assert refused.value.args[0].code() == confluent_kafka.KafkaError.CLUSTER_AUTHORIZATION_FAILED


@pytest.mark.timeout(120)
def test_anonymous_plaintext_clients_get_nothing_without_acls(server_factory, workdir, clients):
    """The first defect of the issue: with authentication on MQTT only, an anonymous Kafka client read all
    telemetry. With the authorizer, the plaintext listener's User:ANONYMOUS gets only what ACLs grant."""
    server = acl_server(server_factory, workdir, protocol="PLAINTEXT")
    device = clients(server.mqtt_port)
    device.connect()
    device.publish("devices/d1/telemetry", b'{"t": 21}', qos=1)
    reader = kafka.KafkaConsumer(bootstrap_servers=server.bootstrap, consumer_timeout_ms=3000, auto_offset_reset="earliest")
    assert "mqtt.messages" not in reader.topics()
    reader.close()
    error = consume_error(server, None, "mqtt.messages", unique("anonymous"))
    # Neither the group nor the topic is granted; librdkafka reports whichever it meets first.
    assert error is not None and error.code() in (confluent_kafka.KafkaError.GROUP_AUTHORIZATION_FAILED,
                                                  confluent_kafka.KafkaError.TOPIC_AUTHORIZATION_FAILED), error
    producer = kafka.KafkaProducer(bootstrap_servers=server.bootstrap, max_block_ms=10000)
    with pytest.raises(kafka.errors.KafkaError):
        producer.send("telemetry", b"forged").get(timeout=15)
    producer.close()
    consumer = kafka.KafkaConsumer(bootstrap_servers=server.bootstrap, consumer_timeout_ms=3000)
    assert "telemetry" not in consumer.topics()
    consumer.close()


@pytest.mark.timeout(60)
def test_describe_topic_partitions_keeps_the_internal_topics_hidden(server_factory, workdir):
    """DescribeTopicPartitions (KIP-966, what newer Java AdminClients use to describe topics) listed the
    user base's topic with every other one; like Metadata, it leaves it (and the ACLs) out and refuses it by
    name."""
    users = workdir / "users.txt"
    users.write_text("admin PLAIN admin-secret\n")
    # (Hidden with or without the authorizer.)
    server = server_factory("--users-file", str(users)).start()
    connection = Connection(server.bootstrap)

    def describe(*names):
        body = bytes([len(names) + 1])
        for name in names:
            body += bytes([len(name) + 1]) + name.encode() + b"\x00"
        body += int32(2000) + int8(-1) + b"\x00"
        reader = connection.call(75, 0, body, flexible_header=True)
        reader.take(1)  # the response header's tagged fields
        return reader

    reader = describe()
    listing = reader.take(reader.remaining)
    assert b"mqtt.messages" in listing
    assert b"__users" not in listing and b"__acls" not in listing
    for name in ("__users", "__acls"):
        reader = describe(name)
        reader.int32()  # throttle
        reader.take(1)  # one topic
        assert reader.int16() == 29  # TOPIC_AUTHORIZATION_FAILED
    connection.close()
