"""Authenticating webhook senders (Alertmanager, Grafana, tools posting ITOM events): the
credentials an ingest secret holds, and the check of what a request presents against them.

A leaf: it is given the credentials, the request's headers and body and the time, and
imports nothing from the application.

Only `Method` is loaded with the package (the API's route table names each route's
methods, and the delivery policy imports that table on every path); the credentials and
their check are imported when first used, on the API path: an alert's cold start does not
load them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from itom_forwarder.webhook_auth.methods import Method

if TYPE_CHECKING:
    from itom_forwarder.webhook_auth.credentials import KEYS, BasicCredential, WebhookCredentials, parse_credentials
    from itom_forwarder.webhook_auth.exceptions import CredentialsInvalid
    from itom_forwarder.webhook_auth.verify import (
        GRAFANA_SIGNATURE_HEADERS,
        REPLAY_WINDOW_SECONDS,
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

_CREDENTIALS = frozenset({"KEYS", "BasicCredential", "WebhookCredentials", "parse_credentials"})
_VERIFY = frozenset({"GRAFANA_SIGNATURE_HEADERS", "REPLAY_WINDOW_SECONDS", "Problem", "Verdict", "verify"})


def _module_of(name: str) -> str:
    """The submodule defining `name` (its answers are literals, which the template check's
    import walk reads)."""
    if name in _CREDENTIALS:
        return "credentials"
    if name in _VERIFY:
        return "verify"
    if name == "CredentialsInvalid":
        return "exceptions"
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __getattr__(name: str) -> object:
    """A name of `__all__` not loaded yet: its module's names are bound here, all at once
    (so `verify` is the function, not the submodule the import sets as an attribute)."""
    module = _module_of(name)
    loaded = importlib.import_module(f"itom_forwarder.webhook_auth.{_module_of(name)}")  # a call: the check reads it
    for each in __all__:
        if each != "Method" and _module_of(each) == module:
            globals()[each] = getattr(loaded, each)
    return globals()[name]


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
