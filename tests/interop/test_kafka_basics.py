"""Kafka basics against the real binary: metadata, produce and consume with kcat."""
import subprocess


def kcat(*args, input=None, timeout=60):
    return subprocess.run(["kcat", *args], input=input, capture_output=True, text=True, timeout=timeout)


def test_kcat_metadata_lists_the_broker(server):
    result = kcat("-b", server.bootstrap, "-L")
    assert result.returncode == 0, result.stderr
    assert f"broker 0 at {server.bootstrap}" in result.stdout


def test_kcat_round_trip_keeps_keys_and_order(server):
    lines = "".join(f"key-{i}:value-{i}\n" for i in range(100))
    produced = kcat("-b", server.bootstrap, "-P", "-t", "basics", "-K:", input=lines)
    assert produced.returncode == 0, produced.stderr
    consumed = kcat("-b", server.bootstrap, "-C", "-t", "basics", "-o", "beginning", "-e", "-q", "-f", "%k=%s@%o\n")
    assert consumed.returncode == 0, consumed.stderr
    assert consumed.stdout.splitlines() == [f"key-{i}=value-{i}@{i}" for i in range(100)]


def test_graceful_shutdown_writes_the_clean_marker(server):
    kcat("-b", server.bootstrap, "-P", "-t", "marker", input="x\n")
    assert server.stop() == 0
    assert (server.data / ".kafka_cleanshutdown").exists()
    server.start()
    assert "previousShutdown=clean" in server.log()
    assert not (server.data / ".kafka_cleanshutdown").exists()
