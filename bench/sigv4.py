"""A minimal AWS Signature Version 4 signer, the benchmark's own (independent of the
project's code): the baselines send real signed requests with it, over `requests`. Checked
against botocore's SigV4Auth by tests/unit/test_bench_signer.py. Enough for the JSON
protocol's POSTs the baselines make (DynamoDB, Secrets Manager): no query-string encoding
beyond sorting, no path normalisation, no chunked payloads."""

from __future__ import annotations

import datetime
import hashlib
import hmac
from urllib.parse import urlsplit


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def sign(
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes,
    *,
    service: str,
    region: str,
    access_key: str,
    secret_key: str,
    session_token: str | None = None,
    now: datetime.datetime | None = None,
) -> dict[str, str]:
    """`headers` plus X-Amz-Date, X-Amz-Security-Token (with a token) and Authorization,
    signing every header given and Host (which `requests` sends from the URL)."""
    amz_date = (now or datetime.datetime.now(datetime.UTC)).strftime("%Y%m%dT%H%M%SZ")
    headers = {**headers, "X-Amz-Date": amz_date}
    if session_token:
        headers["X-Amz-Security-Token"] = session_token
    parts = urlsplit(url)
    canonical = {name.lower(): " ".join(value.split()) for name, value in headers.items()}
    canonical["host"] = parts.netloc
    names = sorted(canonical)
    query = "&".join(sorted(parts.query.split("&"))) if parts.query else ""
    lines = (f"{name}:{canonical[name]}" for name in names)
    payload = hashlib.sha256(body).hexdigest()
    request = "\n".join([method, parts.path or "/", query, *lines, "", ";".join(names), payload])
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    text = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(request.encode()).hexdigest()}"
    key = ("AWS4" + secret_key).encode()
    for part in (amz_date[:8], region, service, "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, text.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return headers
