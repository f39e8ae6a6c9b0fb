"""AWS Health events ("AWS Health Event" on EventBridge): the real samples, open and close,
message keys, severities by category, update times, robustness, templates and overrides."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given

from itom_forwarder.formats import MappingOptions
from itom_forwarder.formats.alarms.templates import SIGNAL_VALUES, FieldTemplates
from itom_forwarder.formats.aws_events import health
from itom_forwarder.formats.aws_events.common import first_source_time
from itom_forwarder.itom_event import ELLIPSIS, FIELD_LIMITS, InvalidPayload, parse_time
from tests.samples import load
from tests.unit.formats.aws_events.helpers import Mapper, info, map_with_every_wrong_type, template_values
from tests.unit.formats.test_generated_inputs import (
    GENERATED,
    _mutated,
)

OPEN = "aws-health-consumer-demo-eventbridge-aws-health-event-open-account-specific.json"
NO_STATUS = "notify-slack-eventbridge-aws-health-event-issue-no-status.json"
ARN = "arn:aws:health:us-west-2::event/AWS_EC2_INSTANCE_STORE_DRIVE_PERFORMANCE_DEGRADED_90353408594353980"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:itom-forwarder-eventbridge"
MAPPER = Mapper("aws_health", TOPIC)
mapped, record = MAPPER.mapped, MAPPER.record


def sample(name: str = OPEN) -> dict[str, Any]:
    event: dict[str, Any] = copy.deepcopy(load(name))
    return event


def closed(event: dict[str, Any], updated: str = "Thu, 27 Jan 2023 15:02:41 GMT") -> dict[str, Any]:
    """The event closed: only what closes it (its status) and its update time changed."""
    event = copy.deepcopy(event)
    event["detail"]["statusCode"] = "closed"
    event["detail"]["lastUpdatedTime"] = updated
    return event


# ---------------------------------------------------------------- the real samples


def test_open_account_specific_event() -> None:
    item = record(sample())
    assert item["severity"] == "2"  # an issue
    assert item["source"] == "AWS Health"
    assert item["event_class"] == "111122223333/us-west-2"
    assert item["message_key"] == f"aws.health:{ARN}:111122223333"
    assert item["node"] == "arn:ec2-1-101002929"
    assert item["resource"] == "arn:ec2-1-101002929, arn:ec2-1-101002930, arn:ec2-1-101002931, arn:ec2-1-101002932"
    assert (item["type"], item["metric_name"]) == ("EC2", "AWS_EC2_INSTANCE_STORE_DRIVE_PERFORMANCE_DEGRADED")
    assert item["time_of_event"] == "2023-01-27 13:44:13"  # lastUpdatedTime, an RFC 1123 date
    lines = item["description"].splitlines()
    assert lines[0] == "AWS Health issue AWS_EC2_INSTANCE_STORE_DRIVE_PERFORMANCE_DEGRADED (EC2, us-west-2): open"
    assert lines[1] == "A description of the event will be provided here"
    assert lines[2] == "Start: Thu, 27 Jan 2023 13:19:03 GMT"
    assert lines[3].startswith("Affected entities (4): arn:ec2-1-101002929 (IMPAIRED), arn:ec2-1-101002930 (IMPAIRED)")
    extra = info(item)
    assert extra["event_arn"] == ARN
    assert (extra["event_type_category"], extra["event_scope_code"], extra["status_code"]) == (
        "issue",
        "ACCOUNT_SPECIFIC",
        "open",
    )
    assert (extra["communication_id"], extra["page"], extra["total_pages"]) == ("1234abc01232a4012345678-1", "1", "10")
    assert extra["affected_account"] == "111122223333"
    assert "delivered_to_account" not in extra  # the same account
    entities = json.loads(extra["affected_entities"])
    assert [entity["status"] for entity in entities] == ["IMPAIRED", "IMPAIRED", "UNIMPAIRED", "RESOLVED"]
    assert entities[0] == {
        "entity_value": "arn:ec2-1-101002929",
        "status": "IMPAIRED",
        "last_updated_time": "Thu, 26 Jan 2023 19:01:55 GMT",
    }
    assert json.loads(extra["event_metadata"])["truncated"] == "true"
    assert extra["console_url"] == (
        f"https://health.aws.amazon.com/health/home#/account/event-log?eventID={ARN}&eventTab=details"
    )
    assert (extra["eventbridge_event_id"], extra["eventbridge_detail_type"]) == (
        "26005bdb-b6eb-466d-920c-3ab19b1d7ea2",
        "AWS Health Event",
    )
    assert (extra["account_id"], extra["region"]) == ("111122223333", "us-west-2")


def test_event_without_status_code_is_open() -> None:
    item = record(sample(NO_STATUS))
    assert item["severity"] == "2"
    assert item["description"].splitlines()[0].endswith("(EC2, us-west-2): open")
    assert item["message_key"] == f"aws.health:{ARN}:123456789012"  # no affectedAccount: the event's account
    assert (item["node"], item["resource"]) == ("i-abcd1111", "i-abcd1111")
    assert item["time_of_event"] == "2016-06-05 15:10:09"  # no lastUpdatedTime: startTime
    extra = info(item)
    assert "status_code" not in extra
    assert json.loads(extra["resource_tags"]) == {"stage": "prod", "app": "my-app"}


def test_through_sns_the_notification_is_in_additional_info() -> None:
    item = record(sample(), sns=True)
    extra = info(item)
    assert (extra["sns_message_id"], extra["sns_topic_arn"]) == ("sns-1", TOPIC)
    assert item["message_key"] == record(sample())["message_key"]


# ---------------------------------------------------------------- open, close and keys


def test_open_and_its_close_share_one_message_key() -> None:
    opening, closing = record(sample()), record(closed(sample()))
    assert closing["severity"] == "0"
    assert closing["message_key"] == opening["message_key"]
    assert closing["time_of_event"] == "2023-01-27 15:02:41"
    assert closing["description"].splitlines()[0].endswith(": closed")
    assert closing["time_of_event"] > opening["time_of_event"]  # the ordering guard lets it through


def test_closed_in_any_case_closes() -> None:
    event = sample()
    event["detail"]["statusCode"] = "CLOSED"
    assert record(event)["severity"] == "0"


def test_upcoming_is_open() -> None:
    event = sample()
    event["detail"].update(statusCode="upcoming", eventTypeCategory="scheduledChange")
    item = record(event)
    assert item["severity"] == "4"
    assert item["description"].splitlines()[0].endswith(": upcoming")


def test_one_event_arn_in_two_accounts_is_two_alerts() -> None:
    first, second = sample(), sample()
    second["detail"]["affectedAccount"] = "444455556666"
    keys = {record(first)["message_key"], record(second)["message_key"]}
    assert keys == {f"aws.health:{ARN}:111122223333", f"aws.health:{ARN}:444455556666"}


def test_two_events_never_share_a_key() -> None:
    other = sample()
    other["detail"]["eventArn"] = ARN.replace("90353408594353980", "12345678901234567")
    assert record(other)["message_key"] != record(sample())["message_key"]


def test_organisational_view_names_the_affected_account() -> None:
    event = sample()
    event["account"] = "999988887777"  # the management account received the member's event
    item = record(event)
    assert item["event_class"] == "111122223333/us-west-2"
    assert item["message_key"].endswith(":111122223333")
    assert info(item)["delivered_to_account"] == "999988887777"


# ---------------------------------------------------------------- severity


@pytest.mark.parametrize(
    ("category", "severity"),
    [
        ("issue", "2"),
        ("investigation", "3"),
        ("scheduledChange", "4"),
        ("accountNotification", "5"),
        ("scheduledchange", "4"),  # any case
        ("somethingNew", "4"),  # unknown: the default severity
        (None, "4"),
    ],
)
def test_severity_by_category(category: str | None, severity: str) -> None:
    event = sample()
    event["detail"]["eventTypeCategory"] = category
    assert record(event)["severity"] == severity


def test_severities_are_configurable() -> None:
    options = MappingOptions(
        health_severity_by_category={"issue": "1", "scheduledChange": "3", "accountNotification": "5"},
        default_severity="5",
    )
    assert record(sample(), options)["severity"] == "1"
    event = sample()
    event["detail"]["eventTypeCategory"] = "investigation"  # not configured: the default
    assert record(event, options)["severity"] == "5"
    assert record(closed(sample()), options)["severity"] == "0"


# ---------------------------------------------------------------- times


def test_rfc_1123_dates_need_their_own_reading() -> None:
    with pytest.raises(InvalidPayload):
        parse_time("Thu, 27 Jan 2023 13:44:13 GMT")
    assert first_source_time("Thu, 27 Jan 2023 13:44:13 GMT") == datetime(2023, 1, 27, 13, 44, 13, tzinfo=UTC)
    assert first_source_time("Thu, 27 Jan 2023 13:44:13 +0100") == datetime(2023, 1, 27, 12, 44, 13, tzinfo=UTC)
    assert first_source_time("2023-01-27T01:43:21Z") == datetime(2023, 1, 27, 1, 43, 21, tzinfo=UTC)
    assert first_source_time(None, "", "not a date", [1], "2016-06-05T06:27:57Z") == datetime(
        2016, 6, 5, 6, 27, 57, tzinfo=UTC
    )
    assert first_source_time("Thu, 27 Jan 99999 13:44:13 GMT", True, {}) is None


def test_update_time_falls_back_to_start_then_event_time() -> None:
    event = sample()
    event["detail"]["lastUpdatedTime"] = "yesterday-ish"
    assert record(event)["time_of_event"] == "2023-01-27 13:19:03"
    del event["detail"]["startTime"]
    assert record(event)["time_of_event"] == "2023-01-27 01:43:21"
    del event["time"]
    assert "time_of_event" not in record(event)


# ---------------------------------------------------------------- entities


def test_instance_arn_gives_the_instance_id_as_node() -> None:
    event = sample(NO_STATUS)
    event["detail"]["affectedEntities"] = [
        {"entityValue": "arn:aws:ec2:us-west-2:123456789012:instance/i-0a1b2c3d4e5f67890", "status": "IMPAIRED"}
    ]
    item = record(event)
    assert item["node"] == "i-0a1b2c3d4e5f67890"
    assert item["resource"] == "arn:aws:ec2:us-west-2:123456789012:instance/i-0a1b2c3d4e5f67890"


def test_many_entities_are_bounded_with_a_count() -> None:
    event = sample()
    event["detail"]["affectedEntities"] = [
        {"entityValue": f"vol-{index:017d}", "status": "IMPAIRED"} for index in range(250)
    ]
    item = record(event)
    assert item["resource"].startswith("vol-00000000000000000, vol-00000000000000001")
    assert item["resource"].endswith(" more")
    assert len(item["resource"]) <= FIELD_LIMITS["resource"]
    shown = item["resource"].count("vol-")
    assert item["resource"].endswith(f" +{250 - shown} more")
    assert "Affected entities (250): " in item["description"]
    assert item["description"].endswith(" +240 more")
    extra = info(item)
    assert len(json.loads(extra["affected_entities"])) == 20
    assert extra["affected_entities_total"] == "250"


def test_resources_stand_in_for_missing_entities() -> None:
    event = sample()
    del event["detail"]["affectedEntities"]
    item = record(event)
    assert item["node"] == "arn:ec2-1-101002929"
    assert item["resource"].count("arn:ec2-") == 4


def test_no_entity_at_all() -> None:
    event = sample()
    del event["detail"]["affectedEntities"]
    event["resources"] = []
    item = record(event)
    assert "node" not in item
    assert "resource" not in item
    assert "Affected entities" not in item["description"]


def test_the_english_description_is_preferred() -> None:
    event = sample()
    event["detail"]["eventDescription"] = [
        {"language": "ja_JP", "latestDescription": "イベントの説明"},
        {"language": "en_US", "latestDescription": "The English one"},
    ]
    assert record(event)["description"].splitlines()[1] == "The English one"
    event["detail"]["eventDescription"] = [{"language": "ja_JP", "latestDescription": "イベントの説明 🚨"}]
    assert record(event)["description"].splitlines()[1] == "イベントの説明 🚨"


# ---------------------------------------------------------------- robustness


def test_missing_parts_still_map() -> None:
    event = sample()
    event["detail"] = {}
    item = record(event)
    assert item["severity"] == "4"  # no category: the default
    assert item["message_key"].startswith("aws.health:sha256:")
    assert item["description"].splitlines()[0] == "AWS Health event (us-west-2): open"
    assert item["node"] == "arn:ec2-1-101002929"  # the event's resources
    assert item["event_class"] == "111122223333/us-west-2"
    assert item["time_of_event"] == "2023-01-27 01:43:21"


def test_without_an_arn_the_key_stays_the_same_from_open_to_close() -> None:
    event = sample()
    del event["detail"]["eventArn"]
    opening, closing = record(event), record(closed(event))
    assert opening["message_key"] == closing["message_key"]
    assert opening["message_key"] == (
        "aws.health:EC2/AWS_EC2_INSTANCE_STORE_DRIVE_PERFORMANCE_DEGRADED/us-west-2/"
        "Thu, 27 Jan 2023 13:19:03 GMT:111122223333"
    )
    assert "console_url" not in info(opening)


def test_wrong_types_where_lists_and_objects_belong() -> None:
    event = sample()
    event["detail"].update(
        affectedEntities={"entityValue": "i-0123456789abcdef0", "status": "IMPAIRED"},  # one object, not a list
        eventDescription={"language": "en_US", "latestDescription": "one object"},
        eventMetadata=["not", "an", "object"],
        statusCode=["open"],
        eventTypeCategory={"issue": True},
        page=1,
        totalPages=10,
    )
    item = record(event)
    assert item["node"] == "i-0123456789abcdef0"
    assert item["description"].splitlines()[1] == "one object"
    assert item["severity"] == "4"
    extra = info(item)
    assert (extra["page"], extra["total_pages"]) == ("1", "10")
    assert "event_metadata" not in extra


def test_a_detail_that_is_no_object_is_not_a_health_event() -> None:
    event = sample()
    event["detail"] = [event["detail"]]
    assert not health.is_aws_health(event)
    name, _ = mapped(event)
    assert name != "aws_health"


def test_the_abuse_event_detail_type_maps_too() -> None:
    event = sample()
    event["detail-type"] = "AWS Health Abuse Event"
    assert record(event)["severity"] == "2"


def test_very_long_values_are_cut_by_the_event() -> None:
    event = sample()
    code = "AWS_EC2_" + "VERY_LONG_" * 600
    event["detail"].update(eventTypeCode=code, eventArn="arn:aws:health:us-west-2::event/" + "x" * 3000)
    event["detail"]["eventDescription"][0]["latestDescription"] = "é" * 6000
    item = record(event)
    assert len(item["metric_name"]) == FIELD_LIMITS["metric_name"]
    assert item["metric_name"].endswith(ELLIPSIS)
    assert len(item["description"]) == FIELD_LIMITS["description"]
    assert item["description"].endswith(ELLIPSIS)
    assert len(item["message_key"]) <= FIELD_LIMITS["message_key"]
    assert "sha256:" in item["message_key"]  # shortened, still distinct
    assert len(item["additional_info"]) <= FIELD_LIMITS["additional_info"]


def test_unicode_survives() -> None:
    event = sample()
    event["detail"]["affectedEntities"] = [{"entityValue": "ボリューム-🚨", "status": "IMPAIRED"}]
    event["detail"]["service"] = "ÉC2"
    item = record(event)
    assert item["node"] == "ボリューム-🚨"
    assert "(ÉC2, us-west-2)" in item["description"]


def test_every_value_of_each_sample_takes_every_wrong_type() -> None:
    map_with_every_wrong_type(load(OPEN), load(NO_STATUS))


@GENERATED
@given(_mutated(load(OPEN)))
def test_generated_health_events_map_or_are_refused_by_name(payload: object) -> None:
    MAPPER.map_everywhere(payload)


# ---------------------------------------------------------------- templates and overrides


def test_field_templates_use_health_values() -> None:
    templates = FieldTemplates.parse(
        json.dumps(
            {
                "node": "{{health.service}}-{{health.account}}",
                "event_class": "{{health.category}}/{{health.scope}}/{{health.status}}",
                "type": "{{config.rule_name}}",  # another service's value: skipped for Health
                "metric_name": "{{health.event_type_code}}@{{health.region}}",
                "resource": "{{health.communication_id}}",
            }
        )
    )
    item = record(sample(), MappingOptions(field_templates=templates))
    assert item["node"] == "EC2-111122223333"
    assert item["event_class"] == "issue/ACCOUNT_SPECIFIC/open"
    assert item["type"] == "EC2"  # the built-in value stays
    assert item["metric_name"] == "AWS_EC2_INSTANCE_STORE_DRIVE_PERFORMANCE_DEGRADED@us-west-2"
    assert item["resource"] == "1234abc01232a4012345678-1"
    by_arn = FieldTemplates.parse('{"ci_type": "{{health.event_arn}}"}')
    assert record(sample(), MappingOptions(field_templates=by_arn))["ci_type"] == ARN
    # No statusCode: the template naming it is skipped.
    no_status = record(sample(NO_STATUS), MappingOptions(field_templates=templates))
    assert no_status["event_class"] == "123456789012/us-west-2"


def test_template_values_are_exactly_the_documented_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    assert template_values(monkeypatch, health, MAPPER, sample()) == set(SIGNAL_VALUES["health"])


def test_itom_tags_of_the_affected_entity_override_fields() -> None:
    event = sample(NO_STATUS)
    event["detail"]["affectedEntities"][0]["tags"] = {
        "itom:node": "web-frontend",
        "itom:severity": "critical",
        "itom:ci_type": "cmdb_ci_ec2_instance",
        "team": "web",
    }
    templates = FieldTemplates.parse('{"description": "team {{tags.team}}: {{event.description}}"}')
    item = record(event, MappingOptions(field_templates=templates))
    assert (item["node"], item["severity"], item["ci_type"]) == ("web-frontend", "1", "cmdb_ci_ec2_instance")
    assert item["description"].startswith("team web: AWS Health issue")
    closing = record(closed(event))
    assert (closing["node"], closing["severity"]) == ("web-frontend", "0")  # the close still clears
