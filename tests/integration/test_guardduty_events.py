"""GuardDuty findings end to end, through the handler against the ServiceNow emulator and
moto (the ordering guard on): by SNS (the real SNS-wrapped, trimmed finding) and as a
direct EventBridge target (the real full finding), a finding opened, updated by a later
occurrence, then archived and closed; a late delivery of an older update after the close
is superseded; the deployment's GuardDuty settings apply."""

from __future__ import annotations

import copy
import json
from typing import Any

from local.stack import LocalStack
from tests.events import sns_event
from tests.integration.conftest import StackFactory
from tests.samples import load

FULL = "cloud-custodian-eventbridge-guardduty-finding-medium-ec2-dns.json"
SNS = "notify-slack-sns-eventbridge-guardduty-finding.json"
KEY = "aws.guardduty:883606788610:us-east-1:b4b01b60fc24a199139f8f5f490edd81"
SNS_KEY = "aws.guardduty:123456789:us-gov-east-1:sample-id-2"
DELIVERED = {"delivered": 1, "dead_lettered": 0, "superseded": 0}


def opened() -> dict[str, Any]:
    event: dict[str, Any] = copy.deepcopy(load(FULL))
    return event


def archived(event: dict[str, Any], updated: str = "2017-12-08T21:32:49.865Z") -> dict[str, Any]:
    """The finding archived: only `service.archived` and a later `updatedAt` changed."""
    event = copy.deepcopy(event)
    event["detail"]["service"]["archived"] = True
    event["detail"]["updatedAt"] = updated
    return event


def sns_sample(message_id: str, change: dict[str, Any] | None = None) -> dict[str, Any]:
    """The real SNS-wrapped finding, its Message changed by `change` (merged into detail)."""
    wrapped: dict[str, Any] = copy.deepcopy(load(SNS))
    sns = wrapped["Records"][0]["Sns"]
    if change:
        message = json.loads(sns["Message"])
        for name, value in change.items():
            if isinstance(value, dict):
                message["detail"].setdefault(name, {}).update(value)
            else:
                message["detail"][name] = value
        sns["Message"] = json.dumps(message)
    sns["MessageId"] = message_id
    return wrapped


def test_by_sns_a_finding_opens_then_closes_its_alert(stack: LocalStack) -> None:
    assert stack.invoke(sns_sample("gd-open")) == DELIVERED
    assert stack.emulator.alert_states() == {SNS_KEY: "Open"}
    assert stack.emulator.alerts[SNS_KEY].severity == "1"  # 9: Critical

    # Archived: only that and an update time (after the open's last seen time) changed.
    closing = sns_sample("gd-archived", {"service": {"archived": True}, "updatedAt": "2020-01-03T07:02:03Z"})
    assert stack.invoke(closing) == DELIVERED
    assert stack.emulator.alert_states() == {SNS_KEY: "Closed"}
    opening, closed = stack.emulator.events
    assert (opening["source"], opening["metric_name"], opening["type"]) == (
        "Amazon GuardDuty",
        "Recon",
        "Recon:EC2 PortProbeUnprotectedPort",
    )
    assert json.loads(opening["additional_info"])["sns_message_id"] == "gd-open"
    assert (closed["severity"], closed["time_of_event"]) == ("0", "2020-01-03 07:02:03")
    assert stack.dead_letters() == []


def test_as_a_direct_eventbridge_target_a_finding_opens_updates_then_closes(stack: LocalStack) -> None:
    assert stack.invoke(opened()) == DELIVERED
    assert stack.emulator.alert_states() == {KEY: "Open"}
    assert stack.emulator.alerts[KEY].severity == "3"

    later = opened()
    later["detail"]["service"].update(count=4, eventLastSeen="2017-12-08T18:00:00Z")
    later["detail"].update(updatedAt="2017-12-08T18:02:00.000Z", severity=8)
    assert stack.invoke(later) == DELIVERED
    assert stack.emulator.alert_states() == {KEY: "Open"}
    assert stack.emulator.alerts[KEY].severity == "2"  # the same alert, now High

    assert stack.invoke(archived(later)) == DELIVERED
    assert stack.emulator.alert_states() == {KEY: "Closed"}
    assert stack.emulator.alerts[KEY].event_count == 3
    first = stack.emulator.events[0]
    assert first["node"] == "i-99999999"
    extra = json.loads(first["additional_info"])
    assert extra["eventbridge_event_id"] == "8f5fa7d9-5558-33dc-449c-c890a0c38127"
    assert "sns_message_id" not in extra
    assert stack.dead_letters() == []


def test_an_older_update_delivered_after_the_close_is_superseded(stack: LocalStack) -> None:
    assert stack.invoke(archived(opened())) == DELIVERED
    assert stack.invoke(opened()) == {"delivered": 0, "dead_lettered": 0, "superseded": 1}
    assert [event["severity"] for event in stack.emulator.events] == ["0"]
    assert stack.emulator.alert_states().get(KEY) != "Open"
    assert stack.dead_letters() == []


def test_the_deployments_guardduty_settings_apply(make_stack: StackFactory) -> None:
    stack = make_stack(
        environment={
            "GUARDDUTY_EVENT_SOURCE": "GuardDuty (org)",
            "FIELD_TEMPLATES": json.dumps({"node": "{{guardduty.instance_id}}/{{guardduty.account}}"}),
        }
    )
    assert stack.invoke(sns_event(json.dumps(opened()))) == DELIVERED
    [event] = stack.emulator.events
    assert (event["severity"], event["source"], event["node"]) == ("3", "GuardDuty (org)", "i-99999999/883606788610")
