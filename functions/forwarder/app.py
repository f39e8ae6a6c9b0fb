"""Lambda entry point: parse the trigger's event, map it to ITOM events, send them to
ServiceNow in one POST, dead-letter what cannot be delivered.

Outcomes: delivered; permanent failure (bad payload, 400/403/404, refused credentials,
a broken secret) → the original record goes to the DLQ with its reason and the invocation
succeeds; transient failure (5xx, 429, timeouts) after the in-invocation retries → raise,
so Lambda retries the event and, after its retries, puts it in the function's DLQ.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from itom_forwarder import formats
from itom_forwarder.config import ConfigError, SecretUnavailable
from itom_forwarder.event import InvalidPayload, ItomEvent
from itom_forwarder.inbound import Inbound, read_event
from itom_forwarder.runtime import Forwarder, current_forwarder
from itom_forwarder.servicenow.errors import FailureReason, PermanentFailure, TransientFailure

logger = Logger()
# An explicit default: without a namespace Powertools would fail the flush.
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "ItomForwarder")


def _dead_letter(
    forwarder: Forwarder,
    inbound: Inbound,
    reason: FailureReason,
    *,
    attempts: int,
    input_format: str | None,
    request_id: str | None,
) -> None:
    message_id = forwarder.dead_letters.put(
        inbound.original,
        reason,
        source=inbound.source,
        attempts=attempts,
        input_format=input_format,
        request_id=request_id,
        secrets=forwarder.secret_values(),
    )
    logger.error(
        "Event dead-lettered",
        extra={"reason": str(reason), "dlq_message_id": message_id, "sns_message_id": inbound.notification.message_id},
    )
    metrics.add_metric(name="EventsDeadLettered", unit=MetricUnit.Count, value=1)


@metrics.log_metrics(capture_cold_start_metric=True)
@logger.inject_lambda_context(correlation_id_path="Records[0].Sns.MessageId", clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    forwarder = current_forwarder()
    deadline = forwarder.deadline(context)
    request_id = getattr(context, "aws_request_id", None)

    inbound_list = read_event(event)
    if forwarder.settings.problem:
        # A refused setting: keep every event, with the setting's problem as the reason.
        for inbound in inbound_list:
            reason = FailureReason("config", forwarder.settings.problem)
            _dead_letter(forwarder, inbound, reason, attempts=0, input_format=None, request_id=request_id)
        return {"delivered": 0, "dead_lettered": len(inbound_list)}

    # Parse and map: each notification on its own, so one bad message cannot block others.
    mapped: list[tuple[Inbound, str, list[ItomEvent]]] = []
    dead_lettered = 0
    for inbound in inbound_list:
        try:
            input_format, events = formats.to_events(inbound.notification, forwarder.settings.mapping)
        except InvalidPayload as problem:
            _dead_letter(
                forwarder,
                inbound,
                FailureReason("map", str(problem)),
                attempts=0,
                input_format=None,
                request_id=request_id,
            )
            dead_lettered += 1
            continue
        metrics.add_metric(name="EventsReceived", unit=MetricUnit.Count, value=len(events))
        if events:  # an alarm state configured to send nothing maps to no event
            mapped.append((inbound, input_format, events))
    if not mapped:
        return {"delivered": 0, "dead_lettered": dead_lettered}

    # Send: all records of the invocation in one POST.
    records = [event.to_record() for _, _, events in mapped for event in events]
    try:
        delivered = forwarder.send(records, deadline)
    except (PermanentFailure, ConfigError) as failure:
        if isinstance(failure, PermanentFailure):
            reason, attempts = failure.reason, failure.attempts
        else:
            reason, attempts = FailureReason("config", str(failure)), 0
        for inbound, input_format, _ in mapped:
            _dead_letter(
                forwarder, inbound, reason, attempts=attempts, input_format=input_format, request_id=request_id
            )
        return {"delivered": 0, "dead_lettered": dead_lettered + len(mapped)}
    except (TransientFailure, SecretUnavailable) as failure:
        # Raise so Lambda retries the invocation; after its retries the function's DLQ
        # receives the original event. Nothing is dead-lettered here, to avoid doubles.
        logger.error("ServiceNow unavailable, leaving the event to Lambda's retries", extra={"reason": str(failure)})
        metrics.add_metric(name="TransientFailures", unit=MetricUnit.Count, value=1)
        raise

    metrics.add_metric(name="EventsDelivered", unit=MetricUnit.Count, value=len(records))
    metrics.add_metric(name="DeliveryAttempts", unit=MetricUnit.Count, value=delivered.attempts)
    metrics.add_metric(name="ServiceNowLatency", unit=MetricUnit.Milliseconds, value=delivered.elapsed_seconds * 1000)
    logger.info(
        "Events delivered to ServiceNow",
        extra={
            "records": len(records),
            "formats": sorted({input_format for _, input_format, _ in mapped}),
            "attempts": delivered.attempts,
            "result": delivered.result,
        },
    )
    return {"delivered": len(records), "dead_lettered": dead_lettered}
