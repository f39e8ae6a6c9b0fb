"""Buffered mode (SNS -> SQS -> Lambda): a batch of SQS messages in as few POSTs as the
per-request cap allows, with partial batch failures so only the failed messages return.

Per message: delivered -> done; permanent failure -> dead-lettered by the policy, done
(a POST refused for one record's sake is split by the policy, so only that record's
message is dead-lettered); transient failure, or a dead letter that could not be written
-> reported in `batchItemFailures`, so SQS makes it visible again and, after the queue's
maxReceiveCount, its redrive policy moves it to the dead-letter queue. The invocation
itself does not fail for one message: that would make SQS deliver the whole batch again,
the messages already delivered included.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from itom_forwarder.container import Container
from itom_forwarder.delivery import SQS_BATCH, Fate, deliver
from itom_forwarder.inbound import read_records

__all__ = ["handle"]


class RetryLater(Exception):
    """Marks a message as failed in the batch response (SQS will deliver it again)."""


def handle(container: Container, event: Any, context: Any) -> dict[str, Any]:
    outcomes = deliver(
        container,
        read_records(event),
        container.deadline(context),
        SQS_BATCH,
        request_id=getattr(context, "aws_request_id", None),
    )
    failed_ids = {outcome.item.message_id for outcome in outcomes if outcome.fate is Fate.RETRY_LATER}

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
