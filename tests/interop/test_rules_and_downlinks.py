"""Rules and downlinks against the real binary: a SQL rule from MQTT telemetry into a Kafka topic (10,000
mixed publishes, exact output and the per-rule metrics line), an event rule on lost connections, downlink
routes from a Kafka topic to MQTT subscribers (live, and to an offline persistent session across SIGTERM
and SIGKILL restarts), republishing over MQTT, SELECT * copies of any payload, and invalid rules refused at
load and at SIGHUP reload while the previous rules and the MQTT connections stay up."""
import collections
import json
import re
import signal
import subprocess
import time

import pytest

from conftest import free_ports
from mqtt_helpers import (
    V5, Client, RawClient, consume, end_offsets, headers_of, unique, wait_for_events, wait_until, write_config,
)

METRICS = re.compile(r"rule (\S+): matched (\d+), passed (\d+), failed (\d+), outputs (\d+)")


def rule_metrics(log: str) -> dict:
    """{rule name: (matched, passed, failed, outputs)} from the last metrics line of each rule."""
    found = {}
    for match in METRICS.finditer(log):
        found[match.group(1)] = tuple(int(match.group(i)) for i in range(2, 6))
    return found


def kafka_producer(bootstrap: str, quiet: bool = False):
    """`quiet`: for a producer that outlives the server it talks to (no "Connection refused" noise)."""
    from confluent_kafka import Producer
    config = {"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5}
    if quiet:
        config["log_level"] = 2
    return Producer(config)


def produce_all(producer, topic: str, records, timeout: float = 30.0):
    """`records`: (key, value, headers) triples; waits until every one is acknowledged."""
    errors = []

    def report(error, message):
        if error is not None:
            errors.append(error)

    for key, value, headers in records:
        producer.produce(topic, key=key, value=value, headers=headers, on_delivery=report)
        producer.poll(0)
    remaining = producer.flush(timeout)
    assert remaining == 0 and not errors, f"{remaining} records unacknowledged, errors {errors[:5]}"


def wait_log(server, text: str, count: int = 1, timeout: float = 30.0):
    wait_until(lambda: server.log().count(text) >= count, timeout, f"{count} x {text!r} in the log")


def records_until(bootstrap: str, topic: str, predicate, timeout: float = 30.0, what: str = "records"):
    """Reads the whole topic again and again until `predicate(records)` holds; returns the records."""
    deadline = time.time() + timeout
    records = []
    while True:
        total = sum(end_offsets(bootstrap, topic).values())
        records = consume(bootstrap, topic, total, timeout=15) if total else []
        if predicate(records):
            return records
        if time.time() > deadline:
            raise AssertionError(f"{topic}: timed out waiting for {what}; have "
                                 f"{[(r.key(), r.value()[:60]) for r in records][-20:]}")
        time.sleep(0.2)


# --- 1. The rule: telemetry above a threshold into `alerts` -------------------------------------------

HOT_CONFIG = """\
routes:
  - from: "devices/+/telemetry"
    to: telemetry
    key: "${topic.2}"
rules:
  - name: hot
    sql: "SELECT payload.temperature AS t, clientid FROM 'devices/+/telemetry' WHERE payload.temperature > 100"
    to: alerts
    key: "${clientid}"
    headers: {source: "${topic}"}
"""


def telemetry_payload(index: int):
    """A mix: non-JSON, JSON without `temperature`, and temperatures spread over -50..249 (integers and
    halves, the boundary 100 included). Returns (payload bytes, the temperature or None)."""
    kind = index % 10
    if kind == 0:
        return f"raw reading {index}".encode(), None
    if kind == 1:
        return json.dumps({"humidity": index % 97, "seq": index}).encode(), None
    if kind == 2:
        return b"\xff\xfe\x00binary" + index.to_bytes(4, "big"), None
    temperature = (index * 37) % 300 - 50
    if kind == 3:
        temperature += 0.5
    if index % 1000 == 5:
        temperature = 100  # not above the threshold
    return json.dumps({"temperature": temperature, "seq": index}).encode(), temperature


@pytest.mark.timeout(180)
def test_threshold_rule_writes_exactly_the_matching_telemetry_into_alerts(server_factory, workdir):
    server = server_factory("--config", write_config(workdir / "tributary.yaml", HOT_CONFIG)).start()
    # Five devices; one publishes under a topic segment that is not its client id (key = client id).
    devices = [(f"dev-{i}", f"devices/{'sensor-9' if i == 4 else f'dev-{i}'}/telemetry") for i in range(5)]
    clients = [Client(server.mqtt_port, client_id=client_id, version=V5) for client_id, _ in devices]
    total = 10_000
    expected = collections.Counter()
    try:
        for client in clients:
            client.connect()
        pending = []
        for index in range(total):
            device = index % len(devices)
            payload, temperature = telemetry_payload(index)
            if temperature is not None and temperature > 100:
                expected[(devices[device][0], temperature, devices[device][1])] += 1
            pending.append(clients[device].paho.publish(devices[device][1], payload, qos=1))
        for info in pending:
            info.wait_for_publish(60)
        assert all(info.is_published() for info in pending), "not every QoS 1 publish was acknowledged"
        for client in clients:
            client.disconnect()
    finally:
        for client in clients:
            client.close()
    wanted = sum(expected.values())
    assert 1000 < wanted < 9000, wanted

    records = consume(server.bootstrap, "alerts", wanted, timeout=90)
    assert len(records) == wanted, f"alerts has {len(records)} records, expected {wanted}"
    got = collections.Counter()
    for record in records:
        value = json.loads(record.value())
        assert set(value) == {"t", "clientid"}, value
        assert record.key().decode() == value["clientid"], (record.key(), value)
        source = headers_of(record).get("source")
        got[(value["clientid"], value["t"], source.decode() if source is not None else None)] += 1
    assert got == expected, f"differences: missing {list((expected - got).items())[:5]}, extra {list((got - expected).items())[:5]}"

    # The route still gets every message (rules read stored messages, they do not take them away).
    assert sum(end_offsets(server.bootstrap, "telemetry").values()) == total
    assert server.stop() == 0
    metrics = rule_metrics(server.log())
    assert "hot" in metrics, f"no metrics line for rule hot in the log:\n{server.log()[-3000:]}"
    matched, passed, failed, outputs = metrics["hot"]
    assert (matched, passed, failed, outputs) == (total, wanted, 0, wanted), \
        f"rule hot: matched {matched}, passed {passed}, failed {failed}, outputs {outputs}; expected {total}, {wanted}, 0, {wanted}"
    # After a restart the rule goes on with new messages only: a sentinel lands right behind the old output.
    server.start()
    client = Client(server.mqtt_port, client_id="dev-0", version=V5)
    try:
        client.connect()
        client.publish("devices/dev-0/telemetry", b'{"temperature": 999}', qos=1)
        client.disconnect()
    finally:
        client.close()
    records = records_until(server.bootstrap, "alerts", lambda rs: any(json.loads(r.value())["t"] == 999 for r in rs),
                            what="the sentinel after the restart")
    assert len(records) == wanted + 1, f"{len(records) - wanted - 1} old inputs were evaluated again after the restart"


# --- 2. Event rule: devices that lost their connection -------------------------------------------------------

OFFLINE_CONFIG = """\
rules:
  - name: offline
    sql: "SELECT clientid, reason FROM '$events/client.disconnected' WHERE reason != 'normal'"
    to: device-offline
"""


@pytest.mark.timeout(120)
def test_event_rule_reports_lost_connections_but_not_normal_disconnects(server_factory, workdir):
    server = server_factory("--config", write_config(workdir / "tributary.yaml", OFFLINE_CONFIG)).start()
    port = server.mqtt_port
    charger = unique("charger")
    device = RawClient(port)
    device.connect(charger, version=V5, keepalive=60,
                   will=dict(topic=f"chargers/{charger}/status", payload=b"offline", qos=1))
    device.publish(f"chargers/{charger}/session", b'{"kwh": 12.5}', qos=1)
    device.kill()  # the socket is lost: no DISCONNECT

    polite = Client(port, client_id=unique("polite"), version=V5)
    polite.connect()
    polite.disconnect()
    # The normal disconnect is stored in the events topic before the sentinel connects.
    wait_for_events(server.bootstrap, lambda events: any(
        key == polite.client_id and isinstance(e, dict) and e.get("event") == "client.disconnected" for key, e in events))

    sentinel = unique("sentinel")
    last = RawClient(port)
    last.connect(sentinel, version=V5)
    last.kill()

    records = records_until(server.bootstrap, "device-offline",
                            lambda rs: any(r.key() == sentinel.encode() for r in rs), what=f"the sentinel {sentinel}")
    by_key = collections.defaultdict(list)
    for record in records:
        by_key[record.key().decode()].append(json.loads(record.value()))
    assert by_key[charger] == [{"clientid": charger, "reason": "connection_lost"}], by_key
    assert by_key[sentinel] == [{"clientid": sentinel, "reason": "connection_lost"}], by_key
    assert polite.client_id not in by_key, f"a normal disconnect reached device-offline: {by_key[polite.client_id]}"
    assert set(by_key) == {charger, sentinel}, by_key


# --- 3. Downlinks: commands from Kafka to MQTT ----------------------------------------------------------------

DOWNLINK_CONFIG = """\
downlinks:
  - from: commands
    to: "devices/${key}/commands"
    qos: 1
    name: cmd
  - from: site-commands
    to: "sites/${header.site}/${partition}"
    qos: 1
"""


@pytest.mark.timeout(90)
def test_downlink_delivers_a_produced_command_to_the_device_topic(server_factory, workdir):
    server = server_factory("--config", write_config(workdir / "tributary.yaml", DOWNLINK_CONFIG)).start()
    device = Client(server.mqtt_port, client_id="dev-7", version=V5)
    watcher = Client(server.mqtt_port, version=V5)  # sees anything placed on a wrong topic too
    try:
        device.connect()
        device.subscribe("devices/dev-7/commands", qos=1)
        watcher.connect()
        watcher.subscribe("devices/#", qos=1)
        watcher.subscribe("sites/#", qos=1)
        producer = kafka_producer(server.bootstrap)
        produce_all(producer, "commands", [(b"dev-7", b'{"cmd":"reboot"}', None)])
        message = device.wait_messages(1, timeout=30)[0]
        assert (message.topic, message.payload, message.qos) == ("devices/dev-7/commands", b'{"cmd":"reboot"}', 1)

        # Records lacking what the template needs (no key; no `site` header) are skipped; what follows them
        # still arrives, in order, so the last one shows that the earlier ones were handled.
        produce_all(producer, "commands", [(None, b'{"cmd":"keyless"}', None), (b"dev-7", b'{"cmd":"end"}', None)])
        produce_all(producer, "site-commands", [(None, b"no site header", None),
                                                (b"k", b"open gate", [("site", b"north")])])
        device.wait_messages(2, timeout=30)
        watcher.wait_messages(1, timeout=30, topic="sites/north/0")
        watcher.wait_messages(2, timeout=30, topic="devices/dev-7/commands")
        assert device.payloads() == [b'{"cmd":"reboot"}', b'{"cmd":"end"}']
        with watcher.condition:
            seen = [(m.topic, m.payload) for m in watcher.messages]
        assert sorted(seen) == sorted([("devices/dev-7/commands", b'{"cmd":"reboot"}'),
                                       ("devices/dev-7/commands", b'{"cmd":"end"}'),
                                       ("sites/north/0", b"open gate")]), seen
        device.disconnect()
        watcher.disconnect()
    finally:
        device.close()
        watcher.close()
    assert "downlink skipped a record its template cannot place" in server.log()


def committed_positions(bootstrap: str, key: str) -> list:
    """Every position committed under `key` in __mqtt_downlinks, oldest first (read with kcat)."""
    result = subprocess.run(["kcat", "-C", "-b", bootstrap, "-t", "__mqtt_downlinks", "-o", "beginning", "-e", "-q",
                             "-f", "%k %s\\n"], capture_output=True, text=True, timeout=30)
    return [int(line.split()[1]) for line in result.stdout.splitlines() if line.startswith(key + " ")]


def persistent_subscriber(port: int, client_id: str) -> Client:
    return Client(port, client_id=client_id, version=V5, clean=False, session_expiry=3600)


@pytest.mark.timeout(150)
@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_offline_persistent_subscriber_gets_every_command_across_a_restart(server_factory, workdir, stop_signal):
    server = server_factory("--config", write_config(workdir / "tributary.yaml", DOWNLINK_CONFIG)).start()
    client_id = "dev-8"
    topic = f"devices/{client_id}/commands"
    subscriber = persistent_subscriber(server.mqtt_port, client_id)
    try:
        subscriber.connect()
        subscriber.subscribe(topic, qos=1)
        subscriber.disconnect()
    finally:
        subscriber.close()

    producer = kafka_producer(server.bootstrap, quiet=True)
    before, after = 5000, 200
    padding = "x" * 4000  # about 20 MB: the downlink reads 1 MiB at a time, so the stop falls mid-delivery
    produce_all(producer, "commands", [(client_id.encode(), json.dumps({"cmd": "set", "seq": seq, "pad": padding}).encode(), None)
                                       for seq in range(before)])
    # Stop while the downlink may still be delivering: no wait for it.
    del producer
    code = server.stop(stop_signal)
    if stop_signal == signal.SIGTERM:
        assert code == 0, f"SIGTERM exit code {code}"
    server.start()
    producer = kafka_producer(server.bootstrap)
    produce_all(producer, "commands", [(client_id.encode(), json.dumps({"cmd": "set", "seq": seq}).encode(), None)
                                       for seq in range(before, before + after)])
    # The commands go on being delivered to the session while it is offline; then the device comes back.
    subscriber = persistent_subscriber(server.mqtt_port, client_id)
    try:
        session_present = subscriber.connect()
        assert session_present, "the persistent session did not survive the restart"

        def seqs():
            return [json.loads(payload)["seq"] for payload in subscriber.payloads(topic)]
        wait_until(lambda: set(seqs()) >= set(range(before + after)), 60,
                   f"all {before + after} commands (missing {sorted(set(range(before + after)) - set(seqs()))[:10]})")
        # Delivery keeps offset order and redelivery starts at the committed position, so by the time the
        # last command arrived every redelivered copy of an earlier one has arrived too.
        received = seqs()
        with subscriber.condition:
            details = [(json.loads(m.payload)["seq"], m.dup, m.mid) for m in subscriber.messages if m.topic == topic]
    finally:
        subscriber.close()
    positions = committed_positions(server.bootstrap, "cmd/0")
    counts = collections.Counter(received)
    duplicates = sorted(seq for seq, n in counts.items() if n > 1)
    print(f"{signal.Signals(stop_signal).name}: {len(received)} deliveries of {before + after} commands, "
          f"{len(duplicates)} delivered more than once "
          f"{f'(seq {duplicates[0]}..{duplicates[-1]})' if duplicates else ''}; committed positions {positions}")
    if duplicates:
        print("first duplicates (arrival index, (seq, dup flag, packet id)):",
              [(i, d) for i, d in enumerate(details) if d[0] in set(duplicates[:5])])
    assert set(counts) == set(range(before + after)), f"unexpected commands {sorted(set(counts) - set(range(before + after)))[:10]}"
    # Commands keep their order apart from redeliveries: the first delivery of each seq is ordered.
    firsts = list(dict.fromkeys(received))
    assert firsts == sorted(firsts), f"commands out of order: {firsts[:40]}"
    if stop_signal == signal.SIGTERM:
        assert not duplicates, (
            f"{len(duplicates)} commands delivered twice after a clean SIGTERM restart "
            f"(seq {duplicates[0]}..{duplicates[-1]}, contiguous: {duplicates == list(range(duplicates[0], duplicates[-1] + 1))}); "
            f"committed positions of cmd/0: {positions}")


# --- 4. Republish over MQTT -----------------------------------------------------------------------------------

ECHO_CONFIG = """\
rules:
  - name: echo
    sql: "SELECT payload.temperature AS t FROM 'devices/+/telemetry' WHERE payload.temperature > 200"
    mqtt: "alerts/${clientid}"
    qos: 1
    retain: false
  - name: loop
    sql: "SELECT * FROM 'alerts/#'"
    to: alerts-loop
"""


@pytest.mark.timeout(90)
def test_republish_rule_reaches_an_mqtt_subscriber_and_is_not_fed_back_to_rules(server_factory, workdir):
    server = server_factory("--config", write_config(workdir / "tributary.yaml", ECHO_CONFIG)).start()
    port = server.mqtt_port
    watcher = Client(port, version=V5)
    device = Client(port, client_id=unique("hot-dev"), version=V5)
    try:
        watcher.connect()
        watcher.subscribe("alerts/#", qos=1)
        device.connect()
        topic = f"devices/{device.client_id}/telemetry"
        for temperature in (150, 250, "n/a", 201.5, 200):
            device.publish(topic, json.dumps({"temperature": temperature}), qos=1)
        device.publish(topic, b"not json", qos=1)
        messages = watcher.wait_messages(2, timeout=30)
        assert [(m.topic, json.loads(m.payload)) for m in messages[:2]] == [
            (f"alerts/{device.client_id}", {"t": 250}), (f"alerts/{device.client_id}", {"t": 201.5})]
        assert messages[0].qos == 1 and not messages[0].retain

        # A message published by a client on alerts/... is a rule input; the republished ones are not.
        device.publish("alerts/manual", b"sentinel", qos=1)
        records = records_until(server.bootstrap, "alerts-loop", lambda rs: any(r.value() == b"sentinel" for r in rs),
                                what="the sentinel")
        assert [r.value() for r in records] == [b"sentinel"], "rule-published messages were fed to rules again"
        assert len(watcher.payloads()) == 3  # the two alerts and the sentinel, nothing more
        device.disconnect()
        watcher.disconnect()
    finally:
        device.close()
        watcher.close()
    server.stop()
    matched, passed, failed, outputs = rule_metrics(server.log())["echo"]
    assert (matched, passed, outputs) == (6, 2, 2), rule_metrics(server.log())


TYPE_ERROR_CONFIG = """\
rules:
  - name: typed
    sql: "SELECT payload.temperature AS t FROM 'devices/+/telemetry' WHERE payload.temperature > 100"
    to: typed-out
"""


@pytest.mark.timeout(60)
def test_type_errors_are_counted_once_per_failing_input(server_factory, workdir):
    server = server_factory("--config", write_config(workdir / "tributary.yaml", TYPE_ERROR_CONFIG)).start()
    device = Client(server.mqtt_port, client_id=unique("typed"), version=V5)
    inputs = [b'{"temperature": "hot"}', b'{"temperature": "n/a"}', b'{"temperature": [1]}', b"not json",
              b'{"other": 1}', b'{"temperature": 150}']
    try:
        device.connect()
        for payload in inputs:
            device.publish(f"devices/{device.client_id}/telemetry", payload, qos=1)
        device.disconnect()
    finally:
        device.close()
    assert [json.loads(r.value()) for r in consume(server.bootstrap, "typed-out", 1, timeout=30)] == [{"t": 150}]
    assert server.stop() == 0
    metrics = rule_metrics(server.log())["typed"]
    # Three comparisons of a string or array with a number are type errors; non-JSON and a missing field are null.
    assert metrics == (6, 1, 3, 1), f"rule typed: matched, passed, failed, outputs = {metrics}; expected (6, 1, 3, 1)"


# --- 5. SELECT * copies any payload; field predicates skip non-JSON ----------------------------------------------

RAW_CONFIG = """\
rules:
  - name: all
    sql: "SELECT * FROM 'raw/#'"
    to: raw-copy
  - name: rawhot
    sql: "SELECT payload.temperature AS t FROM 'raw/#' WHERE payload.temperature > 100"
    to: raw-hot
"""


@pytest.mark.timeout(90)
def test_select_star_copies_payloads_unchanged_and_predicates_skip_non_json(server_factory, workdir):
    server = server_factory("--config", write_config(workdir / "tributary.yaml", RAW_CONFIG)).start()
    payloads = [
        ("raw/a", b"plain text, not JSON"),
        ("raw/b/c", b"\x00\xff\xfe\x80binary\x01"),
        ("raw/a", b'{"temperature":  150, "unit" : "C"}'),  # odd spacing: copied byte for byte, not re-encoded
        ("raw/a", b'{"temperature": 50}'),
        ("raw/a", b"[1, 2, 3]"),
        ("raw/a", b"{broken json"),
        ("raw/a", b""),
        ("raw/d", "température ünïcode".encode()),
    ]
    device = Client(server.mqtt_port, client_id=unique("raw"), version=V5)
    try:
        device.connect()
        for topic, payload in payloads:
            device.publish(topic, payload, qos=1)
        device.disconnect()
    finally:
        device.close()
    records = consume(server.bootstrap, "raw-copy", len(payloads), timeout=30)
    assert [(headers_of(r).get("mqtt.topic"), r.value() or b"") for r in records] == \
        [(topic.encode(), payload) for topic, payload in payloads]
    for record in records:
        headers = headers_of(record)
        assert record.key() == device.client_id.encode()
        assert headers.get("mqtt.client_id") == device.client_id.encode(), headers
        assert headers.get("mqtt.qos") == b"1", headers
    hot = consume(server.bootstrap, "raw-hot", 1, timeout=30)
    assert [json.loads(r.value()) for r in hot] == [{"t": 150}]
    assert sum(end_offsets(server.bootstrap, "raw-hot").values()) == 1
    assert server.stop() == 0
    metrics = rule_metrics(server.log())
    assert metrics.get("all") == (len(payloads), len(payloads), 0, len(payloads)), metrics
    matched, passed, failed, outputs = metrics["rawhot"]
    assert (matched, failed, outputs) == (len(payloads), 0, 1), f"rawhot: {metrics['rawhot']} (non-JSON must not fail)"


# --- 6. Invalid rules: refused at load and at reload; a valid reload takes effect ---------------------------------

def reload_config(threshold, broken: bool = False) -> str:
    where = f"payload.temperature > > {threshold}" if broken else f"payload.temperature > {threshold}"
    return (
        "rules:\n"
        "  - name: hot\n"
        f"    sql: \"SELECT payload.temperature AS t, clientid FROM 'devices/+/telemetry' WHERE {where}\"\n"
        "    to: alerts\n"
    )


BROKEN_SQL = "SELECT payload.temperature AS t, clientid FROM 'devices/+/telemetry' WHERE payload.temperature > > 100"
BROKEN_COLUMN = BROKEN_SQL.index("> >") + 3  # 1-based column of the second '>'


@pytest.mark.timeout(60)
def test_invalid_rule_is_refused_at_startup_with_line_and_column(tributary_binary, workdir):
    config = write_config(workdir / "tributary.yaml", reload_config(100, broken=True))
    kafka, mqtt_port, ws = free_ports(3)
    result = subprocess.run(
        [str(tributary_binary), "serve", "--data", str(workdir / "data"), "--config", config,
         "--kafka-listen", f"127.0.0.1:{kafka}", "--mqtt-listen", f"127.0.0.1:{mqtt_port}",
         "--mqtt-ws-listen", f"127.0.0.1:{ws}"],
        capture_output=True, text=True, timeout=30)
    output = result.stdout + result.stderr
    assert result.returncode != 0, f"started with an invalid rule:\n{output}"
    assert f"rules[0] (hot): sql: line 1, column {BROKEN_COLUMN}:" in output, output
    assert "'>'" in output, output


@pytest.mark.timeout(120)
def test_sighup_refuses_a_broken_rule_and_applies_a_valid_one_without_dropping_clients(server_factory, workdir):
    path = workdir / "tributary.yaml"
    server = server_factory("--config", write_config(path, reload_config(100))).start()
    device = Client(server.mqtt_port, client_id=unique("reload-dev"), version=V5)
    listener = Client(server.mqtt_port, version=V5)
    topic = f"devices/{device.client_id}/telemetry"
    try:
        device.connect()
        listener.connect()
        listener.subscribe(topic, qos=1)

        def publish(temperature):
            device.publish(topic, json.dumps({"temperature": temperature}), qos=1)

        def alerts_have(*temperatures):
            want = set(temperatures)
            return records_until(server.bootstrap, "alerts",
                                 lambda rs: want <= {json.loads(r.value())["t"] for r in rs}, what=f"t in {want}")

        publish(150)
        alerts_have(150)

        write_config(path, reload_config(100, broken=True))
        server.process.send_signal(signal.SIGHUP)
        wait_log(server, "reload refused; the previous rules and downlinks stay active")
        refusal = [line for line in server.log().splitlines() if "reload refused" in line][-1]
        assert f"line 1, column {BROKEN_COLUMN}" in refusal, refusal
        assert server.is_running()

        publish(160)  # the old rule still works, through the connection opened before the SIGHUP
        alerts_have(150, 160)

        write_config(path, reload_config(200))
        server.process.send_signal(signal.SIGHUP)
        wait_log(server, "rules and downlinks reloaded")
        publish(170)  # no longer above the threshold
        publish(250)
        records = alerts_have(150, 160, 250)
        assert [json.loads(r.value())["t"] for r in records] == [150, 160, 250]

        assert device.disconnected is None and listener.disconnected is None, "a client was disconnected by SIGHUP"
        assert device.paho.is_connected() and listener.paho.is_connected()
        assert [json.loads(m.payload)["temperature"] for m in listener.wait_messages(4, topic=topic)] == [150, 160, 170, 250]
        device.disconnect()
        listener.disconnect()
    finally:
        device.close()
        listener.close()
