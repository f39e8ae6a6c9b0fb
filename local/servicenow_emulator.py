"""An emulated ServiceNow instance for tests and local runs.

A real HTTP/1.1 server on loopback (stdlib ``http.server``) that answers the parts of
ServiceNow the forwarder talks to:

* ``POST /api/global/em/jsonv2``: the Event Management event API (basic or bearer auth,
  role ``evt_mgmt_integration``, per-user hourly rate limits, payload validation);
  accepted events are stored and folded into alerts by message key.
* ``GET /api/now/table/sys_choice``: the severity choice list (role
  ``personalize_choices``).
* ``GET /api/now/table/em_event`` and ``/api/now/table/em_alert``: inspection of what
  was received.
* ``POST /oauth_token.do``: the OAuth 2.0 JWT bearer grant ("OAuth JWT API endpoint for
  external clients"), verified with PyJWT against an X.509 certificate or public key.

Tests drive it in-process (``with ServiceNowEmulator() as sn: ...``) and inject faults,
delays, disconnects, redirects and rate limits; it can also run on its own::

    python -m local.servicenow_emulator --port 8080 --user svc:secret

Given a server certificate (``ServiceNowEmulator(tls=ca.issue_server_certificate())``,
see ``local.tls``) it speaks HTTPS instead (TLS 1.2+, handshake on the connection's own
thread, so a client that rejects the certificate costs one quiet, closed connection).

Production code never imports this module. Only the OAuth endpoint needs third-party
packages (PyJWT and cryptography), imported when first used.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import copy
import dataclasses
import hmac
import http
import json
import math
import os
import secrets
import signal
import socket
import socketserver
import ssl
import sys
import tempfile
import threading
import time
import traceback
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Self, cast
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

    from local.tls import ServerCertificate

__all__ = [
    "Alert",
    "EmulatedUser",
    "RecordedRequest",
    "ServiceNowEmulator",
    "main",
]

EVENT_PATH = "/api/global/em/jsonv2"
OAUTH_PATH = "/oauth_token.do"
SYS_CHOICE_PATH = "/api/now/table/sys_choice"
EM_EVENT_PATH = "/api/now/table/em_event"
EM_ALERT_PATH = "/api/now/table/em_alert"
STATS_PATH = "/_emulator/stats"

EVENT_ROLE = "evt_mgmt_integration"
CHOICES_ROLE = "personalize_choices"
DEFAULT_ROLES = (EVENT_ROLE, CHOICES_ROLE)

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_CLOCK_SKEW_SECONDS = 300  # ServiceNow's default clock-skew allowance
DEFAULT_MAX_CONTENT_LENGTH = 10 * 1024 * 1024  # glide.rest.max_content_length default
RATE_LIMIT_WINDOW_SECONDS = 3600

REDACTED = "<redacted>"
_SENSITIVE_FORM_FIELDS = frozenset({"client_secret", "assertion", "password", "refresh_token", "code"})

JSON_CONTENT_TYPE = "application/json;charset=UTF-8"
WWW_AUTHENTICATE = 'BASIC realm="Service-now"'

# (label, value) in the order ServiceNow lists them for em_event.severity.
SEVERITY_CHOICES: tuple[tuple[str, str], ...] = (
    ("Critical", "1"),
    ("Major", "2"),
    ("Minor", "3"),
    ("Warning", "4"),
    ("OK", "5"),
    ("Clear", "0"),
)
_VALID_SEVERITIES = frozenset(value for _, value in SEVERITY_CHOICES)
_CLEAR_SEVERITY = "0"
_CLOSING_STATE = "Closing"
_FALLBACK_KEY_FIELDS = ("source", "node", "type", "resource", "metric_name")
_OAUTH_USER_FIELDS = frozenset({"user_name", "email"})

# Bodies larger than this are not even drained: the connection is closed instead.
_DRAIN_LIMIT = 256 * 1024 * 1024
_READ_CHUNK = 64 * 1024
# A client that connects but never finishes the TLS handshake is dropped after this long.
TLS_HANDSHAKE_TIMEOUT_SECONDS = 10.0


# --------------------------------------------------------------------------- records


@dataclass
class EmulatedUser:
    """A sys_user record: credentials, roles and the email an OAuth `sub` may name."""

    username: str
    password: str = field(repr=False)
    roles: frozenset[str]
    email: str | None = None


@dataclass
class RecordedRequest:
    """One request as the emulator received it (secrets redacted).

    ``status`` is the status answered; 0 while the request is in flight or when the
    emulator dropped the connection without answering (``inject_disconnect``).
    """

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    user: str | None
    status: int


@dataclass
class Alert:
    """An em_alert record built from the events sharing one message key."""

    message_key: str
    state: str  # "Open" | "Closed"
    severity: str
    event_count: int
    first_event: dict[str, str]
    last_event: dict[str, str]
    reopened_count: int = 0


@dataclass
class _OAuthClient:
    client_id: str
    client_secret: str = field(repr=False)
    jwt_key_id: str
    public_key: RSAPublicKey = field(repr=False)
    user_field: str
    token_lifetime_seconds: int


@dataclass
class _Token:
    username: str
    expires_at: float  # time.monotonic()


@dataclass
class _Fault:
    kind: str  # "disconnect" | "delay" | "status" (a redirect is a status with a location)
    path: str
    remaining: int
    status: int = 0
    body: dict[str, Any] | str | None = None
    retry_after: int | None = None
    seconds: float = 0.0
    location: str | None = None


@dataclass
class _Response:
    status: int
    body: bytes
    content_type: str = JSON_CONTENT_TYPE
    headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class _Incoming:
    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    too_large: bool
    user: str | None = None  # set once authenticated


class _Disconnect(Exception):
    """Raised inside request handling to drop the connection without an answer."""


# ------------------------------------------------------------------------ responses


def _json_response(status: int, payload: object, headers: Iterable[tuple[str, str]] = ()) -> _Response:
    body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
    return _Response(status, body, headers=list(headers))


def _error_response(
    status: int,
    message: str,
    detail: str | None,
    headers: Iterable[tuple[str, str]] = (),
) -> _Response:
    payload = {"error": {"message": message, "detail": detail}, "status": "failure"}
    return _json_response(status, payload, headers)


def _oauth_error(status: int, error: str, description: str) -> _Response:
    return _json_response(
        status,
        {"error": error, "error_description": description},
        [("Cache-Control", "no-store"), ("Pragma", "no-cache")],
    )


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _not_authenticated() -> _Response:
    return _error_response(
        401,
        "User Not Authenticated",
        "Required to provide Auth information",
        [("WWW-Authenticate", WWW_AUTHENTICATE)],
    )


def _not_authorized(role: str) -> _Response:
    return _error_response(
        403,
        "User Not Authorized",
        f"The user does not have the role required by this API: {role}",
    )


def _not_found() -> _Response:
    return _error_response(404, "Requested URI does not represent any resource", None)


def _method_not_allowed(method: str, allowed: str) -> _Response:
    return _error_response(
        405,
        "Method not Supported",
        f"Method {method} is not supported by this resource; use {allowed}",
        [("Allow", allowed)],
    )


def _is_json_content_type(value: str) -> bool:
    media_type = value.split(";", 1)[0].strip().lower()
    return media_type == "application/json"


def _redact_form(body: bytes) -> bytes:
    pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    redacted = [(k, REDACTED if k in _SENSITIVE_FORM_FIELDS else v) for k, v in pairs]
    return urlencode(redacted, safe="<>").encode("ascii")


def _first(params: Mapping[str, list[str]], name: str) -> str:
    values = params.get(name)
    return values[0] if values else ""


def _alert_key(record: Mapping[str, str]) -> str:
    key = record.get("message_key", "")
    if key:
        return key
    return "".join(record.get(name, "") for name in _FALLBACK_KEY_FIELDS)


def _validate_records(payload: object) -> str | None:
    """Return what is wrong with an event API payload, or None when it is valid."""
    if not isinstance(payload, dict):
        return "body: must be a JSON object with a 'records' list"
    if "records" not in payload:
        return "records: required field is missing"
    records = payload["records"]
    if not isinstance(records, list):
        return "records: must be a list of event objects"
    if not records:
        return "records: must not be empty"
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            return f"records[{index}]: must be an object"
        for name, value in record.items():
            if not isinstance(value, str):
                return f"records[{index}].{name}: value must be a string"
        severity = record.get("severity")
        if severity is not None and severity not in _VALID_SEVERITIES:
            return f'records[{index}].severity: must be one of "0".."5" (got {json.dumps(severity)})'
    return None


def _query_terms(query: str) -> list[list[tuple[str, str, str]]]:
    """Parse an encoded query into AND-ed groups of OR-ed (field, op, value) terms.

    Only ``=`` and ``!=`` are understood; other operators and ORDERBY are ignored.
    """
    groups: list[list[tuple[str, str, str]]] = []
    for raw in query.split("^"):
        term = raw
        if not term or term.startswith("ORDERBY") or term == "EQ":
            continue
        is_or = term.startswith("OR") and bool(groups)
        if is_or:
            term = term[2:]
        if "!=" in term:
            name, value = term.split("!=", 1)
            parsed = (name, "!=", value)
        elif "=" in term:
            name, value = term.split("=", 1)
            parsed = (name, "=", value)
        else:
            continue
        if is_or:
            groups[-1].append(parsed)
        else:
            groups.append([parsed])
    return groups


def _matches(record: Mapping[str, object], groups: list[list[tuple[str, str, str]]]) -> bool:
    for group in groups:
        ok = False
        for name, op, value in group:
            actual = record.get(name, "")
            text = "" if actual is None else str(actual)
            if (op == "=" and text == value) or (op == "!=" and text != value):
                ok = True
                break
        if not ok:
            return False
    return True


def _select_fields(rows: list[dict[str, Any]], fields_param: str) -> list[dict[str, Any]]:
    names = [name.strip() for name in fields_param.split(",") if name.strip()]
    if not names:
        return rows
    return [{name: row.get(name, "") for name in names} for row in rows]


def _load_rsa_public_key(pem: str | bytes) -> RSAPublicKey:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    data = pem.encode("ascii") if isinstance(pem, str) else pem
    key: object
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            key = x509.load_pem_x509_certificate(data).public_key()
        else:
            key = load_pem_public_key(data)
    except ValueError as error:
        raise ValueError(f"certificate_pem is not a PEM X.509 certificate or public key: {error}") from error
    if not isinstance(key, rsa.RSAPublicKey):
        raise TypeError("the JWT verifier needs an RSA certificate or public key")
    return key


def _server_ssl_context(tls: ServerCertificate) -> ssl.SSLContext:
    """A TLS 1.2+ server context holding the certificate and key (PEM text)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    # load_cert_chain reads files only: the PEMs live on disk just long enough to load.
    with tempfile.TemporaryDirectory(prefix="servicenow-emulator-tls-") as directory:
        certfile = os.path.join(directory, "server.pem")
        keyfile = os.path.join(directory, "server-key.pem")
        with open(certfile, "w", encoding="ascii") as file:
            file.write(tls.certificate_pem)
        with open(os.open(keyfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="ascii") as file:
            file.write(tls.private_key_pem)
        context.load_cert_chain(certfile, keyfile)
    return context


# --------------------------------------------------------------------------- server


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        emulator: ServiceNowEmulator,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.emulator = emulator
        self.ssl_context = ssl_context
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the FQDN of the host, which can stall on DNS.
        socketserver.TCPServer.server_bind(self)
        name = self.socket.getsockname()
        self.server_name = str(name[0])
        self.server_port = int(name[1])

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, address = super().get_request()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.ssl_context is not None:
            # No handshake here: this is the accept loop; the connection's thread does it.
            try:
                conn = self.ssl_context.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
            except OSError:
                conn.close()
                raise
        self.emulator._connection_opened(conn)
        return conn, address

    def finish_request(self, request: Any, client_address: Any) -> None:
        if isinstance(request, ssl.SSLSocket):
            request.settimeout(TLS_HANDSHAKE_TIMEOUT_SECONDS)
            try:
                request.do_handshake()
            except OSError as error:  # unknown CA, not TLS at all, timeout, reset, stop()
                if self.emulator.verbose:
                    print(f"TLS handshake with {client_address} failed: {error!r}", file=sys.stderr)
                return  # process_request_thread's shutdown_request closes the connection
            # the handler's setup() applies its own (keep-alive) timeout
        super().finish_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.emulator._connection_closed(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, OSError) and not self.emulator.verbose:
            return  # client went away, timeout, or the emulator is stopping
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ServiceNow"
    sys_version = ""
    timeout = 120  # idle keep-alive connections are closed after this many seconds

    @property
    def _emulator(self) -> ServiceNowEmulator:
        return cast(_Server, self.server).emulator

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: Any) -> None:
        if self._emulator.verbose:
            super().log_message(format, *args)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # Protocol-level errors from BaseHTTPRequestHandler (malformed request line,
        # unsupported method, ...): answer in ServiceNow's shape, then close.
        self.log_error("code %d, message %s", code, message)
        self.close_connection = True
        self._write(_error_response(code, message or _reason(code), explain))

    def _write(self, response: _Response) -> None:
        """Send status line, headers and body in ONE write (no Nagle/delayed-ACK stall)."""
        lines = [
            f"{self.protocol_version} {response.status} {_reason(response.status)}",
            "Server: ServiceNow",
            f"Date: {self.date_time_string()}",
            f"Content-Type: {response.content_type}",
            f"Content-Length: {len(response.body)}",
        ]
        lines.extend(f"{name}: {value}" for name, value in response.headers)
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + response.body)
        self.log_request(response.status, len(response.body))

    def _read_body(self, limit: int) -> tuple[bytes, bool] | None:
        """Read the request body: (body, too_large), or None after answering an error."""
        encoding = (self.headers.get("Transfer-Encoding") or "").strip().lower()
        if encoding == "chunked":
            return self._read_chunked(limit)
        if encoding and encoding != "identity":
            self.send_error(501, "Unsupported Transfer-Encoding")
            return None
        raw_length = self.headers.get("Content-Length")
        if raw_length is None:
            return b"", False
        try:
            length = int(raw_length)
        except ValueError:
            length = -1
        if length < 0:
            self.send_error(400, "Invalid Content-Length")
            return None
        if length <= limit:
            return self.rfile.read(length), False
        if length > _DRAIN_LIMIT:
            self.close_connection = True
            return b"", True
        remaining = length
        while remaining > 0:  # drain so the connection stays usable
            chunk = self.rfile.read(min(_READ_CHUNK, remaining))
            if not chunk:
                self.close_connection = True
                break
            remaining -= len(chunk)
        return b"", True

    def _read_chunked(self, limit: int) -> tuple[bytes, bool] | None:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(65537)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                self.send_error(400, "Malformed chunked body")
                return None
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                break
            total += size
            if total > _DRAIN_LIMIT:
                self.close_connection = True
                return b"", True
            chunk = self.rfile.read(size)
            self.rfile.readline(65537)  # CRLF after the chunk
            if total <= limit:
                parts.append(chunk)
        if total > limit:
            return b"", True
        return b"".join(parts), False

    def _handle(self) -> None:
        emulator = self._emulator
        split = urlsplit(self.path)
        path = split.path or "/"
        read = self._read_body(emulator.max_content_length)
        if read is None:
            return
        body, too_large = read
        headers: dict[str, str] = {}
        lowered: dict[str, str] = {}
        for name, value in self.headers.items():
            shown = REDACTED if name.lower() == "authorization" else value
            headers[name] = f"{headers[name]}, {shown}" if name in headers else shown
            key = name.lower()
            lowered[key] = f"{lowered[key]}, {value}" if key in lowered else value
        recorded_body = _redact_form(body) if path == OAUTH_PATH else body
        record = emulator._record(
            RecordedRequest(
                method=self.command,
                path=path,
                query=split.query,
                headers=headers,
                body=recorded_body,
                user=None,
                status=0,
            )
        )
        incoming = _Incoming(self.command, path, split.query, lowered, body, too_large)
        try:
            response = emulator._respond(incoming)
        except _Disconnect:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        except Exception as error:  # an emulator bug: answer 500 and show it
            traceback.print_exc(file=sys.stderr)
            response = _error_response(500, "Internal emulator error", repr(error))
        emulator._finish(record, response.status, incoming.user)
        self._write(response)


# ------------------------------------------------------------------------- emulator


class ServiceNowEmulator:
    """An in-process emulated ServiceNow instance (see the module docstring)."""

    # Every access token any emulator in this process issued (tests scan output for them).
    every_issued_token: ClassVar[set[str]] = set()

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        verbose: bool = False,
        tls: ServerCertificate | None = None,
    ) -> None:
        self.host = host
        self._requested_port = port
        self.verbose = verbose
        self._ssl_context = _server_ssl_context(tls) if tls is not None else None
        self.max_content_length = DEFAULT_MAX_CONTENT_LENGTH
        self._lock = threading.Lock()
        self._users: dict[str, EmulatedUser] = {}
        self._clients: dict[str, _OAuthClient] = {}
        self._tokens: dict[str, _Token] = {}
        self._issued_tokens: list[str] = []
        self._used_jtis: set[tuple[str, str]] = set()
        self._rate_limits: dict[str, int] = {}
        self._rate_windows: dict[str, deque[float]] = {}
        self._rate_rules: dict[str, str] = {}
        self._faults: list[_Fault] = []
        self._requests: list[RecordedRequest] = []
        self._events: list[dict[str, str]] = []
        self._alerts: dict[str, Alert] = {}
        self._connections_opened = 0
        self._token_requests = 0
        self._open_connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        server = _Server((self.host, self._requested_port), self, self._ssl_context)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.01},  # stop() waits up to one interval
            name=f"servicenow-emulator-{server.server_port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._open_connections)
        for conn in connections:
            # wakes handler threads blocked on a keep-alive read (or a TLS handshake); they
            # close the socket. The plain-socket method leaves a TLS object in use alone.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(conn, socket.SHUT_RDWR)
        if thread is not None:
            thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator is not running; call start() first")
        return self._server.server_port

    @property
    def url(self) -> str:
        host = self.host
        if host in ("", "0.0.0.0"):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        scheme = "https" if self._ssl_context is not None else "http"
        return f"{scheme}://{host}:{self.port}"

    @property
    def tls(self) -> bool:
        """True when the emulator speaks HTTPS."""
        return self._ssl_context is not None

    # ------------------------------------------------------------ configuration

    def add_user(
        self,
        username: str,
        password: str,
        roles: Iterable[str] = DEFAULT_ROLES,
        email: str | None = None,
    ) -> EmulatedUser:
        user = EmulatedUser(username, password, frozenset(roles), email)
        with self._lock:
            self._users[username] = user
        return user

    def set_password(self, username: str, password: str) -> None:
        with self._lock:
            self._user(username).password = password

    def add_oauth_client(  # noqa: PLR0917 - the positional signature is part of the API
        self,
        client_id: str,
        client_secret: str,
        jwt_key_id: str,
        certificate_pem: str | bytes,
        user_field: str = "user_name",
        token_lifetime_seconds: int = 1800,
    ) -> None:
        if user_field not in _OAUTH_USER_FIELDS:
            raise ValueError(f"user_field must be one of {sorted(_OAUTH_USER_FIELDS)}")
        client = _OAuthClient(
            client_id,
            client_secret,
            jwt_key_id,
            _load_rsa_public_key(certificate_pem),
            user_field,
            token_lifetime_seconds,
        )
        with self._lock:
            self._clients[client_id] = client

    def expire_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    def set_rate_limit(self, username: str, requests_per_hour: int | None) -> None:
        with self._lock:
            self._user(username)
            if requests_per_hour is None:
                self._rate_limits.pop(username, None)
                self._rate_windows.pop(username, None)
                return
            if requests_per_hour < 0:
                raise ValueError("requests_per_hour must be >= 0")
            self._rate_limits[username] = requests_per_hour
            self._rate_rules.setdefault(username, secrets.token_hex(16))

    def inject_fault(
        self,
        status: int,
        count: int = 1,
        *,
        path: str = EVENT_PATH,
        body: dict[str, Any] | str | None = None,
        retry_after: int | None = None,
    ) -> None:
        self._add_fault(_Fault("status", path, count, status, body, retry_after))

    def inject_delay(self, seconds: float, count: int = 1, *, path: str = EVENT_PATH) -> None:
        self._add_fault(_Fault("delay", path, count, seconds=seconds))

    def inject_disconnect(self, count: int = 1, *, path: str = EVENT_PATH) -> None:
        self._add_fault(_Fault("disconnect", path, count))

    def inject_redirect(self, location: str, status: int = 307, count: int = 1, *, path: str = EVENT_PATH) -> None:
        """Answer the next ``count`` requests to ``path`` with a redirect to ``location``
        (empty body), e.g. to check a client never follows one to a host it does not trust."""
        if not 300 <= status <= 399:
            raise ValueError("a redirect status is 3xx")
        if not location or any(c in location for c in "\r\n"):
            raise ValueError("location must be a non-empty single-line string")
        self._add_fault(_Fault("status", path, count, status, location=location))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def reset(self) -> None:
        """Forget events, alerts, requests, faults, rate limits and counters.

        Users, OAuth clients, issued tokens and used JWT IDs stay.
        """
        with self._lock:
            self._faults.clear()
            self._requests.clear()
            self._events.clear()
            self._alerts.clear()
            self._rate_limits.clear()
            self._rate_windows.clear()
            self._connections_opened = 0
            self._token_requests = 0

    # ---------------------------------------------------------------- inspection

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [copy.deepcopy(request) for request in self._requests]

    @property
    def events(self) -> list[dict[str, str]]:
        with self._lock:
            return [dict(event) for event in self._events]

    @property
    def alerts(self) -> dict[str, Alert]:
        with self._lock:
            return {key: copy.deepcopy(alert) for key, alert in self._alerts.items()}

    @property
    def connections_opened(self) -> int:
        with self._lock:
            return self._connections_opened

    @property
    def token_requests(self) -> int:
        with self._lock:
            return self._token_requests

    @property
    def issued_tokens(self) -> list[str]:
        """Every access token issued so far (tests check none reaches any output)."""
        with self._lock:
            return list(self._issued_tokens)

    def count(self, method: str, path: str) -> int:
        method = method.upper()
        with self._lock:
            return sum(1 for r in self._requests if r.method == method and r.path == path)

    # --------------------------------------------------------- server callbacks

    def _user(self, username: str) -> EmulatedUser:
        try:
            return self._users[username]
        except KeyError:
            raise KeyError(f"unknown user {username!r}") from None

    def _add_fault(self, fault: _Fault) -> None:
        if fault.remaining < 1:
            raise ValueError("count must be >= 1")
        with self._lock:
            self._faults.append(fault)

    def _take_fault(self, kind: str, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.kind == kind and fault.path == path:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _connection_opened(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections_opened += 1
            self._open_connections.add(conn)

    def _connection_closed(self, conn: socket.socket) -> None:
        with self._lock:
            self._open_connections.discard(conn)

    def _record(self, request: RecordedRequest) -> RecordedRequest:
        with self._lock:
            self._requests.append(request)
            if request.method == "POST" and request.path == OAUTH_PATH:
                self._token_requests += 1
        return request

    def _finish(self, request: RecordedRequest, status: int, user: str | None) -> None:
        with self._lock:
            request.status = status
            request.user = user

    # ------------------------------------------------------------------ routing

    def _respond(self, req: _Incoming) -> _Response:
        if self._take_fault("disconnect", req.path) is not None:
            raise _Disconnect
        delay = self._take_fault("delay", req.path)
        if delay is not None:
            time.sleep(delay.seconds)
        fault = self._take_fault("status", req.path)
        if fault is not None:
            return self._fault_response(fault)

        if req.path == EVENT_PATH:
            if req.method != "POST":
                return _method_not_allowed(req.method, "POST")
            return self._post_events(req)
        if req.path == OAUTH_PATH:
            if req.method != "POST":
                return _method_not_allowed(req.method, "POST")
            return self._oauth_token(req)
        if req.path in (SYS_CHOICE_PATH, EM_EVENT_PATH, EM_ALERT_PATH):
            if req.method != "GET":
                return _method_not_allowed(req.method, "GET")
            return self._table(req)
        if req.path == STATS_PATH and req.method == "GET":
            # Not ServiceNow: counters for benchmarks that run the emulator in its own process.
            return _json_response(200, self.stats())
        return _not_found()

    def stats(self) -> dict[str, int]:
        """What the instance has seen, for a benchmark in another process."""
        with self._lock:
            posts = sum(1 for r in self._requests if r.method == "POST" and r.path == EVENT_PATH)
            return {
                "event_posts": posts,
                "events": len(self._events),
                "token_requests": self._token_requests,
                "connections_opened": self._connections_opened,
            }

    @staticmethod
    def _fault_response(fault: _Fault) -> _Response:
        headers: list[tuple[str, str]] = []
        if fault.retry_after is not None:
            headers.append(("Retry-After", str(fault.retry_after)))
        if fault.location is not None:
            headers.append(("Location", fault.location))
            return _Response(fault.status, b"", "text/html;charset=UTF-8", headers)
        if fault.body is None:
            message = "Rate limit exceeded" if fault.status == 429 else _reason(fault.status)
            return _error_response(fault.status, message, "Injected fault", headers)
        if isinstance(fault.body, dict):
            return _json_response(fault.status, fault.body, headers)
        text = fault.body
        try:
            json.loads(text)
            content_type = JSON_CONTENT_TYPE
        except ValueError:
            is_html = text.lstrip().startswith("<")
            content_type = "text/html;charset=UTF-8" if is_html else "text/plain;charset=UTF-8"
        return _Response(fault.status, text.encode("utf-8"), content_type, headers)

    def _authenticate(self, req: _Incoming) -> EmulatedUser | None:
        header = req.headers.get("authorization", "")
        scheme, _, credentials = header.strip().partition(" ")
        credentials = credentials.strip()
        with self._lock:
            if scheme.lower() == "basic":
                try:
                    decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
                except (binascii.Error, UnicodeDecodeError):
                    return None
                username, sep, password = decoded.partition(":")
                user = self._users.get(username)
                if not sep or user is None:
                    return None
                if not hmac.compare_digest(user.password.encode(), password.encode()):
                    return None
                return user
            if scheme.lower() == "bearer":
                token = self._tokens.get(credentials)
                if token is None:
                    return None
                if time.monotonic() >= token.expires_at:
                    del self._tokens[credentials]
                    return None
                return self._users.get(token.username)
        return None

    def _check_rate_limit(self, username: str) -> tuple[int | None, bool, list[tuple[str, str]], int]:
        """Count one request: (limit, allowed, X-RateLimit headers, seconds to a free slot)."""
        with self._lock:
            limit = self._rate_limits.get(username)
            if limit is None:
                return None, True, [], 0
            now = time.monotonic()
            window = self._rate_windows.setdefault(username, deque())
            while window and window[0] <= now - RATE_LIMIT_WINDOW_SECONDS:
                window.popleft()
            allowed = len(window) < limit
            if allowed:
                window.append(now)
            oldest = window[0] if window else now
            wait = max(1, math.ceil(oldest + RATE_LIMIT_WINDOW_SECONDS - now))
            headers = [
                ("X-RateLimit-Limit", str(limit)),
                ("X-RateLimit-Reset", str(int(time.time()) + wait)),
                ("X-RateLimit-Rule", self._rate_rules[username]),
            ]
            return limit, allowed, headers, wait

    # ------------------------------------------------------------------ event API

    def _post_events(self, req: _Incoming) -> _Response:
        user = self._authenticate(req)
        if user is None:
            return _not_authenticated()
        req.user = user.username
        if EVENT_ROLE not in user.roles:
            return _not_authorized(EVENT_ROLE)
        limit, allowed, headers, wait = self._check_rate_limit(user.username)
        if not allowed:
            return _error_response(
                429,
                "Rate limit exceeded",
                f"The rate limit rule for user {user.username} allows "
                f"{limit} requests per hour; retry in {wait} seconds",
                [("Retry-After", str(wait)), *headers],
            )
        if not _is_json_content_type(req.headers.get("content-type", "")):
            return _error_response(
                415,
                "Unsupported Media Type",
                f"Content-Type {req.headers.get('content-type', '(none)')!r} is not supported; use application/json",
                headers,
            )
        if req.too_large:
            return _error_response(
                400,
                "Request body too large",
                f"The request body exceeds glide.rest.max_content_length ({self.max_content_length} bytes)",
                headers,
            )
        try:
            payload = json.loads(req.body)
        except ValueError:
            return _error_response(
                400,
                "Exception while reading request",
                "The payload is not valid JSON.",
                headers,
            )
        problem = _validate_records(payload)
        if problem is not None:
            return _error_response(400, problem, "Invalid event payload; no events were inserted", headers)
        records: list[dict[str, str]] = payload["records"]
        with self._lock:
            for record in records:
                self._events.append(dict(record))
                self._apply_to_alerts(record)
        return _json_response(
            200,
            {"result": {"Default Bulk Endpoint": f"{len(records)} events were inserted"}},
            headers,
        )

    def _apply_to_alerts(self, record: dict[str, str]) -> None:
        key = _alert_key(record)
        alert = self._alerts.get(key)
        severity = record.get("severity")
        closing = severity == _CLEAR_SEVERITY or record.get("resolution_state") == _CLOSING_STATE
        if closing:
            if alert is not None and alert.state == "Open":
                alert.state = "Closed"
                alert.event_count += 1
                alert.last_event = dict(record)
                if severity is not None:
                    alert.severity = severity
            return
        if alert is None:
            self._alerts[key] = Alert(
                message_key=key,
                state="Open",
                severity=severity or "",
                event_count=1,
                first_event=dict(record),
                last_event=dict(record),
            )
            return
        if alert.state == "Closed":
            alert.state = "Open"
            alert.reopened_count += 1
        alert.event_count += 1
        alert.last_event = dict(record)
        if severity is not None:
            alert.severity = severity

    # ------------------------------------------------------------------ Table API

    def _table(self, req: _Incoming) -> _Response:
        user = self._authenticate(req)
        if user is None:
            return _not_authenticated()
        req.user = user.username
        params = parse_qs(req.query, keep_blank_values=True)
        rows: list[dict[str, Any]]
        if req.path == SYS_CHOICE_PATH:
            if CHOICES_ROLE not in user.roles:
                return _not_authorized(CHOICES_ROLE)
            # sysparm_query is ignored: only the severity choices exist here.
            rows = [
                {
                    "label": label,
                    "value": value,
                    "dependent_value": "",
                    "element": "severity",
                }
                for label, value in SEVERITY_CHOICES
            ]
        else:
            with self._lock:
                if req.path == EM_EVENT_PATH:
                    rows = [dict(event) for event in self._events]
                else:
                    rows = [dataclasses.asdict(alert) for alert in self._alerts.values()]
            groups = _query_terms(_first(params, "sysparm_query"))
            rows = [row for row in rows if _matches(row, groups)]
        limit = _first(params, "sysparm_limit")
        if limit.isdigit():
            rows = rows[: int(limit)]
        return _json_response(200, {"result": _select_fields(rows, _first(params, "sysparm_fields"))})

    # ---------------------------------------------------------------------- OAuth

    def _oauth_token(self, req: _Incoming) -> _Response:
        import jwt

        form = parse_qs(req.body.decode("utf-8", "replace"), keep_blank_values=True)
        grant_type = _first(form, "grant_type")
        if grant_type != JWT_BEARER_GRANT:
            return _oauth_error(
                400,
                "unsupported_grant_type",
                f"Unsupported grant type: {grant_type or '(none)'}",
            )
        client_id = _first(form, "client_id")
        with self._lock:
            client = self._clients.get(client_id)
        secret = _first(form, "client_secret").encode()
        if client is None or not hmac.compare_digest(client.client_secret.encode(), secret):
            return _oauth_error(401, "server_error", "access_denied")
        assertion = _first(form, "assertion")
        if not assertion:
            return _oauth_error(401, "invalid_request", "assertion is required")
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.InvalidTokenError:
            return _oauth_error(401, "invalid_grant", "Malformed JWT")
        if header.get("kid") != client.jwt_key_id or header.get("alg") != "RS256":
            return _oauth_error(401, "server_error", "access_denied")
        try:
            claims: dict[str, Any] = jwt.decode(
                assertion,
                client.public_key,
                algorithms=["RS256"],
                audience=client.client_id,
                issuer=client.client_id,
                leeway=JWT_CLOCK_SKEW_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.InvalidSignatureError:
            return _oauth_error(401, "server_error", "access_denied")
        except jwt.ExpiredSignatureError:
            return _oauth_error(401, "invalid_grant", "JWT has expired")
        except jwt.InvalidAudienceError:
            return _oauth_error(401, "invalid_grant", "Invalid audience")
        except jwt.InvalidIssuerError:
            return _oauth_error(401, "invalid_grant", "Invalid issuer")
        except jwt.MissingRequiredClaimError as error:
            return _oauth_error(401, "invalid_grant", f"Missing claim: {error.claim}")
        except jwt.ImmatureSignatureError:
            return _oauth_error(401, "invalid_grant", "JWT is not yet valid")
        except jwt.InvalidTokenError as error:
            return _oauth_error(401, "invalid_grant", f"Invalid JWT: {error}")
        jti = claims.get("jti")
        subject = str(claims["sub"])
        with self._lock:
            if jti is not None and (client.client_id, str(jti)) in self._used_jtis:
                return _oauth_error(401, "invalid_grant", "JWT ID (jti) has already been used")
            user = next(
                (
                    u
                    for u in self._users.values()
                    if (u.username if client.user_field == "user_name" else u.email) == subject
                ),
                None,
            )
            if user is None:
                return _oauth_error(401, "invalid_grant", "User not found")
            if jti is not None:
                self._used_jtis.add((client.client_id, str(jti)))
            token = secrets.token_urlsafe(48)
            lifetime = client.token_lifetime_seconds
            self._tokens[token] = _Token(user.username, time.monotonic() + lifetime)
            self._issued_tokens.append(token)
            ServiceNowEmulator.every_issued_token.add(token)
        req.user = user.username
        return _json_response(
            200,
            {
                "access_token": token,
                "scope": "useraccount",
                "token_type": "Bearer",
                "expires_in": lifetime,
            },
            [("Cache-Control", "no-store"), ("Pragma", "no-cache")],
        )


# ---------------------------------------------------------------------------- CLI


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m local.servicenow_emulator",
        description="Run an emulated ServiceNow instance (event API, sys_choice, OAuth JWT).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (0 = any free port)")
    parser.add_argument(
        "--user",
        action="append",
        default=[],
        metavar="NAME:PASSWORD",
        help="add a user (repeatable)",
    )
    parser.add_argument(
        "--roles",
        default=",".join(DEFAULT_ROLES),
        help="comma-separated roles for every --user (default: %(default)s)",
    )
    parser.add_argument(
        "--oauth-client",
        action="append",
        default=[],
        metavar="CLIENT_ID:SECRET:KEY_ID:CERT_PEM_PATH",
        help="add an OAuth JWT client verified by the certificate/public key file (repeatable)",
    )
    parser.add_argument(
        "--oauth-user-field",
        choices=sorted(_OAUTH_USER_FIELDS),
        default="user_name",
        help="user field the JWT sub is matched against",
    )
    parser.add_argument("--tls-cert", metavar="PEM_PATH", help="serve HTTPS with this server certificate")
    parser.add_argument("--tls-key", metavar="PEM_PATH", help="the unencrypted private key of --tls-cert")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    tls = None
    if args.tls_cert or args.tls_key:
        if not (args.tls_cert and args.tls_key):
            print("--tls-cert and --tls-key go together", file=sys.stderr)
            return 2
        from local.tls import ServerCertificate

        with open(args.tls_cert, encoding="ascii") as tls_cert, open(args.tls_key, encoding="ascii") as tls_key:
            tls = ServerCertificate(tls_cert.read(), tls_key.read())
    emulator = ServiceNowEmulator(args.host, args.port, verbose=args.verbose, tls=tls)
    roles = [role.strip() for role in args.roles.split(",") if role.strip()]
    for spec in args.user:
        username, sep, password = spec.partition(":")
        if not sep or not username:
            print("--user needs NAME:PASSWORD", file=sys.stderr)
            return 2
        emulator.add_user(username, password, roles)
    for spec in args.oauth_client:
        parts = spec.split(":", 3)
        if len(parts) != 4:
            print(
                "--oauth-client needs CLIENT_ID:SECRET:KEY_ID:CERT_PEM_PATH",
                file=sys.stderr,
            )
            return 2
        client_id, client_secret, key_id, cert_path = parts
        with open(cert_path, "rb") as cert_file:
            emulator.add_oauth_client(
                client_id,
                client_secret,
                key_id,
                cert_file.read(),
                args.oauth_user_field,
            )

    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    emulator.start()
    try:
        print(emulator.url, flush=True)
        names = ", ".join(spec.partition(":")[0] for spec in args.user) or "(none)"
        print(
            f"ServiceNow emulator serving at {emulator.url}; users: {names}",
            file=sys.stderr,
            flush=True,
        )
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
