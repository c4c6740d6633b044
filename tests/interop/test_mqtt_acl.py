"""MQTT topic rules (`mqtt-acl` in the config file): first match wins, `${clientid}`/`${username}`
placeholders, `$` topics only by an explicit grant, the exact codes of a refusal (SUBACK 0x87, 3.1.1 0x80;
PUBACK 0x87, 3.1.1 dropped with a message.dropped event), reload on SIGHUP, and a client id that belongs to
another user refused (no session takeover)."""
import signal
import time

import pytest

from mqtt_helpers import (
    CONNACK, PUBLISH, SUBACK, V311, V5, RawClient, connect_packet, unique, wait_for_events,
)
from test_mqtt_limits import raws  # noqa: F401 (fixture)

VERSIONS = [pytest.param(V311, id="3.1.1"), pytest.param(V5, id="5.0")]

ACL = """
mqtt-allow-anonymous: false
mqtt-users: admin:admin-pw,alice:alice-pw,bob:bob-pw
mqtt-acl:
  - {permission: allow, who: "user:admin", action: all, topics: ["#", "$SYS/#"]}
  - {permission: deny, action: publish, topics: ["devices/+/config"]}
  - {permission: allow, action: all, topics: ["devices/${clientid}/#"]}
  - {permission: allow, action: subscribe, topics: ["broadcast/#"]}
"""


def suback_codes(packet, version):
    body = packet.body[2:]
    if version == V5:
        body = body[1 + body[0]:]  # the property length (short here) and the properties
    return list(body)


def acl_server(server_factory, workdir, text=ACL):
    config = workdir / "acl.yaml"
    config.write_text(text)
    server = server_factory("--config", str(config))
    server.config_path = config
    return server.start()


@pytest.mark.timeout(90)
@pytest.mark.parametrize("version", VERSIONS)
def test_topic_rules_with_placeholders(server_factory, workdir, raws, version):
    server = acl_server(server_factory, workdir)
    port = server.mqtt_port
    admin = raws(port)
    admin.connect(unique("admin"), version=version, username="admin", password="admin-pw")
    assert suback_codes(admin.subscribe("#", packet_id=1), version) == [1]

    device = raws(port)
    device_id = unique("d")
    device.connect(device_id, version=version, username="alice", password="alice-pw")
    refused = 0x87 if version == V5 else 0x80
    # Its own tree and broadcasts: granted. Everything, another device's tree, $SYS: refused.
    assert suback_codes(device.subscribe(f"devices/{device_id}/cmd/#", packet_id=1), version) == [1]
    assert suback_codes(device.subscribe("broadcast/+", packet_id=2), version) == [1]
    assert suback_codes(device.subscribe("#", packet_id=3), version) == [refused]
    assert suback_codes(device.subscribe("devices/+/telemetry", packet_id=4), version) == [refused]
    assert suback_codes(device.subscribe("$SYS/#", packet_id=5), version) == [refused]

    # Publishing to its own tree works; to another device's, or to a denied leaf of its own, does not.
    assert device.publish(f"devices/{device_id}/telemetry", b"ok", packet_id=10).reason() == 0
    message = admin.expect(PUBLISH).publish(version)
    assert (message["topic"], message["payload"]) == (f"devices/{device_id}/telemetry", b"ok")
    for packet_id, topic in [(11, "devices/other/telemetry"), (12, f"devices/{device_id}/config"), (13, "broadcast/all")]:
        ack = device.publish(topic, b"forged", packet_id=packet_id)
        # 5.0: PUBACK 0x87. 3.1.1 has no refusal: acknowledged and dropped.
        assert ack.reason() == (0x87 if version == V5 else 0), topic
    try:
        leaked = admin.read_packet(timeout=1.5)
    except TimeoutError:
        leaked = None
    assert leaked is None, f"a refused publish reached a subscriber: {leaked}"
    events = wait_for_events(server.bootstrap, lambda evs: sum(
        1 for _, e in evs if e.get("event") == "message.dropped" and e.get("reason") == "not_authorized") >= 3)
    dropped = [e for _, e in events if e.get("event") == "message.dropped" and e.get("reason") == "not_authorized"]
    assert {e["topic"] for e in dropped} >= {"devices/other/telemetry", f"devices/{device_id}/config", "broadcast/all"}


@pytest.mark.timeout(60)
def test_a_client_id_of_another_user_is_refused(server_factory, workdir, raws):
    server = acl_server(server_factory, workdir)
    client_id = unique("d")
    alice = raws(server.mqtt_port)
    alice.connect(client_id, version=V5, username="alice", password="alice-pw")
    bob = raws(server.mqtt_port)
    bob.send(connect_packet(client_id, version=V5, username="bob", password="bob-pw"))
    assert bob.expect(CONNACK).connack(V5)[1] == 0x87
    # alice's connection is untouched and still served.
    assert suback_codes(alice.subscribe(f"devices/{client_id}/#", packet_id=1), V5) == [1]
    # alice herself may take her session over (a reconnect).
    again = raws(server.mqtt_port)
    again.connect(client_id, version=V5, username="alice", password="alice-pw")


@pytest.mark.timeout(60)
def test_rules_reload_on_sighup(server_factory, workdir, raws):
    server = acl_server(server_factory, workdir)
    device = raws(server.mqtt_port)
    device.connect(unique("d"), version=V5, username="bob", password="bob-pw")
    assert suback_codes(device.subscribe("fleet/#", packet_id=1), V5) == [0x87]
    server.config_path.write_text(ACL + '  - {permission: allow, who: "user:bob", action: subscribe, topics: ["fleet/#"]}\n')
    server.process.send_signal(signal.SIGHUP)
    deadline = time.time() + 15
    while "mqtt topic rules reloaded" not in server.log() and time.time() < deadline:
        time.sleep(0.1)
    assert suback_codes(device.subscribe("fleet/#", packet_id=2), V5) == [1]
