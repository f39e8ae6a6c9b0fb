"""Lambda entry point: one function for every trigger.

SNS, EventBridge and direct alarm actions are asynchronous (notifications.py: raise on a
transient failure so Lambda retries); API Gateway requests get an HTTP answer at once
(api.py, loaded only when an API request arrives). Both parse, map, send one POST and
dead-letter through the same pipeline and the same warm container state.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from itom_forwarder import notifications
from itom_forwarder.inbound import is_api_gateway_event
from itom_forwarder.runtime import current_forwarder

logger = Logger()
# An explicit default: without a namespace Powertools would fail the flush.
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "ItomForwarder")


@metrics.log_metrics(capture_cold_start_metric=True)
@logger.inject_lambda_context(
    correlation_id_path="Records[0].Sns.MessageId || requestContext.requestId", clear_state=True
)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    forwarder = current_forwarder()
    request_id = getattr(context, "aws_request_id", None)
    if is_api_gateway_event(event):
        from itom_forwarder import api

        return api.handle(forwarder, event, context)
    return notifications.handle(forwarder, event, forwarder.deadline(context), request_id)
