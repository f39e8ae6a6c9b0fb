"""AWS Config compliance changes ("Config Rules Compliance Change" on EventBridge): the real
sample (a COMPLIANT one), its NON_COMPLIANT opening event, message keys, severities, update
times, robustness and templates."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given

from itom_forwarder.formats import MappingOptions
from itom_forwarder.formats.alarms.templates import SIGNAL_VALUES, FieldTemplates
from itom_forwarder.formats.aws_events import config_rules
from itom_forwarder.itom_event import ELLIPSIS, FIELD_LIMITS
from tests.samples import load
from tests.unit.formats.aws_events.helpers import Mapper, info, map_with_every_wrong_type, template_values
from tests.unit.formats.test_generated_inputs import (
    GENERATED,
    _mutated,
)

COMPLIANT = "config-aggregator-notifier-eventbridge-config-rules-compliance-change-compliant.json"
RULE = "securityhub-iam-inline-policy-blocked-kms-actions-baa2cf8c"
RULE_ARN = (
    "arn:aws:config:eu-west-2:616241992003:config-rule/aws-service-rule/securityhub.amazonaws.com/config-rule-lcprsx"
)
ROLE = "AROAY66XCSFB4WL7AHL3V"
KEY = f"aws.config:{RULE_ARN}:AWS::IAM::Role:{ROLE}:616241992003:eu-west-2"
TOPIC = "arn:aws:sns:eu-west-2:616241992003:itom-forwarder-eventbridge"
MAPPER = Mapper("config_compliance", TOPIC)
record = MAPPER.record


def sample() -> dict[str, Any]:
    event: dict[str, Any] = copy.deepcopy(load(COMPLIANT))
    return event


def non_compliant(event: dict[str, Any] | None = None) -> dict[str, Any]:
    """The real (COMPLIANT) event's opening one: only the compliance and an earlier
    recorded time changed."""
    event = copy.deepcopy(event or sample())
    event["detail"]["newEvaluationResult"].update(
        complianceType="NON_COMPLIANT", resultRecordedTime="2020-12-16T18:46:39.210Z"
    )
    return event


# ---------------------------------------------------------------- the real sample


def test_compliant_event_closes() -> None:
    item = record(sample())
    assert item["severity"] == "0"
    assert item["source"] == "AWS Config"
    assert item["event_class"] == "616241992003/eu-west-2"
    assert item["message_key"] == KEY
    assert (item["node"], item["resource"], item["type"]) == (ROLE, f"AWS::IAM::Role {ROLE}", "AWS::IAM::Role")
    assert item["metric_name"] == RULE
    assert item["time_of_event"] == "2020-12-17 05:13:49"  # resultRecordedTime
    assert item["description"] == f"AWS Config rule {RULE}: AWS::IAM::Role {ROLE} is COMPLIANT"
    extra = info(item)
    assert (extra["config_rule_name"], extra["config_rule_arn"]) == (RULE, RULE_ARN)
    assert (extra["resource_type"], extra["resource_id"]) == ("AWS::IAM::Role", ROLE)
    assert extra["compliance_type"] == "COMPLIANT"
    assert (extra["result_recorded_time"], extra["config_rule_invoked_time"]) == (
        "2020-12-17T05:13:49.210Z",
        "2020-12-17T05:13:48.933Z",
    )
    assert extra["ordering_timestamp"] == "2020-12-16T18:46:38.764Z"
    assert extra["notification_creation_time"] == "2020-12-17T05:13:50.188Z"
    assert (extra["account_id"], extra["region"]) == ("616241992003", "eu-west-2")
    assert extra["console_url"] == (
        f"https://eu-west-2.console.aws.amazon.com/config/home?region=eu-west-2#/rules/details?configRuleName={RULE}"
    )
    assert (extra["eventbridge_event_id"], extra["eventbridge_detail_type"]) == (
        "51677f1d-1ae8-5357-cc9b-387ac98e26ab",
        "Config Rules Compliance Change",
    )
    assert "old_compliance_type" not in extra
    assert "annotation" not in extra


def test_through_sns_the_notification_is_in_additional_info() -> None:
    extra = info(record(sample(), sns=True))
    assert (extra["sns_message_id"], extra["sns_topic_arn"]) == ("sns-1", TOPIC)


# ---------------------------------------------------------------- open, close and keys


def test_non_compliant_opens_and_the_compliant_one_closes_the_same_alert() -> None:
    opening, closing = record(non_compliant()), record(sample())
    assert opening["severity"] == "3"  # Minor by default
    assert opening["message_key"] == closing["message_key"] == KEY
    assert opening["time_of_event"] < closing["time_of_event"]
    assert opening["description"] == f"AWS Config rule {RULE}: AWS::IAM::Role {ROLE} is NON_COMPLIANT"


@pytest.mark.parametrize(
    ("compliance", "severity"),
    [("COMPLIANT", "0"), ("NOT_APPLICABLE", "0"), ("NON_COMPLIANT", "3"), ("INSUFFICIENT_DATA", "4"), (None, "4")],
)
def test_severity_by_compliance(compliance: str | None, severity: str) -> None:
    event = sample()
    event["detail"]["newEvaluationResult"]["complianceType"] = compliance
    assert record(event)["severity"] == severity


def test_severities_are_configurable() -> None:
    options = MappingOptions(config_noncompliant_severity="1", default_severity="5")
    assert record(non_compliant(), options)["severity"] == "1"
    event = sample()
    event["detail"]["newEvaluationResult"]["complianceType"] = "INSUFFICIENT_DATA"
    assert record(event, options)["severity"] == "5"
    assert record(sample(), options)["severity"] == "0"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("configRuleARN", RULE_ARN.replace("lcprsx", "abcdef")),
        ("resourceType", "AWS::IAM::User"),
        ("resourceId", "AIDAY66XCSFB4WL7AHL3V"),
        ("awsAccountId", "111122223333"),
        ("awsRegion", "eu-west-1"),
    ],
)
def test_a_different_rule_resource_account_or_region_is_another_alert(field: str, value: str) -> None:
    other = sample()
    other["detail"][field] = value
    assert record(other)["message_key"] != KEY


def test_old_result_and_annotation_are_described() -> None:
    event = non_compliant()
    event["detail"]["newEvaluationResult"]["annotation"] = "The role has an inline policy allowing kms:Decrypt on *."
    event["detail"]["oldEvaluationResult"] = {
        "complianceType": "COMPLIANT",
        "resultRecordedTime": "2020-12-01T00:00:00Z",
    }
    item = record(event)
    assert item["description"].splitlines() == [
        f"AWS Config rule {RULE}: AWS::IAM::Role {ROLE} is NON_COMPLIANT (was COMPLIANT)",
        "Annotation: The role has an inline policy allowing kms:Decrypt on *.",
    ]
    extra = info(item)
    assert (extra["old_compliance_type"], extra["old_result_recorded_time"]) == ("COMPLIANT", "2020-12-01T00:00:00Z")
    assert extra["annotation"].startswith("The role has")


# ---------------------------------------------------------------- times


def test_update_time_falls_back() -> None:
    event = sample()
    del event["detail"]["newEvaluationResult"]["resultRecordedTime"]
    assert record(event)["time_of_event"] == "2020-12-17 05:13:48"  # configRuleInvokedTime
    del event["detail"]["newEvaluationResult"]["configRuleInvokedTime"]
    event["detail"]["newEvaluationResult"]["configRuleInvocationTime"] = "2020-12-17T05:13:47Z"
    assert record(event)["time_of_event"] == "2020-12-17 05:13:47"
    del event["detail"]["newEvaluationResult"]["configRuleInvocationTime"]
    assert record(event)["time_of_event"] == "2020-12-17 05:13:50"  # notificationCreationTime
    del event["detail"]["notificationCreationTime"]
    event["time"] = "not a time"
    assert "time_of_event" not in record(event)


# ---------------------------------------------------------------- robustness


def test_the_qualifier_stands_in_for_missing_top_level_fields() -> None:
    event = sample()
    for name in ("configRuleName", "resourceType", "resourceId", "configRuleARN"):
        del event["detail"][name]
    item = record(event)
    assert item["message_key"] == f"aws.config:{RULE}:AWS::IAM::Role:{ROLE}:616241992003:eu-west-2"
    assert (item["node"], item["metric_name"]) == (ROLE, RULE)


def test_missing_parts_still_map() -> None:
    event = sample()
    event["detail"] = {}
    item = record(event)
    assert item["severity"] == "4"
    assert item["message_key"].startswith("aws.config:sha256:")
    assert item["description"] == "AWS Config rule (unnamed): a resource is evaluated"
    assert item["event_class"] == "616241992003/eu-west-2"  # the event's account and region
    assert item["time_of_event"] == "2020-12-17 05:13:50"  # the event's time
    assert "console_url" not in info(item)


def test_without_account_and_region_they_come_from_the_rule_arn() -> None:
    event = sample()
    for name in ("awsAccountId", "awsRegion"):
        del event["detail"][name]
    for name in ("account", "region"):
        del event[name]
    assert record(event)["message_key"] == KEY


def test_wrong_types_where_objects_belong() -> None:
    event = sample()
    event["detail"]["newEvaluationResult"] = ["NON_COMPLIANT"]
    event["detail"]["oldEvaluationResult"] = "COMPLIANT"
    event["detail"]["resourceId"] = 12345
    item = record(event)
    assert item["severity"] == "4"
    assert item["node"] == "12345"
    assert not config_rules.is_config_compliance({**event, "detail": "text"})


def test_very_long_values_are_cut_by_the_event() -> None:
    event = non_compliant()
    event["detail"]["configRuleName"] = "rule-" + "x" * 5000
    event["detail"]["newEvaluationResult"]["annotation"] = "🚨" * 3000
    item = record(event)
    assert len(item["metric_name"]) == FIELD_LIMITS["metric_name"]
    assert item["metric_name"].endswith(ELLIPSIS)
    assert len(item["description"]) <= FIELD_LIMITS["description"]
    assert item["description"].endswith(ELLIPSIS)
    assert len(item["additional_info"]) <= FIELD_LIMITS["additional_info"]


def test_unicode_survives() -> None:
    event = non_compliant()
    event["detail"]["newEvaluationResult"]["annotation"] = "ポリシーが広すぎます ✋"
    event["detail"]["configRuleName"] = "règle-sécurité"
    item = record(event)
    assert item["description"].splitlines()[1] == "Annotation: ポリシーが広すぎます ✋"
    assert info(item)["console_url"].endswith("configRuleName=r%C3%A8gle-s%C3%A9curit%C3%A9")


def test_every_value_of_the_sample_takes_every_wrong_type() -> None:
    map_with_every_wrong_type(load(COMPLIANT), non_compliant())


@GENERATED
@given(_mutated(load(COMPLIANT)))
def test_generated_config_events_map_or_are_refused_by_name(payload: object) -> None:
    MAPPER.map_everywhere(payload)


# ---------------------------------------------------------------- templates


def test_field_templates_use_config_values() -> None:
    templates = FieldTemplates.parse(
        json.dumps(
            {
                "node": "{{config.resource_id}}@{{config.account}}",
                "event_class": "config/{{config.region}}",
                "metric_name": "{{config.compliance}}:{{config.rule_name}}",
                "ci_type": "{{config.resource_type}}",
                "resource": "{{health.service}}",  # another service's value: skipped for Config
                "description": "{{event.description}} ({{config.rule_arn}})",
            }
        )
    )
    item = record(non_compliant(), MappingOptions(field_templates=templates))
    assert item["node"] == f"{ROLE}@616241992003"
    assert item["event_class"] == "config/eu-west-2"
    assert item["metric_name"] == f"NON_COMPLIANT:{RULE}"
    assert item["ci_type"] == "AWS::IAM::Role"
    assert item["resource"] == f"AWS::IAM::Role {ROLE}"  # the built-in value stays
    assert item["description"].endswith(f"({RULE_ARN})")
    assert item["severity"] == "3"


def test_template_values_are_exactly_the_documented_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    assert template_values(monkeypatch, config_rules, MAPPER, sample()) == set(SIGNAL_VALUES["config"])
