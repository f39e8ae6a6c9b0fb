"""Per-alarm overrides (tags, description lines) and deployment field templates."""

from __future__ import annotations

import json
from typing import Any

import pytest

from itom_forwarder.formats import MappingOptions, Notification, to_events
from itom_forwarder.formats.alarms.overrides import split_description, tags_of
from itom_forwarder.formats.alarms.templates import FieldTemplates, TemplateError
from tests.samples import load, message_of


def alarm(**changes: Any) -> dict[str, Any]:
    message: dict[str, Any] = message_of(load("sns-cloudwatch-alarm.json"))
    message.update(changes)
    return message


def records(message: dict[str, Any], settings: MappingOptions | None = None) -> list[dict[str, str]]:
    _, events = to_events(Notification(message=json.dumps(message)), settings or MappingOptions())
    return [event.to_record() for event in events]


def test_tags_as_map_and_as_key_value_list() -> None:
    assert tags_of({"team": "a", "itom:node": "n"}) == {"team": "a", "itom:node": "n"}
    assert tags_of([{"Key": "team", "Value": "a"}, {"key": "itom:node", "value": "n"}]) == {
        "team": "a",
        "itom:node": "n",
    }
    assert tags_of(None) == {}


def test_tag_overrides_replace_mapped_fields() -> None:
    tags = {
        "itom:severity": "critical",
        "itom:node": "web-frontend",
        "itom:resource": "nginx",
        "itom:type": "Web",
        "itom:source": "CloudWatch prod",
        "itom:event_class": "prod-eu",
        "itom:message_key": "web-frontend/cpu",
        "team": "web",
    }
    [record] = records(alarm(AlarmTags=tags))
    assert record["severity"] == "1"
    assert (record["node"], record["resource"], record["type"]) == ("web-frontend", "nginx", "Web")
    assert (record["source"], record["event_class"], record["message_key"]) == (
        "CloudWatch prod",
        "prod-eu",
        "web-frontend/cpu",
    )
    assert json.loads(json.loads(record["additional_info"])["alarm_tags"])["team"] == "web"


def test_severity_override_is_for_alarm_state_and_ok_still_clears() -> None:
    [record] = records(alarm(NewStateValue="OK", AlarmTags=[{"Key": "itom:severity", "Value": "critical"}]))
    assert record["severity"] == "0"
    [record] = records(alarm(NewStateValue="OK", AlarmTags={"itom:severity:ok": "5"}))
    assert record["severity"] == "5"


def test_insufficient_data_can_send_nothing_per_alarm_or_per_deployment() -> None:
    assert (
        records(alarm(NewStateValue="INSUFFICIENT_DATA", AlarmTags={"itom:severity:insufficient_data": "none"})) == []
    )
    silent = MappingOptions(severity_by_alarm_state={"ALARM": "2", "OK": "0", "INSUFFICIENT_DATA": None})
    assert records(alarm(NewStateValue="INSUFFICIENT_DATA"), silent) == []
    # ...and an alarm can opt back in.
    [record] = records(
        alarm(NewStateValue="INSUFFICIENT_DATA", AlarmTags={"itom:severity:insufficient_data": "minor"}), silent
    )
    assert record["severity"] == "3"


def test_description_lines_override_and_are_removed_from_the_description() -> None:
    description = "CPU of the web tier\nitom:severity = major\nitom:node=web-tier\nsecond line"
    [record] = records(alarm(AlarmDescription=description))
    assert record["severity"] == "2"
    assert record["node"] == "web-tier"
    assert "itom:" not in record["description"]
    assert "CPU of the web tier\nsecond line" in record["description"]


def test_tags_win_over_description_lines() -> None:
    [record] = records(alarm(AlarmDescription="itom:node=from-description", AlarmTags={"itom:node": "from-tag"}))
    assert record["node"] == "from-tag"


def test_unusable_override_is_reported_and_the_alert_still_sent() -> None:
    [record] = records(alarm(AlarmTags={"itom:severity": "catastrophic", "itom:colour": "red"}))
    assert record["severity"] == "2"  # the built-in ALARM severity
    problems = json.loads(json.loads(record["additional_info"])["override_problems"])
    assert any("itom:severity" in problem and "catastrophic" in problem for problem in problems)
    assert any("itom:colour: not an override key" in problem for problem in problems)


def test_split_description_keeps_other_text() -> None:
    assert split_description("a\nitom:type=X\nb") == ("a\nb", {"itom:type": "X"})
    assert split_description(None) == (None, {})


def settings_with(templates: dict[str, str]) -> MappingOptions:
    return MappingOptions(field_templates=FieldTemplates.parse(json.dumps(templates)))


def test_templates_build_fields_from_alert_values() -> None:
    settings = settings_with(
        {
            "node": "{{dimensions.InstanceId}}.{{alarm.region}}.example.internal",
            "message_key": "{{alarm.account}}/{{alarm.name}}",
            "description": "[{{tags.team}}] {{event.description}}",
            "event_class": "{{ alarm.account }} {{alarm.region}}",
        }
    )
    [record] = records(alarm(AlarmTags={"team": "web"}), settings)
    instance = message_of(load("sns-cloudwatch-alarm.json"))["Trigger"]["Dimensions"][0]["value"]
    assert record["node"] == f"{instance}.eu-west-1.example.internal"
    assert record["message_key"] == "123456789012/prod-web-1-cpu-high"
    assert record["description"].startswith("[web] CloudWatch alarm 'prod-web-1-cpu-high' is ALARM")
    assert record["event_class"] == "123456789012 eu-west-1"


def test_template_with_a_missing_value_keeps_the_built_in_field() -> None:
    settings = settings_with({"node": "{{tags.owner_host}}", "type": "{{alarm.namespace}}-{{tags.tier}}"})
    [built_in] = records(alarm())
    [record] = records(alarm(AlarmTags={"team": "web"}), settings)
    assert record["node"] == built_in["node"]
    assert record["type"] == built_in["type"]


def test_precedence_alarm_override_then_template_then_built_in() -> None:
    settings = settings_with({"node": "templated-{{alarm.name}}", "resource": "templated-resource"})
    [record] = records(alarm(AlarmTags={"itom:node": "from-tag"}), settings)
    assert record["node"] == "from-tag"
    assert record["resource"] == "templated-resource"
    assert record["type"] == "AWS/EC2"


def test_severity_template_accepts_names_and_reports_bad_values() -> None:
    [record] = records(alarm(AlarmTags={"priority": "critical"}), settings_with({"severity": "{{tags.priority}}"}))
    assert record["severity"] == "1"
    [record] = records(alarm(AlarmTags={"priority": "p0"}), settings_with({"severity": "{{tags.priority}}"}))
    assert record["severity"] == "2"
    assert "FIELD_TEMPLATES.severity" in json.loads(record["additional_info"])["override_problems"]


@pytest.mark.parametrize(
    ("templates", "problem"),
    [
        ('{"node": "{{alarm.nmae}}"}', "node: unknown value {{alarm.nmae}}"),
        ('{"node": "{{dimension.InstanceId}}"}', "node: unknown value {{dimension.InstanceId}}"),
        ('{"node": "{{tags.}}"}', "node: unknown value {{tags.}}"),
        ('{"node": "{{event.additional_info}}"}', "unknown value {{event.additional_info}}"),
        ('{"colour": "x"}', "colour: not a field that can be templated"),
        ('{"node": ""}', "node: the template must be a non-empty string"),
        ('["node"]', "must be a JSON object"),
        pytest.param("[" * 100_000 + "]" * 100_000, "not valid JSON", id="nested-too-deep"),
    ],
)
def test_templates_naming_unknown_values_are_refused(templates: str, problem: str) -> None:
    with pytest.raises(TemplateError) as raised:
        FieldTemplates.parse(templates)
    assert problem in str(raised.value)
