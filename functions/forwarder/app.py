"""Lambda entry point of the forwarder: one function for every trigger.

SNS, EventBridge and alarm actions, SQS batches of the buffered mode, API Gateway
requests and `{"action": "check"}` are each handled by their trigger
(itom_forwarder/triggers/), picked once by `route`; all of them deliver through the one
delivery policy and the same warm container state. Log lines, answers and errors pass the
one redaction step (itom_forwarder/redaction.py).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics

from itom_forwarder import triggers
from itom_forwarder.redaction import RedactingFormatter

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger(logger_formatter=RedactingFormatter())
# An explicit default: without a namespace Powertools would fail the flush.
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "ItomForwarder")


@metrics.log_metrics(capture_cold_start_metric=True)
# log_event=False whatever POWERTOOLS_LOGGER_LOG_EVENT says: an API event's headers hold the
# sender's credentials.
@logger.inject_lambda_context(clear_state=True, log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.set_correlation_id(triggers.correlation_id(event))
    return triggers.handle(event, context)
