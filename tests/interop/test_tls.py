"""TLS on every listener: Kafka's SSL security protocol (librdkafka, kafka-python, kcat, the Java client),
MQTT over TLS (paho, mosquitto_pub) and over secure WebSocket, client certificates (required, optional,
refused), certificates reloaded on SIGHUP, and what the server refuses (TLS 1.1, plaintext on a TLS port,
a configuration that cannot work).

The certificates are made for the session by `openssl`: a CA, a server certificate for 127.0.0.1 and
localhost, a second server certificate (for the reload), a client certificate the CA issued and a rogue
client certificate from a CA the server does not trust."""
import json
import pathlib
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import uuid

import confluent_kafka
import kafka
import pytest

from conftest import free_ports
from kafka_wire import Connection
from mqtt_helpers import Client, consume, wait_until
from test_java_client import java, java_programs  # noqa: F401 (fixtures)


def openssl(*args, cwd):
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    assert result.returncode == 0, f"openssl {' '.join(args)}: {result.stderr}"


class Certificates:
    def __init__(self, directory: pathlib.Path):
        self.directory = directory
        self._authority("ca")
        self._authority("rogue-ca")
        self._issue("server", "ca", "localhost", server=True)
        self._issue("server2", "ca", "localhost-reloaded", server=True)
        self._issue("client", "ca", "device-1")
        self._issue("client2", "ca", "device-2")
        self._issue("rogue", "rogue-ca", "device-1")
        # The Java client's PEM keystore: the private key and its certificate in one file.
        (directory / "client-bundle.pem").write_text((directory / "client.key").read_text() + (directory / "client.pem").read_text())

    def path(self, name) -> str:
        return str(self.directory / name)

    def _authority(self, name):
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                "-keyout", f"{name}.key", "-out", f"{name}.pem", "-subj", f"/CN=Tributary test {name}", cwd=self.directory)

    def _issue(self, name, authority, common_name, server=False):
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", f"{name}.key",
                "-out", f"{name}.csr", "-subj", f"/CN={common_name}", cwd=self.directory)
        extensions = "subjectAltName=DNS:localhost,IP:127.0.0.1\n" if server else "extendedKeyUsage=clientAuth\n"
        (self.directory / f"{name}.ext").write_text(extensions)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{authority}.pem", "-CAkey", f"{authority}.key",
                "-set_serial", str(uuid.uuid4().int >> 64), "-days", "2", "-out", f"{name}.pem", "-extfile", f"{name}.ext",
                cwd=self.directory)


@pytest.fixture(scope="session")
def certificates():
    directory = pathlib.Path(tempfile.mkdtemp(prefix="tributary-certs-"))
    yield Certificates(directory)
    shutil.rmtree(directory, ignore_errors=True)


class TLSServer:
    """A server with TLS listeners for Kafka, MQTT and MQTT over WebSocket, beside the plaintext ones
    (unless `plaintext_kafka` is False)."""

    def __init__(self, server_factory, certificates, workdir, client_auth="none", plaintext_kafka=True, extra=(), kafka_tls_protocol="SSL"):
        self.kafka_tls_port, self.mqtt_tls_port, self.wss_port = free_ports(3)
        # The server reads its certificate files again on SIGHUP: give it copies a test may replace.
        self.cert = workdir / "server-cert.pem"
        self.key = workdir / "server-key.pem"
        shutil.copy(certificates.path("server.pem"), self.cert)
        shutil.copy(certificates.path("server.key"), self.key)
        args = ["--kafka-tls-listen", f"{kafka_tls_protocol}://127.0.0.1:{self.kafka_tls_port}", "--mqtt-tls-listen", f"127.0.0.1:{self.mqtt_tls_port}",
                "--mqtt-wss-listen", f"127.0.0.1:{self.wss_port}", "--tls-cert", str(self.cert), "--tls-key", str(self.key),
                "--tls-client-auth", client_auth]
        if client_auth != "none":
            args += ["--tls-ca", certificates.path("ca.pem")]
        self.server = server_factory(*args, *extra)
        self.server.kafka_plaintext = plaintext_kafka
        self.server.ready_ports = [self.kafka_tls_port, self.mqtt_tls_port, self.wss_port] + ([self.server.port] if plaintext_kafka else [])
        self.server.start()

    @property
    def tls_bootstrap(self):
        return f"127.0.0.1:{self.kafka_tls_port}"


def client_context(certificates, cert=None, maximum=None):
    context = ssl.create_default_context(cafile=certificates.path("ca.pem"))
    if cert:
        context.load_cert_chain(certificates.path(f"{cert}.pem"), certificates.path(f"{cert}.key"))
    if maximum:
        context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        context.maximum_version = maximum
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


def api_versions_answered(address, context) -> bool:
    """Whether a TLS connection with `context` gets an ApiVersions answer (False when the handshake or the
    first read fails: with TLS 1.3 a refused client certificate shows after the client's handshake)."""
    try:
        connection = Connection(address, timeout=10.0, tls=context)
    except (ssl.SSLError, ConnectionError, OSError):
        return False
    try:
        reader = connection.call(18, 0, b"")
        return reader.int16() == 0
    except (ssl.SSLError, ConnectionError, OSError):
        return False
    finally:
        connection.close()


def librdkafka_ssl(certificates, cert=None):
    config = {"security.protocol": "ssl", "ssl.ca.location": certificates.path("ca.pem")}
    if cert:
        config["ssl.certificate.location"] = certificates.path(f"{cert}.pem")
        config["ssl.key.location"] = certificates.path(f"{cert}.key")
    return config


def produce_and_consume_confluent(bootstrap, security, topic, count=50):
    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "acks": "all", **security})
    for index in range(count):
        producer.produce(topic, key=b"k%d" % index, value=b"tls-%d" % index)
    assert producer.flush(30) == 0
    consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": f"g-{uuid.uuid4().hex[:8]}",
                                         "auto.offset.reset": "earliest", **security})
    consumer.subscribe([topic])
    values = []
    deadline = time.time() + 60
    while len(values) < count and time.time() < deadline:
        message = consumer.poll(1.0)
        if message is not None and message.error() is None:
            values.append(message.value())
    consumer.close()
    return values


def handshake_failures(server) -> int:
    return server.log().count("tls handshake failed")


# --- Kafka -------------------------------------------------------------------------------------------------

def test_kafka_clients_over_tls_see_the_tls_listener_in_metadata(server_factory, certificates, workdir):
    tls = TLSServer(server_factory, certificates, workdir)
    security = librdkafka_ssl(certificates)
    # librdkafka verifies the server's certificate and host name (127.0.0.1 is in its subjectAltName).
    admin = confluent_kafka.admin.AdminClient({"bootstrap.servers": tls.tls_bootstrap, **security})
    brokers = admin.list_topics(timeout=15).brokers
    assert [(b.host, b.port) for b in brokers.values()] == [("127.0.0.1", tls.kafka_tls_port)]
    # The plaintext listener still advertises itself to its own clients.
    plain = confluent_kafka.admin.AdminClient({"bootstrap.servers": tls.server.bootstrap}).list_topics(timeout=15).brokers
    assert [(b.host, b.port) for b in plain.values()] == [("127.0.0.1", tls.server.port)]

    values = produce_and_consume_confluent(tls.tls_bootstrap, security, "tls-confluent", count=200)
    assert sorted(values) == sorted(b"tls-%d" % i for i in range(200))

    # kafka-python over TLS, reading what librdkafka wrote (fetches through TLS are read into memory).
    consumer = kafka.KafkaConsumer("tls-confluent", bootstrap_servers=tls.tls_bootstrap, security_protocol="SSL",
                                   ssl_cafile=certificates.path("ca.pem"), auto_offset_reset="earliest",
                                   consumer_timeout_ms=10_000)
    read = [record.value for record in consumer]
    consumer.close()
    assert sorted(read) == sorted(values)

    # kcat lists the cluster over TLS.
    listing = subprocess.run(["kcat", "-b", tls.tls_bootstrap, "-X", "security.protocol=ssl", "-X",
                              f"ssl.ca.location={certificates.path('ca.pem')}", "-L", "-J"],
                             capture_output=True, text=True, timeout=30)
    assert listing.returncode == 0, listing.stderr
    metadata = json.loads(listing.stdout)
    assert [b["name"] for b in metadata["brokers"]] == [f"127.0.0.1:{tls.kafka_tls_port}"]
    assert "tls-confluent" in [t["topic"] for t in metadata["topics"]]


def test_kafka_tls_only_with_the_plaintext_listener_off(server_factory, certificates, workdir):
    tls = TLSServer(server_factory, certificates, workdir, plaintext_kafka=False)
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", tls.server.port)) != 0, "the plaintext Kafka port should be closed"
    values = produce_and_consume_confluent(tls.tls_bootstrap, librdkafka_ssl(certificates), "tls-only", count=20)
    assert sorted(values) == sorted(b"tls-%d" % i for i in range(20))
    # The broker's configs name the one listener.
    admin = confluent_kafka.admin.AdminClient({"bootstrap.servers": tls.tls_bootstrap, **librdkafka_ssl(certificates)})
    resource = confluent_kafka.admin.ConfigResource("BROKER", "0")
    configs = admin.describe_configs([resource])[resource].result(timeout=15)
    assert configs["advertised.listeners"].value == f"SSL://127.0.0.1:{tls.kafka_tls_port}"
    # MQTT ingest (over TLS) still lands in Kafka.
    client = Client(tls.mqtt_tls_port, tls={"ca_certs": certificates.path("ca.pem")})
    try:
        client.connect()
        client.publish("sensors/tls-only", b"reading", qos=1)
        client.disconnect()
    finally:
        client.close()
    records = consume(tls.tls_bootstrap, "mqtt.messages", 1, security=librdkafka_ssl(certificates))
    assert [r.value() for r in records] == [b"reading"]


def test_required_client_certificates(server_factory, certificates, workdir):
    tls = TLSServer(server_factory, certificates, workdir, client_auth="require")
    assert api_versions_answered(tls.tls_bootstrap, client_context(certificates, cert="client"))
    before = handshake_failures(tls.server)
    assert not api_versions_answered(tls.tls_bootstrap, client_context(certificates))
    assert not api_versions_answered(tls.tls_bootstrap, client_context(certificates, cert="rogue"))
    wait_until(lambda: handshake_failures(tls.server) >= before + 2, what="two handshake failures logged")
    # librdkafka with the certificate works end to end; without one it cannot get metadata.
    values = produce_and_consume_confluent(tls.tls_bootstrap, librdkafka_ssl(certificates, cert="client"), "mtls", count=20)
    assert len(values) == 20
    refused = confluent_kafka.admin.AdminClient({"bootstrap.servers": tls.tls_bootstrap, **librdkafka_ssl(certificates)})
    with pytest.raises(confluent_kafka.KafkaException):
        refused.list_topics(timeout=5)
    # MQTT: mosquitto_pub with the client certificate is let in, without one it is not.
    common = ["-h", "127.0.0.1", "-p", str(tls.mqtt_tls_port), "--cafile", certificates.path("ca.pem"), "-t", "mtls/x", "-q", "1"]
    accepted = subprocess.run(["mosquitto_pub", *common, "-m", "with-cert", "--cert", certificates.path("client.pem"),
                               "--key", certificates.path("client.key")], capture_output=True, text=True, timeout=30)
    assert accepted.returncode == 0, accepted.stderr
    refused_pub = subprocess.run(["mosquitto_pub", *common, "-m", "no-cert"], capture_output=True, text=True, timeout=30)
    assert refused_pub.returncode != 0
    rogue_pub = subprocess.run(["mosquitto_pub", *common, "-m", "rogue", "--cert", certificates.path("rogue.pem"),
                                "--key", certificates.path("rogue.key")], capture_output=True, text=True, timeout=30)
    assert rogue_pub.returncode != 0
    records = consume(tls.server.bootstrap, "mqtt.messages", 1, timeout=20)
    assert [r.value() for r in records] == [b"with-cert"]
    assert tls.server.is_running()


def test_optional_client_certificates_refuse_only_a_certificate_that_does_not_verify(server_factory, certificates, workdir):
    tls = TLSServer(server_factory, certificates, workdir, client_auth="optional")
    assert api_versions_answered(tls.tls_bootstrap, client_context(certificates))
    assert api_versions_answered(tls.tls_bootstrap, client_context(certificates, cert="client"))
    before = handshake_failures(tls.server)
    assert not api_versions_answered(tls.tls_bootstrap, client_context(certificates, cert="rogue"))
    wait_until(lambda: handshake_failures(tls.server) > before, what="the rogue certificate's handshake failure logged")


def test_old_protocol_versions_and_plaintext_on_a_tls_port_are_refused_and_others_keep_being_served(server_factory, certificates, workdir):
    tls = TLSServer(server_factory, certificates, workdir)
    before = handshake_failures(tls.server)
    assert not api_versions_answered(tls.tls_bootstrap, client_context(certificates, maximum=ssl.TLSVersion.TLSv1_1))
    wait_until(lambda: "UNSUPPORTED_PROTOCOL" in tls.server.log() or "NO_SHARED_CIPHER" in tls.server.log()
               or handshake_failures(tls.server) > before, what="the TLS 1.1 handshake refused by the server")
    # A plaintext Kafka request on the TLS port: no Kafka answer (at most a TLS alert record, content type
    # 21), the connection closed, a log line.
    plain = Connection(tls.tls_bootstrap)
    plain.send(18, 0, b"")
    plain.sock.settimeout(10.0)
    answer = b""
    while chunk := plain.sock.recv(4096):
        answer += chunk
    plain.close()
    assert answer == b"" or answer[0] == 21, answer
    wait_until(lambda: handshake_failures(tls.server) >= before + 2, what="plaintext on the TLS port logged")
    # TLS 1.2 is accepted, and TLS 1.3 (the default) too.
    assert api_versions_answered(tls.tls_bootstrap, client_context(certificates, maximum=ssl.TLSVersion.TLSv1_2))
    assert api_versions_answered(tls.tls_bootstrap, client_context(certificates))


# --- MQTT --------------------------------------------------------------------------------------------------

def test_mqtt_over_tls_and_secure_websocket_ingest_into_kafka(server_factory, certificates, workdir):
    tls = TLSServer(server_factory, certificates, workdir)
    ca = {"ca_certs": certificates.path("ca.pem")}
    subscriber = Client(tls.mqtt_tls_port, tls=ca)
    websocket = Client(tls.wss_port, transport="websockets", tls=ca)
    try:
        subscriber.connect()
        subscriber.subscribe("secure/#", qos=1)
        websocket.connect()
        websocket.publish("secure/wss", b"over-wss", qos=1)
        subscriber.publish("secure/tls", b"over-tls", qos=1)
        messages = subscriber.wait_messages(2)
        assert sorted(m.payload for m in messages) == [b"over-tls", b"over-wss"]
    finally:
        subscriber.close()
        websocket.close()
    published = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(tls.mqtt_tls_port), "--cafile", certificates.path("ca.pem"),
                                "-t", "secure/mosquitto", "-m", "from-mosquitto", "-q", "1", "-V", "mqttv311"],
                               capture_output=True, text=True, timeout=30)
    assert published.returncode == 0, published.stderr
    records = consume(tls.server.bootstrap, "mqtt.messages", 3, timeout=30)
    assert sorted(r.value() for r in records) == [b"from-mosquitto", b"over-tls", b"over-wss"]


# --- Reload ------------------------------------------------------------------------------------------------

def served_certificate(port) -> bytes:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as wrapped:
            return wrapped.getpeercert(binary_form=True)


def der(path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(pathlib.Path(path).read_text())


def test_sighup_reloads_certificates_for_new_connections_and_keeps_open_ones(server_factory, certificates, workdir):
    tls = TLSServer(server_factory, certificates, workdir)
    assert served_certificate(tls.kafka_tls_port) == der(certificates.path("server.pem"))
    # An MQTT client connected before the reload keeps its session through it.
    before = Client(tls.mqtt_tls_port, tls={"ca_certs": certificates.path("ca.pem")})
    try:
        before.connect()
        before.subscribe("reload/#", qos=1)
        # A file that does not load changes nothing: the old certificate stays in use.
        tls.key.write_text("not a key\n")
        tls.server.process.send_signal(signal.SIGHUP)
        wait_until(lambda: "tls reload refused" in tls.server.log(), what="the refused reload logged")
        assert served_certificate(tls.kafka_tls_port) == der(certificates.path("server.pem"))

        shutil.copy(certificates.path("server2.pem"), tls.cert)
        shutil.copy(certificates.path("server2.key"), tls.key)
        tls.server.process.send_signal(signal.SIGHUP)
        wait_until(lambda: "tls certificates reloaded" in tls.server.log(), what="the reload logged")
        for port in (tls.kafka_tls_port, tls.mqtt_tls_port, tls.wss_port):
            assert served_certificate(port) == der(certificates.path("server2.pem"))
        after = Client(tls.mqtt_tls_port, tls={"ca_certs": certificates.path("ca.pem")})
        try:
            after.connect()
            after.publish("reload/after", b"new-cert", qos=1)
            after.disconnect()
        finally:
            after.close()
        assert before.wait_messages(1)[0].payload == b"new-cert"
        before.disconnect()
    finally:
        before.close()
    assert tls.server.is_running()


# --- Configuration -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["--kafka-tls-listen", "127.0.0.1:0"], "needs tls-cert and tls-key"),
    (["--tls-client-auth", "require"], "needs tls-ca"),
    (["--kafka-listen", "off"], "kafka-listen and kafka-tls-listen are both off"),
    (["--kafka-tls-listen", "127.0.0.1:0", "--tls-cert", "{certs}/server.pem", "--tls-key", "{certs}/ca.pem"], "tls-key"),
    (["--kafka-tls-listen", "127.0.0.1:0", "--tls-cert", "{certs}/server.pem", "--tls-key", "{certs}/rogue.key"], "tls-cert"),
])
def test_configurations_that_cannot_work_are_refused_at_start(tributary_binary, certificates, workdir, args, message):
    args = [a.replace("{certs}", str(certificates.directory)) for a in args]
    port, mqtt = free_ports(2)
    result = subprocess.run([str(tributary_binary), "serve", "--data", str(workdir / "data"), "--kafka-listen", f"127.0.0.1:{port}",
                             "--mqtt-listen", f"127.0.0.1:{mqtt}", "--mqtt-ws-listen", "off", *args],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr, result.stdout + result.stderr


# --- Certificate identities -----------------------------------------------------------------------------

def test_certificates_name_kafka_principals_and_mqtt_users(server_factory, certificates, workdir):
    """On an SSL listener the principal is the certificate's subject (User:CN=device-1), as Kafka's default
    principal builder makes it; MQTT clients are logged in as their certificate's common name
    (mqtt-cert-as-username cn), which topic rules then see as ${username}."""
    config = workdir / "cert-acl.yaml"
    config.write_text('mqtt-acl:\n  - {permission: allow, action: all, topics: ["devices/${username}/#"]}\n')
    tls = TLSServer(server_factory, certificates, workdir, client_auth="require",
                    extra=("--super-users", "User:CN=device-1", "--mqtt-cert-as-username", "cn", "--mqtt-allow-anonymous", "false",
                           "--config", str(config)))
    admin = confluent_kafka.admin.AdminClient({"bootstrap.servers": tls.tls_bootstrap, **librdkafka_ssl(certificates, cert="client")})
    assert admin.describe_user_scram_credentials().result(timeout=20) == {}
    other = confluent_kafka.admin.AdminClient({"bootstrap.servers": tls.tls_bootstrap, **librdkafka_ssl(certificates, cert="client2")})
    # (A refused DescribeUserScramCredentials is answered as Kafka answers it, with the error at the top,
    # which confluent-kafka 2.16.1 aborts on; a refused alteration carries it per user.)
    upsert = confluent_kafka.admin.UserScramCredentialUpsertion(
        "someone", confluent_kafka.admin.ScramCredentialInfo(confluent_kafka.admin.ScramMechanism.SCRAM_SHA_256, 4096), b"pw")
    with pytest.raises(confluent_kafka.KafkaException) as refused:
        other.alter_user_scram_credentials([upsert])["someone"].result(timeout=20)
    assert refused.value.args[0].code() == confluent_kafka.KafkaError.CLUSTER_AUTHORIZATION_FAILED

    device = Client(tls.mqtt_tls_port, tls={"ca_certs": certificates.path("ca.pem"), "certfile": certificates.path("client.pem"),
                                            "keyfile": certificates.path("client.key")})
    device.connect()
    device.subscribe("devices/device-1/#")
    with pytest.raises(AssertionError, match="refused"):
        device.subscribe("devices/device-2/#")
    device.close()


# --- The Java client ---------------------------------------------------------------------------------------

def test_java_client_end_to_end_over_mutual_tls(server_factory, certificates, workdir, java):
    tls = TLSServer(server_factory, certificates, workdir, client_auth="require")
    elapsed = run_java_smoke(java, workdir, tls.tls_bootstrap, "java-tls", [
        "security.protocol=SSL",
        "ssl.truststore.type=PEM",
        f"ssl.truststore.location={certificates.path('ca.pem')}",
        "ssl.keystore.type=PEM",
        f"ssl.keystore.location={certificates.path('client-bundle.pem')}",
    ])
    print(f"Smoke over mutual TLS ran in {elapsed:.1f}s")


def run_java_smoke(java, workdir, bootstrap, name, client_properties):
    """Runs the Java client's Smoke program (admin, producer, consumer group) with these client properties;
    fails on any step that failed. Returns how long it ran."""
    properties = workdir / f"{name}.properties"
    properties.write_text("\n".join(client_properties) + "\n")
    code, lines, elapsed, _ = java.run("Smoke", bootstrap, name, f"{name}-group", 20, str(properties), timeout=200, log_name=f"smoke-{name}")
    failed = [line for line in lines if "error" in line]
    assert not failed, f"Smoke ({name}) failed in {failed[0]['step']}: {failed[0]['error']['class']}: {failed[0]['error']['message']}"
    assert code == 0 and lines[-1] == {"step": "finished"}
    return elapsed
