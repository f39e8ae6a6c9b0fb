"""Which input format a payload is in: each format's test of its shape, with the names the
tests read. Nothing here maps, so it is cheap to import: `formats.to_events` tries these in
order and imports only the module of the format that matched (a cold start on an SNS alarm
loads the alarm formats, not Alertmanager's, Grafana's or the AWS services' events).

Each format's module re-exports its test and names from here.
"""

from __future__ import annotations

from collections.abc import Mapping

from itom_forwarder.itom_event import ITOM_FIELDS

__all__ = [
    "ALARM_DETAIL_TYPES",
    "CONFIG_DETAIL_TYPE",
    "DEVOPS_GURU_CLOSED_DETAIL_TYPE",
    "DEVOPS_GURU_DETAIL_TYPES",
    "GRAFANA_VERSION",
    "GUARDDUTY_DETAIL_TYPE",
    "GUARDDUTY_SOURCE",
    "HEALTH_DETAIL_TYPES",
    "SECURITYHUB_DETAIL_TYPE",
    "SECURITYHUB_SOURCE",
    "generic_records",
    "is_alarm_action",
    "is_alarm_notification",
    "is_alarm_state_change",
    "is_alertmanager",
    "is_aws_health",
    "is_config_compliance",
    "is_devops_guru",
    "is_generic",
    "is_grafana",
    "is_guardduty",
    "is_securityhub",
]

CLOUDWATCH_SOURCE = "aws.cloudwatch"
ALARM_DETAIL_TYPES = ("CloudWatch Alarm State Change", "CloudWatch Alarm Contributor State Change")
GUARDDUTY_SOURCE = "aws.guardduty"
GUARDDUTY_DETAIL_TYPE = "GuardDuty Finding"
SECURITYHUB_SOURCE = "aws.securityhub"
SECURITYHUB_DETAIL_TYPE = "Security Hub Findings - Imported"
DEVOPS_GURU_CLOSED_DETAIL_TYPE = "DevOps Guru Insight Closed"
DEVOPS_GURU_DETAIL_TYPES = (
    "DevOps Guru New Insight Open",
    "DevOps Guru Insight Severity Upgraded",
    "DevOps Guru New Anomaly Association",
    "DevOps Guru New Recommendation Created",
    DEVOPS_GURU_CLOSED_DETAIL_TYPE,
)
HEALTH_DETAIL_TYPES = ("AWS Health Event", "AWS Health Abuse Event")
CONFIG_DETAIL_TYPE = "Config Rules Compliance Change"
GRAFANA_VERSION = "1"  # Alertmanager's own webhook is version "4" and has no orgId


def _service_event(payload: object, source: str, detail_types: tuple[str, ...]) -> bool:
    return (
        isinstance(payload, Mapping)
        and payload.get("source") == source
        and payload.get("detail-type") in detail_types
        and isinstance(payload.get("detail"), Mapping)
    )


def _finding(payload: object, source: str, detail_type: str) -> bool:
    # A relay that keeps only `detail-type` and `detail` still names the finding's format.
    return (
        isinstance(payload, Mapping)
        and payload.get("source", source) == source
        and payload.get("detail-type") == detail_type
        and isinstance(payload.get("detail"), Mapping)
    )


def is_alarm_notification(message: object) -> bool:
    """The classic CloudWatch alarm notification (the SNS message's JSON)."""
    return isinstance(message, Mapping) and "AlarmName" in message and "NewStateValue" in message


def is_alarm_state_change(payload: object) -> bool:
    """The EventBridge alarm (or contributor) state change event."""
    return _service_event(payload, CLOUDWATCH_SOURCE, ALARM_DETAIL_TYPES)


def is_alarm_action(payload: object) -> bool:
    """The event of an alarm's Lambda action (the alarm invokes the function directly)."""
    return (
        isinstance(payload, Mapping)
        and payload.get("source") == CLOUDWATCH_SOURCE
        and isinstance(payload.get("alarmData"), Mapping)
    )


def is_guardduty(payload: object) -> bool:
    return _finding(payload, GUARDDUTY_SOURCE, GUARDDUTY_DETAIL_TYPE)


def is_securityhub(payload: object) -> bool:
    return _finding(payload, SECURITYHUB_SOURCE, SECURITYHUB_DETAIL_TYPE)


def is_devops_guru(payload: object) -> bool:
    return _service_event(payload, "aws.devops-guru", DEVOPS_GURU_DETAIL_TYPES)


def is_aws_health(payload: object) -> bool:
    return _service_event(payload, "aws.health", HEALTH_DETAIL_TYPES)


def is_config_compliance(payload: object) -> bool:
    return _service_event(payload, "aws.config", (CONFIG_DETAIL_TYPE,))


def is_alertmanager(payload: object) -> bool:
    return isinstance(payload, Mapping) and isinstance(payload.get("alerts"), list) and "status" in payload


def is_grafana(payload: object) -> bool:
    """Alertmanager's shape with Grafana's version "1" or an orgId."""
    return (
        isinstance(payload, Mapping)
        and is_alertmanager(payload)
        and (payload.get("version") == GRAFANA_VERSION or "orgId" in payload)
    )


def generic_records(payload: object) -> list[object] | None:
    """The records of a generic payload (one object with ITOM fields, a list, or
    `{"records": [...]}`), or None when it is not a generic payload."""
    if isinstance(payload, list):
        return payload
    if isinstance(payload, Mapping):
        if len(payload) == 1 and isinstance(payload.get("records"), list):
            return list(payload["records"])
        if any(name in payload for name in ITOM_FIELDS):
            return [payload]
    return None


def is_generic(payload: object) -> bool:
    return generic_records(payload) is not None
