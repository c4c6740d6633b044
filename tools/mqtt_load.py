#!/usr/bin/env python3
"""MQTT load measurements for the notes (not a test): memory per idle connection and the QoS 1 publish
rate of many devices, against a running broker.

  tools/mqtt_load.py idle --port 1883 --connections 10000 --pid <broker pid>
  tools/mqtt_load.py publish --port 1883 --devices 100 --messages 1000 --inflight 10 [--json]

Raw MQTT 3.1.1 over asyncio, so that the client is not the bottleneck that paho would be.
"""
import argparse
import asyncio
import resource
import struct
import time


def remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n % 128
        n //= 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def utf8(text: str) -> bytes:
    data = text.encode()
    return struct.pack("!H", len(data)) + data


def connect_packet(client_id: str, keepalive: int = 0) -> bytes:
    body = utf8("MQTT") + bytes([4, 0x02]) + struct.pack("!H", keepalive) + utf8(client_id)
    return bytes([0x10]) + remaining_length(len(body)) + body


def publish_packet(topic: str, packet_id: int, payload: bytes) -> bytes:
    body = utf8(topic) + struct.pack("!H", packet_id) + payload
    return bytes([0x32]) + remaining_length(len(body)) + body


async def read_packet(reader: asyncio.StreamReader):
    first = (await reader.readexactly(1))[0]
    multiplier, length = 1, 0
    while True:
        byte = (await reader.readexactly(1))[0]
        length += (byte & 0x7F) * multiplier
        multiplier *= 128
        if not byte & 0x80:
            break
    return first, await reader.readexactly(length)


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def idle(args):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    before = rss_kib(args.pid) if args.pid else None
    connections = []
    started = time.monotonic()
    for batch_start in range(0, args.connections, 500):
        async def one(index):
            reader, writer = await asyncio.open_connection(args.host, args.port)
            writer.write(connect_packet(f"idle-{index}"))
            kind, body = await read_packet(reader)
            assert kind == 0x20 and body[1] == 0, (kind, body)
            return reader, writer
        connections += await asyncio.gather(*(one(i) for i in range(batch_start, min(args.connections, batch_start + 500))))
    elapsed = time.monotonic() - started
    await asyncio.sleep(2)
    after = rss_kib(args.pid) if args.pid else None
    print(f"{len(connections)} connections in {elapsed:.1f} s ({len(connections) / elapsed:.0f}/s)")
    if before is not None:
        print(f"broker RSS {before} KiB -> {after} KiB: {(after - before) * 1024 / len(connections):.0f} bytes per idle connection")
    for _, writer in connections:
        writer.close()


async def publish(args):
    payload = b"x" * args.size
    if args.json:
        payload = (b'{"temperature":104.5,"humidity":41,"pressure":1013.2,"battery":87,"status":"charging",'
                   b'"site":"north-7","firmware":"2.4.1","uptime":123456,"alarms":[],"location":{"lat":52.52,"lon":13.405}}')
    latencies = []

    async def device(index):
        reader, writer = await asyncio.open_connection(args.host, args.port)
        writer.write(connect_packet(f"load-device-{index}"))
        kind, body = await read_packet(reader)
        assert kind == 0x20 and body[1] == 0
        window = asyncio.Semaphore(args.inflight)
        sent_at = {}
        done = asyncio.Event()
        acked = 0

        async def acks():
            nonlocal acked
            while acked < args.messages:
                kind, body = await read_packet(reader)
                if kind & 0xF0 == 0x40:
                    packet_id = struct.unpack("!H", body[:2])[0]
                    latencies.append(time.monotonic() - sent_at.pop(packet_id))
                    acked += 1
                    window.release()
            done.set()

        reader_task = asyncio.create_task(acks())
        for sequence in range(args.messages):
            await window.acquire()
            packet_id = sequence % 65535 + 1
            sent_at[packet_id] = time.monotonic()
            writer.write(publish_packet(f"devices/{index}/telemetry", packet_id, payload))
            await writer.drain()
        await done.wait()
        await reader_task
        writer.close()

    started = time.monotonic()
    await asyncio.gather(*(device(i) for i in range(args.devices)))
    elapsed = time.monotonic() - started
    total = args.devices * args.messages
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000
    print(f"{total} QoS 1 publishes from {args.devices} devices in {elapsed:.2f} s: {total / elapsed:.0f} msg/s; "
          f"PUBACK latency p50 {pick(0.5):.1f} ms p99 {pick(0.99):.1f} ms max {latencies[-1] * 1000:.1f} ms")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["idle", "publish"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--pid", type=int)
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--inflight", type=int, default=10)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--json", action="store_true", help="publish a 188-byte JSON telemetry payload instead of --size bytes")
    args = parser.parse_args()
    asyncio.run(idle(args) if args.mode == "idle" else publish(args))


if __name__ == "__main__":
    main()
