"""AWS Health events end to end, through the handler against the ServiceNow emulator and
moto (the ordering guard on): by SNS (an EventBridge rule's SNS target) and as a direct
EventBridge target, an event opened then closed; a late delivery of the open event after
its close is superseded; the deployment's Health settings apply."""

from __future__ import annotations

import copy
import json
from typing import Any

from local.stack import LocalStack
from tests.events import sns_event
from tests.integration.conftest import StackFactory
from tests.samples import load

OPEN = "aws-health-consumer-demo-eventbridge-aws-health-event-open-account-specific.json"
NO_STATUS = "notify-slack-eventbridge-aws-health-event-issue-no-status.json"
ARN = "arn:aws:health:us-west-2::event/AWS_EC2_INSTANCE_STORE_DRIVE_PERFORMANCE_DEGRADED_90353408594353980"
KEY = f"aws.health:{ARN}:111122223333"
DELIVERED = {"delivered": 1, "dead_lettered": 0, "superseded": 0}


def opened() -> dict[str, Any]:
    event: dict[str, Any] = copy.deepcopy(load(OPEN))
    return event


def closed() -> dict[str, Any]:
    """The real open event, closed: only its status and (later) update time changed."""
    event = opened()
    event["detail"].update(statusCode="closed", lastUpdatedTime="Thu, 27 Jan 2023 15:02:41 GMT")
    return event


def by_sns(event: dict[str, Any], message_id: str) -> dict[str, Any]:
    wrapped = sns_event(json.dumps(event))
    wrapped["Records"][0]["Sns"]["MessageId"] = message_id
    return wrapped


def test_by_sns_an_event_opens_then_closes_its_alert(stack: LocalStack) -> None:
    assert stack.invoke(by_sns(opened(), "health-open")) == DELIVERED
    assert stack.emulator.alert_states() == {KEY: "Open"}
    assert stack.emulator.alerts[KEY].severity == "2"

    assert stack.invoke(by_sns(closed(), "health-closed")) == DELIVERED
    assert stack.emulator.alert_states() == {KEY: "Closed"}
    opening, closing = stack.emulator.events
    assert (opening["source"], opening["node"], opening["metric_name"]) == (
        "AWS Health",
        "arn:ec2-1-101002929",
        "AWS_EC2_INSTANCE_STORE_DRIVE_PERFORMANCE_DEGRADED",
    )
    assert json.loads(opening["additional_info"])["sns_message_id"] == "health-open"
    assert (closing["severity"], closing["time_of_event"]) == ("0", "2023-01-27 15:02:41")
    assert stack.dead_letters() == []


def test_as_a_direct_eventbridge_target_an_event_opens_then_closes_its_alert(stack: LocalStack) -> None:
    assert stack.invoke(opened()) == DELIVERED
    assert stack.emulator.alert_states() == {KEY: "Open"}
    assert stack.invoke(closed()) == DELIVERED
    assert stack.emulator.alert_states() == {KEY: "Closed"}
    assert stack.emulator.alerts[KEY].event_count == 2
    extra = json.loads(stack.emulator.events[0]["additional_info"])
    assert extra["eventbridge_event_id"] == "26005bdb-b6eb-466d-920c-3ab19b1d7ea2"
    assert "sns_message_id" not in extra
    assert stack.dead_letters() == []


def test_the_old_schema_without_status_opens_an_alert_per_account(stack: LocalStack) -> None:
    assert stack.invoke(load(NO_STATUS)) == DELIVERED
    assert stack.invoke(opened()) == DELIVERED  # the same event ARN, another account
    assert stack.emulator.alert_states() == {f"aws.health:{ARN}:123456789012": "Open", KEY: "Open"}


def test_the_open_event_delivered_after_its_close_is_superseded(stack: LocalStack) -> None:
    assert stack.invoke(closed()) == DELIVERED
    assert stack.invoke(by_sns(opened(), "late-open")) == {"delivered": 0, "dead_lettered": 0, "superseded": 1}
    # Only the close reached ServiceNow (a close opens no alert): nothing was reopened.
    assert [event["severity"] for event in stack.emulator.events] == ["0"]
    assert stack.emulator.alert_states().get(KEY) != "Open"
    assert stack.dead_letters() == []


def test_the_deployments_health_settings_apply(make_stack: StackFactory) -> None:
    stack = make_stack(
        environment={
            "HEALTH_SEVERITY_ISSUE": "1",
            "HEALTH_EVENT_SOURCE": "AWS Health (org)",
            "FIELD_TEMPLATES": json.dumps({"node": "{{health.service}}/{{health.account}}"}),
        }
    )
    assert stack.invoke(opened()) == DELIVERED
    [event] = stack.emulator.events
    assert (event["severity"], event["source"], event["node"]) == ("1", "AWS Health (org)", "EC2/111122223333")
