"""API Gateway ingestion for external tools: `POST /events` (generic ITOM events) and
`POST /alertmanager` (Prometheus Alertmanager / Grafana webhooks), from a REST API
(payload 1.0) or an HTTP API (payload 2.0), routed with Powertools' event handler.

Answers (JSON, each with the request id):
    200 {"delivered": n}              ServiceNow accepted the events
    202 {"queued": n}                 ServiceNow failed transiently after the retries: the
                                      events are in the DLQ for replay, do not resend
    400 {"error", "problems": [...]}  malformed JSON, empty body, unknown shape, invalid
                                      events (each: index, field, reason); nothing sent
    413                               more than MAX_EVENTS events, or a body over MAX_BODY_BYTES
    415                               a body that is not JSON
    502 {"error", "dead_lettered": n} ServiceNow refused the events (its message), or the
                                      forwarder's configuration is broken; events in the DLQ
    503                               the forwarder itself failed; retry
Nothing about the secret or the instance's internals is ever part of an answer.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from itom_forwarder.config import ConfigError, SecretUnavailable
from itom_forwarder.event import InvalidPayload, ItomEvent
from itom_forwarder.formats import Notification, alertmanager, generic
from itom_forwarder.inbound import Inbound
from itom_forwarder.pipeline import Mapped, dead_letter, metrics, reason_of, send, tag_input_format
from itom_forwarder.runtime import Forwarder
from itom_forwarder.servicenow.errors import FailureReason, PermanentFailure, TransientFailure

logger = Logger(child=True)

MAX_EVENTS = 100
MAX_BODY_BYTES = 1024 * 1024
# API Gateway gives up on the integration after 29 s: answer before it does.
API_DEADLINE_SECONDS = 25.0
JSON_TYPES = ("application/json",)

Mapper = Callable[[Any, Notification, Any], list[ItomEvent]]


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
    except (UnicodeDecodeError, ValueError) as error:
        if not media_type:
            raise Refusal(415, "the body is not JSON: send application/json") from None
        where = f" at line {error.lineno} column {error.colno}" if isinstance(error, json.JSONDecodeError) else ""
        raise Refusal(400, f"malformed JSON{where}") from None


def _count(route: str, payload: Any) -> int:
    if route == "/alertmanager":
        if not alertmanager.is_alertmanager(payload):
            raise Refusal(400, 'expected an Alertmanager webhook (version 4): {"status": ..., "alerts": [...]}')
        count = len(payload["alerts"])
    else:
        records = generic.records_of(payload)
        if records is None:
            raise Refusal(400, 'expected one ITOM event object, a list of them, or {"records": [...]}')
        count = len(records)
    if count > MAX_EVENTS:
        raise Refusal(413, f"{count} events in one request, at most {MAX_EVENTS}")
    return count


def _request_id(app: ApiGatewayResolver) -> str:
    # The same key in payload 1.0 and 2.0 events.
    context = app.current_event.get("requestContext")
    return str(context.get("requestId") or "") if isinstance(context, Mapping) else ""


def _ingest(app: ApiGatewayResolver, route: str, mapper: Mapper) -> Response[str]:
    event = app.current_event
    request_id = _request_id(app)
    metrics.add_metric(name="ApiRequests", unit=MetricUnit.Count, value=1)
    forwarder: Forwarder = app.context["forwarder"]
    deadline: float = app.context["deadline"]
    try:
        text, payload = _decode(event)
        _count(route, payload)
        notification = Notification(message=text, message_id=request_id)
        try:
            events = mapper(payload, notification, forwarder.settings.mapping)
        except InvalidPayload as invalid:
            problems = [{"index": p.index, "field": p.field, "reason": p.reason} for p in invalid.problems]
            raise Refusal(400, "invalid events: nothing was sent", problems=problems) from None
    except Refusal as refusal:
        return _answer(refusal.status, refusal.body, request_id)

    # The request body is what a replay needs; headers (the API key) are never kept.
    inbound = Inbound({"api": {"method": "POST", "path": route, "request_id": request_id}, "body": text},
                      notification, "api")  # fmt: skip
    input_format = "alertmanager" if route == "/alertmanager" else "generic"
    count = len(events)

    def queue(reason: FailureReason, attempts: int) -> None:
        dead_letter(forwarder, inbound, reason, attempts=attempts, input_format=input_format, request_id=request_id)

    if forwarder.settings.problem:
        queue(FailureReason("config", forwarder.settings.problem), 0)
        return _answer(502, {"error": "the forwarder's configuration is refused", "dead_lettered": count}, request_id)
    mapped = [Mapped(inbound, input_format, events)]
    tag_input_format(mapped)
    try:
        send(forwarder, mapped, deadline)
    except PermanentFailure as failure:
        queue(failure.reason, failure.attempts)
        error = f"ServiceNow refused the events: {failure.reason.message}"
        body = {"error": error, "servicenow_status": failure.reason.status, "dead_lettered": count}
        return _answer(502, body, request_id)
    except ConfigError as failure:
        queue(*reason_of(failure))
        return _answer(502, {"error": "the forwarder is misconfigured", "dead_lettered": count}, request_id)
    except (TransientFailure, SecretUnavailable) as failure:
        queue(*reason_of(failure))
        body = {"queued": count, "detail": "ServiceNow is unavailable; the events are queued for replay, do not resend"}
        return _answer(202, body, request_id)
    return _answer(200, {"delivered": count}, request_id)


def _register(app: ApiGatewayResolver) -> ApiGatewayResolver:
    @app.post("/events")
    def post_events() -> Response[str]:
        return _ingest(app, "/events", generic.to_events)

    @app.post("/alertmanager")
    def post_alertmanager() -> Response[str]:
        return _ingest(app, "/alertmanager", alertmanager.to_events)

    @app.exception_handler(Exception)  # type: ignore[untyped-decorator]
    def unexpected(error: Exception) -> Response[str]:
        # The DLQ itself failed, or a bug: the caller must retry (nothing was accepted).
        logger.exception("API request failed")
        request_id = _request_id(app)
        return _answer(503, {"error": "the forwarder could not accept the events; retry"}, request_id)

    return app


REST_API = _register(APIGatewayRestResolver())
HTTP_API = _register(APIGatewayHttpResolver())


def handle(forwarder: Forwarder, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    resolver = HTTP_API if event.get("version") == "2.0" else REST_API
    deadline = min(forwarder.deadline(context), time.monotonic() + API_DEADLINE_SECONDS)
    resolver.append_context(forwarder=forwarder, deadline=deadline)  # type: ignore[no-untyped-call]
    try:
        return resolver.resolve(event, context)
    finally:
        resolver.clear_context()  # type: ignore[no-untyped-call]
