"""Security Hub findings on EventBridge ("Security Hub Findings - Imported", source
aws.securityhub), in the AWS Security Finding Format (ASFF): a finding of Security Hub's
own controls or of an integrated product (GuardDuty, Inspector, Macie, a partner...).

`detail.findings` is a list: Security Hub sends one finding per event, but each finding of
a longer list becomes its own ITOM event. One ServiceNow alert per finding `Id` with its
`ProductArn`: `aws.securityhub:<ProductArn>:<Id>`. A finding closes the alert when its
`Workflow.Status` is RESOLVED or SUPPRESSED, its `RecordState` ARCHIVED, or its
`Compliance.Status` PASSED; Security Hub sets the status back to NEW when the finding is
reactivated, and that update reopens it. An open finding's severity is its
`Severity.Label`: CRITICAL 1, HIGH 2, MEDIUM 3, LOW 4, INFORMATIONAL 5; without a label,
the label `Severity.Normalized` stands for (0 INFORMATIONAL, 1-39 LOW, 40-69 MEDIUM, 70-89
HIGH, 90-100 CRITICAL: https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_Severity.html),
else the default severity. The finding's update time is `UpdatedAt`, else
`LastObservedAt`, else `CreatedAt`, else the event's `time`.

"Findings Imported V2" (the OCSF findings of the new Security Hub) is another detail-type
with another schema: it keeps the generic handling.

ASFF: https://docs.aws.amazon.com/securityhub/latest/userguide/securityhub-findings-format.html
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from itom_forwarder.formats.alarms.overrides import tags_of
from itom_forwarder.formats.aws import account_from_arn, region_from_arn
from itom_forwarder.formats.aws_events.common import (
    CLEAR,
    Signal,
    console_base,
    digest_key,
    eventbridge_context,
    first_source_time,
    to_event,
)
from itom_forwarder.formats.json_values import as_list, as_mapping, text_or_none
from itom_forwarder.formats.notification import Notification
from itom_forwarder.formats.options import MappingOptions
from itom_forwarder.formats.shapes import SECURITYHUB_DETAIL_TYPE as DETAIL_TYPE
from itom_forwarder.formats.shapes import SECURITYHUB_SOURCE as SOURCE
from itom_forwarder.formats.shapes import is_securityhub
from itom_forwarder.itom_event import FIELD_LIMITS, ItomEvent, cut, utf16_len, valid_text

__all__ = ["DETAIL_TYPE", "SOURCE", "is_securityhub", "to_events"]

SERVICE = "securityhub"
KEY_PREFIX = "aws.securityhub"
CLOSING_WORKFLOW = ("RESOLVED", "SUPPRESSED")
SEVERITY_BY_LABEL = {"CRITICAL": "1", "HIGH": "2", "MEDIUM": "3", "LOW": "4", "INFORMATIONAL": "5"}
# (lowest Normalized, label), highest first; 0 alone is INFORMATIONAL.
NORMALIZED_BANDS = ((90.0, "CRITICAL"), (70.0, "HIGH"), (40.0, "MEDIUM"))
# The finding's page in the Security Hub CSPM console: the findings list filtered on its Id,
# as AWS's Automated Security Response links it (aws-solutions/automated-security-response-on-aws,
# get_security_hub_console_url; the console's filter takes `\operator\:EQUALS\:<value>`,
# URL-encoded, inside the URL-encoded `search` parameter, so the Id is encoded twice:
# `:` as %253A, `/` as %252F).
CONSOLE_PATH = "/securityhub/home?region={region}#/findings?search=Id%3D%255Coperator%255C%253AEQUALS%255C%253A{id}"
FINDINGS_PER_EVENT = 100
INFO_RESOURCES = 10
DESCRIBED_RESOURCES = 5
INFO_TYPES = 10
# ProductFields that older findings carry in place of the top-level fields.
PRODUCT_NAME = "aws/securityhub/ProductName"
COMPANY_NAME = "aws/securityhub/CompanyName"
SEVERITY_LABEL = "aws/securityhub/SeverityLabel"


def _upper(value: object) -> str | None:
    text = text_or_none(value)
    return text.strip().upper() if text else None


def _normalized_label(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    if not math.isfinite(number) or number < 0:
        return None
    if number == 0:
        return "INFORMATIONAL"
    return next((label for low, label in NORMALIZED_BANDS if number >= low), "LOW")


def _label(finding: Mapping[str, Any]) -> str | None:
    """The finding's severity label: `Severity.Label`, else the provider's, else the one an
    older finding keeps in ProductFields, else what `Severity.Normalized` stands for."""
    severity = as_mapping(finding.get("Severity"))
    provider = as_mapping(as_mapping(finding.get("FindingProviderFields")).get("Severity"))
    for candidate in (
        severity.get("Label"),
        provider.get("Label"),
        as_mapping(finding.get("ProductFields")).get(SEVERITY_LABEL),
    ):
        label = _upper(candidate)
        if label in SEVERITY_BY_LABEL:
            return label
    return _normalized_label(severity.get("Normalized"))


def _states(finding: Mapping[str, Any]) -> dict[str, str | None]:
    workflow = as_mapping(finding.get("Workflow"))
    return {
        # WorkflowState is the deprecated field Workflow.Status replaced.
        "workflow_status": _upper(workflow.get("Status")) or _upper(finding.get("WorkflowState")),
        "record_state": _upper(finding.get("RecordState")),
        "compliance_status": _upper(as_mapping(finding.get("Compliance")).get("Status")),
    }


def _closed_by(states: Mapping[str, str | None]) -> str | None:
    """What closes the alert, as `<field> <value>`; None while the finding is open."""
    if states["workflow_status"] in CLOSING_WORKFLOW:
        return f"Workflow.Status {states['workflow_status']}"
    if states["record_state"] == "ARCHIVED":
        return "RecordState ARCHIVED"
    if states["compliance_status"] == "PASSED":
        return "Compliance.Status PASSED"
    return None


def _resources(finding: Mapping[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """The affected resources (each {type, id, region, tags}) and how many there are."""
    raw = finding.get("Resources")
    resources: list[dict[str, Any]] = []
    for item in as_list(raw):
        entry = as_mapping(item)
        resource_id = text_or_none(entry.get("Id")) if entry else text_or_none(item)
        if resource_id:
            resources.append(
                {
                    "type": text_or_none(entry.get("Type")),
                    "id": resource_id,
                    "region": text_or_none(entry.get("Region")),
                    "tags": entry.get("Tags"),
                }
            )
    total = len(raw) if isinstance(raw, list) else len(resources)
    return resources, max(total, len(resources))


def _node(resource_id: str) -> str:
    """An EC2 instance's id from its ARN, an account's number from `AWS::::Account:<n>`,
    else the resource's Id."""
    if resource_id.startswith("arn:") and ":instance/" in resource_id:
        instance = resource_id.rsplit("/", 1)[-1]
        if instance.startswith("i-"):
            return instance
    if resource_id.startswith("AWS::::Account:"):
        return resource_id.rsplit(":", 1)[-1] or resource_id
    return resource_id


def _finding_type(types: object) -> str | None:
    """The first of `Types` (`namespace/category/classifier`), its leading parts dropped
    while it is longer than the ITOM field: "Software and Configuration Checks/Industry and
    Regulatory Standards/AWS-Foundational-Security-Best-Practices" would otherwise be cut
    in the middle of its most specific part."""
    first = text_or_none(types[0]) if isinstance(types, list) and types else None
    if not first:
        return None
    parts = first.split("/")
    while len(parts) > 1 and utf16_len("/".join(parts)) > FIELD_LIMITS["type"]:
        parts = parts[1:]
    return "/".join(parts)


def _resource_text(resource: Mapping[str, Any]) -> str:
    return " ".join(part for part in (resource["type"], resource["id"]) if part)


def _resource_field(resources: list[dict[str, Any]], total: int) -> str | None:
    """`<Type> <Id>` of the first resource, with "+N more" kept when it is cut to fit."""
    if not resources:
        return None
    more = f" +{total - 1} more" if total > 1 else ""
    return cut(_resource_text(resources[0]), FIELD_LIMITS["resource"] - len(more)) + more


def _message_key(finding: Mapping[str, Any], resources: list[dict[str, Any]]) -> str:
    product_arn = text_or_none(finding.get("ProductArn"))
    finding_id = text_or_none(finding.get("Id"))
    if not finding_id:
        # No Id: what stays the same from one update of the finding to the next.
        stable = [
            text_or_none(finding.get("GeneratorId")),
            text_or_none(finding.get("AwsAccountId")),
            resources[0]["id"] if resources else None,
            text_or_none(finding.get("CreatedAt")),
        ]
        finding_id = digest_key(stable if any(stable) else finding)
    return ":".join((KEY_PREFIX, product_arn or "", finding_id))


def _control_id(finding: Mapping[str, Any]) -> str | None:
    return text_or_none(as_mapping(finding.get("Compliance")).get("SecurityControlId")) or text_or_none(
        as_mapping(finding.get("ProductFields")).get("ControlId")
    )


def _recommendation(finding: Mapping[str, Any]) -> tuple[str | None, str | None]:
    recommendation = as_mapping(as_mapping(finding.get("Remediation")).get("Recommendation"))
    return text_or_none(recommendation.get("Text")), text_or_none(recommendation.get("Url"))


def _details(
    finding: Mapping[str, Any],
    resources: list[dict[str, Any]],
    total: int,
    states: Mapping[str, str | None],
) -> list[str]:
    listed = ", ".join(_resource_text(resource) for resource in resources[:DESCRIBED_RESOURCES])
    more = total - min(len(resources), DESCRIBED_RESOURCES)
    status = ", ".join(f"{name.split('_')[0]} {value}" for name, value in states.items() if value)
    closed_by = _closed_by(states)
    text, url = _recommendation(finding)
    return [
        text_or_none(finding.get("Description")) or "",
        f"Resource{'s' if total > 1 else ''}: {listed}{f' +{more} more' if more > 0 else ''}" if resources else "",
        f"Status: {status}" if status else "",
        f"Closed by {closed_by}" if closed_by else "",
        f"Remediation: {text}" if text else "",
        f"Remediation URL: {url}" if url else "",
    ]


def _info(
    finding: Mapping[str, Any],
    resources: list[dict[str, Any]],
    total: int,
    states: Mapping[str, str | None],
    label: str | None,
) -> dict[str, object]:
    severity = as_mapping(finding.get("Severity"))
    product_fields = as_mapping(finding.get("ProductFields"))
    text, url = _recommendation(finding)
    info: dict[str, object] = {
        "finding_id": text_or_none(finding.get("Id")),
        "product_arn": text_or_none(finding.get("ProductArn")),
        "product_name": text_or_none(finding.get("ProductName")) or text_or_none(product_fields.get(PRODUCT_NAME)),
        "company_name": text_or_none(finding.get("CompanyName")) or text_or_none(product_fields.get(COMPANY_NAME)),
        "generator_id": text_or_none(finding.get("GeneratorId")),
        "types": [text for text in (text_or_none(item) for item in as_list(finding.get("Types"), INFO_TYPES)) if text],
        "severity_label": label,
        "severity_normalized": text_or_none(severity.get("Normalized")),
        "severity_original": text_or_none(severity.get("Original")),
        **states,
        "control_id": _control_id(finding),
        "standards_arn": text_or_none(product_fields.get("StandardsArn")),
        "resources": [
            {key: value for key, value in resource.items() if key != "tags" and value}
            for resource in resources[:INFO_RESOURCES]
        ],
        "first_observed_at": text_or_none(finding.get("FirstObservedAt")),
        "last_observed_at": text_or_none(finding.get("LastObservedAt")),
        "created_at": text_or_none(finding.get("CreatedAt")),
        "updated_at": text_or_none(finding.get("UpdatedAt")),
        "source_url": text_or_none(finding.get("SourceUrl")),
        "remediation_text": text,
        "remediation_url": url,
        "closed_by": _closed_by(states),
    }
    if total > INFO_RESOURCES:
        info["resources_total"] = total
    return info


def _console_url(region: str | None, finding_id: str | None) -> str | None:
    base = console_base(region)
    if not (base and region and finding_id):
        return None
    # A lone surrogate cannot be URL-encoded: valid_text replaces it first.
    encoded = quote(quote(valid_text(finding_id), safe=""), safe="")
    return base + CONSOLE_PATH.format(region=region, id=encoded)


def _values(
    finding: Mapping[str, Any],
    info: Mapping[str, object],
    label: str | None,
    resources: list[dict[str, Any]],
    where: tuple[str | None, str | None],
) -> dict[str, object]:
    types = info["types"]
    return {
        "id": info["finding_id"],
        "product_arn": info["product_arn"],
        "product_name": info["product_name"],
        "title": text_or_none(finding.get("Title")),
        "severity": label,
        "workflow_status": info["workflow_status"],
        "record_state": info["record_state"],
        "compliance_status": info["compliance_status"],
        "generator_id": info["generator_id"],
        "type": types[0] if isinstance(types, list) and types else None,
        "account": where[0],
        "region": where[1],
        "resource_id": resources[0]["id"] if resources else None,
        "resource_type": resources[0]["type"] if resources else None,
    }


def _signal(event: Mapping[str, Any], finding: Mapping[str, Any], options: MappingOptions) -> Signal:
    finding_id = text_or_none(finding.get("Id"))
    account = (
        text_or_none(finding.get("AwsAccountId")) or account_from_arn(finding_id) or text_or_none(event.get("account"))
    )
    region = (
        text_or_none(finding.get("Region"))
        or region_from_arn(finding_id)
        or region_from_arn(finding.get("ProductArn"))
        or text_or_none(event.get("region"))
    )
    resources, total = _resources(finding)
    states = _states(finding)
    label = _label(finding)
    info = _info(finding, resources, total, states, label)
    values = _values(finding, info, label, resources, (account, region))
    generator_id = text_or_none(finding.get("GeneratorId"))
    return Signal(
        service=SERVICE,
        message_key=_message_key(finding, resources),
        severity=CLEAR if _closed_by(states) else SEVERITY_BY_LABEL.get(label or "", options.default_severity),
        title=text_or_none(finding.get("Title"))
        or " ".join(part for part in ("Security Hub finding", generator_id) if part),
        account=account,
        region=region,
        updated_at=first_source_time(
            finding.get("UpdatedAt"), finding.get("LastObservedAt"), finding.get("CreatedAt"), event.get("time")
        ),
        node=_node(resources[0]["id"]) if resources else None,
        resource=_resource_field(resources, total),
        type=_finding_type(info["types"]) or generator_id,
        metric_name=generator_id or _control_id(finding),
        details=_details(finding, resources, total, states),
        console_url=_console_url(region, finding_id),
        info=info,
        tags=tags_of(resources[0]["tags"]) if resources else {},
        values={name: value for name, value in values.items() if value},
    )


def to_events(event: Mapping[str, Any], notification: Notification, options: MappingOptions) -> list[ItomEvent]:
    detail = as_mapping(event.get("detail"))
    findings = [item for item in as_list(detail.get("findings"), FINDINGS_PER_EVENT) if isinstance(item, Mapping)]
    context = eventbridge_context(event, notification.context())
    # No finding at all: still one event, with what the envelope has (the detail stands in
    # for the finding, so its key is a digest of the detail).
    return [to_event(_signal(event, finding, options), options, context) for finding in findings or [detail]]
