"""Per-container state: settings, the secret, the HTTP session, the client, the DLQ.

Created on the first invocation and kept while the container is warm, so a warm alert
costs one POST: no secret read, no new connection. Everything is built lazily so a cold
start pays only for the path it runs.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from aws_lambda_powertools import Logger
from requests.adapters import HTTPAdapter

from itom_forwarder import __version__
from itom_forwarder.config import (
    ConfigError,
    ConnectionConfig,
    ConnectionSource,
    DeliverySettings,
    Settings,
    host_allowed,
)
from itom_forwarder.dlq import DeadLetterQueue
from itom_forwarder.servicenow.auth import auth_for
from itom_forwarder.servicenow.client import Delivered, ServiceNowClient
from itom_forwarder.servicenow.errors import AuthenticationRejected, CredentialsRejected

if TYPE_CHECKING:
    from itom_forwarder.servicenow.oauth import TokenCache

logger = Logger(child=True)

DEFAULT_REMAINING_SECONDS = 30.0


def new_session() -> requests.Session:
    session = requests.Session()
    # Retries are ours (they know the invocation's deadline), so the adapter makes none.
    session.mount("https://", HTTPAdapter(pool_connections=1, pool_maxsize=4, max_retries=0))
    session.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=4, max_retries=0))
    session.headers.update(
        {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"aws-itom-forwarder/{__version__}",
        }
    )
    return session


def _ca_file(pem: str) -> str:
    """requests wants a file: the secret's CA certificate, written once per content."""
    text = pem.replace("\\n", "\n") if "\n" not in pem.strip() else pem
    path = os.path.join(
        tempfile.gettempdir(), f"itom-forwarder-ca-{hashlib.sha256(text.encode()).hexdigest()[:16]}.pem"
    )
    if not os.path.exists(path):
        with open(path, "w", encoding="ascii") as file:
            file.write(text.strip() + "\n")
    return path


def bind_session_to(session: requests.Session, connection: ConnectionConfig, delivery: DeliverySettings) -> None:
    """Check the instance's host against ALLOWED_HOSTS, and read the proxy and TLS
    settings once for the instance, not per request.

    With `trust_env` on, requests scans the whole environment on every request (about a
    third of a warm invocation's own time in the benchmark). The container's environment
    does not change, so HTTPS_PROXY / NO_PROXY and REQUESTS_CA_BUNDLE are resolved here.
    """
    host = urlsplit(connection.instance_url).hostname or ""
    if not host_allowed(host, delivery.allowed_hosts):
        raise ConfigError(
            f"instance_url: host {host!r} is not allowed by ALLOWED_HOSTS ({', '.join(delivery.allowed_hosts)})"
        )
    session.trust_env = False
    session.proxies = requests.utils.get_environ_proxies(connection.instance_url)
    if not delivery.tls_verify:
        logger.warning("TLS certificate verification is OFF (TLS_VERIFY=false): the instance is not authenticated")
        session.verify = False
    elif connection.ca_certificate:
        session.verify = _ca_file(connection.ca_certificate)
    else:
        session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True


class Forwarder:
    def __init__(
        self,
        settings: Settings,
        connections: ConnectionSource | None = None,
        session: requests.Session | None = None,
        dead_letters: DeadLetterQueue | None = None,
    ) -> None:
        self.settings = settings
        self.connections = connections or ConnectionSource(settings.secret_id, settings.secret_max_age_seconds)
        self.session = session or new_session()
        self.dead_letters = dead_letters or DeadLetterQueue(settings.dlq_url)
        self._client: ServiceNowClient | None = None
        self._client_connection: ConnectionConfig | None = None
        self._token_cache: TokenCache | None = None

    def deadline(self, context: Any) -> float:
        """The monotonic time by which delivery must be over, keeping a margin to
        dead-letter or fail cleanly before Lambda stops the invocation."""
        remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
        remaining = remaining_ms() / 1000.0 if callable(remaining_ms) else DEFAULT_REMAINING_SECONDS
        return time.monotonic() + remaining - self.settings.delivery.deadline_margin_seconds

    def secret_values(self) -> tuple[str, ...]:
        return self._client_connection.secret_values if self._client_connection else ()

    def client(self) -> ServiceNowClient:
        connection = self.connections.connection()
        if self._client is None or connection != self._client_connection:
            # First use, or the cached secret expired and came back different (rotation).
            if connection.use_oauth and self._token_cache is None:
                from itom_forwarder.servicenow.oauth import TokenCache

                self._token_cache = TokenCache()  # outlives clients: a new secret version keeps its token
            bind_session_to(self.session, connection, self.settings.delivery)
            auth = auth_for(connection, self.session, self._token_cache)
            self._client = ServiceNowClient(connection.instance_url, auth, self.session, self.settings.delivery)
            self._client_connection = connection
        return self._client

    def send(self, records: Sequence[dict[str, str]], deadline: float) -> Delivered:
        """Send; when ServiceNow refuses the credentials, re-read the secret once (it may
        have been rotated) and send again only if it changed."""
        try:
            return self._send_with_fresh_token_on_401(records, deadline)
        except CredentialsRejected:
            used = self._client_connection
            if self.connections.refresh() == used:
                raise  # the secret has not changed: sending again cannot succeed
            logger.info("ServiceNow refused the credentials; the secret has changed, retrying with it")
            return self._send_with_fresh_token_on_401(records, deadline)

    def _send_with_fresh_token_on_401(self, records: Sequence[dict[str, str]], deadline: float) -> Delivered:
        client = self.client()
        try:
            return client.send(records, deadline)
        except AuthenticationRejected:
            if not client.auth.renews_credentials:
                raise  # basic auth: the same credentials get the same answer
            # The client dropped the token on the 401 (revoked or expired early): one more
            # try, which fetches a new token, in this same invocation.
            logger.info("ServiceNow refused the access token; retrying with a new one")
            return client.send(records, deadline)


_forwarder: Forwarder | None = None


def current_forwarder() -> Forwarder:
    """The container's Forwarder, built from the environment on first use."""
    global _forwarder
    if _forwarder is None:
        settings = Settings.from_environ()
        if settings.problem:
            logger.error(
                "Configuration refused: every event will be dead-lettered", extra={"problem": settings.problem}
            )
        _forwarder = Forwarder(settings)
    return _forwarder


def reset_forwarder() -> None:
    """Forget the container state (a new container, as far as the code can tell)."""
    global _forwarder
    _forwarder = None
