"""AWS Signature Version 4 for one request, as a pure function of the request, the
credentials and the time.

    canonical request  METHOD, URI, query, "name:value" lines, signed;names, sha256(body)
    string to sign     AWS4-HMAC-SHA256, 20260101T000000Z, 20260101/region/service/aws4_request,
                       sha256(canonical request)
    signing key        HMAC chain from "AWS4" + secret over date, region, service, "aws4_request"

(each a newline-separated list).

The signed headers are the caller's (host, content-type, x-amz-target) plus x-amz-date and,
with temporary credentials, x-amz-security-token.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

from itom_forwarder.aws_api.credentials import AwsCredentials

__all__ = ["ALGORITHM", "host_of", "sign"]

ALGORITHM = "AWS4-HMAC-SHA256"
_TIMESTAMP = "%Y%m%dT%H%M%SZ"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def host_of(url: str) -> str:
    """The Host header for `url`: lowercase, without user info, its port only when not the
    scheme's default (what botocore signs, and what the HTTP client would send)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6
        host = f"[{host}]"
    if parts.port is not None and parts.port != _DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{parts.port}"
    return host


@functools.lru_cache(maxsize=16)
def _signing_key(secret_access_key: str, date: str, region: str, service: str) -> bytes:
    # Derived once per day, region and service (four HMACs); the cache lives as long as the
    # process, like the credentials themselves.
    key = ("AWS4" + secret_access_key).encode("utf-8")
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


def _canonical_query(query: str) -> str:
    # As botocore signs a URL's own query: its pairs sorted, taken as already encoded.
    if not query:
        return ""
    pairs = [pair.partition("=") for pair in query.split("&")]
    return "&".join(f"{key}={value}" for key, _, value in sorted(pairs))


def sign(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    credentials: AwsCredentials,
    region: str,
    service: str,
    now: datetime,
) -> dict[str, str]:
    """The headers that sign the request: X-Amz-Date, X-Amz-Security-Token (temporary
    credentials only) and Authorization. `headers` are the other headers to sign; Host is
    derived from `url` unless given. The caller sends all of them, unchanged."""
    timestamp = now.astimezone(UTC).strftime(_TIMESTAMP)
    added = {"X-Amz-Date": timestamp}
    if credentials.session_token:
        added["X-Amz-Security-Token"] = credentials.session_token
    signed: dict[str, str] = {}
    for name, value in (*headers.items(), *added.items()):
        signed[name.lower()] = " ".join(value.split())
    signed.setdefault("host", host_of(url))
    names = sorted(signed)
    signed_headers = ";".join(names)
    parts = urlsplit(url)
    canonical_request = "\n".join(
        (
            method.upper(),
            quote(parts.path or "/", safe="/~"),
            _canonical_query(parts.query),
            "".join(f"{name}:{signed[name]}\n" for name in names),
            signed_headers,
            hashlib.sha256(body).hexdigest(),
        )
    )
    scope = f"{timestamp[:8]}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(
        (ALGORITHM, timestamp, scope, hashlib.sha256(canonical_request.encode("utf-8")).hexdigest())
    )
    key = _signing_key(credentials.secret_access_key, timestamp[:8], region, service)
    signature = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    added["Authorization"] = (
        f"{ALGORITHM} Credential={credentials.access_key_id}/{scope}, "
        f"SignedHeaders={signed_headers}, Signature={signature}"
    )
    return added
