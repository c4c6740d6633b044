"""A full disk, on a small tmpfs the test mounts: produce gets a prompt KAFKA_STORAGE_ERROR and MQTT QoS 1 a
0x83 PUBACK; acknowledged data stays readable; DeleteRecords frees space; appends resume by themselves when
space returns; after a restart nothing acknowledged is missing and no partial batch is left."""
import os
import shutil
import subprocess
import time
import uuid

import confluent_kafka
import pytest
from confluent_kafka.admin import AdminClient, NewTopic

import mqtt_helpers
from test_kafka_clients import consume_assigned

FILESYSTEM_BYTES = 64 << 20
SEGMENT_BYTES = 1 << 20


@pytest.fixture
def small_filesystem(tmp_path):
    """A 64 MiB tmpfs mounted for the test (root only); skipped with the reason where mounting is refused."""
    mountpoint = tmp_path / "small"
    mountpoint.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={FILESYSTEM_BYTES}", "tmpfs", str(mountpoint)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({result.stderr.strip() or 'mount failed'}): the full-disk test needs root")
    yield mountpoint
    subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True)


def produce_one(producer, topic, value):
    """Produces one record and waits for its report: (offset, None) or (None, error)."""
    outcome = {}

    def delivered(error, message):
        outcome["error"] = error
        outcome["offset"] = None if error else message.offset()

    producer.produce(topic, value=value, partition=0, on_delivery=delivered)
    producer.flush(30)
    return outcome.get("offset"), outcome.get("error")


def test_a_full_disk_refuses_promptly_keeps_data_readable_and_recovers(server_factory, small_filesystem):
    server = server_factory(name="data")
    server.data = small_filesystem / "data"
    server.log_path = small_filesystem.parent / "server.log"
    server.start()
    admin = AdminClient({"bootstrap.servers": server.bootstrap})
    for future in admin.create_topics([NewTopic("filling", 1, 1, config={"segment.bytes": str(SEGMENT_BYTES)})]).values():
        future.result()
    # No retries: the test wants to see the broker's answer, not the client's patience.
    producer = confluent_kafka.Producer({"bootstrap.servers": server.bootstrap, "linger.ms": 0, "retries": 0,
                                         "message.timeout.ms": 30_000, "acks": "all"})
    acknowledged = []
    refused = None
    value = os.urandom(32 * 1024)
    started = time.monotonic()
    for index in range(4000):
        offset, error = produce_one(producer, "filling", b"%06d" % index + value)
        if error is not None:
            refused = error
            break
        acknowledged.append(offset)
    assert refused is not None, "the filesystem never filled up"
    # A prompt, typed answer: KAFKA_STORAGE_ERROR, not a timeout.
    assert refused.code() == confluent_kafka.KafkaError.KAFKA_STORAGE_ERROR, refused
    assert time.monotonic() - started < 120
    assert server.is_running()
    assert "append refused by storage" in server.log()

    # MQTT QoS 1 publishes are answered 0x83 (implementation specific error), not dropped.
    client = mqtt_helpers.RawClient(server.mqtt_port)
    client.connect("full-disk-device")
    ack = client.publish("devices/d1/telemetry", value, qos=1, packet_id=7)
    assert ack.reason() == 0x83
    client.close()

    # Everything acknowledged stays readable.
    messages = consume_assigned(server.bootstrap, "filling", [0], expected_total=len(acknowledged), timeout=60)
    assert [m.offset() for m in messages] == acknowledged

    # DeleteRecords frees space, and appends resume without a restart.
    half = acknowledged[len(acknowledged) // 2]
    result = admin.delete_records([confluent_kafka.TopicPartition("filling", 0, half)])
    low = list(result.values())[0].result()
    assert low.low_watermark == half
    resumed = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        offset, error = produce_one(producer, "filling", b"after-" + value)
        if error is None:
            resumed = offset
            break
        time.sleep(0.5)
    assert resumed is not None, "appends did not resume after space was freed"
    assert resumed == acknowledged[-1] + 1, "an offset was skipped or reused"

    # After a restart: every record acknowledged after the deletion point is there, once, and no torn batch
    # was left behind (recovery has nothing to cut).
    assert server.stop() == 0
    server.start()
    assert "recovery cut a torn segment tail" not in server.log()
    expected = [offset for offset in acknowledged if offset >= half] + [resumed]
    messages = consume_assigned(server.bootstrap, "filling", [0], expected_total=len(expected), timeout=60)
    assert [m.offset() for m in messages] == expected
