"""MQTT helpers for the interop suite: packets built by hand (for bad input and precise checks), a raw
socket client, a small wrapper around paho-mqtt that waits on events instead of sleeping, and readers for
the Kafka side (confluent-kafka and kcat)."""
import json
import socket
import struct
import subprocess
import threading
import time
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

V311 = 4
V5 = 5

# Packet types (the high nibble of the first byte).
CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = 8, 9, 10, 11, 12, 13, 14, 15

# MQTT 5 property identifiers and how each is encoded.
PAYLOAD_FORMAT, MESSAGE_EXPIRY, CONTENT_TYPE, RESPONSE_TOPIC, CORRELATION_DATA = 0x01, 0x02, 0x03, 0x08, 0x09
SUBSCRIPTION_IDENTIFIER, SESSION_EXPIRY, ASSIGNED_CLIENT_ID, SERVER_KEEP_ALIVE = 0x0B, 0x11, 0x12, 0x13
REASON_STRING, RECEIVE_MAXIMUM, TOPIC_ALIAS_MAXIMUM, TOPIC_ALIAS, USER_PROPERTY, MAXIMUM_PACKET_SIZE = 0x1F, 0x21, 0x22, 0x23, 0x26, 0x27
WILL_DELAY, REQUEST_PROBLEM_INFORMATION = 0x18, 0x17
_PROPERTY_KINDS = {
    0x01: "byte", 0x02: "u32", 0x03: "str", 0x08: "str", 0x09: "bin", 0x0B: "varint", 0x11: "u32", 0x12: "str",
    0x13: "u16", 0x15: "str", 0x16: "bin", 0x17: "byte", 0x18: "u32", 0x19: "byte", 0x1A: "str", 0x1C: "str",
    0x1F: "str", 0x21: "u16", 0x22: "u16", 0x23: "u16", 0x24: "byte", 0x25: "byte", 0x26: "pair", 0x27: "u32",
    0x28: "byte", 0x29: "byte", 0x2A: "byte",
}


# --- Encoding -------------------------------------------------------------------------------------------

def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value % 128
        value //= 128
        if value:
            byte |= 0x80
        out.append(byte)
        if not value:
            return bytes(out)


def mqtt_string(text) -> bytes:
    data = text.encode() if isinstance(text, str) else bytes(text)
    return struct.pack("!H", len(data)) + data


def encode_properties(properties=()) -> bytes:
    """`properties`: (identifier, value) pairs; a user property's value is a (name, value) pair."""
    body = bytearray()
    for identifier, value in properties:
        kind = _PROPERTY_KINDS[identifier]
        body += varint(identifier)
        if kind == "byte":
            body.append(value)
        elif kind == "u16":
            body += struct.pack("!H", value)
        elif kind == "u32":
            body += struct.pack("!I", value)
        elif kind == "varint":
            body += varint(value)
        elif kind in ("str", "bin"):
            body += mqtt_string(value)
        else:
            body += mqtt_string(value[0]) + mqtt_string(value[1])
    return varint(len(body)) + bytes(body)


def packet(first_byte: int, body: bytes) -> bytes:
    return bytes([first_byte]) + varint(len(body)) + body


def connect_packet(client_id: str, version: int = V5, clean: bool = True, keepalive: int = 60, will=None,
                   username=None, password=None, properties=(), protocol_name="MQTT", level=None,
                   connect_flags=None, fixed_flags=0) -> bytes:
    """`will`: dict(topic, payload, qos=0, retain=False, properties=()). `connect_flags` overrides the
    computed flags byte (for bad input)."""
    flags = 0x02 if clean else 0
    if will is not None:
        flags |= 0x04 | (will.get("qos", 0) << 3) | (0x20 if will.get("retain") else 0)
    if username is not None:
        flags |= 0x80
    if password is not None:
        flags |= 0x40
    if connect_flags is not None:
        flags = connect_flags
    body = mqtt_string(protocol_name) + bytes([level if level is not None else version, flags]) + struct.pack("!H", keepalive)
    if version == V5:
        body += encode_properties(properties)
    body += mqtt_string(client_id)
    if will is not None:
        if version == V5:
            body += encode_properties(will.get("properties", ()))
        body += mqtt_string(will["topic"]) + mqtt_string(will["payload"])
    if username is not None:
        body += mqtt_string(username)
    if password is not None:
        body += mqtt_string(password)
    return packet(CONNECT << 4 | fixed_flags, body)


def publish_packet(topic, payload=b"", qos: int = 0, retain: bool = False, packet_id=None, dup: bool = False,
                   version: int = V5, properties=()) -> bytes:
    flags = (qos << 1) | (1 if retain else 0) | (0x08 if dup else 0)
    body = mqtt_string(topic)
    if qos or packet_id is not None:
        body += struct.pack("!H", packet_id if packet_id is not None else 1)
    if version == V5:
        body += encode_properties(properties)
    body += payload.encode() if isinstance(payload, str) else bytes(payload)
    return packet(PUBLISH << 4 | flags, body)


def subscribe_packet(packet_id: int, subscriptions, version: int = V5, properties=()) -> bytes:
    """`subscriptions`: (filter, options byte) pairs."""
    body = struct.pack("!H", packet_id)
    if version == V5:
        body += encode_properties(properties)
    for topic_filter, options in subscriptions:
        body += mqtt_string(topic_filter) + bytes([options])
    return packet(SUBSCRIBE << 4 | 0x02, body)


def ack_packet(kind: int, packet_id: int) -> bytes:
    return packet(kind << 4 | (0x02 if kind == PUBREL else 0), struct.pack("!H", packet_id))


def disconnect_packet(version: int = V5, reason: int = 0, properties=()) -> bytes:
    if version != V5 or (reason == 0 and not properties):
        return packet(DISCONNECT << 4, b"")
    return packet(DISCONNECT << 4, bytes([reason]) + encode_properties(properties))


PINGREQ_PACKET = bytes([PINGREQ << 4, 0])


# --- Decoding -------------------------------------------------------------------------------------------

def read_varint(data: bytes, offset: int):
    value, shift = 0, 0
    while True:
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, offset


def decode_properties(data: bytes, offset: int):
    """Returns ({identifier: value, or a list for user properties and subscription identifiers}, offset)."""
    length, offset = read_varint(data, offset)
    end = offset + length
    properties = {}
    while offset < end:
        identifier, offset = read_varint(data, offset)
        kind = _PROPERTY_KINDS[identifier]
        if kind == "byte":
            value, offset = data[offset], offset + 1
        elif kind == "u16":
            value, offset = struct.unpack_from("!H", data, offset)[0], offset + 2
        elif kind == "u32":
            value, offset = struct.unpack_from("!I", data, offset)[0], offset + 4
        elif kind == "varint":
            value, offset = read_varint(data, offset)
        else:
            size = struct.unpack_from("!H", data, offset)[0]
            value, offset = data[offset + 2:offset + 2 + size], offset + 2 + size
            if kind == "str":
                value = value.decode()
            elif kind == "pair":
                size2 = struct.unpack_from("!H", data, offset)[0]
                value = (value.decode(), data[offset + 2:offset + 2 + size2].decode())
                offset += 2 + size2
        if identifier in (USER_PROPERTY, SUBSCRIPTION_IDENTIFIER):
            properties.setdefault(identifier, []).append(value)
        else:
            properties[identifier] = value
    return properties, end


class Packet:
    def __init__(self, first_byte: int, body: bytes):
        self.type = first_byte >> 4
        self.flags = first_byte & 0x0F
        self.body = body

    def __repr__(self):
        return f"Packet(type={self.type}, flags={self.flags:#x}, body={self.body[:64]!r})"

    # CONNACK
    def connack(self, version: int):
        """(session_present, reason or return code, properties)."""
        assert self.type == CONNACK, self
        properties = {}
        if version == V5 and len(self.body) > 2:
            properties, _ = decode_properties(self.body, 2)
        return bool(self.body[0] & 1), self.body[1], properties

    # DISCONNECT (5.0): an empty body is Normal disconnection.
    def disconnect_reason(self) -> int:
        assert self.type == DISCONNECT, self
        return self.body[0] if self.body else 0

    def publish(self, version: int):
        """dict(topic, qos, retain, dup, packet_id, properties, payload)."""
        assert self.type == PUBLISH, self
        size = struct.unpack_from("!H", self.body, 0)[0]
        topic = self.body[2:2 + size].decode()
        offset = 2 + size
        qos = (self.flags >> 1) & 3
        packet_id = None
        if qos:
            packet_id = struct.unpack_from("!H", self.body, offset)[0]
            offset += 2
        properties = {}
        if version == V5:
            properties, offset = decode_properties(self.body, offset)
        return dict(topic=topic, qos=qos, retain=bool(self.flags & 1), dup=bool(self.flags & 8),
                    packet_id=packet_id, properties=properties, payload=self.body[offset:])

    def packet_id(self) -> int:
        return struct.unpack_from("!H", self.body, 0)[0]

    def reason(self) -> int:
        """A 5.0 acknowledgement's reason code (absent = success)."""
        return self.body[2] if len(self.body) > 2 else 0


class RawClient:
    """One TCP connection speaking MQTT bytes written by hand."""

    def __init__(self, port: int, timeout: float = 10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buffer = b""
        self.version = V5

    def send(self, data: bytes):
        self.sock.sendall(data)

    def _fill(self, deadline: float) -> bool:
        """Reads more bytes; False on end of stream (or reset)."""
        remaining = deadline - time.time()
        if remaining <= 0:
            raise TimeoutError("no packet from the server in time")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("no packet from the server in time")
        except (ConnectionResetError, BrokenPipeError):
            return False
        if not chunk:
            return False
        self.buffer += chunk
        return True

    def read_packet(self, timeout: float = 10.0):
        """The next whole packet, or None when the server closed the connection."""
        deadline = time.time() + timeout
        while True:
            if len(self.buffer) >= 2:
                length, shift, index = 0, 0, 1
                complete = False
                while index < len(self.buffer) and index <= 4:
                    byte = self.buffer[index]
                    length |= (byte & 0x7F) << shift
                    shift += 7
                    index += 1
                    if not byte & 0x80:
                        complete = True
                        break
                if complete and len(self.buffer) >= index + length:
                    result = Packet(self.buffer[0], self.buffer[index:index + length])
                    self.buffer = self.buffer[index + length:]
                    return result
            if not self._fill(deadline):
                return None

    def expect(self, packet_type: int, timeout: float = 10.0) -> Packet:
        result = self.read_packet(timeout)
        assert result is not None, f"connection closed while waiting for packet type {packet_type}"
        assert result.type == packet_type, f"expected packet type {packet_type}, got {result!r}"
        return result

    def read_until_closed(self, timeout: float = 15.0):
        """Every packet the server sends until it closes the connection (TimeoutError if it does not)."""
        packets = []
        deadline = time.time() + timeout
        while True:
            result = self.read_packet(max(0.01, deadline - time.time()))
            if result is None:
                return packets
            packets.append(result)

    def connect(self, client_id: str, version: int = V5, **kwargs):
        """Sends CONNECT and returns the CONNACK as (session_present, code, properties)."""
        self.version = version
        self.send(connect_packet(client_id, version=version, **kwargs))
        session_present, code, properties = self.expect(CONNACK).connack(version)
        assert code == 0, f"CONNECT of {client_id} refused with {code:#x}"
        return session_present, code, properties

    def subscribe(self, topic_filter: str, qos: int = 1, packet_id: int = 1, options=None, properties=()):
        self.send(subscribe_packet(packet_id, [(topic_filter, qos if options is None else options)], self.version, properties))
        suback = self.expect(SUBACK)
        assert suback.packet_id() == packet_id
        return suback

    def publish(self, topic, payload, qos: int = 1, packet_id: int = 1, retain: bool = False, properties=()):
        """Publishes and, at QoS 1, waits for the PUBACK (returning it)."""
        self.send(publish_packet(topic, payload, qos=qos, packet_id=packet_id if qos else None, retain=retain,
                                 version=self.version, properties=properties))
        if qos == 1:
            ack = self.expect(PUBACK)
            assert ack.packet_id() == packet_id
            return ack
        return None

    def kill(self):
        """Drops the connection with a TCP reset: no DISCONNECT, no FIN handshake."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.sock.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# --- paho-mqtt --------------------------------------------------------------------------------------------

def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class Client:
    """A paho-mqtt client with its network loop in a thread, and methods that wait for the broker's
    answer. `messages` holds every paho MQTTMessage received, in arrival order."""

    def __init__(self, port: int, client_id=None, version: int = V5, transport: str = "tcp", clean: bool = True,
                 session_expiry=None, topic_alias_maximum=None, username=None, will=None, keepalive: int = 30,
                 tls=None):
        """`tls`: paho's tls_set arguments (ca_certs, certfile, keyfile) for a TLS listener."""
        self.client_id = client_id if client_id is not None else unique("paho")
        self.version = version
        self.port = port
        self.clean = clean
        self.keepalive = keepalive
        self.session_expiry = session_expiry
        self.topic_alias_maximum = topic_alias_maximum
        protocol = mqtt.MQTTv5 if version == V5 else mqtt.MQTTv311
        self.paho = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=protocol, transport=transport,
            clean_session=None if version == V5 else clean, reconnect_on_failure=False)
        if transport == "websockets":
            self.paho.ws_set_options(path="/mqtt")
        if tls is not None:
            self.paho.tls_set(**tls)
        if username is not None:
            self.paho.username_pw_set(username)
        if will is not None:
            self.paho.will_set(will["topic"], will.get("payload"), will.get("qos", 0), will.get("retain", False),
                               will.get("properties"))
        self.paho.max_inflight_messages_set(100)
        self.condition = threading.Condition()
        self.messages = []
        self.connack = None
        self.disconnected = None
        self.subacks = {}
        self.paho.on_connect = self._on_connect
        self.paho.on_message = self._on_message
        self.paho.on_disconnect = self._on_disconnect
        self.paho.on_subscribe = self._on_subscribe

    # Callbacks run on paho's thread.
    def _on_connect(self, client, userdata, flags, reason_code, properties):
        with self.condition:
            self.connack = (flags.session_present, reason_code, properties)
            self.condition.notify_all()

    def _on_message(self, client, userdata, message):
        with self.condition:
            self.messages.append(message)
            self.condition.notify_all()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        with self.condition:
            self.disconnected = reason_code
            self.condition.notify_all()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        with self.condition:
            self.subacks[mid] = reason_codes
            self.condition.notify_all()

    def wait(self, predicate, timeout: float = 15.0, what: str = "condition"):
        with self.condition:
            if not self.condition.wait_for(predicate, timeout):
                raise AssertionError(f"{self.client_id}: timed out after {timeout}s waiting for {what}; "
                                     f"received {[(m.topic, m.payload[:40]) for m in self.messages][-20:]}")

    def connect(self, timeout: float = 15.0):
        """Connects; returns session_present. Fails unless the CONNACK is a success."""
        properties = None
        if self.version == V5:
            properties = Properties(PacketTypes.CONNECT)
            if self.session_expiry:
                properties.SessionExpiryInterval = self.session_expiry
            if self.topic_alias_maximum:
                properties.TopicAliasMaximum = self.topic_alias_maximum
            self.paho.connect("127.0.0.1", self.port, self.keepalive, clean_start=self.clean, properties=properties)
        else:
            self.paho.connect("127.0.0.1", self.port, self.keepalive)
        self.paho.loop_start()
        self.wait(lambda: self.connack is not None or self.disconnected is not None, timeout, "CONNACK")
        assert self.connack is not None, f"{self.client_id}: connection closed before CONNACK ({self.disconnected})"
        session_present, reason_code, _ = self.connack
        assert not reason_code.is_failure, f"{self.client_id}: CONNECT refused: {reason_code}"
        return session_present

    def subscribe(self, topic_filter: str, qos: int = 1, no_local=False, retain_as_published=False,
                  retain_handling=0, subscription_identifier=None, timeout: float = 15.0):
        if self.version == V5:
            properties = None
            if subscription_identifier is not None:
                properties = Properties(PacketTypes.SUBSCRIBE)
                properties.SubscriptionIdentifier = subscription_identifier
            options = SubscribeOptions(qos=qos, noLocal=no_local, retainAsPublished=retain_as_published,
                                       retainHandling=retain_handling)
            result, mid = self.paho.subscribe(topic_filter, options=options, properties=properties)
        else:
            result, mid = self.paho.subscribe(topic_filter, qos)
        assert result == mqtt.MQTT_ERR_SUCCESS, result
        self.wait(lambda: mid in self.subacks, timeout, f"SUBACK for {topic_filter}")
        codes = self.subacks[mid]
        assert all(not code.is_failure for code in codes), f"subscription to {topic_filter} refused: {codes}"
        return codes

    def publish(self, topic: str, payload, qos: int = 1, retain: bool = False, properties=None, timeout: float = 15.0):
        """Publishes and waits until paho saw the acknowledgement (QoS 1 PUBACK, QoS 2 PUBCOMP) or, at
        QoS 0, wrote the packet."""
        info = self.paho.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        info.wait_for_publish(timeout)
        assert info.is_published(), f"{self.client_id}: publish to {topic} not acknowledged within {timeout}s"
        return info

    def wait_messages(self, count: int, timeout: float = 15.0, topic=None):
        """Waits for at least `count` messages (on `topic` when given); returns those messages."""
        def matching():
            return [m for m in self.messages if topic is None or m.topic == topic]
        self.wait(lambda: len(matching()) >= count, timeout, f"{count} messages" + (f" on {topic}" if topic else ""))
        with self.condition:
            return matching()

    def payloads(self, topic=None):
        with self.condition:
            return [m.payload for m in self.messages if topic is None or m.topic == topic]

    def disconnect(self):
        """A clean DISCONNECT, then the loop stops."""
        self.paho.disconnect()
        self.wait(lambda: self.disconnected is not None, 15.0, "disconnect")
        self.paho.loop_stop()

    def close(self):
        """Best-effort cleanup for finally blocks."""
        try:
            if self.paho.is_connected():
                self.paho.disconnect()
        except Exception:
            pass
        try:
            self.paho.loop_stop()
        except Exception:
            pass


def round_trip(port: int, version: int = V5, timeout: float = 15.0):
    """A fresh, well-behaved client subscribes and gets its own QoS 1 message back: the broker still serves."""
    client = Client(port, version=version)
    try:
        client.connect(timeout)
        topic = f"health/{client.client_id}"
        client.subscribe(topic, qos=1)
        client.publish(topic, b"still-alive", qos=1)
        assert client.wait_messages(1, timeout, topic=topic)[0].payload == b"still-alive"
        client.disconnect()
    finally:
        client.close()


def publish_properties(**values) -> Properties:
    properties = Properties(PacketTypes.PUBLISH)
    for name, value in values.items():
        setattr(properties, name, value)
    return properties


def will_properties(**values) -> Properties:
    properties = Properties(PacketTypes.WILLMESSAGE)
    for name, value in values.items():
        setattr(properties, name, value)
    return properties


# --- Kafka side -----------------------------------------------------------------------------------------

def consume(bootstrap: str, topic: str, count: int, timeout: float = 60.0, partitions=None, security=None):
    """Reads the topic from the beginning of every partition until `count` records came (or the time is
    up); returns confluent-kafka Messages. Without a group: nothing is committed. `security`: librdkafka
    settings (security.protocol, ssl.*, sasl.*)."""
    from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": unique("interop"), "enable.auto.commit": False,
        "topic.metadata.refresh.interval.ms": 1000, "fetch.wait.max.ms": 100, **(security or {}),
    })
    records = []
    deadline = time.time() + timeout
    try:
        if partitions is None:
            while True:
                metadata = consumer.list_topics(topic, timeout=10)
                info = metadata.topics.get(topic)
                if info is not None and info.error is None and info.partitions:
                    partitions = sorted(info.partitions)
                    break
                if time.time() > deadline:
                    raise AssertionError(f"topic {topic} does not exist")
                time.sleep(0.2)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        while len(records) < count and time.time() < deadline:
            for message in consumer.consume(num_messages=10000, timeout=0.5):
                if message.error() is None:
                    records.append(message)
        return records
    finally:
        consumer.close()


def headers_of(record) -> dict:
    return {key: value for key, value in (record.headers() or [])}


def kcat_events(bootstrap: str, topic: str = "mqtt.events"):
    """Every record of the events topic, read with kcat -J: list of (key, decoded JSON payload)."""
    result = subprocess.run(["kcat", "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-J", "-q"],
                            capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        return []
    events = []
    for line in result.stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        record = json.loads(line)
        try:
            payload = json.loads(record.get("payload") or "null")
        except ValueError:
            payload = record.get("payload")
        events.append((record.get("key"), payload))
    return events


def wait_for_events(bootstrap: str, predicate, timeout: float = 60.0, topic: str = "mqtt.events"):
    """Polls the events topic with kcat until `predicate(events)` holds; returns the events."""
    deadline = time.time() + timeout
    events = []
    while time.time() < deadline:
        events = kcat_events(bootstrap, topic)
        if predicate(events):
            return events
        time.sleep(0.5)
    raise AssertionError(f"events never matched; last read: {events[-30:]}")


# --- A server shared by one test module -----------------------------------------------------------------

class LogWindow:
    """Shows the part of a shared server's log written during one test (pytest prints it on failure)."""

    def __init__(self, server):
        self.server = server
        self.start = server.log_path.stat().st_size if server.log_path.exists() else 0

    def dump(self):
        if not self.server.log_path.exists():
            return
        with open(self.server.log_path, "rb") as file:
            file.seek(self.start)
            lines = file.read().decode(errors="replace").splitlines()
        print(f"--- {self.server.log_path.name} during this test (last 150 lines) ---")
        print("\n".join(lines[-150:]))


def write_config(path, text: str) -> str:
    """Writes a YAML config file; returns its path as text for --config."""
    path.write_text(text)
    return str(path)


def wait_until(predicate, timeout: float = 15.0, what: str = "condition", interval: float = 0.05):
    """Polls `predicate` (for state spread over several clients, where no single condition variable waits)."""
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def end_offsets(bootstrap: str, topic: str, timeout: float = 30.0) -> dict:
    """{partition: high watermark} of a topic (waits for the topic to exist)."""
    from confluent_kafka import Consumer, TopicPartition
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("watermarks"), "enable.auto.commit": False})
    deadline = time.time() + timeout
    try:
        while True:
            info = consumer.list_topics(topic, timeout=10).topics.get(topic)
            if info is not None and info.error is None and info.partitions:
                return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                        for p in sorted(info.partitions)}
            if time.time() > deadline:
                raise AssertionError(f"topic {topic} does not exist")
            time.sleep(0.2)
    finally:
        consumer.close()


# --- asyncio raw MQTT, for many devices at once -----------------------------------------------------------

async def read_packet_async(reader):
    """The next packet from an asyncio stream, or None when it ended."""
    import asyncio
    try:
        first = await reader.readexactly(1)
        length, shift = 0, 0
        while True:
            byte = (await reader.readexactly(1))[0]
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        body = await reader.readexactly(length)
    except (asyncio.IncompleteReadError, ConnectionError, OSError):
        return None
    return Packet(first[0], body)


async def publish_stream(port: int, client_id: str, topic: str, count: int, version: int = V311, window: int = 64,
                         acked=None, payload=lambda seq: str(seq).encode()):
    """One device: CONNECT, then `count` QoS 1 PUBLISHes with at most `window` unacknowledged, each
    payload from `payload(seq)`. Appends the seq of every PUBACK (success) to `acked`; returns the number
    acknowledged. Stops early, without raising, when the server goes away."""
    import asyncio
    acked = [] if acked is None else acked
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return 0
    writer.write(connect_packet(client_id, version=version, keepalive=300))
    connack = await read_packet_async(reader)
    if connack is None:
        writer.close()
        return 0
    assert connack.type == CONNACK and connack.connack(version)[1] == 0, f"{client_id}: CONNECT refused: {connack!r}"
    credits = asyncio.Semaphore(window)
    state = {"acks": 0, "closed": False, "failures": []}

    async def read_acks():
        while state["acks"] < count:
            received = await read_packet_async(reader)
            if received is None:
                break
            if received.type != PUBACK:
                if received.type == DISCONNECT:
                    state["failures"].append(f"DISCONNECT {received.disconnect_reason():#x}")
                    break
                continue
            if version == V5 and received.reason() >= 0x80:
                state["failures"].append(f"PUBACK reason {received.reason():#x}")
            else:
                acked.append(received.packet_id() - 1)
            state["acks"] += 1
            credits.release()
        state["closed"] = True
        for _ in range(window + 1):
            credits.release()

    reader_task = asyncio.create_task(read_acks())
    try:
        for seq in range(count):
            await credits.acquire()
            if state["closed"]:
                break
            writer.write(publish_packet(topic, payload(seq), qos=1, packet_id=seq + 1, version=version))
            if seq % 16 == 15:
                await writer.drain()
        await writer.drain()
    except (ConnectionError, OSError):
        pass
    await reader_task
    assert not state["failures"], f"{client_id}: {state['failures'][:5]}"
    try:
        if not state["closed"] or state["acks"] == count:
            writer.write(disconnect_packet(version))
            await writer.drain()
        writer.close()
    except (ConnectionError, OSError):
        pass
    return state["acks"]
