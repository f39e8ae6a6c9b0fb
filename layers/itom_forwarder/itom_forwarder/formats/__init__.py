"""Input formats: each module maps one payload shape to ITOM events with pure functions.

`to_events` picks the format by looking at the payload; formats never send anything and
never read the environment: what they may change comes in `MappingOptions`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from itom_forwarder.formats import alertmanager, generic, grafana, plain_text
from itom_forwarder.formats.alarms import alarm_action, eventbridge, sns_notification
from itom_forwarder.formats.aws_events import config_rules, devops_guru, guardduty, health, securityhub
from itom_forwarder.formats.json_values import decode_json
from itom_forwarder.formats.notification import Notification
from itom_forwarder.formats.options import MappingOptions
from itom_forwarder.itom_event import ItomEvent

__all__ = ["FORMATS", "MappingOptions", "Notification", "to_events"]

Mapper = Callable[[Any, Notification, MappingOptions], list[ItomEvent]]

# Most specific first: an EventBridge alarm event has a `source` key, which alone would
# also make it look like a generic ITOM record. The names are the `input_format` metric
# dimension and the dead-letter message's `format`.
FORMATS: tuple[tuple[str, Callable[[object], bool], Mapper], ...] = (
    ("cloudwatch_alarm", sns_notification.is_alarm_notification, sns_notification.to_events),
    ("eventbridge_alarm", eventbridge.is_alarm_state_change, eventbridge.to_events),
    ("alarm_action", alarm_action.is_alarm_action, alarm_action.to_events),
    ("guardduty", guardduty.is_guardduty, guardduty.to_events),
    ("securityhub", securityhub.is_securityhub, securityhub.to_events),
    ("devops_guru", devops_guru.is_devops_guru, devops_guru.to_events),
    ("aws_health", health.is_aws_health, health.to_events),
    ("config_compliance", config_rules.is_config_compliance, config_rules.to_events),
    # Grafana's webhook is Alertmanager's shape with a version "1" or an orgId: before it.
    ("grafana", grafana.is_grafana, grafana.to_events),
    ("alertmanager", alertmanager.is_alertmanager, alertmanager.to_events),
    ("generic", generic.is_generic, generic.to_events),
)


def to_events(notification: Notification, options: MappingOptions) -> tuple[str, list[ItomEvent]]:
    """Map one notification; returns the format's name and its events.

    Raises InvalidPayload (naming the field) when the payload is in a known format but
    broken, and nothing else; anything unrecognised (not JSON, JSON nested too deep to
    decode, JSON in no known shape) is kept as plain text rather than dropped.
    """
    payload = decode_json(notification.message)
    for name, matches, mapper in FORMATS:
        if matches(payload):
            return name, mapper(payload, notification, options)
    return "plain_text", plain_text.to_events(notification, options, payload)
