"""A dead letter that cannot be written (the queue refuses it, or SQS is down) never loses
the event: each trigger hands it back to whoever retries it. Asynchronous invocations fail,
so Lambda retries them; the API answers 503, so its caller retries; an SQS batch reports
only that message in batchItemFailures (test_sqs_batch.py); the replay leaves the original
message in the queue (test_redrive.py)."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from local.stack import LocalStack
from tests.events import rest_event, sns_event

# With its description, every dead letter of it is over 1 KiB.
ALERT = {"node": "app-01", "severity": "critical", "message_key": "nagios:app-01:disk", "description": "d" * 1500}


@pytest.fixture
def refusing_queue(stack: LocalStack) -> LocalStack:
    """The instance refuses the events (403), and the dead-letter queue takes no message
    over 1 KiB, which every dead letter here is."""
    stack.aws.client("sqs").set_queue_attributes(QueueUrl=stack.queue_url, Attributes={"MaximumMessageSize": "1024"})
    stack.emulator.inject_fault(403, count=10)
    return stack


def test_an_asynchronous_invocation_fails_so_that_lambda_retries(refusing_queue: LocalStack) -> None:
    with pytest.raises(ClientError, match="InvalidParameterValue"):
        refusing_queue.invoke(sns_event(json.dumps(ALERT)))


def test_an_api_request_is_answered_503_so_that_its_caller_retries(refusing_queue: LocalStack) -> None:
    answer = refusing_queue.invoke(rest_event("/events", json.dumps(ALERT)))
    assert answer["statusCode"] == 503
    assert "retry" in json.loads(answer["body"])["error"]


def test_a_vanished_queue_fails_the_invocation_too(stack: LocalStack) -> None:
    stack.aws.client("sqs").delete_queue(QueueUrl=stack.queue_url)
    stack.emulator.inject_fault(403, count=10)
    with pytest.raises(ClientError):
        stack.invoke(sns_event(json.dumps(ALERT)))
