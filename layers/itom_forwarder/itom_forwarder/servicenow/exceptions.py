"""ServiceNow's refusals of the credentials, in the forwarder's one failure hierarchy."""

from __future__ import annotations

from itom_forwarder.failures import PermanentFailure

__all__ = ["AuthenticationRejected", "CredentialsRejected", "TokenRequestRefused"]


class CredentialsRejected(PermanentFailure):
    """Permanent unless fresh credentials (a new token, a rotated secret) fix it."""


class AuthenticationRejected(CredentialsRejected):
    """The event API answered 401."""


class TokenRequestRefused(CredentialsRejected):
    """`/oauth_token.do` refused the JWT bearer grant (`error`, `error_description`)."""
