"""Every alarm shape and route, on the real public samples, plus robustness cases."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from itom_forwarder.formats import MappingOptions, Notification, to_events
from itom_forwarder.itom_event import FIELD_LIMITS
from tests.samples import load, message_of

SETTINGS = MappingOptions()
SHARED_SAMPLES = [
    "aws-lambda-go-sns-cloudwatch-alarm-single-metric.json",
    "aws-lambda-go-sns-cloudwatch-alarm-multiple-metrics.json",
    "assertible-sns-cloudwatch-alarm-rds.json",
    "assertible-sns-cloudwatch-alarm-metric-math.json",
    "assertible-sns-cloudwatch-composite-alarm.json",
    "notify-slack-sns-cloudwatch-alarm-ok-log-metric.json",
    "powertools-sqs-event-sns-envelope-body.json",
]


def map_payload(payload: object, **notification: Any) -> tuple[str, list[dict[str, str]]]:
    name, events = to_events(Notification(message=json.dumps(payload), **notification), SETTINGS)
    return name, [event.to_record() for event in events]


def info_of(record: dict[str, str]) -> dict[str, str]:
    info: dict[str, str] = json.loads(record["additional_info"])
    return info


def assert_valid_record(record: dict[str, str]) -> None:
    assert record["severity"] in {"0", "1", "2", "3", "4", "5"}
    for key, value in record.items():
        assert isinstance(value, str), key
        if key in FIELD_LIMITS:
            assert len(value) <= FIELD_LIMITS[key], key
    info = json.loads(record.get("additional_info", "{}"))
    assert all(isinstance(value, str) for value in info.values())


@pytest.mark.parametrize("sample", SHARED_SAMPLES)
def test_every_sns_sample_maps_without_error(sample: str) -> None:
    event = load(sample)
    for record in event["Records"]:
        sns = record.get("Sns") or json.loads(record["body"])
        _, events = to_events(Notification(message=sns["Message"], topic_arn=sns.get("TopicArn")), SETTINGS)
        for item in events:
            assert_valid_record(item.to_record())


@pytest.mark.parametrize(
    "sample",
    [
        "notify-slack-bare-cloudwatch-alarm-message-minimal.json",
        "feral-eventbridge-alarm-state-change-single-metric.json",
        "feral-eventbridge-alarm-state-change-composite-suppressor.json",
        "powertools-lambda-alarm-action-composite.json",
        "aws-lambda-java-lambda-alarm-action-single-metric.json",
    ],
)
def test_every_direct_sample_maps_without_error(sample: str) -> None:
    _, records = map_payload(load(sample))
    for record in records:
        assert_valid_record(record)


def test_metric_math_reads_type_node_resource_from_shared_metrics() -> None:
    message = message_of(load("assertible-sns-cloudwatch-alarm-metric-math.json"))
    _, [record] = map_payload(message)
    metrics = [m for m in message["Trigger"]["Metrics"] if "MetricStat" in m]
    namespaces = {m["MetricStat"]["Metric"]["Namespace"] for m in metrics}
    dimension_sets = {json.dumps(m["MetricStat"]["Metric"]["Dimensions"], sort_keys=True) for m in metrics}
    if len(namespaces) == 1:
        assert record["type"] == namespaces.pop()
    if len(dimension_sets) == 1 and json.loads(dimension_sets.pop()):
        assert "node" in record
    returned = next(m for m in message["Trigger"]["Metrics"] if m["ReturnData"])
    assert record["metric_name"] == (returned.get("Label") or f"{returned['Id']}: {returned['Expression']}")


def test_metric_math_over_different_metrics_says_so() -> None:
    message = message_of(load("assertible-sns-cloudwatch-alarm-metric-math.json"))
    stats = [m for m in message["Trigger"]["Metrics"] if "MetricStat" in m]
    stats[0]["MetricStat"]["Metric"]["Namespace"] = "AWS/EC2"
    stats[1]["MetricStat"]["Metric"]["Namespace"] = "AWS/RDS"
    stats[1]["MetricStat"]["Metric"]["Dimensions"] = [{"name": "DBInstanceIdentifier", "value": "db-9"}]
    _, [record] = map_payload(message)
    assert "type" not in record
    assert "node" not in record
    info = info_of(record)
    assert "type, node, resource left unset" in info["metrics_note"]
    listed = json.loads(info["metrics"])
    assert any("AWS/EC2" in entry for entry in listed)
    assert any("AWS/RDS" in entry and "DBInstanceIdentifier=db-9" in entry for entry in listed)


def test_anomaly_detection_names_the_watched_metric_and_keeps_the_band() -> None:
    body = load("cloudforet-sns-https-body-anomaly-detection-alarm-ok.json")
    _, [record] = map_payload(json.loads(body["Message"]), topic_arn=body["TopicArn"])
    assert record["metric_name"] == "pod_cpu_utilization"
    assert record["type"] == "ContainerInsights"
    assert record["node"] == "cloudone-dev-v1-eks-cluster"
    info = info_of(record)
    assert info["anomaly_band"] == "ANOMALY_DETECTION_BAND(m1, 0.592)"
    assert info["threshold_metric_id"] == "ad1"


def test_composite_description_names_rule_and_triggering_children() -> None:
    _, [record] = map_payload(message_of(load("assertible-sns-cloudwatch-composite-alarm.json")))
    assert "Triggered by: Alarm1 (ALARM), Alarm2 (ALARM)" in record["description"]
    assert info_of(record)["alarm_rule"] == 'ALARM("Alarm1") AND ALARM("Alarm2")'
    assert "node" not in record
    assert "resource" not in record


def test_eventbridge_composite_children_come_from_reason_data() -> None:
    name, [record] = map_payload(load("feral-eventbridge-alarm-state-change-composite-suppressor.json"))
    assert name == "eventbridge_alarm"
    assert "Triggered by: ServerCpuTooHigh (ALARM)" in record["description"]
    assert "Alarm rule: ALARM(ServerCpuTooHigh) OR ALARM(TotalNetworkTrafficTooHigh)" in record["description"]


def test_alarm_action_composite_children() -> None:
    name, [record] = map_payload(load("powertools-lambda-alarm-action-composite.json"))
    assert name == "alarm_action"
    assert "Triggered by:" in record["description"]
    assert record["message_key"].startswith("arn:aws:cloudwatch:")


def classic_alarm() -> dict[str, Any]:
    return message_of(load("sns-cloudwatch-alarm.json"))


def eventbridge_of(classic: dict[str, Any]) -> dict[str, Any]:
    """The EventBridge event CloudWatch emits for the same state change."""
    trigger = classic["Trigger"]
    region = classic["AlarmArn"].split(":")[3]
    return {
        "version": "0",
        "id": "0f6f4d7c-2a5b-4b1e-9c11-111111111111",
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": classic["AWSAccountId"],
        "time": "2026-11-29T08:15:42Z",
        "region": region,
        "resources": [classic["AlarmArn"]],
        "detail": {
            "alarmName": classic["AlarmName"],
            "state": {
                "value": classic["NewStateValue"],
                "reason": classic["NewStateReason"],
                "timestamp": classic["StateChangeTime"],
            },
            "previousState": {"value": classic["OldStateValue"]},
            "configuration": {
                "description": classic["AlarmDescription"],
                "metrics": [
                    {
                        "id": "m1",
                        "returnData": True,
                        "metricStat": {
                            "metric": {
                                "namespace": trigger["Namespace"],
                                "name": trigger["MetricName"],
                                "dimensions": {d["name"]: d["value"] for d in trigger["Dimensions"]},
                            },
                            "period": trigger["Period"],
                            "stat": "Average",
                        },
                    }
                ],
            },
        },
    }


def test_one_alarm_gives_the_same_event_whichever_route_it_takes() -> None:
    classic = classic_alarm()
    eventbridge = eventbridge_of(classic)
    action = {
        "source": "aws.cloudwatch",
        "alarmArn": classic["AlarmArn"],
        "accountId": classic["AWSAccountId"],
        "time": classic["StateChangeTime"],
        "region": eventbridge["region"],
        "alarmData": eventbridge["detail"],
    }
    sns_via_eventbridge = {"Message": json.dumps(eventbridge)}
    records = [
        map_payload(classic)[1][0],
        map_payload(eventbridge)[1][0],
        map_payload(action)[1][0],
        to_events(Notification(message=sns_via_eventbridge["Message"]), SETTINGS)[1][0].to_record(),
    ]
    for field in ("message_key", "node", "resource", "metric_name", "type", "severity", "event_class", "time_of_event"):
        assert len({record.get(field) for record in records}) == 1, field


CONTRIBUTOR_QUERY = 'SELECT SUM(ThrottledRequests) FROM SCHEMA("AWS/DynamoDB", TableName, Operation) GROUP BY TableName'
ALARM_ARN = "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:prod-dynamodb-throttles"


def contributor_sns(
    state: str = "ALARM", contributor: str = "6d442278dba546f6", table: str = "orders"
) -> dict[str, Any]:
    return {
        "AlarmName": "prod-dynamodb-throttles",
        "AWSAccountId": "123456789012",
        "NewStateValue": state,
        "NewStateReason": "Threshold Crossed: 1 out of the last 1 datapoints was greater than the threshold (0.0).",
        "StateChangeTime": "2026-11-29T08:42:10.123+0000",
        "Region": "EU (Ireland)",
        "AlarmArn": ALARM_ARN,
        "OldStateValue": "OK",
        "AlarmContributorId": contributor,
        "AlarmContributorAttributes": {"TableName": table},
        "Trigger": {
            "Period": 60,
            "EvaluationPeriods": 1,
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 0.0,
            "Metrics": [{"Expression": CONTRIBUTOR_QUERY, "Id": "q1", "ReturnData": True, "Period": 60}],
        },
    }


def contributor_eventbridge(state: str = "OK") -> dict[str, Any]:
    return {
        "version": "0",
        "id": "6d226bbc-07f0-9a31-3359-1736968f8ded",
        "detail-type": "CloudWatch Alarm Contributor State Change",
        "source": "aws.cloudwatch",
        "account": "123456789012",
        "time": "2026-11-29T08:55:00Z",
        "region": "eu-west-1",
        "resources": [ALARM_ARN],
        "detail": {
            "alarmName": "prod-dynamodb-throttles",
            "alarmContributor": {"id": "6d442278dba546f6", "attributes": {"TableName": "orders"}},
            "state": {"value": state, "reason": "Threshold Crossed", "timestamp": "2026-11-29T08:55:00.919+0000"},
            "configuration": {
                "metrics": [{"id": "q1", "expression": CONTRIBUTOR_QUERY, "returnData": True, "period": 60}]
            },
        },
    }


def test_each_contributor_of_a_multi_time_series_alarm_has_its_own_key() -> None:
    _, [orders] = map_payload(contributor_sns())
    _, [users] = map_payload(contributor_sns(contributor="2868f7dcc58a8caf", table="users"))
    assert orders["message_key"] == f"{ALARM_ARN}:contributor/6d442278dba546f6"
    assert users["message_key"] == f"{ALARM_ARN}:contributor/2868f7dcc58a8caf"
    assert (orders["node"], orders["resource"]) == ("orders", "TableName=orders")
    assert (orders["metric_name"], orders["type"]) == ("ThrottledRequests", "AWS/DynamoDB")
    assert "[TableName=orders]" in orders["description"]
    assert info_of(orders)["contributor_id"] == "6d442278dba546f6"


def test_contributor_key_is_the_same_over_sns_eventbridge_and_alarm_action() -> None:
    _, [sns] = map_payload(contributor_sns())
    eventbridge = contributor_eventbridge()
    name, [via_eventbridge] = map_payload(eventbridge)
    action = {
        "source": "aws.cloudwatch",
        "alarmArn": ALARM_ARN,
        "accountId": "123456789012",
        "region": "eu-west-1",
        "alarmData": eventbridge["detail"],
    }
    _, [via_action] = map_payload(action)
    assert name == "eventbridge_alarm"
    assert sns["message_key"] == via_eventbridge["message_key"] == via_action["message_key"]
    assert via_eventbridge["severity"] == "0"
    assert via_eventbridge["node"] == "orders"


def robust_variant(**changes: Any) -> dict[str, Any]:
    message = copy.deepcopy(classic_alarm())
    message.update(changes)
    return message


@pytest.mark.parametrize(
    "message",
    [
        robust_variant(AlarmDescription=None),
        robust_variant(Trigger={**classic_alarm()["Trigger"], "Dimensions": []}),
        robust_variant(AlarmName="Ünïcødé — 警報 🚨 alarm", AlarmDescription="Überlast ⚠️"),
        robust_variant(NewStateReason="r" * 10_000),
        robust_variant(
            Trigger={
                **classic_alarm()["Trigger"],
                "Dimensions": [{"name": f"Dimension{i:02d}", "value": f"value-{i:02d}-" + "x" * 40} for i in range(30)],
            }
        ),
        robust_variant(AlarmName="a" * 255, AlarmArn="arn:aws:cloudwatch:eu-west-1:123456789012:alarm:" + "a" * 255),
        # Found by the bad-input fuzzing: wrong types where text belongs.
        robust_variant(AlarmDescription=True, NewStateReason=12, AlarmArn=None, OldStateValue=["x"], AWSAccountId=None),
    ],
    ids=["null-description", "no-dimensions", "unicode", "long-reason", "30-dimensions", "longest-name", "wrong-types"],
)
def test_awkward_alarms_still_give_a_valid_event(message: dict[str, Any]) -> None:
    _, [record] = map_payload(message)
    assert_valid_record(record)
    assert record["message_key"]
