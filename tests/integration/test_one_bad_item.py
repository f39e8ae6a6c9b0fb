"""One bad item never takes the others down, on every trigger: a format that crashes on one
record makes that item invalid (step map, the exception's type named, logged with its
traceback), and the others go on; a refusal is isolated by splitting a POST only where it
carries several items (an SQS batch: test_sqs_batch.py), never inside one item (a generic
message of many records, the API's one request)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from itom_forwarder import formats
from itom_forwarder.api_routes import ROUTES
from local.stack import LocalStack
from tests.events import rest_event, sns_event
from tests.integration.test_sqs_batch import sqs_batch

EVENT_API = "/api/global/em/jsonv2"
CRASH = ("map", "could not be mapped: TypeError")


def _buggy(mapper: Any) -> Any:
    def buggy(payload: Any, notification: formats.Notification, options: formats.MappingOptions) -> Any:
        records = payload if isinstance(payload, list) else [payload]
        if any(isinstance(record, dict) and record.get("node") == "host-1" for record in records):
            return records[0]["node"] + 1  # the bug: str + int
        return mapper(payload, notification, options)

    return buggy


@pytest.fixture
def crashing_format(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug in the generic format (both where SNS and SQS messages and where the API's
    /events route map it): an alert of node host-1 makes it raise TypeError."""
    table = tuple(
        (name, matches, _buggy(mapper) if name == "generic" else mapper) for name, matches, mapper in formats.FORMATS
    )
    monkeypatch.setattr(formats, "FORMATS", table)
    route = ROUTES["/events"]
    monkeypatch.setitem(ROUTES, "/events", route._replace(to_events=_buggy(route.to_events)))


def reason_of(message: dict[str, Any]) -> tuple[str, str]:
    reason = json.loads(message["Body"])["reason"]
    return reason["step"], reason["message"]


def crash_logged(caplog: pytest.LogCaptureFixture) -> bool:
    """Logged as an error with the exception's traceback."""
    return any(
        record.getMessage().startswith("Mapping failed") and record.exc_info and record.exc_info[0] is TypeError
        for record in caplog.records
    )


@pytest.mark.usefixtures("crashing_format")
def test_in_a_batch_only_the_record_a_format_crashes_on_fails(
    stack: LocalStack, caplog: pytest.LogCaptureFixture
) -> None:
    assert stack.invoke(sqs_batch(3)) == {"batchItemFailures": []}
    assert sorted(event["message_key"] for event in stack.emulator.events) == ["buffered-0", "buffered-2"]
    [message] = stack.dead_letters()
    assert json.loads(message["Body"])["payload"]["messageId"] == "msg-1"
    assert reason_of(message) == CRASH
    assert crash_logged(caplog)


@pytest.mark.usefixtures("crashing_format")
def test_an_sns_alert_a_format_crashes_on_is_dead_lettered(stack: LocalStack, caplog: pytest.LogCaptureFixture) -> None:
    event = sns_event(json.dumps({"node": "host-1", "severity": "major", "message_key": "k"}))
    assert stack.invoke(event) == {"delivered": 0, "dead_lettered": 1, "superseded": 0}  # the invocation succeeds
    [message] = stack.dead_letters()
    assert reason_of(message) == CRASH
    assert crash_logged(caplog)


@pytest.mark.usefixtures("crashing_format")
def test_an_api_request_a_format_crashes_on_is_answered_as_invalid(stack: LocalStack) -> None:
    answer = stack.invoke(rest_event("/events", json.dumps({"node": "host-1", "severity": "major"})))
    assert answer["statusCode"] == 400
    assert json.loads(answer["body"])["problems"][0]["reason"] == CRASH[1]
    assert stack.emulator.count("POST", EVENT_API) == 0


def alerts(count: int) -> list[dict[str, str]]:
    return [{"node": f"db-{index}", "severity": "major", "message_key": f"k-{index}"} for index in range(count)]


def test_a_generic_message_of_many_records_is_one_item_and_is_not_split(stack: LocalStack) -> None:
    stack.emulator.inject_fault(400, count=1, body={"error": {"message": "Bad payload"}, "status": "failure"})
    assert stack.invoke(sns_event(json.dumps(alerts(3)))) == {"delivered": 0, "dead_lettered": 1, "superseded": 0}
    assert stack.emulator.count("POST", EVENT_API) == 1
    [message] = stack.dead_letters()
    assert json.loads(message["Body"])["reason"]["status"] == 400


def test_the_api_s_one_request_is_one_item_and_is_not_split(stack: LocalStack) -> None:
    stack.emulator.inject_fault(400, count=1, body={"error": {"message": "Bad payload"}, "status": "failure"})
    answer = stack.invoke(rest_event("/events", json.dumps(alerts(3))))
    assert (answer["statusCode"], json.loads(answer["body"])["dead_lettered"]) == (502, 3)
    assert stack.emulator.count("POST", EVENT_API) == 1


def test_items_of_a_batch_are_split_whole(stack: LocalStack) -> None:
    # Two messages: one generic message of three records, one of one record. The refused
    # POST of both is split by message, never inside the first.
    batch = sqs_batch(2)
    first = json.loads(batch["Records"][0]["body"])
    first["Message"] = json.dumps(alerts(3))
    batch["Records"][0]["body"] = json.dumps(first)
    stack.emulator.inject_fault(400, count=1, body={"error": {"message": "Bad payload"}, "status": "failure"})
    assert stack.invoke(batch) == {"batchItemFailures": []}
    posts = [len(json.loads(request.body)["records"]) for request in stack.emulator.requests]
    assert posts == [4, 3, 1]
    assert stack.dead_letters() == []
