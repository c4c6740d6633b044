"""JSON Web Tokens in the MQTT password field (EMQX's JWT authenticator): HS256 tokens made here by hand
(base64url, HMAC-SHA256), checked against `jwt-hmac-secret-file`; `exp` enforced at CONNECT and while
connected (DISCONNECT 0xA0 when it passes); `clientid`/`username` claims pin the token; passwords that are
not tokens go on to the user base."""
import base64
import hashlib
import hmac
import json
import secrets
import time

import pytest

from mqtt_helpers import CONNACK, DISCONNECT, V311, V5, RawClient, connect_packet, unique


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(secret: bytes, **claims) -> str:
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    signature = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{b64(signature)}"


@pytest.fixture
def jwt_server(server_factory, workdir):
    secret = secrets.token_hex(32).encode()
    path = workdir / "jwt-secret"
    path.write_bytes(secret + b"\n")
    server = server_factory("--jwt-hmac-secret-file", str(path), "--mqtt-allow-anonymous", "false")
    server.env["TRIBUTARY_MQTT_USERS"] = "alice:plain-pw"
    server.start()
    return server, secret


def connack_code(port, client_id, version=V5, **kwargs):
    raw = RawClient(port)
    raw.send(connect_packet(client_id, version=version, **kwargs))
    code = raw.expect(CONNACK).connack(version)[1]
    return code, raw


@pytest.mark.timeout(60)
@pytest.mark.parametrize("version", [V311, V5])
def test_tokens_in_the_password(jwt_server, version):
    server, secret = jwt_server
    port = server.mqtt_port
    now = int(time.time())
    client_id = unique("dev")
    good = token(secret, sub="dev-9", exp=now + 60)
    assert connack_code(port, client_id, version, username="dev-9", password=good)[0] == 0
    bad_code, not_authorized = (0x86, 0x87) if version == V5 else (4, 5)
    assert connack_code(port, unique("x"), version, username="dev-9", password=token(secret, sub="dev-9", exp=now - 10))[0] == bad_code
    assert connack_code(port, unique("x"), version, username="dev-9", password=token(b"another-secret-of-32-bytes-length!!", exp=now + 60))[0] == bad_code
    assert connack_code(port, unique("x"), version, username="dev-9", password=token(secret, sub="dev-9"))[0] == bad_code  # no exp
    # Pinned claims: the token is for one client id and one user name.
    pinned = token(secret, clientid="dev-pinned", username="dev-9", exp=now + 60)
    assert connack_code(port, "dev-pinned", version, username="dev-9", password=pinned)[0] == 0
    assert connack_code(port, "dev-thief", version, username="dev-9", password=pinned)[0] == not_authorized
    assert connack_code(port, "dev-pinned", version, username="mallory", password=pinned)[0] == not_authorized
    # A password that is not a token goes to the user base.
    assert connack_code(port, unique("a"), version, username="alice", password="plain-pw")[0] == 0
    assert connack_code(port, unique("a"), version, username="alice", password="wrong")[0] == bad_code


@pytest.mark.timeout(60)
def test_the_connection_closes_when_the_token_expires(jwt_server):
    server, secret = jwt_server
    code, raw = connack_code(server.mqtt_port, unique("dev"), V5, username="dev-9",
                             password=token(secret, sub="dev-9", exp=int(time.time()) + 3))
    assert code == 0
    started = time.time()
    packets = raw.read_until_closed(timeout=15)
    assert [p.type for p in packets] == [DISCONNECT]
    assert packets[0].disconnect_reason() == 0xA0  # Maximum connect time
    assert time.time() - started < 10
