"""What the server writes about a client stays the server's: MQTT 5 user properties named like the
server's record headers (`mqtt.topic`, `mqtt.client_id`, `mqtt.username`) cannot rewrite a message's
topic, publisher or user when the record is replayed: offline catch-up, retained messages after a
restart, and what Kafka consumers read."""
import pytest

from mqtt_helpers import Client, consume, publish_properties, unique

SPOOF = [("mqtt.topic", "devices/victim/cmd"), ("mqtt.client_id", "victim"), ("mqtt.username", "admin"), ("site", "north")]


@pytest.mark.timeout(120)
def test_user_properties_cannot_rewrite_server_headers(server_factory):
    server = server_factory().start()
    topic = f"spoof/{unique('t')}"
    # A persistent subscriber, offline while the message arrives: it gets it back from the log.
    subscriber = Client(server.mqtt_port, client_id=unique("sub"), clean=False, session_expiry=300)
    subscriber.connect()
    subscriber.subscribe(f"{topic}/#", qos=1)
    subscriber.disconnect()
    victim = Client(server.mqtt_port, client_id=unique("victim"))
    victim.connect()
    victim.subscribe("devices/victim/#", qos=1)

    publisher = Client(server.mqtt_port, client_id=unique("mallory"))
    publisher.connect()
    publisher.publish(f"{topic}/live", b"spoofed", qos=1, properties=publish_properties(UserProperty=SPOOF))
    publisher.publish(f"{topic}/kept", b"retained", qos=1, retain=True, properties=publish_properties(UserProperty=SPOOF))
    publisher.disconnect()

    subscriber = Client(server.mqtt_port, client_id=subscriber.client_id, clean=False, session_expiry=300)
    subscriber.connect()
    received = subscriber.wait_messages(2)
    assert sorted(m.topic for m in received[:2]) == [f"{topic}/kept", f"{topic}/live"]
    # The device's properties arrive as it sent them.
    assert list(received[0].properties.UserProperty) == SPOOF

    # Kafka consumers see the server's headers once, and the device's properties under their own namespace.
    record = [r for r in consume(server.bootstrap, "mqtt.messages", 2) if r.value() == b"spoofed"][0]
    headers = record.headers()
    assert [v for k, v in headers if k == "mqtt.topic"] == [f"{topic}/live".encode()]
    assert [v for k, v in headers if k == "mqtt.client_id"] == [publisher.client_id.encode()]
    assert ("mqtt.user_property.mqtt.topic", b"devices/victim/cmd") in headers

    # Retained messages are read back from the log at start: still the real topic.
    server.restart()
    late = Client(server.mqtt_port, client_id=unique("late"))
    late.connect()
    late.subscribe(f"{topic}/kept", qos=1)
    assert late.wait_messages(1)[0].payload == b"retained"
    victim = Client(server.mqtt_port, client_id=unique("victim2"))
    victim.connect()
    victim.subscribe("devices/victim/#", qos=1)
    victim.publish("devices/victim/ping", b"p", qos=1)
    assert victim.payloads() == [b"p"] or victim.wait_messages(1)[0].payload == b"p"
    assert all(m.payload != b"retained" for m in victim.messages)


@pytest.mark.timeout(60)
def test_only_the_server_writes_device_events(server_factory):
    """A Kafka client cannot forge device events: a Produce to the events topic is
    TOPIC_AUTHORIZATION_FAILED, and the server's own events keep arriving."""
    import confluent_kafka

    server = server_factory().start()
    device = Client(server.mqtt_port, client_id=unique("dev"))
    device.connect()
    device.disconnect()
    errors = []
    producer = confluent_kafka.Producer({"bootstrap.servers": server.bootstrap, "acks": "all", "retries": 0})
    producer.produce("mqtt.events", key=b"victim", value=b'{"event":"client.disconnected","clientid":"victim"}',
                     on_delivery=lambda err, msg: errors.append(err))
    producer.flush(30)
    assert len(errors) == 1 and errors[0] is not None
    assert errors[0].code() == confluent_kafka.KafkaError.TOPIC_AUTHORIZATION_FAILED, errors[0]
    events = [r.value() for r in consume(server.bootstrap, "mqtt.events", 2)]
    assert all(b"victim" not in value for value in events)
    assert any(device.client_id.encode() in value for value in events)
