"""A scripted AWS on loopback: a real HTTP/1.1 server (keep-alive) that answers each
request with the next scripted answer and records what it received, for the client's
retries, errors and connections. No mock of the client's own HTTP calls."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from itom_forwarder.aws_api import AwsCredentials, AwsJsonClient

CREDENTIALS = AwsCredentials("AKIDLOOPBACK", "loopback-secret-key/Zx9+", "loopback-session-token/Qw3=")


@dataclass
class Answer:
    status: int = 200
    body: Any = field(default_factory=dict)  # dict -> JSON, bytes -> as is
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    path: str
    connection: tuple[str, int]


class ScriptedAws:
    def __init__(self) -> None:
        self.answers: list[Answer] = []
        self.received: list[Received] = []
        self.connections: set[tuple[str, int]] = set()
        self._lock = threading.Lock()
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with scripted._lock:
                    scripted.received.append(Received(dict(self.headers), body, self.path, self.client_address))
                    scripted.connections.add(self.client_address)
                    answer = scripted.answers.pop(0) if scripted.answers else Answer()
                payload = answer.body if isinstance(answer.body, bytes) else json.dumps(answer.body).encode()
                self.send_response(answer.status)
                for name, value in {"Content-Type": "application/x-amz-json-1.1", **answer.headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *_: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> ScriptedAws:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def script(self, *answers: Answer) -> None:
        self.answers = list(answers)


def client_for(endpoint: str, **options: Any) -> AwsJsonClient:
    settings: dict[str, Any] = {
        "service": "dynamodb",
        "signing_name": "dynamodb",
        "target_prefix": "DynamoDB_20120810",
        "json_version": "1.0",
        "region": "eu-west-1",
        "endpoint": endpoint,
        "credentials": CREDENTIALS,
        "connect_timeout": 1.0,
        "read_timeout": 2.0,
        "max_attempts": 2,
        "sleep": lambda _seconds: None,
        **options,
    }
    return AwsJsonClient(**settings)
