"""Security Hub findings ("Security Hub Findings - Imported" on EventBridge, ASFF): the real
samples (an open control finding, a legacy Macie finding, an archived one), what closes and
reopens an alert, message keys, severities, lists of findings, update times, robustness,
templates and overrides; the OCSF "Findings Imported V2" event stays generic."""

from __future__ import annotations

import copy
import json
from typing import Any
from urllib.parse import unquote

import pytest
from hypothesis import given

from itom_forwarder.formats import MappingOptions
from itom_forwarder.formats.alarms.templates import SIGNAL_VALUES, FieldTemplates
from itom_forwarder.formats.aws_events import securityhub
from itom_forwarder.itom_event import ELLIPSIS, FIELD_LIMITS
from tests.samples import load
from tests.unit.formats.aws_events.helpers import Mapper, info, map_with_every_wrong_type, template_values
from tests.unit.formats.test_generated_inputs import (
    GENERATED,
    _mutated,
)

OPEN = "asr-eventbridge-securityhub-findings-imported-informational-failed.json"
MACIE = "notify-slack-eventbridge-securityhub-findings-imported-legacy-macie-low.json"
ARCHIVED = "securityhub-jira-eventbridge-securityhub-findings-imported-archived-new.json"
OCSF = "aws-securityhubv2-bot-eventbridge-securityhub-findings-imported-v2-ocsf-high.json"
PRODUCT = "arn:aws:securityhub:us-east-1::product/aws/securityhub"
FINDING = (
    "arn:aws:securityhub:us-east-1:111111111111:subscription/aws-foundational-security-best-practices/v/1.0.0/"
    "EC2.7/finding/0003b335-cf3f-4f93-a025-6b1a7baced06"
)
KEY = f"aws.securityhub:{PRODUCT}:{FINDING}"
TOPIC = "arn:aws:sns:us-east-1:111111111111:itom-forwarder-eventbridge"
MAPPER = Mapper("securityhub", TOPIC)
mapped, record = MAPPER.mapped, MAPPER.record


def sample(name: str = OPEN) -> dict[str, Any]:
    event: dict[str, Any] = copy.deepcopy(load(name))
    return event


def finding(event: dict[str, Any]) -> dict[str, Any]:
    first: dict[str, Any] = event["detail"]["findings"][0]
    return first


def changed(event: dict[str, Any], updated: str = "2021-02-18T09:00:00.000Z", **fields: Any) -> dict[str, Any]:
    """The event with only `fields` of its finding and a later UpdatedAt changed."""
    event = copy.deepcopy(event)
    finding(event).update(fields, UpdatedAt=updated)
    return event


def resolved(event: dict[str, Any], updated: str = "2021-02-18T09:00:00.000Z") -> dict[str, Any]:
    return changed(event, updated, Workflow={"Status": "RESOLVED"})


def reopened_archived() -> dict[str, Any]:
    """The archived sample's opening event: only RecordState and an earlier UpdatedAt changed."""
    return changed(sample(ARCHIVED), "2022-03-12T18:33:38.017Z", RecordState="ACTIVE")


# ---------------------------------------------------------------- the real samples


def test_open_control_finding() -> None:
    item = record(sample())
    assert item["severity"] == "5"  # INFORMATIONAL
    assert item["source"] == "AWS Security Hub"
    assert item["event_class"] == "111111111111/us-east-1"
    assert item["message_key"] == KEY
    assert (item["node"], item["resource"]) == ("111111111111", "AwsAccount AWS::::Account:111111111111")
    # Types[0] is longer than the field: its namespace is dropped rather than its end cut.
    assert item["type"] == "Industry and Regulatory Standards/AWS-Foundational-Security-Best-Practices"
    assert item["metric_name"] == "aws-foundational-security-best-practices/v/1.0.0/EC2.7"
    assert item["time_of_event"] == "2021-02-17 14:56:09"
    assert item["description"].splitlines() == [
        "EC2.7 EBS default encryption should be enabled",
        "This control checks whether Amazon Elastic Block Store (EBS) encryption is enabled by default. "
        "The control fails if EBS default encryption is not enabled.",
        "Resource: AwsAccount AWS::::Account:111111111111",
        "Status: workflow NEW, record ACTIVE, compliance FAILED",
        "Remediation: For directions on how to fix this issue, please consult the AWS Security Hub "
        "Foundational Security Best Practices documentation.",
        "Remediation URL: https://docs.aws.amazon.com/console/securityhub/EC2.7/remediation",
    ]
    extra = info(item)
    assert (extra["finding_id"], extra["product_arn"]) == (FINDING, PRODUCT)
    assert (extra["product_name"], extra["company_name"]) == ("Security Hub", "AWS")  # from ProductFields
    assert extra["generator_id"] == "aws-foundational-security-best-practices/v/1.0.0/EC2.7"
    assert json.loads(extra["types"]) == [
        "Software and Configuration Checks/Industry and Regulatory Standards/AWS-Foundational-Security-Best-Practices"
    ]
    assert (extra["severity_label"], extra["severity_normalized"], extra["severity_original"]) == (
        "INFORMATIONAL",
        "0",
        "INFORMATIONAL",
    )
    assert (extra["workflow_status"], extra["record_state"], extra["compliance_status"]) == ("NEW", "ACTIVE", "FAILED")
    assert extra["control_id"] == "EC2.7"
    assert json.loads(extra["resources"]) == [
        {"type": "AwsAccount", "id": "AWS::::Account:111111111111", "region": "us-east-1"}
    ]
    assert (extra["first_observed_at"], extra["last_observed_at"]) == (
        "2021-02-17T14:56:09.063Z",
        "2021-02-17T14:56:11.440Z",
    )
    assert extra["remediation_url"] == "https://docs.aws.amazon.com/console/securityhub/EC2.7/remediation"
    assert "closed_by" not in extra
    assert (extra["account_id"], extra["region"]) == ("111111111111", "us-east-1")
    assert (extra["eventbridge_event_id"], extra["eventbridge_detail_type"]) == (
        "1622bd23-7237-fdec-8fb0-a019cccfd3cb",
        "Security Hub Findings - Imported",
    )


def test_the_console_link_filters_on_the_id_encoded_twice() -> None:
    url = info(record(sample()))["console_url"]
    prefix = (
        "https://us-east-1.console.aws.amazon.com/securityhub/home?region=us-east-1"
        "#/findings?search=Id%3D%255Coperator%255C%253AEQUALS%255C%253A"
    )
    assert url.startswith(prefix)
    assert url[len(prefix) :].startswith(
        "arn%253Aaws%253Asecurityhub%253Aus-east-1%253A111111111111%253Asubscription%252F"
    )
    search = url.split("search=", 1)[1]
    assert unquote(unquote(search)) == f"Id=\\operator\\:EQUALS\\:{FINDING}"


def test_legacy_macie_finding_without_label_or_workflow() -> None:
    item = record(sample(MACIE))
    assert item["severity"] == "4"  # ProductFields' SeverityLabel LOW
    assert item["message_key"] == (
        "aws.securityhub:arn:aws:securityhub:us-west-2::product/aws/macie:arn:aws:macie:us-west-2:123456789012:"
        "integtest/trigger/6214d71b927c41cbab015159a8f316a3/alert/f2893b211841467198cc1201e9031ee4"
    )
    assert item["event_class"] == "123456789012/us-west-2"  # no Region: the Id's
    assert (item["node"], item["resource"]) == (
        "arn:aws:s3:::test-bucket-12",
        "AwsS3Bucket arn:aws:s3:::test-bucket-12",
    )
    assert item["type"] == "Sensitive Data Identifications/Passwords/Google Suite Two-factor backup codes in S3"
    assert item["description"].splitlines()[3] == "Status: workflow NEW, record ACTIVE"  # the legacy WorkflowState
    extra = info(item)
    assert (extra["product_name"], extra["company_name"]) == ("Macie", "Amazon")
    assert (extra["severity_label"], extra["severity_normalized"]) == ("LOW", "15")
    assert "compliance_status" not in extra
    assert "eventbridge_event_id" not in extra  # a trimmed envelope


def test_legacy_finding_falls_back_to_normalized() -> None:
    event = sample(MACIE)
    del finding(event)["ProductFields"]["aws/securityhub/SeverityLabel"]
    assert record(event)["severity"] == "4"  # Normalized 15: LOW
    finding(event)["Severity"]["Normalized"] = 75
    assert record(event)["severity"] == "2"


def test_archived_finding_closes_and_its_opening_shares_the_key() -> None:
    closing, opening = record(sample(ARCHIVED)), record(reopened_archived())
    assert (opening["severity"], closing["severity"]) == ("2", "0")  # HIGH, then archived
    assert opening["message_key"] == closing["message_key"]
    assert closing["time_of_event"] > opening["time_of_event"]
    assert (closing["node"], closing["resource"]) == (
        "i-0000000aaaaaaaaaa",
        "AwsEc2Instance arn:aws:ec2:eu-west-1:123456789012:instance/i-0000000aaaaaaaaaa",
    )
    assert "Closed by RecordState ARCHIVED" in closing["description"].splitlines()
    assert info(closing)["closed_by"] == "RecordState ARCHIVED"
    # The envelope's resources (a Macie ARN copied from the docs) play no part.
    assert "macie" not in closing["node"] + closing["resource"]


def test_through_sns_the_notification_is_in_additional_info() -> None:
    item = record(sample(), sns=True)
    extra = info(item)
    assert (extra["sns_message_id"], extra["sns_topic_arn"]) == ("sns-1", TOPIC)
    assert item["message_key"] == KEY


# ---------------------------------------------------------------- close, reopen and keys


@pytest.mark.parametrize(
    ("fields", "closed_by"),
    [
        ({"Workflow": {"Status": "RESOLVED"}}, "Workflow.Status RESOLVED"),
        ({"Workflow": {"Status": "SUPPRESSED"}}, "Workflow.Status SUPPRESSED"),
        ({"Workflow": {"Status": "resolved"}}, "Workflow.Status RESOLVED"),  # any case
        ({"RecordState": "ARCHIVED"}, "RecordState ARCHIVED"),
        ({"Compliance": {"Status": "PASSED"}}, "Compliance.Status PASSED"),
        ({"Workflow": None, "WorkflowState": "RESOLVED"}, "Workflow.Status RESOLVED"),  # the legacy field
    ],
)
def test_what_closes_the_alert(fields: dict[str, Any], closed_by: str) -> None:
    opening, closing = record(sample()), record(changed(sample(), **fields))
    assert closing["severity"] == "0"
    assert closing["message_key"] == opening["message_key"]
    assert closing["time_of_event"] == "2021-02-18 09:00:00"
    assert info(closing)["closed_by"] == closed_by


@pytest.mark.parametrize(
    "fields",
    [
        {"Workflow": {"Status": "NOTIFIED"}},
        {"Compliance": {"Status": "WARNING"}},
        {"Compliance": {"Status": "NOT_AVAILABLE"}},
        {"WorkflowState": "DEFERRED", "Workflow": None},
        {"RecordState": "ACTIVE"},
    ],
)
def test_what_keeps_it_open(fields: dict[str, Any]) -> None:
    assert record(changed(sample(), **fields))["severity"] == "5"


def test_reactivation_reopens_with_the_same_key() -> None:
    closing = record(resolved(sample()))
    reopened = record(changed(resolved(sample()), "2021-02-19T09:00:00.000Z", Workflow={"Status": "NEW"}))
    assert (closing["severity"], reopened["severity"]) == ("0", "5")
    assert reopened["message_key"] == closing["message_key"] == KEY
    assert reopened["time_of_event"] > closing["time_of_event"]


def test_two_findings_never_share_a_key() -> None:
    other_id = changed(sample(), Id=FINDING.replace("0003b335", "1113b335"))
    other_product = changed(sample(), ProductArn="arn:aws:securityhub:us-east-1::product/aws/inspector")
    keys = {record(event)["message_key"] for event in (sample(), other_id, other_product)}
    assert len(keys) == 3


def test_without_an_id_the_key_stays_the_same_from_open_to_close() -> None:
    event = sample()
    del finding(event)["Id"]
    opening, closing = record(event), record(resolved(event))
    assert opening["message_key"] == closing["message_key"]
    assert opening["message_key"].startswith(f"aws.securityhub:{PRODUCT}:sha256:")
    assert "console_url" not in info(opening)
    assert opening["event_class"] == "111111111111/us-east-1"


# ---------------------------------------------------------------- severity


@pytest.mark.parametrize(
    ("label", "severity"),
    [("CRITICAL", "1"), ("HIGH", "2"), ("MEDIUM", "3"), ("LOW", "4"), ("INFORMATIONAL", "5"), ("high", "2")],
)
def test_severity_by_label(label: str, severity: str) -> None:
    event = sample()
    finding(event)["Severity"]["Label"] = label
    assert record(event)["severity"] == severity


@pytest.mark.parametrize(
    ("normalized", "severity"),
    [
        (100, "1"),
        (90, "1"),
        (89, "2"),
        (70, "2"),
        (69, "3"),
        (40, "3"),
        (39, "4"),
        (1, "4"),
        (0, "5"),
        ("55", "3"),
        (-1, "3"),  # no severity: the default (set to 3 here)
        ("x", "3"),
        (None, "3"),
        (True, "3"),
    ],
)
def test_severity_by_normalized_without_a_label(normalized: object, severity: str) -> None:
    event = sample()
    finding(event)["Severity"] = {"Normalized": normalized}
    del finding(event)["ProductFields"]
    assert record(event, MappingOptions(default_severity="3"))["severity"] == severity


def test_the_providers_label_stands_in_for_a_missing_one() -> None:
    event = sample(ARCHIVED)
    finding(event)["RecordState"] = "ACTIVE"
    finding(event)["Severity"] = {"Label": "SEVERE"}  # no label Security Hub knows
    finding(event)["FindingProviderFields"]["Severity"]["Label"] = "CRITICAL"
    assert record(event)["severity"] == "1"


# ---------------------------------------------------------------- lists of findings


def test_each_finding_of_a_list_is_its_own_event() -> None:
    event = sample()
    second = copy.deepcopy(finding(event))
    second.update(Id=FINDING.replace("0003b335", "2223b335"), Compliance={"Status": "PASSED"})
    event["detail"]["findings"] = [finding(event), "not a finding", second]
    name, items = mapped(event)
    assert name == "securityhub"
    assert [item["severity"] for item in items] == ["5", "0"]
    assert len({item["message_key"] for item in items}) == 2


def test_no_finding_at_all_still_sends_one_event() -> None:
    for findings in ([], None, "text", [1, 2]):
        event = sample()
        event["detail"]["findings"] = findings
        item = record(event)
        assert item["severity"] == "4"
        assert item["message_key"].startswith("aws.securityhub::sha256:")
        assert item["event_class"] == "111111111111/us-east-1"
        assert item["time_of_event"] == "2020-05-27 03:37:40"  # the event's time


def test_one_finding_object_where_the_list_belongs() -> None:
    event = sample()
    event["detail"]["findings"] = finding(event)
    assert record(event)["message_key"] == KEY


# ---------------------------------------------------------------- resources and times


def test_many_resources_are_bounded_with_a_count() -> None:
    event = sample()
    finding(event)["Resources"] = [
        {"Type": "AwsEc2Instance", "Id": f"arn:aws:ec2:us-east-1:111111111111:instance/i-{index:017x}"}
        for index in range(30)
    ]
    item = record(event)
    assert item["node"] == "i-00000000000000000"
    assert item["resource"] == "AwsEc2Instance arn:aws:ec2:us-east-1:111111111111:instance/i-00000000000000000 +29 more"
    assert item["description"].splitlines()[2].endswith(" +25 more")
    assert item["description"].splitlines()[2].startswith("Resources: AwsEc2Instance arn:aws:ec2:")
    extra = info(item)
    assert len(json.loads(extra["resources"])) == 10
    assert extra["resources_total"] == "30"


def test_a_long_resource_keeps_its_count() -> None:
    event = sample()
    finding(event)["Resources"] = [{"Type": "AwsS3Object", "Id": "arn:aws:s3:::bucket/" + "k" * 300}, {"Id": "x"}]
    item = record(event)
    assert len(item["resource"]) == FIELD_LIMITS["resource"]
    assert item["resource"].endswith(f"{ELLIPSIS} +1 more")


def test_update_time_falls_back_to_last_observed_created_then_event_time() -> None:
    event = sample()
    finding(event)["UpdatedAt"] = None
    assert record(event)["time_of_event"] == "2021-02-17 14:56:11"
    del finding(event)["LastObservedAt"]
    finding(event)["CreatedAt"] = "2021-02-17T14:00:00Z"
    assert record(event)["time_of_event"] == "2021-02-17 14:00:00"
    del finding(event)["CreatedAt"]
    assert record(event)["time_of_event"] == "2020-05-27 03:37:40"


# ---------------------------------------------------------------- recognising the event


def test_ocsf_findings_imported_v2_keeps_the_generic_handling() -> None:
    event = sample(OCSF)
    assert not securityhub.is_securityhub(event)
    name, [item] = mapped(event)
    assert name == "generic"
    assert item["source"] == "aws.securityhub"


def test_another_detail_type_or_source_is_not_an_imported_finding() -> None:
    event = sample()
    event["detail-type"] = "Security Hub Findings - Custom Action"
    assert not securityhub.is_securityhub(event)
    event = sample()
    event["source"] = "aws.guardduty"
    assert not securityhub.is_securityhub(event)
    event = sample()
    del event["source"]  # a trimmed relay
    assert securityhub.is_securityhub(event)


# ---------------------------------------------------------------- robustness


def test_missing_parts_still_map() -> None:
    event = sample()
    finding(event).clear()
    item = record(event)
    assert item["severity"] == "4"
    assert item["description"] == "Security Hub finding"
    assert item["message_key"].startswith("aws.securityhub::sha256:")
    assert item["event_class"] == "111111111111/us-east-1"  # the envelope's
    assert "node" not in item


def test_wrong_types_where_lists_and_objects_belong() -> None:
    event = sample()
    finding(event).update(
        Resources={"Type": "AwsEc2Instance", "Id": "arn:aws:ec2:us-east-1:111111111111:instance/i-0abc"},  # no list
        Severity=["HIGH"],
        Workflow="RESOLVED",
        Compliance=None,
        Types="Effects/Data Exposure",
        Remediation={"Recommendation": "read the docs"},
        Title=42,
    )
    item = record(event)
    assert item["node"] == "i-0abc"
    # No Severity object: no label (the default); Workflow no object: the legacy WorkflowState NEW.
    assert item["severity"] == "4"
    assert item["type"] == "Effects/Data Exposure"
    assert item["description"].startswith("42\n")


def test_very_long_values_are_cut_by_the_event() -> None:
    event = sample()
    finding(event).update(Title="EBS default encryption " * 300, GeneratorId="g" * 500, Id="arn:x:" + "y" * 3000)
    item = record(event)
    assert len(item["description"]) == FIELD_LIMITS["description"]
    assert item["description"].endswith(ELLIPSIS)
    assert len(item["metric_name"]) == FIELD_LIMITS["metric_name"]
    assert len(item["message_key"]) <= FIELD_LIMITS["message_key"]
    assert "sha256:" in item["message_key"]
    assert len(item["additional_info"]) <= FIELD_LIMITS["additional_info"]


def test_unicode_survives() -> None:
    event = sample()
    finding(event).update(Title="Chiffrement EBS désactivé 🔓", Id="résultat-🔓")
    finding(event)["Resources"][0]["Id"] = "ボリューム-1"
    item = record(event)
    assert item["description"].startswith("Chiffrement EBS désactivé 🔓")
    assert item["node"] == "ボリューム-1"
    assert item["message_key"] == f"aws.securityhub:{PRODUCT}:résultat-🔓"
    assert unquote(unquote(info(item)["console_url"].split("search=", 1)[1])).endswith(":résultat-🔓")


def test_every_value_of_each_sample_takes_every_wrong_type() -> None:
    map_with_every_wrong_type(load(OPEN), load(MACIE))


@GENERATED
@given(_mutated(load(ARCHIVED)))
def test_generated_securityhub_findings_map_or_are_refused_by_name(payload: object) -> None:
    MAPPER.map_everywhere(payload)


# ---------------------------------------------------------------- templates and overrides


def test_field_templates_use_securityhub_values() -> None:
    templates = FieldTemplates.parse(
        json.dumps(
            {
                "node": "{{securityhub.resource_id}}",
                "event_class": "{{securityhub.product_name}}/{{securityhub.account}}/{{securityhub.region}}",
                "metric_name": "{{securityhub.generator_id}}",
                "type": "{{securityhub.severity}} {{securityhub.compliance_status}} {{securityhub.resource_type}}",
                "resource": "{{securityhub.workflow_status}}/{{securityhub.record_state}}",
                "ci_type": "{{guardduty.instance_id}}",  # another service's value: skipped
                "description": "{{securityhub.title}} ({{securityhub.type}})",
            }
        )
    )
    item = record(sample(), MappingOptions(field_templates=templates))
    assert item["node"] == "AWS::::Account:111111111111"
    assert item["event_class"] == "Security Hub/111111111111/us-east-1"
    assert item["metric_name"] == "aws-foundational-security-best-practices/v/1.0.0/EC2.7"
    assert item["type"] == "INFORMATIONAL FAILED AwsAccount"
    assert item["resource"] == "NEW/ACTIVE"
    assert "ci_type" not in item
    assert item["description"].startswith("EC2.7 EBS default encryption should be enabled (Software and Configuration")
    by_id = FieldTemplates.parse('{"message_key": "{{securityhub.product_arn}}|{{securityhub.id}}"}')
    assert record(sample(), MappingOptions(field_templates=by_id))["message_key"] == f"{PRODUCT}|{FINDING}"
    # No Compliance on the Macie finding: the type template is skipped, the built-in type stays.
    macie = record(sample(MACIE), MappingOptions(field_templates=templates))
    assert macie["type"] == "Sensitive Data Identifications/Passwords/Google Suite Two-factor backup codes in S3"


def test_template_values_are_exactly_the_documented_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    assert template_values(monkeypatch, securityhub, MAPPER, sample()) == set(SIGNAL_VALUES["securityhub"])


def test_itom_tags_of_the_resource_override_fields() -> None:
    event = reopened_archived()
    finding(event)["Resources"][0]["Tags"] = {
        "itom:node": "web-frontend-1",
        "itom:severity": "minor",
        "itom:ci_type": "cmdb_ci_ec2_instance",
        "team": "web",
    }
    templates = FieldTemplates.parse('{"event_class": "team-{{tags.team}}"}')
    item = record(event, MappingOptions(field_templates=templates))
    assert (item["node"], item["severity"], item["ci_type"]) == ("web-frontend-1", "3", "cmdb_ci_ec2_instance")
    assert item["event_class"] == "team-web"
    closing = copy.deepcopy(event)
    finding(closing)["RecordState"] = "ARCHIVED"
    assert (record(closing)["node"], record(closing)["severity"]) == ("web-frontend-1", "0")
