"""The one error of webhook_auth: an ingest secret in no usable shape."""

from __future__ import annotations

__all__ = ["CredentialsInvalid"]


class CredentialsInvalid(ValueError):
    """The ingest secret's document is not usable: names the key and why, never a value."""
