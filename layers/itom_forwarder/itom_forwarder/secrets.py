"""Reading the secrets from Secrets Manager (Powertools' cached SecretsProvider): the
ServiceNow connection, parsed with the connection's own validation, and the webhook
credentials, parsed by webhook_auth.

`current()` is a cache hit on warm invocations; `refresh()` forces a read, used when
ServiceNow refuses the credentials (the secret may have been rotated), and `reread()` when
a webhook credential does not match (it may have just been rotated).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from itom_forwarder.failures import ConfigError, SecretUnavailable
from itom_forwarder.servicenow import ServiceNowConnection, parse_connection
from itom_forwarder.webhook_auth import CredentialsInvalid, WebhookCredentials, parse_credentials

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

__all__ = ["IngestSecret", "SecretConnections", "SecretDocument"]

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


class SecretDocument:
    """One secret holding a JSON object, read through Powertools' cached SecretsProvider:
    a cache hit on warm invocations, a read at most every `max_age_seconds`, or a forced
    one. What cannot be read is classified (a retry may help, or only the operator can)."""

    def __init__(self, secret_id: str, *, max_age_seconds: int, provider: SecretsProvider | None = None) -> None:
        self.secret_id = secret_id
        self._max_age = max_age_seconds
        self._provider = provider

    def _secrets(self) -> SecretsProvider:
        if self._provider is None:
            from aws_lambda_powertools.utilities.parameters import SecretsProvider
            from botocore.config import Config

            # boto3's defaults wait 60 s per read and retry for minutes: far past an
            # invocation's budget. A slow Secrets Manager is a transient failure instead.
            self._provider = SecretsProvider(
                boto_config=Config(
                    connect_timeout=CONNECT_TIMEOUT_SECONDS,
                    read_timeout=READ_TIMEOUT_SECONDS,
                    retries={"max_attempts": MAX_ATTEMPTS, "mode": "standard"},
                )
            )
        return self._provider

    def raw(self, *, force_fetch: bool = False) -> str:
        """The SecretString as stored."""
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            raw = self._secrets().get(self.secret_id, max_age=self._max_age, force_fetch=force_fetch)
        except (GetParameterError, BotoCoreError, ClientError, AttributeError, OSError) as error:
            # Powertools keeps the AWS error as __context__; its text never holds the value.
            cause = error.__context__ if isinstance(error, GetParameterError) else error
            response = getattr(cause, "response", None)
            code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
            what = str(error) if isinstance(error, GetParameterError) else type(error).__name__
            text = f"secret {self.secret_id!r} could not be read: {what}"
            if code in PERMANENT_SECRET_ERRORS:
                raise ConfigError(text) from None
            raise SecretUnavailable(text) from None
        if not isinstance(raw, str):
            raise ConfigError(f"secret {self.secret_id!r}: must be a SecretString holding a JSON object")
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
        provider: SecretsProvider | None = None,
    ) -> None:
        self._secret = SecretDocument(secret_id, max_age_seconds=max_age_seconds, provider=provider)
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
        provider: SecretsProvider | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._secret = SecretDocument(secret_id, max_age_seconds=max_age_seconds, provider=provider)
        self._clock = clock
        self._parsed: tuple[str, WebhookCredentials] | None = None
        self._forced_at: float | None = None

    def current(self, *, force_fetch: bool = False) -> WebhookCredentials:
        raw = self._secret.raw(force_fetch=force_fetch)
        if self._parsed is not None and self._parsed[0] == raw:
            return self._parsed[1]
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
