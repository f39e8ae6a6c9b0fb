"""The steps every trigger shares: map inbound notifications, send their records in one
POST, dead-letter what cannot be delivered. Triggers (SNS in notifications.py, API
Gateway in api.py) decide what each outcome means for their caller."""

from __future__ import annotations

from dataclasses import dataclass

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from itom_forwarder import formats
from itom_forwarder.event import InvalidPayload, ItomEvent
from itom_forwarder.inbound import Inbound
from itom_forwarder.runtime import Forwarder
from itom_forwarder.servicenow.client import Delivered
from itom_forwarder.servicenow.errors import DeliveryFailure, FailureReason

logger = Logger(child=True)
metrics = Metrics()  # Powertools shares one metric set between instances


@dataclass(frozen=True)
class Mapped:
    inbound: Inbound
    input_format: str
    events: list[ItomEvent]


@dataclass(frozen=True)
class Rejected:
    inbound: Inbound
    problem: InvalidPayload


def map_inbound(forwarder: Forwarder, inbound_list: list[Inbound]) -> tuple[list[Mapped], list[Rejected]]:
    """Map each notification on its own, so one bad message cannot block the others.
    A notification that maps to no event (a state configured to send nothing) is dropped."""
    mapped: list[Mapped] = []
    rejected: list[Rejected] = []
    received = 0
    for inbound in inbound_list:
        try:
            input_format, events = formats.to_events(inbound.notification, forwarder.settings.mapping)
        except InvalidPayload as problem:
            rejected.append(Rejected(inbound, problem))
            continue
        received += len(events)
        if events:
            mapped.append(Mapped(inbound, input_format, events))
    if len(rejected) < len(inbound_list):  # one metric per invocation, not one per record of a batch
        metrics.add_metric(name="EventsReceived", unit=MetricUnit.Count, value=received)
    return mapped, rejected


def tag_input_format(mapped: list[Mapped]) -> None:
    """Metrics by input format: one dimension value per invocation ("mixed" for a batch
    of several formats). Called once per invocation, before anything is sent."""
    if mapped:
        names = {item.input_format for item in mapped}
        metrics.add_dimension(name="input_format", value=names.pop() if len(names) == 1 else "mixed")


def records_of(mapped: list[Mapped]) -> list[dict[str, str]]:
    return [event.to_record() for item in mapped for event in item.events]


def send(forwarder: Forwarder, mapped: list[Mapped], deadline: float) -> Delivered:
    """One POST for every record; raises PermanentFailure, TransientFailure, ConfigError or
    SecretUnavailable for the trigger to handle."""
    records = records_of(mapped)
    delivered = forwarder.send(records, deadline)
    metrics.add_metric(name="EventsDelivered", unit=MetricUnit.Count, value=len(records))
    metrics.add_metric(name="ServiceNowLatency", unit=MetricUnit.Milliseconds, value=delivered.elapsed_seconds * 1000)
    if delivered.attempts > 1:  # only then: each metric costs the warm path ~20 µs
        metrics.add_metric(name="DeliveryRetries", unit=MetricUnit.Count, value=delivered.attempts - 1)
    logger.info(
        "Events delivered to ServiceNow",
        extra={
            "records": len(records),
            "formats": sorted({item.input_format for item in mapped}),
            "attempts": delivered.attempts,
            "result": delivered.result,
        },
    )
    return delivered


def reason_of(failure: Exception) -> tuple[FailureReason, int]:
    """What a dead-letter message records for a failed send: ServiceNow's reason and the
    attempts made, or, for a broken or unreadable secret, step `config` and no attempt."""
    if isinstance(failure, DeliveryFailure):
        return failure.reason, failure.attempts
    return FailureReason("config", str(failure)), 0


def dead_letter(
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
