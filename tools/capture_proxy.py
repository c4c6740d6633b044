#!/usr/bin/env python3
"""A recording TCP proxy for the Kafka protocol.

Listens on --listen, forwards every connection to --upstream, and writes each request frame a client sends
(without the 4-byte size prefix) to --output as
    <NNNN>-<ApiName>-v<version>.bin
in arrival order. Responses pass through untouched. Run the upstream broker with its advertised address set
to the proxy's, so that clients keep talking through the proxy after Metadata.

Used by tools/capture-fixtures.sh to record what real clients send; the recordings are committed as test
fixtures (Tests/KafkaProtocolTests/Fixtures/captured) and decoded by the Swift tests.
"""
import argparse
import itertools
import os
import socket
import struct
import threading

API_NAMES = {
    0: "Produce", 1: "Fetch", 2: "ListOffsets", 3: "Metadata", 8: "OffsetCommit", 9: "OffsetFetch",
    10: "FindCoordinator", 11: "JoinGroup", 12: "Heartbeat", 13: "LeaveGroup", 14: "SyncGroup",
    15: "DescribeGroups", 16: "ListGroups", 18: "ApiVersions", 19: "CreateTopics", 20: "DeleteTopics",
    21: "DeleteRecords", 22: "InitProducerId", 23: "OffsetForLeaderEpoch", 32: "DescribeConfigs",
    33: "AlterConfigs", 35: "DescribeLogDirs", 37: "CreatePartitions", 42: "DeleteGroups",
    44: "IncrementalAlterConfigs", 47: "OffsetDelete", 60: "DescribeCluster", 61: "DescribeProducers",
    75: "DescribeTopicPartitions",
}

counter = itertools.count()
counter_lock = threading.Lock()


def recv_exactly(sock, size):
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data.extend(chunk)
    return bytes(data)


def client_to_upstream(client, upstream, output):
    try:
        while True:
            prefix = recv_exactly(client, 4)
            if prefix is None:
                break
            (size,) = struct.unpack(">i", prefix)
            frame = recv_exactly(client, size)
            if frame is None:
                break
            api_key, version = struct.unpack(">hh", frame[:4])
            with counter_lock:
                sequence = next(counter)
            name = API_NAMES.get(api_key, f"Api{api_key}")
            with open(os.path.join(output, f"{sequence:04d}-{name}-v{version}.bin"), "wb") as file:
                file.write(frame)
            upstream.sendall(prefix + frame)
    except OSError:
        pass
    finally:
        for sock in (client, upstream):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def upstream_to_client(upstream, client):
    try:
        while True:
            data = upstream.recv(65536)
            if not data:
                break
            client.sendall(data)
    except OSError:
        pass
    finally:
        try:
            client.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listen", required=True, help="HOST:PORT to accept clients on")
    parser.add_argument("--upstream", required=True, help="HOST:PORT of the broker")
    parser.add_argument("--output", required=True, help="folder for the recorded frames")
    arguments = parser.parse_args()
    os.makedirs(arguments.output, exist_ok=True)
    listen_host, listen_port = arguments.listen.rsplit(":", 1)
    upstream_host, upstream_port = arguments.upstream.rsplit(":", 1)
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((listen_host, int(listen_port)))
    server.listen(64)
    print(f"capture proxy on {arguments.listen} -> {arguments.upstream}, writing to {arguments.output}", flush=True)
    while True:
        client, _ = server.accept()
        upstream = socket.create_connection((upstream_host, int(upstream_port)))
        threading.Thread(target=client_to_upstream, args=(client, upstream, arguments.output), daemon=True).start()
        threading.Thread(target=upstream_to_client, args=(upstream, client), daemon=True).start()


if __name__ == "__main__":
    main()
