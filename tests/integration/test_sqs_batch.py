"""Buffered mode: SQS batches through lambda_handler, in as few POSTs as the cap allows,
with partial batch failures; one bad message (a record the instance refuses, a dead letter
that cannot be written) never takes the others down (a format crashing on one record:
test_one_bad_item.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local.emulator import ServiceNowEmulator
from local.stack import LocalStack
from tests.integration.conftest import StackFactory
from tests.samples import load

EVENT_API = "/api/global/em/jsonv2"


def sqs_batch(count: int, *, start: int = 0) -> dict[str, Any]:
    """`count` SQS messages whose bodies are SNS notifications of distinct generic alerts."""
    template = load("sqs-buffered-batch.json")["Records"][0]
    records = []
    for index in range(start, start + count):
        alert = {"node": f"host-{index}", "severity": "major", "message_key": f"buffered-{index}"}
        notification = {
            "Type": "Notification",
            "MessageId": f"sns-{index}",
            "TopicArn": "arn:aws:sns:eu-west-1:123456789012:t",
            "Subject": "alert",
            "Message": json.dumps(alert),
            "Timestamp": "2026-11-29T08:00:00.000Z",
        }
        records.append({**template, "messageId": f"msg-{index}", "body": json.dumps(notification)})
    return {"Records": records}


def test_sample_batch_is_delivered_in_one_post(stack: LocalStack) -> None:
    assert stack.invoke(load("sqs-buffered-batch.json")) == {"batchItemFailures": []}
    assert stack.emulator.count("POST", EVENT_API) == 1
    assert len(stack.emulator.events) == 3


def test_records_are_sent_in_posts_of_at_most_the_cap(make_stack: StackFactory) -> None:
    # The guard off: this is about the POSTs (moto's 100-item transactions are slow enough
    # under a loaded CI to meet the guard's 2 s DynamoDB timeout; its own tests cover it).
    stack = make_stack(environment={"BATCH_MAX_RECORDS": "100"}, ordering_guard=False)
    assert stack.invoke(sqs_batch(250)) == {"batchItemFailures": []}
    posts = [json.loads(r.body) for r in stack.emulator.requests if r.path == EVENT_API]
    assert [len(post["records"]) for post in posts] == [100, 100, 50]
    assert len({event["message_key"] for event in stack.emulator.events}) == 250


def test_transient_failure_reports_only_the_unsent_messages(make_stack: StackFactory) -> None:
    stack = make_stack(environment={"BATCH_MAX_RECORDS": "10"})
    # One request an hour: the first POST goes through, the next gets 429 with a
    # Retry-After far beyond the invocation, so the forwarder stops and reports the rest.
    stack.emulator.set_rate_limit("aws.integration", 1)
    result = stack.invoke(sqs_batch(30))
    failed = sorted(item["itemIdentifier"] for item in result["batchItemFailures"])
    assert failed == sorted(f"msg-{index}" for index in range(10, 30))
    assert sorted(e["message_key"] for e in stack.emulator.events) == sorted(f"buffered-{i}" for i in range(10))
    assert stack.emulator.count("POST", EVENT_API) == 2  # the third chunk was not even tried
    assert stack.dead_letters() == []  # SQS keeps them; its redrive policy owns the DLQ now


def test_invalid_and_refused_messages_are_dead_lettered_not_retried(stack: LocalStack) -> None:
    batch = sqs_batch(3)
    bad = json.loads(batch["Records"][1]["body"])
    bad["Message"] = json.dumps({"node": "x", "severity": "catastrophic"})
    batch["Records"][1]["body"] = json.dumps(bad)
    assert stack.invoke(batch) == {"batchItemFailures": []}
    assert sorted(e["message_key"] for e in stack.emulator.events) == ["buffered-0", "buffered-2"]
    [message] = stack.dead_letters()
    body = json.loads(message["Body"])
    assert (body["source"], body["reason"]["step"]) == ("sqs", "map")
    assert body["payload"]["messageId"] == "msg-1"
    # Refused again for each half of the POST and for each message on its own (a POST of
    # several refused with a 400 is split to find the refused record: see below).
    posts = stack.emulator.count("POST", EVENT_API)
    refusal = {"error": {"message": "Bad payload", "detail": None}, "status": "failure"}
    stack.emulator.inject_fault(400, count=3, body=refusal)
    assert stack.invoke(sqs_batch(2, start=10)) == {"batchItemFailures": []}
    assert len(stack.dead_letters()) == 2
    assert stack.emulator.count("POST", EVENT_API) - posts == 3


# ServiceNow refuses a request body over this (glide.rest.max_content_length) with a 400:
# twenty ordinary records fit, the poison record alone does not.
SMALL_BODY_LIMIT = 4096


def poisoned(batch: dict[str, Any], *indexes: int) -> dict[str, Any]:
    """The batch with the alert of each message at `indexes` made over 8 KB (a description
    and an extra field near their limits), so that the instance refuses any POST holding it."""
    for index in indexes:
        record = batch["Records"][index]
        notification = json.loads(record["body"])
        alert = json.loads(notification["Message"])
        alert.update(description="d" * 5000, runbook="r" * 5000)
        notification["Message"] = json.dumps(alert)
        record["body"] = json.dumps(notification)
    return batch


@pytest.fixture
def small_limit(monkeypatch: pytest.MonkeyPatch, emulator: ServiceNowEmulator) -> None:
    monkeypatch.setattr(emulator, "max_content_length", SMALL_BODY_LIMIT)


def delivered_keys(stack: LocalStack) -> list[str]:
    return sorted(event["message_key"] for event in stack.emulator.events)


def keys(*indexes: int) -> list[str]:
    return sorted(f"buffered-{index}" for index in indexes)


@pytest.mark.usefixtures("small_limit")
def test_a_record_the_instance_refuses_is_isolated_and_only_it_is_dead_lettered(stack: LocalStack) -> None:
    assert stack.invoke(poisoned(sqs_batch(8), 5)) == {"batchItemFailures": []}
    # Every other alert delivered exactly once.
    assert delivered_keys(stack) == keys(0, 1, 2, 3, 4, 6, 7)
    [message] = stack.dead_letters()
    body = json.loads(message["Body"])
    assert body["payload"]["messageId"] == "msg-5"
    assert body["reason"]["status"] == 400
    assert body["reason"]["message"] == "Request body too large"  # ServiceNow's reason
    assert body["attempts"] == 4  # the POSTs that carried it: 8 items, then 4, 2 and 1
    # The 8 (refused), its halves (4 delivered, 4 refused), the refused half's halves (2
    # refused, 2 delivered), the refused pair's halves (1 delivered, 1 refused): one bad
    # record costs 2 POSTs per level, log2(8) = 3 levels. (A refused body is not recorded.)
    posts = [len(json.loads(r.body)["records"]) if r.body else None for r in stack.emulator.requests]
    assert posts == [None, 4, None, None, 1, None, 2]


@pytest.mark.usefixtures("small_limit")
def test_a_poison_record_in_the_second_post_never_makes_the_first_be_sent_again(make_stack: StackFactory) -> None:
    stack = make_stack(environment={"BATCH_MAX_RECORDS": "4"})
    assert stack.invoke(poisoned(sqs_batch(8), 6)) == {"batchItemFailures": []}
    assert delivered_keys(stack) == keys(0, 1, 2, 3, 4, 5, 7)
    assert [json.loads(m["Body"])["payload"]["messageId"] for m in stack.dead_letters()] == ["msg-6"]
    assert stack.emulator.count("POST", EVENT_API) == 1 + 1 + 2 + 2  # first chunk once, then the split


@pytest.mark.usefixtures("small_limit")
def test_a_dead_letter_that_cannot_be_written_fails_only_its_message(make_stack: StackFactory) -> None:
    stack = make_stack(environment={"BATCH_MAX_RECORDS": "4"})
    # The dead-letter queue takes nothing over 1 KiB: the poison record's dead letter (of 8 KB) is refused.
    stack.aws.client("sqs").set_queue_attributes(QueueUrl=stack.queue_url, Attributes={"MaximumMessageSize": "1024"})
    batch = poisoned(sqs_batch(8), 6)
    result = stack.invoke(batch)
    # Only that message comes back: the batch did not fail, so SQS does not send the
    # delivered ones again.
    assert result == {"batchItemFailures": [{"itemIdentifier": "msg-6"}]}
    assert delivered_keys(stack) == keys(0, 1, 2, 3, 4, 5, 7)
    # SQS delivers it again on its own, until its redrive policy moves it to the DLQ.
    again = {"Records": [record for record in batch["Records"] if record["messageId"] == "msg-6"]}
    assert stack.invoke(again) == {"batchItemFailures": [{"itemIdentifier": "msg-6"}]}
    assert delivered_keys(stack) == keys(0, 1, 2, 3, 4, 5, 7)  # nobody sent twice
    assert stack.dead_letters() == []


def test_a_413_is_split_and_the_halves_delivered(stack: LocalStack) -> None:
    stack.emulator.inject_fault(413, count=1, body={"error": {"message": "Request Entity Too Large"}})
    assert stack.invoke(sqs_batch(4)) == {"batchItemFailures": []}
    assert delivered_keys(stack) == keys(0, 1, 2, 3)
    assert stack.emulator.count("POST", EVENT_API) == 3
    assert stack.dead_letters() == []


@pytest.mark.parametrize(
    "refusal",
    [
        {"status": 401},
        {"status": 403, "body": {"error": {"message": "User Not Authorized"}, "status": "failure"}},
        {"status": 404},
        {"status": 200, "body": {"status": "ok"}},  # a 2xx without result: not the event API
        {"status": 307, "location": "https://login.example.com/sso"},
    ],
    ids=["401", "403", "404", "2xx-without-result", "redirect"],
)
def test_a_refusal_of_the_instance_or_the_credentials_is_not_split(stack: LocalStack, refusal: dict[str, Any]) -> None:
    status = refusal["status"]
    if "location" in refusal:
        stack.emulator.inject_redirect(refusal["location"], status, count=20)
    else:
        stack.emulator.inject_fault(status, count=20, body=refusal.get("body"))
    assert stack.invoke(sqs_batch(4)) == {"batchItemFailures": []}
    assert stack.emulator.count("POST", EVENT_API) == 1  # every half would get the same answer
    statuses = [json.loads(message["Body"])["reason"]["status"] for message in stack.dead_letters()]
    assert statuses == [status] * 4
