"""MQTT authenticators beyond the user base: an HTTP webhook (served by a small Python HTTP server made by
the fixture), the signed-password scheme of IoT device platforms, chains chosen per listener, and client
certificates over WebSocket with TLS (the certificate survives the HTTP upgrade)."""
import hashlib
import hmac
import http.server
import json
import threading
import time

import confluent_kafka
import pytest

from conftest import free_ports
from mqtt_helpers import CONNACK, V311, V5, Client, RawClient, connect_packet, unique
from test_tls import TLSServer, certificates  # noqa: F401 (fixture)


def connack_code(port, client_id, version=V5, **kwargs):
    raw = RawClient(port)
    raw.send(connect_packet(client_id, version=version, **kwargs))
    code = raw.expect(CONNACK).connack(version)[1]
    raw.close()
    return code


class Webhook:
    """An HTTP authentication service: the user name decides the answer (`allow-*` allow, `deny-*` deny,
    `ignore-*` ignore, `slow-*` answer after two seconds, `broken-*` a 500); every request body is kept."""

    def __init__(self):
        self.requests = []
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                hook.requests.append(body)
                user = body.get("username") or ""
                if user.startswith("slow-"):
                    time.sleep(2)
                if user.startswith("broken-"):
                    self.send_response(500)
                    self.end_headers()
                    return
                result = user.split("-")[0] if user.split("-")[0] in ("allow", "deny", "ignore", "slow") else "ignore"
                payload = json.dumps({"result": "allow" if result == "slow" else result}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.port = free_ports(1)[0]
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/mqtt/auth"

    def close(self):
        if self.thread is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread = None


@pytest.fixture
def webhook():
    hook = Webhook()
    yield hook
    hook.close()


@pytest.mark.timeout(60)
def test_webhook_decides_and_its_answers_are_cached(server_factory, webhook):
    server = server_factory("--mqtt-auth-http-url", webhook.url, "--mqtt-auth-http-timeout-ms", "500",
                            "--mqtt-allow-anonymous", "false").start()
    port = server.mqtt_port
    assert connack_code(port, "dev-1", username="allow-dev", password="pw") == 0
    assert webhook.requests[-1] == {"clientid": "dev-1", "username": "allow-dev", "password": "pw",
                                    "peer": webhook.requests[-1]["peer"], "protocol": "MQTT 5.0", "listener": "tcp"}
    assert webhook.requests[-1]["peer"].startswith("127.0.0.1:")
    # The same client, user name and password again: answered from the cache, the service is not asked.
    asked = len(webhook.requests)
    assert connack_code(port, "dev-1", username="allow-dev", password="pw") == 0
    assert len(webhook.requests) == asked
    # Another password is another question.
    assert connack_code(port, "dev-1", username="allow-dev", password="other") == 0
    assert len(webhook.requests) == asked + 1

    assert connack_code(port, unique("d"), username="deny-dev", password="pw") == 0x87
    assert connack_code(port, unique("d"), V311, username="deny-dev", password="pw") == 5
    # Ignored, timed out or failed: nobody else knows the client, so it is refused as a bad login.
    assert connack_code(port, unique("d"), username="ignore-dev", password="pw") == 0x86
    started = time.time()
    assert connack_code(port, unique("d"), username="slow-dev", password="pw") == 0x86
    assert time.time() - started < 1.9
    assert connack_code(port, unique("d"), username="broken-dev", password="pw") == 0x86
    log = server.log()
    assert "the MQTT authentication service could not be asked" in log
    assert "answered an error status" in log
    # The password is not logged.
    assert '"pw"' not in log and "password=pw" not in log


def headers_of(bootstrap, value, timeout=20.0):
    """The headers of the first record of mqtt.messages whose value is `value`."""
    consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": unique("auth"), "auto.offset.reset": "earliest"})
    consumer.subscribe(["mqtt.messages"])
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None and message.value() == value:
                return dict(message.headers())
    finally:
        consumer.close()
    raise AssertionError(f"no record {value!r} in mqtt.messages")


def sign(secret, client_id, device, product, timestamp, method="hmacsha256"):
    fields = {"clientId": client_id, "deviceName": device, "productKey": product, "timestamp": timestamp}
    content = "".join(key + fields[key] for key in sorted(fields))
    digest = {"hmacsha256": hashlib.sha256, "hmacsha1": hashlib.sha1, "hmacmd5": hashlib.md5}[method]
    return hmac.new(secret.encode(), content.encode(), digest).hexdigest()


@pytest.mark.timeout(60)
def test_signed_passwords_of_provisioned_devices(server_factory, workdir):
    secrets = workdir / "device-secrets"
    secrets.write_text("# product device secret\npk1 dev1 s3cr3t-one\npk1 dev2 s3cr3t-two\n")
    server = server_factory("--mqtt-device-secrets-file", str(secrets), "--mqtt-allow-anonymous", "false").start()
    now = str(int(time.time() * 1000))

    for method in ("hmacsha256", "hmacsha1", "hmacmd5"):
        client_id = f"sensor-{method}|securemode=2,signmethod={method},timestamp={now}|"
        password = sign("s3cr3t-one", f"sensor-{method}", "dev1", "pk1", now, method)
        assert connack_code(server.mqtt_port, client_id, username="dev1&pk1", password=password) == 0, method

    # A wrong signature, another device's secret, an unknown device.
    client_id = f"sensor|securemode=2,signmethod=hmacsha256,timestamp={now}|"
    assert connack_code(server.mqtt_port, client_id, username="dev1&pk1", password="00" * 32) == 0x86
    assert connack_code(server.mqtt_port, client_id, username="dev2&pk1", password=sign("s3cr3t-one", "sensor", "dev2", "pk1", now)) == 0x86
    assert connack_code(server.mqtt_port, client_id, V311, username="dev9&pk1", password="x") == 4

    # The device's records carry the bare client id and its device name.
    device = Client(server.mqtt_port, client_id=f"meter-7|securemode=2,signmethod=hmacsha256,timestamp={now}|")
    device.paho.username_pw_set("dev2&pk1", sign("s3cr3t-two", "meter-7", "dev2", "pk1", now))
    device.connect()
    device.publish("meters/7", b"42", qos=1)
    # Another provisioned device cannot sign its way into meter-7's session: it belongs to dev2&pk1.
    thief_id = f"meter-7|securemode=2,signmethod=hmacsha256,timestamp={now}|"
    assert connack_code(server.mqtt_port, thief_id, username="dev1&pk1", password=sign("s3cr3t-one", "meter-7", "dev1", "pk1", now)) == 0x87
    assert device.disconnected is None
    device.close()
    headers = headers_of(server.bootstrap, b"42")
    assert headers["mqtt.client_id"] == b"meter-7"
    assert headers["mqtt.username"] == b"dev2&pk1"


@pytest.mark.timeout(60)
def test_each_listener_has_its_own_chain(server_factory, webhook):
    """The webhook decides on the plain listener only; the WebSocket listener asks the user base alone."""
    server = server_factory("--mqtt-auth-http-url", webhook.url, "--mqtt-allow-anonymous", "false",
                            "--mqtt-authenticators-ws", "users")
    server.env["TRIBUTARY_MQTT_USERS"] = "alice:alice-pw"
    server.start()
    assert connack_code(server.mqtt_port, unique("d"), username="allow-x", password="pw") == 0
    websocket = Client(server.ws_port, transport="websockets")
    websocket.paho.username_pw_set("allow-x", "pw")
    with pytest.raises(AssertionError, match="refused"):
        websocket.connect()
    websocket.close()
    alice = Client(server.ws_port, transport="websockets")
    alice.paho.username_pw_set("alice", "alice-pw")
    alice.connect()
    alice.close()
    assert all(request["listener"] == "tcp" for request in webhook.requests)


@pytest.mark.timeout(60)
def test_certificate_identities_over_secure_websocket(server_factory, certificates, workdir):
    """The TLS handshake of a wss connection completes before the HTTP upgrade adds the MQTT handler; the
    client certificate still names the user."""
    tls = TLSServer(server_factory, certificates, workdir, client_auth="require",
                    extra=("--mqtt-cert-as-username", "cn", "--mqtt-allow-anonymous", "false"))
    device = Client(tls.wss_port, transport="websockets", tls={"ca_certs": certificates.path("ca.pem"),
                                                              "certfile": certificates.path("client.pem"),
                                                              "keyfile": certificates.path("client.key")})
    device.connect()
    device.publish("telemetry/wss", b"from-a-certificate", qos=1)
    device.close()
    assert headers_of(tls.server.bootstrap, b"from-a-certificate")["mqtt.username"] == b"device-1"


@pytest.mark.timeout(60)
def test_an_unreachable_webhook_lets_nobody_in_by_name(server_factory, webhook):
    """With anonymous access on and an empty user base, a client with a user name that no authenticator
    vouches for (the service ignores it, or cannot be reached) is refused, as EMQX refuses what its chain
    ends without deciding; clients without a user name stay anonymous."""
    server = server_factory("--mqtt-auth-http-url", webhook.url, "--mqtt-auth-http-timeout-ms", "300").start()
    assert connack_code(server.mqtt_port, unique("d"), username="ignore-dev", password="pw") == 0x86
    webhook.close()
    assert connack_code(server.mqtt_port, unique("d"), username="allow-new", password="pw") == 0x86
    assert connack_code(server.mqtt_port, unique("d")) == 0
