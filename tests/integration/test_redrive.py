"""Replaying the dead-letter queue: each kind of message it can hold, a message that fails
again, a message it cannot read, a dry run, the redrive Lambda and the command."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from types import ModuleType
from typing import Any

from itom_forwarder.container import current
from itom_forwarder.triggers.redrive import Replayer
from local.lambda_context import LocalLambdaContext
from local.stack import LocalStack
from tests.samples import ROOT, load

ALARM_KEY = "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:prod-web-1-cpu-high"


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


def load_redrive_app() -> ModuleType:
    spec = importlib.util.spec_from_file_location("redrive_app", ROOT / "functions" / "redrive" / "app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
