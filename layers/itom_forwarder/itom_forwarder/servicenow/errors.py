"""Delivery outcomes other than success, shared by the client and the auth schemes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FailureReason:
    """Why an event was not delivered: the step, ServiceNow's status and message. Made
    only from status codes and ServiceNow's error body, never from credentials."""

    step: str  # map | config | token | deliver
    message: str
    status: int | None = None
    detail: str | None = None

    def __str__(self) -> str:
        status = f" (HTTP {self.status})" if self.status else ""
        detail = f": {self.detail}" if self.detail else ""
        return f"{self.step}{status}: {self.message}{detail}"


class DeliveryFailure(Exception):
    def __init__(self, reason: FailureReason, attempts: int) -> None:
        super().__init__(str(reason))
        self.reason = reason
        self.attempts = attempts


class PermanentFailure(DeliveryFailure):
    """Retrying the same request cannot succeed: dead-letter the events."""


class CredentialsRejected(PermanentFailure):
    """Permanent unless fresh credentials (a new token, a rotated secret) fix it."""


class AuthenticationRejected(CredentialsRejected):
    """The event API answered 401."""


class TokenRequestRefused(CredentialsRejected):
    """`/oauth_token.do` refused the JWT bearer grant (`error`, `error_description`)."""


class TransientFailure(DeliveryFailure):
    """The instance may accept later: let Lambda retry the invocation."""
