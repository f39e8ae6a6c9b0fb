"""The redrive Lambda: an operator invokes it to replay the dead-letter queue.

    aws lambda invoke --function-name <stack>-redrive --payload '{"dry_run": true}' out.json

Event: {"action": "replay", "dry_run": bool (default false), "max_messages": int (default 100)}.
Returns the replay report: counts and one outcome per message.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from itom_forwarder.replay import Replayer
from itom_forwarder.runtime import current_forwarder

logger = Logger()
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "ItomForwarder")
MAX_MESSAGES_LIMIT = 10_000


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    metrics.add_metric(name="ReplayRequests", unit=MetricUnit.Count, value=1)
    action = event.get("action", "replay") if isinstance(event, dict) else None
    if action != "replay":
        return {"error": 'unknown action: send {"action": "replay", "dry_run": true|false, "max_messages": n}'}
    dry_run = event.get("dry_run", False)
    max_messages = event.get("max_messages", 100)
    if not isinstance(dry_run, bool) or not isinstance(max_messages, int) or not 0 < max_messages <= MAX_MESSAGES_LIMIT:
        return {"error": f"dry_run must be true or false and max_messages a number from 1 to {MAX_MESSAGES_LIMIT}"}
    forwarder = current_forwarder()
    report = Replayer(forwarder).run(dry_run=dry_run, max_messages=max_messages, deadline=forwarder.deadline(context))
    metrics.add_metric(name="ReplayDelivered", unit=MetricUnit.Count, value=report.delivered)
    metrics.add_metric(name="ReplayFailedAgain", unit=MetricUnit.Count, value=report.failed_again)
    return report.as_dict()
