"""Input formats: each module maps one payload shape to ITOM events with pure functions.

`to_events` picks the format by looking at the payload; formats never send anything and
never read the environment: what they may change comes in `MappingOptions`.

A format's module is imported when its functions are first called, not with this package:
a cold start on an SNS alarm loads the alarm formats, not Alertmanager's, Grafana's or
the AWS services' events (each a few milliseconds of import).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from itom_forwarder.formats.json_values import decode_json
from itom_forwarder.formats.notification import Notification
from itom_forwarder.formats.options import MappingOptions
from itom_forwarder.itom_event import ItomEvent

__all__ = ["FORMATS", "MappingOptions", "Notification", "to_events"]

Mapper = Callable[[Any, Notification, MappingOptions], list[ItomEvent]]


def _on_first_call(module: str, name: str) -> Callable[..., Any]:
    """The function `name` of this package's `module`, imported when first called."""
    target: Callable[..., Any] | None = None

    def call(*args: Any) -> Any:
        nonlocal target
        if target is None:
            target = getattr(importlib.import_module(f"{__name__}.{module}"), name)
        return target(*args)

    call.__qualname__ = call.__name__ = f"{module}.{name}"
    return call


def _format(name: str, module: str, matches: str) -> tuple[str, Callable[[object], bool], Mapper]:
    return name, _on_first_call(module, matches), _on_first_call(module, "to_events")


# Most specific first: an EventBridge alarm event has a `source` key, which alone would
# also make it look like a generic ITOM record. The names are the `input_format` metric
# dimension and the dead-letter message's `format`.
FORMATS: tuple[tuple[str, Callable[[object], bool], Mapper], ...] = (
    _format("cloudwatch_alarm", "alarms.sns_notification", "is_alarm_notification"),
    _format("eventbridge_alarm", "alarms.eventbridge", "is_alarm_state_change"),
    _format("alarm_action", "alarms.alarm_action", "is_alarm_action"),
    _format("guardduty", "aws_events.guardduty", "is_guardduty"),
    _format("securityhub", "aws_events.securityhub", "is_securityhub"),
    _format("devops_guru", "aws_events.devops_guru", "is_devops_guru"),
    _format("aws_health", "aws_events.health", "is_aws_health"),
    _format("config_compliance", "aws_events.config_rules", "is_config_compliance"),
    # Grafana's webhook is Alertmanager's shape with a version "1" or an orgId: before it.
    _format("grafana", "grafana", "is_grafana"),
    _format("alertmanager", "alertmanager", "is_alertmanager"),
    _format("generic", "generic", "is_generic"),
)
_plain_text = _on_first_call("plain_text", "to_events")


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
    events: list[ItomEvent] = _plain_text(notification, options, payload)
    return "plain_text", events
