"""What an operator changes of a built-in mapping, in one place for every AWS format: the
deployment's field templates, then the source's own `itom:` overrides (alarm tags and
description lines, or the tags of a finding's resource), which win.

A severity from a template is used only when no override sets one; a template severity
that is no severity is reported in additional_info (`override_problems`) and the built-in
one stays, so the alert is still sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from itom_forwarder.itom_event import InvalidPayload, ItomEvent, normalise_severity

if TYPE_CHECKING:  # the templates module is imported only when FIELD_TEMPLATES is set
    from itom_forwarder.formats.alarms.templates import FieldTemplates

__all__ = ["customised", "template_values"]


def template_values(values: Mapping[str, object], built_in: ItomEvent) -> dict[str, str]:
    """`values` (namespaced: "alarm.name", "health.service"...) plus the built-in mapping's
    fields as `event.<field>`, as text, without the empty ones."""
    everything = dict(values)
    fields = built_in._replace(additional_info={}, additional_info_omitted=0).to_record()  # not encoded for nothing
    everything |= {f"event.{key}": value for key, value in fields.items()}
    return {key: str(value) for key, value in everything.items() if value not in (None, "")}


def customised(
    built_in: ItomEvent,
    templates: FieldTemplates | None,
    values: Mapping[str, object],
    override_fields: Mapping[str, str],
    *,
    severity_overridden: bool,
) -> ItomEvent:
    """The built-in event with the templates rendered on `values` (namespaced, as
    `template_values` takes them) and the overrides applied. Without templates the values
    are never rendered: a warm alert does not pay for them."""
    templated = templates.render(template_values(values, built_in)) if templates else {}
    changes: dict[str, Any] = {**templated, **override_fields}
    changes.pop("severity", None)
    if "severity" in templated and not severity_overridden:
        try:
            changes["severity"] = normalise_severity(templated["severity"], field_name="FIELD_TEMPLATES.severity")
        except InvalidPayload as problem:
            earlier = built_in.additional_info.get("override_problems")
            problems = [*(earlier if isinstance(earlier, list) else []), str(problem)]
            changes["additional_info"] = {**built_in.additional_info, "override_problems": problems}
    return built_in._replace(**changes) if changes else built_in
