"""Who may post to the API: each route's senders authenticate as the route table says.

`/events` is authenticated by the API key API Gateway checked (REST API), or else by a
bearer token. The webhook routes take a bearer token or a basic login, and `/grafana` also
Grafana's HMAC signature, checked against the ingest secret (INGEST_SECRET_ID). Without
an ingest secret nothing but the API key authenticates: there is never an unauthenticated
path. A credential that matches none may have just been rotated: the secret is read again
once before the request is refused.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from itom_forwarder.api_routes import ApiRoute
from itom_forwarder.container import Container
from itom_forwarder.failures import ForwarderFailure
from itom_forwarder.webhook_auth import Problem, Verdict, WebhookCredentials, verify

__all__ = ["API_KEY", "CredentialsUnreadable", "Unauthenticated", "authenticate"]

logger = Logger(child=True)
metrics = Metrics()

API_KEY = "api_key"
# Worth reading the secret again for: the credential may be one just added to it.
REREAD_PROBLEMS = frozenset({Problem.MISMATCH, Problem.NOT_CONFIGURED})


class Unauthenticated(Exception):
    """No credential the route takes, or one that is not valid: 401."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.value)
        self.problem = problem


class CredentialsUnreadable(Exception):
    """The ingest secret could not be read or is in no usable shape: nothing can be checked
    now, and a retry may succeed once it is fixed (503)."""

    def __init__(self, failure: ForwarderFailure) -> None:
        super().__init__(str(failure))
        self.failure = failure


def _gateway_api_key(event: Mapping[str, Any]) -> bool:
    """True when API Gateway checked an API key for this request: on a REST API method that
    requires one, it puts the key in the identity (an HTTP API has no API keys)."""
    context = event.get("requestContext")
    identity = context.get("identity") if isinstance(context, Mapping) else None
    return isinstance(identity, Mapping) and bool(identity.get("apiKey"))


def _headers(event: Mapping[str, Any]) -> dict[str, str]:
    raw = event.get("headers")
    return {str(name).lower(): str(value) for name, value in raw.items()} if isinstance(raw, Mapping) else {}


def _check(container: Container, route: ApiRoute, headers: Mapping[str, str], body: bytes) -> Verdict:
    ingest = container.ingest_secret()
    if ingest is None:
        return Verdict(None, Problem.NOT_CONFIGURED)

    def check(credentials: WebhookCredentials) -> Verdict:
        return verify(lambda name: headers.get(name.lower()), body, credentials, route.methods, time.time())

    try:
        verdict = check(ingest.current())
        if verdict.problem in REREAD_PROBLEMS:
            fresh = ingest.reread()
            verdict = check(fresh) if fresh is not None else verdict
    except ForwarderFailure as failure:  # ConfigError or SecretUnavailable, naming the secret
        raise CredentialsUnreadable(failure) from None
    return verdict


def authenticate(container: Container, route: ApiRoute, event: Mapping[str, Any], body: bytes) -> str:
    """How the request authenticated (a Method's value, or API_KEY); raises Unauthenticated
    or CredentialsUnreadable. Nothing a request presents is ever logged."""
    if route.api_key and _gateway_api_key(event):
        return API_KEY  # API Gateway checked it: enough on its own, whatever else is sent
    verdict = _check(container, route, _headers(event), body)
    if verdict.accepted and verdict.method is not None:
        return verdict.method.value
    problem = verdict.problem or Problem.MISSING
    metrics.add_metric(name="ApiRequestsUnauthenticated", unit=MetricUnit.Count, value=1)
    logger.warning(
        "API request refused: not authenticated",
        extra={"route": route.path, "problem": problem.value, "presented": verdict.method or "nothing"},
    )
    raise Unauthenticated(problem)
