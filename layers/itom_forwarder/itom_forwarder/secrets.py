"""Reading the ServiceNow connection secret from Secrets Manager (Powertools' cached
SecretsProvider), and parsing it with the connection's own validation.

`current()` is a cache hit on warm invocations; `refresh()` forces a read, used when
ServiceNow refuses the credentials (the secret may have been rotated).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from itom_forwarder.failures import ConfigError, SecretUnavailable
from itom_forwarder.servicenow import ServiceNowConnection, parse_connection

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

__all__ = ["SecretConnections"]

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
        self._secret_id = secret_id
        self._max_age = max_age_seconds
        self._allowed_hosts = allowed_hosts
        self._provider = provider
        self._parsed: tuple[str, ServiceNowConnection] | None = None

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

    def current(self, *, force_fetch: bool = False) -> ServiceNowConnection:
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            raw = self._secrets().get(self._secret_id, max_age=self._max_age, force_fetch=force_fetch)
        except (GetParameterError, BotoCoreError, ClientError, AttributeError, OSError) as error:
            # Powertools keeps the AWS error as __context__; its text never holds the value.
            cause = error.__context__ if isinstance(error, GetParameterError) else error
            response = getattr(cause, "response", None)
            code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
            what = str(error) if isinstance(error, GetParameterError) else type(error).__name__
            text = f"secret {self._secret_id!r} could not be read: {what}"
            if code in PERMANENT_SECRET_ERRORS:
                raise ConfigError(text) from None
            raise SecretUnavailable(text) from None
        if not isinstance(raw, str):
            raise ConfigError(f"secret {self._secret_id!r}: must be a SecretString holding a JSON object")
        if self._parsed is not None and self._parsed[0] == raw:
            return self._parsed[1]
        try:
            document = json.loads(raw)
        except ValueError:
            raise ConfigError(f"secret {self._secret_id!r}: is not valid JSON (expected a JSON object)") from None
        if not isinstance(document, dict):
            raise ConfigError(f"secret {self._secret_id!r}: must be a JSON object")
        parsed = parse_connection(document, self._allowed_hosts)
        self._parsed = (raw, parsed)
        return parsed

    def refresh(self) -> ServiceNowConnection:
        return self.current(force_fetch=True)
