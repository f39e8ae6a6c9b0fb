"""DevOps Guru insights on EventBridge: the real sample, the insight's later events (severity
upgraded, new anomaly, new recommendation) and its close on one message key, severities,
times, resources, robustness, templates and the app boundary tags."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given

from itom_forwarder.formats import MappingOptions
from itom_forwarder.formats.alarms.templates import SIGNAL_VALUES, FieldTemplates
from itom_forwarder.formats.aws_events import devops_guru
from itom_forwarder.itom_event import ELLIPSIS, FIELD_LIMITS
from tests.samples import load
from tests.unit.formats.aws_events.helpers import Mapper, info, map_with_every_wrong_type, template_values
from tests.unit.formats.test_generated_inputs import (
    GENERATED,
    _mutated,
)

OPEN = "devops-guru-servicenow-eventbridge-devops-guru-new-insight-open-low.json"
KEY = "aws.devops-guru:123234123122:us-east-1:ABC124124"
URL = (
    "https://us-east-1.console.aws.amazon.com/devops-guru/insight/reactive/"
    "ACKUf1ZTa-9kQ5KBhiMv0VsAAAAAAAAAAFN7nJW26cxflRfs-vgSFozS88D-52UF"
)
TABLE = "myServerless-Stack-ShopsTableMonitorOper-5U9YUOFGHWXI"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:itom-forwarder-eventbridge"
MAPPER = Mapper("devops_guru", TOPIC)
mapped, record = MAPPER.mapped, MAPPER.record


def sample() -> dict[str, Any]:
    event: dict[str, Any] = copy.deepcopy(load(OPEN))
    return event


def later(event: dict[str, Any], detail_type: str, time: str, **detail: object) -> dict[str, Any]:
    """The insight's next event: its detail-type, a later time and `detail` changed only."""
    event = copy.deepcopy(event)
    event["detail-type"] = detail_type
    event["time"] = time
    event["detail"].update(detail)
    return event


def closed(event: dict[str, Any], time: str = "2022-11-15T06:12:09Z") -> dict[str, Any]:
    return later(event, "DevOps Guru Insight Closed", time)


def anomaly(metric: str = "Errors", **identifiers: object) -> dict[str, Any]:
    return {
        "id": f"anomaly-{metric}",
        "startTime": "1668486240000",
        "sourceDetails": [
            {"dataSource": "CW_METRICS", "dataIdentifiers": {"namespace": "AWS/Lambda", "name": metric, **identifiers}}
        ],
    }


# ---------------------------------------------------------------- the real sample


def test_new_insight_open_sample() -> None:
    item = record(sample())
    assert item["severity"] == "4"  # low
    assert item["source"] == "Amazon DevOps Guru"
    assert item["event_class"] == "123234123122/us-east-1"  # the insight's account, not the envelope's
    assert item["message_key"] == KEY
    assert item["node"] == "myServerless-Stack"  # the CloudFormation stack: the application
    # The first anomaly with a metric gives the resource and metric name.
    assert (item["resource"], item["metric_name"]) == ("ApiName=ListRestApiMonitorOper", "Count")
    assert item["type"] == "REACTIVE"
    assert item["time_of_event"] == "2022-11-15 04:37:33"  # the event's time
    lines = item["description"].splitlines()
    assert lines[0] == (
        "DevOps Guru REACTIVE insight DynamoDB SuccessfulRequestLatency Anomalous In Application "
        "myServerless-Stack (low): New Insight Open"
    )
    assert lines[1] == "Started: 2022-11-15 04:33:00"  # startTime, epoch milliseconds in a string
    assert lines[2] == "Resources: CloudFormation stack myServerless-Stack"
    assert lines[3] == "Anomalies (3):"
    assert lines[4] == "- AWS/ApiGateway Count (SampleCount) on ApiName=ListRestApiMonitorOper from 2022-11-15 04:24:00"
    assert lines[5].startswith("- AWS/ApiGateway Count (SampleCount) on ApiName=ListRestApiMonitorOper, Stage=prod")
    assert lines[6] == f"- AWS/DynamoDB SuccessfulRequestLatency (Maximum) on {TABLE} from 2022-11-15 04:29:00"
    assert lines[7] == f"Insight: {URL}"
    extra = info(item)
    assert (extra["insight_id"], extra["insight_type"], extra["insight_severity"]) == ("ABC124124", "REACTIVE", "low")
    assert (extra["insight_status"], extra["message_type"]) == ("ONGOING", "NEW_INSIGHT")
    assert extra["start_time"] == "2022-11-15 04:33:00"
    assert "end_time" not in extra
    assert extra["console_url"] == URL  # insightUrl as DevOps Guru gives it
    assert json.loads(extra["resource_collection"]) == {"cloudformation_stack_names": ["myServerless-Stack"]}
    anomalies = json.loads(extra["anomalies"])
    assert [entry["metric"] for entry in anomalies] == ["AWS/ApiGateway Count"] * 2 + [
        "AWS/DynamoDB SuccessfulRequestLatency"
    ]
    assert anomalies[2] == {
        "id": "AFZibyEkm9gp1eQvGy6UIZoAAAGEeYwq4EFyYZoz3kT-Ab03i2RRkiqzgFfG72Kb",
        "metric": "AWS/DynamoDB SuccessfulRequestLatency",
        "stat": "Maximum",
        "dimensions": {"TableName": TABLE, "Operation": "Scan"},
        "resource": TABLE,
        "resource_type": "DynamoDB/Table",
        "associated_resource_arns": [f"arn:aws:dynamodb:us-east-1:294317511129:table/{TABLE}"],
        "start_time": "2022-11-15 04:29:00",
    }
    assert "recommendations" not in extra
    assert (extra["eventbridge_event_id"], extra["eventbridge_detail_type"]) == (
        "1267aa4c-d573-511c-1d5c-a4464833be6d",
        "DevOps Guru New Insight Open",
    )
    assert (extra["account_id"], extra["region"]) == ("123234123122", "us-east-1")
    assert "resource_tags" not in extra  # a stack, no tags


def test_through_sns_the_notification_is_in_additional_info() -> None:
    item = record(sample(), sns=True)
    extra = info(item)
    assert (extra["sns_message_id"], extra["sns_topic_arn"]) == ("sns-1", TOPIC)
    assert item["message_key"] == KEY


# ---------------------------------------------------------------- one alert per insight


def test_the_insights_events_update_one_alert_and_the_close_clears_it() -> None:
    opening = record(sample())
    upgraded = record(
        later(sample(), "DevOps Guru Insight Severity Upgraded", "2022-11-15T05:02:10Z", insightSeverity="high")
    )
    new_anomaly = later(sample(), "DevOps Guru New Anomaly Association", "2022-11-15T05:20:45Z", insightSeverity="high")
    new_anomaly["detail"]["messageType"] = "NEW_ASSOCIATION"
    new_anomaly["detail"]["anomalies"] = [anomaly("Throttles", ResourceId="orders-fn", ResourceType="Lambda/Function")]
    associated = record(new_anomaly)
    closing = record(closed(sample()))
    items = [opening, upgraded, associated, closing]
    assert {item["message_key"] for item in items} == {KEY}
    assert [item["severity"] for item in items] == ["4", "2", "2", "0"]
    times = [item["time_of_event"] for item in items]
    assert times == sorted(times)  # each later than the one before: the ordering guard lets it through
    assert len(set(times)) == 4
    assert upgraded["description"].splitlines()[0].endswith("(high): Insight Severity Upgraded")
    assert (associated["resource"], associated["metric_name"]) == ("orders-fn", "Throttles")
    assert associated["node"] == "myServerless-Stack"
    assert closing["description"].splitlines()[0].endswith("(low): Insight Closed")
    assert info(closing)["insight_status"] == "CLOSED"
    assert info(closing)["eventbridge_detail_type"] == "DevOps Guru Insight Closed"


def test_new_recommendation_is_described_with_its_link() -> None:
    event = later(
        sample(), "DevOps Guru New Recommendation Created", "2022-11-15T05:30:00Z", messageType="NEW_RECOMMENDATION"
    )
    del event["detail"]["anomalies"], event["detail"]["insightSeverity"]  # as the schema has it: neither
    event["detail"]["recommendations"] = [
        {
            "name": "Troubleshoot DynamoDB throttling",
            "description": "Check the table's provisioned capacity.",
            "link": "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/TroubleshootingThrottling.html",
            "reason": "SuccessfulRequestLatency rose with ReadThrottleEvents.",
            "relatedAnomalies": [{"resources": [{"name": TABLE, "type": "AWS::DynamoDB::Table"}]}],
        },
        {"description": "Only a description"},
        {"unrelated": True},
    ]
    item = record(event)
    assert item["message_key"] == KEY
    assert item["severity"] == "4"  # no insightSeverity: the default
    assert item["metric_name"] == "insight"  # no anomaly
    assert "resource" not in item
    lines = item["description"].splitlines()
    assert lines[0].endswith("In Application myServerless-Stack: New Recommendation Created")  # no severity
    start = lines.index("Recommendations (3):")
    assert lines[start + 1] == (
        "- Troubleshoot DynamoDB throttling: Check the table's provisioned capacity. "
        "(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/TroubleshootingThrottling.html)"
    )
    assert lines[start + 2] == "- Recommendation: Only a description"
    recommendations = json.loads(info(item)["recommendations"])
    assert recommendations[0]["reason"] == "SuccessfulRequestLatency rose with ReadThrottleEvents."
    assert len(recommendations) == 2


def test_two_insights_never_share_a_key() -> None:
    other = sample()
    other["detail"]["insightId"] = "ABC124125"
    elsewhere, account = sample(), sample()
    elsewhere["detail"]["region"] = "eu-west-1"
    account["detail"]["accountId"] = "444455556666"
    keys = {record(event)["message_key"] for event in (sample(), other, elsewhere, account)}
    assert len(keys) == 4


# ---------------------------------------------------------------- severity


@pytest.mark.parametrize(
    ("insight_severity", "severity"),
    [("high", "2"), ("medium", "3"), ("low", "4"), ("HIGH", "2"), ("critical", "4"), (None, "4"), (["high"], "4")],
)
def test_severity_by_insight_severity(insight_severity: object, severity: str) -> None:
    event = sample()
    event["detail"]["insightSeverity"] = insight_severity
    assert record(event)["severity"] == severity


def test_unknown_severity_takes_the_configured_default_and_the_close_still_clears() -> None:
    options = MappingOptions(default_severity="5")
    event = sample()
    del event["detail"]["insightSeverity"]
    assert record(event, options)["severity"] == "5"
    assert record(closed(event), options)["severity"] == "0"
    assert record(sample(), options)["severity"] == "4"  # low stays Warning


# ---------------------------------------------------------------- times


def test_the_event_time_orders_even_when_the_insight_has_start_and_end() -> None:
    event = closed(sample())
    event["detail"].update(
        endTime="1668490320000", endTimeISO="2022-11-15T05:32:00Z", startTimeISO="2022-11-15T04:33:00Z"
    )
    item = record(event)
    assert item["time_of_event"] == "2022-11-15 06:12:09"
    extra = info(item)
    assert (extra["start_time"], extra["end_time"]) == ("2022-11-15 04:33:00", "2022-11-15 05:32:00")
    assert item["description"].splitlines()[1] == "Started: 2022-11-15 04:33:00; Ended: 2022-11-15 05:32:00"


def test_without_an_event_time_there_is_no_time_of_event() -> None:
    event = sample()
    del event["time"]
    assert "time_of_event" not in record(event)
    event["time"] = "not a time"
    assert "time_of_event" not in record(event)


# ---------------------------------------------------------------- resources and links


def test_node_falls_back_to_the_app_boundary_tag_then_the_anomaly() -> None:
    event = sample()
    event["detail"]["resourceCollection"] = {
        "tags": [{"appBoundaryKey": "devops-guru-applications", "tagValues": ["shops", "orders"]}]
    }
    item = record(event)
    assert item["node"] == "shops"
    assert "Resources: tag devops-guru-applications: shops, orders" in item["description"]
    assert json.loads(info(item)["resource_collection"]) == {"tags": {"devops-guru-applications": ["shops", "orders"]}}
    del event["detail"]["resourceCollection"]
    assert record(event)["node"] == "ListRestApiMonitorOper"  # the lead anomaly's dimension
    event["detail"]["anomalies"] = [anomaly()]
    event["detail"]["anomalies"][0]["anomalyResources"] = [{"name": "orders-fn", "type": "AWS::Lambda::Function"}]
    item = record(event)
    assert (item["node"], item["resource"], item["metric_name"]) == ("orders-fn", "orders-fn", "Errors")
    del event["detail"]["anomalies"]
    item = record(event)
    assert ("node" not in item, "resource" not in item, item["metric_name"]) == (True, True, "insight")


def test_dimensions_as_the_sns_notification_writes_them() -> None:
    event = sample()
    event["detail"]["anomalies"] = [
        anomaly("ApproximateAgeOfOldestMessage", dimensions='{"QueueName":"FindingNotificationsDLQ"}'),
    ]
    event["detail"]["anomalies"][0]["associatedResourceArns"] = ["arn:aws:sns:us-east-1:123456789012:insights"]
    item = record(event)
    assert item["resource"] == "arn:aws:sns:us-east-1:123456789012:insights"  # the named resource first
    assert json.loads(info(item)["anomalies"])[0]["dimensions"] == {"QueueName": "FindingNotificationsDLQ"}
    event["detail"]["anomalies"] = [anomaly(dimensions={"FunctionName": "orders-fn"})]
    assert record(event)["resource"] == "FunctionName=orders-fn"


def test_lead_anomaly_is_the_first_with_a_metric() -> None:
    event = sample()
    event["detail"]["anomalies"].insert(0, {"id": "no-metric", "sourceDetails": [{"dataSource": "CW_LOGS"}]})
    item = record(event)
    assert (item["metric_name"], item["resource"]) == ("Count", "ApiName=ListRestApiMonitorOper")
    assert "Anomalies (4):" in item["description"]
    assert "\nAnomalies (4):\n- Anomaly\n- AWS/ApiGateway Count" in item["description"]


def test_many_anomalies_are_bounded_with_a_count() -> None:
    event = sample()
    event["detail"]["anomalies"] = [anomaly(f"Metric{index:03d}") for index in range(250)]
    item = record(event)
    assert "Anomalies (250):" in item["description"]
    assert "\n+240 more" in item["description"]
    extra = info(item)
    assert len(json.loads(extra["anomalies"])) <= 20
    assert extra["anomalies_total"] == "250"
    assert len(item["additional_info"]) <= FIELD_LIMITS["additional_info"]


@pytest.mark.parametrize(
    ("insight_type", "expected"),
    [
        ("REACTIVE", "https://us-east-1.console.aws.amazon.com/devops-guru/insight/reactive/ABC124124"),
        ("PROACTIVE", "https://us-east-1.console.aws.amazon.com/devops-guru/insight/proactive/ABC124124"),
        ("SOMETHING", None),
        (None, None),
    ],
)
def test_console_link_without_insight_url(insight_type: str | None, expected: str | None) -> None:
    event = sample()
    event["detail"]["insightUrl"] = "javascript:alert(1)"  # not a console link: not kept
    event["detail"]["insightType"] = insight_type
    extra = info(record(event))
    assert extra.get("console_url") == expected


# ---------------------------------------------------------------- robustness


def test_missing_parts_still_map() -> None:
    event = sample()
    event["detail"] = {}
    item = record(event)
    assert item["severity"] == "4"
    assert item["message_key"].startswith("aws.devops-guru:12345678902:us-east-1:sha256:")  # the envelope's ids
    assert item["description"] == "DevOps Guru insight: New Insight Open"
    assert item["metric_name"] == "insight"
    assert item["event_class"] == "12345678902/us-east-1"
    assert item["time_of_event"] == "2022-11-15 04:37:33"


def test_without_an_insight_id_the_key_stays_the_same_from_open_to_close() -> None:
    event = sample()
    del event["detail"]["insightId"]
    opening, closing = record(event), record(closed(event))
    assert opening["message_key"] == closing["message_key"]
    # The id in insightUrl.
    assert opening["message_key"] == (
        "aws.devops-guru:123234123122:us-east-1:ACKUf1ZTa-9kQ5KBhiMv0VsAAAAAAAAAAFN7nJW26cxflRfs-vgSFozS88D-52UF"
    )
    del event["detail"]["insightUrl"]
    opening, closing = record(event), record(closed(event))
    assert opening["message_key"] == closing["message_key"]
    assert ":sha256:" in opening["message_key"]  # what stays the same across the insight's events
    other = copy.deepcopy(event)
    other["detail"]["startTime"] = "1668500000000"
    assert record(other)["message_key"] != opening["message_key"]


def test_wrong_types_where_lists_and_objects_belong() -> None:
    event = sample()
    first = event["detail"]["anomalies"][2]
    event["detail"].update(
        anomalies=first,  # one object, not a list
        recommendations="read the docs",
        resourceCollection=["myServerless-Stack"],
        insightType=["REACTIVE"],
        startTime=True,
    )
    item = record(event)
    assert item["resource"] == TABLE
    assert item["metric_name"] == "SuccessfulRequestLatency"
    assert item["node"] == TABLE  # no collection: the anomaly's resource
    assert "Recommendations" not in item["description"]
    event["detail"]["resourceCollection"] = {"cloudFormation": {"stackNames": "one-stack"}}
    assert record(event)["node"] == "one-stack"


def test_a_detail_that_is_no_object_is_not_a_devops_guru_event() -> None:
    event = sample()
    event["detail"] = [event["detail"]]
    assert not devops_guru.is_devops_guru(event)
    assert mapped(event)[0] != "devops_guru"
    other = sample()
    other["detail-type"] = "DevOps Guru Something New"
    assert mapped(other)[0] != "devops_guru"  # unknown detail-types keep the generic handling


def test_very_long_values_are_cut_by_the_event() -> None:
    event = sample()
    event["detail"].update(
        insightDescription="Latency " * 800,
        insightId="A" * 3000,
        resourceCollection={"cloudFormation": {"stackNames": ["s" * 500]}},
    )
    event["detail"]["anomalies"][0]["sourceDetails"][0]["dataIdentifiers"]["name"] = "M" * 300
    item = record(event)
    assert len(item["description"]) == FIELD_LIMITS["description"]
    assert item["description"].endswith(ELLIPSIS)
    assert len(item["node"]) == FIELD_LIMITS["node"]
    assert item["node"].endswith(ELLIPSIS)
    assert len(item["metric_name"]) == FIELD_LIMITS["metric_name"]
    assert len(item["message_key"]) <= FIELD_LIMITS["message_key"]
    assert "sha256:" in item["message_key"]  # shortened, still distinct
    assert len(item["additional_info"]) <= FIELD_LIMITS["additional_info"]


def test_unicode_survives() -> None:
    event = sample()
    event["detail"].update(
        insightDescription="Latence anormale 🚨 dans l'application « boutique »",
        resourceCollection={"cloudFormation": {"stackNames": ["ボリューム-🚨"]}},
    )
    item = record(event)
    assert item["node"] == "ボリューム-🚨"
    assert "Latence anormale 🚨 dans l'application « boutique » (low)" in item["description"]


def test_a_lone_surrogate_in_the_id_still_gives_a_link() -> None:
    event = sample()
    del event["detail"]["insightUrl"]
    event["detail"]["insightId"] = "ABC\ud83d"
    extra = info(record(event))
    assert extra["console_url"].startswith("https://us-east-1.console.aws.amazon.com/devops-guru/insight/reactive/ABC%")


def test_every_value_of_the_sample_takes_every_wrong_type() -> None:
    def still_one_event(mutated: object) -> None:
        if devops_guru.is_devops_guru(mutated):  # still one: never refused, always one event
            assert len(mapped(mutated)[1]) == 1

    map_with_every_wrong_type(load(OPEN), check=still_one_event)


@GENERATED
@given(_mutated(load(OPEN)))
def test_generated_devops_guru_events_map_or_are_refused_by_name(payload: object) -> None:
    MAPPER.map_everywhere(payload)


# ---------------------------------------------------------------- templates and tags


def test_field_templates_use_devops_guru_values() -> None:
    templates = FieldTemplates.parse(
        json.dumps(
            {
                "node": "{{devopsguru.account}}-{{devopsguru.region}}",
                "event_class": "{{devopsguru.insight_type}}/{{devopsguru.severity}}/{{devopsguru.status}}",
                "type": "{{health.service}}",  # another service's value: skipped for DevOps Guru
                "metric_name": "{{devopsguru.event}}",
                "resource": "{{devopsguru.insight_id}}",
                "ci_type": "{{devopsguru.name}}",
            }
        )
    )
    item = record(sample(), MappingOptions(field_templates=templates))
    assert item["node"] == "123234123122-us-east-1"
    assert item["event_class"] == "REACTIVE/low/ONGOING"
    assert item["type"] == "REACTIVE"  # the built-in value stays
    assert item["metric_name"] == "DevOps Guru New Insight Open"
    assert item["resource"] == "ABC124124"
    assert item["ci_type"].startswith("DynamoDB SuccessfulRequestLatency Anomalous")
    closing = record(closed(sample()), MappingOptions(field_templates=templates))
    assert closing["event_class"] == "REACTIVE/low/CLOSED"
    assert closing["severity"] == "0"


def test_template_values_are_exactly_the_documented_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    assert template_values(monkeypatch, devops_guru, MAPPER, sample()) == set(SIGNAL_VALUES["devopsguru"])


def test_app_boundary_tags_are_tag_values_for_templates() -> None:
    event = sample()
    event["detail"]["resourceCollection"] = {
        "tags": [{"appBoundaryKey": "devops-guru-team", "tagValues": ["payments"]}, {"appBoundaryKey": "devops-guru-x"}]
    }
    templates = FieldTemplates.parse('{"description": "team {{tags.devops-guru-team}}: {{event.description}}"}')
    item = record(event, MappingOptions(field_templates=templates))
    assert item["description"].startswith("team payments: DevOps Guru REACTIVE insight")
    assert json.loads(info(item)["resource_tags"]) == {"devops-guru-team": "payments"}
    assert "Resources: tag devops-guru-team: payments; tag devops-guru-x" in item["description"]
