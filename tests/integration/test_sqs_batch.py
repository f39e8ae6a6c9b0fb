"""Buffered mode: SQS batches through lambda_handler, in as few POSTs as the cap allows,
with partial batch failures."""

from __future__ import annotations

import json
from typing import Any

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
    stack = make_stack(environment={"BATCH_MAX_RECORDS": "100"})
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
    stack.emulator.inject_fault(400, body={"error": {"message": "Bad payload", "detail": None}, "status": "failure"})
    assert stack.invoke(sqs_batch(2, start=10)) == {"batchItemFailures": []}
    assert len(stack.dead_letters()) == 2
