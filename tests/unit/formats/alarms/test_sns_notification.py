"""The classic CloudWatch alarm notification, field by field, on the real samples."""

from __future__ import annotations

import json

import pytest

from itom_forwarder.formats import MappingOptions, Notification, to_events
from itom_forwarder.itom_event import InvalidPayload
from tests.samples import load, message_of, notification_of

SETTINGS = MappingOptions()


def record_of(sample: str) -> dict[str, str]:
    name, events = to_events(notification_of(load(sample)), SETTINGS)
    assert name == "cloudwatch_alarm"
    assert len(events) == 1
    return events[0].to_record()


def test_single_metric_alarm_maps_every_field() -> None:
    record = record_of("aws-lambda-go-sns-cloudwatch-alarm-single-metric.json")
    info = json.loads(record.pop("additional_info"))
    assert record == {
        "severity": "2",
        "source": "AWS CloudWatch",
        "event_class": "123456789012",  # the sample's ARNs carry placeholders, not a region code
        "node": "TestInstance",
        "resource": "InstanceId=TestInstance",
        "metric_name": "NetworkOut",
        "type": "AWS/EC2",
        "description": "CloudWatch alarm 'EXAMPLE' is ALARM\nEXAMPLE\nThreshold Crossed: 1 out of the last 1 "
        "datapoints [1234.0 (06/03/15 17:43:27)] was greater than the threshold (0.0) (minimum 1 datapoint "
        "for OK -> ALARM transition).",
        "message_key": "arn:aws:cloudwatch:REGION:ACCOUNT_NUMBER:alarm:EXAMPLE",
        "time_of_event": "2015-06-03 17:43:27",
    }
    assert info["alarm_name"] == "EXAMPLE"
    assert info["old_state"] == "INSUFFICIENT_DATA"
    assert info["new_state"] == "ALARM"
    assert info["statistic"] == "AVERAGE"
    assert info["comparison_operator"] == "GreaterThanThreshold"
    assert info["threshold"] == "0.0"
    assert info["period"] == "60"
    assert info["sns_message_id"] == "95df01b4-ee98-5cb9-9903-4c221d41eb5e"
    assert all(isinstance(value, str) for value in info.values())


def test_region_comes_from_the_arn_not_the_display_name() -> None:
    event = load("aws-lambda-go-sns-cloudwatch-alarm-single-metric.json")
    message = message_of(event)
    message["AlarmArn"] = "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:EXAMPLE"
    message["Region"] = "EU (Ireland)"
    notification = Notification(message=json.dumps(message), message_id="m-1")
    record = to_events(notification, SETTINGS)[1][0].to_record()
    assert record["event_class"] == "123456789012/eu-west-1"
    info = json.loads(record["additional_info"])
    assert info["region"] == "eu-west-1"
    assert info["console_url"] == (
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#alarmsV2:alarm/EXAMPLE"
    )


def test_rds_alarm_without_arn_rebuilds_a_stable_key_from_display_region() -> None:
    record = record_of("assertible-sns-cloudwatch-alarm-rds.json")
    # No AlarmArn in old notifications: the key is the ARN the alarm has.
    assert (
        record["message_key"] == "arn:aws:cloudwatch:us-west-2:123456789123:alarm:PROD - Partner Cross Account: Warns"
    )
    assert record["node"] == "app"
    assert record["resource"] == "DBInstanceIdentifier=app"
    assert record["type"] == "AWS/RDS"
    assert record["event_class"] == "123456789123/us-west-2"
    # AlarmDescription is null: the description is the name and the reason only.
    assert record["description"].splitlines() == [
        "CloudWatch alarm 'PROD - Partner Cross Account: Warns' is ALARM",
        "Threshold Crossed: 1 datapoint (10.0) was greater than or equal to the threshold (10.0).",
    ]


def test_ok_on_a_log_metric_without_dimensions_clears_and_omits_node() -> None:
    record = record_of("notify-slack-sns-cloudwatch-alarm-ok-log-metric.json")
    assert record["severity"] == "0"
    assert "node" not in record
    assert "resource" not in record
    assert record["metric_name"] == "DBMigrationRequired"
    assert record["type"] == "LogMetrics"
    assert record["time_of_event"] == "2019-02-12 15:45:24"
    assert 'App is reporting "A JPA error occurred' in record["description"]


def test_alarm_and_ok_of_one_alarm_share_the_message_key() -> None:
    alarm = record_of("assertible-sns-cloudwatch-alarm-rds.json")
    message = message_of(load("assertible-sns-cloudwatch-alarm-rds.json"))
    message.update(NewStateValue="OK", OldStateValue="ALARM", StateChangeTime="2016-07-24T22:15:19.737+0000")
    ok = to_events(Notification(message=json.dumps(message)), SETTINGS)[1][0].to_record()
    assert ok["message_key"] == alarm["message_key"]
    assert (alarm["severity"], ok["severity"]) == ("2", "0")


@pytest.mark.parametrize(("state", "severity"), [("ALARM", "1"), ("OK", "5"), ("INSUFFICIENT_DATA", "3")])
def test_severity_per_state_is_configurable(state: str, severity: str) -> None:
    settings = MappingOptions(severity_by_alarm_state={"ALARM": "1", "OK": "5", "INSUFFICIENT_DATA": "3"})
    message = message_of(load("assertible-sns-cloudwatch-alarm-rds.json")) | {"NewStateValue": state}
    record = to_events(Notification(message=json.dumps(message)), settings)[1][0].to_record()
    assert record["severity"] == severity


def test_known_resource_dimension_wins_over_the_first_dimension() -> None:
    message = message_of(load("assertible-sns-cloudwatch-alarm-rds.json"))
    message["Trigger"]["Dimensions"] = [
        {"name": "Role", "value": "writer"},
        {"name": "DBClusterIdentifier", "value": "orders-cluster"},
    ]
    record = to_events(Notification(message=json.dumps(message)), SETTINGS)[1][0].to_record()
    assert record["node"] == "orders-cluster"
    assert record["resource"] == "Role=writer, DBClusterIdentifier=orders-cluster"


def test_first_dimension_value_when_none_is_known() -> None:
    message = message_of(load("assertible-sns-cloudwatch-alarm-rds.json"))
    message["Trigger"]["Dimensions"] = [{"name": "Shard", "value": "s-7"}, {"name": "Role", "value": "writer"}]
    record = to_events(Notification(message=json.dumps(message)), SETTINGS)[1][0].to_record()
    assert record["node"] == "s-7"


def test_metric_math_alarm_gives_a_sensible_event() -> None:
    record = record_of("aws-lambda-go-sns-cloudwatch-alarm-multiple-metrics.json")
    message = message_of(load("aws-lambda-go-sns-cloudwatch-alarm-multiple-metrics.json"))
    returned = next(metric for metric in message["Trigger"]["Metrics"] if metric["ReturnData"])
    assert record["metric_name"] in (returned.get("Label"), f"{returned['Id']}: {returned.get('Expression')}")
    assert "expression" in json.loads(record["additional_info"])


def test_metric_math_with_two_metric_stats_reads_namespace_from_the_metrics() -> None:
    record = record_of("assertible-sns-cloudwatch-alarm-metric-math.json")
    message = message_of(load("assertible-sns-cloudwatch-alarm-metric-math.json"))
    first_read = next(m["MetricStat"]["Metric"] for m in message["Trigger"]["Metrics"] if "MetricStat" in m)
    assert record["type"] == first_read["Namespace"]
    assert json.loads(record["additional_info"])["expression"] == "m1*100*m2 - MIN(m1)"


def test_composite_alarm_names_its_rule_and_invents_no_node() -> None:
    record = record_of("assertible-sns-cloudwatch-composite-alarm.json")
    assert "node" not in record
    assert "resource" not in record
    assert 'Alarm rule: ALARM("Alarm1") AND ALARM("Alarm2")' in record["description"]
    children = json.loads(json.loads(record["additional_info"])["triggering_children"])
    assert [child["arn"].rsplit(":", 1)[-1] for child in children] == ["Alarm1", "Alarm2"]
    assert record["message_key"] == "arn:aws:cloudwatch:us-west-2:123456789123:alarm:composite-alarm"


def test_anomaly_detection_alarm_from_an_sns_https_body() -> None:
    body = load("cloudforet-sns-https-body-anomaly-detection-alarm-ok.json")
    notification = Notification(message=body["Message"], message_id=body["MessageId"], topic_arn=body["TopicArn"])
    name, events = to_events(notification, SETTINGS)
    record = events[0].to_record()
    assert name == "cloudwatch_alarm"
    assert record["severity"] == "0"
    info = json.loads(record["additional_info"])
    assert info["threshold_metric_id"] == "ad1"
    assert "ANOMALY_DETECTION_BAND" in record["metric_name"] + info["metrics"]


def test_bare_minimal_message_without_trigger_or_arn() -> None:
    message = load("notify-slack-bare-cloudwatch-alarm-message-minimal.json")
    record = to_events(Notification(message=json.dumps(message)), SETTINGS)[1][0].to_record()
    assert record["message_key"] == "arn:aws:cloudwatch:eu-west-1:000000000000:alarm:Example"
    assert record["severity"] == "2"
    assert "metric_name" not in record


def test_broken_state_is_rejected_naming_the_field() -> None:
    message = message_of(load("assertible-sns-cloudwatch-alarm-rds.json")) | {"NewStateValue": "PANIC"}
    with pytest.raises(InvalidPayload, match="NewStateValue: 'PANIC' is not one of"):
        to_events(Notification(message=json.dumps(message)), SETTINGS)


def test_unparsable_state_change_time_is_rejected_naming_the_field() -> None:
    message = message_of(load("assertible-sns-cloudwatch-alarm-rds.json")) | {"StateChangeTime": "yesterday"}
    with pytest.raises(InvalidPayload, match="StateChangeTime"):
        to_events(Notification(message=json.dumps(message)), SETTINGS)


def test_long_fields_are_cut_to_servicenow_limits() -> None:
    message = message_of(load("assertible-sns-cloudwatch-alarm-rds.json"))
    message["AlarmName"] = "n" * 300
    message["AlarmDescription"] = "d" * 5000
    message["Trigger"]["Dimensions"] = [{"name": "InstanceId", "value": "i" * 300}]
    record = to_events(Notification(message=json.dumps(message)), SETTINGS)[1][0].to_record()
    assert len(record["node"]) == 100
    assert len(record["resource"]) == 100
    assert len(record["description"]) == 4000
    assert len(record["additional_info"]) <= 4000
    assert json.loads(record["additional_info"])["new_state"] == "ALARM"


def test_eventbridge_alarm_state_change_gives_the_same_key_as_sns() -> None:
    event = load("feral-eventbridge-alarm-state-change-single-metric.json")
    name, events = to_events(Notification(message=json.dumps(event)), SETTINGS)
    record = events[0].to_record()
    assert name == "eventbridge_alarm"
    assert record["message_key"] == "arn:aws:cloudwatch:us-east-1:123456789012:alarm:ServerCpuTooHigh"
    assert record["node"] == "i-12345678901234567"
    assert record["metric_name"] == "CPUUtilization"
    assert record["type"] == "AWS/EC2"
    assert record["severity"] == "2"
    assert record["time_of_event"] == "2019-10-02 17:04:40"


def test_direct_alarm_action_payload() -> None:
    event = load("aws-lambda-java-lambda-alarm-action-single-metric.json")
    name, events = to_events(Notification(message=json.dumps(event)), SETTINGS)
    record = events[0].to_record()
    assert name == "alarm_action"
    assert record["message_key"] == "arn:aws:cloudwatch:us-east-1:444455556666:alarm:lambda-demo-metric-alarm"
    assert record["node"] == "i-12345678"
    assert record["event_class"] == "444455556666/us-east-1"


def test_composite_alarm_action_and_eventbridge_composite_do_not_fail() -> None:
    for sample in (
        "powertools-lambda-alarm-action-composite.json",
        "feral-eventbridge-alarm-state-change-composite-suppressor.json",
    ):
        record = to_events(Notification(message=json.dumps(load(sample))), SETTINGS)[1][0].to_record()
        assert "Alarm rule:" in record["description"]
        assert "node" not in record
