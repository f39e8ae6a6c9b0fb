"""Buffered mode (SNS → SQS → Lambda): a batch of SQS messages in as few POSTs as the
per-request cap allows, with partial batch failures so only the failed messages return.

Per message: delivered → done; permanent failure (bad payload, refused by ServiceNow) →
dead-lettered with its reason, done; transient failure → reported in
`batchItemFailures`, so SQS makes it visible again and, after the queue's
maxReceiveCount, its redrive policy moves it to the dead-letter queue.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from itom_forwarder.config import ConfigError, SecretUnavailable
from itom_forwarder.inbound import read_event
from itom_forwarder.pipeline import Mapped, dead_letter, map_inbound, metrics, reason_of, send, tag_input_format
from itom_forwarder.runtime import Forwarder
from itom_forwarder.servicenow.errors import FailureReason, PermanentFailure, TransientFailure

logger = Logger(child=True)


class RetryLater(Exception):
    """Marks a message as failed in the batch response (SQS will deliver it again)."""


def chunks(mapped: list[Mapped], cap: int) -> Iterator[list[Mapped]]:
    """Messages grouped so that each POST carries at most `cap` records; a message's
    records are never split, so each message succeeds or fails as a whole."""
    chunk: list[Mapped] = []
    size = 0
    for item in mapped:
        if chunk and size + len(item.events) > cap:
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += len(item.events)
    if chunk:
        yield chunk


def handle(forwarder: Forwarder, event: dict[str, Any], context: LambdaContext, deadline: float) -> dict[str, Any]:
    request_id = getattr(context, "aws_request_id", None)
    inbound_list = read_event(event)
    failed_ids: set[str] = set()

    def keep(item_inbound: Any, reason: FailureReason, attempts: int, input_format: str | None) -> None:
        dead_letter(
            forwarder, item_inbound, reason, attempts=attempts, input_format=input_format, request_id=request_id
        )

    if forwarder.settings.problem:
        for inbound in inbound_list:
            keep(inbound, FailureReason("config", forwarder.settings.problem), 0, None)
    else:
        mapped, rejected = map_inbound(forwarder, inbound_list)
        tag_input_format(mapped)
        for rejection in rejected:
            keep(rejection.inbound, FailureReason("map", str(rejection.problem)), 0, None)
        unavailable: str | None = None
        for chunk in chunks(mapped, forwarder.settings.delivery.batch_max_records):
            if unavailable is not None:
                # ServiceNow just failed transiently: do not spend the invocation on
                # POSTs that would fail the same way; SQS brings these back.
                failed_ids.update(str(item.inbound.original["messageId"]) for item in chunk)  # type: ignore[index]
                continue
            try:
                send(forwarder, chunk, deadline)
            except (PermanentFailure, ConfigError) as failure:
                reason, attempts = reason_of(failure)
                for item in chunk:
                    keep(item.inbound, reason, attempts, item.input_format)
            except (TransientFailure, SecretUnavailable) as failure:
                unavailable = str(failure)
                failed_ids.update(str(item.inbound.original["messageId"]) for item in chunk)  # type: ignore[index]
        if unavailable is not None:
            logger.error(
                "ServiceNow unavailable; SQS will deliver these messages again",
                extra={"reason": unavailable, "messages": len(failed_ids)},
            )
            metrics.add_metric(name="TransientFailures", unit=MetricUnit.Count, value=1)

    def record_handler(record: SQSRecord) -> None:
        if record.message_id in failed_ids:
            raise RetryLater(record.message_id)

    # Powertools builds the partial batch response; an all-failed batch is reported item
    # by item rather than raised, so it counts as failures, not as a function error.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)
