"""A throwaway certificate authority for tests: HTTPS emulators and TLS-intercepting proxies.

    ca = make_ca()
    server = ca.issue_server_certificate()           # localhost, 127.0.0.1, ::1
    paths = write_pem_files(tmp_path, ca, server)    # ca.pem, server.pem, server-key.pem
    with ServiceNowEmulator(tls=server) as sn: ...   # https://127.0.0.1:PORT
    requests.get(sn.url, verify=paths.ca_file)

Keys are EC P-256 (generated in microseconds, unlike RSA). Nothing here is secret:
the keys live only as long as the test process. Production code never imports this.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "PemFiles",
    "ServerCertificate",
    "TestCA",
    "make_ca",
    "write_pem_files",
]

DEFAULT_CA_NAME = "ITOM Forwarder Test CA"
CA_VALIDITY = datetime.timedelta(days=365)
SERVER_VALIDITY = datetime.timedelta(days=30)
BACKDATE = datetime.timedelta(minutes=5)  # tolerate a client clock slightly behind


@dataclass(frozen=True)
class ServerCertificate:
    """A leaf certificate for a TLS server and its unencrypted PKCS#8 private key (both PEM)."""

    certificate_pem: str
    private_key_pem: str = field(repr=False)


@dataclass(frozen=True)
class PemFiles:
    """Where `write_pem_files` put things (a None field was not written)."""

    ca_file: Path
    certificate_file: Path | None = None
    key_file: Path | None = None


@dataclass(frozen=True)
class TestCA:
    """A self-signed CA certificate and its key; issues server certificates."""

    __test__ = False  # not a pytest test class, despite the name

    certificate_pem: str
    key: ec.EllipticCurvePrivateKey = field(repr=False)
    certificate: x509.Certificate = field(repr=False)

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
        names: list[x509.GeneralName] = [x509.DNSName(name) for name in hostnames]
        names.extend(x509.IPAddress(ipaddress.ip_address(address)) for address in ip_addresses)
        if not names:
            raise ValueError("a server certificate needs at least one hostname or IP address")
        subject_cn = common_name or (hostnames[0] if hostnames else ip_addresses[0])
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + validity)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=True,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
        return ServerCertificate(_certificate_pem(certificate), _private_key_pem(key))


def self_signed_builder(
    public_key: CertificateIssuerPublicKeyTypes, common_name: str, validity: datetime.timedelta
) -> x509.CertificateBuilder:
    """A certificate that names itself as issuer, valid from a few minutes ago."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + validity)
    )


def make_ca(common_name: str = DEFAULT_CA_NAME) -> TestCA:
    """A new self-signed CA (BasicConstraints ca=True, KeyUsage keyCertSign + cRLSign)."""
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        self_signed_builder(key.public_key(), common_name, CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return TestCA(_certificate_pem(certificate), key, certificate)


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


def _certificate_pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _private_key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
