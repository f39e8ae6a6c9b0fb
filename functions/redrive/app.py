"""The redrive Lambda: an operator invokes it to replay the dead-letter queue.

    aws lambda invoke --function-name <stack>-redrive --payload '{"dry_run": true}' out.json

Event: {"action": "replay", "dry_run": bool (default false), "max_messages": int (default 100)}.
Returns the replay report: counts and one outcome per message (itom_forwarder/triggers/redrive.py).
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from itom_forwarder import triggers
from itom_forwarder.redaction import RedactingFormatter
from itom_forwarder.triggers import redrive as redrive_trigger

logger = Logger(logger_formatter=RedactingFormatter())
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "ItomForwarder")


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return triggers.handle(event, context, redrive_trigger.handle)
