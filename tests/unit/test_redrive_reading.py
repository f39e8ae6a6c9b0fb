"""What the replay reads as what, without a queue: which message bodies are Lambda's DLQ
messages (its attributes and an original event), and how long a received message is kept
from other runs."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from itom_forwarder.dead_letters import Unreadable
from itom_forwarder.triggers.redrive import (
    MAX_VISIBILITY_SECONDS,
    VISIBILITY_MARGIN_SECONDS,
    is_original_event,
    read_message,
    visibility_seconds,
)
from tests.samples import load

LAMBDA_DLQ = {name: {"DataType": "String", "StringValue": "x"} for name in ("RequestID", "ErrorCode", "ErrorMessage")}
ALERT = {"node": "db-1", "severity": "major", "message_key": "db-1/disk"}

ORIGINAL_EVENTS = {
    "sns-event": load("sns-cloudwatch-alarm.json"),
    "eventbridge-alarm": load("eventbridge-alarm-state-change.json"),
    "eventbridge-other": {"detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2", "detail": {}},
    "alarm-action": load("alarm-action.json"),
    "generic-alert": ALERT,
    "generic-alerts": [ALERT, ALERT],
    "generic-records": {"records": [ALERT]},
    "alertmanager": load("prometheus-msteams-alertmanager-webhook-v4-firing.json"),
}
NOT_EVENTS = {
    "empty-object": {},
    "empty-list": [],
    "records-not-a-list": {"Records": 5},
    "records-of-s3": {"Records": [{"eventSource": "aws:s3"}]},
    "sqs-batch": load("sqs-buffered-batch.json"),  # synchronous: never in Lambda's DLQ
    "a-string": "CPU high",
    "a-number": 5,
    "null": None,
    "unknown-keys": {"hello": "world"},
    "detail-type-alone": {"detail-type": "x"},
}


@pytest.mark.parametrize("event", ORIGINAL_EVENTS.values(), ids=ORIGINAL_EVENTS.keys())
def test_events_the_forwarder_takes(event: Any) -> None:
    assert is_original_event(event)


@pytest.mark.parametrize("event", NOT_EVENTS.values(), ids=NOT_EVENTS.keys())
def test_what_is_no_event_of_the_forwarder(event: Any) -> None:
    assert not is_original_event(event)


def message(body: Any, attributes: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"MessageId": "m-1", "Body": json.dumps(body), "MessageAttributes": attributes or {}}


def test_a_lambda_dlq_message_needs_lambda_s_attributes_and_an_original_event() -> None:
    event = load("sns-cloudwatch-alarm.json")
    read = read_message(message(event, LAMBDA_DLQ))
    assert (read.kind, len(read.items)) == ("lambda-dlq", 1)
    with pytest.raises(Unreadable, match="RequestID, ErrorCode and ErrorMessage"):
        read_message(message(event))
    partial = {name: value for name, value in LAMBDA_DLQ.items() if name != "ErrorMessage"}
    with pytest.raises(Unreadable, match="RequestID, ErrorCode and ErrorMessage"):
        read_message(message(event, partial))
    with pytest.raises(Unreadable, match="whose body is not an SNS event"):
        read_message(message({"Records": 5}, LAMBDA_DLQ))


def test_a_direct_dead_letter_of_any_event_is_read() -> None:
    # The forwarder keeps a direct invocation of a list (or a text) as it came: it reads it back.
    body = {"kind": "itom-forwarder.dead-letter", "version": 1, "source": "direct", "payload": [ALERT]}
    read = read_message(message(body))
    assert (read.kind, read.items[0].original) == ("forwarder", [ALERT])


def test_a_message_is_kept_for_the_rest_of_the_run_and_a_margin() -> None:
    assert visibility_seconds(time.monotonic() + 100) in range(100, 101 + VISIBILITY_MARGIN_SECONDS + 1)
    assert visibility_seconds(time.monotonic() - 5) == VISIBILITY_MARGIN_SECONDS  # past the deadline: the margin
    assert visibility_seconds(time.monotonic() + 30 * 3600) == MAX_VISIBILITY_SECONDS == 43_200
