"""MQTT ingress into Kafka topics against the real binary: routes and key templates, record headers,
100 devices x 1,000 QoS 1 messages read back by a Kafka consumer, SIGKILL while devices publish (every
PUBACKed message survives), persistent sessions and retained messages across SIGKILL, and device events
in mqtt.events read with kcat."""
import asyncio
import collections
import time

import pytest

from mqtt_helpers import (
    V311, V5, Client, RawClient, consume, end_offsets, headers_of, publish_properties, publish_stream, unique,
    wait_for_events, wait_until, write_config,
)

CONFIG = """\
routes:
  - from: "devices/+/telemetry"
    to: telemetry
    key: "${topic.2}"
    partitions: 3
  - from: "sensors/#"
    to: sensors
    key: "${username}/${topic.2}"
events:
  topic: mqtt.events
"""


@pytest.fixture
def ingress_server(server_factory, workdir):
    config = write_config(workdir / "tributary.yaml", CONFIG)
    return server_factory("--config", config, "--mqtt-sys-interval-seconds", "1")


async def publish_devices(port: int, devices: int, count: int, acked: dict, version_of=lambda i: V311, window=64):
    async def device(index):
        client_id = f"dev-{index:03d}"
        return await publish_stream(port, client_id, f"devices/{client_id}/telemetry", count,
                                    version=version_of(index), window=window, acked=acked[client_id])
    return await asyncio.gather(*(device(i) for i in range(devices)))


@pytest.mark.timeout(300)
def test_100_devices_each_publish_1000_qos1_messages_into_the_routed_topic(ingress_server):
    server = ingress_server.start()
    devices, count = 100, 1000
    acked = collections.defaultdict(list)
    started = time.time()
    acks = asyncio.run(publish_devices(server.mqtt_port, devices, count, acked, version_of=lambda i: V5 if i % 2 else V311))
    print(f"published {devices * count} QoS 1 messages in {time.time() - started:.1f}s")
    assert acks == [count] * devices
    assert all(sorted(seqs) == list(range(count)) for seqs in acked.values())

    records = consume(server.bootstrap, "telemetry", devices * count, timeout=120)
    assert len(records) == devices * count
    assert sum(end_offsets(server.bootstrap, "telemetry").values()) == devices * count, "more records than messages"
    assert len(end_offsets(server.bootstrap, "telemetry")) == 3, "the route's partitions: 3 was not used"

    sequences = collections.defaultdict(list)
    partitions = collections.defaultdict(set)
    for record in records:
        key = record.key().decode()
        headers = headers_of(record)
        assert headers.get("mqtt.topic") == f"devices/{key}/telemetry".encode(), headers
        assert headers.get("mqtt.qos") == b"1"
        assert headers.get("mqtt.client_id") == key.encode()
        assert headers.get("mqtt.retain") == b"false"
        assert "mqtt.username" not in headers
        sequences[key].append(int(record.value()))
        partitions[key].add(record.partition())
    assert sorted(sequences) == [f"dev-{i:03d}" for i in range(devices)]
    for key, seqs in sequences.items():
        assert seqs == list(range(count)), f"{key}: order or content differs (first 20: {seqs[:20]})"
        assert len(partitions[key]) == 1, f"{key} spread over partitions {partitions[key]}"


@pytest.mark.timeout(240)
def test_every_acknowledged_message_survives_sigkill_mid_stream(ingress_server):
    server = ingress_server.start()
    devices, count = 20, 5000
    acked = collections.defaultdict(list)

    async def publish_then_kill():
        publishing = asyncio.ensure_future(publish_devices(server.mqtt_port, devices, count, acked, window=32))
        deadline = time.time() + 120
        while sum(len(s) for s in acked.values()) < 3000 and not publishing.done() and time.time() < deadline:
            await asyncio.sleep(0.01)
        assert not publishing.done(), "the devices finished before the kill; publish more"
        server.kill()  # SIGKILL while PUBLISHes and PUBACKs are in flight
        return await publishing

    acks = asyncio.run(publish_then_kill())
    total_acked = sum(acks)
    assert 3000 <= total_acked < devices * count
    server.start()
    ends = end_offsets(server.bootstrap, "telemetry")
    stored_count = sum(ends.values())
    records = consume(server.bootstrap, "telemetry", stored_count, timeout=120)
    assert len(records) == stored_count
    stored = {(r.key().decode(), int(r.value())) for r in records}
    missing = [(device, seq) for device, seqs in acked.items() for seq in seqs if (device, seq) not in stored]
    assert not missing, f"{len(missing)} of {total_acked} acknowledged messages lost, e.g. {missing[:10]}"
    print(f"{total_acked} acknowledged, {stored_count} stored after SIGKILL")
    # Still ingesting after the restart.
    assert asyncio.run(publish_stream(server.mqtt_port, "dev-after", "devices/dev-after/telemetry", 10)) == 10


@pytest.mark.timeout(120)
def test_persistent_sessions_and_retained_messages_survive_sigkill(ingress_server):
    server = ingress_server.start()
    port = server.mqtt_port
    topic = "alerts/site-1"
    subscribers = {V311: "keeper-311", V5: "keeper-5"}
    for version, client_id in subscribers.items():
        subscriber = Client(port, client_id=client_id, version=version, clean=False, session_expiry=3600)
        subscriber.connect()
        subscriber.subscribe("alerts/#", qos=1)
        subscriber.disconnect()

    publisher = Client(port, version=V5)
    publisher.connect()
    for index in range(20):
        publisher.publish(topic, f"alert-{index}".encode(), qos=1)
    publisher.publish("config/state", b"on", qos=1, retain=True)
    publisher.disconnect()

    server.kill()
    server.start()

    for version, client_id in subscribers.items():
        returning = Client(port, client_id=client_id, version=version, clean=False, session_expiry=3600)
        try:
            assert returning.connect() is True, f"{client_id}: the session did not survive SIGKILL"
            messages = returning.wait_messages(20, timeout=30)
            assert [m.payload for m in messages] == [f"alert-{i}".encode() for i in range(20)]
            assert all(m.qos == 1 and m.topic == topic for m in messages)
            returning.disconnect()
        finally:
            returning.close()

    reader = Client(port, version=V311)
    try:
        reader.connect()
        reader.subscribe("config/state", qos=1)
        message = reader.wait_messages(1)[0]
        assert (message.payload, message.retain) == (b"on", True)
        reader.disconnect()
    finally:
        reader.close()


@pytest.mark.timeout(120)
def test_device_events_are_written_to_mqtt_events(ingress_server):
    server = ingress_server.start()
    port = server.mqtt_port
    client_id = unique("ev")
    will_topic = f"ev/{client_id}/status"
    device = RawClient(port)
    device.connect(client_id, version=V311, keepalive=45, username="eve",
                   will=dict(topic=will_topic, payload=b"offline", qos=1, retain=False))
    device.subscribe(f"ev/{client_id}/cmd", qos=1)
    device.publish(f"ev/{client_id}/data", b"reading", qos=1)
    device.kill()

    polite = Client(port, version=V5)
    polite.connect()
    polite.subscribe(f"ev/{polite.client_id}/cmd", qos=2)
    polite.paho.unsubscribe(f"ev/{polite.client_id}/cmd")
    polite.disconnect()

    wanted = {
        client_id: {"client.connected", "session.subscribed", "client.disconnected", "will.published"},
        polite.client_id: {"client.connected", "session.subscribed", "session.unsubscribed", "client.disconnected"},
    }

    def complete(events):
        seen = collections.defaultdict(set)
        for key, event in events:
            if isinstance(event, dict):
                seen[key].add(event.get("event"))
        return all(names <= seen[key] for key, names in wanted.items())

    events = wait_for_events(server.bootstrap, complete)
    by_name = {}
    for key, event in events:
        if key in wanted:
            assert event["clientid"] == key
            assert isinstance(event["timestamp"], int) and event["timestamp"] > 1_600_000_000_000
            by_name.setdefault((key, event["event"]), event)

    connected = by_name[(client_id, "client.connected")]
    assert connected["username"] == "eve"
    assert connected["protocol_version"] == 4
    assert connected["keepalive"] == 45
    assert connected["clean_start"] is True
    assert connected["session_present"] is False
    assert connected["session_expiry"] == 0
    assert connected["peer"].startswith("127.0.0.1") or "127.0.0.1" in connected["peer"]

    subscribed = by_name[(client_id, "session.subscribed")]
    assert subscribed["filter"] == f"ev/{client_id}/cmd"
    assert subscribed["qos"] == 1
    for field in ("no_local", "retain_as_published", "retain_handling", "subscription_identifier", "share_group"):
        assert field in subscribed, field

    disconnected = by_name[(client_id, "client.disconnected")]
    assert disconnected["reason"] == "connection_lost"
    assert "peer" in disconnected

    will = by_name[(client_id, "will.published")]
    assert (will["topic"], will["qos"], will["retain"]) == (will_topic, 1, False)

    assert by_name[(polite.client_id, "client.connected")]["username"] is None
    assert by_name[(polite.client_id, "client.connected")]["protocol_version"] == 5
    assert by_name[(polite.client_id, "session.subscribed")]["qos"] == 2
    assert by_name[(polite.client_id, "session.unsubscribed")]["filter"] == f"ev/{polite.client_id}/cmd"
    assert by_name[(polite.client_id, "client.disconnected")]["reason"] == "normal"

    # Order per client: connected, then subscribed, then disconnected.
    order = [event["event"] for key, event in events if key == client_id]
    assert order.index("client.connected") < order.index("session.subscribed") < order.index("client.disconnected")


@pytest.mark.timeout(90)
def test_qos0_publishes_land_in_the_fallback_topic(ingress_server):
    server = ingress_server.start()
    device = RawClient(server.mqtt_port)
    client_id = unique("q0")
    device.connect(client_id, version=V311)
    for index in range(50):
        device.publish(f"plain/{client_id}", f"q0-{index}", qos=0)
    device.publish(f"plain/{client_id}", "marker", qos=1)  # after this PUBACK, earlier appends are done too
    device.close()
    total = sum(end_offsets(server.bootstrap, "mqtt.messages").values())
    records = [r for r in consume(server.bootstrap, "mqtt.messages", total) if r.key() == client_id.encode()]
    assert [r.value() for r in records] == [f"q0-{i}".encode() for i in range(50)] + [b"marker"]
    for record in records[:50]:
        headers = headers_of(record)
        assert headers.get("mqtt.qos") == b"0"
        assert headers.get("mqtt.topic") == f"plain/{client_id}".encode()
        assert headers.get("mqtt.retain") == b"false"
        assert headers.get("mqtt.client_id") == client_id.encode()


@pytest.mark.timeout(90)
def test_mqtt5_properties_become_record_headers_and_key_template_uses_username(ingress_server):
    server = ingress_server.start()
    client = Client(server.mqtt_port, version=V5, username="alice")
    try:
        client.connect()
        properties = publish_properties(
            ContentType="application/json", ResponseTopic="replies/alice", CorrelationData=b"\x00\x01\xfe\xff",
            UserProperty=[("site", "lab-3"), ("firmware", "1.2.0")])
        client.publish("sensors/temp-7/reading", b'{"c": 21.5}', qos=1, retain=True, properties=properties)
        client.publish("sensors/temp-7/reading", b"", qos=1, retain=True)  # clear the retained message again
        client.disconnect()
    finally:
        client.close()
    records = consume(server.bootstrap, "sensors", 2)
    assert len(records) == 2
    record = records[0]
    assert record.key() == b"alice/temp-7"
    assert record.value() == b'{"c": 21.5}'
    headers = headers_of(record)
    assert headers.get("mqtt.topic") == b"sensors/temp-7/reading"
    assert headers.get("mqtt.qos") == b"1"
    assert headers.get("mqtt.retain") == b"true"
    assert headers.get("mqtt.client_id") == client.client_id.encode()
    assert headers.get("mqtt.username") == b"alice"
    assert headers.get("mqtt.content_type") == b"application/json"
    assert headers.get("mqtt.response_topic") == b"replies/alice"
    assert headers.get("mqtt.correlation_data") == b"\x00\x01\xfe\xff"
    assert headers.get("site") == b"lab-3"
    assert headers.get("firmware") == b"1.2.0"


@pytest.mark.timeout(120)
def test_a_returning_session_does_not_recreate_a_deleted_topic(server_factory, workdir):
    """An offline session's backlog lives in its route's topic. When that topic is deleted meanwhile, the
    session's return reads nothing from it and must not bring the topic back: reading never creates a
    topic (only writing to a route's topic does)."""
    from confluent_kafka.admin import AdminClient
    config = write_config(workdir / "tributary.yaml", 'routes:\n  - from: "orders/kept/#"\n    to: order-backlog\n    partitions: 2\n')
    server = server_factory("--config", config).start()
    port = server.mqtt_port
    subscriber = Client(port, client_id="backlog-keeper", version=V5, clean=False, session_expiry=3600)
    subscriber.connect()
    subscriber.subscribe("orders/#", qos=1)
    subscriber.disconnect()
    publisher = Client(port, version=V5)
    publisher.connect()
    for index in range(5):
        publisher.publish(f"orders/kept/{index}", f"order-{index}".encode(), qos=1)
    assert sum(end_offsets(server.bootstrap, "order-backlog").values()) == 5

    admin = AdminClient({"bootstrap.servers": server.bootstrap})
    admin.delete_topics(["order-backlog"], operation_timeout=10)["order-backlog"].result()
    wait_until(lambda: "order-backlog" not in admin.list_topics(timeout=10).topics, 15, "the topic to be gone")
    # A QoS 0 message to the deleted topic fails to be stored: the bridge forgets the topic's logs.
    publisher.publish("orders/kept/lost", b"lost", qos=0)
    time.sleep(1)

    returning = Client(port, client_id="backlog-keeper", version=V5, clean=False, session_expiry=3600)
    try:
        assert returning.connect() is True
        # A message routed elsewhere (the fallback topic) arrives: the catch-up over the deleted topic is over.
        publisher.publish("orders/live", b"live", qos=1)
        assert [m.payload for m in returning.wait_messages(1, timeout=30)] == [b"live"]
        returning.disconnect()
    finally:
        returning.close()
        publisher.disconnect()
    assert "order-backlog" not in admin.list_topics(timeout=10).topics, "reading the backlog created the deleted topic again"
