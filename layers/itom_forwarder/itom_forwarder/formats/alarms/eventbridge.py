"""EventBridge's CloudWatch alarm events (through SNS, or targeting the function directly):
"CloudWatch Alarm State Change", and "CloudWatch Alarm Contributor State Change" for one
time series of a multi time series alarm.

Their `detail` has the same body as the direct alarm action's `alarmData` (alarm_action.py):
dimensions are a map, the metric key is `name`, composite children are in the state's
`reasonData.triggeringAlarms`, a contributor is `alarmContributor: {id, attributes}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from itom_forwarder.formats.alarms.facts import AlarmFacts, ChildAlarm, Contributor, Dimension, MetricRef
from itom_forwarder.formats.alarms.mapping import to_events as map_alarm
from itom_forwarder.formats.alarms.overrides import tags_of
from itom_forwarder.formats.aws import account_from_arn, region_from_arn
from itom_forwarder.formats.json_values import as_list, as_mapping, decode_json, shown, text_map, text_of, text_or_none
from itom_forwarder.formats.notification import Notification
from itom_forwarder.formats.options import MappingOptions
from itom_forwarder.itom_event import InvalidPayload, ItomEvent, parse_time


def _metric_ref(raw: Mapping[str, Any]) -> MetricRef:
    metric = as_mapping(as_mapping(raw.get("metricStat")).get("metric"))
    return MetricRef(
        id=text_or_none(raw.get("id")),
        returns_data=bool(raw.get("returnData")),
        expression=text_or_none(raw.get("expression")),
        label=text_or_none(raw.get("label")),
        namespace=text_or_none(metric.get("namespace")),
        name=text_or_none(metric.get("name")),
        dimensions=[Dimension(key, value) for key, value in text_map(metric.get("dimensions")).items()],
    )


def _reason_data(state: Mapping[str, Any]) -> Mapping[str, Any]:
    """`reasonData`: JSON in a string (an object as it is, in case a relay decoded it)."""
    raw = state.get("reasonData")
    return as_mapping(decode_json(raw) if isinstance(raw, str) else raw)


def _children(state: Mapping[str, Any]) -> list[ChildAlarm]:
    return [
        ChildAlarm(text_of(item["arn"]), text_or_none(as_mapping(item.get("state")).get("value")))
        for item in as_list(_reason_data(state).get("triggeringAlarms"))
        if isinstance(item, Mapping) and item.get("arn")
    ]


def _contributor(data: Mapping[str, Any]) -> Contributor | None:
    raw = as_mapping(data.get("alarmContributor"))
    contributor_id = text_or_none(raw.get("id"))
    return Contributor(contributor_id, text_map(raw.get("attributes"))) if contributor_id else None


def parse_alarm_data(
    data: Mapping[str, Any], *, arn: str | None, account_id: str | None, region: str | None, where: str, tags: object
) -> AlarmFacts:
    """Read the shared `detail` / `alarmData` body into AlarmFacts."""
    name = data.get("alarmName")
    if not isinstance(name, str) or not name:
        raise InvalidPayload(f"{where}.alarmName: required, a non-empty string")
    state = as_mapping(data.get("state"))
    value = state.get("value")
    if not isinstance(value, str) or value not in ("ALARM", "OK", "INSUFFICIENT_DATA"):
        raise InvalidPayload(f"{where}.state.value: {shown(value)} is not ALARM, OK or INSUFFICIENT_DATA")
    configuration = as_mapping(data.get("configuration"))
    raw_metrics = [item for item in as_list(configuration.get("metrics")) if isinstance(item, Mapping)]
    returned: Mapping[str, Any] = next((item for item in raw_metrics if item.get("returnData")), {})
    stat = as_mapping(returned.get("metricStat"))
    changed_at = (
        parse_time(state["timestamp"], field_name=f"{where}.state.timestamp") if state.get("timestamp") else None
    )
    details = {"statistic": stat.get("stat"), "period": stat.get("period") or returned.get("period")}
    return AlarmFacts(
        name=name,
        state=value,
        arn=arn,
        account_id=account_id or account_from_arn(arn),
        region=region or region_from_arn(arn),
        description=text_or_none(configuration.get("description")),
        reason=text_or_none(state.get("reason")),
        previous_state=text_or_none(as_mapping(data.get("previousState")).get("value")),
        changed_at=changed_at,
        metrics=[_metric_ref(item) for item in raw_metrics],
        alarm_rule=text_or_none(configuration.get("alarmRule")),
        children=_children(state),
        contributor=_contributor(data),
        tags=tags_of(data.get("alarmTags") if data.get("alarmTags") is not None else tags),
        details={key: val for key, val in details.items() if val not in (None, "")},
    )


def to_events(event: Mapping[str, Any], notification: Notification, options: MappingOptions) -> list[ItomEvent]:
    resources = as_list(event.get("resources"))
    arn = next((item for item in resources if isinstance(item, str) and ":alarm:" in item), None)
    facts = parse_alarm_data(
        event["detail"],
        arn=arn,
        account_id=text_or_none(event.get("account")),
        region=text_or_none(event.get("region")),
        where="detail",
        tags=event.get("alarmTags"),
    )
    return map_alarm(facts, options, {**notification.context(), "eventbridge_event_id": event.get("id")})
