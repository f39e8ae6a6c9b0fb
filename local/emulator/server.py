"""Serving the emulated instance: werkzeug's threaded WSGI server on loopback, HTTP/1.1
with keep-alive, optionally TLS, and ``ServiceNowEmulator``, the object tests drive."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import ssl
import sys
import threading
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, cast

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from local.emulator.api import JSON_CONTENT_TYPE, EmulatorApp, error_body, reason
from local.emulator.state import EmulatorState

if TYPE_CHECKING:
    from _typeshed import OptExcInfo

    from local.tls import ServerCertificate

# A client that connects but never finishes the TLS handshake is dropped after this long.
TLS_HANDSHAKE_TIMEOUT_SECONDS = 10.0


def _no_write(data: bytes) -> object:
    raise NotImplementedError("the emulator's app returns its body; it never calls write()")


class _Handler(WSGIRequestHandler):
    """One connection: TLS handshake on its own thread, then requests until either side
    closes (keep-alive, which werkzeug's own ``run_wsgi`` rules out)."""

    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = 120  # idle keep-alive connections are closed after this many seconds
    disable_nagle_algorithm = True  # the status line+headers and the body are two writes

    def handle(self) -> None:
        connection = self.connection
        if isinstance(connection, ssl.SSLSocket):
            connection.settimeout(TLS_HANDSHAKE_TIMEOUT_SECONDS)
            try:
                connection.do_handshake()
            except OSError as error:  # unknown CA, not TLS at all, timeout, reset, stop()
                self.log("error", "TLS handshake failed: %r", error)
                return  # the server's shutdown_request closes the connection
            connection.settimeout(self.timeout)
        super().handle()

    def run_wsgi(self) -> None:
        """Answer one request. Werkzeug's own run_wsgi sends ``Connection: close`` with
        every answer and then drains the socket; this one sends the app's complete answer
        (Content-Length framed) and keeps the connection unless the app said close."""
        self.environ = environ = self.make_environ()
        started: list[tuple[str, list[tuple[str, str]]]] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None, /
        ) -> Callable[[bytes], object]:
            started.append((status, headers))
            return _no_write

        try:
            chunks = self.server.app(environ, start_response)
            try:
                body = b"".join(chunks)
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()
        except ConnectionError:  # the client went away, or an injected disconnect
            self.close_connection = True
            return
        status, headers = started[-1]
        code, _, phrase = status.partition(" ")
        self.send_response(int(code), phrase)
        for name, value in headers:
            self.send_header(name, value)  # "Connection: close" sets close_connection
        self.end_headers()
        self.wfile.write(body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Protocol errors (a malformed request line, too many headers, ...): answered in
        ServiceNow's shape, then the connection closes."""
        self.log_error("code %d, message %s", code, message)
        self.request_version = self.protocol_version  # a status line even for an unreadable request line
        body = error_body(message or reason(code), explain)
        self.send_response(code, reason(code))
        self.send_header("Content-Type", JSON_CONTENT_TYPE)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def version_string(self) -> str:
        return "ServiceNow"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if self.server.verbose:
            super().log_request(code, size)

    def log(self, type: str, message: str, *args: Any) -> None:
        if self.server.verbose:
            super().log(type, message, *args)


class _Server(ThreadedWSGIServer):
    """Werkzeug's threaded server, TLS-wrapping each accepted connection itself (werkzeug
    would wrap the listening socket, doing every handshake on the accept loop) and keeping
    track of open connections, so ``stop()`` can close idle keep-alive ones."""

    def __init__(
        self, host: str, port: int, state: EmulatorState, ssl_context: ssl.SSLContext | None, *, verbose: bool
    ) -> None:
        self.state = state
        self.verbose = verbose
        self._open_lock = threading.Lock()
        self._open: set[socket.socket] = set()
        super().__init__(host, port, EmulatorApp(state), _Handler)
        self.ssl_context = ssl_context  # for wsgi.url_scheme; the sockets are wrapped below

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the FQDN of the host, which can stall on DNS.
        socketserver.TCPServer.server_bind(self)
        name = cast(tuple[str, int], self.socket.getsockname())
        self.server_name = str(name[0])
        self.server_port = int(name[1])

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, address = super().get_request()
        if self.ssl_context is not None:
            # No handshake here: this is the accept loop; the connection's thread does it.
            try:
                conn = self.ssl_context.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
            except OSError:
                conn.close()
                raise
        with self._open_lock:
            self._open.add(conn)
        self.state.connection_opened()
        return conn, address

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Wake every handler blocked on a keep-alive read or a TLS handshake; it closes the
        socket. The plain-socket method leaves a TLS object in use by its thread alone."""
        with self._open_lock:
            connections = list(self._open)
        for conn in connections:
            with contextlib.suppress(OSError):
                socket.socket.shutdown(conn, socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError) and not self.verbose:
            return  # the client went away, a timeout, or the emulator is stopping
        super().handle_error(request, client_address)


class ServiceNowEmulator(EmulatorState):
    """An in-process emulated ServiceNow instance on loopback (see ``local.emulator``).

    Configuration, fault injection and inspection are ``EmulatorState``'s methods; its
    settings (``max_content_length``, ``active_interval_seconds``, ``clock``) are attributes
    that may be set at any time, e.g. ``sn.active_interval_seconds = 0``.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        verbose: bool = False,
        tls: ServerCertificate | None = None,
    ) -> None:
        super().__init__()
        self.host = host
        self._requested_port = port
        self.verbose = verbose
        self._ssl_context = tls.server_context() if tls is not None else None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        server = _Server(self.host, self._requested_port, self, self._ssl_context, verbose=self.verbose)
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
        server.close_connections()
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
