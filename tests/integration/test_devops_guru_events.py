"""DevOps Guru insights end to end: the real "New Insight Open" sample, then the insight's
severity upgrade, a new anomaly and its close (derived from the sample: the detail-type, a
later time and what the change is about), through lambda_handler to the ServiceNow emulator,
by SNS (an EventBridge rule's SNS target) and as the rule's direct Lambda target."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from local.stack import LocalStack
from tests.samples import load

SAMPLE = "devops-guru-servicenow-eventbridge-devops-guru-new-insight-open-low.json"
KEY = "aws.devops-guru:123234123122:us-east-1:ABC124124"
DELIVERED = {"delivered": 1, "dead_lettered": 0, "superseded": 0}


def sns_event(event: dict[str, Any]) -> dict[str, Any]:
    """The Lambda SNS event of an EventBridge rule's SNS target carrying `event`."""
    wrapped = copy.deepcopy(load("sns-generic-alert.json"))
    sns = wrapped["Records"][0]["Sns"]
    sns.update(Message=json.dumps(event), Subject=None, MessageId=f"sns-{event['id']}")
    return wrapped


def direct(event: dict[str, Any]) -> dict[str, Any]:
    return event


def later(detail_type: str, time: str, event_id: str, **detail: object) -> dict[str, Any]:
    event: dict[str, Any] = copy.deepcopy(load(SAMPLE))
    event.update({"detail-type": detail_type, "time": time, "id": event_id})
    event["detail"].update(detail)
    return event


def upgraded() -> dict[str, Any]:
    return later(
        "DevOps Guru Insight Severity Upgraded",
        "2022-11-15T05:02:10Z",
        "2c6f0d1e-7a3b-4c5d-9e8f-0a1b2c3d4e5f",
        insightSeverity="high",
        messageType="SEVERITY_UPGRADED",
    )


def new_anomaly() -> dict[str, Any]:
    event = later(
        "DevOps Guru New Anomaly Association",
        "2022-11-15T05:20:45Z",
        "3d7a1e2f-8b4c-4d6e-af90-1b2c3d4e5f60",
        insightSeverity="high",
        messageType="NEW_ASSOCIATION",
    )
    event["detail"]["anomalies"] = event["detail"]["anomalies"][2:]  # the DynamoDB one
    return event


def closed() -> dict[str, Any]:
    return later(
        "DevOps Guru Insight Closed",
        "2022-11-15T06:12:09Z",
        "4e8b2f30-9c5d-4e7f-b0a1-2c3d4e5f6071",
        insightSeverity="high",
        messageType="CLOSED_INSIGHT",
        endTime="1668492360000",
    )


@pytest.mark.parametrize("route", [sns_event, direct], ids=["sns", "direct"])
def test_insight_opens_is_upgraded_gains_an_anomaly_and_closes_one_alert(
    stack: LocalStack, route: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    assert stack.invoke(route(load(SAMPLE))) == DELIVERED
    assert stack.emulator.alert_states() == {KEY: "Open"}
    assert stack.emulator.alerts[KEY].severity == "4"  # low

    assert stack.invoke(route(upgraded())) == DELIVERED
    alert = stack.emulator.alerts[KEY]
    assert (alert.state, alert.severity) == ("Open", "2")  # high

    assert stack.invoke(route(new_anomaly())) == DELIVERED
    alert = stack.emulator.alerts[KEY]
    assert (alert.state, alert.severity, alert.event_count) == ("Open", "2", 3)
    assert alert.last_event["metric_name"] == "SuccessfulRequestLatency"

    assert stack.invoke(route(closed())) == DELIVERED
    assert stack.emulator.alert_states() == {KEY: "Closed"}
    alert = stack.emulator.alerts[KEY]
    assert alert.event_count == 4
    assert alert.stale_events == 0
    assert [event["time_of_event"] for event in stack.emulator.events] == [
        "2022-11-15 04:37:33",
        "2022-11-15 05:02:10",
        "2022-11-15 05:20:45",
        "2022-11-15 06:12:09",
    ]
    info = json.loads(alert.last_event["additional_info"])
    assert info["eventbridge_detail_type"] == "DevOps Guru Insight Closed"
    assert ("sns_message_id" in info) == (route is sns_event)
    assert stack.dead_letters() == []


def test_an_upgrade_arriving_after_the_close_does_not_reopen(stack: LocalStack) -> None:
    assert stack.invoke(load(SAMPLE)) == DELIVERED
    assert stack.invoke(sns_event(closed())) == DELIVERED
    # EventBridge delivers at least once, in no set order: the upgrade is older than the close.
    assert stack.invoke(upgraded()) == {"delivered": 0, "dead_lettered": 0, "superseded": 1}
    assert stack.emulator.alert_states() == {KEY: "Closed"}
