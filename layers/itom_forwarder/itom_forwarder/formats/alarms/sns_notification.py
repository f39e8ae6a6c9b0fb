"""The CloudWatch alarm notification that an alarm publishes to SNS (the SNS `Message`).

Shapes: the classic single-metric alarm (`Trigger.MetricName`), metric math and anomaly
detection (`Trigger.Metrics`, `ThresholdMetricId`), composite (`AlarmRule`,
`TriggeringChildren`), and the per-time-series notifications of multi time series
Metrics Insights alarms (`AlarmContributorId`, `AlarmContributorAttributes`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from itom_forwarder.formats.alarms.facts import AlarmFacts, ChildAlarm, Contributor, Dimension, MetricRef
from itom_forwarder.formats.alarms.mapping import to_events as map_alarm
from itom_forwarder.formats.alarms.overrides import tags_of
from itom_forwarder.formats.aws import account_from_arn, region_from_arn, region_from_display_name
from itom_forwarder.formats.json_values import as_list, as_mapping, shown, text_map, text_of, text_or_none
from itom_forwarder.formats.notification import Notification
from itom_forwarder.formats.options import MappingOptions
from itom_forwarder.itom_event import InvalidPayload, ItomEvent, parse_time

ALARM_STATES = ("ALARM", "OK", "INSUFFICIENT_DATA")


def dimensions_of(raw: object) -> list[Dimension]:
    """`[{"name": ..., "value": ...}]` as the classic notification writes them."""
    dimensions = []
    for item in as_list(raw):
        if isinstance(item, Mapping) and item.get("name") is not None and item.get("value") is not None:
            dimensions.append(Dimension(text_of(item["name"]), text_of(item["value"])))
    return dimensions


def _metric_ref(raw: Mapping[str, Any]) -> MetricRef:
    metric = as_mapping(as_mapping(raw.get("MetricStat")).get("Metric"))
    return MetricRef(
        id=text_or_none(raw.get("Id")),
        returns_data=bool(raw.get("ReturnData")),
        expression=text_or_none(raw.get("Expression")),
        label=text_or_none(raw.get("Label")),
        namespace=text_or_none(metric.get("Namespace")),
        name=text_or_none(metric.get("MetricName")),
        dimensions=dimensions_of(metric.get("Dimensions")),
    )


def _contributor(message: Mapping[str, Any]) -> Contributor | None:
    contributor_id = text_or_none(message.get("AlarmContributorId"))
    if not contributor_id:
        return None
    return Contributor(contributor_id, text_map(message.get("AlarmContributorAttributes")))


def _children(raw: object) -> list[ChildAlarm]:
    return [
        ChildAlarm(text_of(child["Arn"]), text_or_none(as_mapping(child.get("State")).get("Value")))
        for child in as_list(raw)
        if isinstance(child, Mapping) and child.get("Arn")
    ]


def _account(message: Mapping[str, Any], arn: str | None, notification: Notification) -> str | None:
    account = message.get("AWSAccountId")
    if isinstance(account, (str, int)) and not isinstance(account, bool) and str(account):
        return str(account)
    return account_from_arn(arn) or account_from_arn(notification.topic_arn)


# additional_info's names of the Trigger's fields (the statistic is either of two).
_DETAIL_FIELDS = (
    ("unit", "Unit"),
    ("comparison_operator", "ComparisonOperator"),
    ("threshold", "Threshold"),
    ("threshold_metric_id", "ThresholdMetricId"),
    ("period", "Period"),
    ("evaluation_periods", "EvaluationPeriods"),
    ("datapoints_to_alarm", "DatapointsToAlarm"),
    ("treat_missing_data", "TreatMissingData"),
)


def _details(trigger: Mapping[str, Any]) -> dict[str, object]:
    details: dict[str, object] = {"statistic": trigger.get("Statistic") or trigger.get("ExtendedStatistic")}
    details |= {name: trigger.get(field) for name, field in _DETAIL_FIELDS}
    return {key: value for key, value in details.items() if value is not None and value != ""}


def parse(message: Mapping[str, Any], notification: Notification) -> AlarmFacts:
    """Read the notification into AlarmFacts; raises InvalidPayload naming a broken field."""
    name = message.get("AlarmName")
    if not isinstance(name, str) or not name:
        raise InvalidPayload("AlarmName: required, a non-empty string")
    state = message.get("NewStateValue")
    if not isinstance(state, str) or state not in ALARM_STATES:
        raise InvalidPayload(f"NewStateValue: {shown(state)} is not one of {', '.join(ALARM_STATES)}")
    arn = message.get("AlarmArn")
    if not isinstance(arn, str):
        arn = None
    region = (
        region_from_arn(arn)
        or region_from_arn(notification.topic_arn)
        or region_from_display_name(message.get("Region"))
    )
    changed_at = None
    if message.get("StateChangeTime"):
        changed_at = parse_time(message["StateChangeTime"], field_name="StateChangeTime")
    trigger = as_mapping(message.get("Trigger"))
    return AlarmFacts(
        name=name,
        state=state,
        arn=arn,
        account_id=_account(message, arn, notification),
        region=region,
        description=text_or_none(message.get("AlarmDescription")),
        reason=text_or_none(message.get("NewStateReason")),
        previous_state=text_or_none(message.get("OldStateValue")),
        changed_at=changed_at,
        metric_name=text_or_none(trigger.get("MetricName")),
        namespace=text_or_none(trigger.get("Namespace")),
        dimensions=dimensions_of(trigger.get("Dimensions")),
        metrics=[_metric_ref(item) for item in as_list(trigger.get("Metrics")) if isinstance(item, Mapping)],
        threshold_metric_id=text_or_none(trigger.get("ThresholdMetricId")),
        alarm_rule=rule if isinstance(rule := message.get("AlarmRule"), str) else None,
        children=_children(message.get("TriggeringChildren")),
        contributor=_contributor(message),
        tags=tags_of(message.get("AlarmTags")),
        details=_details(trigger),
    )


def to_events(message: Mapping[str, Any], notification: Notification, options: MappingOptions) -> list[ItomEvent]:
    return map_alarm(parse(message, notification), options, notification.context())
