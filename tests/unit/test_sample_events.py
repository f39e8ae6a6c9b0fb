"""The project's own events/ samples (used by sam local invoke and make run) map as intended."""

from __future__ import annotations

import json

import pytest

from itom_forwarder.formats import MappingOptions, to_events
from itom_forwarder.inbound import read_records
from itom_forwarder.triggers import trigger_name
from tests.samples import EVENTS, load

# file → (input format, severity, node) of the event it gives with the default settings
EXPECTED = {
    "sns-cloudwatch-alarm.json": ("cloudwatch_alarm", "2", "i-0a1b2c3d4e5f67890"),
    "sns-cloudwatch-ok.json": ("cloudwatch_alarm", "0", "i-0a1b2c3d4e5f67890"),
    "sns-cloudwatch-insufficient-data.json": ("cloudwatch_alarm", "4", "prod-db-1"),
    "sns-cloudwatch-metric-math.json": ("cloudwatch_alarm", "2", "app/prod-web/50dc6c495c0c9188"),
    "sns-cloudwatch-anomaly-detection.json": ("cloudwatch_alarm", "2", "orders-api"),
    "sns-cloudwatch-composite.json": ("cloudwatch_alarm", "2", None),
    "sns-cloudwatch-contributor.json": ("cloudwatch_alarm", "2", "orders"),
    "sns-cloudwatch-alarm-tags.json": ("cloudwatch_alarm", "1", "orders-service"),
    "sns-eventbridge-alarm-state-change.json": ("eventbridge_alarm", "2", "i-0a1b2c3d4e5f67890"),
    "sns-generic-alert.json": ("generic", "1", "app-01.example.internal"),
    "sns-plain-text.json": ("plain_text", "4", None),
    "eventbridge-alarm-state-change.json": ("eventbridge_alarm", "0", "i-0a1b2c3d4e5f67890"),
    "eventbridge-contributor-state-change.json": ("eventbridge_alarm", "0", "orders"),
    "alarm-action.json": ("alarm_action", "2", "prod-db-1"),
    "alarm-action-composite.json": ("alarm_action", "2", None),
    "eventbridge-health-issue-open.json": ("aws_health", "2", "arn:ec2-1-101002929"),
    "eventbridge-guardduty-finding-medium-ec2-dns.json": ("guardduty", "3", "i-99999999"),
    "sns-eventbridge-guardduty-finding.json": ("guardduty", "1", None),
    "eventbridge-securityhub-findings-imported-informational-failed.json": ("securityhub", "5", "111111111111"),
    "eventbridge-config-compliance-change-compliant.json": ("config_compliance", "0", "AROAY66XCSFB4WL7AHL3V"),
    "eventbridge-devops-guru-new-insight-open.json": ("devops_guru", "4", "myServerless-Stack"),
}


def mapped(name: str) -> tuple[str, dict[str, str]]:
    [inbound] = read_records(load(name))
    input_format, [event] = to_events(inbound.notification, MappingOptions())
    return input_format, event.to_record()


API_SAMPLES = (
    "apigateway-rest-events.json",
    "apigateway-rest-alertmanager.json",
    "apigateway-rest-grafana.json",
    "apigateway-http-events.json",
)
OTHER_SAMPLES = ("sqs-buffered-batch.json", "redrive-dry-run.json", "redrive-replay.json", "redrive-scheduled.json")


def test_every_event_file_is_covered() -> None:
    names = sorted(path.name for path in EVENTS.glob("*.json") if path.name != "env.json")
    assert names == sorted([*EXPECTED, *API_SAMPLES, *OTHER_SAMPLES])


def test_sqs_sample_holds_three_sns_notifications_of_alarms() -> None:
    inbound = read_records(load("sqs-buffered-batch.json"))
    assert [item.source for item in inbound] == ["sqs"] * 3
    formats_seen = [to_events(item.notification, MappingOptions())[0] for item in inbound]
    assert formats_seen == ["cloudwatch_alarm"] * 3


@pytest.mark.parametrize("name", API_SAMPLES)
def test_api_samples_are_api_gateway_events(name: str) -> None:
    assert trigger_name(load(name)) == "api"


@pytest.mark.parametrize(("name", "expected"), sorted(EXPECTED.items()))
def test_event_maps_to_its_format_severity_and_node(name: str, expected: tuple[str, str, str | None]) -> None:
    input_format, record = mapped(name)
    assert (input_format, record["severity"], record.get("node")) == expected


def test_one_alarm_keeps_its_key_over_every_route() -> None:
    routes = (
        "sns-cloudwatch-alarm.json",
        "sns-cloudwatch-ok.json",
        "sns-eventbridge-alarm-state-change.json",
        "eventbridge-alarm-state-change.json",
    )
    assert len({mapped(name)[1]["message_key"] for name in routes}) == 1


def test_contributor_keeps_its_key_over_sns_and_eventbridge() -> None:
    keys = {
        mapped(name)[1]["message_key"]
        for name in ("sns-cloudwatch-contributor.json", "eventbridge-contributor-state-change.json")
    }
    assert keys == {
        "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:prod-dynamodb-throttles:contributor/6d442278dba546f6"
    }


def test_alarm_tags_sample_applies_its_overrides() -> None:
    _, record = mapped("sns-cloudwatch-alarm-tags.json")
    assert (record["severity"], record["node"], record["resource"]) == ("1", "orders-service", "orders-queue (FIFO)")


def test_env_file_names_the_template_function() -> None:
    env = json.loads((EVENTS / "env.json").read_text())
    assert set(env["ForwarderFunction"]) >= {"SERVICENOW_SECRET_ID", "DLQ_URL"}
