"""GuardDuty findings ("GuardDuty Finding" on EventBridge): the real samples (a full event,
a trimmed one and the same trimmed one through SNS), open and close (archived), message
keys, severity bands, update times, the affected resource of each resource type,
robustness, templates and overrides."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import pytest
from hypothesis import given

from itom_forwarder.formats import MappingOptions, to_events
from itom_forwarder.formats.alarms.templates import SIGNAL_VALUES, FieldTemplates
from itom_forwarder.formats.aws_events import guardduty
from itom_forwarder.formats.aws_events.common import console_base
from itom_forwarder.itom_event import ELLIPSIS, FIELD_LIMITS
from tests.samples import load, notification_of
from tests.unit.formats.aws_events.helpers import Mapper, info, map_with_every_wrong_type, template_values
from tests.unit.formats.test_generated_inputs import (
    GENERATED,
    _mutated,
)

MEDIUM = "cloud-custodian-eventbridge-guardduty-finding-medium-ec2-dns.json"
HIGH = "notify-slack-eventbridge-guardduty-finding-high.json"
SNS = "notify-slack-sns-eventbridge-guardduty-finding.json"
FINDING = "b4b01b60fc24a199139f8f5f490edd81"
KEY = f"aws.guardduty:883606788610:us-east-1:{FINDING}"
TOPIC = "arn:aws:sns:us-east-1:883606788610:itom-forwarder-eventbridge"
MAPPER = Mapper("guardduty", TOPIC)
mapped, record = MAPPER.mapped, MAPPER.record


def sample(name: str = MEDIUM) -> dict[str, Any]:
    event: dict[str, Any] = copy.deepcopy(load(name))
    return event


def archived(event: dict[str, Any], updated: str = "2017-12-08T21:32:49.865Z") -> dict[str, Any]:
    """The finding archived: only `service.archived` and a later update time changed."""
    event = copy.deepcopy(event)
    event["detail"]["service"]["archived"] = True
    event["detail"]["updatedAt"] = updated
    return event


def with_resource(resource: dict[str, Any]) -> dict[str, Any]:
    event = sample()
    event["detail"]["resource"] = resource
    return event


# ---------------------------------------------------------------- the real samples


def test_medium_ec2_dns_finding() -> None:
    item = record(sample())
    assert item["severity"] == "3"  # 5: Medium
    assert item["source"] == "Amazon GuardDuty"
    assert item["event_class"] == "883606788610/us-east-1"  # the finding's account, not the envelope's
    assert item["message_key"] == KEY
    assert (item["node"], item["resource"]) == ("i-99999999", "Instance i-99999999")
    assert (item["type"], item["metric_name"]) == ("Backdoor:EC2/C&CActivity.B!DNS", "Backdoor")
    assert item["time_of_event"] == "2017-12-08 15:32:49"  # updatedAt, not the envelope's 1970 time
    assert item["description"].splitlines() == [
        "Command and Control server domain name queried by EC2 instance i-99999999.",
        "EC2 instance i-99999999 is querying a domain name associated with a known Command & Control server.",
        "Resource: Instance i-99999999",
        "Count: 1 (first seen 2017-12-08T15:32:49Z, last seen 2017-12-08T15:32:49Z)",
        "Action: DNS_REQUEST; domain example.com",
        "This is a GuardDuty sample finding.",
    ]
    extra = info(item)
    assert extra["finding_id"] == FINDING
    assert extra["finding_arn"].endswith(f"/finding/{FINDING}")
    assert (extra["severity"], extra["severity_label"]) == ("5", "Medium")
    assert (extra["resource_type"], extra["resource_role"], extra["instance_id"]) == (
        "Instance",
        "TARGET",
        "i-99999999",
    )
    assert (extra["count"], extra["first_seen"], extra["last_seen"]) == (
        "1",
        "2017-12-08T15:32:49Z",
        "2017-12-08T15:32:49Z",
    )
    assert (extra["archived"], extra["sample"], extra["action_type"], extra["dns_domain"]) == (
        "false",
        "true",
        "DNS_REQUEST",
        "example.com",
    )
    assert extra["detector_id"] == "c0b018e3eb2130078632d999e41d4f02"
    assert extra["delivered_to_account"] == "101010101111"  # the administrator account received it
    assert (extra["account_id"], extra["region"]) == ("883606788610", "us-east-1")
    assert extra["console_url"] == (
        f"https://us-east-1.console.aws.amazon.com/guardduty/home?region=us-east-1#/findings?search=id%3D{FINDING}"
    )
    assert (extra["eventbridge_event_id"], extra["eventbridge_detail_type"]) == (
        "8f5fa7d9-5558-33dc-449c-c890a0c38127",
        "GuardDuty Finding",
    )


def test_trimmed_high_finding_without_source_or_resource() -> None:
    item = record(sample(HIGH))
    assert item["severity"] == "1"  # 9: Critical
    assert item["message_key"] == "aws.guardduty:123456789:us-east-1:sample-id-2"  # the event's region
    assert "node" not in item
    assert "resource" not in item
    assert (item["type"], item["metric_name"]) == ("Recon:EC2 PortProbeUnprotectedPort", "Recon")
    assert item["time_of_event"] == "2020-01-03 01:02:03"  # no updatedAt or createdAt: eventLastSeen
    assert item["description"].splitlines()[2] == (
        "Count: 1234 (first seen 2020-01-02T01:02:03Z, last seen 2020-01-03T01:02:03Z)"
    )
    extra = info(item)
    assert extra["severity_label"] == "Critical"
    assert "eventbridge_event_id" not in extra
    assert "delivered_to_account" not in extra


def test_through_sns_in_govcloud() -> None:
    notification = notification_of(load(SNS))
    name, [event] = to_events(notification, MappingOptions())
    item = event.to_record()
    assert (name, item["severity"]) == ("guardduty", "1")
    assert item["message_key"] == "aws.guardduty:123456789:us-gov-east-1:sample-id-2"
    extra = info(item)
    assert (extra["sns_message_id"], extra["sns_topic_arn"]) == (
        "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
        "arn:aws:sns:us-gov-east-1:123456789012:ExampleTopic",
    )
    # GovCloud's console is on its own domain.
    assert extra["console_url"] == (
        "https://console.amazonaws-us-gov.com/guardduty/home?region=us-gov-east-1#/findings?search=id%3Dsample-id-2"
    )


def test_the_key_is_the_same_by_sns_and_direct() -> None:
    assert record(sample(), sns=True)["message_key"] == record(sample())["message_key"] == KEY


# ---------------------------------------------------------------- open, update, close and keys


def test_archived_closes_with_the_same_key() -> None:
    opening, closing = record(sample()), record(archived(sample()))
    assert closing["severity"] == "0"
    assert closing["message_key"] == opening["message_key"]
    assert closing["time_of_event"] == "2017-12-08 21:32:49"
    assert closing["time_of_event"] > opening["time_of_event"]  # the ordering guard lets it through
    assert "The finding is archived in GuardDuty." in closing["description"].splitlines()
    assert info(closing)["archived"] == "true"


@pytest.mark.parametrize(("value", "severity"), [(True, "0"), ("true", "0"), ("TRUE", "0"), (False, "3"), ("no", "3")])
def test_archived_as_a_relay_may_write_it(value: object, severity: str) -> None:
    event = sample()
    event["detail"]["service"]["archived"] = value
    assert record(event)["severity"] == severity


def test_a_later_occurrence_updates_the_same_alert() -> None:
    later = sample()
    later["detail"]["service"].update(count=7, eventLastSeen="2017-12-09T10:00:00Z")
    later["detail"]["updatedAt"] = "2017-12-09T10:05:00Z"
    item = record(later)
    assert item["message_key"] == KEY
    assert item["severity"] == "3"
    assert item["time_of_event"] == "2017-12-09 10:05:00"
    assert "Count: 7 (first seen 2017-12-08T15:32:49Z, last seen 2017-12-09T10:00:00Z)" in item["description"]


def test_two_findings_never_share_a_key() -> None:
    other = sample()
    other["detail"]["id"] = "c5c01b60fc24a199139f8f5f490edd82"
    assert record(other)["message_key"] != record(sample())["message_key"]


def test_one_finding_id_in_two_accounts_or_regions_is_two_alerts() -> None:
    other_account, other_region = sample(), sample()
    other_account["detail"]["accountId"] = "444455556666"
    other_region["detail"]["region"] = "eu-west-1"
    keys = {record(event)["message_key"] for event in (sample(), other_account, other_region)}
    assert keys == {
        KEY,
        f"aws.guardduty:444455556666:us-east-1:{FINDING}",
        f"aws.guardduty:883606788610:eu-west-1:{FINDING}",
    }


def test_without_an_id_the_arn_names_the_finding() -> None:
    event = sample()
    del event["detail"]["id"]
    item = record(event)
    assert item["message_key"] == KEY
    assert info(item)["console_url"].endswith(f"id%3D{FINDING}")


def test_without_id_or_arn_the_key_stays_the_same_from_open_to_close() -> None:
    event = sample()
    del event["detail"]["id"]
    del event["detail"]["arn"]
    opening, closing = record(event), record(archived(event))
    assert opening["message_key"] == closing["message_key"]
    assert opening["message_key"].startswith("aws.guardduty:883606788610:us-east-1:sha256:")
    assert "console_url" not in info(opening)
    another = copy.deepcopy(event)
    another["detail"]["type"] = "Recon:EC2/PortProbeUnprotectedPort"
    assert record(another)["message_key"] != opening["message_key"]


# ---------------------------------------------------------------- severity


@pytest.mark.parametrize(
    ("score", "severity"),
    [
        (10, "1"),
        (9.0, "1"),
        (8.9, "2"),
        (7, "2"),
        (6.9, "3"),
        (4.0, "3"),
        (3.9, "4"),
        (1, "4"),
        (0.9, "5"),  # below Low: the default severity (set to 5 here)
        (0, "5"),
        (-2, "5"),
        ("7.5", "2"),  # a relay's text
        (" 9 ", "1"),
        ("high", "5"),
        (True, "5"),
        (None, "5"),
        ([8], "5"),
        (math.nan, "5"),
        (math.inf, "5"),
        (10**400, "5"),  # no float holds it
    ],
)
def test_severity_bands(score: object, severity: str) -> None:
    event = sample()
    event["detail"]["severity"] = score
    assert record(event, MappingOptions(default_severity="5"))["severity"] == severity


def test_missing_severity_takes_the_default() -> None:
    event = sample()
    del event["detail"]["severity"]
    item = record(event)
    assert item["severity"] == "4"
    assert "severity_label" not in info(item)


# ---------------------------------------------------------------- times


def test_update_time_falls_back_to_created_last_seen_then_event_time() -> None:
    event = sample()
    event["detail"]["updatedAt"] = "not a time"
    event["detail"]["createdAt"] = "2017-12-08T15:30:00Z"
    assert record(event)["time_of_event"] == "2017-12-08 15:30:00"
    del event["detail"]["createdAt"]
    event["detail"]["service"]["eventLastSeen"] = "2017-12-08T15:31:00Z"
    assert record(event)["time_of_event"] == "2017-12-08 15:31:00"
    del event["detail"]["service"]["eventLastSeen"]
    assert record(event)["time_of_event"] == "1970-01-01 00:00:00"  # the envelope's time
    del event["time"]
    assert "time_of_event" not in record(event)


# ---------------------------------------------------------------- the affected resource


@pytest.mark.parametrize(
    ("resource", "node", "text"),
    [
        (
            {"resourceType": "AccessKey", "accessKeyDetails": {"accessKeyId": "ASIAEXAMPLE", "userName": "alice"}},
            "alice",
            "AccessKey alice",
        ),
        ({"resourceType": "AccessKey", "accessKeyDetails": {"accessKeyId": "ASIAEXAMPLE"}}, "ASIAEXAMPLE", None),
        (
            {
                "resourceType": "S3Bucket",
                # The access key that acted on the bucket comes first in the object: the bucket is the resource.
                "accessKeyDetails": {"userName": "bob"},
                "s3BucketDetails": [{"name": "prod-data", "arn": "arn:aws:s3:::prod-data"}],
            },
            "prod-data",
            "S3Bucket prod-data",
        ),
        (
            {
                "resourceType": "EKSCluster",
                "instanceDetails": {"instanceId": "i-0node"},
                "eksClusterDetails": {"name": "prod-eks", "arn": "arn:aws:eks:us-east-1:883606788610:cluster/prod-eks"},
            },
            "prod-eks",
            "EKSCluster prod-eks",
        ),
        ({"resourceType": "ECSCluster", "ecsClusterDetails": {"name": "orders"}}, "orders", "ECSCluster orders"),
        ({"resourceType": "Container", "containerDetails": {"id": "c0ffee"}}, "c0ffee", "Container c0ffee"),
        ({"resourceType": "Lambda", "lambdaDetails": {"functionName": "resize"}}, "resize", "Lambda resize"),
        (
            {"resourceType": "RDSDBInstance", "rdsDbInstanceDetails": {"dbInstanceIdentifier": "orders-db"}},
            "orders-db",
            "RDSDBInstance orders-db",
        ),
        (
            {"resourceType": "RDSLimitlessDB", "rdsLimitlessDbDetails": {"dbShardGroupIdentifier": "shards-1"}},
            "shards-1",
            "RDSLimitlessDB shards-1",
        ),
        ({"resourceType": "SomethingNew", "lambdaDetails": {"functionArn": "arn:fn"}}, "arn:fn", "SomethingNew arn:fn"),
        ({"lambdaDetails": {"functionName": "resize"}}, "resize", "resize"),  # no resourceType
    ],
)
def test_each_resource_type_names_what_it_is_about(resource: dict[str, Any], node: str, text: str | None) -> None:
    item = record(with_resource(resource))
    assert item["node"] == node
    assert item["resource"] == (text or f"{resource['resourceType']} {node}")
    assert f"Resource: {item['resource']}" in item["description"]


def test_a_resource_without_an_identifier_leaves_node_and_resource_out() -> None:
    item = record(with_resource({"resourceType": "Instance", "instanceDetails": {}}))
    assert "node" not in item
    assert "resource" not in item
    assert info(item)["resource_type"] == "Instance"


def test_the_remote_party_of_a_network_connection() -> None:
    event = sample()
    event["detail"]["service"]["action"] = {
        "actionType": "NETWORK_CONNECTION",
        "networkConnectionAction": {
            "connectionDirection": "OUTBOUND",
            "remoteIpDetails": {
                "ipAddressV4": "198.51.100.7",
                "country": {"countryName": "Côte d'Ivoire"},
                "organization": {"asnOrg": "Example Hosting", "isp": "Example ISP"},
            },
        },
    }
    item = record(event)
    assert "Action: NETWORK_CONNECTION; remote 198.51.100.7 (Côte d'Ivoire, Example Hosting)" in item["description"]
    extra = info(item)
    assert (extra["remote_ip"], extra["remote_country"], extra["remote_org"]) == (
        "198.51.100.7",
        "Côte d'Ivoire",
        "Example Hosting",
    )


def test_the_first_port_probe_and_an_api_call() -> None:
    event = sample()
    event["detail"]["service"]["action"] = {
        "actionType": "PORT_PROBE",
        "portProbeAction": {
            "portProbeDetails": [
                {"localPortDetails": {"port": 22}, "remoteIpDetails": {"ipAddressV6": "2001:db8::1"}},
                {"remoteIpDetails": {"ipAddressV4": "203.0.113.9"}},
            ]
        },
    }
    assert "Action: PORT_PROBE; remote 2001:db8::1" in record(event)["description"]
    event["detail"]["service"]["action"] = {
        "actionType": "AWS_API_CALL",
        "awsApiCallAction": {
            "api": "GetObject",
            "serviceName": "s3.amazonaws.com",
            "remoteIpDetails": {"ipAddressV4": "203.0.113.9", "country": {"countryCode": "FR"}},
        },
    }
    item = record(event)
    assert "Action: AWS_API_CALL; API s3.amazonaws.com.GetObject; remote 203.0.113.9 (FR)" in item["description"]
    assert info(item)["api"] == "s3.amazonaws.com.GetObject"


# ---------------------------------------------------------------- recognising the event


def test_another_source_or_detail_type_is_not_a_guardduty_finding() -> None:
    event = sample()
    event["source"] = "custom.app"
    assert not guardduty.is_guardduty(event)
    event = sample()
    event["detail-type"] = "GuardDuty Malware Protection Object Scan Result"
    assert not guardduty.is_guardduty(event)
    event = sample()
    event["detail"] = [event["detail"]]
    assert not guardduty.is_guardduty(event)
    assert mapped(event)[0] != "guardduty"


def test_console_base_only_takes_region_codes() -> None:
    assert console_base("eu-west-1") == "https://eu-west-1.console.aws.amazon.com"
    assert console_base("cn-north-1") == "https://console.amazonaws.cn"
    assert console_base("us-gov-west-1") == "https://console.amazonaws-us-gov.com"
    for text in ("evil.example/x#", "us-east-1.evil.example", "", None, 5):
        assert console_base(text) is None


def test_a_region_that_is_no_region_code_gives_no_link() -> None:
    event = sample()
    event["detail"]["region"] = "evil.example/#"
    item = record(event)
    assert "console_url" not in info(item)
    assert item["message_key"] == f"aws.guardduty:883606788610:evil.example/#:{FINDING}"


# ---------------------------------------------------------------- robustness


def test_missing_parts_still_map() -> None:
    event = sample()
    event["detail"] = {}
    item = record(event)
    assert item["severity"] == "4"  # no severity: the default
    assert item["message_key"].startswith("aws.guardduty:101010101111:us-east-1:sha256:")  # the envelope's
    assert item["description"] == "GuardDuty finding"
    assert item["event_class"] == "101010101111/us-east-1"
    assert "node" not in item


def test_wrong_types_where_lists_and_objects_belong() -> None:
    event = sample()
    event["detail"]["resource"] = [event["detail"]["resource"]]  # a list where an object belongs
    event["detail"]["service"] = "not an object"
    event["detail"]["title"] = {"text": "an object"}
    item = record(event)
    assert "node" not in item
    assert item["description"].startswith('{"text":"an object"}')
    assert item["severity"] == "3"
    event = sample()
    event["detail"]["resource"]["instanceDetails"] = ["i-0", "i-1"]
    event["detail"]["service"]["action"] = ["DNS_REQUEST"]
    event["detail"]["resource"]["s3BucketDetails"] = {"name": "one-bucket"}  # one object, not a list
    item = record(event)
    assert item["node"] == "one-bucket"


def test_very_long_values_are_cut_by_the_event() -> None:
    event = sample()
    event["detail"].update(
        title="Command and Control " * 400,
        type="Backdoor:EC2/" + "C&CActivity" * 50,
        id="f" * 3000,
    )
    event["detail"]["resource"]["instanceDetails"]["instanceId"] = "i-" + "9" * 300
    item = record(event)
    assert len(item["description"]) == FIELD_LIMITS["description"]
    assert item["description"].endswith(ELLIPSIS)
    assert len(item["type"]) == FIELD_LIMITS["type"]
    assert item["type"].endswith(ELLIPSIS)
    assert item["metric_name"] == "Backdoor"
    assert len(item["node"]) == FIELD_LIMITS["node"]
    assert len(item["message_key"]) <= FIELD_LIMITS["message_key"]
    assert "sha256:" in item["message_key"]  # shortened, still distinct
    assert len(item["additional_info"]) <= FIELD_LIMITS["additional_info"]


def test_unicode_survives() -> None:
    event = sample()
    event["detail"]["title"] = "Requête DNS suspecte 🚨"
    event["detail"]["resource"]["instanceDetails"]["instanceId"] = "インスタンス-1"
    event["detail"]["id"] = "ïd-🚨"
    item = record(event)
    assert item["description"].startswith("Requête DNS suspecte 🚨")
    assert item["node"] == "インスタンス-1"
    assert item["message_key"].endswith(":ïd-🚨")
    assert info(item)["console_url"].endswith("id%3D%C3%AFd-%F0%9F%9A%A8")


def test_every_value_of_each_sample_takes_every_wrong_type() -> None:
    map_with_every_wrong_type(load(MEDIUM), load(HIGH))


@GENERATED
@given(_mutated(load(MEDIUM)))
def test_generated_guardduty_findings_map_or_are_refused_by_name(payload: object) -> None:
    MAPPER.map_everywhere(payload)


# ---------------------------------------------------------------- templates and overrides


def test_field_templates_use_guardduty_values() -> None:
    templates = FieldTemplates.parse(
        json.dumps(
            {
                "node": "{{guardduty.instance_id}}@{{guardduty.account}}",
                "event_class": "GuardDuty/{{guardduty.region}}/{{guardduty.resource_type}}",
                "metric_name": "{{guardduty.type}}",
                "resource": "{{guardduty.resource}} ({{guardduty.severity}})",
                "ci_type": "{{health.service}}",  # another service's value: skipped for GuardDuty
                "description": "[{{guardduty.id}}] {{guardduty.title}}",
            }
        )
    )
    item = record(sample(), MappingOptions(field_templates=templates))
    assert item["node"] == "i-99999999@883606788610"
    assert item["event_class"] == "GuardDuty/us-east-1/Instance"
    assert item["metric_name"] == "Backdoor:EC2/C&CActivity.B!DNS"
    assert item["resource"] == "Instance i-99999999 (5)"
    assert "ci_type" not in item
    assert (
        item["description"] == f"[{FINDING}] Command and Control server domain name queried by EC2 instance i-99999999."
    )
    # The trimmed finding has no instance: the node template is skipped, the built-in one stays.
    assert "node" not in record(sample(HIGH), MappingOptions(field_templates=templates))


def test_template_values_are_exactly_the_documented_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    assert template_values(monkeypatch, guardduty, MAPPER, sample()) == set(SIGNAL_VALUES["guardduty"])


def test_itom_tags_of_the_instance_override_fields() -> None:
    event = sample()
    # GuardDuty writes the instance's tags as a list of {key, value}, in lower case.
    event["detail"]["resource"]["instanceDetails"]["tags"] = [
        {"key": "itom:node", "value": "web-frontend-1"},
        {"key": "itom:severity", "value": "critical"},
        {"key": "itom:ci_type", "value": "cmdb_ci_ec2_instance"},
        {"key": "team", "value": "web"},
    ]
    templates = FieldTemplates.parse('{"event_class": "team-{{tags.team}}"}')
    item = record(event, MappingOptions(field_templates=templates))
    assert (item["node"], item["severity"], item["ci_type"]) == ("web-frontend-1", "1", "cmdb_ci_ec2_instance")
    assert item["event_class"] == "team-web"
    assert json.loads(info(item)["resource_tags"])["team"] == "web"
    closing = record(archived(event))
    assert (closing["node"], closing["severity"]) == ("web-frontend-1", "0")  # the close still clears


def test_the_tags_of_the_resource_the_finding_is_about() -> None:
    item = record(
        with_resource(
            {
                "resourceType": "S3Bucket",
                "instanceDetails": {"instanceId": "i-0", "tags": [{"key": "itom:node", "value": "wrong"}]},
                "s3BucketDetails": [{"name": "prod-data", "tags": [{"key": "itom:node", "value": "data-lake"}]}],
            }
        )
    )
    assert item["node"] == "data-lake"
