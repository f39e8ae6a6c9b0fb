"""The forwarder's API on loopback, as API Gateway would serve it (the role `sam local
start-api` plays, which needs Docker): each HTTP request becomes a REST API (payload 1.0)
proxy event for `lambda_handler`, and its answer becomes the HTTP response.

Like the deployed API it routes only `POST /events`, `POST /alertmanager` and
`POST /grafana`: anything else is answered 404 `{"error": "no such route: ..."}` (the
template's gateway response, in place of API Gateway's 403 `Missing Authentication
Token`). Only `/events` requires the `x-api-key` header (403 `Forbidden` without the right
one), and its event then carries the key in `requestContext.identity.apiKey`, as API
Gateway sets it; the webhook routes need no key (null there) and go to the function, which
checks the sender's credentials (bearer, basic or Grafana's signature) itself.
Invocations run one at a time, as in one Lambda container. (No throttling: the deployed
gateway's 503 + Retry-After is not played.)
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from local.lambda_context import LocalLambdaContext

ROUTES = ("/events", "/alertmanager", "/grafana")
# The routes whose method requires an API key in the deployed API (ApiKeyRequired).
API_KEY_ROUTES = ("/events",)
LOCAL_API_KEY_ID = "local-api-key"
NO_SUCH_ROUTE = "no such route: POST /events, /alertmanager or /grafana"
Handler = Callable[[dict[str, Any], Any], Any]


def api_gateway_event(
    method: str,
    path: str,
    headers: list[tuple[str, str]],
    body: bytes,
    source_ip: str,
    *,
    api_key: str | None = None,
) -> dict[str, Any]:
    """The REST API proxy event; `api_key`: the key the gateway checked (None: the method
    requires none)."""
    multi_value: dict[str, list[str]] = {}
    for name, value in headers:
        multi_value.setdefault(name, []).append(value)
    try:
        text, encoded = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode("ascii"), True
    now = time.time()
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        # As API Gateway: `headers` holds the last value of a repeated header.
        "headers": {name: values[-1] for name, values in multi_value.items()},
        "multiValueHeaders": multi_value,
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
            "identity": {"sourceIp": source_ip, "apiKey": api_key, "apiKeyId": LOCAL_API_KEY_ID if api_key else None},
        },
        "body": text if body else None,
        "isBase64Encoded": encoded,
    }


def gateway_refusal(
    method: str, path: str, presented_key: str | None, api_key: str
) -> tuple[int, dict[str, str], str] | None:
    """What the gateway answers itself (status, JSON, x-amzn-ErrorType), before any
    invocation; None when the request goes to the function. The route first, then the
    key: API Gateway's order."""
    if method != "POST" or path not in ROUTES:
        return 404, {"error": NO_SUCH_ROUTE}, "MissingAuthenticationTokenException"
    if path in API_KEY_ROUTES and presented_key != api_key:
        return 403, {"message": "Forbidden"}, "ForbiddenException"
    return None


def http_answer(result: Mapping[str, Any]) -> tuple[int, bytes, dict[str, str]]:
    """The function's proxy answer as the HTTP response: status, body bytes, headers."""
    response_body = result.get("body") or ""
    payload = base64.b64decode(response_body) if result.get("isBase64Encoded") else response_body.encode()
    headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
    for key, values in (result.get("multiValueHeaders") or {}).items():
        headers[str(key)] = ", ".join(str(v) for v in values)
    return int(result.get("statusCode", 502)), payload, headers


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
                # A HEAD answer has the length of the body it does not send.
                self.wfile.write("\r\n".join(head).encode("latin-1") + (b"" if self.command == "HEAD" else body))

            def _gateway_error(self, status: int, document: dict[str, str], error_type: str) -> None:
                body = json.dumps(document).encode()
                self._reply(status, body, {"Content-Type": "application/json", "x-amzn-ErrorType": error_type})

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                refusal = gateway_refusal(self.command, path, self.headers.get("x-api-key"), server.api_key)
                if refusal is not None:
                    self._gateway_error(*refusal)
                    return
                # The gateway passes the key it checked; on a route without a key, null.
                api_key = server.api_key if path in API_KEY_ROUTES else None
                headers = list(self.headers.items())
                event = api_gateway_event(self.command, path, headers, body, self.client_address[0], api_key=api_key)
                try:
                    result = server.invoke(event)
                except Exception:  # what API Gateway answers when the integration fails
                    self._gateway_error(502, {"message": "Internal server error"}, "InternalServerErrorException")
                    return
                self._reply(*http_answer(result))

            do_POST = _handle
            do_GET = _handle
            do_PUT = _handle
            do_DELETE = _handle
            do_PATCH = _handle
            do_HEAD = _handle
            do_OPTIONS = _handle

        return ApiGatewayRequest
