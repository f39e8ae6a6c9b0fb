"""The HTTPS emulator, the test CA (trustme's) and the CONNECT proxy, over real loopback sockets."""

from __future__ import annotations

import datetime
import socket
import ssl
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from local.connect_proxy import ConnectProxy
from local.emulator import ServiceNowEmulator
from local.tls import PemFiles, ServerCertificate, TestCA, make_ca, write_pem_files

EVENTS = "/api/global/em/jsonv2"
AUTH = ("svc", "secret")
RECORD = {"source": "AWS", "node": "i-1", "type": "CPU", "severity": "2", "message_key": "k1"}


# ------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def ca() -> TestCA:
    return make_ca()


@pytest.fixture(scope="module")
def server_cert(ca: TestCA) -> ServerCertificate:
    return ca.issue_server_certificate()


@pytest.fixture(scope="module")
def pem_files(tmp_path_factory: pytest.TempPathFactory, ca: TestCA, server_cert: ServerCertificate) -> PemFiles:
    return write_pem_files(tmp_path_factory.mktemp("tls"), ca, server_cert)


@pytest.fixture
def ca_file(pem_files: PemFiles) -> str:
    return str(pem_files.ca_file)


@pytest.fixture
def https_sn(server_cert: ServerCertificate) -> Iterator[ServiceNowEmulator]:
    with ServiceNowEmulator(tls=server_cert) as emulator:
        emulator.add_user(*AUTH)
        yield emulator


@pytest.fixture
def sn() -> Iterator[ServiceNowEmulator]:
    with ServiceNowEmulator() as emulator:
        emulator.add_user(*AUTH)
        yield emulator


@pytest.fixture
def proxy() -> Iterator[ConnectProxy]:
    with ConnectProxy() as running:
        yield running


@pytest.fixture
def http() -> Iterator[requests.Session]:
    session = requests.Session()
    session.trust_env = False  # no environment proxies or CA bundles: each test says what it uses
    with session:
        yield session


def post_event(http: requests.Session, url: str, **kwargs: Any) -> requests.Response:
    kwargs.setdefault("auth", AUTH)
    kwargs.setdefault("timeout", 5)
    return http.post(url + EVENTS, json={"records": [RECORD]}, **kwargs)


def _connect(proxy: ConnectProxy, request: bytes) -> bytes:
    """The proxy's answer to one raw request."""
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as raw:
        raw.sendall(request)
        return raw.recv(1024)


# ---------------------------------------------------------------------- test CA


def test_ca_and_server_certificate_extensions(ca: TestCA, server_cert: ServerCertificate) -> None:
    ca_cert = x509.load_pem_x509_certificate(ca.certificate_pem.encode())
    assert ca_cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert ca_cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign is True

    leaf = x509.load_pem_x509_certificate(server_cert.certificate_pem.encode())
    assert leaf.issuer == ca_cert.subject
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1", "::1"]
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    now = datetime.datetime.now(datetime.UTC)
    assert leaf.not_valid_before_utc <= now - datetime.timedelta(minutes=4)
    assert now + datetime.timedelta(days=29) < leaf.not_valid_after_utc <= now + datetime.timedelta(days=31)
    assert "PRIVATE KEY-----" in server_cert.private_key_pem
    assert "PRIVATE" not in repr(server_cert)


def test_custom_names_and_pem_files(tmp_path: Path, ca: TestCA) -> None:
    cert = ca.issue_server_certificate(["instance.service-now.test"], ["10.0.0.1"])
    san = x509.load_pem_x509_certificate(cert.certificate_pem.encode()).extensions
    names = san.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["instance.service-now.test"]
    files = write_pem_files(tmp_path / "sub", ca, cert, prefix="x-")
    assert files.ca_file.read_text() == ca.certificate_pem
    assert files.key_file is not None
    assert files.key_file.name == "x-server-key.pem"
    assert files.key_file.stat().st_mode & 0o077 == 0
    assert write_pem_files(tmp_path, ca).certificate_file is None
    with pytest.raises(TypeError):
        ca.issue_server_certificate("localhost")


# ---------------------------------------------------------------- HTTPS emulator


def test_https_with_the_test_ca(https_sn: ServiceNowEmulator, http: requests.Session, ca_file: str) -> None:
    assert https_sn.url == f"https://127.0.0.1:{https_sn.port}"
    assert https_sn.tls
    response = post_event(http, https_sn.url, verify=ca_file)
    assert response.status_code == 200, response.text
    assert response.json() == {"result": {"Default Bulk Endpoint": "1 events were inserted"}}
    assert https_sn.events == [RECORD]
    # keep-alive works over TLS too
    assert post_event(http, https_sn.url, verify=ca_file).status_code == 200
    assert https_sn.connections_opened == 1


def test_https_rejects_unknown_ca_and_keeps_serving(
    https_sn: ServiceNowEmulator,
    http: requests.Session,
    ca_file: str,
    capfd: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(requests.exceptions.SSLError):
        post_event(http, https_sn.url)  # default verify: certifi's bundle, not the test CA
    with pytest.raises(requests.exceptions.SSLError):
        post_event(http, https_sn.url, verify=True)
    assert https_sn.events == []
    assert https_sn.requests == []  # failed handshakes never reach HTTP

    assert post_event(http, https_sn.url, verify=ca_file).status_code == 200
    assert len(https_sn.events) == 1
    assert https_sn.connections_opened == 3
    captured = capfd.readouterr()
    sys.stdout.write(captured.out)  # hand it back for the autouse output checks
    sys.stderr.write(captured.err)
    assert "Traceback" not in captured.err


def test_https_survives_plain_http_and_silent_clients(
    https_sn: ServiceNowEmulator, http: requests.Session, ca_file: str
) -> None:
    with pytest.raises(requests.exceptions.ConnectionError):
        post_event(http, https_sn.url.replace("https://", "http://"))
    # a client that connects and never says hello holds only its own thread
    with socket.create_connection(("127.0.0.1", https_sn.port), timeout=5):
        started = time.monotonic()
        assert post_event(http, https_sn.url, verify=ca_file).status_code == 200
        assert time.monotonic() - started < 1


def test_stop_is_prompt_with_a_pending_handshake(server_cert: ServerCertificate) -> None:
    emulator = ServiceNowEmulator(tls=server_cert).start()
    with socket.create_connection(("127.0.0.1", emulator.port), timeout=5) as silent:
        time.sleep(0.05)  # let the connection's thread start its handshake
        started = time.monotonic()
        emulator.stop()
        assert time.monotonic() - started < 1
        silent.settimeout(2)
        assert silent.recv(1) == b""  # closed by the emulator


def test_https_speaks_tls12_or_newer_only(https_sn: ServiceNowEmulator, pem_files: PemFiles) -> None:
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname = False
    old.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old.minimum_version = ssl.TLSVersion.TLSv1_1
        old.maximum_version = ssl.TLSVersion.TLSv1_1
    old.set_ciphers("DEFAULT:@SECLEVEL=0")  # let this client offer TLS 1.1 at all
    with (
        socket.create_connection(("127.0.0.1", https_sn.port), timeout=5) as raw,
        pytest.raises(ssl.SSLError, match="PROTOCOL_VERSION"),  # the server's alert
        old.wrap_socket(raw),
    ):
        pass
    for version, name in ((ssl.TLSVersion.TLSv1_2, "TLSv1.2"), (ssl.TLSVersion.TLSv1_3, "TLSv1.3")):
        context = ssl.create_default_context(cafile=str(pem_files.ca_file))
        context.minimum_version = context.maximum_version = version
        with (
            socket.create_connection(("127.0.0.1", https_sn.port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            assert tls.version() == name
            assert tls.selected_alpn_protocol() is None  # the client offered no ALPN


def test_https_injected_disconnect(https_sn: ServiceNowEmulator, http: requests.Session, ca_file: str) -> None:
    https_sn.inject_disconnect()
    with pytest.raises(requests.exceptions.ConnectionError):
        post_event(http, https_sn.url, verify=ca_file)
    assert post_event(http, https_sn.url, verify=ca_file).status_code == 200


# --------------------------------------------------------------------- redirects


def test_inject_redirect(sn: ServiceNowEmulator, http: requests.Session) -> None:
    sn.inject_redirect("https://attacker.example/steal", count=2)
    for _ in range(2):
        response = post_event(http, sn.url, allow_redirects=False)
        assert response.status_code == 307
        assert response.headers["Location"] == "https://attacker.example/steal"
        assert response.content == b""
    assert post_event(http, sn.url, allow_redirects=False).status_code == 200
    assert [r.status for r in sn.requests] == [307, 307, 200]
    assert len(sn.events) == 1
    assert sn.connections_opened == 1  # the empty redirect body keeps the connection usable


def test_inject_redirect_status_and_path(sn: ServiceNowEmulator, http: requests.Session) -> None:
    sn.inject_redirect("/elsewhere", 302, path="/api/now/table/sys_choice")
    assert post_event(http, sn.url, allow_redirects=False).status_code == 200
    response = http.get(sn.url + "/api/now/table/sys_choice", auth=AUTH, allow_redirects=False, timeout=5)
    assert (response.status_code, response.headers["Location"]) == (302, "/elsewhere")
    with pytest.raises(ValueError, match="3xx"):
        sn.inject_redirect("https://x.example", 200)
    with pytest.raises(ValueError, match="single-line"):
        sn.inject_redirect("https://x.example\r\nSet-Cookie: a=b")


# ------------------------------------------------------------------------- proxy


def test_https_through_connect_tunnel(
    https_sn: ServiceNowEmulator, proxy: ConnectProxy, http: requests.Session, ca_file: str
) -> None:
    assert proxy.url == f"http://127.0.0.1:{proxy.port}"
    response = post_event(http, https_sn.url, proxies={"https": proxy.url}, verify=ca_file)
    assert response.status_code == 200, response.text
    assert proxy.tunnels == [f"127.0.0.1:{https_sn.port}"]
    assert proxy.refused == []
    assert https_sn.events == [RECORD]
    assert all("Proxy-Authorization" not in r.headers for r in https_sn.requests)


def test_tunnel_carries_large_bodies_and_keep_alive(
    https_sn: ServiceNowEmulator, proxy: ConnectProxy, http: requests.Session, ca_file: str
) -> None:
    big = dict(RECORD, description="x" * 1_000_000)
    for _ in range(2):
        response = http.post(
            https_sn.url + EVENTS,
            json={"records": [big]},
            auth=AUTH,
            proxies={"https": proxy.url},
            verify=ca_file,
            timeout=5,
        )
        assert response.status_code == 200
    assert https_sn.events == [big, big]
    assert proxy.tunnels == [f"127.0.0.1:{https_sn.port}"]  # one tunnel, reused


def test_plain_http_is_not_forwarded(sn: ServiceNowEmulator, proxy: ConnectProxy, http: requests.Session) -> None:
    """Only CONNECT: the forwarder reaches its instance over HTTPS, never plain HTTP."""
    response = post_event(http, sn.url, proxies={"http": proxy.url})
    assert response.status_code == 405
    assert response.headers["Connection"] == "close"
    assert (proxy.tunnels, proxy.refused) == ([], [])
    assert sn.requests == []


def test_refused_targets_get_403(
    https_sn: ServiceNowEmulator, sn: ServiceNowEmulator, http: requests.Session, ca_file: str
) -> None:
    refused = {f"127.0.0.1:{https_sn.port}", f"127.0.0.1:{sn.port}"}
    with ConnectProxy(refuse=refused) as proxy:
        with pytest.raises(requests.exceptions.ProxyError, match="403"):
            post_event(http, https_sn.url, proxies={"https": proxy.url}, verify=ca_file)
        answer = _connect(proxy, f"CONNECT 127.0.0.1:{sn.port} HTTP/1.1\r\n\r\n".encode())
        assert answer.startswith(b"HTTP/1.1 403 ")
        assert b"refused by the test" in answer
        assert proxy.tunnels == [f"127.0.0.1:{https_sn.port}", f"127.0.0.1:{sn.port}"]
        assert sorted(proxy.refused) == sorted(refused)
        proxy.reset()
        assert (proxy.tunnels, proxy.refused) == ([], [])
    assert https_sn.requests == []
    assert sn.requests == []


def test_non_loopback_targets_are_refused(proxy: ConnectProxy, http: requests.Session) -> None:
    with pytest.raises(requests.exceptions.ProxyError, match="403"):  # no DNS lookup, no connection
        http.get("https://example.com/", proxies={"https": proxy.url}, timeout=5)
    answer = _connect(proxy, b"CONNECT 192.0.2.1:443 HTTP/1.1\r\nHost: 192.0.2.1:443\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 403 ")
    assert b"only loopback targets" in answer
    assert proxy.refused == ["example.com:443", "192.0.2.1:443"]


def test_proxy_rejects_malformed_requests_and_unreachable_targets(proxy: ConnectProxy) -> None:
    assert _connect(proxy, b"GET /origin-form HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 405 ")
    assert _connect(proxy, b"CONNECT no-port HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    assert _connect(proxy, b"CONNECT 127.0.0.1:1 SPDY/3\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    with socket.socket() as unused:  # a port nobody listens on
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    assert _connect(proxy, f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n".encode()).startswith(b"HTTP/1.1 502 ")
    assert proxy.tunnels == [f"127.0.0.1:{port}"]  # malformed requests name no tunnel
    with pytest.raises(ValueError, match="loopback"):
        ConnectProxy("192.0.2.1")


def test_proxy_stop_closes_open_tunnels(https_sn: ServiceNowEmulator) -> None:
    proxy = ConnectProxy().start()
    raw = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
    with raw:
        raw.sendall(f"CONNECT 127.0.0.1:{https_sn.port} HTTP/1.1\r\n\r\n".encode())
        assert raw.recv(1024) == b"HTTP/1.1 200 Connection established\r\n\r\n"
        started = time.monotonic()
        proxy.stop()
        assert time.monotonic() - started < 1
        raw.settimeout(2)
        assert raw.recv(1) == b""
    proxy.stop()  # idempotent
    with pytest.raises(RuntimeError):
        _ = proxy.url
