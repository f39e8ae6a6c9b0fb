"""OAuth 2.0 JWT bearer grant against `{instance}/oauth_token.do`, with the access token
cached in memory for the container's life.

Imported only when a secret says `use_oauth: true`, so basic-auth cold starts never load
PyJWT or cryptography.
"""

from __future__ import annotations

import math
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
import requests
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from urllib3.exceptions import ProtocolError

from itom_forwarder.failures import ConfigError, FailureReason, PermanentFailure, TransientFailure
from itom_forwarder.servicenow.answers import AnswerTooSlow, read_answer, redirect_reason, untrusted_certificate_reason
from itom_forwarder.servicenow.auth import InstanceAuth
from itom_forwarder.servicenow.connection import ServiceNowConnection
from itom_forwarder.servicenow.exceptions import TokenRequestRefused

logger = Logger(child=True)
metrics = Metrics()

TOKEN_PATH = "/oauth_token.do"  # noqa: S105 - a URL path, not a credential
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# The assertion is used at once; a short life limits what a leaked one is worth.
ASSERTION_LIFETIME_SECONDS = 120
# A token is renewed this long before ServiceNow says it expires (at most 10 % of its life).
EXPIRY_MARGIN_SECONDS = 60.0
TOKEN_REQUEST_TIMEOUT = (3.0, 10.0)
MIN_RSA_KEY_BITS = 2048
BEARER = "Bearer"
_B64TOKEN = re.compile(r"^[A-Za-z0-9\-._~+/]+=*$")

REFUSED_HINT = (
    "check client_id and client_secret (Application Registry), jwt_key_id (the JWT verifier map's key ID), "
    "that the verifier map's certificate was made from private_key, and user_identifier (the value of the "
    "user field chosen on the JWT endpoint, e.g. the user's email)"
)


def _normalise_pem(text: str) -> bytes:
    # Pasted through a console or a shell, a PEM often arrives with literal "\n" sequences.
    if "\n" not in text.strip() and "\\n" in text:
        text = text.replace("\\n", "\n")
    return text.strip().encode("ascii", errors="replace") + b"\n"


def load_private_key(pem: str, password: str | None) -> RSAPrivateKey:
    """Load the RSA key (PKCS#1 or PKCS#8, encrypted or not) with a clear error for each
    way it can be wrong. A password given for an unencrypted key is ignored with a
    warning: the connector doc's own `openssl genrsa -passout ...` writes such a key."""
    data = _normalise_pem(pem)
    if b"-----BEGIN" not in data:
        raise ConfigError("private_key: not a PEM private key (expected -----BEGIN ... PRIVATE KEY-----)")
    secret = password.encode("utf-8") if password else None
    try:
        key = load_pem_private_key(data, password=secret)
    except TypeError:
        # cryptography says which way round: encrypted without a password, or the reverse.
        if secret is None:
            raise ConfigError("private_key_password: required, private_key is encrypted") from None
        logger.warning("private_key is not encrypted: private_key_password is not needed and is ignored")
        try:
            key = load_pem_private_key(data, password=None)
        except (ValueError, TypeError):
            raise ConfigError("private_key: cannot be read as a PEM private key") from None
    except ValueError:
        if secret is not None and b"ENCRYPTED" in data:
            raise ConfigError("private_key_password: does not decrypt private_key") from None
        raise ConfigError("private_key: cannot be read as a PEM private key (damaged or not a key)") from None
    except Exception:
        raise ConfigError("private_key: cannot be read as a PEM private key") from None
    if not isinstance(key, RSAPrivateKey):
        kind = type(key).__name__.removesuffix("PrivateKey")
        raise ConfigError(f"private_key: {kind} keys are not supported; ServiceNow's JWT verifier needs an RSA key")
    if key.key_size < MIN_RSA_KEY_BITS:
        raise ConfigError(f"private_key: RSA key of {key.key_size} bits, at least {MIN_RSA_KEY_BITS} are needed")
    return key


def make_assertion(key: RSAPrivateKey, connection: ServiceNowConnection, now: float | None = None) -> str:
    """The signed JWT: RS256, `kid` the verifier map's key ID, a fresh `jti` every time
    (ServiceNow verifies JTI by default and refuses a replay)."""
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": connection.client_id,
        "aud": connection.client_id,
        "sub": connection.user_identifier,
        "iat": issued,
        "exp": issued + ASSERTION_LIFETIME_SECONDS,
        "jti": str(uuid.uuid4()),
    }
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": connection.jwt_key_id, "typ": "JWT"})


@dataclass(frozen=True)
class AccessToken:
    value: str
    token_type: str
    expires_at: float  # monotonic clock

    @property
    def header(self) -> str:
        return f"{self.token_type} {self.value}"


TokenKey = tuple[str, str, str]


class TokenCache:
    """Access tokens by (instance, client, user), for the container's life. Thread-safe;
    concurrent callers for one key make one token request between them."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tokens: dict[TokenKey, AccessToken] = {}
        self._locks: dict[TokenKey, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, key: TokenKey, fetch: Callable[[], AccessToken]) -> AccessToken:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            token = self._tokens.get(key)
            if token is None or self._clock() >= token.expires_at:
                token = fetch()
                self._tokens[key] = token
            return token

    def now(self) -> float:
        return self._clock()

    def values(self, key: TokenKey) -> tuple[str, ...]:
        token = self._tokens.get(key)
        return (token.value,) if token else ()

    def drop(self, key: TokenKey) -> None:
        with self._guard:
            self._tokens.pop(key, None)


def _refused(response: requests.Response) -> TokenRequestRefused:
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        error, description = body["error"][:200], str(body.get("error_description") or "")[:500]
        message = f"ServiceNow refused the token request: {error}" + (f" ({description})" if description else "")
    else:
        message = "ServiceNow refused the token request"
    return TokenRequestRefused(FailureReason("token", message, response.status_code, REFUSED_HINT), 1)


class OAuthJwtAuth(InstanceAuth):
    """Adds `Authorization: <token_type> <access_token>`, fetching the token with the JWT
    bearer grant when the cache has none that is still valid."""

    renews_credentials = True

    def __init__(
        self,
        connection: ServiceNowConnection,
        session: requests.Session,
        cache: TokenCache,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connection = connection
        self._session = session
        self._cache = cache
        self._clock = clock
        self._deadline: float | None = None
        # Loaded once per secret version, not per invocation: RSA parsing is the slow part.
        self._key = load_private_key(connection.private_key or "", connection.private_key_password)
        self._cache_key: TokenKey = (
            connection.instance_url,
            connection.client_id or "",
            connection.user_identifier or "",
        )

    def authorization(self) -> str:
        return self._cache.get(self._cache_key, self._fetch).header

    def invalidate(self) -> None:
        self._cache.drop(self._cache_key)

    def limit_to(self, deadline: float) -> None:
        self._deadline = deadline

    def secret_values(self) -> tuple[str, ...]:
        return self._cache.values(self._cache_key)

    def _fetch(self) -> AccessToken:
        # Expiry counts from before the request, as Kibana does, on the cache's clock; the
        # request's own time limit is on the client's.
        requested_at = self._cache.now()
        started = self._clock()
        form = {
            "grant_type": JWT_BEARER_GRANT,
            "client_id": self._connection.client_id,
            "client_secret": self._connection.client_secret,
            "assertion": make_assertion(self._key, self._connection),
        }
        url = self._connection.instance_url + TOKEN_PATH
        until = self._deadline if self._deadline is not None else started + sum(TOKEN_REQUEST_TIMEOUT)
        remaining = until - started
        if remaining <= 0:
            raise TransientFailure(FailureReason("token", "no time left in the invocation for the token request"), 1)
        try:
            response = self._session.post(
                url,
                data=form,
                headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
                timeout=(min(TOKEN_REQUEST_TIMEOUT[0], remaining), min(TOKEN_REQUEST_TIMEOUT[1], remaining)),
                allow_redirects=False,
                stream=True,
            )
            read_answer(response, until, self._clock)
        except requests.exceptions.SSLError:
            raise PermanentFailure(untrusted_certificate_reason("token"), 1) from None
        except (requests.Timeout, AnswerTooSlow):
            raise TransientFailure(FailureReason("token", "the token request timed out"), 1) from None
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError, ProtocolError, OSError) as error:
            raise TransientFailure(
                FailureReason("token", f"cannot connect to the instance: {type(error).__name__}"), 1
            ) from None
        logger.info("OAuth token requested", extra={"status": response.status_code})
        metrics.add_metric(name="TokenRequests", unit=MetricUnit.Count, value=1)
        return _token_of(response, requested_at)


def _token_of(response: requests.Response, requested_at: float) -> AccessToken:
    """The token of a token endpoint's answer, or the failure it stands for."""
    if 300 <= response.status_code < 400:
        raise PermanentFailure(redirect_reason("token", response), 1)
    if response.status_code in (408, 429) or response.status_code >= 500:
        raise TransientFailure(FailureReason("token", "token endpoint unavailable", response.status_code), 1)
    if response.status_code != 200:
        raise _refused(response)
    try:
        body = response.json()
        value, token_type = body["access_token"], body.get("token_type") or "Bearer"
        lifetime = float(body.get("expires_in") or 0)
    except (ValueError, KeyError, TypeError, AttributeError):
        raise PermanentFailure(
            FailureReason("token", "the token endpoint answered 200 without an access_token", 200, REFUSED_HINT), 1
        ) from None
    # Only what a header can carry (RFC 6750's b64token, scheme Bearer): a token with
    # CR/LF or spaces would be refused by the HTTP stack with the token in its text.
    if not isinstance(value, str) or not _B64TOKEN.match(value) or str(token_type).lower() != "bearer":
        message = "the token endpoint answered a token that cannot be sent as a Bearer header"
        raise PermanentFailure(FailureReason("token", message, 200, REFUSED_HINT), 1)
    if not math.isfinite(lifetime) or lifetime < 0:
        lifetime = 0.0
    margin = min(EXPIRY_MARGIN_SECONDS, lifetime * 0.1)
    return AccessToken(value, BEARER, requested_at + lifetime - margin)
