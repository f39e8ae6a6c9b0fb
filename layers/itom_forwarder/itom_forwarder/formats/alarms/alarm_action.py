"""The payload a CloudWatch alarm sends when it invokes the function directly (no SNS)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from itom_forwarder.formats.alarms.eventbridge import parse_alarm_data
from itom_forwarder.formats.alarms.mapping import to_events as map_alarm
from itom_forwarder.formats.json_values import text_or_none
from itom_forwarder.formats.notification import Notification
from itom_forwarder.formats.options import MappingOptions
from itom_forwarder.itom_event import ItomEvent


def to_events(event: Mapping[str, Any], notification: Notification, options: MappingOptions) -> list[ItomEvent]:
    facts = parse_alarm_data(
        event["alarmData"],
        arn=text_or_none(event.get("alarmArn")),
        account_id=text_or_none(event.get("accountId")),
        region=text_or_none(event.get("region")),
        where="alarmData",
        tags=event.get("alarmTags"),
    )
    return map_alarm(facts, options, notification.context())
