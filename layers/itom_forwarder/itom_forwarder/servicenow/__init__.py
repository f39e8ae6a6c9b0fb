"""The ServiceNow instance: the connection secret's schema, the session, authentication
(basic, or OAuth 2.0 JWT bearer with a token cache) and the event API client.

A leaf: it receives its options and its connection source as arguments and imports
nothing from the application's settings, formats or triggers.
"""

from __future__ import annotations

from itom_forwarder.servicenow.client import EVENT_API_PATH, ConnectionSource, Delivered, ServiceNowClient
from itom_forwarder.servicenow.connection import ServiceNowConnection, host_allowed, parse_connection
from itom_forwarder.servicenow.exceptions import AuthenticationRejected, CredentialsRejected, TokenRequestRefused
from itom_forwarder.servicenow.options import ClientOptions

__all__ = [
    "EVENT_API_PATH",
    "AuthenticationRejected",
    "ClientOptions",
    "ConnectionSource",
    "CredentialsRejected",
    "Delivered",
    "ServiceNowClient",
    "ServiceNowConnection",
    "TokenRequestRefused",
    "host_allowed",
    "parse_connection",
]
