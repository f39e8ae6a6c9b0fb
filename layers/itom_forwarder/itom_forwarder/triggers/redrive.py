"""Replay the dead-letter queue once the cause is fixed (the redrive Lambda's trigger).

Reads the DLQ's messages and hands each one's items to the delivery policy, as every
other trigger does: delivered messages are deleted; a message that fails again is put
back by the policy with its updated reason (first failure time and attempts kept) and the
old copy deleted; what cannot be read is left untouched. A dry run maps and reports what
would be sent, sends nothing and changes nothing.

It understands what can be in the queue:
  - the forwarder's own dead-letter messages (dead_letters.py reads them),
  - Lambda's DLQ messages after its asynchronous retries (the body is the original event),
  - OnFailure destination records (`requestContext` + `requestPayload`),
  - SNS notifications redriven from the buffered mode's queue (`Type: Notification`).

Event: {"action": "replay", "dry_run": bool (default false), "max_messages": int (default 100)}.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from itom_forwarder.api_routes import ROUTES
from itom_forwarder.container import Container
from itom_forwarder.dead_letters import DeadLetter, NotADeadLetter, Unreadable, decode
from itom_forwarder.delivery import (
    REPLAY_RETRY_DELAY_SECONDS,
    REPLAY_RUN_ATTRIBUTE,
    Outcome,
    deliver,
    replay_disposition,
)
from itom_forwarder.formats import Notification
from itom_forwarder.inbound import History, Inbound, notification_from_sns_json, read_records

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import MessageTypeDef

__all__ = ["MAX_MESSAGES_LIMIT", "ReplayReport", "Replayer", "handle", "read_message"]

logger = Logger(child=True)
metrics = Metrics()

VISIBILITY_SECONDS = 120
MAX_MESSAGES_LIMIT = 10_000
# Stop receiving this long before the deadline, to finish the message at hand cleanly.
DEADLINE_MARGIN_SECONDS = 5.0


@dataclass(frozen=True)
class Message:
    """One DLQ message, read: its kind and the items to deliver."""

    kind: str  # forwarder | lambda-dlq | on-failure | sns-notification
    items: list[Inbound]


def _with_history(items: list[Inbound], history: History) -> list[Inbound]:
    return [replace(item, history=history) for item in items]


def _sent_at(message: Mapping[str, Any]) -> str | None:
    sent = message.get("Attributes", {}).get("SentTimestamp")
    if not sent:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(int(sent) / 1000))


def _forwarder_items(letter: DeadLetter) -> list[Inbound]:
    payload = letter.payload
    history = History(letter.attempts, letter.first_failure_at)
    if letter.source == "api":
        api = payload.get("api") if isinstance(payload, Mapping) else None
        route = str(api.get("path")) if isinstance(api, Mapping) else ""
        if route not in ROUTES:
            raise Unreadable(f"an API request for an unknown route {route!r}")
        body = payload.get("body") if isinstance(payload, Mapping) else None
        notification = Notification(message=str(body or ""), message_id=letter.request_id, origin="api")
        return [Inbound(payload, notification, "api", route=route, history=history)]
    if letter.source in ("sns", "sqs"):
        return _with_history(read_records({"Records": [payload]}), history)
    if letter.source == "direct" and isinstance(payload, dict):
        return _with_history(read_records(payload), history)
    raise Unreadable(f"a dead-letter message from {letter.source!r} without its event")


def read_message(message: Mapping[str, Any]) -> Message:
    """The items of one DLQ message, whatever wrote it; raises Unreadable."""
    try:
        body = json.loads(message.get("Body") or "")
    except (ValueError, RecursionError):
        raise Unreadable("the body is not JSON") from None
    if not isinstance(body, dict):
        raise Unreadable("the body is not a JSON object")
    try:
        return Message("forwarder", _forwarder_items(decode(body)))
    except NotADeadLetter:
        pass
    if isinstance(body.get("requestContext"), dict) and isinstance(body.get("requestPayload"), dict):
        invoke_count = body["requestContext"].get("approximateInvokeCount")
        attempts = invoke_count if isinstance(invoke_count, int) else 0
        history = History(attempts, body.get("timestamp") if isinstance(body.get("timestamp"), str) else None)
        return Message("on-failure", _with_history(read_records(body["requestPayload"]), history))
    if body.get("Type") == "Notification" and "Message" in body:
        record = {"eventSource": "aws:sqs", "messageId": message.get("MessageId"), "body": message["Body"]}
        notification = notification_from_sns_json(message["Body"], message.get("MessageId"))
        item = Inbound(record, notification, "sqs", history=History(0, _sent_at(message)))
        return Message("sns-notification", [item])
    # Lambda's own DLQ message: the original event, with RequestID/ErrorCode attributes.
    return Message("lambda-dlq", _with_history(read_records(body), History(0, _sent_at(message))))


@dataclass
class MessageOutcome:
    message_id: str
    kind: str
    result: str  # delivered | failed-again | would-send | would-fail | unreadable
    records: int = 0
    reason: str | None = None
    message_keys: list[str] = field(default_factory=list)


@dataclass
class ReplayReport:
    dry_run: bool
    received: int = 0
    delivered: int = 0
    failed_again: int = 0
    would_send: int = 0
    would_fail: int = 0
    unreadable: int = 0
    outcomes: list[MessageOutcome] = field(default_factory=list)

    def count(self, outcome: MessageOutcome) -> None:
        self.outcomes.append(outcome)
        attribute = outcome.result.replace("-", "_")
        setattr(self, attribute, getattr(self, attribute) + 1)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _message_outcome(message_id: str, kind: str, outcomes: list[Outcome], dry_run: bool) -> MessageOutcome:
    """One message's result, from its items' outcomes."""
    records = sum(len(outcome.records) for outcome in outcomes)
    keys = [key for outcome in outcomes for key in outcome.message_keys]
    failed = next((outcome.reason for outcome in outcomes if outcome.reason is not None), None)
    results = ("would-send", "would-fail") if dry_run else ("delivered", "failed-again")
    result = results[failed is not None]
    return MessageOutcome(message_id, kind, result, records, str(failed) if failed else None, keys)


class Replayer:
    def __init__(self, container: Container, *, retry_delay_seconds: int = REPLAY_RETRY_DELAY_SECONDS) -> None:
        self._container = container
        self._queue = container.dead_letters
        self._disposition = replay_disposition(uuid.uuid4().hex, retry_delay_seconds)
        self._run_id = self._disposition.dead_letter_attributes[REPLAY_RUN_ATTRIBUTE]

    def _replay_one(self, message: MessageTypeDef, dry_run: bool, deadline: float) -> MessageOutcome:
        message_id = str(message.get("MessageId"))
        try:
            read = read_message(message)
        except Unreadable as problem:
            return MessageOutcome(message_id, "unknown", "unreadable", reason=str(problem))
        # One message at a time, so that success (and the delete) is per message.
        outcomes = deliver(self._container, read.items, deadline, self._disposition, dry_run=dry_run)
        return _message_outcome(message_id, read.kind, outcomes, dry_run)

    def run(self, *, dry_run: bool = False, max_messages: int = 100, deadline: float | None = None) -> ReplayReport:
        """Replay up to `max_messages` messages, stopping early when `deadline`
        (a time.monotonic() value) is near."""
        report = ReplayReport(dry_run=dry_run)
        end = deadline if deadline is not None else time.monotonic() + 600
        seen: set[str] = set()
        held: list[str] = []  # receipt handles to make visible again
        while report.received < max_messages and time.monotonic() < end - DEADLINE_MARGIN_SECONDS:
            batch = self._queue.receive(min(10, max_messages - report.received), VISIBILITY_SECONDS)
            if not batch:
                break
            for message in batch:
                attributes: Mapping[str, Any] = message.get("MessageAttributes") or {}
                run = (attributes.get(REPLAY_RUN_ATTRIBUTE) or {}).get("StringValue")
                if message["MessageId"] in seen or run == self._run_id:
                    held.append(message["ReceiptHandle"])
                    continue
                seen.add(message["MessageId"])
                report.received += 1
                outcome = self._replay_one(message, dry_run, end)
                report.count(outcome)
                if outcome.result in ("delivered", "failed-again"):
                    # Only now: a new copy (failed again) was written before this delete.
                    self._queue.delete(message["ReceiptHandle"])
                else:
                    held.append(message["ReceiptHandle"])
        for handle in held:  # leave what was only looked at as it was
            self._queue.release(handle)
        logger.info("Replay finished", extra={k: v for k, v in report.as_dict().items() if k != "outcomes"})
        return report


def handle(container: Container, event: Any, context: Any) -> dict[str, Any]:
    metrics.add_metric(name="ReplayRequests", unit=MetricUnit.Count, value=1)
    action = event.get("action", "replay") if isinstance(event, dict) else None
    if action != "replay":
        return {"error": 'unknown action: send {"action": "replay", "dry_run": true|false, "max_messages": n}'}
    dry_run = event.get("dry_run", False)
    max_messages = event.get("max_messages", 100)
    valid_count = isinstance(max_messages, int) and not isinstance(max_messages, bool)
    if not isinstance(dry_run, bool) or not valid_count or not 0 < max_messages <= MAX_MESSAGES_LIMIT:
        return {"error": f"dry_run must be true or false and max_messages a number from 1 to {MAX_MESSAGES_LIMIT}"}
    report = Replayer(container).run(dry_run=dry_run, max_messages=max_messages, deadline=container.deadline(context))
    metrics.add_metric(name="ReplayDelivered", unit=MetricUnit.Count, value=report.delivered)
    metrics.add_metric(name="ReplayFailedAgain", unit=MetricUnit.Count, value=report.failed_again)
    return report.as_dict()
