"""Requests for what this broker does not do (newer ApiVersions, SASL, transactions) get a Kafka answer on an
open connection instead of a closed socket or an endless retry loop: raw frames, plus the confluent-kafka
transactional producer that has to give up at once."""
import shutil
import time

import confluent_kafka
import pytest
from confluent_kafka.admin import AdminClient, NewTopic

import kafka_wire as wire
from conftest import ROOT, Server
from mqtt_helpers import LogWindow

UNSUPPORTED_VERSION = 35
UNSUPPORTED_SASL_MECHANISM = 33
ILLEGAL_SASL_STATE = 34
COORDINATOR_ERRORS = {14, 15, 16}  # COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR


def load_error_codes():
    """{code: (name, retriable)} from the Kafka protocol's error table next to this repository."""
    path = ROOT.parent / "shared" / "kafka-protocol" / "error-codes.tsv"
    if not path.exists():
        pytest.fail(f"{path} is missing: the retriable flag of each error comes from it")
    codes = {}
    for line in path.read_text().splitlines()[1:]:
        fields = line.split("\t")
        if len(fields) >= 3 and fields[0].lstrip("-").isdigit():
            codes[int(fields[0])] = (fields[1], fields[2] == "true")
    return codes


ERRORS = load_error_codes()


def describe(code):
    name, retriable = ERRORS.get(code, ("unknown", None))
    return f"{code} {name} (retriable: {retriable})"


def assert_final_error(code, what):
    """A refusal the client must not retry: an error, known to Kafka, not retriable, not a coordinator error."""
    assert code != 0, f"{what}: answered without an error"
    assert code in ERRORS, f"{what}: {code} is no Kafka error code"
    assert code not in COORDINATOR_ERRORS, f"{what}: {describe(code)} makes clients look for a coordinator again"
    assert ERRORS[code][1] is False, f"{what}: {describe(code)} is retriable, so clients retry until they time out"


# --- flexible-version encoding (KIP-482), which kafka_wire leaves out ---------------------------------

def uvarint(value):
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def compact_string(value):
    if value is None:
        return b"\x00"
    data = value.encode()
    return uvarint(len(data) + 1) + data


def compact_bytes(value):
    return b"\x00" if value is None else uvarint(len(value) + 1) + value


def compact_array(items, encode):
    return b"\x00" if items is None else uvarint(len(items) + 1) + b"".join(encode(item) for item in items)


NO_TAGS = b"\x00"


class FlexibleReader(wire.Reader):
    def uvarint(self):
        value, shift = 0, 0
        while True:
            byte = self.take(1)[0]
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7

    def compact_string(self):
        length = self.uvarint() - 1
        return None if length < 0 else self.take(length).decode()

    def compact_bytes(self):
        length = self.uvarint() - 1
        return None if length < 0 else self.take(length)

    def compact_array(self, decode):
        count = self.uvarint() - 1
        return None if count < 0 else [decode(self) for _ in range(count)]

    def tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.take(self.uvarint())


def flexible(reader):
    """The rest of a response after its correlation id as a FlexibleReader, past the response header v1's tags."""
    flexible_reader = FlexibleReader(reader.data)
    flexible_reader.position = reader.position
    flexible_reader.tags()
    return flexible_reader


def answered(connection, api_key, version, body, flexible_header=False):
    """Sends one request; returns the Reader over its answer, failing (with the reason) when the server closes."""
    try:
        return connection.call(api_key, version, body, flexible_header=flexible_header)
    except (ConnectionError, OSError) as error:
        raise AssertionError(f"api key {api_key} v{version}: the server closed the connection instead of answering ({error})")


# --- one server for the module -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def kafka_server(tributary_binary, tmp_path_factory):
    root = tmp_path_factory.mktemp("protocol-answers")
    server = Server(tributary_binary, root / "data").start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(autouse=True)
def shared_server_log(kafka_server):
    window = LogWindow(kafka_server)
    yield
    window.dump()


def api_versions_v0(address):
    connection = wire.Connection(address)
    try:
        reader = connection.call(18, 0, b"")
        assert reader.int16() == 0
        return reader.array(lambda r: (r.int16(), r.int16(), r.int16()))
    finally:
        connection.close()


# --- ApiVersions (KIP-511) -----------------------------------------------------------------------------

def test_apiversions_v99_from_a_newer_client_gets_unsupported_version_in_a_v0_body(kafka_server):
    connection = wire.Connection(kafka_server.bootstrap)
    # What a client from the future sends: header v2 (with tagged fields) and the v3+ body.
    body = compact_string("future-client") + compact_string("99.0") + NO_TAGS
    reader = answered(connection, 18, 99, body, flexible_header=True)
    # The answer is a v0 body: error code, then int32-counted (key, min, max) triples, and nothing after.
    assert reader.int16() == UNSUPPORTED_VERSION
    keys = reader.array(lambda r: (r.int16(), r.int16(), r.int16()))
    assert reader.remaining == 0, f"{reader.remaining} bytes after the v0 body"
    assert keys == api_versions_v0(kafka_server.bootstrap)
    by_key = {key: (low, high) for key, low, high in keys}
    assert by_key[18] == (0, 4)
    assert by_key[3] == (0, 12) and by_key[1] == (4, 17) and by_key[0] == (0, 11)
    # The client retries with a version from the list, on the same connection.
    reader = answered(connection, 18, 3, compact_string("future-client") + compact_string("99.0") + NO_TAGS, flexible_header=True)
    assert reader.int16() == 0
    connection.close()


def test_apiversions_v3_answer_lists_the_same_keys(kafka_server):
    connection = wire.Connection(kafka_server.bootstrap)
    reader = answered(connection, 18, 3, compact_string("tests") + compact_string("1.0") + NO_TAGS, flexible_header=True)
    # ApiVersions responses keep the v0 response header even at flexible versions.
    reader = FlexibleReader(reader.data[reader.position:])
    assert reader.int16() == 0
    keys = reader.compact_array(lambda r: (r.int16(), r.int16(), r.int16(), r.tags())[:3])
    assert keys == api_versions_v0(kafka_server.bootstrap)
    connection.close()


# --- SASL ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("version", [0, 1])
@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "GSSAPI"])
def test_sasl_handshake_is_answered_with_unsupported_mechanism_and_no_mechanisms(kafka_server, version, mechanism):
    """No SASL here: every mechanism is unsupported and the enabled list is empty, so a SASL client fails at
    once with a clear reason. (Apache Kafka's KafkaApis answers a handshake that reaches it on a PLAINTEXT
    listener with ILLEGAL_SASL_STATE instead; both are final errors.)"""
    connection = wire.Connection(kafka_server.bootstrap)
    reader = answered(connection, 17, version, wire.string(mechanism))
    assert reader.int16() == UNSUPPORTED_SASL_MECHANISM
    assert reader.array(lambda r: r.string()) == []
    assert reader.remaining == 0
    # The connection stays usable after the refusal.
    assert answered(connection, 18, 0, b"").int16() == 0
    connection.close()


@pytest.mark.parametrize("version", [0, 1, 2])
def test_sasl_authenticate_is_answered_with_an_error_not_a_closed_connection(kafka_server, version):
    connection = wire.Connection(kafka_server.bootstrap)
    token = b"\x00user\x00secret"  # SASL/PLAIN
    if version >= 2:
        reader = flexible(answered(connection, 36, version, compact_bytes(token) + NO_TAGS, flexible_header=True))
        code, message = reader.int16(), reader.compact_string()
        auth_bytes = reader.compact_bytes()
    else:
        reader = answered(connection, 36, version, wire.bytes_(token))
        code, message, auth_bytes = reader.int16(), reader.string(), reader.bytes_()
    # Apache Kafka answers a SaslAuthenticate outside a SASL exchange with ILLEGAL_SASL_STATE.
    assert code in (ILLEGAL_SASL_STATE, UNSUPPORTED_SASL_MECHANISM), describe(code)
    assert_final_error(code, f"SaslAuthenticate v{version}")
    assert message, "SaslAuthenticate answers carry an error message"
    assert auth_bytes in (b"", None)
    assert answered(connection, 18, 0, b"").int16() == 0
    connection.close()


# --- transactions --------------------------------------------------------------------------------------

def find_transaction_coordinator(connection, version, transactional_id):
    """(error code, error message or None) of FindCoordinator with key type 1 at `version`."""
    if version <= 2:
        reader = answered(connection, 10, version, wire.string(transactional_id) + wire.int8(1))
        reader.int32()  # throttle
        code, message = reader.int16(), reader.string()
        reader.int32(), reader.string(), reader.int32()
        return code, message
    if version == 3:
        body = compact_string(transactional_id) + wire.int8(1) + NO_TAGS
        reader = flexible(answered(connection, 10, version, body, flexible_header=True))
        reader.int32()
        return reader.int16(), reader.compact_string()
    body = wire.int8(1) + compact_array([transactional_id], compact_string) + NO_TAGS
    reader = flexible(answered(connection, 10, version, body, flexible_header=True))
    reader.int32()

    def coordinator(r):
        key, node, host, port, code, message = (r.compact_string(), r.int32(), r.compact_string(), r.int32(),
                                                r.int16(), r.compact_string())
        r.tags()
        return key, node, host, port, code, message

    coordinators = reader.compact_array(coordinator)
    assert len(coordinators) == 1 and coordinators[0][0] == transactional_id, coordinators
    key, node, host, port, code, message = coordinators[0]
    if code != 0:
        assert node == -1, f"a refused key names no coordinator, got node {node}"
    return code, message


@pytest.mark.parametrize("version", [1, 2, 3, 4, 5, 6])
def test_find_transaction_coordinator_is_refused_for_good(kafka_server, version):
    connection = wire.Connection(kafka_server.bootstrap)
    started = time.monotonic()
    code, message = find_transaction_coordinator(connection, version, "payments-tx")
    assert time.monotonic() - started < 2
    assert_final_error(code, f"FindCoordinator v{version} key_type=1")
    assert message is not None and "transaction" in message.lower(), f"error message: {message!r}"
    # Group coordinators are still found on the same connection.
    reader = answered(connection, 10, 1, wire.string("a-group") + wire.int8(0))
    reader.int32()
    assert reader.int16() == 0
    connection.close()


def init_producer_id(connection, version, transactional_id, timeout_ms=60_000):
    """(error code, producer id, epoch) of InitProducerId at `version`."""
    if version <= 1:
        reader = answered(connection, 22, version, wire.string(transactional_id) + wire.int32(timeout_ms))
    else:
        body = compact_string(transactional_id) + wire.int32(timeout_ms)
        if version >= 3:
            body += wire.int64(-1) + wire.int16(-1)
        reader = flexible(answered(connection, 22, version, body + NO_TAGS, flexible_header=True))
    reader.int32()
    return reader.int16(), reader.int64(), reader.int16()


@pytest.mark.parametrize("version", [0, 1, 2, 3, 4, 5])
def test_init_producer_id_with_a_transactional_id_is_refused_for_good(kafka_server, version):
    connection = wire.Connection(kafka_server.bootstrap)
    code, producer_id, epoch = init_producer_id(connection, version, "payments-tx")
    assert_final_error(code, f"InitProducerId v{version} with a transactional id")
    assert (producer_id, epoch) == (-1, -1)
    # Idempotent producers (no transactional id) still get an id.
    code, producer_id, epoch = init_producer_id(connection, version, None)
    assert code == 0 and producer_id >= 0 and epoch == 0
    connection.close()


def test_transactional_producer_fails_init_transactions_at_once(kafka_server):
    """librdkafka (rd_kafka_txn_handle_FindCoordinator) raises a fatal error only for
    TRANSACTIONAL_ID_AUTHORIZATION_FAILED (53) and CLUSTER_AUTHORIZATION_FAILED (31) in a transaction
    FindCoordinator answer; any other error, retriable or not, makes it ask again every 500 ms until
    init_transactions times out."""
    producer = confluent_kafka.Producer({
        "bootstrap.servers": kafka_server.bootstrap, "transactional.id": "payments-tx", "transaction.timeout.ms": 60_000,
    })
    started = time.monotonic()
    with pytest.raises(confluent_kafka.KafkaException) as failed:
        producer.init_transactions(10)
    elapsed = time.monotonic() - started
    error = failed.value.args[0]
    print(f"init_transactions raised after {elapsed:.1f}s: {error} (fatal={error.fatal()}, retriable={error.retriable()}, "
          f"abortable={error.txn_requires_abort()})")
    assert elapsed < 5, f"init_transactions gave up only after {elapsed:.1f}s, with {error}"
    assert error.code() != confluent_kafka.KafkaError._TIMED_OUT, error
    assert error.fatal() or not error.retriable(), error


# --- Metadata as librdkafka 2.16 sends it ---------------------------------------------------------------

def metadata_v12_topics(reader):
    """{name: (error code, is_internal, partition count)} of a Metadata v12 response body."""
    reader = flexible(reader)
    reader.int32()  # throttle

    def broker(r):
        node, host, port, rack = r.int32(), r.compact_string(), r.int32(), r.compact_string()
        r.tags()
        return node, host, port, rack

    reader.compact_array(broker)
    reader.compact_string()  # cluster id
    reader.int32()  # controller

    def partition(r):
        fields = (r.int16(), r.int32(), r.int32(), r.int32(), r.compact_array(lambda x: x.int32()),
                  r.compact_array(lambda x: x.int32()), r.compact_array(lambda x: x.int32()))
        r.tags()
        return fields

    def topic(r):
        code, name = r.int16(), r.compact_string()
        r.take(16)  # topic id
        internal = r.int8()
        partitions = r.compact_array(partition)
        r.int32()  # authorized operations
        r.tags()
        return name, (code, bool(internal), len(partitions))

    return dict(reader.compact_array(topic))


def test_metadata_v12_for_every_topic_as_librdkafka_2_16_sends_it_is_answered(kafka_server):
    """librdkafka 2.16 (confluent-kafka 2.16.1) writes the topic array count of an all-topics Metadata v12 as a
    4-byte placeholder it never shrinks to a varint: the body is 00 00 00 00 01 00 00. Apache Kafka reads
    topics = null (every topic), allow_auto_topic_creation = false, include_topic_authorized_operations =
    false, no tagged fields, and ignores the 3 bytes left over, so AdminClient.list_topics(), Consumer.list_topics()
    and regex subscriptions work there."""
    admin = AdminClient({"bootstrap.servers": kafka_server.bootstrap})
    admin.create_topics([NewTopic("listed-a", 2, 1)])["listed-a"].result()
    connection = wire.Connection(kafka_server.bootstrap)
    frame_body = bytes.fromhex("00000000010000")
    topics = metadata_v12_topics(answered(connection, 3, 12, frame_body, flexible_header=True))
    assert topics["listed-a"] == (0, False, 2)
    assert {"mqtt.messages", "mqtt.events"} <= set(topics)
    # The well-formed equivalent (null topics as the varint 0) gets the same list.
    well_formed = metadata_v12_topics(answered(connection, 3, 12, b"\x00\x00\x00\x00", flexible_header=True))
    assert well_formed == topics
    connection.close()


# --- batches without timestamps --------------------------------------------------------------------------

def test_batches_without_timestamps_are_stored_and_the_server_survives(server):
    """A batch whose timestamps are all -1 (NO_TIMESTAMP, which Apache Kafka accepts for CreateTime topics) once
    killed the server: with more than log.index.interval.bytes (4096) of such batches the next append indexed
    offsetOfMaxTimestamp = -1 and trapped ("Negative value is not representable", Segment.noteAppended)."""
    connection = wire.Connection(server.bootstrap)
    results = []
    for index in range(3):
        batch = wire.record_batch([b"%d" % index + b"x" * 5000], timestamp=-1)
        try:
            results.append(wire.parse_produce_v3(connection.call(0, 3, wire.produce_v3("no-timestamps", 0, batch)))[0][2:])
        except (ConnectionError, OSError) as error:
            raise AssertionError(f"produce {index} of a batch without timestamps: the connection died ({error}); "
                                 f"server running: {server.is_running()}")
    assert results == [(0, 0), (0, 1), (0, 2)]
    connection.close()
    assert server.is_running()
    consumer = confluent_kafka.Consumer({"bootstrap.servers": server.bootstrap, "group.id": "no-timestamps"})
    consumer.assign([confluent_kafka.TopicPartition("no-timestamps", 0, confluent_kafka.OFFSET_BEGINNING)])
    values = []
    deadline = time.monotonic() + 10
    while len(values) < 3 and time.monotonic() < deadline:
        message = consumer.poll(0.2)
        if message is not None and message.error() is None:
            values.append(message.value()[:1])
    consumer.close()
    assert values == [b"0", b"1", b"2"]
