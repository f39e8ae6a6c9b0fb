"""Replay the dead-letter queue once the cause is fixed (the redrive Lambda's trigger).

Reads the DLQ's messages and hands each one's items to the delivery policy, as every
other trigger does: delivered messages are deleted; a message that fails again is put
back by the policy with its updated reason (first failure time and attempts kept) and the
old copy deleted; a message that fails again and cannot be put back (the queue refused the
write) is left as it was; what cannot be read is left untouched. A dry run maps and
reports what would be sent, sends nothing and changes nothing.

It understands what can be in the queue:
  - the forwarder's own dead-letter messages (dead_letters.py reads them),
  - Lambda's DLQ messages after its asynchronous retries: the attributes RequestID,
    ErrorCode and ErrorMessage, and a body that is the original event (an SNS event, an
    EventBridge event, an alarm action, or an alert the forwarder takes directly),
  - EventBridge's DLQ messages after a rule target's retries: the attributes RULE_ARN,
    TARGET_ARN and ERROR_CODE, and a body that is the event,
  - OnFailure destination records (`requestContext` + `requestPayload`, the original event),
  - SNS notifications redriven from the buffered mode's queue (`Type: Notification`).
Anything else (`{}`, a bare string, an event of no known shape) is unreadable: reported,
and left in the queue untouched, never sent to ServiceNow as a made-up alert.

Each message is received with a visibility timeout covering the rest of the run, so a
run started meanwhile cannot receive (and replay) it too; what was only looked at (a dry
run, an unreadable message) is made visible again when the run ends. The run stops taking
messages when less than DEADLINE_MARGIN_SECONDS are left before its deadline.

Events:
  {"action": "replay", "dry_run": bool (default false), "max_messages": int (default 100)}
  {"action": "redrive", "max_messages": int}: the schedule's run after an outage: one
      authenticated request to the instance first, and the replay only when it answers.

The messages of a run are read first, then replayed oldest event first (SQS returns them
in no order), each through the delivery policy and so through the ordering guard: a
message all of whose events are older than what ServiceNow already has for their alerts
is superseded, deleted without being sent.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from itom_forwarder import formats
from itom_forwarder.api_routes import ROUTES
from itom_forwarder.container import Container
from itom_forwarder.dead_letters import DeadLetter, NotADeadLetter, Unreadable, decode
from itom_forwarder.delivery import (
    REPLAY_RETRY_DELAY_SECONDS,
    REPLAY_RUN_ATTRIBUTE,
    Fate,
    Outcome,
    deliver,
    earliest_source_time,
    replay_disposition,
)
from itom_forwarder.formats import Notification
from itom_forwarder.inbound import History, Inbound, epoch_ms, notification_from_sns_json, read_records, records_of

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import MessageTypeDef

__all__ = [
    "MAX_MESSAGES_LIMIT",
    "ReplayReport",
    "Replayer",
    "handle",
    "is_original_event",
    "read_message",
    "visibility_seconds",
]

logger = Logger(child=True)
metrics = Metrics()

MAX_MESSAGES_LIMIT = 10_000
# A run without a deadline (the command) stops after this long.
DEFAULT_RUN_SECONDS = 600.0
# Stop taking messages this long before the deadline, to finish the message at hand cleanly.
DEADLINE_MARGIN_SECONDS = 5.0
# A message's delivery ends this long before the run's deadline: the time to put it back
# (failed again) and to delete the old copy, so the run never ends past its deadline.
FINISH_SECONDS = 1.0
# A received message stays invisible for the rest of the run plus this much (so that it
# cannot reappear while the run still works on it), at most SQS's 12 hours.
VISIBILITY_MARGIN_SECONDS = 60
MAX_VISIBILITY_SECONDS = 12 * 60 * 60
# What Lambda writes on every message it puts in a function's DLQ.
LAMBDA_DLQ_ATTRIBUTES = ("RequestID", "ErrorCode", "ErrorMessage")
# What EventBridge writes on every event a rule target's retries could not deliver (with
# ERROR_MESSAGE, EXHAUSTED_RETRY_CONDITION and RETRY_ATTEMPTS).
EVENTBRIDGE_DLQ_ATTRIBUTES = ("RULE_ARN", "TARGET_ARN", "ERROR_CODE")
EVENTBRIDGE_KEYS = frozenset({"detail-type", "source", "detail"})
ORIGINAL_EVENTS = "an SNS event, an EventBridge event, an alarm action or an alert the forwarder takes"


@dataclass(frozen=True)
class Message:
    """One DLQ message, read: its kind and the items to deliver."""

    kind: str  # forwarder | lambda-dlq | eventbridge-dlq | on-failure | sns-notification
    items: list[Inbound]


def _with_history(items: list[Inbound], history: History, received_at_ms: int | None) -> list[Inbound]:
    """The items with what they went through, and when they first arrived (an SQS
    record's own SentTimestamp where it has one) for the ordering guard."""
    return [item._replace(history=history, received_at_ms=item.received_at_ms or received_at_ms) for item in items]


def _sent_ms(message: Mapping[str, Any]) -> int | None:
    return epoch_ms((message.get("Attributes") or {}).get("SentTimestamp"))


def _sent_at(message: Mapping[str, Any]) -> str | None:
    sent = (message.get("Attributes") or {}).get("SentTimestamp")
    if not sent:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(int(sent) / 1000))


def is_original_event(event: object) -> bool:
    """An event the forwarder takes when Lambda invokes it with it: an SNS event, an
    EventBridge event, a CloudWatch alarm action, or an alert in a format it knows."""
    if records_of(event, "EventSource", "aws:sns") is not None:
        return True
    if isinstance(event, Mapping) and event.keys() >= EVENTBRIDGE_KEYS:
        return True
    return bool(event) and any(matches(event) for _, matches, _ in formats.FORMATS)


def _forwarder_items(letter: DeadLetter) -> list[Inbound]:
    payload = letter.payload
    history = History(letter.attempts, letter.first_failure_at)
    if letter.source == "api":
        api = payload.get("api") if isinstance(payload, Mapping) else None
        route = str(api.get("path")) if isinstance(api, Mapping) else ""
        if route not in ROUTES:
            raise Unreadable(f"an API request for an unknown route {route!r}")
        body = payload.get("body") if isinstance(payload, Mapping) else None
        if not isinstance(body, str):
            raise Unreadable("an API request without its body text")
        notification = Notification(message=body, message_id=letter.request_id, origin="api")
        return [
            Inbound(payload, notification, "api", route=route, history=history, received_at_ms=letter.received_at_ms)
        ]
    if letter.source in ("sns", "sqs") and isinstance(payload, Mapping):
        return _with_history(read_records({"Records": [payload]}), history, letter.received_at_ms)
    if letter.source == "direct" and payload is not None:
        # The whole event the function was invoked with, whatever it was (the forwarder
        # keeps even a list or a text as one direct item).
        return _with_history(read_records(payload), history, letter.received_at_ms)
    raise Unreadable(f"a dead-letter message from {letter.source!r} without its event")


def _on_failure(message: Mapping[str, Any], body: Mapping[str, Any]) -> Message:
    payload = body.get("requestPayload")
    if not is_original_event(payload):
        raise Unreadable(f"an OnFailure record whose requestPayload is not {ORIGINAL_EVENTS}")
    invoke_count = body["requestContext"].get("approximateInvokeCount")
    attempts = invoke_count if isinstance(invoke_count, int) and not isinstance(invoke_count, bool) else 0
    timestamp = body.get("timestamp")
    history = History(max(attempts, 0), timestamp if isinstance(timestamp, str) else None)
    return Message("on-failure", _with_history(read_records(payload), history, _sent_ms(message)))


def _sns_notification(message: Mapping[str, Any]) -> Message:
    record = {"eventSource": "aws:sqs", "messageId": message.get("MessageId"), "body": message["Body"]}
    notification = notification_from_sns_json(message["Body"], message.get("MessageId"))
    item = Inbound(record, notification, "sqs", history=History(0, _sent_at(message)), received_at_ms=_sent_ms(message))
    return Message("sns-notification", [item])


def _eventbridge_dlq(message: Mapping[str, Any], body: object) -> Message:
    """EventBridge's DLQ message: the event a rule could not deliver, as the body."""
    if not (isinstance(body, Mapping) and body.keys() >= EVENTBRIDGE_KEYS):
        raise Unreadable("an EventBridge DLQ message whose body is not an EventBridge event")
    attempts = (message.get("MessageAttributes") or {}).get("RETRY_ATTEMPTS") or {}
    tried = str(attempts.get("StringValue") or "") if isinstance(attempts, Mapping) else ""
    history = History(int(tried) if tried.isdigit() else 0, _sent_at(message))
    return Message("eventbridge-dlq", _with_history(read_records(body), history, _sent_ms(message)))


def _lambda_dlq(message: Mapping[str, Any], body: object) -> Message:
    """Lambda's own DLQ message: its attributes, and the original event as the body."""
    attributes: Mapping[str, Any] = message.get("MessageAttributes") or {}
    if all(name in attributes for name in EVENTBRIDGE_DLQ_ATTRIBUTES):
        return _eventbridge_dlq(message, body)
    if not all(name in attributes for name in LAMBDA_DLQ_ATTRIBUTES):
        raise Unreadable(
            "not a message the replay reads: no dead letter of the forwarder, OnFailure record or SNS"
            " notification, and not a Lambda DLQ message (no RequestID, ErrorCode and ErrorMessage attributes)"
        )
    if not is_original_event(body):
        raise Unreadable(f"a Lambda DLQ message whose body is not {ORIGINAL_EVENTS}")
    history = History(0, _sent_at(message))
    return Message("lambda-dlq", _with_history(read_records(body), history, _sent_ms(message)))


def read_message(message: Mapping[str, Any]) -> Message:
    """The items of one DLQ message, whatever wrote it; raises Unreadable."""
    try:
        body = json.loads(message.get("Body") or "")
    except RecursionError:
        raise Unreadable("the body is nested too deeply to read") from None
    except ValueError:
        raise Unreadable("the body is not JSON") from None
    if isinstance(body, dict):
        try:
            return Message("forwarder", _forwarder_items(decode(body)))
        except NotADeadLetter:
            pass
        if isinstance(body.get("requestContext"), dict) and "requestPayload" in body:
            return _on_failure(message, body)
        if body.get("Type") == "Notification" and "Message" in body:
            return _sns_notification(message)
    return _lambda_dlq(message, body)


@dataclass
class MessageOutcome:
    message_id: str
    kind: str
    # delivered | failed-again | left-in-queue | would-send | would-fail | unreadable
    result: str
    records: int = 0
    reason: str | None = None
    message_keys: list[str] = field(default_factory=list)
    superseded: int = 0  # events not sent: a newer one of their alert was accepted


@dataclass
class ReplayReport:
    dry_run: bool
    received: int = 0
    delivered: int = 0
    failed_again: int = 0
    # Failed again and could not be put back (the queue refused the write), or the replay
    # itself failed: the original message stays in the queue, as it was.
    left_in_queue: int = 0
    would_send: int = 0
    would_fail: int = 0
    unreadable: int = 0
    # Every event older than one already accepted for its alert: deleted, never sent.
    superseded: int = 0
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
    unkept = next((outcome.reason for outcome in outcomes if outcome.fate is Fate.RETRY_LATER), None)
    failed = unkept or next((outcome.reason for outcome in outcomes if outcome.reason is not None), None)
    superseded = sum(outcome.superseded for outcome in outcomes)
    if dry_run:
        result = "would-fail" if failed else "would-send"
    elif unkept is not None:
        result = "left-in-queue"
    elif failed:
        result = "failed-again"
    elif outcomes and all(outcome.fate is Fate.SUPERSEDED for outcome in outcomes):
        result = "superseded"  # older than what ServiceNow has: removed, never sent
    else:
        result = "delivered"
    return MessageOutcome(message_id, kind, result, records, str(failed) if failed else None, keys, superseded)


def visibility_seconds(deadline: float) -> int:
    """How long a message received now must stay invisible: the rest of the run and a
    margin, so no other run receives it meanwhile (at most SQS's 12 hours)."""
    remaining = max(0.0, deadline - time.monotonic())
    return min(MAX_VISIBILITY_SECONDS, math.ceil(remaining) + VISIBILITY_MARGIN_SECONDS)


@dataclass
class _RunOptions:
    dry_run: bool
    deadline: float
    seen: set[str] = field(default_factory=set)  # message ids taken in this run


class Replayer:
    def __init__(self, container: Container, *, retry_delay_seconds: int = REPLAY_RETRY_DELAY_SECONDS) -> None:
        self._container = container
        self._queue = container.dead_letters
        self._disposition = replay_disposition(uuid.uuid4().hex, retry_delay_seconds)
        self._run_id = self._disposition.dead_letter_attributes[REPLAY_RUN_ATTRIBUTE]

    def _read(self, message: MessageTypeDef) -> Message | MessageOutcome:
        message_id = str(message.get("MessageId"))
        try:
            return read_message(message)
        except Unreadable as problem:
            return MessageOutcome(message_id, "unknown", "unreadable", reason=str(problem))
        except Exception as error:  # a message no rule foresaw: this one is left, the run goes on
            logger.exception(
                "Replay could not read a message: left in the queue",
                extra={"message_id": message_id, "error": type(error).__name__},
            )
            reason = f"could not be read: {type(error).__name__}"
            return MessageOutcome(message_id, "unknown", "unreadable", reason=reason)

    def _replay_one(self, message: MessageTypeDef, read: Message, dry_run: bool, deadline: float) -> MessageOutcome:
        message_id = str(message.get("MessageId"))
        try:
            # One message at a time, so that success (and the delete) is per message; one
            # owner for the whole run, so its own earlier claims never hold a message back.
            outcomes = deliver(
                self._container, read.items, deadline, self._disposition, dry_run=dry_run, owner=self._run_id
            )
        except Exception as error:  # a bug: this message stays as it was, the run goes on
            logger.exception(
                "Replay of a message failed: left in the queue",
                extra={"message_id": message_id, "error": type(error).__name__},
            )
            reason = f"the replay failed: {type(error).__name__}"
            return MessageOutcome(message_id, read.kind, "would-fail" if dry_run else "left-in-queue", reason=reason)
        return _message_outcome(message_id, read.kind, outcomes, dry_run)

    def _finish(self, message: MessageTypeDef, outcome: MessageOutcome) -> bool:
        """Delete a message that is done with; True when it is to be made visible again."""
        if outcome.result not in ("delivered", "failed-again", "superseded"):
            return True
        try:
            # Only now: a new copy (failed again) was written before this delete.
            self._queue.delete(message["ReceiptHandle"])
        except Exception as error:  # it reappears after its visibility timeout: replayed again, not lost
            logger.warning(
                "A replayed message could not be deleted",
                extra={"message_id": message.get("MessageId"), "error": type(error).__name__},
            )
        return False

    def _gather(self, max_messages: int, options: _RunOptions, held: list[str]) -> list[MessageTypeDef]:
        """Receive up to `max_messages` messages to replay (each invisible for the rest of
        the run); what was already seen, or put back by this run, is held."""
        taken: list[MessageTypeDef] = []
        while len(taken) < max_messages and time.monotonic() < options.deadline - DEADLINE_MARGIN_SECONDS:
            batch = self._queue.receive(min(10, max_messages - len(taken)), visibility_seconds(options.deadline))
            if not batch:
                break
            for message in batch:
                attributes: Mapping[str, Any] = message.get("MessageAttributes") or {}
                run = (attributes.get(REPLAY_RUN_ATTRIBUTE) or {}).get("StringValue")
                if message["MessageId"] in options.seen or run == self._run_id:
                    held.append(message["ReceiptHandle"])  # not again
                    continue
                options.seen.add(message["MessageId"])
                taken.append(message)
        return taken

    def _in_source_order(self, messages: list[MessageTypeDef]) -> list[tuple[MessageTypeDef, Message | MessageOutcome]]:
        """The messages read, oldest event first (SQS returns them in no order): of the
        events of one alert the newest is replayed last, so it is what ServiceNow keeps."""
        read = [(message, self._read(message)) for message in messages]

        def oldest(entry: tuple[MessageTypeDef, Message | MessageOutcome]) -> int:
            message = entry[1]
            if isinstance(message, MessageOutcome):
                return 0  # unreadable: reported first, sent nowhere
            return earliest_source_time(self._container, message.items) or 0

        return sorted(read, key=oldest)  # stable: equal times keep the order received

    def _take(self, messages: list[MessageTypeDef], report: ReplayReport, options: _RunOptions) -> list[str]:
        """Replay the messages in source order; the receipt handles to make visible again."""
        held: list[str] = []
        for message, read in self._in_source_order(messages):
            if time.monotonic() >= options.deadline - DEADLINE_MARGIN_SECONDS:
                held.append(message["ReceiptHandle"])  # not now: the next run
                continue
            report.received += 1
            if isinstance(read, MessageOutcome):
                outcome = read
            else:
                outcome = self._replay_one(message, read, options.dry_run, options.deadline - FINISH_SECONDS)
            report.count(outcome)
            if self._finish(message, outcome):
                held.append(message["ReceiptHandle"])
        return held

    def _release(self, held: list[str]) -> None:
        for receipt in held:  # leave what was only looked at as it was
            try:
                self._queue.release(receipt)
            except Exception as error:  # visible again at the end of its visibility timeout anyway
                logger.warning("A message could not be made visible again", extra={"error": type(error).__name__})

    def run(self, *, dry_run: bool = False, max_messages: int = 100, deadline: float | None = None) -> ReplayReport:
        """Replay up to `max_messages` messages, read first and then sent in source order,
        taking none when less than DEADLINE_MARGIN_SECONDS are left before `deadline` (a
        time.monotonic() value); every message's delivery is given the run's deadline, less
        the FINISH_SECONDS its put-back and delete take."""
        report = ReplayReport(dry_run=dry_run)
        options = _RunOptions(dry_run, deadline if deadline is not None else time.monotonic() + DEFAULT_RUN_SECONDS)
        held: list[str] = []
        try:
            messages = self._gather(max_messages, options, held)
            held.extend(self._take(messages, report, options))
        finally:
            self._release(held)
        logger.info("Replay finished", extra={k: v for k, v in report.as_dict().items() if k != "outcomes"})
        return report


USAGE = 'send {"action": "replay" | "redrive", "dry_run": true|false, "max_messages": n}'


def _replay(container: Container, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    dry_run = event.get("dry_run", False)
    max_messages = event.get("max_messages", 100)
    valid_count = isinstance(max_messages, int) and not isinstance(max_messages, bool)
    if not isinstance(dry_run, bool) or not valid_count or not 0 < max_messages <= MAX_MESSAGES_LIMIT:
        return {"error": f"dry_run must be true or false and max_messages a number from 1 to {MAX_MESSAGES_LIMIT}"}
    report = Replayer(container).run(dry_run=dry_run, max_messages=max_messages, deadline=container.deadline(context))
    metrics.add_metric(name="ReplayDelivered", unit=MetricUnit.Count, value=report.delivered)
    metrics.add_metric(name="ReplayFailedAgain", unit=MetricUnit.Count, value=report.failed_again)
    if report.superseded:
        metrics.add_metric(name="ReplaySuperseded", unit=MetricUnit.Count, value=report.superseded)
    return report.as_dict()


def _redrive(container: Container, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """The schedule's run: replay only when the instance answers (an outage keeps the
    queue as it is, at the cost of one request)."""
    from itom_forwarder.triggers.check import instance_answers

    metrics.add_metric(name="RedriveRuns", unit=MetricUnit.Count, value=1)
    step = instance_answers(container, container.deadline(context))
    if not step.ok:
        logger.info("Redrive skipped: the instance does not answer", extra={"detail": step.detail})
        metrics.add_metric(name="RedriveSkipped", unit=MetricUnit.Count, value=1)
        return {"action": "redrive", "instance": asdict(step), "replay": None}
    return {"action": "redrive", "instance": asdict(step), "replay": _replay(container, event, context)}


def handle(container: Container, event: Any, context: Any) -> dict[str, Any]:
    action = event.get("action", "replay") if isinstance(event, dict) else None
    if action == "redrive":
        return _redrive(container, event, context)
    metrics.add_metric(name="ReplayRequests", unit=MetricUnit.Count, value=1)
    if action != "replay":
        return {"error": f"unknown action: {USAGE}"}
    return _replay(container, event, context)
