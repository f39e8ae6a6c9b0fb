"""The triggers: one module per way an event reaches the forwarder, each with the same
entry signature, `handle(container, event, context) -> answer`. Each turns its event into
inbound items, hands them to the delivery policy and translates the outcomes for its
caller. `route` picks the trigger of a Lambda event, in this one place; a trigger's module
is imported only when its first event arrives, so a cold start loads only its path.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from itom_forwarder import container, redaction
from itom_forwarder.container import Container
from itom_forwarder.inbound import records_of

__all__ = ["Trigger", "correlation_id", "handle", "route", "trigger_name"]

Trigger = Callable[[Container, Any, Any], dict[str, Any]]


def _is_api_gateway_event(event: Mapping[str, Any]) -> bool:
    """A REST API (payload 1.0) or HTTP API (payload 2.0) proxy event."""
    if not isinstance(event.get("requestContext"), Mapping):
        return False
    return "httpMethod" in event or (event.get("version") == "2.0" and "routeKey" in event)


def trigger_name(event: object) -> str:
    """The trigger module that handles `event`."""
    if not isinstance(event, Mapping):
        return "asynchronous"  # kept as a direct event: plain text, never dropped
    if _is_api_gateway_event(event):
        return "api"
    if event.get("action") == "check":  # an operator's check, not an alert
        return "check"
    if records_of(event, "eventSource", "aws:sqs") is not None:
        return "sqs_batch"
    return "asynchronous"  # SNS, EventBridge, alarm actions, direct generic alerts


def correlation_id(event: object) -> str | None:
    """The log's correlation id: the SNS message id, else the SQS message id, else the API
    request id, read directly. The same as Powertools' JMESPath
    `Records[0].Sns.MessageId || Records[0].messageId || requestContext.requestId`, which
    costs a warm alert ~70 µs per invocation to evaluate."""
    if not isinstance(event, Mapping):
        return None
    records = event.get("Records")
    if isinstance(records, list) and records and isinstance(records[0], Mapping):
        first = records[0]
        sns = first.get("Sns")
        value = (sns.get("MessageId") if isinstance(sns, Mapping) else None) or first.get("messageId")
        if value:
            return str(value)
    request = event.get("requestContext")
    value = request.get("requestId") if isinstance(request, Mapping) else None
    return str(value) if value else None


def route(event: object) -> Trigger:
    module = importlib.import_module(f"itom_forwarder.triggers.{trigger_name(event)}")
    handle: Trigger = module.handle
    return handle


def handle(event: Any, context: Any, trigger: Trigger | None = None) -> dict[str, Any]:
    """Run `event` through its trigger (or the one given) on the container's state. What
    leaves here, the answer or the error Lambda reports, passes the one redaction step."""
    try:
        answer = (trigger or route(event))(container.current(), event, context)
    except Exception as error:
        clean = redaction.sanitized(error)
        if clean is error:
            raise
        raise clean from None  # the original's text holds a secret: not even in the chain
    redacted: dict[str, Any] = redaction.redact_value(answer)
    return redacted
