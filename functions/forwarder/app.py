"""Lambda entry point: one function for every trigger.

SNS, EventBridge and direct alarm actions are asynchronous (notifications.py: raise on a
transient failure so Lambda retries); SQS batches of the buffered mode report partial
failures (sqs_batch.py); API Gateway requests get an HTTP answer at once (api.py);
`{"action": "check"}` runs the connector check (check.py). Each path's modules load only
when such an event arrives; all parse, map, send and dead-letter through the same
pipeline and the same warm container state.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from itom_forwarder import notifications
from itom_forwarder.inbound import is_api_gateway_event, is_sqs_event
from itom_forwarder.runtime import current_forwarder

logger = Logger()
# An explicit default: without a namespace Powertools would fail the flush.
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "ItomForwarder")


@metrics.log_metrics(capture_cold_start_metric=True)
@logger.inject_lambda_context(
    correlation_id_path="Records[0].Sns.MessageId || Records[0].messageId || requestContext.requestId", clear_state=True
)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    forwarder = current_forwarder()
    request_id = getattr(context, "aws_request_id", None)
    if is_api_gateway_event(event):
        from itom_forwarder import api

        return api.handle(forwarder, event, context)
    if isinstance(event, dict) and event.get("action") == "check":  # an operator's check, not an alert
        from itom_forwarder import check

        metrics.add_metric(name="ConnectorChecks", unit=MetricUnit.Count, value=1)
        report = check.run_check(
            forwarder, send_test_event=event.get("send_test_event") is True, deadline=forwarder.deadline(context)
        )
        return report.as_dict()
    if is_sqs_event(event):
        from itom_forwarder import sqs_batch

        return sqs_batch.handle(forwarder, event, context, forwarder.deadline(context))
    return notifications.handle(forwarder, event, forwarder.deadline(context), request_id)
