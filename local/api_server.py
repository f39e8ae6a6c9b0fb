"""The forwarder's API on loopback, as API Gateway would serve it (the role `sam local
start-api` plays, which needs Docker): each HTTP request becomes a REST API (payload 1.0)
proxy event for `lambda_handler`, and its answer becomes the HTTP response.

Like the deployed API it requires the `x-api-key` header (403 `Forbidden` otherwise) and
routes only `POST /events` and `POST /alertmanager` (403 `Missing Authentication Token`
for anything else, as API Gateway answers). Invocations run one at a time, as in one
Lambda container.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from local.lambda_context import LocalLambdaContext

ROUTES = ("/events", "/alertmanager")
Handler = Callable[[dict[str, Any], Any], Any]


def api_gateway_event(method: str, path: str, headers: dict[str, str], body: bytes, source_ip: str) -> dict[str, Any]:
    try:
        text, encoded = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode("ascii"), True
    now = time.time()
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {key: [value] for key, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "httpMethod": method,
            "path": f"/local{path}",
            "protocol": "HTTP/1.1",
            "requestId": str(uuid.uuid4()),
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "requestTimeEpoch": int(now * 1000),
            "resourcePath": path,
            "stage": "local",
            "identity": {"sourceIp": source_ip, "apiKey": "<redacted>"},
        },
        "body": text if body else None,
        "isBase64Encoded": encoded,
    }


class LocalApiServer:
    def __init__(self, handler: Handler, api_key: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self._handler = handler
        self.api_key = api_key
        self._invoke_lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), self._request_handler())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> LocalApiServer:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def invoke(self, event: dict[str, Any]) -> Any:
        with self._invoke_lock:
            return self._handler(event, LocalLambdaContext(timeout_seconds=30.0))

    def _request_handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class ApiGatewayRequest(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, format: str, *args: Any) -> None:  # quiet, like the tests need
                return

            def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                head = [f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}"]
                head += [f"{key}: {value}" for key, value in headers.items()]
                head += [f"Content-Length: {len(body)}", "", ""]
                self.wfile.write("\r\n".join(head).encode("latin-1") + body)

            def _gateway_error(self, status: int, message: str) -> None:
                body = json.dumps({"message": message}).encode()
                self._reply(
                    status, body, {"Content-Type": "application/json", "x-amzn-ErrorType": "ForbiddenException"}
                )

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                if self.command != "POST" or path not in ROUTES:
                    self._gateway_error(403, "Missing Authentication Token")
                    return
                if self.headers.get("x-api-key") != server.api_key:
                    self._gateway_error(403, "Forbidden")
                    return
                headers = dict(self.headers.items())
                event = api_gateway_event(self.command, path, headers, body, self.client_address[0])
                try:
                    result = server.invoke(event)
                except Exception:  # what API Gateway answers when the integration fails
                    self._gateway_error(502, "Internal server error")
                    return
                response_body = result.get("body") or ""
                payload = base64.b64decode(response_body) if result.get("isBase64Encoded") else response_body.encode()
                response_headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
                for key, values in (result.get("multiValueHeaders") or {}).items():
                    response_headers[str(key)] = ", ".join(str(v) for v in values)
                self._reply(int(result.get("statusCode", 502)), payload, response_headers)

            do_POST = _handle
            do_GET = _handle
            do_PUT = _handle
            do_DELETE = _handle

        return ApiGatewayRequest
