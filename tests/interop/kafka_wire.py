"""Hand-made Kafka protocol frames for tests that must send what no client library would: malformed
input, exact duplicates, stale generations. Non-flexible request versions only (header v1), which keeps
the encoding to big-endian integers and int16/int32-prefixed strings and bytes."""
import socket
import struct


# --- encoding ---------------------------------------------------------------------------------------

def int8(value): return struct.pack(">b", value)
def int16(value): return struct.pack(">h", value)
def int32(value): return struct.pack(">i", value)
def int64(value): return struct.pack(">q", value)
def uint32(value): return struct.pack(">I", value)


def string(value):
    if value is None:
        return int16(-1)
    data = value.encode()
    return int16(len(data)) + data


def bytes_(value):
    if value is None:
        return int32(-1)
    return int32(len(value)) + value


def array(items, encode):
    if items is None:
        return int32(-1)
    return int32(len(items)) + b"".join(encode(item) for item in items)


def request(api_key, version, body, correlation_id=1, client_id="tests", flexible_header=False):
    """A complete request frame: size prefix, header v1 (v2 with an empty tagged-field section when
    `flexible_header`), body."""
    payload = int16(api_key) + int16(version) + int32(correlation_id) + string(client_id)
    if flexible_header:
        payload += b"\x00"
    payload += body
    return int32(len(payload)) + payload


# --- decoding ---------------------------------------------------------------------------------------

class Reader:
    def __init__(self, data):
        self.data = data
        self.position = 0

    def take(self, count):
        chunk = self.data[self.position:self.position + count]
        if len(chunk) != count:
            raise ValueError(f"truncated: wanted {count} bytes at {self.position}, have {len(self.data) - self.position}")
        self.position += count
        return chunk

    def int8(self): return struct.unpack(">b", self.take(1))[0]
    def int16(self): return struct.unpack(">h", self.take(2))[0]
    def int32(self): return struct.unpack(">i", self.take(4))[0]
    def int64(self): return struct.unpack(">q", self.take(8))[0]

    def string(self):
        length = self.int16()
        return None if length < 0 else self.take(length).decode()

    def bytes_(self):
        length = self.int32()
        return None if length < 0 else self.take(length)

    def array(self, decode):
        count = self.int32()
        return None if count < 0 else [decode(self) for _ in range(count)]

    @property
    def remaining(self):
        return len(self.data) - self.position


class Connection:
    """One TCP connection speaking raw frames."""

    def __init__(self, address, timeout=10.0, tls=None):
        """`tls`: an ssl.SSLContext for a TLS listener (the handshake happens here)."""
        host, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        if tls is not None:
            self.sock = tls.wrap_socket(self.sock, server_hostname=host)
        self.correlation_id = 0

    def send(self, api_key, version, body, flexible_header=False):
        self.correlation_id += 1
        self.sock.sendall(request(api_key, version, body, self.correlation_id, flexible_header=flexible_header))
        return self.correlation_id

    def send_raw(self, data):
        self.sock.sendall(data)

    def receive(self):
        """The next response: (correlation id, Reader over the body after the v0 response header)."""
        size = struct.unpack(">i", self._exactly(4))[0]
        body = self._exactly(size)
        reader = Reader(body)
        return reader.int32(), reader

    def call(self, api_key, version, body, flexible_header=False):
        sent = self.send(api_key, version, body, flexible_header=flexible_header)
        correlation_id, reader = self.receive()
        assert correlation_id == sent, f"response for {correlation_id}, expected {sent}"
        return reader

    def is_closed_by_peer(self, timeout=10.0):
        """True when the server closes the connection (EOF or reset) within `timeout`."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def _exactly(self, count):
        data = bytearray()
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            if not chunk:
                raise ConnectionError("closed by the server")
            data.extend(chunk)
        return bytes(data)

    def close(self):
        self.sock.close()


# --- record batches (magic 2) -----------------------------------------------------------------------

def _crc32c_table():
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc32c_table()


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def varint(value):
    value = (value << 1) ^ (value >> 63)
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def records_body(values, key=b"k"):
    """The records of a v2 batch, one per value, uncompressed."""
    records = b""
    for index, value in enumerate(values):
        body = int8(0) + varint(0) + varint(index) + varint(len(key)) + key + varint(len(value)) + value + varint(0)
        records += varint(len(body)) + body
    return records


def record_batch(values, key=b"k", producer_id=-1, producer_epoch=-1, base_sequence=-1, timestamp=1_700_000_000_000, corrupt_crc=False):
    """An uncompressed v2 batch with one record per value."""
    return raw_batch(records_body(values, key), len(values), producer_id=producer_id, producer_epoch=producer_epoch,
                     base_sequence=base_sequence, timestamp=timestamp, corrupt_crc=corrupt_crc)


def raw_batch(body, count, codec=0, producer_id=-1, producer_epoch=-1, base_sequence=-1, timestamp=1_700_000_000_000, corrupt_crc=False):
    """A v2 batch around `body` (records, already compressed with `codec` when it is not 0) that declares
    `count` records; the CRC is correct unless `corrupt_crc`."""
    after_crc = (int16(codec) + int32(count - 1) + int64(timestamp) + int64(timestamp) + int64(producer_id)
                 + int16(producer_epoch) + int32(base_sequence) + int32(count) + body)
    crc = crc32c(after_crc) ^ (0xFFFFFFFF if corrupt_crc else 0)
    batch_length = 4 + 1 + 4 + len(after_crc)  # leader epoch, magic, crc, rest
    return int64(0) + int32(batch_length) + int32(0) + int8(2) + uint32(crc) + after_crc


def produce_v3(topic, partition, batch, acks=-1, timeout_ms=30_000):
    """A Produce v3 body for one partition."""
    return string(None) + produce_v2(topic, partition, batch, acks, timeout_ms)


def produce_v2(topic, partition, batch, acks=-1, timeout_ms=30_000):
    """A Produce v0-v2 body (no transactional id) for one partition."""
    return (int16(acks) + int32(timeout_ms)
            + array([topic], lambda name: string(name) + array([partition], lambda index: int32(index) + bytes_(batch))))


def parse_produce_v3(reader):
    """[(topic, partition, error code, base offset)] of a Produce v3 response."""
    results = []
    for _ in range(reader.int32()):
        topic = reader.string()
        for _ in range(reader.int32()):
            partition = reader.int32()
            error = reader.int16()
            base_offset = reader.int64()
            reader.int64()  # log append time
            results.append((topic, partition, error, base_offset))
    return results
