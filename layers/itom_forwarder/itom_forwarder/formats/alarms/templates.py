"""Deployment-wide field templates: build any ITOM field from an alert's values.

Set as one JSON object in `FIELD_TEMPLATES`, for example
    {"node": "{{dimensions.InstanceId}}", "message_key": "{{alarm.name}}:{{alarm.region}}"}

Placeholders are `{{namespace.name}}` (spaces inside the braces allowed):
    alarm.<value>       one of ALARM_VALUES below
    dimensions.<Name>   a dimension of the metric the alarm reads
    tags.<Key>          an alarm tag carried in the notification
    contributor.<Key>   an attribute of the time series (multi time series alarms)
    event.<field>       the built-in mapping's value of an ITOM field
    health.<value>, guardduty.<value>, securityhub.<value>, config.<value>,
    devopsguru.<value>  a value of that service's event (SIGNAL_VALUES below)

A template naming an unknown value is refused when the function starts. A template whose
values are missing for one alert (no such tag, a composite alarm without dimensions) is
skipped for that alert, so the built-in value stays rather than an empty or half field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from itom_forwarder.itom_event import ITOM_FIELDS

PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
ALARM_VALUES = (
    "name",
    "arn",
    "state",
    "previous_state",
    "account",
    "region",
    "description",
    "reason",
    "metric",
    "namespace",
    "rule",
    "time",
    "contributor",
)
OPEN_NAMESPACES = ("dimensions", "tags", "contributor")
# The values each EventBridge service's format offers, as `<service>.<value>` (its
# resource's tags are `tags.<Key>` as for alarms). A template naming another service's
# value is skipped for this one's events, so one FIELD_TEMPLATES serves every source.
SIGNAL_VALUES: dict[str, tuple[str, ...]] = {
    "health": (
        "event_arn",
        "service",
        "event_type_code",
        "category",
        "status",
        "scope",
        "account",
        "region",
        "communication_id",
    ),
    "guardduty": ("id", "type", "severity", "title", "account", "region", "resource_type", "instance_id", "resource"),
    "securityhub": (
        "id",
        "product_arn",
        "product_name",
        "title",
        "severity",
        "workflow_status",
        "record_state",
        "compliance_status",
        "generator_id",
        "type",
        "account",
        "region",
        "resource_id",
        "resource_type",
    ),
    "config": ("rule_name", "rule_arn", "resource_type", "resource_id", "compliance", "account", "region"),
    "devopsguru": ("insight_id", "insight_type", "name", "severity", "status", "account", "region", "event"),
}
TEMPLATE_FIELDS = tuple(sorted(ITOM_FIELDS - {"additional_info", "time_of_event", "resolution_state"}))


class TemplateError(ValueError):
    """A template that cannot work; the message names the field and the value."""


def _check_placeholder(field_name: str, name: str) -> None:
    namespace, _, key = name.partition(".")
    if namespace == "alarm" and key in ALARM_VALUES:
        return
    if namespace in OPEN_NAMESPACES and key:
        return
    if namespace == "event" and key in TEMPLATE_FIELDS:
        return
    if key in SIGNAL_VALUES.get(namespace, ()):
        return
    known = ", ".join(
        [f"alarm.{value}" for value in ALARM_VALUES]
        + [f"{space}.<name>" for space in OPEN_NAMESPACES]
        + ["event.<field>"]
        + [f"{space}.{{{','.join(values)}}}" for space, values in SIGNAL_VALUES.items()]
    )
    raise TemplateError(f"{field_name}: unknown value {{{{{name}}}}} (known: {known})")


@dataclass(frozen=True)
class FieldTemplates:
    templates: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> FieldTemplates:
        if not text.strip():
            return cls()
        try:
            document = json.loads(text)
        except (ValueError, RecursionError):
            raise TemplateError('not valid JSON (expected an object such as {"node": "{{alarm.name}}"})') from None
        if not isinstance(document, dict):
            raise TemplateError("must be a JSON object of field name to template")
        for field_name, template in document.items():
            if field_name not in TEMPLATE_FIELDS:
                raise TemplateError(f"{field_name}: not a field that can be templated ({', '.join(TEMPLATE_FIELDS)})")
            if not isinstance(template, str) or not template.strip():
                raise TemplateError(f"{field_name}: the template must be a non-empty string")
            for name in PLACEHOLDER.findall(template):
                _check_placeholder(field_name, name)
        return cls(dict(document))

    def __bool__(self) -> bool:
        return bool(self.templates)

    def render(self, values: Mapping[str, str]) -> dict[str, str]:
        """The fields whose every placeholder has a value, rendered."""
        rendered: dict[str, str] = {}
        for field_name, template in self.templates.items():
            names = PLACEHOLDER.findall(template)
            if any(not values.get(name) for name in names):
                continue
            text = PLACEHOLDER.sub(lambda match: values[match.group(1)], template).strip()
            if text:
                rendered[field_name] = text
        return rendered
