"""Asynchronous invocations (SNS, EventBridge, alarm actions, direct generic alerts):
Lambda retries an invocation that fails, so a transient failure raises and a permanent
one is dead-lettered by the policy while the invocation succeeds. After Lambda's own
retries the function's DLQ receives the original event (replay reads it too)."""

from __future__ import annotations

from typing import Any

from itom_forwarder.container import Container
from itom_forwarder.delivery import ASYNC_INVOKE, Fate, deliver
from itom_forwarder.inbound import read_records

__all__ = ["handle"]


def handle(container: Container, event: Any, context: Any) -> dict[str, Any]:
    outcomes = deliver(
        container,
        read_records(event),
        container.deadline(context),
        ASYNC_INVOKE,
        request_id=getattr(context, "aws_request_id", None),
    )
    for outcome in outcomes:
        if outcome.fate is Fate.RETRY_LATER and outcome.failure is not None:
            # Nothing of this was kept here, to avoid doubles: Lambda retries the event.
            raise outcome.failure
    return {
        "delivered": sum(len(outcome.records) for outcome in outcomes if outcome.fate is Fate.DELIVERED),
        "dead_lettered": sum(1 for outcome in outcomes if outcome.fate is Fate.DEAD_LETTERED),
        "superseded": sum(outcome.superseded for outcome in outcomes),
    }
