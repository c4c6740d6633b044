"""The command line of the real binary."""
import subprocess


def test_api_keys_lists_every_broker_api(tributary_binary):
    result = subprocess.run([tributary_binary, "api-keys"], capture_output=True, text=True, timeout=60, check=True)
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 72
    assert "0\tProduce\t0-11" in lines
    assert "18\tApiVersions\t0-4" in lines


def test_version(tributary_binary):
    result = subprocess.run([tributary_binary, "--version"], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip()
