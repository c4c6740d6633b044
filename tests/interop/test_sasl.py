"""SASL on the Kafka listeners and the one user base both protocols share.

Listeners declare SASL_PLAINTEXT or SASL_SSL; users live hashed in the compacted `__users` topic and are
managed with Kafka's own AlterUserScramCredentials/DescribeUserScramCredentials (librdkafka's AdminClient,
as `kafka-configs` would), seeded by a users file or `mqtt-users` from the environment. Clients:
confluent-kafka (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, re-authentication), kafka-python, kcat over SASL_SSL,
the Java client with SCRAM over TLS, hand-made frames for the v0 handshake and the refusals, paho for
MQTT with a user made through Kafka."""
import os
import pathlib
import subprocess
import time
import uuid

import confluent_kafka
import confluent_kafka.admin as kadmin
import kafka
import pytest

from conftest import free_ports
from kafka_wire import Connection, array, bytes_, int32, string
from mqtt_helpers import Client, consume, unique, wait_until
from test_java_client import java, java_programs  # noqa: F401 (fixtures)
from test_tls import TLSServer, certificates, run_java_smoke  # noqa: F401 (fixture)

SASL_HANDSHAKE, SASL_AUTHENTICATE, METADATA, API_VERSIONS = 17, 36, 3, 18
ADMIN_PASSWORD = "admin-secret"
ALICE_PASSWORD = "alice pass word"


def users_file(workdir: pathlib.Path) -> pathlib.Path:
    """A users file with plaintext lines: the server hashes them into the user base at start."""
    path = workdir / "users.txt"
    path.write_text(f"# bootstrap users\nadmin PLAIN {ADMIN_PASSWORD}\nalice PLAIN {ALICE_PASSWORD}\n")
    return path


def sasl_server(server_factory, workdir, *extra):
    server = server_factory("--users-file", str(users_file(workdir)), "--super-users", "User:admin", *extra)
    server.kafka_protocol = "SASL_PLAINTEXT"
    return server.start()


def sasl(mechanism, user, password, protocol="SASL_PLAINTEXT"):
    return {"security.protocol": protocol, "sasl.mechanism": mechanism, "sasl.username": user, "sasl.password": password}


def produce(bootstrap, security, topic, values):
    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "acks": "all", **security})
    for value in values:
        producer.produce(topic, value=value)
    assert producer.flush(30) == 0


def produce_slowly(bootstrap, security, topic, count, pause):
    """One producer (one connection) sending `count` records `pause` seconds apart, each flushed; returns the
    delivery errors (None for each record delivered)."""
    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "acks": "all", **security})
    delivered = []
    for index in range(count):
        producer.produce(topic, value=b"%d" % index, on_delivery=lambda err, msg: delivered.append(err))
        producer.flush(10)
        time.sleep(pause)
    assert producer.flush(30) == 0
    return delivered


def authentication_error(bootstrap, security, timeout=20.0):
    """The first error librdkafka reports for these settings (None if it connects)."""
    errors = []
    admin = kadmin.AdminClient({"bootstrap.servers": bootstrap, "error_cb": errors.append, **security})
    deadline = time.time() + timeout
    while not errors and time.time() < deadline:
        try:
            admin.list_topics(timeout=1)
            return None
        except confluent_kafka.KafkaException:
            pass
        admin.poll(0.2)
    return errors[0] if errors else None


def first_record(bootstrap, topic, security, predicate, timeout=30.0):
    """The value of the first record of `topic` (from the beginning) that `predicate` accepts."""
    consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": unique("sasl"), "auto.offset.reset": "earliest",
                                         "topic.metadata.refresh.interval.ms": 1000, **security})
    consumer.subscribe([topic])
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None and predicate(message.value() or b""):
                return message.value()
    finally:
        consumer.close()
    raise AssertionError(f"no matching record in {topic}")


# --- Mechanisms ------------------------------------------------------------------------------------------

@pytest.mark.timeout(120)
@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_confluent_kafka_authenticates_with_each_mechanism(server_factory, workdir, mechanism):
    server = sasl_server(server_factory, workdir)
    security = sasl(mechanism, "alice", ALICE_PASSWORD)
    topic = f"sasl-{mechanism.lower()}"
    produce(server.bootstrap, security, topic, [b"v%d" % i for i in range(20)])
    records = consume(server.bootstrap, topic, 20, security=security)
    assert [r.value() for r in records] == [b"v%d" % i for i in range(20)]

    # A wrong password is refused at once with librdkafka's authentication error, not a timeout.
    started = time.time()
    error = authentication_error(server.bootstrap, sasl(mechanism, "alice", "wrong"))
    assert error is not None and error.code() == confluent_kafka.KafkaError._AUTHENTICATION, error
    assert time.time() - started < 10
    assert "SASL authentication failed" in server.log()
    # The password is in no log line and no file of the data directory.
    assert ALICE_PASSWORD not in server.log()
    for path in server.data.rglob("*"):
        if path.is_file():
            assert ALICE_PASSWORD.encode() not in path.read_bytes(), path


@pytest.mark.timeout(120)
def test_kafka_python_with_scram_and_plain(server_factory, workdir):
    server = sasl_server(server_factory, workdir)
    for mechanism in ["SCRAM-SHA-512", "PLAIN"]:
        topic = f"kp-{mechanism.lower()}"
        options = dict(bootstrap_servers=server.bootstrap, security_protocol="SASL_PLAINTEXT", sasl_mechanism=mechanism,
                       sasl_plain_username="alice", sasl_plain_password=ALICE_PASSWORD)
        producer = kafka.KafkaProducer(acks="all", **options)
        for index in range(10):
            producer.send(topic, b"kp-%d" % index)
        producer.flush(30)
        producer.close()
        consumer = kafka.KafkaConsumer(topic, auto_offset_reset="earliest", consumer_timeout_ms=10_000, **options)
        assert [record.value for record in consumer] == [b"kp-%d" % i for i in range(10)]
        consumer.close()
    with pytest.raises(kafka.errors.KafkaError):
        kafka.KafkaProducer(bootstrap_servers=server.bootstrap, security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-256",
                            sasl_plain_username="alice", sasl_plain_password="nope")


# --- The wire: what is refused, the v0 handshake, re-authentication -----------------------------------

def handshake(connection, mechanism, version=1):
    reader = connection.call(SASL_HANDSHAKE, version, string(mechanism))
    return reader.int16(), reader.array(lambda r: r.string())


def authenticate(connection, token):
    """SaslAuthenticate v1: (error code, message, auth bytes, session lifetime)."""
    reader = connection.call(SASL_AUTHENTICATE, 1, bytes_(token))
    return reader.int16(), reader.string(), reader.bytes_(), reader.int64()


def plain_token(user, password):
    return b"\0" + user.encode() + b"\0" + password.encode()


@pytest.mark.timeout(60)
def test_requests_before_authentication_close_the_connection(server_factory, workdir):
    server = sasl_server(server_factory, workdir)
    connection = Connection(server.bootstrap)
    # ApiVersions is served before authentication (clients ask it first).
    assert connection.call(API_VERSIONS, 0, b"").int16() == 0
    connection.send(METADATA, 1, array([], string))
    assert connection.is_closed_by_peer()
    assert "before SASL authentication" in server.log()

    # An unknown mechanism: UNSUPPORTED_SASL_MECHANISM (33) with the enabled list.
    connection = Connection(server.bootstrap)
    code, mechanisms = handshake(connection, "GSSAPI")
    assert (code, mechanisms) == (33, ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
    # A wrong password: SASL_AUTHENTICATION_FAILED (58), then the connection closes, as on Kafka.
    assert handshake(connection, "PLAIN")[0] == 0
    code, message, _, _ = authenticate(connection, plain_token("alice", "wrong"))
    assert code == 58 and "Invalid username or password" in message
    assert connection.is_closed_by_peer()
    # SaslAuthenticate without a handshake: ILLEGAL_SASL_STATE (34).
    connection = Connection(server.bootstrap)
    assert authenticate(connection, plain_token("alice", ALICE_PASSWORD))[0] == 34

    # The plaintext listener of a server without SASL keeps answering mechanisms with an empty list.
    plain = server_factory(name="plain").start()
    connection = Connection(plain.bootstrap)
    assert handshake(connection, "PLAIN") == (33, [])


@pytest.mark.timeout(60)
def test_v0_handshake_takes_raw_tokens(server_factory, workdir):
    """SaslHandshake v0: the token follows as a bare size-prefixed frame, answered the same way."""
    server = sasl_server(server_factory, workdir)
    connection = Connection(server.bootstrap)
    assert handshake(connection, "PLAIN", version=0)[0] == 0
    connection.send_raw(bytes_(plain_token("alice", ALICE_PASSWORD)))
    assert connection._exactly(4) == int32(0)  # an empty token: authenticated
    reader = connection.call(METADATA, 1, array([], string))
    assert reader.array(lambda r: (r.int32(), r.string(), r.int32(), r.string()))[0][2] == server.port
    # A wrong password in raw mode: the connection just closes (that framing carries no error).
    connection = Connection(server.bootstrap)
    assert handshake(connection, "PLAIN", version=0)[0] == 0
    connection.send_raw(bytes_(plain_token("alice", "wrong")))
    assert connection.is_closed_by_peer()


@pytest.mark.timeout(90)
def test_sessions_expire_and_clients_reauthenticate(server_factory, workdir):
    """connections.max.reauth.ms (KIP-368): the lifetime is told in SaslAuthenticate; a connection that does
    not authenticate again is closed at its next request; librdkafka re-authenticates and keeps working."""
    server = sasl_server(server_factory, workdir, "--connections-max-reauth-ms", "2000")
    connection = Connection(server.bootstrap)
    assert handshake(connection, "PLAIN")[0] == 0
    code, _, _, lifetime = authenticate(connection, plain_token("alice", ALICE_PASSWORD))
    assert (code, lifetime) == (0, 2000)
    assert connection.call(METADATA, 1, array([], string)) is not None
    time.sleep(2.5)
    connection.send(METADATA, 1, array([], string))
    assert connection.is_closed_by_peer()
    assert "expired" in server.log()

    # librdkafka keeps producing across several session lifetimes on one connection.
    security = sasl("SCRAM-SHA-256", "alice", ALICE_PASSWORD)
    assert produce_slowly(server.bootstrap, security, "reauth", 14, pause=0.5) == [None] * 14
    assert server.log().count("SASL authentication succeeded") >= 4


# --- The user base through Kafka's admin API --------------------------------------------------------------

@pytest.mark.timeout(120)
def test_users_are_managed_with_alter_user_scram_credentials(server_factory, workdir):
    server = sasl_server(server_factory, workdir)
    admin = kadmin.AdminClient({"bootstrap.servers": server.bootstrap, **sasl("SCRAM-SHA-512", "admin", ADMIN_PASSWORD)})
    described = admin.describe_user_scram_credentials().result(timeout=20)
    assert sorted(described) == ["admin", "alice"]
    assert {info.mechanism for info in described["alice"].scram_credential_infos} == {
        kadmin.ScramMechanism.SCRAM_SHA_256, kadmin.ScramMechanism.SCRAM_SHA_512}

    # Create carol with SCRAM-SHA-256 (the client salts and hashes; the server stores keys only).
    upsert = kadmin.UserScramCredentialUpsertion("carol", kadmin.ScramCredentialInfo(kadmin.ScramMechanism.SCRAM_SHA_256, 8192), b"carol-pw")
    for future in admin.alter_user_scram_credentials([upsert]).values():
        future.result(timeout=20)
    produce(server.bootstrap, sasl("SCRAM-SHA-256", "carol", "carol-pw"), "carol-topic", [b"hello"])
    # PLAIN checks against the same credential.
    produce(server.bootstrap, sasl("PLAIN", "carol", "carol-pw"), "carol-topic", [b"again"])
    infos = admin.describe_user_scram_credentials(["carol"])["carol"].result(timeout=20).scram_credential_infos
    assert [(i.mechanism, i.iterations) for i in infos] == [(kadmin.ScramMechanism.SCRAM_SHA_256, 8192)]

    # Kafka's refusals: too few iterations, deleting what does not exist, describing an unknown user.
    weak = kadmin.UserScramCredentialUpsertion("dave", kadmin.ScramCredentialInfo(kadmin.ScramMechanism.SCRAM_SHA_256, 1000), b"pw")
    with pytest.raises(confluent_kafka.KafkaException) as refused:
        admin.alter_user_scram_credentials([weak])["dave"].result(timeout=20)
    assert refused.value.args[0].code() == confluent_kafka.KafkaError.UNACCEPTABLE_CREDENTIAL
    missing = kadmin.UserScramCredentialDeletion("dave", kadmin.ScramMechanism.SCRAM_SHA_512)
    with pytest.raises(confluent_kafka.KafkaException) as refused:
        admin.alter_user_scram_credentials([missing])["dave"].result(timeout=20)
    assert refused.value.args[0].code() == confluent_kafka.KafkaError.RESOURCE_NOT_FOUND
    with pytest.raises(confluent_kafka.KafkaException) as refused:
        admin.describe_user_scram_credentials(["nobody"])["nobody"].result(timeout=20)
    assert refused.value.args[0].code() == confluent_kafka.KafkaError.RESOURCE_NOT_FOUND

    # Only super users manage users: alice is refused with CLUSTER_AUTHORIZATION_FAILED.
    alice_admin = kadmin.AdminClient({"bootstrap.servers": server.bootstrap, **sasl("PLAIN", "alice", ALICE_PASSWORD)})
    with pytest.raises(confluent_kafka.KafkaException) as refused:
        alice_admin.alter_user_scram_credentials([upsert])["carol"].result(timeout=20)
    assert refused.value.args[0].code() == confluent_kafka.KafkaError.CLUSTER_AUTHORIZATION_FAILED

    # The user base survives a restart (it is a compacted topic); the users file does not undo a deletion.
    server.restart()
    admin = kadmin.AdminClient({"bootstrap.servers": server.bootstrap, **sasl("SCRAM-SHA-512", "admin", ADMIN_PASSWORD)})
    produce(server.bootstrap, sasl("SCRAM-SHA-256", "carol", "carol-pw"), "carol-topic", [b"after restart"])
    deletion = [kadmin.UserScramCredentialDeletion("alice", m) for m in (kadmin.ScramMechanism.SCRAM_SHA_256, kadmin.ScramMechanism.SCRAM_SHA_512)]
    admin.alter_user_scram_credentials(deletion)["alice"].result(timeout=20)
    assert authentication_error(server.bootstrap, sasl("PLAIN", "alice", ALICE_PASSWORD)).code() == confluent_kafka.KafkaError._AUTHENTICATION
    server.restart()
    assert authentication_error(server.bootstrap, sasl("PLAIN", "alice", ALICE_PASSWORD)).code() == confluent_kafka.KafkaError._AUTHENTICATION
    # Nobody reads the user base as a topic.
    topics = admin.list_topics(timeout=10).topics
    assert "__users" not in topics


# --- SASL over TLS ----------------------------------------------------------------------------------------

@pytest.mark.timeout(240)
def test_sasl_ssl_with_kcat_confluent_and_the_java_client(server_factory, certificates, workdir, java):
    tls = TLSServer(server_factory, certificates, workdir, plaintext_kafka=False,
                    extra=("--users-file", str(users_file(workdir)), "--super-users", "User:admin"),
                    kafka_tls_protocol="SASL_SSL")
    security = {**sasl("SCRAM-SHA-256", "alice", ALICE_PASSWORD, protocol="SASL_SSL"), "ssl.ca.location": certificates.path("ca.pem")}
    produce(tls.tls_bootstrap, security, "sasl-ssl", [b"s%d" % i for i in range(10)])

    kcat = subprocess.run(
        ["kcat", "-C", "-b", tls.tls_bootstrap, "-t", "sasl-ssl", "-o", "beginning", "-e", "-q",
         "-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanisms=SCRAM-SHA-512", "-X", "sasl.username=alice",
         "-X", f"sasl.password={ALICE_PASSWORD}", "-X", f"ssl.ca.location={certificates.path('ca.pem')}"],
        capture_output=True, text=True, timeout=60)
    assert kcat.returncode == 0, kcat.stderr
    assert kcat.stdout.split() == ["s%d" % i for i in range(10)]

    run_java_smoke(java, workdir, tls.tls_bootstrap, "java-sasl", [
        "security.protocol=SASL_SSL",
        "sasl.mechanism=SCRAM-SHA-512",
        f'sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="{ALICE_PASSWORD}";',
        "ssl.truststore.type=PEM",
        f"ssl.truststore.location={certificates.path('ca.pem')}",
    ])


# --- One user base for MQTT too ---------------------------------------------------------------------------

@pytest.mark.timeout(120)
def test_a_user_made_through_kafka_logs_in_over_mqtt(server_factory, workdir):
    server = sasl_server(server_factory, workdir, "--mqtt-allow-anonymous", "false")
    admin = kadmin.AdminClient({"bootstrap.servers": server.bootstrap, **sasl("PLAIN", "admin", ADMIN_PASSWORD)})
    upsert = kadmin.UserScramCredentialUpsertion("device-7", kadmin.ScramCredentialInfo(kadmin.ScramMechanism.SCRAM_SHA_512, 4096), b"dev-pw")
    admin.alter_user_scram_credentials([upsert])["device-7"].result(timeout=20)

    device = Client(server.mqtt_port, version=5)
    device.paho.username_pw_set("device-7", "dev-pw")
    device.connect()
    device.publish("devices/7/telemetry", b"21.5", qos=1)
    device.disconnect()

    intruder = Client(server.mqtt_port, version=5)
    intruder.paho.username_pw_set("device-7", "guess")
    with pytest.raises(AssertionError, match="CONNECT refused"):
        intruder.connect()
    assert intruder.connack[1].value == 0x86

    # The failure is an event (who, from where, which code) that carries no password.
    event = first_record(server.bootstrap, "mqtt.events", sasl("PLAIN", "admin", ADMIN_PASSWORD),
                         lambda value: b"client.auth_failed" in value)
    assert b"device-7" in event and b"guess" not in event

    # Attempts that keep failing from one address are cut off: 0x9F Connection rate exceeded.
    codes = []
    for _ in range(12):
        client = Client(server.mqtt_port, version=5)
        client.paho.username_pw_set("device-7", "guess")
        with pytest.raises(AssertionError):
            client.connect()
        codes.append(client.connack[1].value)
    assert 0x9F in codes and codes[0] == 0x86, codes


@pytest.mark.timeout(60)
def test_passwords_stay_off_the_command_line(server_factory, workdir, tributary_binary):
    refused = subprocess.run([str(tributary_binary), "serve", "--mqtt-users", "alice:secret"], capture_output=True, text=True, timeout=30)
    assert refused.returncode != 0 and "ps" in refused.stderr, refused.stderr
    server = server_factory("--mqtt-allow-anonymous", "false")
    server.env["TRIBUTARY_MQTT_USERS"] = "alice:hunter2"
    server.start()
    command_line = pathlib.Path(f"/proc/{server.process.pid}/cmdline").read_bytes()
    assert b"hunter2" not in command_line
    client = Client(server.mqtt_port, version=5)
    client.paho.username_pw_set("alice", "hunter2")
    client.connect()
    client.disconnect()


@pytest.mark.timeout(60)
def test_users_hash_lines_seed_the_user_base(server_factory, workdir, tributary_binary):
    """`tributary users hash NAME` reads the password from standard input and prints users-file lines that
    hold salted keys only; a server seeded with them lets the user in on both protocols."""
    hashed = subprocess.run([str(tributary_binary), "users", "hash", "erin", "--iterations", "8192"], input="erin-pw\n",
                            capture_output=True, text=True, timeout=30)
    assert hashed.returncode == 0, hashed.stderr
    lines = hashed.stdout.split("\n")[:2]
    assert [line.split()[:3] for line in lines] == [["erin", "SCRAM-SHA-256", "8192"], ["erin", "SCRAM-SHA-512", "8192"]]
    assert "erin-pw" not in hashed.stdout
    path = workdir / "hashed-users.txt"
    path.write_text(hashed.stdout)
    server = server_factory("--users-file", str(path), "--mqtt-allow-anonymous", "false")
    server.kafka_protocol = "SASL_PLAINTEXT"
    server.start()
    produce(server.bootstrap, sasl("SCRAM-SHA-512", "erin", "erin-pw"), "erin", [b"x"])
    client = Client(server.mqtt_port, version=4)
    client.paho.username_pw_set("erin", "erin-pw")
    client.connect()
    client.disconnect()



@pytest.mark.timeout(120)
def test_users_add_remove_and_list_against_a_running_server(server_factory, workdir, tributary_binary):
    """`tributary users add/remove/list` manage a running server's user base through its Kafka listener, as
    an administrator whose password comes from the environment; the new user's password from standard
    input. Neither password is on a command line or in the server's log."""
    server = sasl_server(server_factory, workdir)

    def users(*args, password_input="", admin_password=ADMIN_PASSWORD):
        return subprocess.run([str(tributary_binary), "users", *args, "--bootstrap-server", server.bootstrap, "--admin-user", "admin"],
                              input=password_input, capture_output=True, text=True, timeout=60,
                              env={**os.environ, "TRIBUTARY_ADMIN_PASSWORD": admin_password})

    added = users("add", "carol", password_input="carol-pw\n")
    assert added.returncode == 0, added.stderr
    produce(server.bootstrap, sasl("SCRAM-SHA-512", "carol", "carol-pw"), "carol", [b"x"])
    listed = users("list")
    assert listed.returncode == 0, listed.stderr
    rows = {line.split("\t")[0]: line for line in listed.stdout.splitlines()}
    assert set(rows) == {"admin", "alice", "carol"}
    assert "SCRAM-SHA-256 (4096 iterations)" in rows["carol"] and "SCRAM-SHA-512" in rows["carol"]

    removed = users("remove", "carol")
    assert removed.returncode == 0, removed.stderr
    error = authentication_error(server.bootstrap, sasl("SCRAM-SHA-256", "carol", "carol-pw"))
    assert error is not None and error.code() == confluent_kafka.KafkaError._AUTHENTICATION, error

    # A wrong administrator password, a user who is not a super user, a user that does not exist: refused,
    # with the reason and a failing exit code.
    refused = users("list", admin_password="wrong")
    assert refused.returncode != 0 and "authentication as admin failed" in refused.stderr, refused.stderr
    refused = subprocess.run([str(tributary_binary), "users", "add", "mallory", "--bootstrap-server", server.bootstrap, "--admin-user", "alice"],
                             input="m\n", capture_output=True, text=True, timeout=60, env={**os.environ, "TRIBUTARY_ADMIN_PASSWORD": ALICE_PASSWORD})
    assert refused.returncode != 0 and "Kafka error 31" in refused.stderr, refused.stderr
    refused = users("remove", "nobody")
    assert refused.returncode != 0 and "nobody" in refused.stderr, refused.stderr
    assert "carol-pw" not in server.log() and ADMIN_PASSWORD not in server.log()

# --- OAUTHBEARER ------------------------------------------------------------------------------------------

@pytest.mark.timeout(120)
def test_oauthbearer_with_librdkafka(server_factory, workdir):
    """OAUTHBEARER: librdkafka's oauth_cb hands over JWTs (HS256, made by the test); the principal is the
    token's sub; a token the keys do not verify is refused; the session ends with the token (KIP-368), so
    librdkafka fetches a new one and authenticates again on the same connection."""
    import secrets

    from test_mqtt_jwt import token

    secret = secrets.token_hex(32).encode()
    secret_file = workdir / "jwt-secret"
    secret_file.write_bytes(secret)
    server = sasl_server(server_factory, workdir, "--jwt-hmac-secret-file", str(secret_file))
    issued = []

    def fresh_token(_config):
        expiry = time.time() + 4
        issued.append(expiry)
        return token(secret, sub="svc-ingest", exp=int(expiry)), expiry

    security = {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "OAUTHBEARER", "oauth_cb": fresh_token}
    assert produce_slowly(server.bootstrap, security, "oauth", 10, pause=0.7) == [None] * 10
    assert "principal=User:svc-ingest" in server.log()
    # The token's expiry bounds the session: librdkafka got new tokens and authenticated again.
    assert len(issued) >= 2, issued
    assert server.log().count("mechanism=OAUTHBEARER principal=User:svc-ingest") >= 2

    forged = {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "OAUTHBEARER",
              "oauth_cb": lambda _c: (token(b"not-the-servers-secret-0123456789abcdef", sub="svc-ingest", exp=int(time.time()) + 60), time.time() + 60)}
    error = authentication_error(server.bootstrap, forged)
    assert error is not None and error.code() == confluent_kafka.KafkaError._AUTHENTICATION, error
