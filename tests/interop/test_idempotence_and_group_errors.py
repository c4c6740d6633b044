"""The idempotent producer across server restarts (confluent-kafka), its duplicate/gap/fencing answers on
hand-made batches, and the classic group protocol's error codes for bad or stale requests on raw frames."""
import threading
import time

import confluent_kafka
import pytest

import kafka_wire as wire
from test_kafka_clients import consume_assigned
from test_kafka_storage import create_topic

INIT_PRODUCER_ID, PRODUCE, FIND_COORDINATOR, JOIN_GROUP, HEARTBEAT, LEAVE_GROUP, SYNC_GROUP, OFFSET_COMMIT = 22, 0, 10, 11, 12, 13, 14, 8

NONE, ILLEGAL_GENERATION, INCONSISTENT_GROUP_PROTOCOL, UNKNOWN_MEMBER_ID, REBALANCE_IN_PROGRESS = 0, 22, 23, 25, 27
OUT_OF_ORDER_SEQUENCE_NUMBER, INVALID_PRODUCER_EPOCH = 45, 47


# --- idempotent producer with confluent-kafka -----------------------------------------------------------

class NumberProducer(threading.Thread):
    """Produces 0, 1, 2, ... to partition 0 with an idempotent producer until stopped."""

    def __init__(self, bootstrap, topic):
        super().__init__(daemon=True)
        self.producer = confluent_kafka.Producer({
            "bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 5,
            "message.timeout.ms": 120_000, "retry.backoff.ms": 100, "reconnect.backoff.ms": 100, "reconnect.backoff.max.ms": 500,
        })
        self.topic = topic
        self.produced = 0
        self.acknowledged = 0
        self.errors = []
        self.stopping = threading.Event()
        self.remaining = None

    def on_delivery(self, error, message):
        if error is not None:
            self.errors.append(error)
        else:
            self.acknowledged += 1

    def run(self):
        while not self.stopping.is_set():
            try:
                self.producer.produce(self.topic, value=b"%d" % self.produced, partition=0, on_delivery=self.on_delivery)
            except BufferError:
                self.producer.poll(0.1)
                continue
            self.produced += 1
            self.producer.poll(0)
            if self.produced % 20 == 0:
                time.sleep(0.002)
        self.remaining = self.producer.flush(120)


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGKILL"])
def test_idempotent_producer_writes_every_number_once_and_in_order_across_a_restart(server_factory, signal_name):
    server = server_factory("--offsets-topic-partitions", "4").start()
    create_topic(server.bootstrap, "numbers", partitions=1)
    producer = NumberProducer(server.bootstrap, "numbers")
    producer.start()
    try:
        wait_for(lambda: producer.acknowledged >= 1000 or producer.errors, 30, "1000 acknowledged records")
        if signal_name == "SIGKILL":
            server.kill()
        else:
            server.stop()
        sent_before_restart = producer.produced
        time.sleep(0.5)  # the producer keeps queueing and retrying while nobody listens
        server.start()
        wait_for(lambda: producer.acknowledged >= sent_before_restart + 1000 or producer.errors, 60,
                 "1000 records acknowledged after the restart")
    finally:
        producer.stopping.set()
        producer.join(150)
    assert not producer.is_alive()
    assert producer.errors == [], producer.errors[:5]
    assert producer.remaining == 0
    assert producer.acknowledged == producer.produced

    assert high_watermark(server.bootstrap, "numbers") == producer.produced
    messages = consume_assigned(server.bootstrap, "numbers", [0], expected_total=producer.produced, timeout=30)
    values = [int(message.value()) for message in messages]
    duplicates = len(values) - len(set(values))
    assert duplicates == 0, f"{duplicates} numbers were written twice"
    assert values == list(range(producer.produced)), "a number is missing or out of order"
    assert [message.offset() for message in messages] == list(range(producer.produced))


# --- idempotent producer on raw frames -----------------------------------------------------------------

def init_producer_id(connection):
    reader = connection.call(INIT_PRODUCER_ID, 0, wire.string(None) + wire.int32(60_000))
    reader.int32()  # throttle
    error, producer_id, epoch = reader.int16(), reader.int64(), reader.int16()
    assert error == NONE
    assert producer_id >= 0 and epoch >= 0
    return producer_id, epoch


def produce(connection, topic, values, producer_id, epoch, sequence):
    batch = wire.record_batch(values, producer_id=producer_id, producer_epoch=epoch, base_sequence=sequence)
    [(name, partition, error, base_offset)] = wire.parse_produce_v3(connection.call(PRODUCE, 3, wire.produce_v3(topic, 0, batch)))
    assert (name, partition) == (topic, 0)
    return error, base_offset


def high_watermark(bootstrap, topic):
    consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": "watermarks"})
    try:
        return consumer.get_watermark_offsets(confluent_kafka.TopicPartition(topic, 0), timeout=10)[1]
    finally:
        consumer.close()


def test_hand_made_duplicate_gap_and_stale_epoch_batches(server):
    create_topic(server.bootstrap, "dedupe", partitions=1)
    connection = wire.Connection(server.bootstrap)
    producer_id, epoch = init_producer_id(connection)
    # A second InitProducerId hands out a different producer id.
    assert init_producer_id(connection)[0] != producer_id

    first = [b"a0", b"a1", b"a2"]
    assert produce(connection, "dedupe", first, producer_id, epoch, 0) == (NONE, 0)
    # The same batch again (a retry): answered with the original offset, not written again.
    assert produce(connection, "dedupe", first, producer_id, epoch, 0) == (NONE, 0)
    assert high_watermark(server.bootstrap, "dedupe") == 3

    # Sequence 5 when 3 is next: a gap.
    error, _ = produce(connection, "dedupe", [b"gap"], producer_id, epoch, 5)
    assert error == OUT_OF_ORDER_SEQUENCE_NUMBER
    assert high_watermark(server.bootstrap, "dedupe") == 3
    # The expected sequence still works after the refused one.
    assert produce(connection, "dedupe", [b"b0"], producer_id, epoch, 3) == (NONE, 3)

    # A higher epoch starts again at sequence 0; the old epoch is fenced from then on.
    assert produce(connection, "dedupe", [b"c0"], producer_id, epoch + 1, 0) == (NONE, 4)
    error, _ = produce(connection, "dedupe", [b"d0"], producer_id, epoch, 4)
    assert error == INVALID_PRODUCER_EPOCH
    assert produce(connection, "dedupe", [b"c1"], producer_id, epoch + 1, 1) == (NONE, 5)
    connection.close()

    assert high_watermark(server.bootstrap, "dedupe") == 6
    messages = consume_assigned(server.bootstrap, "dedupe", [0], expected_total=6, timeout=10)
    assert [(m.offset(), m.value()) for m in messages] == list(enumerate([b"a0", b"a1", b"a2", b"b0", b"c0", b"c1"]))


# --- classic group protocol errors on raw frames -------------------------------------------------------

SUBSCRIPTION = wire.int16(0) + wire.array(["events"], wire.string) + wire.bytes_(b"")  # ConsumerProtocolSubscription v0


def find_coordinator(connection, group):
    """FindCoordinator v0, as every client sends before its first group request (it also creates
    __consumer_offsets on a new cluster). One broker: it is the coordinator."""
    reader = connection.call(FIND_COORDINATOR, 0, wire.string(group))
    error, node_id, host, port = reader.int16(), reader.int32(), reader.string(), reader.int32()
    assert error == NONE, error
    return node_id, host, port


def join_body(group, member_id="", protocol_type="consumer", protocols=(("range", SUBSCRIPTION),),
              session_timeout=10_000, rebalance_timeout=10_000):
    return (wire.string(group) + wire.int32(session_timeout) + wire.int32(rebalance_timeout) + wire.string(member_id)
            + wire.string(protocol_type) + wire.array(list(protocols), lambda p: wire.string(p[0]) + wire.bytes_(p[1])))


def parse_join(reader):
    reader.int32()  # throttle
    return {
        "error": reader.int16(), "generation": reader.int32(), "protocol": reader.string(), "leader": reader.string(),
        "member_id": reader.string(), "members": reader.array(lambda r: (r.string(), r.bytes_())),
    }


def join(connection, group, **fields):
    return parse_join(connection.call(JOIN_GROUP, 2, join_body(group, **fields)))


def sync(connection, group, generation, member_id, assignments=()):
    body = (wire.string(group) + wire.int32(generation) + wire.string(member_id)
            + wire.array(list(assignments), lambda a: wire.string(a[0]) + wire.bytes_(a[1])))
    reader = connection.call(SYNC_GROUP, 1, body)
    reader.int32()
    return reader.int16(), reader.bytes_()


def heartbeat(connection, group, generation, member_id):
    reader = connection.call(HEARTBEAT, 1, wire.string(group) + wire.int32(generation) + wire.string(member_id))
    reader.int32()
    return reader.int16()


def leave(connection, group, member_id):
    reader = connection.call(LEAVE_GROUP, 1, wire.string(group) + wire.string(member_id))
    reader.int32()
    return reader.int16()


def commit(connection, group, generation, member_id, topic, partition, offset):
    body = (wire.string(group) + wire.int32(generation) + wire.string(member_id) + wire.int64(-1)
            + wire.array([topic], lambda name: wire.string(name) + wire.array(
                [partition], lambda index: wire.int32(index) + wire.int64(offset) + wire.string(""))))
    reader = connection.call(OFFSET_COMMIT, 2, body)
    return reader.array(lambda r: (r.string(), r.array(lambda p: (p.int32(), p.int16()))))


ASSIGNMENT = wire.int16(0) + wire.array(["events"], lambda t: wire.string(t) + wire.array([0], wire.int32)) + wire.bytes_(b"")


def stable_member(connection, group):
    """Joins `group` alone and syncs; returns (member id, generation)."""
    find_coordinator(connection, group)
    joined = join(connection, group)
    assert joined["error"] == NONE, joined
    assert joined["leader"] == joined["member_id"] and joined["member_id"]
    assert [member_id for member_id, _ in joined["members"]] == [joined["member_id"]]
    error, assignment = sync(connection, group, joined["generation"], joined["member_id"], [(joined["member_id"], ASSIGNMENT)])
    assert (error, assignment) == (NONE, ASSIGNMENT)
    return joined["member_id"], joined["generation"]


@pytest.fixture
def group_server(server_factory):
    server = server_factory("--group-initial-rebalance-delay-ms", "0", "--offsets-topic-partitions", "4").start()
    create_topic(server.bootstrap, "events", partitions=1)
    # A standalone commit (no generation, no member) writes __consumer_offsets into existence before the
    # tests' groups write to it (see test_first_commit_right_after_the_first_sync_is_stored for why).
    connection = wire.Connection(server.bootstrap)
    find_coordinator(connection, "warm-up")
    assert commit(connection, "warm-up", -1, "", "events", 0, 0) == [("events", [(0, NONE)])]
    connection.close()
    return server


def test_join_without_protocol_type_or_protocols_is_inconsistent(group_server):
    connection = wire.Connection(group_server.bootstrap)
    assert join(connection, "no-type", protocol_type="")["error"] == INCONSISTENT_GROUP_PROTOCOL
    assert join(connection, "no-protocols", protocols=())["error"] == INCONSISTENT_GROUP_PROTOCOL
    # Neither attempt created a member: a proper join afterwards is alone in its group, generation 1.
    joined = join(connection, "no-type")
    assert joined["error"] == NONE and joined["generation"] == 1 and len(joined["members"]) == 1


def test_second_member_with_another_protocol_type_is_refused(group_server):
    first = wire.Connection(group_server.bootstrap)
    member_id, generation = stable_member(first, "typed")
    second = wire.Connection(group_server.bootstrap)
    refused = join(second, "typed", protocol_type="connect")
    assert refused["error"] == INCONSISTENT_GROUP_PROTOCOL, refused
    # The group did not start a rebalance for it.
    assert heartbeat(first, "typed", generation, member_id) == NONE


def test_sync_with_a_stale_generation_is_illegal(group_server):
    connection = wire.Connection(group_server.bootstrap)
    member_id, generation = stable_member(connection, "syncing")
    assert sync(connection, "syncing", generation - 1, member_id)[0] == ILLEGAL_GENERATION
    assert sync(connection, "syncing", generation + 1, member_id)[0] == ILLEGAL_GENERATION
    # The current generation still syncs and gets the stored assignment.
    assert sync(connection, "syncing", generation, member_id) == (NONE, ASSIGNMENT)


def test_offset_commit_from_an_unknown_member_of_an_active_group(group_server):
    connection = wire.Connection(group_server.bootstrap)
    member_id, generation = stable_member(connection, "committing")
    assert commit(connection, "committing", generation, "stranger", "events", 0, 5) == [("events", [(0, UNKNOWN_MEMBER_ID)])]
    assert commit(connection, "committing", generation, member_id, "events", 0, 5) == [("events", [(0, NONE)])]


def test_heartbeat_after_leaving_is_from_an_unknown_member(group_server):
    connection = wire.Connection(group_server.bootstrap)
    member_id, generation = stable_member(connection, "leaving")
    assert heartbeat(connection, "leaving", generation, member_id) == NONE
    assert leave(connection, "leaving", member_id) == NONE
    assert heartbeat(connection, "leaving", generation, member_id) == UNKNOWN_MEMBER_ID


def test_heartbeat_while_the_group_rebalances(group_server):
    first = wire.Connection(group_server.bootstrap)
    member_id, generation = stable_member(first, "rebalancing")
    # A second member joins: its JoinGroup waits until the first one rejoins.
    second = wire.Connection(group_server.bootstrap, timeout=30)
    second.send(JOIN_GROUP, 2, join_body("rebalancing"))
    deadline = time.monotonic() + 10
    error = heartbeat(first, "rebalancing", generation, member_id)
    while error == NONE and time.monotonic() < deadline:
        time.sleep(0.05)
        error = heartbeat(first, "rebalancing", generation, member_id)
    assert error == REBALANCE_IN_PROGRESS
    # The first member rejoins; both get the next generation.
    rejoined = join(first, "rebalancing", member_id=member_id)
    _, reader = second.receive()
    newcomer = parse_join(reader)
    assert rejoined["error"] == NONE and newcomer["error"] == NONE, (rejoined, newcomer)
    assert rejoined["generation"] == newcomer["generation"] == generation + 1
    assert rejoined["member_id"] == member_id and newcomer["member_id"] not in ("", member_id)
    leader = rejoined if rejoined["leader"] == member_id else newcomer
    assert sorted(m for m, _ in leader["members"]) == sorted([member_id, newcomer["member_id"]])


def test_first_commit_right_after_the_first_sync_is_stored(server_factory):
    """On a new server the group's first write creates __consumer_offsets. A member that commits right after
    its first SyncGroup races that write (SyncGroup stores the group metadata); Apache Kafka stores the
    commit (or, while the offsets partition loads, answers a retriable coordinator error); it does not
    answer KAFKA_STORAGE_ERROR."""
    server = server_factory("--group-initial-rebalance-delay-ms", "0", "--offsets-topic-partitions", "4").start()
    create_topic(server.bootstrap, "events", partitions=1)
    connection = wire.Connection(server.bootstrap)
    member_id, generation = stable_member(connection, "first-commit")
    assert commit(connection, "first-commit", generation, member_id, "events", 0, 7) == [("events", [(0, NONE)])]
    connection.close()
    consumer = confluent_kafka.Consumer({"bootstrap.servers": server.bootstrap, "group.id": "first-commit"})
    try:
        [stored] = consumer.committed([confluent_kafka.TopicPartition("events", 0)], timeout=10)
    finally:
        consumer.close()
    assert stored.offset == 7
