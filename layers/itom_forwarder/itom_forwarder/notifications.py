"""Asynchronous triggers (SNS, EventBridge, alarm actions): Lambda retries the event when
the invocation fails, so a transient failure raises and a permanent one dead-letters.

Outcomes: delivered; permanent failure (bad payload, 400/403/404, refused credentials,
a broken secret or setting) → the original record goes to the DLQ with its reason and the
invocation succeeds; transient failure (5xx, 429, timeouts) after the in-invocation
retries → raise, so Lambda retries and, after its retries, puts the event in the
function's DLQ.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit

from itom_forwarder.config import ConfigError, SecretUnavailable
from itom_forwarder.inbound import read_event
from itom_forwarder.pipeline import dead_letter, map_inbound, metrics, reason_of, send, tag_input_format
from itom_forwarder.runtime import Forwarder
from itom_forwarder.servicenow.errors import FailureReason, PermanentFailure, TransientFailure

logger = Logger(child=True)


def handle(forwarder: Forwarder, event: dict[str, Any], deadline: float, request_id: str | None) -> dict[str, int]:
    inbound_list = read_event(event)
    if forwarder.settings.problem:
        # A refused setting: keep every event, with the setting's problem as the reason.
        reason = FailureReason("config", forwarder.settings.problem)
        for inbound in inbound_list:
            dead_letter(forwarder, inbound, reason, attempts=0, input_format=None, request_id=request_id)
        return {"delivered": 0, "dead_lettered": len(inbound_list)}

    mapped, rejected = map_inbound(forwarder, inbound_list)
    tag_input_format(mapped)
    for rejection in rejected:
        reason = FailureReason("map", str(rejection.problem))
        dead_letter(forwarder, rejection.inbound, reason, attempts=0, input_format=None, request_id=request_id)
    if not mapped:
        return {"delivered": 0, "dead_lettered": len(rejected)}
    try:
        send(forwarder, mapped, deadline)
    except (PermanentFailure, ConfigError) as failure:
        reason, attempts = reason_of(failure)
        for item in mapped:
            dead_letter(
                forwarder,
                item.inbound,
                reason,
                attempts=attempts,
                input_format=item.input_format,
                request_id=request_id,
            )
        return {"delivered": 0, "dead_lettered": len(rejected) + len(mapped)}
    except (TransientFailure, SecretUnavailable) as failure:
        # Raise so Lambda retries the invocation; after its retries the function's DLQ
        # receives the original event. Nothing is dead-lettered here, to avoid doubles.
        logger.error("ServiceNow unavailable, leaving the event to Lambda's retries", extra={"reason": str(failure)})
        metrics.add_metric(name="TransientFailures", unit=MetricUnit.Count, value=1)
        raise
    return {"delivered": sum(len(item.events) for item in mapped), "dead_lettered": len(rejected)}
