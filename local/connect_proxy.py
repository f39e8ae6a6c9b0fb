"""A tiny forward proxy for tests: HTTPS via ``CONNECT`` tunnels, plain HTTP by relaying.

    with ConnectProxy() as proxy, ServiceNowEmulator(tls=server_cert) as sn:
        requests.post(sn.url + path, proxies={"https": proxy.url}, verify=ca_file, ...)
        assert proxy.tunnels == [f"127.0.0.1:{sn.port}"]

* ``CONNECT host:port``: answers ``HTTP/1.1 200 Connection established`` and pipes bytes
  both ways (TLS stays end to end; the proxy sees none of it) until both sides are done.
* ``GET http://host:port/path HTTP/1.1`` (absolute form): forwards ONE request in origin
  form with ``Connection: close``, relays the response, then closes the client connection.

It records what it was asked for (``tunnels``: every CONNECT target ``host:port``,
``forwarded``: every absolute URL, ``refused``: those answered 403 instead), so a test can
tell whether a client used the proxy or went direct (NO_PROXY). Targets in ``refuse`` get a
403. The proxy listens on loopback only and only connects to loopback targets (``localhost``
or a loopback IP literal; no DNS lookups): a misrouted test never reaches the network.

Stdlib only. Daemon threads, 64 KiB buffers, bounded request/response heads; ``stop()``
closes every open connection and returns promptly.
"""

from __future__ import annotations

import contextlib
import ipaddress
import selectors
import socket
import socketserver
import sys
import threading
from collections.abc import Iterable
from types import TracebackType
from typing import Any, Protocol, Self, cast
from urllib.parse import urlsplit

__all__ = ["ConnectProxy"]

_BUFFER_SIZE = 64 * 1024
_MAX_HEAD = 64 * 1024  # request line + headers, and response status line + headers
_MAX_LINE = 8 * 1024
_CONNECT_TIMEOUT = 5.0
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
    }
)


class _ProtocolError(Exception):
    """The peer sent something this proxy will not relay; answer with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Reader:
    """Buffered reads from a socket that can hand back what it read ahead."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = bytearray()

    def _fill(self) -> bool:
        data = self._sock.recv(_BUFFER_SIZE)
        self._buffer += data
        return bool(data)

    def read_head(self) -> list[str] | None:
        """The lines before the blank line (None at a clean EOF before any byte)."""
        while True:
            end = self._buffer.find(b"\r\n\r\n")
            if end >= 0:
                head = bytes(self._buffer[:end])
                del self._buffer[: end + 4]
                return head.decode("latin-1").split("\r\n")
            if len(self._buffer) > _MAX_HEAD:
                raise _ProtocolError(431, "head too large")
            if not self._fill():
                if self._buffer:
                    raise _ProtocolError(400, "connection closed inside the head")
                return None

    def readline(self) -> bytes:
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line = bytes(self._buffer[: end + 1])
                del self._buffer[: end + 1]
                return line
            if len(self._buffer) > _MAX_LINE:
                raise _ProtocolError(400, "line too long")
            if not self._fill():
                raise ConnectionError("connection closed inside a chunked body")

    def read_some(self, limit: int) -> bytes:
        """Up to ``limit`` bytes (b"" at EOF)."""
        if not self._buffer:
            self._fill()
        data = bytes(self._buffer[:limit])
        del self._buffer[:limit]
        return data

    def take_buffered(self) -> bytes:
        data = bytes(self._buffer)
        self._buffer.clear()
        return data


def _is_loopback_host(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _split_authority(authority: str, default_port: int | None = None) -> tuple[str | None, int | None]:
    """(host, port) of ``host:port`` / ``[v6]:port``; (None, None) when malformed."""
    try:
        split = urlsplit("//" + authority)
        port = split.port
    except ValueError:
        return None, None
    if split.path or split.query or split.fragment or split.username is not None:
        return None, None
    return split.hostname, port if port is not None else default_port


def _label(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _parse_headers(lines: Iterable[str]) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    for line in lines:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise _ProtocolError(400, f"malformed header line {line[:80]!r}")
        headers.append((name, value.strip()))
    return headers


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    values = [value for key, value in headers if key.lower() == name]
    return ", ".join(values) if values else None


def _without_hop_by_hop(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    named = {token.strip().lower() for token in (_header(headers, "connection") or "").split(",")}
    return [(key, value) for key, value in headers if key.lower() not in _HOP_BY_HOP | named]


class _Sink(Protocol):
    def sendall(self, data: bytes, /) -> None: ...


class _Discard:
    """A sink for a request body the proxy refuses, read so the client sees the answer."""

    def sendall(self, data: bytes, /) -> None:
        pass


def _relay_exact(reader: _Reader, dest: _Sink, length: int) -> None:
    remaining = length
    while remaining > 0:
        data = reader.read_some(min(_BUFFER_SIZE, remaining))
        if not data:
            raise ConnectionError("connection closed inside a body")
        dest.sendall(data)
        remaining -= len(data)


def _relay_chunked(reader: _Reader, dest: _Sink) -> None:
    """Relay a chunked body verbatim (chunk framing and trailers included)."""
    while True:
        line = reader.readline()
        dest.sendall(line)
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise _ProtocolError(400, "malformed chunk size") from None
        if size == 0:
            while True:  # trailers, then the final blank line
                trailer = reader.readline()
                dest.sendall(trailer)
                if trailer in (b"\r\n", b"\n"):
                    return
        _relay_exact(reader, dest, size + 2)  # the data and its CRLF


def _relay_body(reader: _Reader, dest: _Sink, headers: list[tuple[str, str]], *, until_eof: bool) -> None:
    if "chunked" in (_header(headers, "transfer-encoding") or "").lower():
        _relay_chunked(reader, dest)
        return
    length = _header(headers, "content-length")
    if length is not None:
        try:
            size = int(length.split(",")[0].strip())
        except ValueError:
            raise _ProtocolError(400, "invalid Content-Length") from None
        if size < 0:
            raise _ProtocolError(400, "invalid Content-Length")
        _relay_exact(reader, dest, size)
        return
    if until_eof:  # a response without framing ends when the origin closes
        while data := reader.read_some(_BUFFER_SIZE):
            dest.sendall(data)


def _head_bytes(start_line: str, headers: Iterable[tuple[str, str]]) -> bytes:
    lines = [start_line, *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _simple_response(status: int, reason: str, message: str) -> bytes:
    body = (message + "\n").encode("utf-8")
    headers = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
        ("Connection", "close"),
    ]
    return _head_bytes(f"HTTP/1.1 {status} {reason}", headers) + body


_REASONS = {400: "Bad Request", 431: "Request Header Fields Too Large"}


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], proxy: ConnectProxy) -> None:
        self.proxy = proxy
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # a peer went away, or the proxy is stopping
        super().handle_error(request, client_address)


class _Handler(socketserver.BaseRequestHandler):
    request: socket.socket

    @property
    def _proxy(self) -> ConnectProxy:
        return cast(_Server, self.server).proxy

    def handle(self) -> None:
        proxy = self._proxy
        client = self.request
        if not proxy._track(client):
            return
        try:
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            client.settimeout(proxy.idle_timeout)
            reader = _Reader(client)
            try:
                self._serve(reader, client)
            except _ProtocolError as error:
                with contextlib.suppress(OSError):
                    client.sendall(_simple_response(error.status, _REASONS.get(error.status, "Error"), str(error)))
        finally:
            proxy._untrack(client)  # socketserver's shutdown_request closes it

    def _serve(self, reader: _Reader, client: socket.socket) -> None:
        head = reader.read_head()
        if head is None:
            return
        method, _, rest = head[0].partition(" ")
        target, _, version = rest.partition(" ")
        if not method or not target or not version.startswith("HTTP/1."):
            raise _ProtocolError(400, f"malformed request line {head[0][:80]!r}")
        headers = _parse_headers(head[1:])
        if method.upper() == "CONNECT":
            self._tunnel(reader, client, target)
        elif target.lower().startswith("http://"):
            self._forward(reader, client, method=method, url=target, version=version, headers=headers)
        else:
            raise _ProtocolError(400, "this proxy takes CONNECT host:port or an absolute http:// URL")

    def _refusal(self, host: str, label: str) -> bytes | None:
        """The 403 for a target the proxy will not reach (recorded in ``refused``), else None."""
        proxy = self._proxy
        if label in proxy.refuse:
            reason = "refused by the test"
        elif not _is_loopback_host(host):
            reason = "only loopback targets are allowed"
        else:
            return None
        proxy._note("refused", label)
        return _simple_response(403, "Forbidden", f"{label}: {reason}")

    def _connect(self, host: str, port: int, label: str) -> socket.socket | bytes:
        """A tracked connection to the target, or the 502 to answer when there is none."""
        proxy = self._proxy
        try:
            upstream = socket.create_connection((host, port), timeout=_CONNECT_TIMEOUT)
        except OSError as error:
            return _simple_response(502, "Bad Gateway", f"{label}: {error}")
        if not proxy._track(upstream):
            upstream.close()
            return _simple_response(502, "Bad Gateway", "the proxy is stopping")
        upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        upstream.settimeout(proxy.idle_timeout)
        return upstream

    def _tunnel(self, reader: _Reader, client: socket.socket, target: str) -> None:
        host, port = _split_authority(target)
        if not host or port is None:
            raise _ProtocolError(400, f"CONNECT needs host:port, got {target[:80]!r}")
        label = _label(host, port)
        self._proxy._note("tunnels", label)
        upstream = self._refusal(host, label) or self._connect(host, port, label)
        if isinstance(upstream, bytes):
            client.sendall(upstream)
            return
        try:
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            early = reader.take_buffered()  # bytes the client sent before our answer
            if early:
                upstream.sendall(early)
            self._pipe(client, upstream)
        finally:
            self._proxy._untrack(upstream, close=True)

    def _pipe(self, client: socket.socket, upstream: socket.socket) -> None:
        """Copy both ways; an EOF is passed on as a half-close; done when both are done."""
        peers = {client: upstream, upstream: client}
        open_reads = {client, upstream}
        with selectors.DefaultSelector() as selector:
            for sock in open_reads:
                selector.register(sock, selectors.EVENT_READ)
            while open_reads:
                ready = selector.select(timeout=self._proxy.idle_timeout)
                if not ready:
                    return  # idle too long
                for key, _ in ready:
                    source = cast(socket.socket, key.fileobj)
                    data = source.recv(_BUFFER_SIZE)
                    if data:
                        peers[source].sendall(data)
                        continue
                    selector.unregister(source)
                    open_reads.discard(source)
                    with contextlib.suppress(OSError):
                        peers[source].shutdown(socket.SHUT_WR)

    def _forward(
        self,
        reader: _Reader,
        client: socket.socket,
        *,
        method: str,
        url: str,
        version: str,
        headers: list[tuple[str, str]],
    ) -> None:
        split = urlsplit(url)
        host, port = _split_authority(split.netloc.rpartition("@")[2], default_port=80)
        if not host or port is None:
            raise _ProtocolError(400, f"no usable host:port in {url[:80]!r}")
        label = _label(host, port)
        proxy = self._proxy
        proxy._note("forwarded", url)
        expects_continue = (_header(headers, "expect") or "").lower() == "100-continue"
        upstream = self._refusal(host, label) or self._connect(host, port, label)
        if isinstance(upstream, bytes):
            if not expects_continue:  # read the body, so the client gets the answer, not a reset
                _relay_body(reader, _Discard(), headers, until_eof=False)
            client.sendall(upstream)
            return
        try:
            origin_form = split.path or "/"
            if split.query:
                origin_form += "?" + split.query
            sent_headers = [(k, v) for k, v in _without_hop_by_hop(headers) if k.lower() != "expect"]
            if _header(sent_headers, "host") is None:
                sent_headers.insert(0, ("Host", split.netloc.rpartition("@")[2]))
            sent_headers.append(("Connection", "close"))
            upstream.sendall(_head_bytes(f"{method} {origin_form} {version}", sent_headers))
            if expects_continue:  # answered here; the origin never sees the Expect header
                client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            _relay_body(reader, upstream, headers, until_eof=False)

            upstream_reader = _Reader(upstream)
            while True:
                response = upstream_reader.read_head()
                if response is None:
                    client.sendall(_simple_response(502, "Bad Gateway", f"{label} closed without answering"))
                    return
                status_line, response_headers = response[0], _parse_headers(response[1:])
                parts = status_line.split(" ", 2)
                status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
                if not 100 <= status < 200:
                    break
                if status != 100:  # 100 Continue was answered already; pass others (103) on
                    client.sendall(_head_bytes(status_line, response_headers))
            relayed = [*_without_hop_by_hop(response_headers), ("Connection", "close")]
            client.sendall(_head_bytes(status_line, relayed))
            if method.upper() != "HEAD" and status not in (204, 304):
                _relay_body(upstream_reader, client, response_headers, until_eof=True)
        finally:
            proxy._untrack(upstream, close=True)


class ConnectProxy:
    """An HTTP proxy on loopback for tests (see the module docstring)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        refuse: Iterable[str] = (),
        idle_timeout: float = 60.0,
    ) -> None:
        if not _is_loopback_host(host):
            raise ValueError(f"ConnectProxy listens on loopback only, not {host!r}")
        self.host = host
        self._requested_port = port
        self.refuse: set[str] = set(refuse)  # "host:port" targets answered 403
        self.idle_timeout = idle_timeout
        self._lock = threading.Lock()
        self._records: dict[str, list[str]] = {"tunnels": [], "forwarded": [], "refused": []}
        self._sockets: set[socket.socket] = set()
        self._stopping = False
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError("the proxy is already running")
        with self._lock:
            self._stopping = False
        server = _Server((self.host, self._requested_port), self)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.01},
            name=f"connect-proxy-{server.server_address[1]}",
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
            self._stopping = True
            sockets = list(self._sockets)
        for sock in sockets:  # wakes every handler thread blocked on a read or a send
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
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
            raise RuntimeError("the proxy is not running; call start() first")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    # ---------------------------------------------------------------- inspection

    @property
    def tunnels(self) -> list[str]:
        """``host:port`` of every CONNECT received, in order (refused ones included)."""
        return self._snapshot("tunnels")

    @property
    def forwarded(self) -> list[str]:
        """Every absolute URL received for forwarding, in order (refused ones included)."""
        return self._snapshot("forwarded")

    @property
    def refused(self) -> list[str]:
        """``host:port`` of every target answered 403 (in ``refuse``, or not loopback)."""
        return self._snapshot("refused")

    def reset(self) -> None:
        with self._lock:
            for records in self._records.values():
                records.clear()

    # ------------------------------------------------------------------ internals

    def _snapshot(self, kind: str) -> list[str]:
        with self._lock:
            return list(self._records[kind])

    def _note(self, kind: str, value: str) -> None:
        with self._lock:
            self._records[kind].append(value)

    def _track(self, sock: socket.socket) -> bool:
        with self._lock:
            if self._stopping:
                return False
            self._sockets.add(sock)
            return True

    def _untrack(self, sock: socket.socket, *, close: bool = False) -> None:
        with self._lock:
            self._sockets.discard(sock)
        if close:
            with contextlib.suppress(OSError):
                sock.close()
