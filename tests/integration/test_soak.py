"""Fault-injection soak: 2,000 alerts through lambda_handler while the emulator answers with
random 5xx, 429 + Retry-After, dropped connections and slow answers.

Lambda's side is simulated: in direct mode an invocation that raises is run again up to
twice (SNS invokes asynchronously) and one that still raises lands in the function's DLQ;
in buffered mode the messages a batch reports as failed come back in a later batch, up to
the queue's maxReceiveCount, then move to the DLQ. At the end every alert must be in
ServiceNow or in a DLQ: delivered + dead-lettered = sent, zero lost.

Every alert has a key of its own, so the ordering guard would only add a claim to each:
it is off here; test_convergence_soak.py runs faults, retries and outages with it on.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from local.stack import LocalStack
from tests.integration.conftest import StackFactory
from tests.samples import load

ALERTS = 2_000
SEED = 20261129
LAMBDA_RETRIES = 2
MAX_RECEIVE_COUNT = 3
BATCH_SIZE = 10
EVENT_API = "/api/global/em/jsonv2"
# Fast retries and a short read timeout keep the soak quick; the behaviour is the same.
SOAK_ENVIRONMENT = {
    "RETRY_BASE_DELAY_SECONDS": "0.005",
    "HTTP_READ_TIMEOUT_SECONDS": "0.15",
    "DELIVERY_ATTEMPTS": "3",
    "BATCH_MAX_RECORDS": "10",
}


def alert(index: int) -> dict[str, str]:
    severity = ["critical", "major", "minor", "warning", "clear"][index % 5]
    return {"node": f"host-{index % 97}", "metric_name": "soak", "severity": severity, "message_key": f"soak-{index}"}


def sns_event(index: int) -> dict[str, Any]:
    event = load("sns-generic-alert.json")
    sns = event["Records"][0]["Sns"]
    sns.update(MessageId=f"soak-msg-{index}", Message=json.dumps(alert(index)))
    return event


def sqs_record(index: int) -> dict[str, Any]:
    notification = {"Type": "Notification", "MessageId": f"soak-msg-{index}", "Message": json.dumps(alert(index))}
    record: dict[str, Any] = dict(load("sqs-buffered-batch.json")["Records"][0])
    record.update(messageId=f"sqs-{index}", body=json.dumps(notification))
    return record


def inject_random_fault(stack: LocalStack, rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.06:
        stack.emulator.inject_fault(rng.choice([500, 502, 503, 504]), count=rng.randint(1, 4))
        return "5xx"
    if roll < 0.09:
        stack.emulator.inject_fault(429, count=rng.randint(1, 2), retry_after=0)
        return "429"
    if roll < 0.11:
        stack.emulator.inject_disconnect(count=rng.randint(1, 2))
        return "disconnect"
    if roll < 0.12:
        stack.emulator.inject_delay(0.3, count=1)  # longer than the read timeout
        return "slow"
    if roll < 0.123:
        # A long outage: outlasts the invocation's attempts and Lambda's two retries.
        stack.emulator.inject_fault(503, count=12)
        return "outage"
    if roll < 0.128:
        # A permanent refusal: these alerts must end in the DLQ with the reason.
        stack.emulator.inject_fault(400, count=1, body={"error": {"message": "Bad request", "detail": "soak"}})
        return "400"
    return "none"


@dataclass
class Tally:
    faults: dict[str, int] = field(default_factory=dict)
    invocations: int = 0
    function_dlq: set[str] = field(default_factory=set)  # message keys Lambda/SQS gave up on


def keys_in_own_dlq(stack: LocalStack) -> list[str]:
    keys = []
    for message in stack.dead_letters():
        body = json.loads(message["Body"])
        record = body["payload"]
        text = record["Sns"]["Message"] if "Sns" in record else json.loads(record["body"])["Message"]
        keys.append(json.loads(text)["message_key"])
    return keys


def report(stack: LocalStack, tally: Tally, mode: str, capfd: pytest.CaptureFixture[str]) -> None:
    delivered = [event["message_key"] for event in stack.emulator.events]
    dead_lettered = keys_in_own_dlq(stack)
    sent = {f"soak-{index}" for index in range(ALERTS)}
    accounted = set(delivered) | set(dead_lettered) | tally.function_dlq
    lost = sent - accounted
    duplicates = len(delivered) - len(set(delivered))
    with capfd.disabled():  # shown in every run, not only on failure
        print(
            f"\n[{mode}] sent {ALERTS}: delivered {len(set(delivered))}, "
            f"dead-lettered {len(set(dead_lettered))} (ours) "
            f"+ {len(tally.function_dlq)} (Lambda/SQS DLQ), lost {len(lost)}, duplicates {duplicates}, "
            f"POSTs {stack.emulator.count('POST', EVENT_API)}, invocations {tally.invocations}, faults {tally.faults}"
        )
    assert not lost, f"{len(lost)} alerts lost, e.g. {sorted(lost)[:5]}"
    assert set(delivered) <= sent


def run_with_faults(stack: LocalStack, tally: Tally, rng: random.Random, call: Callable[[], Any]) -> Any:
    fault = inject_random_fault(stack, rng)
    tally.faults[fault] = tally.faults.get(fault, 0) + 1
    tally.invocations += 1
    # Faults are not cleared afterwards: what the requests did not use up (an outage)
    # meets the retries and the next alerts, as a real outage would.
    return call()


def test_soak_direct_mode(make_stack: StackFactory, capfd: pytest.CaptureFixture[str]) -> None:
    stack = make_stack(environment=SOAK_ENVIRONMENT, ordering_guard=False)
    rng = random.Random(SEED)
    tally = Tally()
    for index in range(ALERTS):
        event = sns_event(index)
        for _ in range(1 + LAMBDA_RETRIES):
            try:
                run_with_faults(stack, tally, rng, lambda event=event: stack.invoke(event))  # type: ignore[misc]
                break
            except Exception:  # noqa: S112 - Lambda retries the event, as in production
                continue
        else:
            tally.function_dlq.add(alert(index)["message_key"])
    report(stack, tally, "direct", capfd)


def test_soak_buffered_mode(make_stack: StackFactory, capfd: pytest.CaptureFixture[str]) -> None:
    stack = make_stack(environment=SOAK_ENVIRONMENT, ordering_guard=False)
    rng = random.Random(SEED + 1)
    tally = Tally()
    waiting = [sqs_record(index) for index in range(ALERTS)]
    receives: dict[str, int] = {}
    while waiting:
        batch, waiting = waiting[:BATCH_SIZE], waiting[BATCH_SIZE:]
        for record in batch:
            receives[record["messageId"]] = receives.get(record["messageId"], 0) + 1
        result = run_with_faults(stack, tally, rng, lambda batch=batch: stack.invoke({"Records": batch}))  # type: ignore[misc]
        failed = {item["itemIdentifier"] for item in result["batchItemFailures"]}
        for record in batch:
            if record["messageId"] not in failed:
                continue
            if receives[record["messageId"]] >= MAX_RECEIVE_COUNT:  # the queue's redrive policy
                tally.function_dlq.add(json.loads(json.loads(record["body"])["Message"])["message_key"])
            else:
                waiting.append(record)
    report(stack, tally, "buffered", capfd)
    # The point of buffered mode: far fewer POSTs than alerts.
    assert stack.emulator.count("POST", EVENT_API) < ALERTS / 2
