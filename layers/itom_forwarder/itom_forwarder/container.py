"""Per-container state: the settings, the connection secret, the ServiceNow client (its
session and token cache), the ordering guard, the webhook credentials' secret, the AWS
clients of the alert path (Secrets Manager and DynamoDB, each with its own kept-alive
session) and the dead-letter queue.

Created on the first invocation and kept while the container is warm, so a warm alert
costs one POST: no secret read, no new connection. Everything is built lazily so a cold
start pays only for the path it runs: the alert path's AWS calls are signed HTTPS requests
(aws_api), and boto3 is imported only by the dead-letter queue, on the paths that use it.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from typing import Any

import requests
from aws_lambda_powertools import Logger

from itom_forwarder import __version__, redaction
from itom_forwarder.aws_api import AwsJsonClient
from itom_forwarder.dead_letters import DeadLetterQueue
from itom_forwarder.failures import ConfigError
from itom_forwarder.ordering import OrderingGuard
from itom_forwarder.secrets import IngestSecret, SecretConnections, secrets_manager_client
from itom_forwarder.servicenow import ServiceNowClient
from itom_forwarder.settings import DELIVERY, Settings

__all__ = ["Container", "current", "reset"]

logger = Logger(child=True)

DEFAULT_REMAINING_SECONDS = 30.0


def _dynamodb_client() -> AwsJsonClient:
    # A claim is one small write: a slow table is a transient failure (the event is
    # retried), not an invocation spent waiting. Connect within 1 s, answer within 2 s, two
    # attempts in all; backoff as botocore's for DynamoDB (25 ms base, 1 s when throttled).
    return AwsJsonClient.from_environment(
        os.environ,
        service="dynamodb",
        service_env_name="DYNAMODB",
        endpoint_prefix="dynamodb",
        signing_name="dynamodb",
        target_prefix="DynamoDB_20120810",
        json_version="1.0",
        connect_timeout=1,
        read_timeout=2,
        max_attempts=2,
        user_agent=f"aws-itom-forwarder/{__version__}",
        transient_backoff=0.025,
    )


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
        self._aws_lock = threading.Lock()
        self._secrets_manager: AwsJsonClient | None = None
        self._dynamodb: AwsJsonClient | None = None
        self.connections = connections or SecretConnections(
            settings.secret_id,
            max_age_seconds=delivery.secret_max_age_seconds,
            allowed_hosts=delivery.allowed_hosts,
            client=self.secrets_manager,
        )
        self.dead_letters = dead_letters or DeadLetterQueue(settings.dlq_url)
        self._session = session
        self._client: ServiceNowClient | None = None
        self._guard: OrderingGuard | None = None
        self._ingest: IngestSecret | None = None
        self._id = uuid.uuid4().hex

    def client(self) -> ServiceNowClient:
        """The container's client. None is ever built on refused delivery settings: they
        hold ALLOWED_HOSTS and TLS_VERIFY, which no path may bypass."""
        refusal = self.settings.refusal(DELIVERY)
        if refusal:
            raise ConfigError(refusal)
        if self._client is None:
            self._client = ServiceNowClient(self.connections, self.settings.delivery.client, session=self._session)
        return self._client

    def secrets_manager(self) -> AwsJsonClient:
        """The container's Secrets Manager client, shared by its secrets (one session, one
        kept-alive connection), built on the first read."""
        with self._aws_lock:
            if self._secrets_manager is None:
                self._secrets_manager = secrets_manager_client(os.environ)
            return self._secrets_manager

    def dynamodb(self) -> AwsJsonClient:
        """The ordering guard's DynamoDB client, built on its first claim."""
        with self._aws_lock:
            if self._dynamodb is None:
                self._dynamodb = _dynamodb_client()
            return self._dynamodb

    def guard(self) -> OrderingGuard | None:
        """The ordering guard, or None when ALERT_STATE_TABLE is not set."""
        if self._guard is None and self.settings.guard is not None:
            self._guard = OrderingGuard(self.settings.guard, self.dynamodb)
        return self._guard

    def ingest_secret(self) -> IngestSecret | None:
        """The webhook credentials' secret, or None when INGEST_SECRET_ID is not set. Built on
        the API path only: no other trigger reads it."""
        if self._ingest is None and self.settings.ingest_secret_id:
            self._ingest = IngestSecret(
                self.settings.ingest_secret_id,
                max_age_seconds=self.settings.delivery.secret_max_age_seconds,
                client=self.secrets_manager,
            )
        return self._ingest

    @property
    def owner(self) -> str:
        """Who holds the guard's leases this container takes. Lambda runs one invocation
        at a time per container, so an invocation never waits for its container's previous
        one (over by then); the thread tells apart runs that share a process locally."""
        return f"{self._id}-{threading.get_ident()}"

    def abandon_leases(self) -> None:
        """A POST ended without an answer (a timeout, a dropped connection): the instance
        may still apply it. A new owner makes the container's next events wait for those
        leases like anyone else's, instead of overtaking the POST it gave up on."""
        self._id = uuid.uuid4().hex

    def deadline(self, context: Any) -> float:
        """The monotonic time by which delivery must be over, keeping a margin to
        dead-letter or fail cleanly before Lambda stops the invocation."""
        remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
        remaining = remaining_ms() / 1000.0 if callable(remaining_ms) else DEFAULT_REMAINING_SECONDS
        return time.monotonic() + remaining - self.settings.delivery.deadline_margin_seconds

    def secret_values(self) -> tuple[str, ...]:
        client = self._client.secret_values if self._client else ()
        return (*client, *(self._ingest.secret_values if self._ingest else ()))


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
