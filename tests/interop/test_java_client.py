"""Apache Kafka's Java client (kafka-clients 3.9, the client of Flink, Spark, Kafka Connect and most JVM
services) against the real binary: static membership fencing, what a transactional producer and a KIP-848
consumer see from a broker without those features, and an end-to-end smoke test of AdminClient, the
idempotent producer with every codec and a consumer group.

The programs are in tests/interop/java/; they are compiled once per session and print one JSON object per
line on stdout (their own logging goes to stderr, kept as java-*.log next to the server log). They need a
JDK and the client's runtime dependencies, Debian packages:

    tools/ensure-packages.sh openjdk-17-jdk-headless libslf4j-java liblz4-java libsnappy-java libzstd-jni-java libprotobuf-java

and the client jar in ../shared/clients/java/ (TRIBUTARY_KAFKA_CLIENTS_JAR overrides it)."""
import json
import os
import pathlib
import re
import shutil
import subprocess
import tempfile
import threading
import time

import confluent_kafka
import pytest

from conftest import ROOT
from test_kafka_storage import create_topic

JAVA_SOURCES = pathlib.Path(__file__).resolve().parent / "java"
CLIENT_JAR = pathlib.Path(os.environ.get("TRIBUTARY_KAFKA_CLIENTS_JAR",
                                         ROOT.parent / "shared" / "clients" / "java" / "kafka-clients-3.9.0.jar"))
SYSTEM_JARS = pathlib.Path("/usr/share/java")
DEPENDENCIES = ["slf4j-api.jar", "slf4j-simple.jar", "lz4-java.jar", "snappy-java.jar", "zstd-jni.jar", "protobuf.jar"]
PACKAGES = "openjdk-17-jdk-headless libslf4j-java liblz4-java libsnappy-java libzstd-jni-java libprotobuf-java"

GROUP_ARGS = ("--group-initial-rebalance-delay-ms", "0", "--group-min-session-timeout-ms", "1000",
              "--offsets-topic-partitions", "4")
# Quick JVM start-up for short programs; the Kafka client logs at INFO to stderr, timestamps included.
JVM_FLAGS = ["-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Dorg.slf4j.simpleLogger.showDateTime=true",
             "-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS"]


class JavaPrograms:
    """The compiled programs: run one to completion, or start one and follow its JSON lines."""

    def __init__(self, java, classpath, log_dir):
        self.java, self.classpath, self.log_dir = java, classpath, log_dir

    def command(self, main, args, flags=()):
        return [self.java, *JVM_FLAGS, *flags, "-cp", self.classpath, main, *[str(a) for a in args]]

    def run(self, main, *args, timeout, log_name, flags=(), log_suffix=".log"):
        """Runs to the end; returns (exit code, [JSON lines], seconds, log path). Logs named *.log are shown
        when the test fails (conftest's server_logs_shown_on_failure)."""
        log_path = self.log_dir / f"java-{log_name}{log_suffix}"
        started = time.monotonic()
        with open(log_path, "ab") as log:
            try:
                result = subprocess.run(self.command(main, args, flags), stdout=subprocess.PIPE, stderr=log,
                                        stdin=subprocess.DEVNULL, timeout=timeout)
            except subprocess.TimeoutExpired as expired:
                raise AssertionError(f"{main} {args} still running after {timeout}s; stdout: {expired.stdout!r}")
        elapsed = time.monotonic() - started
        return result.returncode, parse_lines(result.stdout.decode(errors="replace"), main), elapsed, log_path

    def start(self, main, *args, log_name, flags=()):
        return JavaProcess(self.command(main, args, flags), self.log_dir / f"java-{log_name}.log", log_name)


def parse_lines(text, what):
    lines = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            lines.append(json.loads(line))
        except json.JSONDecodeError:
            raise AssertionError(f"{what} printed a line that is not JSON: {line!r}")
    return lines


class JavaProcess:
    """A running program whose JSON lines are collected by a reader thread."""

    def __init__(self, command, log_path, name):
        self.name = name
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.started_at = time.monotonic()
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log)
        self.events = []  # (seconds since start, JSON object)
        self.garbage = []
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self.read, daemon=True, name=f"read-{name}")
        self.reader.start()

    def read(self):
        for raw in self.process.stdout:
            line = raw.decode(errors="replace").strip()
            if not line:
                continue
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                self.garbage.append(line)
                continue
            with self.lock:
                self.events.append((time.monotonic() - self.started_at, event))

    def snapshot(self):
        with self.lock:
            return list(self.events)

    def of_kind(self, kind):
        return [event for _, event in self.snapshot() if event.get("event") == kind]

    def exit_code(self):
        return self.process.poll()

    def wait_for(self, condition, timeout, what):
        """Waits until condition(self) is true; fails (with every line so far) on timeout or when the
        program exited without the condition becoming true."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition(self):
                return time.monotonic()
            if self.exit_code() is not None:
                self.reader.join(5)
                if condition(self):
                    return time.monotonic()
                raise AssertionError(f"{self.name} exited with {self.exit_code()} before {what}; {self.describe()}")
            time.sleep(0.05)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}; {self.describe()}")

    def describe(self):
        lines = [f"{at:7.2f}s {json.dumps(event)[:300]}" for at, event in self.snapshot()]
        return f"{self.name} (exit code {self.exit_code()}) printed:\n    " + "\n    ".join(lines[-30:])

    def stop(self, timeout=30):
        """Asks the program to stop (a line on stdin), then kills it if it does not; returns the exit code."""
        if self.process.poll() is None:
            try:
                self.process.stdin.write(b"stop\n")
                self.process.stdin.close()
            except (BrokenPipeError, OSError):
                pass
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.reader.join(5)
        self.log.close()
        return self.process.returncode


@pytest.fixture(scope="session")
def java_programs():
    """Compiles tests/interop/java/*.java once per session; yields (java executable, class path)."""
    javac, java = shutil.which("javac"), shutil.which("java")
    if javac is None or java is None:
        pytest.skip(f"javac/java not found; install the JDK and the Kafka client's dependencies: "
                    f"tools/ensure-packages.sh {PACKAGES}")
    if not CLIENT_JAR.exists():
        pytest.fail(f"Apache Kafka's Java client not found at {CLIENT_JAR} (see ../shared/clients/java/README.md)")
    missing = [name for name in DEPENDENCIES if not (SYSTEM_JARS / name).exists()]
    if missing:
        pytest.fail(f"missing {', '.join(missing)} in {SYSTEM_JARS}: tools/ensure-packages.sh {PACKAGES}")
    classpath = ":".join([str(CLIENT_JAR)] + [str(SYSTEM_JARS / name) for name in DEPENDENCIES])
    out = pathlib.Path(tempfile.mkdtemp(prefix="tributary-java-"))
    try:
        sources = sorted(str(path) for path in JAVA_SOURCES.glob("*.java"))
        result = subprocess.run([javac, "-encoding", "UTF-8", "-Xlint:all", "-Xlint:-options", "-cp", classpath,
                                 "-d", str(out), *sources], capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            pytest.fail(f"javac failed:\n{result.stdout}\n{result.stderr}")
        yield java, f"{out}:{classpath}"
    finally:
        shutil.rmtree(out, ignore_errors=True)


@pytest.fixture
def java(java_programs, workdir):
    """The programs, with their stderr logged into this test's work directory (shown when the test fails)."""
    return JavaPrograms(*java_programs, workdir)


def produce(bootstrap, topic, values, partitions):
    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    errors = []
    for index, value in enumerate(values):
        producer.produce(topic, value=value.encode(), partition=index % partitions,
                         on_delivery=lambda error, message: error and errors.append(error))
    assert producer.flush(30) == 0
    assert not errors, errors


def consumed_values(process):
    return [record["value"] for event in process.of_kind("records") for record in event["records"]]


@pytest.mark.timeout(180)
def test_java_static_member_joining_with_a_taken_instance_id_fences_the_older_member(server_factory, java):
    """Two KafkaConsumers (separate JVMs) with the same group.instance.id. When the second joins, the group
    coordinator hands it the instance's member slot and fences the first: the first one's next heartbeat or
    commit is FENCED_INSTANCE_ID, which poll()/commitSync() throw as FencedInstanceIdException, and the
    second keeps the assignment and consumes what is produced afterwards."""
    server = server_factory(*GROUP_ARGS).start()
    topic, group, instance = "fencing", "fencing-readers", "instance-a"
    create_topic(server.bootstrap, topic, partitions=3)

    first = java.start("StaticMember", server.bootstrap, topic, group, instance, 120, 10_000, log_name="static-first")
    second = None
    try:
        first.wait_for(lambda p: any(s["assignment"] == [0, 1, 2] for s in p.of_kind("status")), 40,
                       "the first static member to be assigned partitions 0-2")

        second = java.start("StaticMember", server.bootstrap, topic, group, instance, 120, 10_000, log_name="static-second")
        second.wait_for(lambda p: p.of_kind("started"), 30, "the second static member to subscribe")
        joined_at = time.monotonic()

        def first_failed(p):
            return p.of_kind("fenced") or p.of_kind("error")

        def identity_changes():
            return "; ".join(f"{p.name}: {len({s['member_id'] for s in p.of_kind('status')})} member ids, "
                             f"partitions lost {len(p.of_kind('lost'))} times" for p in (first, second))

        try:
            first.wait_for(first_failed, 30, "the first member to be fenced (FencedInstanceIdException)")
        except AssertionError as error:
            raise AssertionError(f"{identity_changes()}\n{error}\n{second.describe()}") from None
        fenced_after = time.monotonic() - joined_at
        errors = first.of_kind("error")
        assert not errors, f"the first member failed with something else than being fenced: {errors}\n{second.describe()}"
        fenced = first.of_kind("fenced")[0]
        print(f"first member fenced {fenced_after:.1f}s after the second subscribed, in {fenced['where']}: "
              f"{fenced['error']['class']}: {fenced['error']['message']}")
        assert fenced["error"]["class"] == "org.apache.kafka.common.errors.FencedInstanceIdException"
        first.wait_for(lambda p: p.exit_code() is not None, 15, "the fenced member to exit")
        assert first.exit_code() == 3, first.describe()

        # The second member keeps the whole assignment and reads what is produced from now on.
        second.wait_for(lambda p: any(s["assignment"] == [0, 1, 2] for s in p.of_kind("status")), 30,
                        "the second member to hold partitions 0-2")
        values = [f"after-fencing-{index}" for index in range(30)]
        produce(server.bootstrap, topic, values, 3)
        second.wait_for(lambda p: set(values) <= set(consumed_values(p)), 30,
                        "the second member to consume the 30 records produced after the fencing")
        time.sleep(2)  # a late rebalance or error would show up now
        assert second.exit_code() is None, second.describe()
        assert not second.of_kind("error") and not second.of_kind("fenced"), second.describe()
        assert second.of_kind("status")[-1]["assignment"] == [0, 1, 2], second.describe()
        assert sorted(consumed_values(second)) == sorted(values), "the second member read records twice or others"
        assert second.stop() == 0, second.describe()
        assert second.of_kind("done"), second.describe()
    finally:
        first.stop()
        if second is not None:
            second.stop()


@pytest.mark.timeout(120)
def test_java_transactional_producer_init_transactions_fails_at_once_with_a_clear_error(server, java):
    """Transactions are not implemented. initTransactions() must fail right away with a KafkaException that
    says so (the broker's error), not block for max.block.ms retrying a coordinator lookup and end in a
    TimeoutException."""
    # NetworkClient at DEBUG logs every response the client receives (FindCoordinator's error code and
    # message); that log is summarized below rather than shown whole (it is not named *.log).
    code, lines, elapsed, log_path = java.run(
        "Unsupported", "init-transactions", server.bootstrap, "tributary-tx", 20_000, timeout=90,
        log_name="init-transactions", log_suffix=".debug.txt",
        flags=["-Dorg.slf4j.simpleLogger.log.org.apache.kafka.clients.NetworkClient=debug"])
    assert code == 0 and len(lines) == 1, (code, lines)
    result = lines[0]
    log = log_path.read_text(errors="replace")
    lookups = re.findall(r"Received FIND_COORDINATOR response .*?coordinators=\[Coordinator\((.*?)\)\]", log)
    seen = f"{len(lookups)} FindCoordinator(TRANSACTION) responses, the last: {lookups[-1] if lookups else None}"
    error = result.get("error") or {}
    print(f"initTransactions() after {result['elapsed_ms']} ms: {result['outcome']} "
          f"{error.get('class')}: {error.get('message')} ({seen})")

    assert result["outcome"] == "error", f"initTransactions() succeeded against a broker without transactions: {result}"
    assert not error["timeout_exception"], (
        f"initTransactions() timed out after {result['elapsed_ms']} ms instead of failing: {error['message']} ({seen})")
    assert result["elapsed_ms"] < 15_000, f"initTransactions() took {result['elapsed_ms']} ms to fail ({seen})"
    assert error["kafka_exception"], f"{error['class']} is not a KafkaException"
    message = error["message"]
    assert re.search(r"transaction", message, re.I) and re.search(r"not supported|unsupported|not implemented", message, re.I), (
        f"the error does not say transactions are unsupported: {error['class']}: {message}")


@pytest.mark.timeout(120)
def test_java_consumer_with_the_kip848_group_protocol_fails_fast_with_a_clear_error(server, java):
    """group.protocol=consumer (KIP-848, ConsumerGroupHeartbeat) is not implemented: the consumer must fail
    with an error naming the missing support within a bounded time, not hang polling."""
    topic = "kip848"
    create_topic(server.bootstrap, topic, partitions=1)
    code, lines, elapsed, _ = java.run("Unsupported", "consumer-protocol", server.bootstrap, topic, "kip848-readers", 30,
                                       timeout=90, log_name="consumer-protocol")
    assert code == 0 and len(lines) == 1, (code, lines)
    result = lines[0]
    error = result.get("error") or {}
    print(f"group.protocol=consumer after {result['elapsed_ms']} ms: {result['outcome']} "
          f"{error.get('class')}: {error.get('message')}")
    assert result["outcome"] == "error", f"the consumer polled for 30 s without an error: {result}"
    assert result["elapsed_ms"] < 20_000, f"the consumer took {result['elapsed_ms']} ms to fail"
    assert error["class"] == "org.apache.kafka.common.errors.UnsupportedVersionException", error
    assert re.search(r"CONSUMER_GROUP_HEARTBEAT|consumer group protocol|not support", error["message"], re.I), error


CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


@pytest.mark.timeout(240)
def test_java_client_end_to_end_admin_idempotent_producer_every_codec_and_consumer_group(server_factory, java):
    server = server_factory(*GROUP_ARGS).start()
    topic, group, per_codec = "java-smoke", "java-smoke-readers", 30
    code, lines, elapsed, _ = java.run("Smoke", server.bootstrap, topic, group, per_codec, timeout=200, log_name="smoke")
    steps = {}
    for line in lines:
        steps.setdefault(line["step"], []).append(line)
    failed = [line for line in lines if "error" in line]
    assert not failed, f"Smoke failed in {failed[0]['step']}: {failed[0]['error']['class']}: {failed[0]['error']['message']}"
    assert code == 0 and "finished" in steps, (code, [line["step"] for line in lines])
    print(f"Smoke ran in {elapsed:.1f}s")

    # Admin: the topic as created and described.
    created = steps["createTopics"][0]
    assert created["num_partitions"] == 3 and created["replication_factor"] == 1
    assert topic in steps["listTopics"][0]["names"]
    described = steps["describeTopics"][0]
    assert described["name"] == topic and not described["internal"]
    assert described["topic_id"] == created["topic_id"] != "AAAAAAAAAAAAAAAAAAAAAA"
    assert [p["partition"] for p in described["partitions"]] == [0, 1, 2]
    for partition in described["partitions"]:
        assert partition["leader"] == 0 and partition["replicas"] == [0] and partition["isr"] == [0], partition
    configs = steps["describeConfigs"][0]["entries"]
    assert configs["retention.ms"]["value"] == "3600000" and configs["retention.ms"]["source"] == "DYNAMIC_TOPIC_CONFIG"
    assert configs["cleanup.policy"]["value"] == "delete" and configs["cleanup.policy"]["source"] == "DYNAMIC_TOPIC_CONFIG"
    assert configs["segment.bytes"]["source"] == "DEFAULT_CONFIG"
    cluster = steps["describeCluster"][0]
    assert cluster["nodes"] == [{"id": 0, "host": "127.0.0.1", "port": server.port}]
    assert cluster["controller"] == 0 and cluster["cluster_id"]

    # Producer: every record acknowledged, per codec; offsets in each partition dense from 0.
    produced = [record for line in steps["produce"] for record in line["records"]]
    by_codec = {line["codec"]: line["records"] for line in steps["produce"]}
    assert sorted(by_codec) == sorted(CODECS + ["markers"])
    for codec in CODECS:
        assert len(by_codec[codec]) == per_codec, codec
        assert len({r["partition"] for r in by_codec[codec]}) > 1, f"{codec}: every key went to one partition"
        for record in by_codec[codec]:
            assert record["headers"][0] == ["codec", codec]
    end_offsets = {}
    for partition in range(3):
        offsets = sorted(r["offset"] for r in produced if r["partition"] == partition)
        assert offsets == list(range(len(offsets))), f"partition {partition} offsets {offsets}"
        end_offsets[partition] = len(offsets)
    # Records with the same key land in the same partition (the client's murmur2 partitioner).
    for key in {r["key"] for r in produced}:
        assert len({r["partition"] for r in produced if r["key"] == key}) == 1, key

    # Consumer group: every record back exactly once, with its key, value, headers and timestamp.
    consume = steps["consume"][0]
    consumed = consume["records"]
    assert not [r for r in consumed if r.get("extra")], "records arrived beyond those produced"
    fields = ("partition", "offset", "key", "value", "headers", "timestamp")
    as_consumed = sorted(tuple(json.dumps(r[f]) for f in fields) for r in consumed)
    as_produced = sorted(tuple(json.dumps(r[f]) for f in fields) for r in produced)
    assert len(consumed) == len(produced) == 5 * per_codec + 6
    assert as_consumed == as_produced
    assert {r["timestamp_type"] for r in consumed} == {"CreateTime"}
    assert consume["commits"] > 0
    assert consume["committed"] == {str(p): end_offsets[p] for p in range(3)}

    # Admin again: the group's offsets, records deleted from partition 0, offsets listed, the topic deleted.
    assert steps["listConsumerGroupOffsets"][0]["offsets"] == {f"{topic}-{p}": end_offsets[p] for p in range(3)}
    before = steps["listOffsets-before-delete"][0]["offsets"]
    assert {int(p): o["offset"] for p, o in before.items()} == end_offsets
    deleted = steps["deleteRecords"][0]
    assert deleted["before_offset"] == 5 and deleted["low_watermark"] == 5
    offsets = {line["spec"]: {int(p): o for p, o in line["offsets"].items()} for line in steps["listOffsets"]}
    assert {p: o["offset"] for p, o in offsets["earliest"].items()} == {0: 5, 1: 0, 2: 0}
    assert {p: o["offset"] for p, o in offsets["latest"].items()} == end_offsets
    markers = {r["partition"]: r for r in by_codec["markers"] if r["key"].startswith("marker-")}
    for partition in range(3):
        marker = markers[partition]
        assert marker["offset"] == end_offsets[partition] - 2  # the record after it has an earlier timestamp
        for spec in ("max_timestamp", "for_timestamp"):
            found = offsets[spec][partition]
            assert (found["offset"], found["timestamp"]) == (marker["offset"], marker["timestamp"]), (spec, partition, found)
    deleted_topic = steps["deleteTopics"][0]
    assert deleted_topic["listed_after"] is False
    assert deleted_topic["describe_after"]["class"] == "org.apache.kafka.common.errors.UnknownTopicOrPartitionException"
