"""Authenticating webhook senders (Alertmanager, Grafana, tools posting ITOM events): the
credentials an ingest secret holds, and the check of what a request presents against them.

A leaf: it is given the credentials, the request's headers and body and the time, and
imports nothing from the application.
"""

from __future__ import annotations

from itom_forwarder.webhook_auth.credentials import KEYS, BasicCredential, WebhookCredentials, parse_credentials
from itom_forwarder.webhook_auth.exceptions import CredentialsInvalid
from itom_forwarder.webhook_auth.verify import (
    GRAFANA_SIGNATURE_HEADERS,
    REPLAY_WINDOW_SECONDS,
    Method,
    Problem,
    Verdict,
    verify,
)

__all__ = [
    "GRAFANA_SIGNATURE_HEADERS",
    "KEYS",
    "REPLAY_WINDOW_SECONDS",
    "BasicCredential",
    "CredentialsInvalid",
    "Method",
    "Problem",
    "Verdict",
    "WebhookCredentials",
    "parse_credentials",
    "verify",
]
