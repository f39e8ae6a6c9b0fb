"""EventBridge's "CloudWatch Alarm State Change" event (directly, or as an SNS Message).

Its `detail` has the same body as the direct alarm-action payload's `alarmData`
(see alarm_action.py): dimensions are a map and the metric key is `name`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from itom_forwarder.config import MappingSettings
from itom_forwarder.event import InvalidPayload, ItomEvent, parse_time
from itom_forwarder.formats.alarm import AlarmFacts, Dimension, account_from_arn, as_mapping, region_from_arn, to_event
from itom_forwarder.formats.notification import Notification

DETAIL_TYPE = "CloudWatch Alarm State Change"


def is_alarm_state_change(payload: object) -> bool:
    return (
        isinstance(payload, Mapping)
        and payload.get("source") == "aws.cloudwatch"
        and payload.get("detail-type") == DETAIL_TYPE
        and isinstance(payload.get("detail"), Mapping)
    )


def parse_alarm_data(
    data: Mapping[str, Any], *, arn: str | None, account_id: str | None, region: str | None, where: str
) -> AlarmFacts:
    """Read the shared `detail` / `alarmData` body into AlarmFacts."""
    name = data.get("alarmName")
    if not isinstance(name, str) or not name:
        raise InvalidPayload(f"{where}.alarmName: required, a non-empty string")
    state = as_mapping(data.get("state"))
    value = state.get("value")
    if value not in ("ALARM", "OK", "INSUFFICIENT_DATA"):
        raise InvalidPayload(f"{where}.state.value: {str(value)[:40]!r} is not ALARM, OK or INSUFFICIENT_DATA")
    previous = as_mapping(data.get("previousState"))
    configuration = as_mapping(data.get("configuration"))
    metrics = [as_mapping(item) for item in configuration.get("metrics") or []]
    returned = next((item for item in metrics if item.get("returnData")), metrics[0] if metrics else {})
    returned_stat = as_mapping(returned.get("metricStat"))
    # The namespace and dimensions come from the first metric the alarm reads.
    read = next(
        (as_mapping(as_mapping(item.get("metricStat")).get("metric")) for item in metrics if item.get("metricStat")), {}
    )
    metric_name = (
        returned.get("label")
        or as_mapping(returned_stat.get("metric")).get("name")
        or returned.get("expression")
        or read.get("name")
    )
    details: dict[str, object] = {
        "statistic": returned_stat.get("stat"),
        "period": returned_stat.get("period"),
        "expression": returned.get("expression"),
    }
    if len(metrics) > 1:
        details["metrics"] = metrics
    changed_at = (
        parse_time(state["timestamp"], field_name=f"{where}.state.timestamp") if state.get("timestamp") else None
    )
    return AlarmFacts(
        name=name,
        state=str(value),
        arn=arn,
        account_id=account_id or account_from_arn(arn),
        region=region or region_from_arn(arn),
        description=configuration.get("description") or None,
        reason=state.get("reason") or None,
        previous_state=previous.get("value"),
        changed_at=changed_at,
        metric_name=metric_name,
        namespace=read.get("namespace"),
        dimensions=[Dimension(str(key), str(val)) for key, val in as_mapping(read.get("dimensions")).items()],
        alarm_rule=configuration.get("alarmRule"),
        details={key: val for key, val in details.items() if val not in (None, "")},
    )


def to_events(event: Mapping[str, Any], notification: Notification, settings: MappingSettings) -> list[ItomEvent]:
    resources = event.get("resources") or []
    arn = next((item for item in resources if isinstance(item, str) and ":alarm:" in item), None)
    facts = parse_alarm_data(
        event["detail"], arn=arn, account_id=event.get("account"), region=event.get("region"), where="detail"
    )
    context = {**notification.context(), "eventbridge_event_id": event.get("id")}
    return [to_event(facts, settings, context)]
