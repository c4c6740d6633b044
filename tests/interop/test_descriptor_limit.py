"""Running out of file descriptors: a flood of MQTT connections against a server whose descriptor limit
is small. The server stops accepting near the limit (and says so once), keeps room for Kafka clients and
for storage (segment rolls, new topics, checkpoints), serves existing connections, accepts again once
connections close, and never dies."""
import os
import socket
import stat
import time

import confluent_kafka
from confluent_kafka.admin import AdminClient, NewTopic

import mqtt_helpers
from test_kafka_clients import consume_assigned

LIMIT = 2048


def limited(binary, workdir):
    """A wrapper that runs the server with RLIMIT_NOFILE at LIMIT (soft and hard)."""
    wrapper = workdir / "tributary-limited"
    wrapper.write_text(f"#!/bin/sh\nexec prlimit --nofile={LIMIT}:{LIMIT} {binary} \"$@\"\n")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    return wrapper


def open_mqtt(port, count):
    """Opens up to `count` MQTT connections with a CONNECT each; returns the sockets still open."""
    sockets = []
    for index in range(count):
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(mqtt_helpers.connect_packet(f"flood-{index}", version=mqtt_helpers.V311))
            sockets.append(sock)
        except OSError:
            pass
    return sockets


def test_a_descriptor_flood_is_refused_at_the_door(server_factory, workdir, tributary_binary):
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 4096), max(hard, 4096)))
    server = server_factory("--log-retention-check-interval-ms", "1000")
    server.binary = limited(tributary_binary, workdir)
    server.start()
    admin = AdminClient({"bootstrap.servers": server.bootstrap})
    for future in admin.create_topics([NewTopic("before", 1, 1, config={"segment.bytes": "16384"})]).values():
        future.result()
    producer = confluent_kafka.Producer({"bootstrap.servers": server.bootstrap, "linger.ms": 0, "batch.num.messages": 1})

    flood = open_mqtt(server.mqtt_port, 2 * LIMIT)
    time.sleep(2)
    assert server.is_running()
    # The server holds fewer descriptors than its limit (the rest of the flood waits in the kernel's
    # backlog or was closed at the door).
    in_use = len(os.listdir(f"/proc/{server.process.pid}/fd"))
    assert in_use < LIMIT - 32, f"{in_use} descriptors in use of {LIMIT}"

    # Kafka clients still get in, and storage still opens files: segments roll, new topics are created.
    fresh_admin = AdminClient({"bootstrap.servers": server.bootstrap})
    for future in fresh_admin.create_topics([NewTopic(f"during-{index}", 2, 1) for index in range(5)]).values():
        future.result(timeout=30)
    for index in range(300):
        producer.produce("before", value=b"x" * 500 + b"%d" % index, partition=0)
    assert producer.flush(30) == 0
    assert len(list((server.data / "before-0").glob("*.log"))) > 3
    messages = consume_assigned(server.bootstrap, "before", [0], expected_total=300)
    assert len(messages) == 300
    time.sleep(3)  # maintenance passes (checkpoints) run under the pressure
    assert server.is_running()
    log = server.log()
    assert log.count("refusing new connections near the descriptor limit") <= 3
    assert "refusing new connections near the descriptor limit" in log

    # Once connections close, new ones are accepted again.
    for sock in flood:
        sock.close()
    time.sleep(1)
    client = mqtt_helpers.RawClient(server.mqtt_port)
    client.connect("after-the-flood")
    client.close()
    assert server.is_running()
    assert server.stop() == 0
