"""Bad MQTT input against the real binary, sent as hand-built bytes on raw sockets.

Each case must close only its own connection: an MQTT 5 client gets a DISCONNECT carrying the reason code
first when its CONNECT had completed, a CONNACK with the reason code when the CONNECT itself was bad; a
3.1.1 connection is just closed (except CONNACK return codes 0x01 and 0x02). After every case a client
that was connected all along still works, and a fresh client round-trips a message."""
import shutil
import socket
import struct

import pytest

from conftest import Server
from mqtt_helpers import (
    CONNACK, DISCONNECT, PUBACK, PUBREC, SUBACK, TOPIC_ALIAS, V311, V5, ASSIGNED_CLIENT_ID, RECEIVE_MAXIMUM,
    SESSION_EXPIRY, Client, LogWindow, RawClient, connect_packet, mqtt_string, packet,
    publish_packet, round_trip, unique,
)

VERSIONS = [pytest.param(V311, id="3.1.1"), pytest.param(V5, id="5.0")]
MAX_PACKET = 1024
RECEIVE_MAX = 5
MAX_LEVELS = 8


@pytest.fixture(scope="module")
def mqtt_server(tributary_binary, tmp_path_factory):
    root = tmp_path_factory.mktemp("mqtt-bad-input")
    server = Server(tributary_binary, root / "data", [
        "--mqtt-connect-timeout-ms", "2000", "--mqtt-max-packet-size", str(MAX_PACKET),
        "--mqtt-receive-maximum", str(RECEIVE_MAX), "--mqtt-max-topic-levels", str(MAX_LEVELS),
        "--mqtt-sys-interval-seconds", "1"]).start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def bystander(mqtt_server):
    """A client connected for the whole module: no bad connection may take it down."""
    client = Client(mqtt_server.mqtt_port, client_id="bystander", version=V5)
    client.connect()
    client.subscribe("bystander/#", qos=1)
    yield client
    client.close()


@pytest.fixture(autouse=True)
def shared_server_log(mqtt_server):
    window = LogWindow(mqtt_server)
    yield
    window.dump()


def still_serving(server, bystander):
    assert server.is_running(), "the server died"
    before = len(bystander.messages)
    payload = unique("ping").encode()
    bystander.publish("bystander/ping", payload, qos=1)
    bystander.wait(lambda: any(m.payload == payload for m in bystander.messages[before:]), 15,
                   "the bystander's own message")
    round_trip(server.mqtt_port, V5)
    round_trip(server.mqtt_port, V311)


def send_quietly(raw: RawClient, data: bytes):
    """The server may close before all of it is written; that is fine."""
    try:
        raw.send(data)
    except (BrokenPipeError, ConnectionResetError):
        pass


def expect_outcome(packets, version: int, connected: bool, reason, allowed_before=()):
    """`reason`: the 5.0 reason code (CONNACK or DISCONNECT) or, for 3.1.1, a CONNACK return code where
    the protocol has one; None: closed without a word."""
    rest = [p for p in packets if p.type not in allowed_before]
    if reason is None:
        assert rest == [], f"expected a silent close, got {rest}"
        return
    assert rest, f"closed without the expected reason {reason:#x}"
    last = rest[0]
    if connected:
        assert last.type == DISCONNECT, f"expected DISCONNECT {reason:#x}, got {rest}"
        assert last.disconnect_reason() == reason, f"DISCONNECT reason {last.disconnect_reason():#x}, expected {reason:#x}"
    else:
        assert last.type == CONNACK, f"expected CONNACK {reason:#x}, got {rest}"
        _, code, _ = last.connack(version)
        assert code == reason, f"CONNACK code {code:#x}, expected {reason:#x}"
    assert len(rest) == 1, f"packets after the {'DISCONNECT' if connected else 'CONNACK'}: {rest[1:]}"


# --- After CONNECT: 5.0 gets DISCONNECT with the reason, 3.1.1 is closed -----------------------------------

def pub(version, topic="bad/topic", qos=1, packet_id=1, properties=(), payload=b"x"):
    return publish_packet(topic, payload, qos=qos, packet_id=packet_id, version=version, properties=properties)


def raw_publish(version, first_byte, topic_bytes: bytes, packet_id=None, payload=b"x"):
    body = struct.pack("!H", len(topic_bytes)) + topic_bytes
    if packet_id is not None:
        body += struct.pack("!H", packet_id)
    if version == V5:
        body += b"\x00"
    return packet(first_byte, body + payload)


def subscribe_body(version, packet_id=1, filters=(("bad/filter", 1),)):
    body = struct.pack("!H", packet_id) + (b"\x00" if version == V5 else b"")
    for topic_filter, options in filters:
        body += mqtt_string(topic_filter) + bytes([options])
    return body


AFTER_CONNECT = [
    # (id, bytes for the version, 5.0 reason code, versions)
    ("reserved-packet-type-0", lambda v: b"\x00\x00", 0x81, (V311, V5)),
    ("remaining-length-of-5-bytes", lambda v: b"\x30\xff\xff\xff\xff\x01", 0x81, (V311, V5)),
    ("subscribe-with-reserved-flags-0", lambda v: packet(0x80, subscribe_body(v)), 0x81, (V311, V5)),
    ("pubrel-with-reserved-flags-0", lambda v: packet(0x60, b"\x00\x01"), 0x81, (V311, V5)),
    ("pingreq-with-a-body", lambda v: packet(0xC0, b"\x00"), 0x81, (V311, V5)),
    ("publish-qos-3", lambda v: raw_publish(v, 0x36, b"bad/topic", packet_id=1), 0x81, (V311, V5)),
    ("publish-dup-at-qos-0", lambda v: raw_publish(v, 0x38, b"bad/topic"), 0x81, (V311, V5)),
    ("publish-topic-not-utf8", lambda v: raw_publish(v, 0x30, b"bad/\xff\xfe"), 0x81, (V311, V5)),
    ("publish-topic-with-nul", lambda v: raw_publish(v, 0x30, b"bad/a\x00b"), 0x81, (V311, V5)),
    ("publish-string-longer-than-packet", lambda v: packet(0x30, b"\x00\x40bad"), 0x81, (V311, V5)),
    ("second-connect", lambda v: connect_packet(unique("again"), version=v), 0x82, (V311, V5)),
    ("publish-packet-id-0", lambda v: pub(v, packet_id=0), 0x82, (V311, V5)),
    ("subscribe-packet-id-0", lambda v: packet(0x82, subscribe_body(v, packet_id=0)), 0x82, (V311, V5)),
    ("subscribe-without-filters", lambda v: packet(0x82, subscribe_body(v, filters=())), 0x82, (V311, V5)),
    ("connack-from-a-client", lambda v: b"\x20\x03\x00\x00\x00" if v == V5 else b"\x20\x02\x00\x00", 0x82, (V311, V5)),
    ("publish-wildcard-plus", lambda v: pub(v, topic="bad/+/topic"), 0x90, (V311, V5)),
    ("publish-wildcard-hash", lambda v: pub(v, topic="bad/#"), 0x90, (V311, V5)),
    ("publish-too-many-levels", lambda v: pub(v, topic="/".join("l" * (MAX_LEVELS + 1))), 0x90, (V311, V5)),
    ("packet-too-large", lambda v: pub(v, payload=b"p" * 2000), 0x95, (V311, V5)),
    ("auth-without-a-method", lambda v: b"\xf0\x00", 0x82, (V5,)),
    ("publish-topic-alias-0", lambda v: pub(v, properties=[(TOPIC_ALIAS, 0)]), 0x94, (V5,)),
    ("publish-topic-alias-above-maximum", lambda v: pub(v, properties=[(TOPIC_ALIAS, 65)]), 0x94, (V5,)),
    ("publish-unknown-topic-alias", lambda v: pub(v, topic="", properties=[(TOPIC_ALIAS, 3)]), 0x82, (V5,)),
    ("publish-empty-topic-without-alias", lambda v: pub(v, topic=""), 0x82, (V5,)),
    ("publish-with-a-connect-only-property", lambda v: pub(v, properties=[(SESSION_EXPIRY, 5)]), 0x81, (V5,)),
    ("publish-with-a-duplicate-property", lambda v: pub(v, properties=[(TOPIC_ALIAS, 1), (TOPIC_ALIAS, 2)]), 0x82, (V5,)),
]
AFTER_CONNECT_CASES = [
    pytest.param(builder, reason, version, id=f"{name}-{'5.0' if version == V5 else '3.1.1'}")
    for name, builder, reason, versions in AFTER_CONNECT for version in versions
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("builder, reason, version", AFTER_CONNECT_CASES)
def test_bad_packet_after_connect(mqtt_server, bystander, builder, reason, version):
    raw = RawClient(mqtt_server.mqtt_port)
    raw.connect(unique("bad"), version=version)
    send_quietly(raw, builder(version))
    packets = raw.read_until_closed(timeout=15)
    raw.close()
    expect_outcome(packets, version, connected=True, reason=reason if version == V5 else None)
    still_serving(mqtt_server, bystander)


@pytest.mark.timeout(60)
def test_receive_maximum_exceeded(mqtt_server, bystander):
    raw = RawClient(mqtt_server.mqtt_port)
    _, _, properties = raw.connect(unique("flood"), version=V5)
    assert properties.get(RECEIVE_MAXIMUM) == RECEIVE_MAX
    # QoS 2 publishes stay counted until PUBREL/PUBCOMP, which never come.
    send_quietly(raw, b"".join(pub(V5, qos=2, packet_id=i + 1) for i in range(RECEIVE_MAX + 1)))
    packets = raw.read_until_closed(timeout=15)
    raw.close()
    expect_outcome(packets, V5, connected=True, reason=0x93, allowed_before={PUBREC})
    still_serving(mqtt_server, bystander)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("version", VERSIONS)
def test_keep_alive_timeout_closes_a_silent_client(mqtt_server, bystander, version):
    raw = RawClient(mqtt_server.mqtt_port)
    raw.connect(unique("sleepy"), version=version, keepalive=1)
    packets = raw.read_until_closed(timeout=20)  # 1.5 x keep alive without a packet
    raw.close()
    expect_outcome(packets, version, connected=True, reason=0x8D if version == V5 else None)
    still_serving(mqtt_server, bystander)


@pytest.mark.timeout(60)
def test_publish_to_sys_is_refused_but_the_connection_stays(mqtt_server, bystander):
    raw = RawClient(mqtt_server.mqtt_port)
    raw.connect(unique("sys-writer"), version=V5)
    raw.send(pub(V5, topic="$SYS/broker/uptime", packet_id=7))
    ack = raw.expect(PUBACK)
    assert (ack.packet_id(), ack.reason()) == (7, 0x87)
    ack = raw.publish("bad/ok", b"fine", qos=1, packet_id=8)
    assert ack.reason() == 0
    raw.close()
    still_serving(mqtt_server, bystander)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("version", VERSIONS)
def test_invalid_subscription_filter(mqtt_server, bystander, version):
    raw = RawClient(mqtt_server.mqtt_port)
    raw.connect(unique("filter"), version=version)
    raw.send(packet(0x82, subscribe_body(version, packet_id=3, filters=(("bad/#/deeper", 1), ("ok/+", 1)))))
    if version == V5:
        # 5.0 refuses that one filter in the SUBACK; the other is granted and the connection stays.
        suback = raw.expect(SUBACK)
        assert suback.packet_id() == 3
        assert list(suback.body[-2:]) == [0x8F, 0x01]
        raw.close()
    else:
        packets = raw.read_until_closed(timeout=15)
        raw.close()
        expect_outcome(packets, version, connected=True, reason=None)
    still_serving(mqtt_server, bystander)


# --- A bad CONNECT: 5.0 gets a CONNACK with the reason, 3.1.1 is closed ----------------------------------

def long_id():
    return "x" * 300


def connect_with_trailing_bytes():
    full = connect_packet(unique("c"), version=V5)
    assert full[1] < 128  # a one-byte remaining length
    return packet(0x10, full[2:] + b"xyz")


CONNECT_CASES = [
    # (id, version, bytes, expected CONNACK code or None for a silent close)
    ("reserved-connect-flag-5.0", V5, lambda: connect_packet(unique("c"), version=V5, connect_flags=0x03), 0x81),
    ("reserved-connect-flag-3.1.1", V311, lambda: connect_packet(unique("c"), version=V311, connect_flags=0x03), None),
    ("connect-fixed-flags-5.0", V5, lambda: connect_packet(unique("c"), version=V5, fixed_flags=0x0F), 0x81),
    ("connect-fixed-flags-3.1.1", V311, lambda: connect_packet(unique("c"), version=V311, fixed_flags=0x0F), None),
    ("will-qos-3-5.0", V5, lambda: connect_packet(unique("c"), version=V5, connect_flags=0x02 | 0x04 | 0x18,
                                                  will=dict(topic="w", payload=b"x")), 0x81),
    ("will-qos-without-will-flag-3.1.1", V311, lambda: connect_packet(unique("c"), version=V311, connect_flags=0x02 | 0x08), None),
    ("will-topic-wildcard-5.0", V5, lambda: connect_packet(unique("c"), version=V5, will=dict(topic="w/#", payload=b"x")), 0x90),
    ("will-topic-wildcard-3.1.1", V311, lambda: connect_packet(unique("c"), version=V311, will=dict(topic="w/+", payload=b"x")), None),
    ("password-without-user-name-3.1.1", V311, lambda: connect_packet(unique("c"), version=V311, password="secret"), None),
    ("client-id-too-long-5.0", V5, lambda: connect_packet(long_id(), version=V5), 0x85),
    ("client-id-too-long-3.1.1", V311, lambda: connect_packet(long_id(), version=V311), 0x02),
    ("empty-client-id-without-clean-session-3.1.1", V311, lambda: connect_packet("", version=V311, clean=False), 0x02),
    ("truncated-client-id-5.0", V5, lambda: packet(0x10, mqtt_string("MQTT") + b"\x05\x02\x00\x3c\x00\x00\x20abc"), 0x81),
    ("truncated-client-id-3.1.1", V311, lambda: packet(0x10, mqtt_string("MQTT") + b"\x04\x02\x00\x3c\x00\x20abc"), None),
    ("receive-maximum-0-5.0", V5, lambda: connect_packet(unique("c"), version=V5, properties=[(RECEIVE_MAXIMUM, 0)]), 0x82),
    ("duplicate-property-5.0", V5, lambda: connect_packet(unique("c"), version=V5,
                                                          properties=[(SESSION_EXPIRY, 1), (SESSION_EXPIRY, 2)]), 0x82),
    ("trailing-bytes-5.0", V5, lambda: connect_with_trailing_bytes(), 0x81),
    ("unknown-protocol-level-2", V311, lambda: connect_packet(unique("c"), version=V311, level=2), 0x01),
    ("first-packet-not-connect", V311, lambda: b"\xc0\x00", None),
    ("first-packet-subscribe", V5, lambda: packet(0x82, subscribe_body(V5)), None),
    ("connect-remaining-length-of-5-bytes", V311, lambda: b"\x10\xff\xff\xff\xff\x01", None),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("version, builder, reason", [pytest.param(v, b, r, id=i) for i, v, b, r in CONNECT_CASES])
def test_bad_connect(mqtt_server, bystander, version, builder, reason):
    raw = RawClient(mqtt_server.mqtt_port)
    send_quietly(raw, builder())
    packets = raw.read_until_closed(timeout=15)
    raw.close()
    expect_outcome(packets, version, connected=False, reason=reason)
    still_serving(mqtt_server, bystander)


@pytest.mark.timeout(60)
def test_unknown_protocol_name_or_level_above_5(mqtt_server, bystander):
    for data in (connect_packet(unique("c"), version=V311, level=6), connect_packet(unique("c"), version=V311, protocol_name="MQTX")):
        raw = RawClient(mqtt_server.mqtt_port)
        send_quietly(raw, data)
        packets = raw.read_until_closed(timeout=15)
        raw.close()
        # Either answer is allowed: the 3.1.1 return code 0x01 or the 5.0 reason 0x84; or just a close.
        assert len(packets) <= 1, packets
        if packets:
            assert packets[0].type == CONNACK
            assert packets[0].body[1] in (0x01, 0x84), packets
    still_serving(mqtt_server, bystander)


@pytest.mark.timeout(60)
def test_oversized_connect_is_refused(mqtt_server, bystander):
    raw = RawClient(mqtt_server.mqtt_port)
    send_quietly(raw, connect_packet(unique("big"), version=V5, username="u", password="p" * 2000))
    packets = raw.read_until_closed(timeout=15)
    raw.close()
    # The version is not known before the CONNECT is read: a close, or a CONNACK Packet too large.
    assert packets == [] or (len(packets) == 1 and packets[0].type == CONNACK and 0x95 in packets[0].body[:2]), packets
    still_serving(mqtt_server, bystander)


@pytest.mark.timeout(60)
def test_empty_client_id_gets_an_assigned_one_in_5(mqtt_server, bystander):
    raw = RawClient(mqtt_server.mqtt_port)
    raw.send(connect_packet("", version=V5, clean=False))
    session_present, code, properties = raw.expect(CONNACK).connack(V5)
    assert (session_present, code) == (False, 0)
    assert properties.get(ASSIGNED_CLIENT_ID)
    raw.close()
    still_serving(mqtt_server, bystander)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("what", ["nothing", "partial-connect"])
def test_connect_that_never_completes_is_closed_after_the_connect_timeout(mqtt_server, bystander, what):
    raw = RawClient(mqtt_server.mqtt_port)
    if what == "partial-connect":
        raw.send(connect_packet(unique("slow"), version=V5)[:9])
    packets = raw.read_until_closed(timeout=30)  # --mqtt-connect-timeout-ms 2000
    raw.close()
    assert packets == []
    still_serving(mqtt_server, bystander)


# --- Many connections opened and dropped -------------------------------------------------------------------

@pytest.mark.timeout(240)
def test_10000_connections_opened_and_dropped(server_factory):
    server = server_factory("--mqtt-connect-timeout-ms", "2000", "--mqtt-sys-interval-seconds", "1").start()
    port = server.mqtt_port
    partial = connect_packet("partial", version=V5)[:7]
    opened = 0
    for batch in range(20):
        sockets = []
        for index in range(500):
            number = batch * 500 + index
            sock = socket.create_connection(("127.0.0.1", port), timeout=30)
            kind = number % 5
            try:
                if kind in (1, 2):
                    sock.sendall(partial)
                elif kind == 3:
                    sock.sendall(connect_packet(f"flood-{number}", version=V5 if number % 2 else V311))
            except OSError:
                pass
            sockets.append(sock)
            opened += 1
        for index, sock in enumerate(sockets):
            if index % 2:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # reset
            sock.close()
    assert opened == 10_000
    assert server.is_running()
    round_trip(port, V311)
    round_trip(port, V5)

    # Only this checker is connected once the dropped connections are gone.
    checker = Client(port, version=V311)
    try:
        checker.connect()
        checker.subscribe("$SYS/broker/clients/connected", qos=0)
        checker.wait(lambda: any(m.payload == b"1" for m in checker.messages), 60,
                     "$SYS/broker/clients/connected back to 1")
        checker.disconnect()
    finally:
        checker.close()
