"""Reading the secrets from Secrets Manager (GetSecretValue, signed HTTPS through
aws_api: no boto3 on the alert path), each cached by its document: the ServiceNow
connection, parsed with the connection's own validation, and the webhook credentials,
parsed by webhook_auth (imported on the API path only, when that secret is first parsed).

`current()` is a cache hit on warm invocations; `refresh()` forces a read, used when
ServiceNow refuses the credentials (the secret may have been rotated), and `reread()` when
a webhook credential does not match (it may have just been rotated).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from itom_forwarder import __version__
from itom_forwarder.aws_api import AwsApiError, AwsError, AwsJsonClient
from itom_forwarder.failures import ConfigError, SecretUnavailable
from itom_forwarder.servicenow import ServiceNowConnection, parse_connection

if TYPE_CHECKING:
    from itom_forwarder.webhook_auth import WebhookCredentials

__all__ = ["IngestSecret", "SecretConnections", "SecretDocument", "secrets_manager_client"]

# Errors that a retry will not fix: the operator must change the secret or the policy.
PERMANENT_SECRET_ERRORS = frozenset(
    {
        "ResourceNotFoundException",
        "AccessDeniedException",
        "DecryptionFailure",
        "InvalidRequestException",
        "InvalidParameterException",
    }
)


# Per request: connect within 2 s, answer within 3 s, two attempts in all (standard mode).
CONNECT_TIMEOUT_SECONDS = 2
READ_TIMEOUT_SECONDS = 3
MAX_ATTEMPTS = 2
# The ingest secret is read again on a credential mismatch at most this often.
REREAD_INTERVAL_SECONDS = 1.0

ClientSource = AwsJsonClient | Callable[[], AwsJsonClient] | None


def secrets_manager_client(environ: Mapping[str, str] | None = None) -> AwsJsonClient:
    """Secrets Manager (JSON 1.1) where boto3 would find it: AWS_ENDPOINT_URL_SECRETS_MANAGER,
    AWS_ENDPOINT_URL or the region's endpoint; the environment's credentials. A slow
    Secrets Manager is a transient failure, not an invocation spent waiting."""
    return AwsJsonClient.from_environment(
        os.environ if environ is None else environ,
        service="secretsmanager",
        service_env_name="SECRETS_MANAGER",
        endpoint_prefix="secretsmanager",
        signing_name="secretsmanager",
        target_prefix="secretsmanager",
        json_version="1.1",
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        max_attempts=MAX_ATTEMPTS,
        user_agent=f"aws-itom-forwarder/{__version__}",
    )


class SecretDocument:
    """One secret holding a JSON object, read with GetSecretValue and cached here: a cache
    hit on warm invocations, a read at most every `max_age_seconds` (0: every time), or a
    forced one. What cannot be read is classified (a retry may help, or only the operator
    can), and never cached.

    `client` is the Secrets Manager client, or what builds it on first read (the
    container's, shared by its secrets); by default one of its own from the environment."""

    def __init__(
        self,
        secret_id: str,
        *,
        max_age_seconds: int,
        client: ClientSource = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.secret_id = secret_id
        self._max_age = max_age_seconds
        self._client_source = client
        self._client: AwsJsonClient | None = client if isinstance(client, AwsJsonClient) else None
        self._clock = clock
        self._cached: tuple[str, float] | None = None  # the SecretString, and when its read began

    def _secrets(self) -> AwsJsonClient:
        if self._client is None:
            source = self._client_source
            self._client = source() if callable(source) else secrets_manager_client()
        return self._client

    def raw(self, *, force_fetch: bool = False) -> str:
        """The SecretString as stored."""
        started = self._clock()
        if not force_fetch and self._cached is not None and started - self._cached[1] < self._max_age:
            return self._cached[0]
        try:
            answer = self._secrets().call("GetSecretValue", {"SecretId": self.secret_id})
        except AwsError as error:
            # The texts name the operation and AWS's error code and message, never a value.
            text = f"secret {self.secret_id!r} could not be read: {error}"
            if isinstance(error, AwsApiError) and error.code in PERMANENT_SECRET_ERRORS:
                raise ConfigError(text) from None
            raise SecretUnavailable(text) from None
        raw = answer.get("SecretString")
        if not isinstance(raw, str):
            raise ConfigError(f"secret {self.secret_id!r}: must be a SecretString holding a JSON object")
        # Counted from before the read: the copy is never trusted longer than the max age.
        self._cached = (raw, started)
        return raw

    def parse(self, raw: str) -> dict[str, object]:
        try:
            document = json.loads(raw)
        except ValueError:
            raise ConfigError(f"secret {self.secret_id!r}: is not valid JSON (expected a JSON object)") from None
        if not isinstance(document, dict):
            raise ConfigError(f"secret {self.secret_id!r}: must be a JSON object")
        return document


class SecretConnections:
    """The ServiceNow connection held in one secret."""

    def __init__(
        self,
        secret_id: str,
        *,
        max_age_seconds: int,
        allowed_hosts: tuple[str, ...],
        client: ClientSource = None,
    ) -> None:
        self._secret = SecretDocument(secret_id, max_age_seconds=max_age_seconds, client=client)
        self._allowed_hosts = allowed_hosts
        self._parsed: tuple[str, ServiceNowConnection] | None = None

    def current(self, *, force_fetch: bool = False) -> ServiceNowConnection:
        raw = self._secret.raw(force_fetch=force_fetch)
        if self._parsed is not None and self._parsed[0] == raw:
            return self._parsed[1]
        parsed = parse_connection(self._secret.parse(raw), self._allowed_hosts)
        self._parsed = (raw, parsed)
        return parsed

    def refresh(self) -> ServiceNowConnection:
        return self.current(force_fetch=True)


class IngestSecret:
    """The webhook credentials held in the ingest secret (INGEST_SECRET_ID), read only on
    the API path. A credential that does not match may have just been rotated: `reread`
    forces one read, at most once per REREAD_INTERVAL_SECONDS, so a flood of wrong
    credentials cannot turn into a flood of Secrets Manager reads (a read that recent is
    as fresh as a new one would be)."""

    def __init__(
        self,
        secret_id: str,
        *,
        max_age_seconds: int,
        client: ClientSource = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._secret = SecretDocument(secret_id, max_age_seconds=max_age_seconds, client=client, clock=clock)
        self._clock = clock
        self._parsed: tuple[str, WebhookCredentials] | None = None
        self._forced_at: float | None = None

    def current(self, *, force_fetch: bool = False) -> WebhookCredentials:
        raw = self._secret.raw(force_fetch=force_fetch)
        if self._parsed is not None and self._parsed[0] == raw:
            return self._parsed[1]
        from itom_forwarder.webhook_auth import CredentialsInvalid, parse_credentials

        try:
            parsed = parse_credentials(self._secret.parse(raw))
        except CredentialsInvalid as error:
            raise ConfigError(f"secret {self._secret.secret_id!r}: {error}") from None
        self._parsed = (raw, parsed)
        return parsed

    def reread(self) -> WebhookCredentials | None:
        """A fresh read, or None when one was made less than REREAD_INTERVAL_SECONDS ago."""
        now = self._clock()
        if self._forced_at is not None and now - self._forced_at < REREAD_INTERVAL_SECONDS:
            return None
        self._forced_at = now
        return self.current(force_fetch=True)

    @property
    def secret_values(self) -> tuple[str, ...]:
        return self._parsed[1].secret_values if self._parsed else ()
