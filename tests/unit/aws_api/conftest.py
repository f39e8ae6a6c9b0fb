"""Fixtures of the AWS client's tests: the scripted AWS (servers.py) and a silent endpoint."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.unit.aws_api.servers import ScriptedAws


@pytest.fixture
def aws() -> Iterator[ScriptedAws]:
    server = ScriptedAws().start()
    yield server
    server.stop()


@pytest.fixture
def silent() -> Iterator[str]:
    """An endpoint that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
