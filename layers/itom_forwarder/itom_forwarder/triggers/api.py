"""API Gateway ingestion for external tools, routed with Powertools' event handler from a
REST API (payload 1.0) or an HTTP API (payload 2.0); the routes are the route table's.

Answers (JSON, each with the request id). On every route:
    401 {"error"}                     no credential the route takes, or one that is not
                                      valid (with WWW-Authenticate); nothing sent or kept
    404 / 405 {"error"}               no such route, or a method other than POST
    503 {"error"}                     the forwarder could not accept the request (the
                                      dead-letter queue or the ingest secret failed); retry
POST /events (generic ITOM events, from tools that can fix and resend a request):
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
POST /alertmanager, /grafana (webhooks, whose senders never resend a 4xx): any number of
alerts, one item each, in as many POSTs as BATCH_MAX_RECORDS needs:
    200 {"delivered": n[, "superseded": m]}  every alert delivered (or superseded)
    202 {"delivered": n, "dead_lettered": k, "reasons": [...]}  k alerts could not be
                                      delivered now (ServiceNow down or refusing them, an alert
                                      that cannot map): kept in the DLQ for replay, do not resend
    400 / 415 {"error"}               a body that is not JSON, or not the route's webhook format
Nothing about the secrets, a credential or the instance's internals is ever part of an answer.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.metrics import MetricUnit

from itom_forwarder.api_routes import ROUTES, ApiRoute, one_alert_groups
from itom_forwarder.container import Container
from itom_forwarder.delivery import API_REQUEST, WEBHOOK_REQUEST, Fate, Outcome, deliver
from itom_forwarder.failures import TransientFailure
from itom_forwarder.formats import Notification
from itom_forwarder.inbound import Inbound
from itom_forwarder.itom_event import InvalidPayload
from itom_forwarder.triggers.authentication import CredentialsUnreadable, Unauthenticated, authenticate
from itom_forwarder.webhook_auth import Method, Problem

__all__ = ["handle"]

logger = Logger(child=True)
metrics = Metrics()

MAX_EVENTS = 100
MAX_BODY_BYTES = 1024 * 1024
# API Gateway gives up on the integration after 29 s: answer before it does.
API_DEADLINE_SECONDS = 25.0
JSON_TYPES = ("application/json",)
REALM = 'realm="itom-forwarder", charset="UTF-8"'
UNAUTHENTICATED = {
    Problem.MISSING: "authentication required: no credentials this route takes",
    Problem.MALFORMED: "authentication required: the Authorization header is not in a form this route takes",
    Problem.STALE: "authentication required: the signature's timestamp is missing or more than 5 minutes off",
}
MAX_REASONS = 5  # distinct failure reasons in a webhook's answer


class Refusal(Exception):
    """An answer other than success, decided before anything is sent."""

    def __init__(self, status: int, error: str, **extra: object) -> None:
        super().__init__(error)
        self.status = status
        self.body = {"error": error, **extra}


def _answer(
    status: int, body: Mapping[str, object], request_id: str, headers: Mapping[str, str] | None = None
) -> Response[str]:
    return Response(
        status_code=status,
        content_type="application/json",
        body=json.dumps({**body, "request_id": request_id}),
        headers={"X-Request-Id": request_id, **(headers or {})},
    )


def _body_bytes(event: Any) -> bytes:
    raw = event.body
    if raw is None or raw == "":
        return b""
    if event.is_base64_encoded:
        try:
            return base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise Refusal(400, "the body is marked base64-encoded but is not valid base64") from None
    return str(raw).encode("utf-8", "surrogatepass")


def _media_type(event: Any) -> str:
    headers = {str(name).lower(): str(value) for name, value in (event.headers or {}).items()}
    return headers.get("content-type", "").split(";")[0].strip().lower()


def _json(body: bytes, media_type: str) -> tuple[str, Any]:
    if not body:
        raise Refusal(400, "empty body: expected a JSON document")
    try:
        text = body.decode("utf-8", "surrogatepass")  # a lone surrogate maps to U+FFFD later
        return text, json.loads(text)
    except RecursionError:
        raise Refusal(400, "the JSON body is nested too deep") from None
    except (UnicodeDecodeError, ValueError) as error:
        if not media_type:
            raise Refusal(415, "the body is not JSON: send application/json") from None
        where = f" at line {error.lineno} column {error.colno}" if isinstance(error, json.JSONDecodeError) else ""
        raise Refusal(400, f"malformed JSON{where}") from None


def _decode_events(event: Any, body: bytes) -> tuple[str, Any]:
    """/events: JSON only, bounded in size (its senders can split a request)."""
    media_type = _media_type(event)
    if media_type and media_type not in JSON_TYPES and not media_type.endswith("+json"):
        raise Refusal(415, f"unsupported content type {media_type!r}: send application/json")
    if len(body) > MAX_BODY_BYTES:
        raise Refusal(413, f"body of {len(body)} bytes is larger than the limit of {MAX_BODY_BYTES} bytes")
    return _json(body, media_type)


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
    """The policy's outcome as /events' answer."""
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


def _translate_webhook(outcomes: Sequence[Outcome], request_id: str) -> Response[str]:
    """The outcomes of a webhook's alerts as its answer: 2xx once each is delivered or kept
    (a dead letter that cannot be written raised before this: 503)."""
    if any(outcome.fate in (Fate.RETRY_LATER, Fate.RETURNED) for outcome in outcomes):
        # Not the webhook disposition's (its unkept alerts raise): never answer 2xx for them.
        return _answer(503, {"error": "the forwarder could not accept the alerts; retry"}, request_id)
    superseded = sum(outcome.superseded for outcome in outcomes)
    kept = [outcome for outcome in outcomes if outcome.fate is Fate.DEAD_LETTERED]
    delivered = sum(len(outcome.records) for outcome in outcomes if outcome.fate is Fate.DELIVERED)
    body: dict[str, object] = {"delivered": delivered, **({"superseded": superseded} if superseded else {})}
    if not kept:
        return _answer(200, body, request_id)
    reasons = Counter(str(outcome.reason) for outcome in kept)
    body.update(
        dead_lettered=len(kept),
        reasons=[reason for reason, _ in reasons.most_common(MAX_REASONS)],
        detail="kept in the dead-letter queue and replayed once ServiceNow accepts them; do not resend",
    )
    return _answer(202, body, request_id)


def _webhook_items(path: str, text: str, payload: Any, request_id: str) -> list[Inbound]:
    """One item per alert: each is delivered, superseded or kept on its own, and a dead
    letter holds one alert (a whole group could exceed an SQS message)."""
    if ROUTES[path].items_of(payload) is None:
        raise Refusal(400, ROUTES[path].expected)
    groups = one_alert_groups(payload)
    texts = [text] if len(groups) == 1 else [json.dumps(group) for group in groups]
    return [
        Inbound(
            {"api": {"method": "POST", "path": path, "request_id": request_id, "alert": index}, "body": body},
            Notification(message=body, message_id=f"{request_id}#{index}", origin="api"),
            "api",
            route=path,
        )
        for index, body in enumerate(texts)
    ]


def _unauthenticated(route: ApiRoute, problem: Problem, request_id: str) -> Response[str]:
    schemes = ["Bearer"] + (["Basic"] if Method.BASIC in route.methods else [])
    challenge = ", ".join(f"{scheme} {REALM}" for scheme in schemes)
    error = UNAUTHENTICATED.get(problem, "authentication required: the credentials are not valid")
    return _answer(401, {"error": error}, request_id, {"WWW-Authenticate": challenge})


def _authenticated_body(app: ApiGatewayResolver, route: ApiRoute, request_id: str) -> bytes | Response[str]:
    """The raw body once the request authenticated, else the answer that refuses it."""
    container: Container = app.context["container"]
    body = _body_bytes(app.current_event)
    try:
        authenticate(container, route, app.current_event.raw_event, body)
    except Unauthenticated as refused:
        return _unauthenticated(route, refused.problem, request_id)
    except CredentialsUnreadable as unreadable:
        logger.error("Webhook credentials could not be read", extra={"reason": str(unreadable.failure.reason)})
        return _answer(503, {"error": "the forwarder could not check the credentials; retry"}, request_id)
    return body


def _ingest(app: ApiGatewayResolver, path: str) -> Response[str]:
    request_id = _request_id(app)
    metrics.add_metric(name="ApiRequests", unit=MetricUnit.Count, value=1)
    container: Container = app.context["container"]
    route = ROUTES[path]
    try:
        body = _authenticated_body(app, route, request_id)
        if isinstance(body, Response):
            return body
        if route.webhook:
            text, payload = _json(body, _media_type(app.current_event))
            items = _webhook_items(path, text, payload, request_id)
        else:
            text, payload = _decode_events(app.current_event, body)
            count = _count(route, payload)
    except Refusal as refusal:
        return _answer(refusal.status, refusal.body, request_id)
    deadline = app.context["deadline"]
    if route.webhook:
        outcomes = deliver(container, items, deadline, WEBHOOK_REQUEST, request_id=request_id)
        return _translate_webhook(outcomes, request_id)
    # The request body is what a replay needs; headers (the credentials) are never kept.
    item = Inbound(
        {"api": {"method": "POST", "path": path, "request_id": request_id}, "body": text},
        Notification(message=text, message_id=request_id, origin="api"),
        "api",
        route=path,
    )
    (outcome,) = deliver(container, [item], deadline, API_REQUEST, request_id=request_id)
    return _translate(outcome, count, request_id)


def _register(app: ApiGatewayResolver) -> ApiGatewayResolver:
    for path in ROUTES:
        app.post(path)(lambda path=path: _ingest(app, path))

    @app.not_found
    def no_route(_: NotFoundError) -> Response[str]:
        # A 4xx, never retried: a sender pointed at a wrong URL must hear it, not retry forever.
        path = app.current_event.path
        if path in ROUTES:
            return _answer(405, {"error": f"{path} takes POST only"}, _request_id(app), {"Allow": "POST"})
        routes = ", ".join(ROUTES)
        return _answer(404, {"error": f"no such route: POST {routes}"}, _request_id(app))

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
