"""What the formats need to know: defaults an operator can change without code. The
caller (the application's settings) builds it; formats never read the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from itom_forwarder.formats.alarms.templates import FieldTemplates

__all__ = ["MappingOptions"]


@dataclass(frozen=True)
class MappingOptions:
    alarm_source: str = "AWS CloudWatch"
    sns_source: str = "AWS SNS"
    # A state mapped to None sends nothing (INSUFFICIENT_DATA may be set to "none").
    severity_by_alarm_state: Mapping[str, str | None] = field(
        default_factory=lambda: {"ALARM": "2", "OK": "0", "INSUFFICIENT_DATA": "4"}
    )
    default_severity: str = "4"
    # Deployment-wide field templates of the alarm formats (None: none set).
    field_templates: FieldTemplates | None = None
