"""Replay the dead-letter queue once the cause is fixed.

Reads every message in the DLQ and re-delivers it through the same mapping and client:
delivered messages are deleted; a message that fails again is put back with its updated
reason (first failure time and attempts kept) and the old copy deleted; what cannot be
read is left untouched. A dry run maps and reports what would be sent, sends nothing and
changes nothing.

It understands what can be in the queue:
  - the forwarder's own dead-letter messages (`kind: itom-forwarder.dead-letter`),
  - Lambda's DLQ messages after its asynchronous retries (the body is the original event),
  - OnFailure destination records (`requestContext` + `requestPayload`),
  - SNS notifications redriven from the buffered mode's queue (`Type: Notification`).

Run it as the redrive Lambda (functions/redrive) or as a command:
    python -m itom_forwarder.replay [--dry-run] [--max-messages N]
with SERVICENOW_SECRET_ID and DLQ_URL (and AWS credentials) in the environment.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from itom_forwarder import formats
from itom_forwarder.config import ConfigError, SecretUnavailable
from itom_forwarder.dlq import KIND
from itom_forwarder.event import InvalidPayload, ItomEvent
from itom_forwarder.formats import Notification, alertmanager, generic
from itom_forwarder.inbound import Inbound, notification_from_sns_json, read_event
from itom_forwarder.pipeline import reason_of
from itom_forwarder.runtime import Forwarder
from itom_forwarder.servicenow.errors import DeliveryFailure, FailureReason

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

logger = Logger(child=True)

RUN_ATTRIBUTE = "replay_run"
# A message that fails again is put back this much later, so one run does not meet it
# again (and the next run finds it).
RETRY_DELAY_SECONDS = 60
VISIBILITY_SECONDS = 120
API_MAPPERS = {"/alertmanager": alertmanager.to_events, "/events": generic.to_events}


class Unreadable(ValueError):
    """A message the replay does not understand: it stays in the queue untouched."""


@dataclass
class DeadLetter:
    """One DLQ message, read: what to deliver, and what to put back if it fails again."""

    kind: str  # forwarder | lambda-dlq | on-failure | sns-notification
    inbound: list[Inbound]
    attempts: int = 0
    first_failure_at: str | None = None
    api_route: str | None = None


def _payload_of(body: Mapping[str, Any]) -> Any:
    if "payload_gzip_base64" in body:
        return json.loads(gzip.decompress(base64.b64decode(body["payload_gzip_base64"])))
    return body.get("payload")


def _sent_at(message: Mapping[str, Any]) -> str | None:
    sent = message.get("Attributes", {}).get("SentTimestamp")
    if not sent:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(int(sent) / 1000))


def read_dead_letter(message: Mapping[str, Any]) -> DeadLetter:
    try:
        body = json.loads(message.get("Body") or "")
    except ValueError:
        raise Unreadable("the body is not JSON") from None
    if not isinstance(body, dict):
        raise Unreadable("the body is not a JSON object")
    if body.get("kind") == KIND:
        payload = _payload_of(body)
        source = body.get("source")
        attempts, first = int(body.get("attempts") or 0), body.get("first_failure_at")
        if source == "api":
            route = str(payload.get("api", {}).get("path")) if isinstance(payload, dict) else ""
            if route not in API_MAPPERS:
                raise Unreadable(f"an API request for an unknown route {route!r}")
            notification = Notification(message=str(payload.get("body") or ""), message_id=None)
            return DeadLetter("forwarder", [Inbound(payload, notification, "api")], attempts, first, route)
        if source in ("sns", "sqs"):
            return DeadLetter("forwarder", read_event({"Records": [payload]}), attempts, first)
        if source == "direct" and isinstance(payload, dict):
            return DeadLetter("forwarder", read_event(payload), attempts, first)
        raise Unreadable(f"a dead-letter message with an unknown source {source!r}")
    if isinstance(body.get("requestContext"), dict) and isinstance(body.get("requestPayload"), dict):
        attempts = int(body["requestContext"].get("approximateInvokeCount") or 0)
        return DeadLetter("on-failure", read_event(body["requestPayload"]), attempts, body.get("timestamp"))
    if body.get("Type") == "Notification" and "Message" in body:
        record = {"eventSource": "aws:sqs", "messageId": message.get("MessageId"), "body": message["Body"]}
        notification = notification_from_sns_json(message["Body"], message.get("MessageId"))
        return DeadLetter("sns-notification", [Inbound(record, notification, "sqs")], 0, _sent_at(message))
    # Lambda's own DLQ message: the original event, with RequestID/ErrorCode attributes.
    return DeadLetter("lambda-dlq", read_event(body), 0, _sent_at(message))


@dataclass
class Outcome:
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
    outcomes: list[Outcome] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Replayer:
    def __init__(
        self, forwarder: Forwarder, sqs_client: SQSClient | None = None, retry_delay_seconds: int = RETRY_DELAY_SECONDS
    ) -> None:
        self._forwarder = forwarder
        self._retry_delay_seconds = retry_delay_seconds
        self._queue_url = forwarder.settings.dlq_url
        self._sqs = sqs_client
        self._run_id = uuid.uuid4().hex

    def _client(self) -> SQSClient:
        if self._sqs is None:
            import boto3

            self._sqs = boto3.client("sqs")
        return self._sqs

    def _map(self, letter: DeadLetter) -> list[tuple[Inbound, str, list[ItomEvent]]]:
        mapping = self._forwarder.settings.mapping
        mapped = []
        for inbound in letter.inbound:
            if letter.api_route:
                payload = json.loads(inbound.notification.message)
                mapped.append((inbound, "generic" if letter.api_route == "/events" else "alertmanager",
                               API_MAPPERS[letter.api_route](payload, inbound.notification, mapping)))  # fmt: skip
            else:
                name, events = formats.to_events(inbound.notification, mapping)
                mapped.append((inbound, name, events))
        return mapped

    def _put_back(self, letter: DeadLetter, reason: FailureReason, attempts: int) -> None:
        for inbound in letter.inbound:
            self._forwarder.dead_letters.put(
                inbound.original,
                reason,
                source=inbound.source,
                attempts=letter.attempts + attempts,
                first_failure_at=letter.first_failure_at,
                secrets=self._forwarder.secret_values(),
                delay_seconds=self._retry_delay_seconds,
                extra_attributes={RUN_ATTRIBUTE: self._run_id},
            )

    def _replay_one(self, message: Mapping[str, Any], dry_run: bool, deadline: float) -> Outcome:
        message_id = str(message.get("MessageId"))
        try:
            letter = read_dead_letter(message)
        except Unreadable as problem:
            return Outcome(message_id, "unknown", "unreadable", reason=str(problem))
        try:
            mapped = self._map(letter)
        except (InvalidPayload, ValueError) as problem:
            reason = FailureReason("map", str(problem))
            if dry_run:
                return Outcome(message_id, letter.kind, "would-fail", reason=str(reason))
            self._put_back(letter, reason, 0)
            return Outcome(message_id, letter.kind, "failed-again", reason=str(reason))
        records = [event.to_record() for _, _, events in mapped for event in events]
        keys = [record.get("message_key", "") for record in records]
        if dry_run:
            return Outcome(message_id, letter.kind, "would-send", len(records), message_keys=keys)
        if records:
            try:
                self._forwarder.send(records, deadline)
            except (DeliveryFailure, ConfigError, SecretUnavailable) as failure:
                reason, attempts = reason_of(failure)
                self._put_back(letter, reason, attempts)
                return Outcome(message_id, letter.kind, "failed-again", len(records), str(reason), keys)
        return Outcome(message_id, letter.kind, "delivered", len(records), message_keys=keys)

    def run(self, *, dry_run: bool = False, max_messages: int = 100, deadline: float | None = None) -> ReplayReport:
        """Replay up to `max_messages` messages, stopping early when `deadline`
        (a time.monotonic() value) is near."""
        report = ReplayReport(dry_run=dry_run)
        end = deadline if deadline is not None else time.monotonic() + 600
        sqs = self._client()
        seen: set[str] = set()
        held: list[str] = []  # receipt handles to make visible again after a dry run
        while report.received < max_messages and time.monotonic() < end - 5:
            batch = sqs.receive_message(
                QueueUrl=self._queue_url,
                MaxNumberOfMessages=min(10, max_messages - report.received),
                VisibilityTimeout=VISIBILITY_SECONDS,
                MessageAttributeNames=["All"],
                AttributeNames=["All"],
            ).get("Messages", [])
            if not batch:
                break
            for message in batch:
                attributes: Mapping[str, Any] = message.get("MessageAttributes") or {}
                run = (attributes.get(RUN_ATTRIBUTE) or {}).get("StringValue")
                if message["MessageId"] in seen or run == self._run_id:
                    held.append(message["ReceiptHandle"])
                    continue
                seen.add(message["MessageId"])
                report.received += 1
                outcome = self._replay_one(message, dry_run, end)
                report.outcomes.append(outcome)
                if outcome.result == "delivered":
                    report.delivered += 1
                elif outcome.result == "failed-again":
                    report.failed_again += 1
                elif outcome.result == "would-send":
                    report.would_send += 1
                elif outcome.result == "would-fail":
                    report.would_fail += 1
                else:
                    report.unreadable += 1
                if outcome.result in ("delivered", "failed-again"):
                    # Only now: a new copy (failed again) was written before this delete.
                    sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])
                else:
                    held.append(message["ReceiptHandle"])
        for handle in held:  # leave what was only looked at as it was
            sqs.change_message_visibility(QueueUrl=self._queue_url, ReceiptHandle=handle, VisibilityTimeout=0)
        logger.info(
            "Replay finished",
            extra={k: v for k, v in report.as_dict().items() if k != "outcomes"},
        )
        return report


def main(argv: list[str] | None = None) -> int:
    from itom_forwarder.runtime import current_forwarder

    parser = argparse.ArgumentParser(
        prog="python -m itom_forwarder.replay", description="Replay the dead-letter queue."
    )
    parser.add_argument("--dry-run", action="store_true", help="show what would be sent; send and change nothing")
    parser.add_argument("--max-messages", type=int, default=100)
    args = parser.parse_args(argv)
    report = Replayer(current_forwarder()).run(dry_run=args.dry_run, max_messages=args.max_messages)
    print(json.dumps(report.as_dict(), indent=2))
    return 1 if report.failed_again else 0


if __name__ == "__main__":
    raise SystemExit(main())
