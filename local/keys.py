"""Key material for OAuth, made the way the connector doc's openssl commands make it:
a 3072-bit RSA private key (optionally password-protected) and a self-signed X.509
certificate for the ServiceNow JWT verifier map.

(The TLS test CA is trustme's, in ``local.tls``; trustme makes no JWT signing keys.)
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

CERTIFICATE_VALIDITY = datetime.timedelta(days=360)
BACKDATE = datetime.timedelta(minutes=5)  # tolerate a verifier clock slightly behind


@dataclass(frozen=True)
class KeyPair:
    private_key_pem: str
    certificate_pem: str


def make_key_pair(
    *, password: str | None = None, traditional: bool = False, bits: int = 3072, common_name: str = "itom-forwarder"
) -> KeyPair:
    """`traditional` writes PKCS#1 (`BEGIN RSA PRIVATE KEY`), else PKCS#8."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password.encode()) if password else serialization.NoEncryption()
    )
    key_format = serialization.PrivateFormat.TraditionalOpenSSL if traditional else serialization.PrivateFormat.PKCS8
    private_pem = key.private_bytes(serialization.Encoding.PEM, key_format, encryption).decode()
    # What `openssl req -new -x509 -days 360` makes of the key, for the JWT verifier map.
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CERTIFICATE_VALIDITY)
        .sign(key, hashes.SHA256())
    )
    return KeyPair(private_pem, certificate.public_bytes(serialization.Encoding.PEM).decode())
