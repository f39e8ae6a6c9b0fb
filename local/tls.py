"""A throwaway certificate authority for tests (made by ``trustme``): HTTPS emulators and
TLS-intercepting proxies.

    ca = make_ca()
    server = ca.issue_server_certificate()           # localhost, 127.0.0.1, ::1
    paths = write_pem_files(tmp_path, ca, server)    # ca.pem, server.pem, server-key.pem
    with ServiceNowEmulator(tls=server) as sn: ...   # https://127.0.0.1:PORT
    requests.get(sn.url, verify=paths.ca_file)

Keys are EC P-256 (generated in microseconds, unlike RSA). Nothing here is secret: the
keys live only as long as the test process. Production code never imports this.
"""

from __future__ import annotations

import datetime
import os
import ssl
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import trustme

__all__ = [
    "PemFiles",
    "ServerCertificate",
    "TestCA",
    "make_ca",
    "write_pem_files",
]

DEFAULT_CA_NAME = "ITOM Forwarder Test CA"
SERVER_VALIDITY = datetime.timedelta(days=30)
BACKDATE = datetime.timedelta(minutes=5)  # tolerate a client clock slightly behind


@dataclass(frozen=True)
class ServerCertificate:
    """A leaf certificate for a TLS server and its unencrypted private key (both PEM)."""

    certificate_pem: str
    private_key_pem: str = field(repr=False)

    def server_context(self) -> ssl.SSLContext:
        """A TLS 1.2+ server context (ALPN http/1.1) presenting this certificate."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_alpn_protocols(["http/1.1"])
        # load_cert_chain reads files only: the PEMs live on disk just long enough to load.
        with tempfile.TemporaryDirectory(prefix="test-tls-") as directory:
            path = os.path.join(directory, "server.pem")
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="ascii") as file:
                file.write(self.private_key_pem + self.certificate_pem)
            context.load_cert_chain(path)
        return context


@dataclass(frozen=True)
class PemFiles:
    """Where `write_pem_files` put things (a None field was not written)."""

    ca_file: Path
    certificate_file: Path | None = None
    key_file: Path | None = None


class TestCA:
    """A self-signed CA (trustme's); issues server certificates."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, common_name: str = DEFAULT_CA_NAME) -> None:
        self._ca = trustme.CA(organization_unit_name=common_name)
        self.certificate_pem = self._ca.cert_pem.bytes().decode("ascii")

    def issue_server_certificate(
        self,
        hostnames: Sequence[str] = ("localhost",),
        ip_addresses: Sequence[str] = ("127.0.0.1", "::1"),
        *,
        common_name: str | None = None,
        validity: datetime.timedelta = SERVER_VALIDITY,
    ) -> ServerCertificate:
        """A serverAuth certificate whose SANs are the DNS names and IP addresses given."""
        if isinstance(hostnames, str) or isinstance(ip_addresses, str):
            raise TypeError("hostnames and ip_addresses are sequences of strings, not a string")
        if not hostnames and not ip_addresses:
            raise ValueError("a server certificate needs at least one hostname or IP address")
        now = datetime.datetime.now(datetime.UTC)
        leaf = self._ca.issue_cert(
            *hostnames,
            *ip_addresses,
            common_name=common_name or (hostnames[0] if hostnames else ip_addresses[0]),
            not_before=now - BACKDATE,
            not_after=now + validity,
        )
        return ServerCertificate(
            leaf.cert_chain_pems[0].bytes().decode("ascii"),
            leaf.private_key_pem.bytes().decode("ascii"),
        )


def make_ca(common_name: str = DEFAULT_CA_NAME) -> TestCA:
    """A new self-signed CA (BasicConstraints ca=True, KeyUsage keyCertSign + cRLSign)."""
    return TestCA(common_name)


def write_pem_files(
    directory: str | Path,
    ca: TestCA,
    server: ServerCertificate | None = None,
    *,
    prefix: str = "",
) -> PemFiles:
    """Write ``{prefix}ca.pem`` and, given a server certificate, ``{prefix}server.pem`` and
    ``{prefix}server-key.pem`` (mode 0600) into ``directory`` (created if missing)."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    ca_file = folder / f"{prefix}ca.pem"
    ca_file.write_text(ca.certificate_pem, encoding="ascii")
    if server is None:
        return PemFiles(ca_file)
    certificate_file = folder / f"{prefix}server.pem"
    certificate_file.write_text(server.certificate_pem, encoding="ascii")
    key_file = folder / f"{prefix}server-key.pem"
    key_file.touch(mode=0o600)
    key_file.chmod(0o600)
    key_file.write_text(server.private_key_pem, encoding="ascii")
    return PemFiles(ca_file, certificate_file, key_file)
