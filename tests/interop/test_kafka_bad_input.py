"""Bad input on the Kafka port: each case gets Kafka's error or a closed connection with one log line,
and the server keeps serving everyone else."""
import socket
import subprocess
import time

import kafka_wire as wire
from test_kafka_storage import create_topic


def still_serving(server):
    result = subprocess.run(["kcat", "-b", server.bootstrap, "-L"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and "broker 0" in result.stdout, result.stderr


def log_lines_containing(server, text):
    return [line for line in server.log().splitlines() if text in line]


def test_oversized_frame_closes_the_connection(server):
    connection = wire.Connection(server.bootstrap)
    connection.send_raw(wire.int32(200 * 1024 * 1024) + b"\x00\x12")
    assert connection.is_closed_by_peer()
    assert len(log_lines_containing(server, "invalid request size 209715200")) == 1
    still_serving(server)


def test_negative_frame_size_closes_the_connection(server):
    connection = wire.Connection(server.bootstrap)
    connection.send_raw(wire.int32(-5))
    assert connection.is_closed_by_peer()
    assert len(log_lines_containing(server, "invalid request size -5")) == 1
    still_serving(server)


def test_unknown_api_key_closes_the_connection(server):
    connection = wire.Connection(server.bootstrap)
    connection.send(999, 0, b"")
    assert connection.is_closed_by_peer()
    assert len(log_lines_containing(server, "api key 999")) == 1
    still_serving(server)


def test_unsupported_version_of_a_known_api_closes_the_connection(server):
    connection = wire.Connection(server.bootstrap)
    connection.send(1, 3, b"")  # Fetch v3: Fetch starts at v4 here, as librdkafka and Kafka 4 require
    assert connection.is_closed_by_peer()
    assert len(log_lines_containing(server, "Fetch version 3 is not supported")) == 1
    still_serving(server)


def test_apiversions_newer_than_known_gets_a_v0_answer_with_every_key(server):
    """KIP-511: UNSUPPORTED_VERSION in a v0 body, with the full key list, on an open connection."""
    connection = wire.Connection(server.bootstrap)
    # ApiVersions v3+ use the flexible request header, as a newer client sends it.
    reader = connection.call(18, 42, b"", flexible_header=True)
    assert reader.int16() == 35  # UNSUPPORTED_VERSION
    keys = reader.array(lambda r: (r.int16(), r.int16(), r.int16()))
    assert (18, 0, 4) in keys and (0, 0, 11) in keys and (1, 4, 17) in keys
    # The connection stays usable.
    reader = connection.call(18, 0, b"")
    assert reader.int16() == 0


def test_garbage_bytes_close_the_connection(server):
    connection = wire.Connection(server.bootstrap)
    connection.send_raw(wire.int32(12) + bytes(range(200, 212)))
    assert connection.is_closed_by_peer()
    still_serving(server)


def test_malformed_body_closes_the_connection_with_the_field_named(server):
    connection = wire.Connection(server.bootstrap)
    # Metadata v1 whose topic-name length promises more bytes than the frame has.
    connection.send(3, 1, wire.int32(1) + wire.int16(50) + b"ab")
    assert connection.is_closed_by_peer()
    lines = log_lines_containing(server, "malformed request")
    assert len(lines) == 1 and "MetadataRequest.MetadataRequestTopic.Name" in lines[0]
    still_serving(server)


def test_half_a_frame_then_silence_is_closed_when_idle(server_factory):
    server = server_factory("--connections-max-idle-ms", "1500").start()
    stalled = wire.Connection(server.bootstrap)
    stalled.send_raw(wire.int32(100) + b"\x00\x03")
    # Meanwhile everyone else is served.
    still_serving(server)
    assert stalled.is_closed_by_peer(timeout=15)
    assert len(log_lines_containing(server, "closing idle connection")) >= 1
    still_serving(server)


def test_a_thousand_connections_opened_and_dropped(server):
    for _ in range(1000):
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.close()
    # Half of them reset instead of closing politely.
    for _ in range(100):
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()
    still_serving(server)
    assert server.is_running()


def test_produce_with_a_bad_crc_gets_corrupt_message_and_writes_nothing(server):
    create_topic(server.bootstrap, "crc")
    connection = wire.Connection(server.bootstrap)
    good = wire.produce_v3("crc", 0, wire.record_batch([b"fine"]))
    assert wire.parse_produce_v3(connection.call(0, 3, good)) == [("crc", 0, 0, 0)]
    bad = wire.produce_v3("crc", 0, wire.record_batch([b"corrupted"], corrupt_crc=True))
    assert wire.parse_produce_v3(connection.call(0, 3, bad))[0][2] == 2  # CORRUPT_MESSAGE
    assert len(log_lines_containing(server, "refused a produce batch")) == 1
    # The log holds only the valid batch.
    consumed = subprocess.run(["kcat", "-b", server.bootstrap, "-C", "-t", "crc", "-o", "beginning", "-e", "-q"],
                              capture_output=True, text=True, timeout=30)
    assert consumed.stdout.splitlines() == ["fine"]


def test_compressed_batches_are_checked_and_a_gzip_bomb_is_refused(server):
    """A gzip batch of random bytes and one that inflates to 200 MiB of zeros are refused (CORRUPT_MESSAGE,
    MESSAGE_TOO_LARGE) without being stored, and the server keeps serving; a valid gzip batch is stored."""
    import gzip
    import os
    create_topic(server.bootstrap, "gzipped")
    connection = wire.Connection(server.bootstrap)
    good = wire.raw_batch(gzip.compress(wire.records_body([b"zipped"])), 1, codec=1)
    assert wire.parse_produce_v3(connection.call(0, 3, wire.produce_v3("gzipped", 0, good))) == [("gzipped", 0, 0, 0)]
    garbage = wire.raw_batch(b"\x1f\x8b\x08\x00" + os.urandom(4096), 1, codec=1)
    assert wire.parse_produce_v3(connection.call(0, 3, wire.produce_v3("gzipped", 0, garbage)))[0][2] == 2  # CORRUPT_MESSAGE
    # 200 MiB of zeros compress to about 200 KiB.
    bomb_body = gzip.compress(b"\x00" * (200 << 20), compresslevel=9)
    bomb = wire.raw_batch(bomb_body, 1, codec=1)
    started = time.monotonic()
    assert wire.parse_produce_v3(connection.call(0, 3, wire.produce_v3("gzipped", 0, bomb)))[0][2] == 10  # MESSAGE_TOO_LARGE
    assert time.monotonic() - started < 20
    # A header that promises more records than the batch holds is refused too.
    short = wire.raw_batch(wire.records_body([b"a", b"b"]), 3)
    assert wire.parse_produce_v3(connection.call(0, 3, wire.produce_v3("gzipped", 0, short)))[0][2] == 2
    consumed = subprocess.run(["kcat", "-b", server.bootstrap, "-C", "-t", "gzipped", "-o", "beginning", "-e", "-q"],
                              capture_output=True, text=True, timeout=30)
    assert consumed.stdout.splitlines() == ["zipped"]
    still_serving(server)


def test_produce_v2_and_legacy_message_sets_are_refused(server):
    create_topic(server.bootstrap, "legacy")
    connection = wire.Connection(server.bootstrap)
    # Produce v2 (message format v0/v1): UNSUPPORTED_VERSION for the partition.
    results = wire.parse_produce_v3(connection.call(0, 2, wire.produce_v2("legacy", 0, wire.record_batch([b"v2"]))))
    assert results[0][2] == 35
    # A magic 1 message set inside Produce v3: INVALID_RECORD, as Apache Kafka answers.
    legacy = wire.int64(0) + wire.int32(26) + wire.int32(0) + wire.int8(1) + wire.int8(0) + wire.int64(0) + wire.int32(-1) + wire.int32(1) + b"x"
    results = wire.parse_produce_v3(connection.call(0, 3, wire.produce_v3("legacy", 0, legacy)))
    assert results[0][2] == 87
    still_serving(server)
