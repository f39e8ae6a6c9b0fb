"""A CONNECT tunnel for tests: HTTPS through an HTTP proxy, as ``HTTPS_PROXY`` sets up.

    with ConnectProxy() as proxy, ServiceNowEmulator(tls=server_cert) as sn:
        requests.post(sn.url + path, proxies={"https": proxy.url}, verify=ca_file, ...)
        assert proxy.tunnels == [f"127.0.0.1:{sn.port}"]

``CONNECT host:port`` is answered ``HTTP/1.1 200 Connection established``, then bytes are
piped both ways (TLS stays end to end) until both sides are done. Anything else is
answered 405: the forwarder only ever reaches its instance over HTTPS.

It records every CONNECT target (``tunnels``) and those answered 403 instead
(``refused``: the targets in ``refuse``, and any that is not loopback), so a test can tell
whether a client used the proxy or went direct (NO_PROXY). The proxy listens on loopback
and connects only to ``localhost`` or a loopback IP literal (no DNS lookups): a misrouted
test never reaches the network. Stdlib only; ``stop()`` closes every open tunnel.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import socketserver
import threading
from collections.abc import Iterable
from types import TracebackType
from typing import Self, cast
from urllib.parse import urlsplit

__all__ = ["ConnectProxy"]

_BUFFER_SIZE = 64 * 1024
_MAX_HEAD = 64 * 1024
_CONNECT_TIMEOUT = 5.0


def _is_loopback_host(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _answer(status: str, message: str = "") -> bytes:
    body = (message + "\n").encode("utf-8") if message else b""
    head = f"HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {len(body)}\r\n"
    return (head + "Connection: close\r\n\r\n").encode("latin-1") + body


def _read_head(client: socket.socket) -> tuple[str, bytes] | None:
    """The request line and the bytes after the head (None if it closed before one)."""
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > _MAX_HEAD:
            return None
        chunk = client.recv(_BUFFER_SIZE)
        if not chunk:
            return None
        data += chunk
    head, _, early = data.partition(b"\r\n\r\n")
    return head.split(b"\r\n", 1)[0].decode("latin-1"), early


def _copy(source: socket.socket, dest: socket.socket) -> None:
    """Copy until EOF (passed on as a half-close), an error or the idle timeout."""
    with contextlib.suppress(OSError):
        while data := source.recv(_BUFFER_SIZE):
            dest.sendall(data)
    with contextlib.suppress(OSError):
        dest.shutdown(socket.SHUT_WR)


class _Handler(socketserver.BaseRequestHandler):
    request: socket.socket

    def handle(self) -> None:
        proxy = cast(_Server, self.server).proxy
        client = self.request
        if not proxy._track(client):
            return
        try:
            client.settimeout(proxy.idle_timeout)
            read = _read_head(client)
            if read is not None:
                self._serve(proxy, client, *read)
        except OSError:
            pass  # a peer went away, or the proxy is stopping
        finally:
            proxy._untrack(client)  # socketserver's shutdown_request closes it

    def _serve(self, proxy: ConnectProxy, client: socket.socket, request_line: str, early: bytes) -> None:
        method, _, rest = request_line.partition(" ")
        target, _, version = rest.partition(" ")
        if method.upper() != "CONNECT":
            client.sendall(_answer("405 Method Not Allowed", "this proxy only takes CONNECT host:port"))
            return
        try:
            split = urlsplit("//" + target)
            host, port = split.hostname, split.port
        except ValueError:
            host = port = None
        if not host or port is None or not version.startswith("HTTP/1.") or split.path or split.username:
            client.sendall(_answer("400 Bad Request", f"CONNECT needs host:port, got {target[:80]!r}"))
            return
        label = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        with proxy._lock:
            proxy._tunnels.append(label)
        refusal = "refused by the test" if label in proxy.refuse else None
        if refusal is None and not _is_loopback_host(host):
            refusal = "only loopback targets are allowed"
        if refusal is not None:
            with proxy._lock:
                proxy._refused.append(label)
            client.sendall(_answer("403 Forbidden", f"{label}: {refusal}"))
            return
        try:
            upstream = socket.create_connection((host, port), timeout=_CONNECT_TIMEOUT)
        except OSError as error:
            client.sendall(_answer("502 Bad Gateway", f"{label}: {error}"))
            return
        with upstream:
            if not proxy._track(upstream):
                return
            try:
                for sock in (client, upstream):  # TLS records are relayed as they come
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                upstream.settimeout(proxy.idle_timeout)
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                upstream.sendall(early)  # what the client sent before our answer, if anything
                back = threading.Thread(target=_copy, args=(upstream, client), daemon=True)
                back.start()
                _copy(client, upstream)
                back.join()
            finally:
                proxy._untrack(upstream)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], proxy: ConnectProxy) -> None:
        self.proxy = proxy
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)


class ConnectProxy:
    """A CONNECT proxy on loopback for tests (see the module docstring)."""

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
        self._tunnels: list[str] = []
        self._refused: list[str] = []
        self._sockets: set[socket.socket] = set()
        self._stopping = False
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError("the proxy is already running")
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

    @property
    def tunnels(self) -> list[str]:
        """``host:port`` of every CONNECT received, in order (refused ones included)."""
        with self._lock:
            return list(self._tunnels)

    @property
    def refused(self) -> list[str]:
        """``host:port`` of every target answered 403 (in ``refuse``, or not loopback)."""
        with self._lock:
            return list(self._refused)

    def reset(self) -> None:
        with self._lock:
            self._tunnels.clear()
            self._refused.clear()

    def _track(self, sock: socket.socket) -> bool:
        with self._lock:
            if self._stopping:
                return False
            self._sockets.add(sock)
            return True

    def _untrack(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)
