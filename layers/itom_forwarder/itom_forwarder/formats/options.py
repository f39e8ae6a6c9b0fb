"""What the formats need to know: defaults an operator can change without code. The
caller (the application's settings) builds it; formats never read the environment."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from itom_forwarder.formats.alarms.templates import FieldTemplates

__all__ = ["MappingOptions"]


class MappingOptions(NamedTuple):
    alarm_source: str = "AWS CloudWatch"
    sns_source: str = "AWS SNS"
    # A state mapped to None sends nothing (INSUFFICIENT_DATA may be set to "none").
    severity_by_alarm_state: Mapping[str, str | None] = MappingProxyType(
        {"ALARM": "2", "OK": "0", "INSUFFICIENT_DATA": "4"}
    )
    default_severity: str = "4"
    # Deployment-wide field templates of the AWS formats (None: none set).
    field_templates: FieldTemplates | None = None
    # The ITOM `source` of each EventBridge service's events, by the format's service key.
    aws_event_sources: Mapping[str, str] = MappingProxyType(
        {
            "health": "AWS Health",
            "guardduty": "Amazon GuardDuty",
            "securityhub": "AWS Security Hub",
            "config": "AWS Config",
            "devopsguru": "Amazon DevOps Guru",
        }
    )
    # AWS Health: the severity of an open event by its eventTypeCategory.
    health_severity_by_category: Mapping[str, str] = MappingProxyType(
        {"issue": "2", "investigation": "3", "scheduledChange": "4", "accountNotification": "5"}
    )
    # AWS Config: the severity of a NON_COMPLIANT evaluation (3 Minor).
    config_noncompliant_severity: str = "3"
