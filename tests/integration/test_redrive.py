"""Replaying the dead-letter queue: each kind of message it can hold, a message that fails
again, a message it cannot read (and junk, which is never sent as an alert), a dry run,
two runs at once, the run's deadline, a put-back the queue refuses, the redrive Lambda and
the command."""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import moto.sqs.models
import pytest

from itom_forwarder.container import current
from itom_forwarder.dead_letters import DeadLetterQueue
from itom_forwarder.triggers import redrive
from itom_forwarder.triggers.redrive import Replayer
from local.lambda_context import LocalLambdaContext
from local.stack import LocalStack
from tests.events import sns_event
from tests.integration.conftest import StackFactory
from tests.integration.functions import load_redrive_app
from tests.samples import ROOT, load

ALARM_KEY = "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:prod-web-1-cpu-high"
EVENT_API = "/api/global/em/jsonv2"
# What Lambda sets on each message it puts in a function's DLQ after its asynchronous retries.
LAMBDA_DLQ = {"RequestID": "r-1", "ErrorCode": "200", "ErrorMessage": "HTTP 503: Service Unavailable"}


def fail_then_fix(stack: LocalStack) -> None:
    """Put the alarm in the DLQ the way production would: ServiceNow refuses it (403)."""
    stack.emulator.add_user("locked", "L0cked-pass", roles=())
    stack.put_secret(stack.basic_secret(username="locked", password="L0cked-pass"))
    stack.new_container()
    assert stack.invoke(load("sns-cloudwatch-alarm.json"))["dead_lettered"] == 1
    stack.put_secret(stack.basic_secret())  # the fix: the right user again
    stack.new_container()


def queue_raw(stack: LocalStack, body: str, **attributes: str) -> None:
    stack.aws.client("sqs").send_message(
        QueueUrl=stack.queue_url,
        MessageBody=body,
        MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
    )


def replay(stack: LocalStack, **options: Any) -> Any:
    return Replayer(current(), retry_delay_seconds=0).run(**options)


def test_own_dead_letter_is_delivered_and_deleted(stack: LocalStack) -> None:
    fail_then_fix(stack)
    report = replay(stack)
    assert (report.received, report.delivered, report.failed_again) == (1, 1, 0)
    assert report.outcomes[0].kind == "forwarder"
    assert stack.emulator.alerts[ALARM_KEY].state == "Open"
    assert stack.dead_letters() == []


def test_lambda_dlq_message_is_the_original_event(stack: LocalStack) -> None:
    event = load("sns-cloudwatch-ok.json")
    queue_raw(stack, json.dumps(event), RequestID="r-1", ErrorCode="200", ErrorMessage="HTTP 503: Service Unavailable")
    report = replay(stack)
    assert (report.delivered, report.outcomes[0].kind) == (1, "lambda-dlq")
    assert stack.emulator.events[0]["message_key"] == ALARM_KEY
    assert stack.dead_letters() == []


# What EventBridge sets on an event its rule target's retries could not deliver.
EVENTBRIDGE_DLQ = {
    "RULE_ARN": "arn:aws:events:eu-west-1:123456789012:rule/itom-forwarder-health",
    "TARGET_ARN": "arn:aws:lambda:eu-west-1:123456789012:function:itom-forwarder",
    "ERROR_CODE": "SDK_CLIENT_ERROR",
    "ERROR_MESSAGE": "Rate Exceeded.",
    "EXHAUSTED_RETRY_CONDITION": "MaximumRetryAttempts",
    "RETRY_ATTEMPTS": "185",
}


def test_eventbridge_dlq_message_is_the_event_its_rule_could_not_deliver(stack: LocalStack) -> None:
    event = load("eventbridge-alarm-state-change.json")
    queue_raw(stack, json.dumps(event), **EVENTBRIDGE_DLQ)
    report = replay(stack)
    assert (report.delivered, report.outcomes[0].kind) == (1, "eventbridge-dlq")
    assert stack.emulator.events[0]["source"] == "AWS CloudWatch"
    assert stack.dead_letters() == []


def test_an_eventbridge_dlq_message_of_no_event_is_unreadable(stack: LocalStack) -> None:
    queue_raw(stack, json.dumps({"not": "an event"}), **EVENTBRIDGE_DLQ)
    report = replay(stack)
    assert (report.unreadable, report.delivered) == (1, 0)
    assert "not an EventBridge event" in str(report.outcomes[0].reason)
    assert stack.emulator.events == []


def test_on_failure_destination_record_replays_its_request_payload(stack: LocalStack) -> None:
    record = load("aws-lambda-java-async-destination-on-failure-record.json")
    record["requestPayload"] = load("alarm-action.json")
    queue_raw(stack, json.dumps(record))
    report = replay(stack)
    assert (report.delivered, report.outcomes[0].kind) == (1, "on-failure")
    assert stack.emulator.events[0]["node"] == "prod-db-1"


def test_sns_notification_redriven_from_the_buffer_queue(stack: LocalStack) -> None:
    sns = load("sns-cloudwatch-alarm.json")["Records"][0]["Sns"]
    notification = {key: sns[key] for key in ("Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp")}
    queue_raw(stack, json.dumps(notification))
    report = replay(stack)
    assert (report.delivered, report.outcomes[0].kind) == (1, "sns-notification")
    assert stack.emulator.events[0]["message_key"] == ALARM_KEY


def test_api_request_in_the_dlq_is_replayed_through_its_route(stack: LocalStack) -> None:
    firing = load("prometheus-msteams-alertmanager-webhook-v4-firing.json")
    payload = {"api": {"method": "POST", "path": "/alertmanager", "request_id": "x"}, "body": json.dumps(firing)}
    message = {
        "kind": "itom-forwarder.dead-letter",
        "version": 1,
        "source": "api",
        "attempts": 3,
        "payload": payload,
        "reason": {"step": "deliver", "message": "Service Unavailable", "status": 503},
    }
    queue_raw(stack, json.dumps(message))
    report = replay(stack)
    assert report.delivered == 1
    assert stack.emulator.events[0]["source"] == "Prometheus Alertmanager"


def test_message_that_fails_again_is_put_back_with_its_updated_reason(stack: LocalStack) -> None:
    fail_then_fix(stack)
    [original] = stack.aws.receive_all(stack.queue_url)
    first = json.loads(original["Body"])
    queue_raw(stack, original["Body"])
    stack.emulator.inject_fault(
        404, count=10, body={"error": {"message": "No such API", "detail": "moved"}, "status": "failure"}
    )
    report = replay(stack)
    assert (report.received, report.delivered, report.failed_again) == (1, 0, 1)
    [again] = stack.dead_letters()
    body = json.loads(again["Body"])
    assert body["reason"] == {"step": "deliver", "message": "No such API", "status": 404, "detail": "moved"}
    assert body["first_failure_at"] == first["first_failure_at"]
    assert body["attempts"] == first["attempts"] + 1
    assert body["payload"] == first["payload"]  # still the original SNS record


def test_unreadable_message_is_left_in_the_queue(stack: LocalStack) -> None:
    queue_raw(stack, "not json at all")
    report = replay(stack)
    assert (report.unreadable, report.outcomes[0].reason) == (1, "the body is not JSON")
    assert [m["Body"] for m in stack.dead_letters()] == ["not json at all"]


def test_dry_run_sends_nothing_and_leaves_the_queue(stack: LocalStack) -> None:
    fail_then_fix(stack)
    posts_before = stack.emulator.count("POST", "/api/global/em/jsonv2")
    report = replay(stack, dry_run=True)
    assert (report.would_send, report.delivered) == (1, 0)
    assert report.outcomes[0].message_keys == [ALARM_KEY]
    assert stack.emulator.count("POST", "/api/global/em/jsonv2") == posts_before
    assert len(stack.dead_letters()) == 1


def test_redrive_lambda_replays_and_reports(stack: LocalStack) -> None:
    fail_then_fix(stack)
    redrive = load_redrive_app()
    assert "error" in redrive.lambda_handler({"action": "purge"}, LocalLambdaContext())
    dry = redrive.lambda_handler(load("redrive-dry-run.json"), LocalLambdaContext())
    assert (dry["dry_run"], dry["would_send"]) == (True, 1)
    done = redrive.lambda_handler(load("redrive-replay.json"), LocalLambdaContext())
    assert (done["received"], done["delivered"]) == (1, 1)
    assert stack.dead_letters() == []


def test_replay_command(stack: LocalStack) -> None:
    fail_then_fix(stack)
    completed = subprocess.run(
        [sys.executable, "-m", "itom_forwarder.replay", "--max-messages", "10"],
        cwd=ROOT,
        env={
            **__import__("os").environ,
            "PYTHONPATH": str(ROOT / "layers" / "itom_forwarder"),
            "POWERTOOLS_LOG_LEVEL": "ERROR",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout[completed.stdout.index("{") :])
    assert (report["received"], report["delivered"]) == (1, 1)


def alert(key: str) -> dict[str, str]:
    return {"source": "Nagios", "node": "app-01", "severity": "critical", "message_key": key}


def queue_lambda_dlq(stack: LocalStack, key: str) -> None:
    """A Lambda DLQ message: the SNS event of one generic alert, with Lambda's attributes."""
    queue_raw(stack, json.dumps(sns_event(json.dumps(alert(key)))), **LAMBDA_DLQ)


def forwarder_message(**fields: Any) -> dict[str, Any]:
    message = {
        "kind": "itom-forwarder.dead-letter",
        "version": 1,
        "source": "sns",
        "attempts": 1,
        "reason": {"step": "deliver", "message": "Service Unavailable", "status": 503},
        "payload": load("sns-cloudwatch-alarm.json")["Records"][0],
    }
    message.update(fields)
    return message


def gzipped(text: bytes) -> str:
    return base64.b64encode(gzip.compress(text)).decode("ascii")


def without_payload(**fields: Any) -> str:
    message = forwarder_message(**fields)
    del message["payload"]
    return json.dumps(message)


NESTED = "[" * 1000 + "]" * 1000
UNREADABLE = {
    "attempts-not-a-number": json.dumps(forwarder_message(attempts="three")),
    "payload-not-base64": without_payload(payload_gzip_base64="not base64!"),
    "payload-not-gzip": without_payload(payload_gzip_base64=base64.b64encode(b"plain text").decode()),
    "payload-gzip-not-json": without_payload(payload_gzip_base64=gzipped(b"\xff\xfe not json")),
    "payload-gzip-not-a-string": without_payload(payload_gzip_base64=12),
    "api-not-an-object": json.dumps(forwarder_message(source="api", payload={"api": "/events", "body": "{}"})),
    "api-body-not-text": json.dumps(
        forwarder_message(source="api", payload={"api": {"path": "/events"}, "body": {"node": "x"}})
    ),
    "lone-surrogate-source": json.dumps(forwarder_message(source="\ud83d")),
    "lone-surrogate-in-gzip-field": without_payload(payload_gzip_base64="\ud83d"),
    "payload-nested-1000-deep": json.dumps(forwarder_message(payload="NESTED")).replace('"NESTED"', NESTED),
    "gzipped-payload-nested-1000-deep": without_payload(payload_gzip_base64=gzipped(NESTED.encode())),
    "sns-payload-not-a-record": json.dumps(forwarder_message(payload="an SNS record")),
}


def test_an_unreadable_message_is_left_untouched_and_the_run_goes_on(stack: LocalStack) -> None:
    # Each unreadable message is followed by a good one: a crash on any would stop the run.
    for name, body in UNREADABLE.items():
        queue_raw(stack, body)
        queue_lambda_dlq(stack, f"after-{name}")
    report = replay(stack)
    bad = len(UNREADABLE)
    assert (report.received, report.unreadable, report.delivered) == (2 * bad, bad, bad)
    reasons = [outcome.reason for outcome in report.outcomes if outcome.result == "unreadable"]
    assert all(reasons), reasons
    delivered = sorted(event["message_key"] for event in stack.emulator.events)
    assert delivered == sorted(f"after-{name}" for name in UNREADABLE)
    assert sorted(message["Body"] for message in stack.dead_letters()) == sorted(UNREADABLE.values())  # untouched


JUNK = {
    "empty-object": "{}",
    "records-not-a-list": json.dumps({"Records": 5}),
    "empty-list": "[]",
    "a-string": json.dumps("CPU high on prod-web-1"),
    "a-number": "5",
    "no-known-event": json.dumps({"hello": "world", "count": 3}),
    "records-of-another-source": json.dumps({"Records": [{"eventSource": "aws:s3", "s3": {}}]}),
}


@pytest.mark.parametrize("attributes", [LAMBDA_DLQ, {}], ids=["with-lambda-attributes", "without"])
def test_junk_is_unreadable_and_never_sent_as_an_alert(stack: LocalStack, attributes: dict[str, str]) -> None:
    for body in JUNK.values():
        queue_raw(stack, body, **attributes)
    report = replay(stack)
    assert (report.received, report.unreadable, report.delivered) == (len(JUNK), len(JUNK), 0)
    assert stack.emulator.count("POST", EVENT_API) == 0
    assert sorted(message["Body"] for message in stack.dead_letters()) == sorted(JUNK.values())


def test_an_event_without_lambda_s_attributes_is_not_a_lambda_dlq_message(stack: LocalStack) -> None:
    queue_raw(stack, json.dumps(load("sns-cloudwatch-ok.json")))  # the body alone: nobody says Lambda wrote it
    report = replay(stack)
    assert report.unreadable == 1
    assert "RequestID, ErrorCode and ErrorMessage" in str(report.outcomes[0].reason)
    assert stack.emulator.count("POST", EVENT_API) == 0
    assert len(stack.dead_letters()) == 1


LAMBDA_DLQ_EVENTS = {
    "sns-event": load("sns-cloudwatch-ok.json"),
    "eventbridge-event": load("eventbridge-alarm-state-change.json"),
    "alarm-action": load("alarm-action.json"),
    "generic-alert": alert("nagios:app-01:disk"),
    "generic-alerts": {"records": [alert("nagios:app-01:disk"), alert("nagios:app-02:disk")]},
}


@pytest.mark.parametrize("event", LAMBDA_DLQ_EVENTS.values(), ids=LAMBDA_DLQ_EVENTS.keys())
def test_a_lambda_dlq_message_of_each_event_the_forwarder_takes_is_replayed(stack: LocalStack, event: Any) -> None:
    queue_raw(stack, json.dumps(event), **LAMBDA_DLQ)
    report = replay(stack)
    assert (report.delivered, report.outcomes[0].kind) == (1, "lambda-dlq")
    assert stack.emulator.events
    assert stack.dead_letters() == []


def test_an_on_failure_record_of_no_known_event_is_unreadable(stack: LocalStack) -> None:
    record = load("aws-lambda-java-async-destination-on-failure-record.json")
    record["requestPayload"] = {}
    queue_raw(stack, json.dumps(record))
    report = replay(stack)
    assert report.unreadable == 1
    assert stack.emulator.count("POST", EVENT_API) == 0


def shift_sqs_clock(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Move the (in-process) SQS server's clock on: as if `seconds` had passed for SQS."""
    real = moto.sqs.models.unix_time_millis
    monkeypatch.setattr(moto.sqs.models, "unix_time_millis", lambda *args: real(*args) + seconds * 1000)


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


def test_two_runs_at_once_never_replay_the_same_message(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> None:
    keys = [f"parallel-{index}" for index in range(3)]
    for key in keys:
        queue_lambda_dlq(stack, key)
    stack.emulator.inject_delay(1.0)  # the first run is busy with its first message...
    first: dict[str, Any] = {}
    running = threading.Thread(target=lambda: first.update(report=replay(stack, deadline=time.monotonic() + 900)))
    running.start()
    wait_for(lambda: stack.emulator.count("POST", EVENT_API) >= 1)
    # ...for longer than a fixed 120 s visibility timeout would have covered, when a second
    # run starts: the first run's messages are still invisible (rest of its run + margin).
    shift_sqs_clock(monkeypatch, 150)
    second = replay(stack, deadline=time.monotonic() + 900)
    running.join(timeout=30)
    assert second.received == 0
    assert first["report"].delivered == 3
    assert sorted(event["message_key"] for event in stack.emulator.events) == keys  # each exactly once
    assert stack.dead_letters() == []


def test_a_run_keeps_its_messages_for_the_rest_of_its_run_and_at_most_12_hours(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[int] = []
    receive = DeadLetterQueue.receive

    def spy(queue: DeadLetterQueue, count: int, visibility_seconds: int) -> Any:
        asked.append(visibility_seconds)
        return receive(queue, count, visibility_seconds)

    monkeypatch.setattr(DeadLetterQueue, "receive", spy)
    queue_lambda_dlq(stack, "one")
    assert replay(stack, deadline=time.monotonic() + 1000).delivered == 1
    assert 1000 < asked[0] <= 1000 + redrive.VISIBILITY_MARGIN_SECONDS
    queue_lambda_dlq(stack, "two")
    # A run 20 hours long (SQS refuses a visibility timeout over 12 hours).
    assert replay(stack, deadline=time.monotonic() + 20 * 3600).delivered == 1
    assert asked[-1] == redrive.MAX_VISIBILITY_SECONDS == 12 * 3600


def test_a_dry_run_s_messages_are_visible_again_when_it_ends(stack: LocalStack) -> None:
    queue_lambda_dlq(stack, "looked-at")
    queue_raw(stack, "{}", **LAMBDA_DLQ)  # unreadable
    dry = replay(stack, dry_run=True, deadline=time.monotonic() + 3600)
    assert (dry.would_send, dry.unreadable) == (1, 1)
    report = replay(stack)  # at once: nothing is held for the dry run's hour
    assert (report.received, report.delivered, report.unreadable) == (2, 1, 1)


def test_a_dry_run_keeps_nothing_for_a_message_that_would_fail(stack: LocalStack) -> None:
    body = json.dumps(sns_event(json.dumps({**alert("k"), "severity": "loud"})))
    queue_raw(stack, body, **LAMBDA_DLQ)
    report = replay(stack, dry_run=True)
    assert (report.would_fail, str(report.outcomes[0].reason).startswith("map: ")) == (1, True)
    assert [message["Body"] for message in stack.dead_letters()] == [body]  # no copy written


def test_no_message_is_taken_when_less_than_the_margin_is_left(stack: LocalStack) -> None:
    queue_lambda_dlq(stack, "too-late")
    report = replay(stack, deadline=time.monotonic() + redrive.DEADLINE_MARGIN_SECONDS - 1)
    assert report.received == 0
    assert stack.emulator.requests == []
    assert len(stack.dead_letters()) == 1


def test_the_run_stops_taking_messages_near_its_deadline(make_stack: StackFactory) -> None:
    # A lease longer than the slow POST: the guard would otherwise cut it short.
    stack = make_stack(environment={"ALERT_STATE_LEASE_SECONDS": "10"})
    for index in range(3):
        queue_lambda_dlq(stack, f"late-{index}")
    stack.emulator.inject_delay(4.0)  # the first message takes the run below its margin
    deadline = time.monotonic() + redrive.DEADLINE_MARGIN_SECONDS + 3
    report = replay(stack, deadline=deadline)
    assert time.monotonic() < deadline
    assert (report.received, report.delivered) == (1, 1)
    assert len(stack.dead_letters()) == 2  # the others untouched, visible again for the next run


def test_a_hung_instance_cannot_make_the_run_overrun_its_deadline(stack: LocalStack) -> None:
    queue_lambda_dlq(stack, "hung")
    stack.emulator.inject_delay(10.0)
    deadline = time.monotonic() + redrive.DEADLINE_MARGIN_SECONDS + 1.5
    report = replay(stack, deadline=deadline)
    # The POST's timeout was cut to the run's deadline, less the time to put the message back.
    assert time.monotonic() < deadline
    assert report.failed_again == 1
    [again] = stack.dead_letters()
    assert json.loads(again["Body"])["reason"]["step"] == "deliver"


def test_a_message_that_cannot_be_put_back_stays_in_the_queue(stack: LocalStack) -> None:
    fail_then_fix(stack)
    [original] = stack.aws.receive_all(stack.queue_url)
    queue_raw(stack, original["Body"])
    sqs = stack.aws.client("sqs")
    # The queue now takes nothing over 1 KiB: the updated copy (as large as the original) is refused.
    sqs.set_queue_attributes(QueueUrl=stack.queue_url, Attributes={"MaximumMessageSize": "1024"})
    stack.emulator.inject_fault(404, count=10)
    report = replay(stack)
    assert (report.failed_again, report.left_in_queue, report.delivered) == (0, 1, 0)
    assert report.outcomes[0].result == "left-in-queue"
    assert "dead-letter queue could not be written" in str(report.outcomes[0].reason)
    sqs.set_queue_attributes(QueueUrl=stack.queue_url, Attributes={"MaximumMessageSize": "262144"})
    stack.emulator.clear_faults()
    later = replay(stack)  # the original, untouched, is replayed by the next run
    assert (later.received, later.delivered) == (1, 1)
    assert stack.dead_letters() == []


SYS_CHOICE = "/api/now/table/sys_choice"


def test_the_scheduled_redrive_replays_once_the_instance_answers(stack: LocalStack) -> None:
    fail_then_fix(stack)
    answer = load_redrive_app().lambda_handler(load("redrive-scheduled.json"), LocalLambdaContext())
    assert answer["instance"]["ok"] is True
    assert (answer["replay"]["received"], answer["replay"]["delivered"]) == (1, 1)
    assert stack.emulator.alerts[ALARM_KEY].state == "Open"
    assert stack.dead_letters() == []


@pytest.mark.parametrize("status", [503, 429])
def test_the_scheduled_redrive_leaves_the_queue_alone_while_the_instance_is_down(
    stack: LocalStack, status: int
) -> None:
    fail_then_fix(stack)
    stack.emulator.reset()
    stack.emulator.inject_fault(status, count=5, path=SYS_CHOICE, retry_after=0)
    answer = load_redrive_app().lambda_handler(load("redrive-scheduled.json"), LocalLambdaContext())
    assert (answer["instance"]["ok"], answer["replay"]) == (False, None)
    assert f"HTTP {status}" in answer["instance"]["detail"]
    # One cheap request, and no event POSTed: the dead letter waits for the next run.
    assert [request.path for request in stack.emulator.requests] == [SYS_CHOICE]
    assert len(stack.dead_letters()) == 1


def test_the_scheduled_redrive_does_not_replay_with_refused_credentials(stack: LocalStack) -> None:
    fail_then_fix(stack)
    stack.put_secret(stack.basic_secret(password="not-the-password"))
    stack.new_container()
    answer = load_redrive_app().lambda_handler(load("redrive-scheduled.json"), LocalLambdaContext())
    assert (answer["instance"]["ok"], answer["replay"]) == (False, None)
    assert stack.emulator.count("POST", EVENT_API) == 1  # only the original, refused one
    assert len(stack.dead_letters()) == 1


def test_the_replay_sends_one_alarm_s_events_oldest_first(make_stack: StackFactory) -> None:
    """SQS returns the queue in no order: the replay sorts by source time, so the newest
    state is the one ServiceNow applies last, even with the ordering guard off."""
    stack = make_stack(ordering_guard=False)
    ok, alarm = load("sns-cloudwatch-ok.json"), load("sns-cloudwatch-alarm.json")  # OK is the newer
    for event in (ok, alarm):
        queue_raw(stack, json.dumps(event), **LAMBDA_DLQ)
    report = replay(stack)
    assert (report.received, report.delivered) == (2, 2)
    assert [event["severity"] for event in stack.emulator.events] == ["2", "0"]  # ALARM, then OK
    assert stack.emulator.alerts[ALARM_KEY].state == "Closed"
