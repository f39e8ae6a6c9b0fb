"""EventBridge's CloudWatch alarm events (through SNS, or targeting the function directly):
"CloudWatch Alarm State Change", and "CloudWatch Alarm Contributor State Change" for one
time series of a multi time series alarm.

Their `detail` has the same body as the direct alarm action's `alarmData` (alarm_action.py):
dimensions are a map, the metric key is `name`, composite children are in the state's
`reasonData.triggeringAlarms`, a contributor is `alarmContributor: {id, attributes}`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from itom_forwarder.formats.alarms.facts import AlarmFacts, ChildAlarm, Contributor, Dimension, MetricRef
from itom_forwarder.formats.alarms.mapping import to_events as map_alarm
from itom_forwarder.formats.alarms.overrides import tags_of
from itom_forwarder.formats.aws import account_from_arn, region_from_arn
from itom_forwarder.formats.json_values import as_mapping, text_or_none
from itom_forwarder.formats.notification import Notification
from itom_forwarder.formats.options import MappingOptions
from itom_forwarder.itom_event import InvalidPayload, ItomEvent, parse_time

DETAIL_TYPES = ("CloudWatch Alarm State Change", "CloudWatch Alarm Contributor State Change")


def is_alarm_state_change(payload: object) -> bool:
    return (
        isinstance(payload, Mapping)
        and payload.get("source") == "aws.cloudwatch"
        and payload.get("detail-type") in DETAIL_TYPES
        and isinstance(payload.get("detail"), Mapping)
    )


def _metric_ref(raw: Mapping[str, Any]) -> MetricRef:
    metric = as_mapping(as_mapping(raw.get("metricStat")).get("metric"))
    return MetricRef(
        id=text_or_none(raw.get("id")),
        returns_data=bool(raw.get("returnData")),
        expression=text_or_none(raw.get("expression")),
        label=text_or_none(raw.get("label")),
        namespace=text_or_none(metric.get("namespace")),
        name=text_or_none(metric.get("name")),
        dimensions=[Dimension(str(k), str(v)) for k, v in as_mapping(metric.get("dimensions")).items()],
    )


def _children(state: Mapping[str, Any]) -> list[ChildAlarm]:
    try:
        reason_data = json.loads(state.get("reasonData") or "{}")
    except (TypeError, ValueError):
        return []
    return [
        ChildAlarm(str(item["arn"]), as_mapping(item.get("state")).get("value"))
        for item in as_mapping(reason_data).get("triggeringAlarms") or []
        if isinstance(item, Mapping) and item.get("arn")
    ]


def parse_alarm_data(
    data: Mapping[str, Any], *, arn: str | None, account_id: str | None, region: str | None, where: str, tags: object
) -> AlarmFacts:
    """Read the shared `detail` / `alarmData` body into AlarmFacts."""
    name = data.get("alarmName")
    if not isinstance(name, str) or not name:
        raise InvalidPayload(f"{where}.alarmName: required, a non-empty string")
    state = as_mapping(data.get("state"))
    value = state.get("value")
    if value not in ("ALARM", "OK", "INSUFFICIENT_DATA"):
        raise InvalidPayload(f"{where}.state.value: {str(value)[:40]!r} is not ALARM, OK or INSUFFICIENT_DATA")
    configuration = as_mapping(data.get("configuration"))
    metrics = [_metric_ref(item) for item in configuration.get("metrics") or [] if isinstance(item, Mapping)]
    returned: Mapping[str, Any] = next(
        (as_mapping(item) for item in configuration.get("metrics") or [] if as_mapping(item).get("returnData")), {}
    )
    stat = as_mapping(returned.get("metricStat"))
    contributor_raw = as_mapping(data.get("alarmContributor"))
    contributor = None
    if contributor_raw.get("id"):
        attributes = as_mapping(contributor_raw.get("attributes"))
        contributor = Contributor(str(contributor_raw["id"]), {str(k): str(v) for k, v in attributes.items()})
    changed_at = (
        parse_time(state["timestamp"], field_name=f"{where}.state.timestamp") if state.get("timestamp") else None
    )
    details = {"statistic": stat.get("stat"), "period": stat.get("period") or returned.get("period")}
    return AlarmFacts(
        name=name,
        state=str(value),
        arn=arn,
        account_id=account_id or account_from_arn(arn),
        region=region or region_from_arn(arn),
        description=text_or_none(configuration.get("description")),
        reason=text_or_none(state.get("reason")),
        previous_state=text_or_none(as_mapping(data.get("previousState")).get("value")),
        changed_at=changed_at,
        metrics=metrics,
        alarm_rule=text_or_none(configuration.get("alarmRule")),
        children=_children(state),
        contributor=contributor,
        tags=tags_of(data.get("alarmTags") if data.get("alarmTags") is not None else tags),
        details={key: val for key, val in details.items() if val not in (None, "")},
    )


def to_events(event: Mapping[str, Any], notification: Notification, options: MappingOptions) -> list[ItomEvent]:
    resources = event.get("resources") or []
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
