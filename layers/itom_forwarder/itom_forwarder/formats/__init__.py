"""Input formats: each module maps one payload shape to ITOM events with pure functions.

`to_events` picks the format by looking at the payload; formats never send anything and
never read the environment: what they may change comes in `MappingOptions`.

Picking a format reads only `shapes` (each format's test of its shape); a format's module
is imported when its mapper is first called, not with this package: a cold start on an
SNS alarm loads the alarm formats, not Alertmanager's, Grafana's or the AWS services'
events (each a few milliseconds of import, most of it building their dataclasses).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from itom_forwarder.formats import shapes
from itom_forwarder.formats.json_values import decode_json
from itom_forwarder.formats.notification import Notification
from itom_forwarder.formats.options import MappingOptions
from itom_forwarder.itom_event import ItomEvent

__all__ = ["FORMATS", "MAPPERS", "Mapper", "MappingOptions", "Notification", "to_events"]

Mapper = Callable[[Any, Notification, MappingOptions], list[ItomEvent]]

# One function per format: its module is imported by its first call (an import statement
# of a loaded module costs a dictionary lookup after that).


def _cloudwatch_alarm(payload: Any, notification: Notification, options: MappingOptions) -> list[ItomEvent]:
    from itom_forwarder.formats.alarms import sns_notification

    return sns_notification.to_events(payload, notification, options)


def _eventbridge_alarm(payload: Any, notification: Notification, options: MappingOptions) -> list[ItomEvent]:
    from itom_forwarder.formats.alarms import eventbridge

    return eventbridge.to_events(payload, notification, options)


def _alarm_action(payload: Any, notification: Notification, options: MappingOptions) -> list[ItomEvent]:
    from itom_forwarder.formats.alarms import alarm_action

    return alarm_action.to_events(payload, notification, options)


def _guardduty(payload: Any, notification: Notification, options: MappingOptions) -> list[ItomEvent]:
    from itom_forwarder.formats.aws_events import guardduty

    return guardduty.to_events(payload, notification, options)


def _securityhub(payload: Any, notification: Notification, options: MappingOptions) -> list[ItomEvent]:
    from itom_forwarder.formats.aws_events import securityhub

    return securityhub.to_events(payload, notification, options)


def _devops_guru(payload: Any, notification: Notification, options: MappingOptions) -> list[ItomEvent]:
    from itom_forwarder.formats.aws_events import devops_guru

    return devops_guru.to_events(payload, notification, options)


def _aws_health(payload: Any, notification: Notification, options: MappingOptions) -> list[ItomEvent]:
    from itom_forwarder.formats.aws_events import health

    return health.to_events(payload, notification, options)


def _config_compliance(payload: Any, notification: Notification, options: MappingOptions) -> list[ItomEvent]:
    from itom_forwarder.formats.aws_events import config_rules

    return config_rules.to_events(payload, notification, options)


def _grafana(payload: Any, notification: Notification, options: MappingOptions) -> list[ItomEvent]:
    from itom_forwarder.formats import grafana

    return grafana.to_events(payload, notification, options)


def _alertmanager(payload: Any, notification: Notification, options: MappingOptions) -> list[ItomEvent]:
    from itom_forwarder.formats import alertmanager

    return alertmanager.to_events(payload, notification, options)


def _generic(payload: Any, notification: Notification, options: MappingOptions) -> list[ItomEvent]:
    from itom_forwarder.formats import generic

    return generic.to_events(payload, notification, options)


def _plain_text(notification: Notification, options: MappingOptions, payload: object) -> list[ItomEvent]:
    from itom_forwarder.formats import plain_text

    return plain_text.to_events(notification, options, payload)


# Most specific first: an EventBridge alarm event has a `source` key, which alone would
# also make it look like a generic ITOM record. The names are the `input_format` metric
# dimension and the dead-letter message's `format`.
FORMATS: tuple[tuple[str, Callable[[object], bool], Mapper], ...] = (
    ("cloudwatch_alarm", shapes.is_alarm_notification, _cloudwatch_alarm),
    ("eventbridge_alarm", shapes.is_alarm_state_change, _eventbridge_alarm),
    ("alarm_action", shapes.is_alarm_action, _alarm_action),
    ("guardduty", shapes.is_guardduty, _guardduty),
    ("securityhub", shapes.is_securityhub, _securityhub),
    ("devops_guru", shapes.is_devops_guru, _devops_guru),
    ("aws_health", shapes.is_aws_health, _aws_health),
    ("config_compliance", shapes.is_config_compliance, _config_compliance),
    # Grafana's webhook is Alertmanager's shape with a version "1" or an orgId: before it.
    ("grafana", shapes.is_grafana, _grafana),
    ("alertmanager", shapes.is_alertmanager, _alertmanager),
    ("generic", shapes.is_generic, _generic),
)
# Each format's mapper by name (the API's routes map their bodies with these).
MAPPERS: Mapping[str, Mapper] = {name: mapper for name, _, mapper in FORMATS}


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
    return "plain_text", _plain_text(notification, options, payload)
