"""AWS Config compliance changes end to end, through the handler against the ServiceNow
emulator and moto (the ordering guard on): by SNS and as a direct EventBridge target, a
NON_COMPLIANT evaluation opens the resource's alert and the real COMPLIANT one closes it;
a late NON_COMPLIANT after the COMPLIANT one is superseded; the deployment's Config
settings apply."""

from __future__ import annotations

import copy
import json
from typing import Any

from local.stack import LocalStack
from tests.events import sns_event
from tests.integration.conftest import StackFactory
from tests.samples import load

COMPLIANT = "config-aggregator-notifier-eventbridge-config-rules-compliance-change-compliant.json"
RULE_ARN = (
    "arn:aws:config:eu-west-2:616241992003:config-rule/aws-service-rule/securityhub.amazonaws.com/config-rule-lcprsx"
)
KEY = f"aws.config:{RULE_ARN}:AWS::IAM::Role:AROAY66XCSFB4WL7AHL3V:616241992003:eu-west-2"
DELIVERED = {"delivered": 1, "dead_lettered": 0, "superseded": 0}


def compliant() -> dict[str, Any]:
    event: dict[str, Any] = copy.deepcopy(load(COMPLIANT))
    return event


def non_compliant() -> dict[str, Any]:
    """The real COMPLIANT event's opening one: only the compliance and an earlier recorded time."""
    event = compliant()
    event["detail"]["newEvaluationResult"].update(
        complianceType="NON_COMPLIANT", resultRecordedTime="2020-12-16T18:46:39.210Z"
    )
    return event


def by_sns(event: dict[str, Any], message_id: str) -> dict[str, Any]:
    wrapped = sns_event(json.dumps(event))
    wrapped["Records"][0]["Sns"]["MessageId"] = message_id
    return wrapped


def test_by_sns_non_compliant_opens_and_compliant_closes(stack: LocalStack) -> None:
    assert stack.invoke(by_sns(non_compliant(), "config-open")) == DELIVERED
    assert stack.emulator.alert_states() == {KEY: "Open"}
    assert stack.emulator.alerts[KEY].severity == "3"

    assert stack.invoke(by_sns(compliant(), "config-closed")) == DELIVERED
    assert stack.emulator.alert_states() == {KEY: "Closed"}
    opening, closing = stack.emulator.events
    assert (opening["source"], opening["node"], opening["type"]) == (
        "AWS Config",
        "AROAY66XCSFB4WL7AHL3V",
        "AWS::IAM::Role",
    )
    assert json.loads(opening["additional_info"])["sns_message_id"] == "config-open"
    assert closing["severity"] == "0"
    assert stack.dead_letters() == []


def test_as_a_direct_eventbridge_target_non_compliant_opens_and_compliant_closes(stack: LocalStack) -> None:
    assert stack.invoke(non_compliant()) == DELIVERED
    assert stack.emulator.alert_states() == {KEY: "Open"}
    assert stack.invoke(compliant()) == DELIVERED
    assert stack.emulator.alert_states() == {KEY: "Closed"}
    assert stack.emulator.alerts[KEY].event_count == 2
    assert stack.dead_letters() == []


def test_another_resource_of_the_rule_is_another_alert(stack: LocalStack) -> None:
    other = non_compliant()
    other["detail"]["resourceId"] = "AROAY66XCSFB4WL7OTHER"
    assert stack.invoke(non_compliant()) == DELIVERED
    assert stack.invoke(other) == DELIVERED
    assert stack.invoke(compliant()) == DELIVERED
    assert stack.emulator.alert_states() == {KEY: "Closed", KEY.replace("WL7AHL3V", "WL7OTHER"): "Open"}


def test_a_late_non_compliant_after_the_compliant_one_is_superseded(stack: LocalStack) -> None:
    assert stack.invoke(compliant()) == DELIVERED
    assert stack.invoke(by_sns(non_compliant(), "late")) == {"delivered": 0, "dead_lettered": 0, "superseded": 1}
    # Only the close reached ServiceNow (a close opens no alert): nothing was reopened.
    assert [event["severity"] for event in stack.emulator.events] == ["0"]
    assert stack.emulator.alert_states().get(KEY) != "Open"
    assert stack.dead_letters() == []


def test_the_deployments_config_settings_apply(make_stack: StackFactory) -> None:
    stack = make_stack(
        environment={
            "CONFIG_SEVERITY_NON_COMPLIANT": "2",
            "CONFIG_EVENT_SOURCE": "AWS Config (org)",
            "FIELD_TEMPLATES": json.dumps({"resource": "{{config.rule_name}}"}),
        }
    )
    assert stack.invoke(non_compliant()) == DELIVERED
    [event] = stack.emulator.events
    assert (event["severity"], event["source"]) == ("2", "AWS Config (org)")
    assert event["resource"] == "securityhub-iam-inline-policy-blocked-kms-actions-baa2cf8c"
