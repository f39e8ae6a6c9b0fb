"""API Gateway ingestion for external tools, routed with Powertools' event handler from a
REST API (payload 1.0) or an HTTP API (payload 2.0); the routes are the route table's.

Answers (JSON, each with the request id):
    200 {"delivered": n}              ServiceNow accepted the events
    200 {"delivered": n, "superseded": m}  m events were older than one ServiceNow already
                                      has for their alert (ordering guard): not sent, not lost
    202 {"queued": n}                 ServiceNow failed transiently after the retries: the
                                      events are in the DLQ for replay, do not resend
    400 {"error", "problems": [...]}  malformed JSON, empty body, unknown shape, invalid
                                      events (each: index, field, reason); nothing sent
    413                               more than MAX_EVENTS events, or a body over MAX_BODY_BYTES
    415                               a body that is not JSON
    502 {"error", "dead_lettered": n} ServiceNow refused the events (its message), or the
                                      forwarder is misconfigured (a refused setting or secret); events in the DLQ
    503                               the forwarder itself failed; retry
Nothing about the secret or the instance's internals is ever part of an answer.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver
from aws_lambda_powertools.metrics import MetricUnit

from itom_forwarder.api_routes import ROUTES, ApiRoute
from itom_forwarder.container import Container
from itom_forwarder.delivery import API_REQUEST, Fate, Outcome, deliver
from itom_forwarder.failures import TransientFailure
from itom_forwarder.formats import Notification
from itom_forwarder.inbound import Inbound
from itom_forwarder.itom_event import InvalidPayload

__all__ = ["handle"]

logger = Logger(child=True)
metrics = Metrics()

MAX_EVENTS = 100
MAX_BODY_BYTES = 1024 * 1024
# API Gateway gives up on the integration after 29 s: answer before it does.
API_DEADLINE_SECONDS = 25.0
JSON_TYPES = ("application/json",)


class Refusal(Exception):
    """An answer other than success, decided before anything is sent."""

    def __init__(self, status: int, error: str, **extra: object) -> None:
        super().__init__(error)
        self.status = status
        self.body = {"error": error, **extra}


def _answer(status: int, body: Mapping[str, object], request_id: str) -> Response[str]:
    return Response(
        status_code=status,
        content_type="application/json",
        body=json.dumps({**body, "request_id": request_id}),
        headers={"X-Request-Id": request_id},
    )


def _body_bytes(event: Any) -> bytes:
    raw = event.body
    if raw is None or raw == "":
        raise Refusal(400, "empty body: expected a JSON document")
    if event.is_base64_encoded:
        try:
            return base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise Refusal(400, "the body is marked base64-encoded but is not valid base64") from None
    return str(raw).encode("utf-8")


def _decode(event: Any) -> tuple[str, Any]:
    content_type = (event.headers or {}).get("content-type") or (event.headers or {}).get("Content-Type") or ""
    media_type = content_type.split(";")[0].strip().lower()
    if media_type and media_type not in JSON_TYPES and not media_type.endswith("+json"):
        raise Refusal(415, f"unsupported content type {media_type!r}: send application/json")
    body = _body_bytes(event)
    if len(body) > MAX_BODY_BYTES:
        raise Refusal(413, f"body of {len(body)} bytes is larger than the limit of {MAX_BODY_BYTES} bytes")
    try:
        text = body.decode("utf-8")
        return text, json.loads(text)
    except RecursionError:
        raise Refusal(400, "the JSON body is nested too deep") from None
    except (UnicodeDecodeError, ValueError) as error:
        if not media_type:
            raise Refusal(415, "the body is not JSON: send application/json") from None
        where = f" at line {error.lineno} column {error.colno}" if isinstance(error, json.JSONDecodeError) else ""
        raise Refusal(400, f"malformed JSON{where}") from None


def _count(route: ApiRoute, payload: Any) -> int:
    items = route.items_of(payload)
    if items is None:
        raise Refusal(400, route.expected)
    if len(items) > MAX_EVENTS:
        raise Refusal(413, f"{len(items)} events in one request, at most {MAX_EVENTS}")
    return len(items)


def _request_id(app: ApiGatewayResolver) -> str:
    # The same key in payload 1.0 and 2.0 events.
    context = app.current_event.get("requestContext")
    return str(context.get("requestId") or "") if isinstance(context, Mapping) else ""


def _translate(outcome: Outcome, count: int, request_id: str) -> Response[str]:
    """The policy's outcome as the API's answer."""
    failure, reason = outcome.failure, outcome.reason
    if outcome.fate in (Fate.DELIVERED, Fate.SKIPPED, Fate.SUPERSEDED):
        # Superseded: older than an event of the same alert ServiceNow already has.
        delivered = {"delivered": count - outcome.superseded, "superseded": outcome.superseded}
        return _answer(200, delivered if outcome.superseded else {"delivered": count}, request_id)
    if outcome.fate is Fate.RETURNED and isinstance(failure, InvalidPayload):
        problems = [{"index": p.index, "field": p.field, "reason": p.reason} for p in failure.problems]
        return _answer(400, {"error": "invalid events: nothing was sent", "problems": problems}, request_id)
    if isinstance(failure, TransientFailure):
        body = {"queued": count, "detail": "ServiceNow is unavailable; the events are queued for replay, do not resend"}
        return _answer(202, body, request_id)
    if reason is not None and reason.step in ("deliver", "token"):
        error = f"ServiceNow refused the events: {reason.message}"
        return _answer(502, {"error": error, "servicenow_status": reason.status, "dead_lettered": count}, request_id)
    return _answer(502, {"error": "the forwarder is misconfigured", "dead_lettered": count}, request_id)


def _ingest(app: ApiGatewayResolver, path: str) -> Response[str]:
    request_id = _request_id(app)
    metrics.add_metric(name="ApiRequests", unit=MetricUnit.Count, value=1)
    container: Container = app.context["container"]
    route = ROUTES[path]
    try:
        text, payload = _decode(app.current_event)
        count = _count(route, payload)
    except Refusal as refusal:
        return _answer(refusal.status, refusal.body, request_id)
    # The request body is what a replay needs; headers (the API key) are never kept.
    item = Inbound(
        {"api": {"method": "POST", "path": path, "request_id": request_id}, "body": text},
        Notification(message=text, message_id=request_id, origin="api"),
        "api",
        route=path,
    )
    (outcome,) = deliver(container, [item], app.context["deadline"], API_REQUEST, request_id=request_id)
    return _translate(outcome, count, request_id)


def _register(app: ApiGatewayResolver) -> ApiGatewayResolver:
    for path in ROUTES:
        app.post(path)(lambda path=path: _ingest(app, path))

    @app.exception_handler(Exception)  # type: ignore[untyped-decorator]
    def unexpected(error: Exception) -> Response[str]:
        # The DLQ itself failed, or a bug: the caller must retry (nothing was accepted).
        logger.exception("API request failed")
        return _answer(503, {"error": "the forwarder could not accept the events; retry"}, _request_id(app))

    return app


REST_API = _register(APIGatewayRestResolver())
HTTP_API = _register(APIGatewayHttpResolver())


def handle(container: Container, event: Any, context: Any) -> dict[str, Any]:
    resolver = HTTP_API if event.get("version") == "2.0" else REST_API
    deadline = min(container.deadline(context), time.monotonic() + API_DEADLINE_SECONDS)
    resolver.append_context(container=container, deadline=deadline)  # type: ignore[no-untyped-call]
    try:
        return resolver.resolve(event, context)
    finally:
        resolver.clear_context()  # type: ignore[no-untyped-call]
