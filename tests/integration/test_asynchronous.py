"""The asynchronous trigger end to end: SNS, EventBridge, alarm actions and direct events →
lambda_handler → ServiceNow emulator / SQS DLQ, over real sockets, against moto's server and
the emulator; then the alarm shapes and routes: direct alarm actions, EventBridge,
contributors, suppression, and a refused field template."""

from __future__ import annotations

import copy
import io
import json
import time
from typing import Any

import pytest

from itom_forwarder.failures import TransientFailure
from local.stack import LocalStack
from tests.integration.conftest import StackFactory
from tests.samples import load

EVENT_API = "/api/global/em/jsonv2"


def sns_event(
    message: object, *, subject: str = "test", message_id: str = "11111111-2222-3333-4444-555555555555"
) -> dict[str, Any]:
    event = copy.deepcopy(load("sns-generic-alert.json"))
    sns = event["Records"][0]["Sns"]
    sns["Message"] = message if isinstance(message, str) else json.dumps(message)
    sns["Subject"] = subject
    sns["MessageId"] = message_id
    return event


def test_alarm_then_ok_opens_and_closes_one_alert(stack: LocalStack) -> None:
    assert stack.invoke(load("sns-cloudwatch-alarm.json")) == {"delivered": 1, "dead_lettered": 0, "superseded": 0}
    [alert] = stack.emulator.alerts.values()
    assert (alert.state, alert.severity) == ("Open", "2")

    assert stack.invoke(load("sns-cloudwatch-ok.json")) == {"delivered": 1, "dead_lettered": 0, "superseded": 0}
    alerts = stack.emulator.alerts
    assert len(alerts) == 1
    [alert] = alerts.values()
    assert alert.state == "Closed"
    assert alert.event_count == 2
    assert alert.message_key.startswith("arn:aws:cloudwatch:")
    assert stack.dead_letters() == []


def test_every_sample_event_is_delivered(stack: LocalStack) -> None:
    for name in (
        "sns-cloudwatch-alarm.json",
        "sns-cloudwatch-insufficient-data.json",
        "sns-generic-alert.json",
        "sns-plain-text.json",
    ):
        assert stack.invoke(load(name))["delivered"] == 1, name
    assert len(stack.emulator.events) == 4
    assert all(isinstance(value, str) for event in stack.emulator.events for value in event.values())


def test_warm_invocations_read_the_secret_once_and_reuse_one_connection(stack: LocalStack) -> None:
    for index in range(20):
        event = load("sns-cloudwatch-alarm.json")
        event["Records"][0]["Sns"]["MessageId"] = f"warm-{index}"
        assert stack.invoke(event)["delivered"] == 1
    assert stack.emulator.count("POST", EVENT_API) == 20
    assert stack.aws.calls("secretsmanager.GetSecretValue") == 1
    assert stack.emulator.connections_opened == 1


def test_invalid_payload_is_dead_lettered_with_the_field_and_the_handler_returns(stack: LocalStack) -> None:
    event = sns_event({"node": "db-1", "severity": "catastrophic"})
    assert stack.invoke(event) == {"delivered": 0, "dead_lettered": 1, "superseded": 0}
    assert stack.emulator.count("POST", EVENT_API) == 0
    [message] = stack.dead_letters()
    body = json.loads(message["Body"])
    assert body["kind"] == "itom-forwarder.dead-letter"
    assert body["reason"]["step"] == "map"
    assert "records[0].severity: 'catastrophic' is not a severity" in body["reason"]["message"]
    assert body["payload"] == event["Records"][0]  # the original SNS record, untouched
    assert message["MessageAttributes"]["reason_step"]["StringValue"] == "map"


def test_user_without_the_role_is_a_permanent_failure_in_the_dlq(stack: LocalStack) -> None:
    stack.emulator.add_user("no.role", "An0ther-secret", roles=())
    stack.put_secret(stack.basic_secret(username="no.role", password="An0ther-secret"))
    stack.new_container()
    assert stack.invoke(load("sns-cloudwatch-alarm.json")) == {"delivered": 0, "dead_lettered": 1, "superseded": 0}
    [message] = stack.dead_letters()
    reason = json.loads(message["Body"])["reason"]
    assert reason["status"] == 403
    assert reason["step"] == "deliver"
    assert reason["message"] == "User Not Authorized"
    assert "An0ther-secret" not in message["Body"]
    assert stack.emulator.count("POST", EVENT_API) == 1  # not retried


@pytest.mark.parametrize("status", [400, 404])
def test_servicenow_4xx_is_dead_lettered_with_servicenow_message(stack: LocalStack, status: int) -> None:
    stack.emulator.inject_fault(status, body={"error": {"message": "Bad thing", "detail": "why"}, "status": "failure"})
    assert stack.invoke(load("sns-cloudwatch-alarm.json"))["dead_lettered"] == 1
    reason = json.loads(stack.dead_letters()[0]["Body"])["reason"]
    assert (reason["status"], reason["message"], reason["detail"]) == (status, "Bad thing", "why")


def test_503_twice_then_200_delivers(stack: LocalStack) -> None:
    stack.emulator.inject_fault(503, count=2)
    assert stack.invoke(load("sns-cloudwatch-alarm.json")) == {"delivered": 1, "dead_lettered": 0, "superseded": 0}
    assert stack.emulator.count("POST", EVENT_API) == 3
    assert len(stack.emulator.events) == 1
    assert stack.dead_letters() == []


def test_500_throughout_raises_after_the_retries_for_lambda_to_retry(stack: LocalStack) -> None:
    stack.emulator.inject_fault(500, count=10)
    with pytest.raises(TransientFailure, match="HTTP 500"):
        stack.invoke(load("sns-cloudwatch-alarm.json"))
    assert stack.emulator.count("POST", EVENT_API) == 3  # DELIVERY_ATTEMPTS default
    # Not dead-lettered by us: Lambda's retries and the function's DLQ own it now.
    assert stack.dead_letters() == []


def test_429_retry_after_is_honoured(stack: LocalStack) -> None:
    stack.emulator.inject_fault(429, retry_after=1)
    started = time.monotonic()
    assert stack.invoke(load("sns-cloudwatch-alarm.json"))["delivered"] == 1
    assert time.monotonic() - started >= 1.0
    assert stack.emulator.count("POST", EVENT_API) == 2


def test_dropped_connection_is_retried(stack: LocalStack) -> None:
    stack.emulator.inject_disconnect()
    assert stack.invoke(load("sns-cloudwatch-alarm.json"))["delivered"] == 1
    assert len(stack.emulator.events) == 1


def test_retries_stop_before_the_invocation_deadline(stack: LocalStack) -> None:
    stack.emulator.inject_fault(503, count=10, retry_after=30)
    started = time.monotonic()
    with pytest.raises(TransientFailure):
        stack.invoke(load("sns-cloudwatch-alarm.json"), timeout_seconds=5)
    assert time.monotonic() - started < 5
    assert stack.emulator.count("POST", EVENT_API) == 1


def test_slow_instance_times_out_inside_the_invocation(stack: LocalStack) -> None:
    stack.emulator.inject_delay(6, count=3)
    started = time.monotonic()
    # 5 s, of which 2 s are kept back: room for the secret read and the claim on a busy
    # machine before the POST the instance does not answer.
    with pytest.raises(TransientFailure, match="did not answer"):
        stack.invoke(load("sns-cloudwatch-alarm.json"), timeout_seconds=5)
    assert time.monotonic() - started < 5
    wait_for_answers(stack)


def wait_for_answers(stack: LocalStack, limit_seconds: float = 10.0) -> None:
    """Let the emulator finish the requests the client gave up on: a delayed request takes
    its injected status fault only after its delay, which would be a later test's fault."""
    stack.emulator.clear_faults()
    give_up = time.monotonic() + limit_seconds
    while any(request.status == 0 for request in stack.emulator.requests) and time.monotonic() < give_up:
        time.sleep(0.05)


def test_rotated_password_is_picked_up_after_a_401(stack: LocalStack) -> None:
    assert stack.invoke(load("sns-cloudwatch-alarm.json"))["delivered"] == 1
    stack.emulator.set_password("aws.integration", "R0tated-password")
    stack.put_secret(stack.basic_secret(password="R0tated-password"))
    assert stack.invoke(load("sns-cloudwatch-ok.json")) == {"delivered": 1, "dead_lettered": 0, "superseded": 0}
    assert stack.aws.calls("secretsmanager.GetSecretValue") == 2
    assert [request.status for request in stack.emulator.requests if request.path == EVENT_API] == [200, 401, 200]


def test_wrong_password_is_dead_lettered_after_one_secret_reread(stack: LocalStack) -> None:
    stack.put_secret(stack.basic_secret(password="Wr0ng-password"))
    stack.new_container()
    assert stack.invoke(load("sns-cloudwatch-alarm.json")) == {"delivered": 0, "dead_lettered": 1, "superseded": 0}
    assert stack.aws.calls("secretsmanager.GetSecretValue") == 2
    body = stack.dead_letters()[0]["Body"]
    assert json.loads(body)["reason"]["status"] == 401
    assert "Wr0ng-password" not in body


def test_invalid_secret_is_dead_lettered_naming_the_key(stack: LocalStack) -> None:
    stack.put_secret({"instance_url": "http://servicenow.example.com", "username": "u", "password": "Secret-123"})
    stack.new_container()
    assert stack.invoke(load("sns-cloudwatch-alarm.json"))["dead_lettered"] == 1
    body = stack.dead_letters()[0]["Body"]
    reason = json.loads(body)["reason"]
    assert reason["step"] == "config"
    assert "instance_url: must use https" in reason["message"]
    assert "Secret-123" not in body


def test_2xx_without_result_is_an_error(stack: LocalStack) -> None:
    stack.emulator.inject_fault(200, body={"status": "ok"})
    assert stack.invoke(load("sns-cloudwatch-alarm.json"))["dead_lettered"] == 1
    reason = json.loads(stack.dead_letters()[0]["Body"])["reason"]
    assert reason["message"] == "ServiceNow answered without a result"


def test_several_sns_records_go_in_one_post(stack: LocalStack) -> None:
    event = load("sns-cloudwatch-alarm.json")
    event["Records"].append(copy.deepcopy(load("sns-generic-alert.json")["Records"][0]))
    assert stack.invoke(event) == {"delivered": 2, "dead_lettered": 0, "superseded": 0}
    assert stack.emulator.count("POST", EVENT_API) == 1
    assert len(stack.emulator.events) == 2


def test_unrecognised_direct_event_is_kept_as_plain_text(stack: LocalStack) -> None:
    assert stack.invoke({"something": "else"})["delivered"] == 1
    assert '"something": "else"' in stack.emulator.events[0]["description"]


# ------------------------------------------------------- alarm shapes and routes


def test_direct_alarm_action_and_eventbridge_invocations_are_delivered(stack: LocalStack) -> None:
    assert stack.invoke(load("alarm-action.json")) == {"delivered": 1, "dead_lettered": 0, "superseded": 0}
    assert stack.invoke(load("sns-cloudwatch-alarm.json"))["delivered"] == 1
    assert stack.invoke(load("eventbridge-alarm-state-change.json"))["delivered"] == 1
    alerts = stack.emulator.alerts
    assert alerts["arn:aws:cloudwatch:eu-west-1:123456789012:alarm:prod-db-1-cpu-high"].state == "Open"
    # Raised over SNS, cleared by EventBridge: the same ServiceNow alert.
    assert alerts["arn:aws:cloudwatch:eu-west-1:123456789012:alarm:prod-web-1-cpu-high"].state == "Closed"


def test_each_contributor_opens_and_closes_its_own_alert(stack: LocalStack) -> None:
    orders = load("sns-cloudwatch-contributor.json")
    users = load("sns-cloudwatch-contributor.json")
    message = json.loads(users["Records"][0]["Sns"]["Message"])
    message.update(AlarmContributorId="2868f7dcc58a8caf", AlarmContributorAttributes={"TableName": "users"})
    users["Records"][0]["Sns"]["Message"] = json.dumps(message)
    stack.invoke(orders)
    stack.invoke(users)
    stack.invoke(load("eventbridge-contributor-state-change.json"))  # orders is OK again
    states = {key.rsplit("/", 1)[-1]: alert.state for key, alert in stack.emulator.alerts.items()}
    assert states == {"6d442278dba546f6": "Closed", "2868f7dcc58a8caf": "Open"}


def test_insufficient_data_configured_to_send_nothing(make_stack: StackFactory) -> None:
    stack = make_stack(environment={"SEVERITY_INSUFFICIENT_DATA": "none"})
    answer = stack.invoke(load("sns-cloudwatch-insufficient-data.json"))
    assert answer == {"delivered": 0, "dead_lettered": 0, "superseded": 0}
    assert stack.emulator.count("POST", EVENT_API) == 0
    assert stack.dead_letters() == []
    assert stack.invoke(load("sns-cloudwatch-alarm.json"))["delivered"] == 1


def test_field_templates_apply_through_the_handler(make_stack: StackFactory) -> None:
    templates = {"node": "{{dimensions.InstanceId}}.prod.example.internal", "event_class": "aws-{{alarm.region}}"}
    stack = make_stack(environment={"FIELD_TEMPLATES": json.dumps(templates)})
    stack.invoke(load("sns-cloudwatch-alarm.json"))
    [event] = stack.emulator.events
    assert (event["node"], event["event_class"]) == ("i-0a1b2c3d4e5f67890.prod.example.internal", "aws-eu-west-1")


def test_template_naming_an_unknown_value_is_refused_at_start(
    make_stack: StackFactory, function_logs: io.StringIO
) -> None:
    stack = make_stack(environment={"FIELD_TEMPLATES": '{"node": "{{alarm.nmae}}"}'})
    event = load("sns-cloudwatch-alarm.json")
    assert stack.invoke(event) == {"delivered": 0, "dead_lettered": 1, "superseded": 0}
    assert stack.emulator.count("POST", EVENT_API) == 0
    [message] = stack.dead_letters()
    body = json.loads(message["Body"])
    assert body["reason"]["step"] == "config"
    assert "FIELD_TEMPLATES: node: unknown value {{alarm.nmae}}" in body["reason"]["message"]
    assert body["payload"] == event["Records"][0]
    logs = function_logs.getvalue()
    assert "Configuration refused" in logs
    assert "unknown value {{alarm.nmae}}" in logs
