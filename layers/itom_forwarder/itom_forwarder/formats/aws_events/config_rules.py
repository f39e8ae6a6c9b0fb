"""AWS Config rule evaluations on EventBridge ("Config Rules Compliance Change", source
aws.config): a resource's compliance with a Config rule changed.

One ServiceNow alert per rule, resource type, resource id, account and region:
`aws.config:<configRuleARN or configRuleName>:<resourceType>:<resourceId>:<awsAccountId>:<awsRegion>`.
A `newEvaluationResult.complianceType` of COMPLIANT or NOT_APPLICABLE closes it;
NON_COMPLIANT opens it at MappingOptions.config_noncompliant_severity (Minor by default),
INSUFFICIENT_DATA (or none) at the default severity. The event's update time is
`newEvaluationResult.resultRecordedTime`, else the rule's invocation time, else the time
Config created the notification, else the event's `time`.

The detail's fields: https://docs.aws.amazon.com/config/latest/developerguide/monitor-config-with-cloudwatchevents.html
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from itom_forwarder.formats.aws import account_from_arn, region_from_arn
from itom_forwarder.formats.aws_events.common import (
    CLEAR,
    Signal,
    digest_key,
    eventbridge_context,
    first_source_time,
    to_event,
)
from itom_forwarder.formats.json_values import as_mapping, text_or_none
from itom_forwarder.formats.notification import Notification
from itom_forwarder.formats.options import MappingOptions
from itom_forwarder.formats.shapes import CONFIG_DETAIL_TYPE as DETAIL_TYPE
from itom_forwarder.formats.shapes import is_config_compliance
from itom_forwarder.itom_event import ItomEvent, valid_text

__all__ = ["DETAIL_TYPE", "is_config_compliance", "to_events"]

SERVICE = "config"
KEY_PREFIX = "aws.config"
CLOSING = ("COMPLIANT", "NOT_APPLICABLE")
NON_COMPLIANT = "NON_COMPLIANT"
CONSOLE_URL = "https://{region}.console.aws.amazon.com/config/home?region={region}#/rules/details?configRuleName={name}"


def _severity(compliance: str | None, options: MappingOptions) -> str:
    value = (compliance or "").upper()
    if value in CLOSING:
        return CLEAR
    return options.config_noncompliant_severity if value == NON_COMPLIANT else options.default_severity


def _title(rule: str | None, resource: str | None, compliance: str | None, old: str | None) -> str:
    was = f" (was {old})" if old else ""
    return f"AWS Config rule {rule or '(unnamed)'}: {resource or 'a resource'} is {compliance or 'evaluated'}{was}"


def _message_key(detail: Mapping[str, Any], parts: list[str | None]) -> str:
    if not any(parts[:3]):  # no rule and no resource: nothing names the alert
        return f"{KEY_PREFIX}:{digest_key(detail)}"
    return ":".join([KEY_PREFIX, *(part or "" for part in parts)])


def _console_url(region: str | None, rule: str | None) -> str | None:
    if not (region and rule):
        return None
    # A lone surrogate cannot be URL-encoded: valid_text replaces it first.
    return CONSOLE_URL.format(region=quote(valid_text(region), safe=""), name=quote(valid_text(rule), safe=""))


def to_events(event: Mapping[str, Any], notification: Notification, options: MappingOptions) -> list[ItomEvent]:
    detail = as_mapping(event.get("detail"))
    new = as_mapping(detail.get("newEvaluationResult"))
    old = as_mapping(detail.get("oldEvaluationResult"))
    qualifier = as_mapping(as_mapping(new.get("evaluationResultIdentifier")).get("evaluationResultQualifier"))
    rule_arn = text_or_none(detail.get("configRuleARN"))
    rule = text_or_none(detail.get("configRuleName")) or text_or_none(qualifier.get("configRuleName"))
    resource_type = text_or_none(detail.get("resourceType")) or text_or_none(qualifier.get("resourceType"))
    resource_id = text_or_none(detail.get("resourceId")) or text_or_none(qualifier.get("resourceId"))
    account = (
        text_or_none(detail.get("awsAccountId")) or text_or_none(event.get("account")) or account_from_arn(rule_arn)
    )
    region = text_or_none(detail.get("awsRegion")) or text_or_none(event.get("region")) or region_from_arn(rule_arn)
    compliance = text_or_none(new.get("complianceType"))
    old_compliance = text_or_none(old.get("complianceType"))
    annotation = text_or_none(new.get("annotation"))
    resource = " ".join(part for part in (resource_type, resource_id) if part) or None
    invoked = new.get("configRuleInvokedTime") or new.get("configRuleInvocationTime")
    info: dict[str, object] = {
        "config_rule_name": rule,
        "config_rule_arn": rule_arn,
        "resource_type": resource_type,
        "resource_id": resource_id,
        "compliance_type": compliance,
        "old_compliance_type": old_compliance,
        "annotation": annotation,
        "result_recorded_time": text_or_none(new.get("resultRecordedTime")),
        "config_rule_invoked_time": text_or_none(invoked),
        "ordering_timestamp": text_or_none(as_mapping(new.get("evaluationResultIdentifier")).get("orderingTimestamp")),
        "old_result_recorded_time": text_or_none(old.get("resultRecordedTime")),
        "notification_creation_time": text_or_none(detail.get("notificationCreationTime")),
        "message_type": text_or_none(detail.get("messageType")),
    }
    values = {
        "rule_name": rule,
        "rule_arn": rule_arn,
        "resource_type": resource_type,
        "resource_id": resource_id,
        "compliance": compliance,
        "account": account,
        "region": region,
    }
    signal = Signal(
        service=SERVICE,
        message_key=_message_key(detail, [rule_arn or rule, resource_type, resource_id, account, region]),
        severity=_severity(compliance, options),
        title=_title(rule, resource, compliance, old_compliance),
        account=account,
        region=region,
        updated_at=first_source_time(
            new.get("resultRecordedTime"), invoked, detail.get("notificationCreationTime"), event.get("time")
        ),
        node=resource_id,
        resource=resource,
        type=resource_type,
        metric_name=rule,
        details=[f"Annotation: {annotation}" if annotation else ""],
        console_url=_console_url(region, rule),
        info=info,
        values={name: value for name, value in values.items() if value},
    )
    return [to_event(signal, options, eventbridge_context(event, notification.context()))]
