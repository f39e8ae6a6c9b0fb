"""GuardDuty findings on EventBridge ("GuardDuty Finding", source aws.guardduty): a threat
GuardDuty detected against a resource of the account.

One ServiceNow alert per finding: `aws.guardduty:<accountId>:<region>:<id>`. GuardDuty
aggregates later occurrences of the same activity into the same finding id (its
`service.count` grows and `updatedAt` moves on), so each one updates the alert. GuardDuty
sends no resolve event: an event whose `service.archived` is true closes the alert.
Otherwise the severity follows GuardDuty's bands on `severity` (a number): Critical
9.0-10.0, High 7.0-8.9, Medium 4.0-6.9, Low 1.0-3.9 ("Severity levels of GuardDuty
findings": https://docs.aws.amazon.com/guardduty/latest/ug/guardduty_findings-severity.html);
below 1 or none, the default severity. The finding's update time is `updatedAt`, else
`createdAt`, else `service.eventLastSeen`, else the event's `time`.

Some relays keep only `detail-type`, `region` and `detail` of the event: a "GuardDuty
Finding" without a `source` is read as one too (one with another source is not).

The finding's fields: https://docs.aws.amazon.com/guardduty/latest/ug/guardduty_findings-summary.html
and the API's Finding and Resource: https://docs.aws.amazon.com/guardduty/latest/APIReference/API_Resource.html
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
from itom_forwarder.formats.json_values import as_list, as_mapping, first_items, text_or_none
from itom_forwarder.formats.notification import Notification
from itom_forwarder.formats.options import MappingOptions
from itom_forwarder.formats.shapes import GUARDDUTY_DETAIL_TYPE as DETAIL_TYPE
from itom_forwarder.formats.shapes import GUARDDUTY_SOURCE as SOURCE
from itom_forwarder.formats.shapes import is_guardduty
from itom_forwarder.itom_event import ItomEvent, valid_text

__all__ = ["DETAIL_TYPE", "SOURCE", "is_guardduty", "to_events"]

SERVICE = "guardduty"
KEY_PREFIX = "aws.guardduty"
# (lowest score, label, ServiceNow severity), highest band first.
BANDS = ((9.0, "Critical", "1"), (7.0, "High", "2"), (4.0, "Medium", "3"), (1.0, "Low", "4"))
# The finding's page in the GuardDuty console, as GuardDuty's own EventBridge example links
# it ("Creating custom responses to GuardDuty findings with Amazon EventBridge":
# https://docs.aws.amazon.com/guardduty/latest/ug/guardduty_findings_eventbridge.html).
CONSOLE_PATH = "/guardduty/home?region={region}#/findings?search=id%3D{id}"
# Each detail object of `resource` that names what is affected, and its identifying fields
# in order (GuardDuty's Resource object; s3BucketDetails is a list).
RESOURCE_DETAILS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("instanceDetails", ("instanceId",)),
    ("accessKeyDetails", ("userName", "accessKeyId", "principalId")),
    ("s3BucketDetails", ("name", "arn")),
    ("eksClusterDetails", ("name", "arn")),
    ("ecsClusterDetails", ("name", "arn")),
    ("containerDetails", ("name", "id", "image")),
    ("lambdaDetails", ("functionName", "functionArn")),
    ("rdsDbInstanceDetails", ("dbInstanceIdentifier", "dbClusterIdentifier", "dbInstanceArn")),
    ("rdsLimitlessDbDetails", ("dbShardGroupIdentifier", "dbClusterIdentifier", "dbShardGroupArn")),
)
# The detail object each resourceType is about, tried first: an S3 finding also carries the
# access key that acted on the bucket, an EKS runtime finding the node's instance.
DETAILS_BY_RESOURCE_TYPE = {
    "instance": "instanceDetails",
    "accesskey": "accessKeyDetails",
    "s3bucket": "s3BucketDetails",
    "s3object": "s3BucketDetails",
    "ekscluster": "eksClusterDetails",
    "ecscluster": "ecsClusterDetails",
    "container": "containerDetails",
    "lambda": "lambdaDetails",
    "rdsdbinstance": "rdsDbInstanceDetails",
    "rdslimitlessdb": "rdsLimitlessDbDetails",
}
ACTION_ITEMS = 20  # the entries of `service.action` looked at for a remote address


def _score(value: object) -> float | None:
    """`severity` as a number (GuardDuty writes one; a relay may write it as text)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _band(score: float | None) -> tuple[str, str] | None:
    """(label, ServiceNow severity) of a score; None below Low."""
    if score is None:
        return None
    return next(((label, severity) for low, label, severity in BANDS if score >= low), None)


def _archived(service: Mapping[str, Any]) -> bool:
    archived = service.get("archived")
    return archived is True or (isinstance(archived, str) and archived.strip().lower() == "true")


def _affected(resource: Mapping[str, Any]) -> tuple[str | None, Mapping[str, Any]]:
    """The identifier of what the finding is about, and the detail object naming it (its
    tags are the resource's): the resourceType's own detail first, then any other."""
    preferred = DETAILS_BY_RESOURCE_TYPE.get((text_or_none(resource.get("resourceType")) or "").lower())
    ordered = sorted(RESOURCE_DETAILS, key=lambda entry: entry[0] != preferred)
    for key, fields in ordered:
        raw = resource.get(key)
        details = as_mapping(next((item for item in as_list(raw) if isinstance(item, Mapping)), None))
        identifier = next((text for name in fields if (text := text_or_none(details.get(name)))), None)
        if identifier:
            return identifier, details
    return None, {}


def _finding_id(detail: Mapping[str, Any]) -> str | None:
    finding_id = text_or_none(detail.get("id"))
    arn = text_or_none(detail.get("arn"))
    if not finding_id and arn and "/finding/" in arn:
        finding_id = arn.rsplit("/finding/", 1)[-1] or None
    return finding_id


def _message_key(detail: Mapping[str, Any], account: str | None, region: str | None, identifier: str | None) -> str:
    finding_id = _finding_id(detail)
    if not finding_id:
        # No id: what stays the same from one update of the finding to the next.
        stable = [text_or_none(detail.get("type")), identifier, text_or_none(detail.get("createdAt"))]
        finding_id = digest_key(stable if any(stable) else detail)
    return ":".join((KEY_PREFIX, account or "", region or "", finding_id))


def _remote(action: Mapping[str, Any]) -> Mapping[str, Any]:
    """The remote party's `remoteIpDetails` of the action (networkConnectionAction,
    awsApiCallAction, kubernetesApiCallAction, rdsLoginAttemptAction... or the first port
    probe of portProbeAction), if it has one."""
    for _, value in first_items(action, ACTION_ITEMS):
        inner = as_mapping(value)
        candidates = [inner, *(as_mapping(item) for item in as_list(inner.get("portProbeDetails"), 5))]
        for candidate in candidates:
            remote = as_mapping(candidate.get("remoteIpDetails"))
            if remote:
                return remote
    return {}


def _action_facts(service: Mapping[str, Any]) -> dict[str, str | None]:
    action = as_mapping(service.get("action"))
    remote = _remote(action)
    country = as_mapping(remote.get("country"))
    organization = as_mapping(remote.get("organization"))
    api_call = as_mapping(action.get("awsApiCallAction"))
    return {
        "action_type": text_or_none(action.get("actionType")),
        "remote_ip": text_or_none(remote.get("ipAddressV4")) or text_or_none(remote.get("ipAddressV6")),
        "remote_country": text_or_none(country.get("countryName")) or text_or_none(country.get("countryCode")),
        "remote_org": text_or_none(organization.get("org"))
        or text_or_none(organization.get("asnOrg"))
        or text_or_none(organization.get("isp")),
        "dns_domain": text_or_none(as_mapping(action.get("dnsRequestAction")).get("domain")),
        "api": ".".join(
            part for part in (text_or_none(api_call.get("serviceName")), text_or_none(api_call.get("api"))) if part
        )
        or None,
    }


def _action_line(facts: Mapping[str, str | None]) -> str:
    if not any(facts.values()):
        return ""
    remote = facts["remote_ip"]
    where = ", ".join(part for part in (facts["remote_country"], facts["remote_org"]) if part)
    parts = [
        f"Action: {facts['action_type'] or 'unknown'}",
        facts["api"] and f"API {facts['api']}",
        facts["dns_domain"] and f"domain {facts['dns_domain']}",
        remote and f"remote {remote}{f' ({where})' if where else ''}",
    ]
    return "; ".join(part for part in parts if part)


def _count_line(service: Mapping[str, Any]) -> str:
    count = text_or_none(service.get("count"))
    first, last = text_or_none(service.get("eventFirstSeen")), text_or_none(service.get("eventLastSeen"))
    seen = ", ".join(part for part in (first and f"first seen {first}", last and f"last seen {last}") if part)
    if count:
        return f"Count: {count}{f' ({seen})' if seen else ''}"
    return f"Seen: {seen}" if seen else ""


def _sample(service: Mapping[str, Any]) -> bool:
    return as_mapping(service.get("additionalInfo")).get("sample") is True


def _details(
    detail: Mapping[str, Any], resource: str | None, service: Mapping[str, Any], facts: Mapping[str, str | None]
) -> list[str]:
    return [
        text_or_none(detail.get("description")) or "",
        f"Resource: {resource}" if resource else "",
        _count_line(service),
        _action_line(facts),
        "The finding is archived in GuardDuty." if _archived(service) else "",
        "This is a GuardDuty sample finding." if _sample(service) else "",
    ]


def _info(
    event: Mapping[str, Any],
    detail: Mapping[str, Any],
    service: Mapping[str, Any],
    label: str | None,
    facts: Mapping[str, str | None],
) -> dict[str, object]:
    resource = as_mapping(detail.get("resource"))
    info: dict[str, object] = {
        "finding_id": _finding_id(detail),
        "finding_arn": text_or_none(detail.get("arn")),
        "finding_type": text_or_none(detail.get("type")),
        "severity": text_or_none(detail.get("severity")),
        "severity_label": label,
        "resource_type": text_or_none(resource.get("resourceType")),
        "resource_role": text_or_none(service.get("resourceRole")),
        "instance_id": text_or_none(as_mapping(resource.get("instanceDetails")).get("instanceId")),
        "access_key_id": text_or_none(as_mapping(resource.get("accessKeyDetails")).get("accessKeyId")),
        "count": text_or_none(service.get("count")),
        "first_seen": text_or_none(service.get("eventFirstSeen")),
        "last_seen": text_or_none(service.get("eventLastSeen")),
        "created_at": text_or_none(detail.get("createdAt")),
        "updated_at": text_or_none(detail.get("updatedAt")),
        "archived": text_or_none(service.get("archived")),
        "detector_id": text_or_none(service.get("detectorId")),
        "sample": text_or_none(as_mapping(service.get("additionalInfo")).get("sample")),
        **facts,
    }
    account = text_or_none(detail.get("accountId"))
    delivered_to = text_or_none(event.get("account"))
    if account and delivered_to and delivered_to != account:
        # GuardDuty's administrator account received its member's finding.
        info["delivered_to_account"] = delivered_to
    return info


def _console_url(region: str | None, finding_id: str | None) -> str | None:
    base = console_base(region)
    if not (base and region and finding_id):
        return None
    # A lone surrogate cannot be URL-encoded: valid_text replaces it first.
    return base + CONSOLE_PATH.format(region=region, id=quote(valid_text(finding_id), safe=""))


def _metric_name(finding_type: str | None) -> str | None:
    """The threat purpose (`Backdoor` of `Backdoor:EC2/C&CActivity.B!DNS`), else the type."""
    if not finding_type:
        return None
    purpose = finding_type.split(":", 1)[0].strip()
    return purpose if ":" in finding_type and purpose else finding_type


def to_events(event: Mapping[str, Any], notification: Notification, options: MappingOptions) -> list[ItomEvent]:
    detail = as_mapping(event.get("detail"))
    service = as_mapping(detail.get("service"))
    arn = text_or_none(detail.get("arn"))
    account = text_or_none(detail.get("accountId")) or account_from_arn(arn) or text_or_none(event.get("account"))
    region = text_or_none(detail.get("region")) or region_from_arn(arn) or text_or_none(event.get("region"))
    raw_resource = as_mapping(detail.get("resource"))
    resource_type = text_or_none(raw_resource.get("resourceType"))
    identifier, affected = _affected(raw_resource)
    resource = " ".join(part for part in (resource_type, identifier) if part) if identifier else None
    band = _band(_score(detail.get("severity")))
    label = band[0] if band else None
    finding_type = text_or_none(detail.get("type"))
    facts = _action_facts(service)
    values = {
        "id": _finding_id(detail),
        "type": finding_type,
        "severity": text_or_none(detail.get("severity")),
        "title": text_or_none(detail.get("title")),
        "account": account,
        "region": region,
        "resource_type": resource_type,
        "instance_id": text_or_none(as_mapping(raw_resource.get("instanceDetails")).get("instanceId")),
        "resource": resource,
    }
    signal = Signal(
        service=SERVICE,
        message_key=_message_key(detail, account, region, identifier),
        severity=CLEAR if _archived(service) else (band[1] if band else options.default_severity),
        title=values["title"] or " ".join(part for part in ("GuardDuty finding", finding_type) if part),
        account=account,
        region=region,
        updated_at=first_source_time(
            detail.get("updatedAt"), detail.get("createdAt"), service.get("eventLastSeen"), event.get("time")
        ),
        node=identifier,
        resource=resource,
        type=finding_type,
        metric_name=_metric_name(finding_type),
        details=_details(detail, resource, service, facts),
        console_url=_console_url(region, values["id"]),
        info=_info(event, detail, service, label, facts),
        tags=tags_of(affected.get("tags")),
        values={name: value for name, value in values.items() if value},
    )
    return [to_event(signal, options, eventbridge_context(event, notification.context()))]
