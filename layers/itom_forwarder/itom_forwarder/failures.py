"""The one failure hierarchy: everything that stops an event from being delivered is
either permanent (retrying the same thing cannot help: dead-letter it with its reason) or
transient (it may work later: retry). Configuration, secret, mapping and ServiceNow errors
all belong to it, so the delivery policy classifies a failure by its class alone.

Texts are made from setting names, status codes and ServiceNow's error bodies, never from
a credential.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = [
    "ConfigError",
    "FailureReason",
    "ForwarderFailure",
    "PermanentFailure",
    "SecretUnavailable",
    "TransientFailure",
]


class FailureReason(NamedTuple):
    """Why an event was not delivered: the step, ServiceNow's status and message."""

    step: str  # config | secret | map | token | deliver
    message: str
    status: int | None = None
    detail: str | None = None

    def __str__(self) -> str:
        status = f" (HTTP {self.status})" if self.status else ""
        detail = f": {self.detail}" if self.detail else ""
        return f"{self.step}{status}: {self.message}{detail}"


class ForwarderFailure(Exception):
    """A failure with its reason and the delivery attempts made before it."""

    def __init__(self, reason: FailureReason, attempts: int = 0) -> None:
        super().__init__(str(reason))
        self.reason = reason
        self.attempts = attempts


class PermanentFailure(ForwarderFailure):
    """Retrying the same request cannot succeed: dead-letter the events."""


class TransientFailure(ForwarderFailure):
    """The instance (or AWS) may accept later: retry."""


class ConfigError(PermanentFailure):
    """A setting or the connection secret is not usable: says which key and why, never a value."""

    def __init__(self, message: str) -> None:
        super().__init__(FailureReason("config", message))

    def __str__(self) -> str:
        return self.reason.message


class SecretUnavailable(TransientFailure):
    """Secrets Manager could not answer now (throttling, network): worth retrying."""

    def __init__(self, message: str) -> None:
        super().__init__(FailureReason("secret", message))

    def __str__(self) -> str:
        return self.reason.message
