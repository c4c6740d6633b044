"""Go clients against the real binary: Shopify's sarama (Debian's golang-github-shopify-sarama-dev, 1.22)
and segmentio's kafka-go (golang-github-segmentio-kafka-go-dev, 0.2.1).

The client programs are in go/ (go/sarama, go/kafkago). They are built once per session, offline, in GOPATH
mode against the sources Debian installs under /usr/share/gocode (no module proxy, no network), take the
broker address, topic and counts as flags, print one JSON object on stdout and exit non-zero with the
reason on any error or when their own deadline passes.

sarama 1.22 with Version V2_1_0_0 produces with Produce v3 (record batches, magic 2, whose header
maxTimestamp is -1: it never fills it in) and fetches with Fetch v4. kafka-go 0.2.1 only speaks Produce v2
and Fetch v2 (message format v0/v1), which this broker refuses as Kafka 4 does (KIP-896): its tests check
the parts that work (Metadata, ListOffsets, the group protocol with offset commits) and that the refusals
are clean.
"""
import json
import os
import pathlib
import shutil
import signal
import subprocess
import tempfile
import time

import confluent_kafka
import pytest
from confluent_kafka.admin import AdminClient, NewTopic

GO_SOURCES = pathlib.Path(__file__).resolve().parent / "go"
GOCODE = pathlib.Path("/usr/share/gocode")
GO_PROGRAMS = {
    "sarama": ("sarama", "github.com/Shopify/sarama", "golang-github-shopify-sarama-dev"),
    "kafkago": ("kafkago", "github.com/segmentio/kafka-go", "golang-github-segmentio-kafka-go-dev"),
}


def go_environment(root: pathlib.Path) -> dict:
    """An environment for an offline GOPATH-mode build against Debian's Go sources."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(root),
        "TMPDIR": str(root),
        "GOPATH": f"{root / 'gopath'}:{GOCODE}",
        "GO111MODULE": "off",
        "GOFLAGS": "-buildvcs=false",
        "GOCACHE": str(root / "cache"),
        "GOPROXY": "off",
        "GOENV": "off",
        "GOTOOLCHAIN": "local",
        "CGO_ENABLED": "1",  # sarama's zstd codec is github.com/DataDog/zstd over libzstd
        "CGO_CFLAGS": "-g -O2 -Wno-deprecated-declarations",
    }


@pytest.fixture(scope="session")
def go_clients():
    """Builds the Go client programs once per session; skips only when there is no Go toolchain."""
    go = shutil.which("go")
    if go is None:
        pytest.skip("no Go toolchain (`go` not on PATH): install the Debian packages golang-go, "
                    "golang-github-shopify-sarama-dev and golang-github-segmentio-kafka-go-dev")
    missing = [f"{package} ({GOCODE / 'src' / import_path} is missing)"
               for _, import_path, package in GO_PROGRAMS.values() if not (GOCODE / "src" / import_path).is_dir()]
    if missing:
        pytest.fail("Go client libraries not installed: " + ", ".join(missing))
    root = pathlib.Path(tempfile.mkdtemp(prefix="tributary-go-clients-"))
    try:
        binaries = {}
        for name, (directory, _, _) in GO_PROGRAMS.items():
            output = root / "bin" / f"{name}-client"
            build = subprocess.run([go, "build", "-o", str(output), f"./{directory}"], cwd=GO_SOURCES,
                                   env=go_environment(root), capture_output=True, text=True, timeout=600)
            if build.returncode != 0:
                pytest.fail(f"`go build ./{directory}` failed (exit {build.returncode}):\n{build.stdout}{build.stderr}")
            binaries[name] = output
        yield binaries
    finally:
        shutil.rmtree(root, ignore_errors=True)


def server_report(server, lines: int = 12) -> str:
    """The cause of a server's death as its log tells it: the runtime failure, the crashed thread's first
    frames in Tributary's own sources and the last structured log lines."""
    log = server.log().splitlines()
    failure = next((line.strip(" *") for line in log if "runtime failure" in line or "Fatal error" in line), None)
    crashed = next((index for index, line in enumerate(log) if line.rstrip().endswith("crashed:")), None)
    frames = [" ".join(line.split()) for line in log[crashed or 0:]
              if " at " in line and "Sources/" in line and ".build/" not in line][:4]
    structured = [line for line in log if line[:2] == "20" and "T" in line[:11]][-lines:]
    parts = []
    if failure:
        parts.append(f"server log: {failure}" + (f" ({log[crashed].strip()})" if crashed is not None else ""))
    if frames:
        parts.append("  " + "\n  ".join(frames))
    parts.append(f"last log lines ({server.log_path}):\n  " + "\n  ".join(structured or log[-lines:]))
    return "\n".join(parts)


def describe_exit(code) -> str:
    if code is not None and code < 0:
        try:
            return f"{code} ({signal.Signals(-code).name})"
        except ValueError:
            pass
    return str(code)


def require_alive(server, when: str, grace: float = 0.0, detail: str = ""):
    """Fails with the server's exit code and the cause from its log when the process has exited. With a
    grace period it first waits that long for an exit in progress (a crash backtrace takes seconds)."""
    process = server.process
    if process is None:
        pytest.fail(f"tributary is not running {when}")
    try:
        code = process.wait(timeout=grace) if grace > 0 else process.poll()
    except subprocess.TimeoutExpired:
        code = None
    if code is not None:
        pytest.fail(f"tributary exited with code {describe_exit(code)} {when}\n{server_report(server)}"
                    + (f"\n{detail}" if detail else ""), pytrace=False)


def run_go(server, binary, command, *args, timeout=50, expect_success=True):
    """Runs one Go client program against the server and returns its JSON result. A dead server is
    reported as the cause before the client's own error."""
    argv = [str(binary), command, "-bootstrap", server.bootstrap, "-timeout", f"{timeout}s", *map(str, args)]
    shown = f"`{binary.name} {command} {' '.join(map(str, args))}`"
    try:
        completed = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 15)
    except subprocess.TimeoutExpired:
        require_alive(server, f"while {shown} ran")
        pytest.fail(f"{shown} did not end within {timeout + 15}s although it has a deadline of {timeout}s")
    try:
        result = json.loads(completed.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        result = None
    client_said = (result or {}).get("error") or completed.stderr.strip()[-500:]
    if result and "acked" in result:
        client_said += f" ({result['acked']} of {result.get('count')} acknowledged)"
    # An unexpected client failure may be a server crash still in progress (the backtrace takes seconds).
    grace = 5 if completed.returncode != 0 and expect_success else 0
    require_alive(server, f"while {shown} ran", grace=grace,
                  detail=f"the client said (exit {completed.returncode}): {client_said}" if completed.returncode else "")
    if result is None:
        pytest.fail(f"{shown} printed no JSON result (exit {completed.returncode}):\n{completed.stdout[-2000:]}\n{completed.stderr[-2000:]}")
    if expect_success and completed.returncode != 0:
        pytest.fail(f"{shown} failed (exit {completed.returncode}): {result.get('error') or completed.stderr.strip()}"
                    f"\n{json.dumps({k: v for k, v in result.items() if k != 'records'})[:3000]}", pytrace=False)
    result["exit_code"] = completed.returncode
    return result


def start_again(server, how: str):
    try:
        server.start()
    except RuntimeError:
        pytest.fail(f"tributary did not start again after {how}\n{server_report(server)}", pytrace=False)
    require_alive(server, f"after starting again after {how}")


# --- sarama ---------------------------------------------------------------------------------------------

SARAMA_COUNT = 5000
SARAMA_PARTITIONS = 3
# sarama 1.22 sends Produce v3 whatever Version says; zstd needs v7, so it is refused (a test below).
SARAMA_RUNS = [(mode, codec) for codec in ("none", "gzip", "snappy", "lz4") for mode in ("sync", "async")]
# Sane record timestamps: the producer's clock while the run lasted, with room for clock granularity.
TIMESTAMP_SLACK_MS = 5000


def sarama_topic(mode, codec):
    return f"sarama-{mode}-{codec}"


def check_sarama_records(consumed, mode, codec, count, produced, window):
    """Every record exactly once, in the order produced within its partition, at contiguous offsets from 0
    up to the high watermark, with its key, value, header and a timestamp from the run's time window."""
    context = f"{sarama_topic(mode, codec)}"
    assert consumed["count"] == count, f"{context}: read {consumed['count']} records, produced {count}"
    seen = []
    for partition, part in consumed["partitions"].items():
        records = part["records"]
        offsets = [record[0] for record in records]
        assert offsets == list(range(part["high_watermark"])), f"{context}/{partition}: offsets are not 0..{part['high_watermark'] - 1}"
        indexes = []
        for offset, key, value, timestamp, header in records:
            index = int(header)
            assert (key, value) == (f"key-{index}", f"{mode} {codec} value {index:05d}"), f"{context}/{partition}@{offset}"
            assert window[0] - TIMESTAMP_SLACK_MS <= timestamp <= window[1] + TIMESTAMP_SLACK_MS, \
                f"{context}/{partition}@{offset}: timestamp {timestamp} outside the produce run {window}"
            indexes.append(index)
        assert indexes == sorted(indexes), f"{context}/{partition}: records out of produce order"
        assert len(records) == produced["partitions"].get(partition, {}).get("count", 0), \
            f"{context}/{partition}: {len(records)} records read, {produced['partitions'].get(partition)} acknowledged"
        seen += indexes
    assert sorted(seen) == list(range(count)), f"{context}: records missing or duplicated"


def test_sarama_sync_and_async_producers_every_codec_survive_restarts(go_clients, server):
    """5,000 records per (producer, codec) with acks=all into 3 partitions each, every one acknowledged;
    the broker stays up; a partition consumer from the oldest offset reads back exactly what was produced;
    and again after a clean restart (SIGTERM) and after a crash (SIGKILL)."""
    sarama = go_clients["sarama"]
    produced, windows, consumed = {}, {}, {}
    for mode, codec in SARAMA_RUNS:
        topic = sarama_topic(mode, codec)
        started = int(time.time() * 1000)
        result = run_go(server, sarama, "produce", "-topic", topic, "-count", SARAMA_COUNT, "-mode", mode,
                        "-compression", codec, "-partitions", SARAMA_PARTITIONS)
        windows[topic] = (started, int(time.time() * 1000))
        assert result["acked"] == SARAMA_COUNT, result
        for partition, summary in result["partitions"].items():
            assert summary["first_offset"] == 0 and summary["last_offset"] == summary["count"] - 1, (topic, partition, summary)
        produced[topic] = result
        require_alive(server, f"after sarama produced {topic}")

    def consume_all(when):
        for mode, codec in SARAMA_RUNS:
            topic = sarama_topic(mode, codec)
            result = run_go(server, sarama, "consume", "-topic", topic, "-expect", SARAMA_COUNT)
            check_sarama_records(result, mode, codec, SARAMA_COUNT, produced[topic], windows[topic])
            if topic in consumed:
                assert result["partitions"] == consumed[topic], f"{topic}: read differently {when}"
            consumed[topic] = result["partitions"]
        require_alive(server, f"after sarama consumed everything {when}")

    consume_all("after producing")
    # Enough data that every partition's log passed several index intervals (index.interval.bytes 4096).
    for mode, codec in SARAMA_RUNS:
        for partition in range(SARAMA_PARTITIONS):
            directory = server.data / f"{sarama_topic(mode, codec)}-{partition}"
            size = sum(path.stat().st_size for path in directory.glob("*.log"))
            assert size > 3 * 4096, f"{directory}: only {size} bytes of log; produce more for the test to mean anything"

    code = server.stop()
    assert code == 0, f"tributary exited with code {describe_exit(code)} on SIGTERM\n{server_report(server)}"
    start_again(server, "SIGTERM")
    consume_all("after a restart (SIGTERM)")

    server.kill()
    start_again(server, "SIGKILL")
    consume_all("after a restart (SIGKILL)")

    # The logs take appends again after the crash recovery.
    topic = sarama_topic("async", "lz4")
    more = run_go(server, sarama, "produce", "-topic", topic, "-count", 500, "-mode", "async", "-compression", "lz4")
    assert more["acked"] == 500
    again = run_go(server, sarama, "consume", "-topic", topic, "-expect", SARAMA_COUNT + 500)
    assert sum(part["high_watermark"] for part in again["partitions"].values()) == SARAMA_COUNT + 500
    require_alive(server, "at the end")


def test_sarama_zstd_is_refused_at_produce_v3(go_clients, server):
    """sarama 1.22 sends zstd batches in Produce v3; zstd needs v7, so (as in Kafka) every record is refused
    with UNSUPPORTED_COMPRESSION_TYPE and nothing is stored."""
    result = run_go(server, go_clients["sarama"], "produce", "-topic", "sarama-zstd", "-count", 50, "-mode", "async",
                    "-compression", "zstd", expect_success=False)
    assert result["exit_code"] != 0 and result["acked"] == 0, result
    assert result["failures"] and all("compression type" in failure for failure in result["failures"]), result["failures"]
    consumed = run_go(server, go_clients["sarama"], "consume", "-topic", "sarama-zstd", "-expect", 0)
    assert all(part["high_watermark"] == 0 for part in consumed["partitions"].values())
    require_alive(server, "after the refused zstd produce")


# --- kafka-go -------------------------------------------------------------------------------------------

KAFKA_GO_COUNT = 3000


def produce_with_confluent(bootstrap, topic, partitions, count):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)]).values():
        future.result()
    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    for index in range(count):
        producer.produce(topic, key=f"key-{index}".encode(), value=f"value {index:05d}".encode(), partition=index % partitions)
    assert producer.flush(30) == 0
    consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": "watermarks"})
    marks = {p: consumer.get_watermark_offsets(confluent_kafka.TopicPartition(topic, p), timeout=10) for p in range(partitions)}
    consumer.close()
    return marks


def test_kafka_go_metadata_offsets_and_group_commits(go_clients, server):
    """kafka-go's Conn finds the partitions and their first/last offsets (Metadata v1, ListOffsets v1), and
    its consumer-group Reader joins a group and commits offsets (FindCoordinator v0, JoinGroup v1, SyncGroup
    v0, Heartbeat v0, OffsetFetch v1, OffsetCommit v2, LeaveGroup v0) that another client then sees."""
    kafkago = go_clients["kafkago"]
    marks = produce_with_confluent(server.bootstrap, "kafka-go-meta", 3, KAFKA_GO_COUNT)
    assert sum(high for _, high in marks.values()) == KAFKA_GO_COUNT
    meta = run_go(server, kafkago, "meta", "-topic", "kafka-go-meta")
    assert meta["partitions"] == {str(p): {"first": low, "last": high} for p, (low, high) in marks.items()}

    committed = run_go(server, kafkago, "commit", "-topic", "kafka-go-meta", "-group", "kafka-go-group")
    assert committed["committed"] == {str(p): high for p, (_, high) in marks.items()}
    consumer = confluent_kafka.Consumer({"bootstrap.servers": server.bootstrap, "group.id": "kafka-go-group"})
    seen = consumer.committed([confluent_kafka.TopicPartition("kafka-go-meta", p) for p in marks], timeout=10)
    consumer.close()
    assert {tp.partition: tp.offset for tp in seen} == {p: high for p, (_, high) in marks.items()}
    require_alive(server, "after the kafka-go group commits")


def test_kafka_go_writer_and_reader_are_refused_cleanly(go_clients, server):
    """kafka-go 0.2.1's Writer (RequiredAcks -1) produces with Produce v2 and its Reader fetches with Fetch
    v2, message format v0/v1, which this broker does not serve (Produce 3+, Fetch 4+, as Kafka 4): the
    Writer gets UNSUPPORTED_VERSION for every partition and nothing is stored, the Reader's connections are
    closed with a logged reason, and the broker keeps serving other clients."""
    kafkago = go_clients["kafkago"]
    written = run_go(server, kafkago, "write", "-topic", "kafka-go-writer", "-count", KAFKA_GO_COUNT, timeout=20, expect_success=False)
    assert written["exit_code"] != 0 and written["written"] == 0, written
    assert "Unsupported Version" in written["error"] and "Kafka error code 35" in written["error"], written["error"]
    meta = run_go(server, kafkago, "meta", "-topic", "kafka-go-writer")
    assert meta["partitions"] == {"0": {"first": 0, "last": 0}}

    marks = produce_with_confluent(server.bootstrap, "kafka-go-reader", 1, 100)
    read = run_go(server, kafkago, "read", "-topic", "kafka-go-reader", "-expect", 100, timeout=5, expect_success=False)
    assert read["exit_code"] != 0 and read["count"] == 0, read
    assert "Fetch version 2 is not supported (supported: 4-17)" in server.log()
    require_alive(server, "after the refused kafka-go requests")
    consumer = confluent_kafka.Consumer({"bootstrap.servers": server.bootstrap, "group.id": "after-kafka-go", "auto.offset.reset": "earliest"})
    consumer.assign([confluent_kafka.TopicPartition("kafka-go-reader", 0, confluent_kafka.OFFSET_BEGINNING)])
    values, deadline = [], time.time() + 20
    while len(values) < marks[0][1] and time.time() < deadline:
        message = consumer.poll(0.5)
        if message is not None and not message.error():
            values.append(message.value())
    consumer.close()
    assert values == [f"value {index:05d}".encode() for index in range(100)]
