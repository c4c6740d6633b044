"""Offsets of deleted topics, and the producer state DescribeProducers reports."""
import time

import confluent_kafka
import kafka
from confluent_kafka.admin import AdminClient
from kafka.admin import KafkaAdminClient

from test_kafka_storage import create_topic


def group_offsets(admin, group):
    request = confluent_kafka.ConsumerGroupTopicPartitions(group)
    result = list(admin.list_consumer_group_offsets([request]).values())[0].result()
    return {(tp.topic, tp.partition): tp.offset for tp in result.topic_partitions}


def test_offsets_of_a_deleted_topic_are_removed(server):
    create_topic(server.bootstrap, "doomed", partitions=2)
    create_topic(server.bootstrap, "kept", partitions=1)
    consumer = confluent_kafka.Consumer({"bootstrap.servers": server.bootstrap, "group.id": "survivor", "enable.auto.commit": False})
    consumer.commit(offsets=[confluent_kafka.TopicPartition("doomed", 0, 5), confluent_kafka.TopicPartition("doomed", 1, 7),
                             confluent_kafka.TopicPartition("kept", 0, 3)], asynchronous=False)
    consumer.close()
    admin = AdminClient({"bootstrap.servers": server.bootstrap})
    assert group_offsets(admin, "survivor") == {("doomed", 0): 5, ("doomed", 1): 7, ("kept", 0): 3}
    for future in admin.delete_topics(["doomed"]).values():
        future.result()
    deadline = time.time() + 10
    while time.time() < deadline and ("doomed", 0) in group_offsets(admin, "survivor"):
        time.sleep(0.2)
    assert group_offsets(admin, "survivor") == {("kept", 0): 3}
    # The removal is durable: a restart does not bring them back.
    server.restart()
    admin = AdminClient({"bootstrap.servers": server.bootstrap})
    assert group_offsets(admin, "survivor") == {("kept", 0): 3}


def test_describe_producers_reports_the_idempotent_producer(server):
    create_topic(server.bootstrap, "tracked")
    producer = kafka.KafkaProducer(bootstrap_servers=server.bootstrap, acks="all", enable_idempotence=True)
    for index in range(12):
        producer.send("tracked", value=b"v%d" % index, partition=0).get(10)
    producer.close()
    admin = KafkaAdminClient(bootstrap_servers=server.bootstrap)
    states = admin.describe_producers([kafka.TopicPartition("tracked", 0)])
    admin.close()
    active = states[kafka.TopicPartition("tracked", 0)].active_producers
    assert len(active) == 1
    assert active[0].producer_id >= 0 and active[0].producer_epoch == 0
    assert active[0].last_sequence == 11
    assert active[0].current_transaction_start_offset == -1
