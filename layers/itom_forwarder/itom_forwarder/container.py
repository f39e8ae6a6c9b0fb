"""Per-container state: the settings, the connection secret, the ServiceNow client (its
session and token cache) and the dead-letter queue.

Created on the first invocation and kept while the container is warm, so a warm alert
costs one POST: no secret read, no new connection. Everything is built lazily so a cold
start pays only for the path it runs.
"""

from __future__ import annotations

import time
from typing import Any

import requests
from aws_lambda_powertools import Logger

from itom_forwarder import redaction
from itom_forwarder.dead_letters import DeadLetterQueue
from itom_forwarder.failures import ConfigError
from itom_forwarder.secrets import SecretConnections
from itom_forwarder.servicenow import ServiceNowClient
from itom_forwarder.settings import DELIVERY, Settings

__all__ = ["Container", "current", "reset"]

logger = Logger(child=True)

DEFAULT_REMAINING_SECONDS = 30.0


class Container:
    def __init__(
        self,
        settings: Settings,
        *,
        connections: SecretConnections | None = None,
        session: requests.Session | None = None,
        dead_letters: DeadLetterQueue | None = None,
    ) -> None:
        self.settings = settings
        delivery = settings.delivery
        self.connections = connections or SecretConnections(
            settings.secret_id,
            max_age_seconds=delivery.secret_max_age_seconds,
            allowed_hosts=delivery.allowed_hosts,
        )
        self.dead_letters = dead_letters or DeadLetterQueue(settings.dlq_url)
        self._session = session
        self._client: ServiceNowClient | None = None

    def client(self) -> ServiceNowClient:
        """The container's client. None is ever built on refused delivery settings: they
        hold ALLOWED_HOSTS and TLS_VERIFY, which no path may bypass."""
        refusal = self.settings.refusal(DELIVERY)
        if refusal:
            raise ConfigError(refusal)
        if self._client is None:
            self._client = ServiceNowClient(self.connections, self.settings.delivery.client, session=self._session)
        return self._client

    def deadline(self, context: Any) -> float:
        """The monotonic time by which delivery must be over, keeping a margin to
        dead-letter or fail cleanly before Lambda stops the invocation."""
        remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
        remaining = remaining_ms() / 1000.0 if callable(remaining_ms) else DEFAULT_REMAINING_SECONDS
        return time.monotonic() + remaining - self.settings.delivery.deadline_margin_seconds

    def secret_values(self) -> tuple[str, ...]:
        return self._client.secret_values if self._client else ()


_container: Container | None = None


def current() -> Container:
    """The container's state, built from the environment on first use."""
    global _container
    if _container is None:
        settings = Settings.from_environ()
        for group, refusal in settings.refusals.items():
            logger.error(
                "Configuration refused: every event will be dead-lettered", extra={"group": group, "problem": refusal}
            )
        _container = Container(settings)
        redaction.set_source(_container.secret_values)
    return _container


def reset() -> None:
    """Forget the container state (a new container, as far as the code can tell)."""
    global _container
    _container = None
