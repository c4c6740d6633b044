"""MQTT broker limits against the real binary: connection limit, inflight window and per-client queue
(with message.dropped events in mqtt.events), topic length and level limits, server keep alive,
authentication, the client's Maximum Packet Size, and a shared subscription without an online member.

Every test starts a server of its own with the limits it checks. Negative checks ("nothing more was
sent") wait on an event instead of sleeping: the server answers a PINGREQ in order on the connection, so
every PUBLISH it wrote before comes ahead of the PINGRESP."""
import pytest

from mqtt_helpers import (
    CONNACK, DISCONNECT, MAXIMUM_PACKET_SIZE, PINGREQ_PACKET, PINGRESP, PUBACK, PUBLISH, SERVER_KEEP_ALIVE,
    SESSION_EXPIRY, SUBACK, V311, V5, RawClient, ack_packet, connect_packet, disconnect_packet,
    kcat_events, publish_packet, subscribe_packet, unique, wait_for_events,
)

VERSIONS = [pytest.param(V311, id="3.1.1"), pytest.param(V5, id="5.0")]


# --- Helpers ----------------------------------------------------------------------------------------------

@pytest.fixture
def raws():
    """Makes raw clients that are closed after the test."""
    made = []

    def make(port):
        raw = RawClient(port)
        made.append(raw)
        return raw

    yield make
    for raw in made:
        raw.close()


def refused_connect(port: int, version: int, client_id=None, **kwargs):
    """Sends a CONNECT that must be refused; returns the CONNACK code after checking that the CONNACK
    (session present 0) was the only packet and the server closed the connection."""
    raw = RawClient(port)
    try:
        raw.send(connect_packet(client_id or unique("refused"), version=version, **kwargs))
        packets = raw.read_until_closed(timeout=15)
    finally:
        raw.close()
    assert len(packets) == 1 and packets[0].type == CONNACK, f"expected a lone CONNACK, got {packets}"
    session_present, code, _ = packets[0].connack(version)
    assert not session_present
    return code


def until_pingresp(raw: RawClient, timeout: float = 15.0):
    """Sends PINGREQ; returns every packet the server sent before the PINGRESP."""
    raw.send(PINGREQ_PACKET)
    packets = []
    while True:
        received = raw.read_packet(timeout)
        assert received is not None, f"connection closed before the PINGRESP (after {packets})"
        if received.type == PINGRESP:
            return packets
        packets.append(received)


def events_of(events, client_id: str, name: str, reason=None):
    """The decoded events with key and clientid `client_id`, named `name` (and with `reason`)."""
    return [event for key, event in events
            if key == client_id and isinstance(event, dict) and event.get("event") == name
            and event.get("clientid") == client_id and (reason is None or event.get("reason") == reason)]


def wait_for_event_count(bootstrap: str, client_id: str, name: str, reason, count: int, timeout: float = 30.0):
    """Waits until mqtt.events holds at least `count` such events; returns them (all of them)."""
    events = wait_for_events(bootstrap, lambda evs: len(events_of(evs, client_id, name, reason)) >= count, timeout)
    return events_of(events, client_id, name, reason)


# --- Connection limit -------------------------------------------------------------------------------------

@pytest.mark.timeout(60)
def test_connection_limit_refuses_the_excess_connection_in_both_versions(server_factory, clients, raws):
    server = server_factory("--mqtt-max-connections", "2").start()
    port = server.mqtt_port
    first = clients(port, version=V5)
    first.connect()
    first_topic = f"limit/{first.client_id}"
    first.subscribe(first_topic, qos=1)
    second = raws(port)
    second_id = unique("second")
    second.connect(second_id, version=V311)
    second_topic = f"limit/{second_id}"
    second.subscribe(second_topic, qos=1)

    assert refused_connect(port, V5) == 0x97, "MQTT 5: expected CONNACK 0x97 Quota exceeded"
    assert refused_connect(port, V311) == 0x03, "MQTT 3.1.1: expected CONNACK 0x03 Server unavailable"

    # Both clients connected before the refusals still work, in both directions.
    second.publish(first_topic, b"to-first", qos=1, packet_id=1)
    assert first.wait_messages(1, topic=first_topic)[0].payload == b"to-first"
    first.publish(second_topic, b"to-second", qos=1)
    message = second.expect(PUBLISH).publish(V311)
    assert (message["topic"], message["payload"]) == (second_topic, b"to-second")
    second.send(ack_packet(PUBACK, message["packet_id"]))

    # A freed slot is given to the next client, and the limit holds again after it.
    first.disconnect()
    wait_for_event_count(server.bootstrap, first.client_id, "client.disconnected", None, 1)
    third = raws(port)
    assert third.connect(unique("third"), version=V5)[1] == 0
    assert refused_connect(port, V5) == 0x97
    assert until_pingresp(second) == [] and until_pingresp(third) == []


# --- Inflight window and queue ------------------------------------------------------------------------------

@pytest.mark.timeout(60)
@pytest.mark.parametrize("version", VERSIONS)
def test_inflight_window_and_queue_limit_towards_a_slow_subscriber(server_factory, raws, version):
    inflight, queued, sent = 2, 5, 20
    server = server_factory("--mqtt-max-inflight", str(inflight), "--mqtt-max-queued-messages", str(queued)).start()
    port = server.mqtt_port
    subscriber_id = unique("slow")
    topic = f"queue/{subscriber_id}"
    subscriber = raws(port)
    subscriber.connect(subscriber_id, version=version)
    subscriber.subscribe(topic, qos=1)

    publisher = raws(port)
    publisher.connect(unique("pub"), version=V5)
    for index in range(sent):
        assert publisher.publish(topic, f"m{index:02d}", qos=1, packet_id=index + 1).reason() == 0

    # Every message was fanned out before its PUBACK; the 13 beyond window and queue are dropped.
    dropped_count = sent - inflight - queued
    dropped = wait_for_event_count(server.bootstrap, subscriber_id, "message.dropped", "queue_full", dropped_count)
    assert all((event["topic"], event["qos"]) == (topic, 1) for event in dropped), dropped

    # Before any PUBACK from the subscriber: exactly the inflight window arrived.
    before = until_pingresp(subscriber)
    assert [p.type for p in before] == [PUBLISH] * inflight, before
    received = [p.publish(version) for p in before]

    # Acknowledging lets the queued messages through, and nothing else.
    for message in received:
        subscriber.send(ack_packet(PUBACK, message["packet_id"]))
    while len(received) < inflight + queued:
        message = subscriber.expect(PUBLISH).publish(version)
        received.append(message)
        subscriber.send(ack_packet(PUBACK, message["packet_id"]))
    assert until_pingresp(subscriber) == [], "more messages than the inflight window plus the queue"

    assert [m["payload"] for m in received] == [f"m{i:02d}".encode() for i in range(inflight + queued)]
    assert all(m["qos"] == 1 and m["topic"] == topic and not m["dup"] for m in received), received
    # Each packet id is unacknowledged at most once at a time; the window never held more than 2.
    assert len({m["packet_id"] for m in received[:inflight]}) == inflight

    # Still exactly 13 drops once everything was delivered.
    final = wait_for_event_count(server.bootstrap, subscriber_id, "message.dropped", "queue_full", dropped_count)
    assert len(final) == dropped_count, f"{len(final)} queue_full events, expected {dropped_count}"
    subscriber.send(disconnect_packet(version))
    publisher.send(disconnect_packet(V5))


@pytest.mark.timeout(120)
@pytest.mark.parametrize("version", VERSIONS)
def test_a_subscriber_that_stops_reading_loses_qos0_messages_not_server_memory(server_factory, raws, version):
    """A QoS 0 subscriber whose socket is not read: once the kernel's buffers and the server's bound
    (64 KiB unsent in the connection's channel) are full, its messages are dropped and counted
    (message.dropped, queue_full) instead of piling up in the server. Every message is either delivered or
    counted."""
    server = server_factory().start()
    port = server.mqtt_port
    subscriber_id = unique("stalled")
    topic = f"firehose/{subscriber_id}"
    subscriber = raws(port)
    subscriber.connect(subscriber_id, version=version)
    subscriber.subscribe(topic, qos=0)

    def rss_kib():
        with open(f"/proc/{server.process.pid}/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))

    before = rss_kib()
    publisher = raws(port)
    publisher.connect(unique("pub"), version=V5)
    sent, payload = 3000, b"x" * 16384
    for _ in range(sent):
        publisher.send(publish_packet(topic, payload, qos=0, version=V5))
    # The QoS 1 publish's PUBACK comes after every earlier message of the partition was fanned out.
    publisher.publish(f"marker/{subscriber_id}", b"done", qos=1, packet_id=1)
    grown_mib = (rss_kib() - before) / 1024
    assert grown_mib < 24, f"the server grew by {grown_mib:.0f} MiB for {sent * len(payload) >> 20} MiB sent to a stalled subscriber"

    received = [p for p in until_pingresp(subscriber, timeout=60) if p.type == PUBLISH]
    assert 0 < len(received) < sent
    dropped = wait_for_event_count(server.bootstrap, subscriber_id, "message.dropped", "queue_full", sent - len(received), timeout=60)
    assert len(dropped) == sent - len(received), f"{len(received)} delivered + {len(dropped)} dropped != {sent} sent"
    assert all((event["topic"], event["qos"]) == (topic, 0) for event in dropped[:5]), dropped[:5]
    subscriber.send(disconnect_packet(version))
    publisher.send(disconnect_packet(V5))


# --- Topic length and levels -----------------------------------------------------------------------------

MAX_TOPIC_LENGTH, MAX_TOPIC_LEVELS = 32, 4
# (limit, a topic exactly at the limit, one just over it)
TOPIC_CASES = [
    pytest.param("t/" + "x" * (MAX_TOPIC_LENGTH - 2), "t/" + "x" * (MAX_TOPIC_LENGTH - 1), id="length"),
    pytest.param("a/b/c/d", "a/b/c/d/e", id="levels"),
]


@pytest.fixture
def topic_limited(server_factory):
    return server_factory("--mqtt-max-topic-length", str(MAX_TOPIC_LENGTH),
                          "--mqtt-max-topic-levels", str(MAX_TOPIC_LEVELS)).start()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("at_limit, over_limit", TOPIC_CASES)
def test_publish_over_the_topic_limit_closes_the_connection(topic_limited, raws, version, at_limit, over_limit):
    assert len(at_limit) <= MAX_TOPIC_LENGTH and at_limit.count("/") < MAX_TOPIC_LEVELS
    port = topic_limited.mqtt_port
    watcher = raws(port)
    watcher.connect(unique("watcher"), version=V5)
    watcher.subscribe("#", qos=1)

    raw = raws(port)
    raw.connect(unique("long"), version=version)
    assert raw.publish(at_limit, b"at-limit", qos=1, packet_id=1).reason() == 0
    message = watcher.expect(PUBLISH).publish(V5)
    assert (message["topic"], message["payload"]) == (at_limit, b"at-limit")
    watcher.send(ack_packet(PUBACK, message["packet_id"]))

    raw.send(publish_packet(over_limit, b"over", qos=1, packet_id=2, version=version))
    packets = raw.read_until_closed(timeout=15)
    if version == V5:
        assert [p.type for p in packets] == [DISCONNECT], packets
        assert packets[0].disconnect_reason() == 0x90, f"DISCONNECT {packets[0].disconnect_reason():#x}, expected 0x90"
    else:
        assert packets == [], f"3.1.1: expected a silent close, got {packets}"
    # The refused message went nowhere; the next one on the watcher's connection is the sentinel.
    sender = raws(port)
    sender.connect(unique("sentinel"), version=V5)
    sender.publish(at_limit, b"sentinel", qos=1, packet_id=1)
    assert watcher.expect(PUBLISH).publish(V5)["payload"] == b"sentinel"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("at_limit, over_limit", TOPIC_CASES)
def test_subscribe_over_the_topic_limit_is_refused_in_the_suback(topic_limited, raws, version, at_limit, over_limit):
    port = topic_limited.mqtt_port
    raw = raws(port)
    raw.connect(unique("filters"), version=version)
    raw.send(subscribe_packet(5, [(over_limit, 1), (at_limit, 1)], version))
    suback = raw.expect(SUBACK)
    assert suback.packet_id() == 5
    refused = 0x8F if version == V5 else 0x80
    assert list(suback.body[-2:]) == [refused, 0x01], f"SUBACK codes {list(suback.body[-2:])}"

    # The connection stays, and the granted filter works.
    sender = raws(port)
    sender.connect(unique("sender"), version=V5)
    sender.publish(at_limit, b"granted", qos=1, packet_id=1)
    message = raw.expect(PUBLISH).publish(version)
    assert (message["topic"], message["payload"]) == (at_limit, b"granted")
    raw.send(ack_packet(PUBACK, message["packet_id"]))
    assert until_pingresp(raw) == []


# --- Server keep alive -------------------------------------------------------------------------------------

@pytest.mark.timeout(60)
def test_server_keep_alive_caps_what_an_mqtt5_client_asks_for(server_factory, raws):
    maximum = 2
    server = server_factory("--mqtt-max-keepalive", str(maximum)).start()
    port = server.mqtt_port
    asked = {0: unique("ka-none"), 60: unique("ka-long")}
    capped = {}
    for keepalive, client_id in asked.items():
        raw = raws(port)
        _, _, properties = raw.connect(client_id, version=V5, keepalive=keepalive)
        assert properties.get(SERVER_KEEP_ALIVE) == maximum, f"keep alive {keepalive}: CONNACK properties {properties}"
        capped[keepalive] = raw

    # Within the maximum: the client's own value stands and no Server Keep Alive is sent.
    within_id = unique("ka-within")
    within = raws(port)
    _, _, properties = within.connect(within_id, version=V5, keepalive=maximum)
    assert SERVER_KEEP_ALIVE not in properties, properties
    # 3.1.1 cannot be told: it keeps its own value (see the client.connected event below).
    old_id = unique("ka-311")
    old = raws(port)
    old.connect(old_id, version=V311, keepalive=60)

    # Held to 1.5 x the maximum: silent clients that asked for none or 60 s are closed with 0x8D.
    for keepalive, raw in capped.items():
        packets = raw.read_until_closed(timeout=20)
        assert [p.type for p in packets] == [DISCONNECT], f"keep alive {keepalive}: {packets}"
        assert packets[0].disconnect_reason() == 0x8D, f"keep alive {keepalive}: DISCONNECT {packets[0].disconnect_reason():#x}"

    def keepalive_of(events, client_id):
        connected = events_of(events, client_id, "client.connected")
        return connected[0]["keepalive"] if connected else None

    ids = list(asked.values()) + [within_id, old_id]
    events = wait_for_events(server.bootstrap, lambda evs: all(keepalive_of(evs, i) is not None for i in ids))
    assert [keepalive_of(events, i) for i in ids] == [maximum, maximum, maximum, 60]
    old.send(disconnect_packet(V311))


# --- Authentication ---------------------------------------------------------------------------------------

AUTH_CASES = [
    # (id, user name, password, 5.0 reason, 3.1.1 return code)
    ("no-user-name", None, None, 0x87, 0x05),
    ("wrong-password", "alice", "wrong", 0x86, 0x04),
    ("another-users-password", "bob", "secret", 0x86, 0x04),
    ("user-name-without-password", "alice", None, 0x86, 0x04),
    ("unknown-user", "mallory", "secret", 0x86, 0x04),
]


def server_with_users(server_factory):
    """Users come from the environment (a password on the command line would show in ps) and go into the
    user base, hashed."""
    server = server_factory("--mqtt-allow-anonymous", "false")
    server.env["TRIBUTARY_MQTT_USERS"] = "alice:secret,bob:pw"
    return server.start()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("version", VERSIONS)
def test_authentication(server_factory, raws, version):
    server = server_with_users(server_factory)
    port = server.mqtt_port
    outcomes = {}
    for name, username, password, code5, code311 in AUTH_CASES:
        code = refused_connect(port, version, username=username, password=password)
        outcomes[name] = (code, code5 if version == V5 else code311)
    wrong = {name: f"{got:#x} (expected {want:#x})" for name, (got, want) in outcomes.items() if got != want}
    assert not wrong, f"CONNACK codes: {wrong}"

    # The configured users get in, and their clients work.
    alice, bob = raws(port), raws(port)
    assert alice.connect(unique("alice"), version=version, username="alice", password="secret")[1] == 0
    assert bob.connect(unique("bob"), version=version, username="bob", password="pw")[1] == 0
    topic = f"auth/{unique('t')}"
    alice.subscribe(topic, qos=1)
    bob.publish(topic, b"hello-alice", qos=1, packet_id=1)
    message = alice.expect(PUBLISH).publish(version)
    assert (message["topic"], message["payload"]) == (topic, b"hello-alice")
    alice.send(ack_packet(PUBACK, message["packet_id"]))


@pytest.mark.timeout(60)
def test_authenticated_paho_client(server_factory, clients):
    """A correct user name and password through paho (which sends them in its own way)."""
    server = server_with_users(server_factory)
    client = clients(server.mqtt_port, version=V5)
    client.paho.username_pw_set("bob", "pw")
    client.connect()
    topic = f"auth/{client.client_id}"
    client.subscribe(topic, qos=1)
    client.publish(topic, b"mine", qos=1)
    assert client.wait_messages(1, topic=topic)[0].payload == b"mine"
    client.disconnect()
    anonymous = clients(server.mqtt_port, version=V5)
    with pytest.raises(AssertionError, match="CONNECT refused"):
        anonymous.connect()
    assert anonymous.connack[1].value == 0x87, anonymous.connack


# --- The client's Maximum Packet Size ---------------------------------------------------------------------

@pytest.mark.timeout(60)
def test_messages_larger_than_the_clients_maximum_packet_size_are_not_sent(server_factory, raws, clients):
    server = server_factory().start()
    port = server.mqtt_port
    limit = 256
    small_id = unique("small")
    topic = f"size/{small_id}"
    small = raws(port)
    small.connect(small_id, version=V5, properties=[(MAXIMUM_PACKET_SIZE, limit)])
    small.subscribe(topic, qos=1)
    unlimited = clients(port, version=V5)
    unlimited.connect()
    unlimited.subscribe(topic, qos=1)

    publisher = clients(port, version=V5)
    publisher.connect()
    big = b"B" * (2 * limit)
    publisher.publish(topic, big, qos=0)
    publisher.publish(topic, big, qos=1)
    publisher.publish(topic, b"fits", qos=1)

    # The unlimited subscriber got all three: the big ones were routed, just not to the small client.
    assert [m.payload for m in unlimited.wait_messages(3, topic=topic)] == [big, big, b"fits"]
    message = small.expect(PUBLISH).publish(V5)
    assert message["payload"] == b"fits", f"a message above {limit} bytes was sent: {len(message['payload'])} bytes"
    small.send(ack_packet(PUBACK, message["packet_id"]))
    assert until_pingresp(small) == []

    dropped = wait_for_event_count(server.bootstrap, small_id, "message.dropped", "packet_too_large", 2)
    assert sorted((e["topic"], e["qos"]) for e in dropped) == [(topic, 0), (topic, 1)], dropped
    assert events_of(kcat_events(server.bootstrap), unlimited.client_id, "message.dropped") == []


# --- Shared subscription without an online member ---------------------------------------------------------

@pytest.mark.timeout(60)
@pytest.mark.parametrize("version", VERSIONS)
def test_shared_subscription_whose_only_member_is_offline(server_factory, raws, clients, version):
    server = server_factory().start()
    port = server.mqtt_port
    topic = f"shared/{unique('s')}"
    member_id = unique("member")
    member = raws(port)
    member.connect(member_id, version=V5, properties=[(SESSION_EXPIRY, 300)])
    member.subscribe(f"$share/g/{topic}", qos=1)
    member.send(disconnect_packet(V5))
    assert member.read_until_closed() == []  # the DISCONNECT was handled: the session is offline

    plain = clients(port, version=V5)  # an ordinary subscription still gets the message
    plain.connect()
    plain.subscribe(topic, qos=1)

    publisher_id = unique("publisher")
    publisher = raws(port)
    publisher.connect(publisher_id, version=version)
    assert publisher.publish(topic, b"nobody-home", qos=1, packet_id=1).reason() == 0
    assert plain.wait_messages(1, topic=topic)[0].payload == b"nobody-home"

    dropped = wait_for_event_count(server.bootstrap, publisher_id, "message.dropped", "no_shared_subscriber_online", 1)
    assert len(dropped) == 1, dropped
    assert (dropped[0]["topic"], dropped[0]["qos"]) == (topic, 1), dropped
    publisher.send(disconnect_packet(version))
    plain.disconnect()
