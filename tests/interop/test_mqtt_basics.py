"""MQTT broker basics against the real binary, driven by paho-mqtt, mosquitto_pub/mosquitto_sub and raw
sockets: QoS round trips, retained messages, wills, persistent sessions, shared subscriptions, topic
aliases, message expiry, $SYS, session takeover, WebSocket, subscription identifiers and no-local.

Negative checks ("X was not delivered") wait on an event instead of sleeping: a sentinel message sent
after the moment X would have been sent, on the same topic, must be the first to arrive."""
import shutil
import subprocess
import time

import pytest

from conftest import Server
from mqtt_helpers import (
    DISCONNECT, PUBACK, PUBLISH, SESSION_EXPIRY, TOPIC_ALIAS, TOPIC_ALIAS_MAXIMUM, V311, V5, WILL_DELAY,
    LogWindow, RawClient, ack_packet, disconnect_packet, publish_properties, unique, wait_until,
)

VERSIONS = [pytest.param(V311, id="3.1.1"), pytest.param(V5, id="5.0")]


@pytest.fixture(scope="module")
def mqtt_server(tributary_binary, tmp_path_factory):
    """One server for the module (each test uses topics and client ids of its own)."""
    root = tmp_path_factory.mktemp("mqtt-basics")
    server = Server(tributary_binary, root / "data", ["--mqtt-sys-interval-seconds", "1"]).start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(autouse=True)
def shared_server_log(mqtt_server):
    window = LogWindow(mqtt_server)
    yield
    window.dump()


# --- QoS round trips ------------------------------------------------------------------------------------

@pytest.mark.timeout(60)
@pytest.mark.parametrize("version", VERSIONS)
def test_paho_round_trip_at_qos_0_1_and_2(mqtt_server, clients, version):
    topic = f"basics/{unique('qos')}"
    subscriber = clients(mqtt_server.mqtt_port, version=version)
    subscriber.connect()
    assert [code.value for code in subscriber.subscribe(topic, qos=2)] == [2]
    publisher = clients(mqtt_server.mqtt_port, version=version)
    publisher.connect()
    for qos in (0, 1, 2):
        publisher.publish(topic, f"qos-{qos}".encode(), qos=qos)
    messages = subscriber.wait_messages(3, topic=topic)
    assert sorted((m.payload, m.qos, m.retain) for m in messages) == [
        (b"qos-0", 0, False), (b"qos-1", 1, False), (b"qos-2", 2, False)]
    # The subscription's maximum QoS caps what is delivered.
    capped = f"{topic}/capped"
    subscriber.subscribe(capped, qos=0)
    publisher.publish(capped, b"was-2", qos=2)
    assert subscriber.wait_messages(1, topic=capped)[0].qos == 0
    publisher.disconnect()
    subscriber.disconnect()


@pytest.mark.timeout(90)
@pytest.mark.parametrize("version", ["mqttv311", "mqttv5"])
def test_mosquitto_pub_and_sub_round_trip_at_every_qos(mqtt_server, version):
    port = str(mqtt_server.mqtt_port)
    topic = f"basics/{unique('mosquitto')}"
    subscriber = subprocess.Popen(
        ["stdbuf", "-oL", "mosquitto_sub", "-h", "127.0.0.1", "-p", port, "-V", version, "-t", topic, "-q", "2",
         "-C", "3", "-W", "60", "-d", "-F", "MSG|%q|%p"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        seen = []
        for line in subscriber.stdout:  # the SUBACK debug line says the subscription is in place
            seen.append(line)
            if "SUBACK" in line:
                break
        else:
            pytest.fail(f"mosquitto_sub never got a SUBACK: {''.join(seen)}")
        for qos in (0, 1, 2):
            published = subprocess.run(
                ["mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-V", version, "-t", topic, "-q", str(qos),
                 "-m", f"hello-{qos}"], capture_output=True, text=True, timeout=30)
            assert published.returncode == 0, published.stderr + published.stdout
        rest = subscriber.stdout.read()  # until mosquitto_sub exits (-C 3, or -W 60)
        subscriber.wait(timeout=30)
    finally:
        if subscriber.poll() is None:
            subscriber.kill()
            subscriber.wait()
    assert subscriber.returncode == 0, rest
    messages = [line for line in rest.splitlines() if line.startswith("MSG|")]
    assert sorted(messages) == ["MSG|0|hello-0", "MSG|1|hello-1", "MSG|2|hello-2"], rest


# --- Retained messages ----------------------------------------------------------------------------------

@pytest.mark.timeout(60)
@pytest.mark.parametrize("version", VERSIONS)
def test_retained_message_is_set_replaced_and_cleared(mqtt_server, clients, version):
    port = mqtt_server.mqtt_port
    topic = f"retained/{unique('r')}"
    publisher = clients(port, version=version)
    publisher.connect()
    publisher.publish(topic, b"v1", qos=1, retain=True)

    first = clients(port, version=version)
    first.connect()
    first.subscribe(topic, qos=1)
    message = first.wait_messages(1)[0]
    assert (message.payload, message.retain) == (b"v1", True)

    publisher.publish(topic, b"v2", qos=1, retain=True)
    live = first.wait_messages(2)[1]
    # Delivered to an existing subscription: the retain flag is cleared (3.1.1 3.3.1.3; 5.0 without RAP).
    assert (live.payload, live.retain) == (b"v2", False)

    second = clients(port, version=version)
    second.connect()
    second.subscribe(topic, qos=1)
    publisher.publish(topic, b"live", qos=1)
    assert [(m.payload, m.retain) for m in second.wait_messages(2)] == [(b"v2", True), (b"live", False)]

    publisher.publish(topic, b"", qos=1, retain=True)  # clears the retained message
    third = clients(port, version=version)
    third.connect()
    third.subscribe(topic, qos=1)
    publisher.publish(topic, b"after-clear", qos=1)
    assert [m.payload for m in third.wait_messages(1)][0] == b"after-clear"
    for client in (publisher, first, second, third):
        client.disconnect()


@pytest.mark.timeout(60)
def test_retain_as_published_and_retain_handling(mqtt_server, clients):
    port = mqtt_server.mqtt_port
    topic = f"retained/{unique('rap')}"
    publisher = clients(port)
    publisher.connect()
    publisher.publish(topic, b"stored", qos=1, retain=True)

    # Retain handling 2: no retained message on subscribe. Retain as published: live retained keep the flag.
    subscriber = clients(port)
    subscriber.connect()
    subscriber.subscribe(topic, qos=1, retain_as_published=True, retain_handling=2)
    publisher.publish(topic, b"again", qos=1, retain=True)
    assert [(m.payload, m.retain) for m in subscriber.wait_messages(1)] == [(b"again", True)]

    # Retain handling 1: retained only when the subscription is new.
    once = clients(port)
    once.connect()
    once.subscribe(topic, qos=1, retain_handling=1)
    assert [(m.payload, m.retain) for m in once.wait_messages(1)] == [(b"again", True)]
    once.subscribe(topic, qos=1, retain_handling=1)  # exists already: nothing is resent
    publisher.publish(topic, b"sentinel", qos=1)
    assert [m.payload for m in once.wait_messages(2)] == [b"again", b"sentinel"]
    publisher.publish(topic, b"", qos=1, retain=True)
    for client in (publisher, subscriber, once):
        client.disconnect()


# --- Wills ----------------------------------------------------------------------------------------------

@pytest.mark.timeout(60)
@pytest.mark.parametrize("version", VERSIONS)
def test_will_is_published_when_the_socket_dies(mqtt_server, clients, version):
    port = mqtt_server.mqtt_port
    will_topic = f"wills/{unique('w')}"
    watcher = clients(port, version=version)
    watcher.connect()
    watcher.subscribe(will_topic, qos=1)
    device = RawClient(port)
    device.connect(unique("dying"), version=version, will=dict(topic=will_topic, payload=b"gone", qos=1))
    device.kill()  # TCP reset, no DISCONNECT
    message = watcher.wait_messages(1, topic=will_topic)[0]
    assert (message.payload, message.qos) == (b"gone", 1)
    watcher.disconnect()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("version", VERSIONS)
def test_no_will_after_a_clean_disconnect(mqtt_server, clients, version):
    port = mqtt_server.mqtt_port
    will_topic = f"wills/{unique('w')}"
    watcher = clients(port, version=version)
    watcher.connect()
    watcher.subscribe(will_topic, qos=1)
    device = RawClient(port)
    device.connect(unique("polite"), version=version, will=dict(topic=will_topic, payload=b"gone", qos=1))
    device.send(disconnect_packet(version))
    assert device.read_until_closed() == []  # the server closes after DISCONNECT: it was handled
    device.close()
    sentinel = clients(port, version=version)
    sentinel.connect()
    sentinel.publish(will_topic, b"sentinel", qos=1)
    assert watcher.wait_messages(1)[0].payload == b"sentinel"
    for client in (watcher, sentinel):
        client.disconnect()


@pytest.mark.timeout(60)
def test_will_delay_postpones_the_will_and_a_reconnect_cancels_it(mqtt_server, clients):
    port = mqtt_server.mqtt_port
    will_topic = f"wills/{unique('delay')}"
    watcher = clients(port)
    watcher.connect()
    watcher.subscribe(will_topic, qos=1)

    delayed = RawClient(port)
    delayed.connect(unique("delayed"), properties=[(SESSION_EXPIRY, 60)],
                    will=dict(topic=will_topic, payload=b"late", qos=1, properties=[(WILL_DELAY, 2)]))
    killed_at = time.time()
    delayed.kill()
    message = watcher.wait_messages(1, topic=will_topic)[0]
    assert message.payload == b"late"
    assert time.time() - killed_at >= 1.5, "the will came before its 2 s delay"

    # Reconnecting within the delay cancels the will. Nothing to wait on here but the delay itself.
    client_id = unique("back")
    returning = RawClient(port)
    returning.connect(client_id, properties=[(SESSION_EXPIRY, 60)],
                      will=dict(topic=will_topic, payload=b"cancelled", qos=1, properties=[(WILL_DELAY, 2)]))
    returning.kill()
    again = RawClient(port)
    session_present, _, _ = again.connect(client_id, clean=False, properties=[(SESSION_EXPIRY, 60)])
    assert session_present
    time.sleep(3.5)
    sentinel = clients(port)
    sentinel.connect()
    sentinel.publish(will_topic, b"sentinel", qos=1)
    assert [m.payload for m in watcher.wait_messages(2)] == [b"late", b"sentinel"]
    again.send(disconnect_packet(V5, properties=[(SESSION_EXPIRY, 0)]))
    again.close()
    for client in (watcher, sentinel):
        client.disconnect()


# --- Persistent sessions --------------------------------------------------------------------------------

@pytest.mark.timeout(60)
@pytest.mark.parametrize("version", VERSIONS)
def test_persistent_session_queues_qos1_messages_while_offline(mqtt_server, clients, version):
    port = mqtt_server.mqtt_port
    client_id = unique("persistent")
    topic = f"sessions/{client_id}"
    subscriber = clients(port, client_id=client_id, version=version, clean=False, session_expiry=300)
    assert subscriber.connect() is False
    subscriber.subscribe(topic, qos=1)
    subscriber.disconnect()

    publisher = clients(port, version=version)
    publisher.connect()
    for index in range(10):
        publisher.publish(topic, f"offline-{index}".encode(), qos=1)
    publisher.disconnect()

    returning = clients(port, client_id=client_id, version=version, clean=False, session_expiry=300)
    assert returning.connect() is True
    messages = returning.wait_messages(10)
    assert [m.payload for m in messages] == [f"offline-{i}".encode() for i in range(10)]
    assert all(m.qos == 1 for m in messages)
    returning.disconnect()
    # A clean start ends the session: nothing is present after it.
    cleanup = clients(port, client_id=client_id, version=version, clean=True)
    assert cleanup.connect() is False
    cleanup.disconnect()


# --- Shared subscriptions -------------------------------------------------------------------------------

@pytest.mark.timeout(60)
def test_shared_subscription_gives_each_message_to_one_member(mqtt_server, clients):
    port = mqtt_server.mqtt_port
    topic = f"shared/{unique('s')}"
    members = [clients(port, version=V5), clients(port, version=V311)]
    for member in members:
        member.connect()
        member.subscribe(f"$share/workers/{topic}", qos=1)
    publisher = clients(port)
    publisher.connect()
    sent = [f"job-{i}".encode() for i in range(20)]
    for payload in sent:
        publisher.publish(topic, payload, qos=1)
    wait_until(lambda: sum(len(m.payloads()) for m in members) >= 20, 30, "20 messages across the members")
    received = [m.payloads() for m in members]
    assert all(received), f"a member got nothing: {received}"
    union = received[0] + received[1]
    assert sorted(union) == sorted(sent), received
    assert len(union) == len(set(union)) == 20
    for client in members + [publisher]:
        client.disconnect()


# --- Topic aliases ----------------------------------------------------------------------------------------

@pytest.mark.timeout(60)
def test_topic_aliases_in_both_directions(mqtt_server, clients):
    port = mqtt_server.mqtt_port
    base = f"alias/{unique('a')}"
    t1, t2, t3 = f"{base}/one", f"{base}/two", f"{base}/three"

    subscriber = RawClient(port)
    subscriber.connect(unique("alias-sub"), properties=[(TOPIC_ALIAS_MAXIMUM, 4)])
    subscriber.subscribe(f"{base}/#", qos=1)
    plain = clients(port)  # no topic alias maximum: full topic names
    plain.connect()
    plain.subscribe(f"{base}/#", qos=1)

    publisher = RawClient(port)
    _, _, connack_properties = publisher.connect(unique("alias-pub"))
    assert connack_properties.get(TOPIC_ALIAS_MAXIMUM) == 64
    sends = [(t1, 1), ("", 1), (t2, 2), ("", 2), ("", 1), (t3, 1), ("", 1)]
    expected = [t1, t1, t2, t2, t1, t3, t3]
    for index, (topic, alias) in enumerate(sends):
        ack = publisher.publish(topic, f"m{index}", qos=1, packet_id=index + 1, properties=[(TOPIC_ALIAS, alias)])
        assert ack.reason() == 0

    aliases = {}
    resolved, used_alias = [], False
    while len(resolved) < len(expected):
        received = subscriber.expect(PUBLISH)
        message = received.publish(V5)
        subscriber.send(ack_packet(PUBACK, message["packet_id"]))
        alias = message["properties"].get(TOPIC_ALIAS)
        topic = message["topic"]
        if alias is not None:
            assert 1 <= alias <= 4, f"alias {alias} above the client's maximum 4"
            if topic:
                aliases[alias] = topic
            else:
                used_alias = True
                topic = aliases[alias]
        resolved.append((topic, message["payload"]))
    assert resolved == [(t, f"m{i}".encode()) for i, t in enumerate(expected)]
    assert used_alias, "the broker never sent an aliased (empty) topic name"
    assert [(m.topic, m.payload) for m in plain.wait_messages(7)] == resolved
    for raw in (publisher, subscriber):
        raw.send(disconnect_packet())
        raw.close()
    plain.disconnect()


# --- Message expiry ---------------------------------------------------------------------------------------

@pytest.mark.timeout(60)
def test_expired_message_is_not_delivered_to_a_returning_client(mqtt_server, clients):
    port = mqtt_server.mqtt_port
    client_id = unique("expiry")
    topic = f"expiry/{client_id}"
    subscriber = clients(port, client_id=client_id, clean=True, session_expiry=300)
    subscriber.connect()
    subscriber.subscribe(topic, qos=1)
    subscriber.disconnect()

    publisher = clients(port)
    publisher.connect()
    publisher.publish(topic, b"short", qos=1, properties=publish_properties(MessageExpiryInterval=1))
    publisher.publish(topic, b"long", qos=1, properties=publish_properties(MessageExpiryInterval=60))
    publisher.disconnect()
    time.sleep(2.5)  # the short one's expiry must pass while the subscriber is away

    returning = clients(port, client_id=client_id, clean=False, session_expiry=300)
    assert returning.connect() is True
    message = returning.wait_messages(1)[0]
    assert message.payload == b"long", "the expired message was delivered"
    remaining = message.properties.MessageExpiryInterval
    assert 0 < remaining < 60, f"expiry interval not reduced by the time spent waiting: {remaining}"
    returning.disconnect()
    cleanup = clients(port, client_id=client_id, clean=True)
    cleanup.connect()
    cleanup.disconnect()


# --- $SYS -------------------------------------------------------------------------------------------------

SYS_TOPICS = ["version", "uptime", "clients/connected", "clients/total", "messages/received", "messages/sent",
              "bytes/received", "bytes/sent", "subscriptions/count", "retained messages/count"]


@pytest.mark.timeout(60)
def test_sys_topics_are_published_and_wildcards_do_not_see_them(mqtt_server, clients):
    port = mqtt_server.mqtt_port
    wildcard = clients(port)
    wildcard.connect()
    wildcard.subscribe("#", qos=0)
    wildcard.subscribe("+/broker/#", qos=0)

    system = clients(port)
    system.connect()
    system.subscribe("$SYS/broker/#", qos=0)

    def latest():
        return {m.topic[len("$SYS/broker/"):]: m.payload.decode() for m in system.messages}

    system.wait(lambda: all(name in latest() for name in SYS_TOPICS), 15, f"every $SYS topic ({SYS_TOPICS})")
    values = latest()
    assert values["version"]
    assert int(values["uptime"].split()[0]) >= 0
    for name in SYS_TOPICS[2:]:
        assert int(values[name].split()[0]) >= 0, (name, values[name])
    # The retained snapshot may predate these two clients; a refresh counts them.
    system.wait(lambda: int(latest()["clients/connected"]) >= 2, 15, "clients/connected to count both clients")
    # Refreshed every second: uptime is published again.
    def uptimes():
        return len([m for m in system.messages if m.topic == "$SYS/broker/uptime"])
    seen = uptimes()
    system.wait(lambda: uptimes() > seen, 15, "a refreshed $SYS/broker/uptime")

    sentinel_topic = f"sys/{unique('sentinel')}"
    system.publish(sentinel_topic, b"sentinel", qos=1)
    wildcard.wait_messages(1, topic=sentinel_topic)
    leaked = [m.topic for m in wildcard.messages if m.topic.startswith("$")]
    assert leaked == [], f"'#' or '+/broker/#' received $SYS topics: {leaked[:5]}"
    wildcard.disconnect()
    system.disconnect()


# --- Session takeover -------------------------------------------------------------------------------------

@pytest.mark.timeout(60)
@pytest.mark.parametrize("version", VERSIONS)
def test_session_takeover_closes_the_old_connection(mqtt_server, clients, version):
    port = mqtt_server.mqtt_port
    client_id = unique("takeover")
    old = RawClient(port)
    old.connect(client_id, version=version)
    new = clients(port, client_id=client_id, version=version)
    new.connect()
    packets = old.read_until_closed()
    if version == V5:
        assert [p.type for p in packets] == [DISCONNECT], packets
        assert packets[0].disconnect_reason() == 0x8E
    else:
        assert packets == []
    topic = f"takeover/{client_id}"
    new.subscribe(topic, qos=1)
    new.publish(topic, b"mine", qos=1)
    assert new.wait_messages(1)[0].payload == b"mine"
    new.disconnect()


# --- WebSocket --------------------------------------------------------------------------------------------

@pytest.mark.timeout(60)
@pytest.mark.parametrize("version", VERSIONS)
def test_round_trip_over_websocket(mqtt_server, clients, version):
    topic = f"ws/{unique('w')}"
    subscriber = clients(mqtt_server.ws_port, version=version, transport="websockets")
    subscriber.connect()
    subscriber.subscribe(topic, qos=1)
    over_websocket = clients(mqtt_server.ws_port, version=version, transport="websockets")
    over_websocket.connect()
    over_websocket.publish(topic, b"from-ws", qos=1)
    over_tcp = clients(mqtt_server.mqtt_port, version=version)
    over_tcp.connect()
    over_tcp.publish(topic, b"from-tcp", qos=2)
    assert sorted(m.payload for m in subscriber.wait_messages(2)) == [b"from-tcp", b"from-ws"]
    for client in (subscriber, over_websocket, over_tcp):
        client.disconnect()


# --- Subscription identifiers and no-local (5.0) ----------------------------------------------------------

@pytest.mark.timeout(60)
def test_subscription_identifiers_are_returned_with_messages(mqtt_server, clients):
    port = mqtt_server.mqtt_port
    base = f"sid/{unique('s')}"
    client = clients(port)
    client.connect()
    client.subscribe(f"{base}/a/#", qos=1, subscription_identifier=7)
    client.subscribe(f"{base}/+/x", qos=1, subscription_identifier=9)
    publisher = clients(port)
    publisher.connect()

    def identifiers(topic):
        found = set()
        for message in client.wait_messages(1, topic=topic):
            found.update(getattr(message.properties, "SubscriptionIdentifier", []) or [])
        return found

    publisher.publish(f"{base}/a/y", b"1", qos=1)
    assert identifiers(f"{base}/a/y") == {7}
    publisher.publish(f"{base}/b/x", b"2", qos=1)
    assert identifiers(f"{base}/b/x") == {9}
    publisher.publish(f"{base}/a/x", b"3", qos=1)
    # Overlapping subscriptions: one message with both identifiers, or one copy per subscription; either
    # way all of it comes before a later message on a topic only one subscription matches.
    publisher.publish(f"{base}/a/z", b"sentinel", qos=1)
    client.wait_messages(1, topic=f"{base}/a/z")
    assert identifiers(f"{base}/a/x") == {7, 9}
    client.disconnect()
    publisher.disconnect()


@pytest.mark.timeout(60)
def test_no_local_subscription_does_not_get_own_messages(mqtt_server, clients):
    port = mqtt_server.mqtt_port
    topic = f"nolocal/{unique('n')}"
    own = clients(port)
    own.connect()
    own.subscribe(topic, qos=1, no_local=True)
    other = clients(port)
    other.connect()
    own.publish(topic, b"mine", qos=1)
    other.publish(topic, b"theirs", qos=1)
    assert own.wait_messages(1)[0].payload == b"theirs"
    own.disconnect()
    other.disconnect()
