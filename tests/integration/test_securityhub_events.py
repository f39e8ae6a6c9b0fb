"""Security Hub findings end to end, through the handler against the ServiceNow emulator and
moto (the ordering guard on): by SNS (an EventBridge rule's SNS target) and as a direct
EventBridge target, a finding opened then closed (resolved, passed, archived), and reopened
when Security Hub reactivates it; a late open after the close is superseded; the
deployment's Security Hub settings apply."""

from __future__ import annotations

import copy
import json
from typing import Any

from local.stack import LocalStack
from tests.events import sns_event
from tests.integration.conftest import StackFactory
from tests.samples import load

OPEN = "asr-eventbridge-securityhub-findings-imported-informational-failed.json"
ARCHIVED = "securityhub-jira-eventbridge-securityhub-findings-imported-archived-new.json"
KEY = (
    "aws.securityhub:arn:aws:securityhub:us-east-1::product/aws/securityhub:arn:aws:securityhub:us-east-1:"
    "111111111111:subscription/aws-foundational-security-best-practices/v/1.0.0/EC2.7/finding/"
    "0003b335-cf3f-4f93-a025-6b1a7baced06"
)
ARCHIVED_KEY = (
    "aws.securityhub:arn:aws:securityhub:eu-west-1::product/aws/securityhub:arn:aws:securityhub:eu-west-1:"
    "123456789012:subscription/aws-foundational-security-best-practices/v/1.0.0/EC2.8/finding/"
    "fba5a282-b865-41fe-bc9c-30357a1e87a7"
)
DELIVERED = {"delivered": 1, "dead_lettered": 0, "superseded": 0}


def sample(name: str = OPEN) -> dict[str, Any]:
    event: dict[str, Any] = copy.deepcopy(load(name))
    return event


def changed(event: dict[str, Any], updated: str, **fields: Any) -> dict[str, Any]:
    """The event with only `fields` of its finding and its UpdatedAt changed."""
    event = copy.deepcopy(event)
    event["detail"]["findings"][0].update(fields, UpdatedAt=updated)
    return event


def by_sns(event: dict[str, Any], message_id: str) -> dict[str, Any]:
    wrapped = sns_event(json.dumps(event))
    wrapped["Records"][0]["Sns"]["MessageId"] = message_id
    return wrapped


def test_by_sns_a_finding_opens_then_closes_when_it_passes(stack: LocalStack) -> None:
    assert stack.invoke(by_sns(sample(), "sh-open")) == DELIVERED
    assert stack.emulator.alert_states() == {KEY: "Open"}
    assert stack.emulator.alerts[KEY].severity == "5"  # INFORMATIONAL

    passed = changed(sample(), "2021-02-18T09:00:00.000Z", Compliance={"Status": "PASSED"})
    assert stack.invoke(by_sns(passed, "sh-passed")) == DELIVERED
    assert stack.emulator.alert_states() == {KEY: "Closed"}
    opening, closing = stack.emulator.events
    assert (opening["source"], opening["node"], opening["metric_name"]) == (
        "AWS Security Hub",
        "111111111111",
        "aws-foundational-security-best-practices/v/1.0.0/EC2.7",
    )
    assert json.loads(opening["additional_info"])["sns_message_id"] == "sh-open"
    assert (closing["severity"], closing["time_of_event"]) == ("0", "2021-02-18 09:00:00")
    assert stack.dead_letters() == []


def test_as_a_direct_eventbridge_target_the_real_archived_finding_closes_its_alert(stack: LocalStack) -> None:
    # The real archived finding's opening event: only RecordState and an earlier UpdatedAt.
    opening = changed(sample(ARCHIVED), "2022-03-12T18:33:38.017Z", RecordState="ACTIVE")
    assert stack.invoke(opening) == DELIVERED
    assert stack.emulator.alert_states() == {ARCHIVED_KEY: "Open"}
    assert stack.emulator.alerts[ARCHIVED_KEY].severity == "2"  # HIGH

    assert stack.invoke(sample(ARCHIVED)) == DELIVERED
    assert stack.emulator.alert_states() == {ARCHIVED_KEY: "Closed"}
    first = stack.emulator.events[0]
    assert first["node"] == "i-0000000aaaaaaaaaa"
    extra = json.loads(first["additional_info"])
    assert extra["eventbridge_event_id"] == "8e5622f9-d81c-4d81-612a-9319e7ee2506"
    assert "sns_message_id" not in extra
    assert stack.dead_letters() == []


def test_a_resolved_finding_reactivated_reopens_its_alert(stack: LocalStack) -> None:
    assert stack.invoke(sample()) == DELIVERED
    resolved = changed(sample(), "2021-02-18T09:00:00.000Z", Workflow={"Status": "RESOLVED"})
    assert stack.invoke(resolved) == DELIVERED
    assert stack.emulator.alert_states() == {KEY: "Closed"}
    reactivated = changed(resolved, "2021-02-19T09:00:00.000Z", Workflow={"Status": "NEW"})
    assert stack.invoke(reactivated) == DELIVERED
    assert stack.emulator.alert_states() == {KEY: "Open"}
    assert stack.emulator.alerts[KEY].reopened_count == 1
    assert stack.dead_letters() == []


def test_the_open_event_delivered_after_its_close_is_superseded(stack: LocalStack) -> None:
    suppressed = changed(sample(), "2021-02-18T09:00:00.000Z", Workflow={"Status": "SUPPRESSED"})
    assert stack.invoke(suppressed) == DELIVERED
    assert stack.invoke(by_sns(sample(), "late-open")) == {"delivered": 0, "dead_lettered": 0, "superseded": 1}
    assert [event["severity"] for event in stack.emulator.events] == ["0"]
    assert stack.emulator.alert_states().get(KEY) != "Open"
    assert stack.dead_letters() == []


def test_the_deployments_securityhub_settings_apply(make_stack: StackFactory) -> None:
    stack = make_stack(
        environment={
            "SECURITYHUB_EVENT_SOURCE": "Security Hub (org)",
            "FIELD_TEMPLATES": json.dumps({"node": "{{securityhub.product_name}}/{{securityhub.account}}"}),
        }
    )
    assert stack.invoke(sample()) == DELIVERED
    [event] = stack.emulator.events
    assert (event["severity"], event["source"], event["node"]) == (
        "5",
        "Security Hub (org)",
        "Security Hub/111111111111",
    )
