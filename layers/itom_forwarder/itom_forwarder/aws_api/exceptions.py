"""What an AWS call can fail with. Texts name the service, the operation, AWS's error code
and the first line of its message: never a credential, a signature or a response's payload.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["AwsApiError", "AwsConfigurationError", "AwsError", "AwsUnavailable"]


class AwsError(Exception):
    """Every failure of an AWS call."""


class AwsConfigurationError(AwsError):
    """The call could not be made: no region, no credentials, an endpoint that is no URL."""


class AwsApiError(AwsError):
    """AWS answered with an error that a retry will not fix (or that the caller reads):
    `code` is the error's name (`__type` after its `#`, or the `x-amzn-ErrorType` header),
    `body` the parsed error document (DynamoDB's `Item` or `CancellationReasons`)."""

    def __init__(
        self,
        *,
        service: str,
        operation: str,
        code: str,
        message: str,
        status: int,
        body: Mapping[str, Any],
        request_id: str | None = None,
    ) -> None:
        shown = f": {message}" if message else ""
        super().__init__(f"{service} {operation}: {code} (HTTP {status}){shown}")
        self.service = service
        self.operation = operation
        self.code = code
        self.message = message
        self.status = status
        self.body = body
        self.request_id = request_id


class AwsUnavailable(AwsError):
    """No usable answer: timeouts, connection errors, or retries exhausted on throttling or
    5xx (then `code` and `status` are the last answer's)."""

    def __init__(
        self,
        *,
        service: str,
        operation: str,
        reason: str,
        attempts: int,
        code: str | None = None,
        status: int | None = None,
    ) -> None:
        plural = "" if attempts == 1 else "s"
        super().__init__(f"{service} {operation}: no answer after {attempts} attempt{plural} ({reason})")
        self.service = service
        self.operation = operation
        self.reason = reason
        self.attempts = attempts
        self.code = code
        self.status = status
