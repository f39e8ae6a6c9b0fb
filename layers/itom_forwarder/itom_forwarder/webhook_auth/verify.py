"""The check of what a request presents against the webhook credentials.

Every comparison is constant-time and compares digests (so not even a length is given
away), against every candidate (so not even which one matched). A request is accepted when
it presents at least one credential of a kind its route takes and every credential it
presents that can be checked is valid: a valid basic login does not excuse a Grafana
signature that does not match its body.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from enum import StrEnum

from itom_forwarder.webhook_auth.credentials import WebhookCredentials
from itom_forwarder.webhook_auth.methods import Method

__all__ = [
    "GRAFANA_SIGNATURE_HEADERS",
    "REPLAY_WINDOW_SECONDS",
    "Method",
    "Problem",
    "Verdict",
    "verify",
]

# Grafana's documented header, and the default of its HMAC transport's own code.
GRAFANA_SIGNATURE_HEADERS = ("X-Grafana-Alerting-Signature", "X-Grafana-Alert-Signature")
# A signed timestamp further than this from now is refused: a captured request cannot be
# replayed later.
REPLAY_WINDOW_SECONDS = 300

Header = Callable[[str], str | None]


class Problem(StrEnum):
    MISSING = "missing"  # no credential of a kind the route takes
    MISMATCH = "mismatch"  # a credential that matches none configured (it may be new)
    MALFORMED = "malformed"  # an Authorization header or signature in no usable form
    STALE = "stale"  # a signed timestamp outside the replay window, or none
    NOT_CONFIGURED = "not_configured"  # the secret holds no credential of the kind presented


@dataclass(frozen=True)
class Verdict:
    method: Method | None = None
    problem: Problem | None = None

    @property
    def accepted(self) -> bool:
        return self.problem is None and self.method is not None


def _digest(value: str | bytes) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value).digest()


def _matches(presented: str | bytes, candidates: Iterable[str | bytes]) -> bool:
    wanted = _digest(presented)
    matched = False
    for candidate in candidates:  # no early exit: the time does not tell which one matched
        matched |= hmac.compare_digest(wanted, _digest(candidate))
    return matched


def _authorization(value: str, methods: Collection[Method], credentials: WebhookCredentials) -> Verdict:
    scheme, _, token = value.strip().partition(" ")
    scheme, token = scheme.lower(), token.strip()
    if scheme == "bearer" and Method.BEARER in methods:
        if not credentials.bearer_tokens:
            return Verdict(Method.BEARER, Problem.NOT_CONFIGURED)
        valid = bool(token) and _matches(token, credentials.bearer_tokens)
        return Verdict(Method.BEARER, None if valid else Problem.MISMATCH)
    if scheme == "basic" and Method.BASIC in methods:
        try:
            login = base64.b64decode(token, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return Verdict(Method.BASIC, Problem.MALFORMED)
        if ":" not in login:
            return Verdict(Method.BASIC, Problem.MALFORMED)
        if not credentials.basic_credentials:
            return Verdict(Method.BASIC, Problem.NOT_CONFIGURED)
        pairs = (f"{entry.username}:{entry.password}" for entry in credentials.basic_credentials)
        return Verdict(Method.BASIC, None if _matches(login, pairs) else Problem.MISMATCH)
    return Verdict(None, Problem.MALFORMED)  # a scheme this route does not take


def _signed_timestamp(header: Header, name: str, now: float) -> str | None:
    """The timestamp header's value when it is within the replay window, else None."""
    value = (header(name) or "").strip()
    if not value.isascii() or not value.isdigit() or len(value) > 15:
        return None
    return value if abs(now - int(value)) <= REPLAY_WINDOW_SECONDS else None


def _grafana_signature(header: Header, body: bytes, credentials: WebhookCredentials, now: float) -> Verdict | None:
    """None when the request carries no signature (or the secret holds no HMAC secret)."""
    signature = next((value for value in map(header, GRAFANA_SIGNATURE_HEADERS) if value), None)
    if signature is None or not credentials.grafana_hmac_secret:
        return None
    signed = body
    if credentials.grafana_hmac_timestamp_header:
        timestamp = _signed_timestamp(header, credentials.grafana_hmac_timestamp_header, now)
        if timestamp is None:
            return Verdict(Method.GRAFANA_HMAC, Problem.STALE)
        signed = f"{timestamp}:".encode("ascii") + body
    expected = hmac.new(credentials.grafana_hmac_secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    presented = signature.strip().lower()
    return Verdict(Method.GRAFANA_HMAC, None if _matches(presented, (expected,)) else Problem.MISMATCH)


def verify(
    header: Header, body: bytes, credentials: WebhookCredentials, methods: Collection[Method], now: float
) -> Verdict:
    """Whether the request (its headers, looked up case-insensitively by `header`, and its
    raw body) authenticates with one of `methods` against `credentials` at `now` (Unix s)."""
    verdicts: list[Verdict] = []
    authorization = header("authorization")
    if authorization:
        verdicts.append(_authorization(authorization, methods, credentials))
    if Method.GRAFANA_HMAC in methods:
        signed = _grafana_signature(header, body, credentials, now)
        if signed is not None:
            verdicts.append(signed)
    if not verdicts:
        return Verdict(None, Problem.MISSING)
    refused = next((verdict for verdict in verdicts if verdict.problem is not None), None)
    return refused or verdicts[0]
