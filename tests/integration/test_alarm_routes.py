"""Alarm shapes and routes through lambda_handler: direct alarm actions, EventBridge,
contributors, suppression, and a refused field template."""

from __future__ import annotations

import io
import json

from local.stack import LocalStack
from tests.integration.conftest import StackFactory
from tests.samples import load

EVENT_API = "/api/global/em/jsonv2"


def test_direct_alarm_action_and_eventbridge_invocations_are_delivered(stack: LocalStack) -> None:
    assert stack.invoke(load("alarm-action.json")) == {"delivered": 1, "dead_lettered": 0}
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
    assert stack.invoke(load("sns-cloudwatch-insufficient-data.json")) == {"delivered": 0, "dead_lettered": 0}
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
    assert stack.invoke(event) == {"delivered": 0, "dead_lettered": 1}
    assert stack.emulator.count("POST", EVENT_API) == 0
    [message] = stack.dead_letters()
    body = json.loads(message["Body"])
    assert body["reason"]["step"] == "config"
    assert "FIELD_TEMPLATES: node: unknown value {{alarm.nmae}}" in body["reason"]["message"]
    assert body["payload"] == event["Records"][0]
    logs = function_logs.getvalue()
    assert "Configuration refused" in logs
    assert "unknown value {{alarm.nmae}}" in logs
