"""Fixtures for the interop suite: the real `tributary` binary on loopback ports, started and stopped by
the tests, driven by real clients."""
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_ports(count: int) -> list:
    """Distinct free loopback ports (all held open while choosing, so none is handed out twice)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout}s")


class Server:
    """One tributary process with its own data directory; it can be killed and restarted on the same data."""

    def __init__(self, binary: pathlib.Path, data: pathlib.Path, extra_args=()):
        self.binary = binary
        self.data = data
        # The MQTT listeners default to 0.0.0.0:1883; every test server gets loopback ports of its own,
        # kept across restarts so clients reconnect to the same address.
        self.port, self.mqtt_port, self.ws_port = free_ports(3)
        self.extra_args = list(extra_args)
        self.process = None
        self.log_path = data.parent / f"{data.name}.log"
        self.log_file = None
        # A test that turns the plaintext Kafka listener off (TLS only) names the ports that show readiness.
        self.kafka_plaintext = True
        # The plaintext listener's security protocol: PLAINTEXT, or SASL_PLAINTEXT for SASL tests.
        self.kafka_protocol = "PLAINTEXT"
        self.ready_ports = None
        # Extra environment variables (settings that must not be on the command line, like passwords).
        self.env = {}

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def mqtt_address(self) -> str:
        return f"127.0.0.1:{self.mqtt_port}"

    def start(self, extra_args=()):
        self.log_file = open(self.log_path, "ab")
        args = [str(self.binary), "serve", "--data", str(self.data),
                "--kafka-listen", f"{self.kafka_protocol}://{self.bootstrap}" if self.kafka_plaintext else "off",
                "--mqtt-listen", self.mqtt_address, "--mqtt-ws-listen", f"127.0.0.1:{self.ws_port}"]
        args += self.extra_args + list(extra_args)
        self.process = subprocess.Popen(args, stdout=self.log_file, stderr=subprocess.STDOUT, env={**os.environ, **self.env})
        try:
            for port in self.ready_ports or [self.port, self.mqtt_port]:
                wait_for_port(port)
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"tributary did not start; log:\n{self.log()}")
        return self

    def stop(self, sig=signal.SIGTERM, timeout: float = 30.0):
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        code = self.process.returncode
        self.process = None
        self.log_file.close()
        return code

    def kill(self):
        """SIGKILL: no flush, no clean-shutdown marker."""
        return self.stop(signal.SIGKILL)

    def restart(self, extra_args=()):
        self.stop()
        return self.start(extra_args)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None


@pytest.fixture(scope="session")
def tributary_binary() -> pathlib.Path:
    path = pathlib.Path(os.environ.get("TRIBUTARY_BINARY", ROOT / ".build" / "release" / "tributary"))
    if not path.exists():
        pytest.fail(f"tributary binary not found at {path}; build it with `swift build -c release` or set TRIBUTARY_BINARY")
    return path


@pytest.fixture
def workdir():
    path = pathlib.Path(tempfile.mkdtemp(prefix="tributary-interop-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(autouse=True)
def server_logs_shown_on_failure(workdir):
    """Prints the end of every server log after the test; pytest shows it only when the test failed."""
    yield
    for path in sorted(workdir.glob("*.log")):
        print(f"--- {path.name} (last 150 lines) ---")
        print("\n".join(path.read_text(errors="replace").splitlines()[-150:]))


@pytest.fixture
def server_factory(tributary_binary, workdir):
    servers = []

    def make(*extra_args, name="data"):
        server = Server(tributary_binary, workdir / name, extra_args)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def server(server_factory):
    return server_factory().start()


@pytest.fixture
def clients():
    """Makes paho MQTT clients (mqtt_helpers.Client) that are closed after the test."""
    from mqtt_helpers import Client

    made = []

    def make(port, **kwargs):
        client = Client(port, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
