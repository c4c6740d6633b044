"""Fixtures for the interop suite: the real `tributary` binary, started and stopped per test."""
import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def tributary_binary() -> pathlib.Path:
    path = pathlib.Path(os.environ.get("TRIBUTARY_BINARY", ROOT / ".build" / "release" / "tributary"))
    if not path.exists():
        pytest.fail(f"tributary binary not found at {path}; build it with `swift build -c release` or set TRIBUTARY_BINARY")
    return path
