"""The webhook credentials an ingest secret holds, parsed from its JSON object:

    {"bearer_tokens": ["..."],
     "basic_credentials": [{"username": "...", "password": "..."}],
     "grafana_hmac_secret": "...",
     "grafana_hmac_timestamp_header": "X-Grafana-Alerting-Timestamp"}

Every key is optional; lists, so that a credential is rotated with the old and the new
both valid for a while.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from itom_forwarder.webhook_auth.exceptions import CredentialsInvalid

__all__ = ["KEYS", "BasicCredential", "WebhookCredentials", "parse_credentials"]

KEYS = ("bearer_tokens", "basic_credentials", "grafana_hmac_secret", "grafana_hmac_timestamp_header")
# RFC 9110 token characters: what a header name may be made of.
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")


@dataclass(frozen=True)
class BasicCredential:
    username: str
    password: str

    def __repr__(self) -> str:  # never the password, whoever prints it
        return f"BasicCredential(username={self.username!r}, password=<redacted>)"


@dataclass(frozen=True, repr=False)
class WebhookCredentials:
    bearer_tokens: tuple[str, ...] = ()
    basic_credentials: tuple[BasicCredential, ...] = ()
    grafana_hmac_secret: str | None = None
    # The header Grafana puts the signing time in (Unix seconds); None: it signs the body alone.
    grafana_hmac_timestamp_header: str | None = None

    def __repr__(self) -> str:
        return (
            f"WebhookCredentials({len(self.bearer_tokens)} bearer tokens, {len(self.basic_credentials)} basic "
            f"credentials, HMAC secret {'set' if self.grafana_hmac_secret else 'unset'})"
        )

    @property
    def secret_values(self) -> tuple[str, ...]:
        """Every value that must never appear in a log line, an answer or a dead letter."""
        passwords = tuple(credential.password for credential in self.basic_credentials)
        hmac_secret = (self.grafana_hmac_secret,) if self.grafana_hmac_secret else ()
        return (*self.bearer_tokens, *passwords, *hmac_secret)


def _strings(document: Mapping[str, object], key: str) -> tuple[str, ...]:
    value = document.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise CredentialsInvalid(f"{key}: must be a list of non-empty strings")
    return tuple(value)


def _basic(document: Mapping[str, object]) -> tuple[BasicCredential, ...]:
    value = document.get("basic_credentials")
    if value is None:
        return ()
    if not isinstance(value, list):
        raise CredentialsInvalid('basic_credentials: must be a list of {"username": ..., "password": ...}')
    credentials = []
    for index, entry in enumerate(value):
        username = entry.get("username") if isinstance(entry, Mapping) else None
        password = entry.get("password") if isinstance(entry, Mapping) else None
        if not isinstance(username, str) or not username or ":" in username:
            raise CredentialsInvalid(f"basic_credentials[{index}].username: must be a non-empty string without ':'")
        if not isinstance(password, str) or not password:
            raise CredentialsInvalid(f"basic_credentials[{index}].password: must be a non-empty string")
        credentials.append(BasicCredential(username, password))
    return tuple(credentials)


def _optional_string(document: Mapping[str, object], key: str) -> str | None:
    value = document.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not value.strip():
        raise CredentialsInvalid(f"{key}: must be a non-empty string")
    return value


def parse_credentials(document: Mapping[str, object]) -> WebhookCredentials:
    """The credentials of an ingest secret's JSON object; CredentialsInvalid names the key."""
    unknown = sorted(key for key in document if key not in KEYS)
    if unknown:
        raise CredentialsInvalid(f"unknown key(s) {', '.join(unknown)}: expected any of {', '.join(KEYS)}")
    header = _optional_string(document, "grafana_hmac_timestamp_header")
    if header is not None and not _HEADER_NAME.match(header):
        raise CredentialsInvalid("grafana_hmac_timestamp_header: must be an HTTP header name")
    hmac_secret = _optional_string(document, "grafana_hmac_secret")
    if header is not None and hmac_secret is None:
        raise CredentialsInvalid("grafana_hmac_timestamp_header: set without grafana_hmac_secret")
    return WebhookCredentials(
        bearer_tokens=_strings(document, "bearer_tokens"),
        basic_credentials=_basic(document),
        grafana_hmac_secret=hmac_secret,
        grafana_hmac_timestamp_header=header,
    )
