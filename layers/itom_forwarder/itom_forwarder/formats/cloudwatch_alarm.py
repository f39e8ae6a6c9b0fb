"""The CloudWatch alarm notification that an alarm publishes to SNS (the SNS `Message`).

Classic single-metric alarms are mapped field by field; metric math, anomaly detection and
composite alarms already give a sensible event (the metric that returns data, the alarm
rule) without failing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from itom_forwarder.config import MappingSettings
from itom_forwarder.event import InvalidPayload, ItomEvent, parse_time
from itom_forwarder.formats.alarm import (
    AlarmFacts,
    Dimension,
    account_from_arn,
    as_mapping,
    region_from_arn,
    region_from_display_name,
    to_event,
)
from itom_forwarder.formats.notification import Notification

ALARM_STATES = ("ALARM", "OK", "INSUFFICIENT_DATA")


def is_alarm_notification(message: object) -> bool:
    return isinstance(message, Mapping) and "AlarmName" in message and "NewStateValue" in message


def _dimensions(raw: object) -> list[Dimension]:
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        return []
    found = []
    for item in raw:
        if isinstance(item, Mapping) and item.get("name") is not None and item.get("value") is not None:
            found.append(Dimension(str(item["name"]), str(item["value"])))
    return found


def _metric_math(trigger: Mapping[str, Any]) -> tuple[str | None, str | None, list[Dimension], dict[str, object]]:
    """From `Trigger.Metrics`: the returned metric's name, the namespace and dimensions it
    reads (from the first metric it reads), and the expression for additional_info."""
    metrics = [as_mapping(item) for item in trigger.get("Metrics") or []]
    returned = next((item for item in metrics if item.get("ReturnData")), metrics[0] if metrics else {})
    expression = returned.get("Expression")
    name = returned.get("Label") or as_mapping(as_mapping(returned.get("MetricStat")).get("Metric")).get("MetricName")
    if not name and expression:
        name = f"{returned['Id']}: {expression}" if returned.get("Id") else str(expression)
    # The namespace and dimensions come from the first metric the expression reads.
    read = next(
        (as_mapping(as_mapping(item.get("MetricStat")).get("Metric")) for item in metrics if item.get("MetricStat")), {}
    )
    details: dict[str, object] = {"expression": expression}
    if metrics:
        details["metrics"] = [
            {key: value for key, value in item.items() if key in ("Id", "Expression", "Label", "ReturnData")}
            | ({"Metric": as_mapping(item["MetricStat"]).get("Metric")} if item.get("MetricStat") else {})
            for item in metrics
        ]
    return name, read.get("Namespace"), _dimensions(read.get("Dimensions")), details


def parse(message: Mapping[str, Any], notification: Notification) -> AlarmFacts:
    """Read the notification into AlarmFacts; raises InvalidPayload naming a broken field."""
    name = message.get("AlarmName")
    if not isinstance(name, str) or not name:
        raise InvalidPayload("AlarmName: required, a non-empty string")
    state = message.get("NewStateValue")
    if state not in ALARM_STATES:
        raise InvalidPayload(f"NewStateValue: {str(state)[:40]!r} is not one of {', '.join(ALARM_STATES)}")
    arn = message.get("AlarmArn") if isinstance(message.get("AlarmArn"), str) else None
    region = (
        region_from_arn(arn)
        or region_from_arn(notification.topic_arn)
        or region_from_display_name(message.get("Region"))
    )
    account = message.get("AWSAccountId") or account_from_arn(arn) or account_from_arn(notification.topic_arn)
    changed_at = None
    if message.get("StateChangeTime"):
        changed_at = parse_time(message["StateChangeTime"], field_name="StateChangeTime")
    trigger = as_mapping(message.get("Trigger"))
    details: dict[str, object] = {
        "statistic": trigger.get("Statistic") or trigger.get("ExtendedStatistic"),
        "unit": trigger.get("Unit"),
        "comparison_operator": trigger.get("ComparisonOperator"),
        "threshold": trigger.get("Threshold"),
        "threshold_metric_id": trigger.get("ThresholdMetricId"),
        "period": trigger.get("Period"),
        "evaluation_periods": trigger.get("EvaluationPeriods"),
        "datapoints_to_alarm": trigger.get("DatapointsToAlarm"),
        "treat_missing_data": trigger.get("TreatMissingData"),
    }
    metric_name = trigger.get("MetricName")
    namespace = trigger.get("Namespace")
    dimensions = _dimensions(trigger.get("Dimensions"))
    if not metric_name and trigger.get("Metrics"):
        metric_name, namespace, dimensions, math_details = _metric_math(trigger)
        details.update(math_details)
    alarm_rule = message.get("AlarmRule") if isinstance(message.get("AlarmRule"), str) else None
    if alarm_rule:
        children = message.get("TriggeringChildren") or []
        details["triggering_children"] = [
            {"arn": child.get("Arn"), "state": (child.get("State") or {}).get("Value")}
            for child in children
            if isinstance(child, Mapping)
        ]
    return AlarmFacts(
        name=name,
        state=state,
        arn=arn,
        account_id=str(account) if account else None,
        region=region,
        description=message.get("AlarmDescription") or None,
        reason=message.get("NewStateReason") or None,
        previous_state=message.get("OldStateValue"),
        changed_at=changed_at,
        metric_name=metric_name,
        namespace=namespace,
        dimensions=dimensions,
        alarm_rule=alarm_rule,
        details={key: value for key, value in details.items() if value not in (None, "", [])},
    )


def to_events(message: Mapping[str, Any], notification: Notification, settings: MappingSettings) -> list[ItomEvent]:
    facts = parse(message, notification)
    return [to_event(facts, settings, notification.context())]
