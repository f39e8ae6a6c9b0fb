"""AWS Health events on EventBridge ("AWS Health Event", source aws.health): service issues,
scheduled changes and account notifications affecting the account's resources.

One ServiceNow alert per event ARN and affected account (an event ARN is not unique per
account: an organisation's management account receives the same event for each member):
`aws.health:<eventArn>:<affectedAccount or account>`. A `statusCode` of `closed` closes it;
`open`, `upcoming` (or none, as older events have) keeps it open, at a severity chosen by
`eventTypeCategory` (MappingOptions.health_severity_by_category). The event's update time
is `lastUpdatedTime`, else `startTime` (both RFC 1123 dates), else the event's `time`.

The detail's schema: https://docs.aws.amazon.com/health/latest/ug/aws-health-events-eventbridge-schema.html
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from itom_forwarder.formats.alarms.overrides import tags_of
from itom_forwarder.formats.aws import region_from_arn
from itom_forwarder.formats.aws_events.common import (
    CLEAR,
    Signal,
    digest_key,
    eventbridge_context,
    first_source_time,
    to_event,
)
from itom_forwarder.formats.json_values import as_list, as_mapping, text_map, text_or_none
from itom_forwarder.formats.notification import Notification
from itom_forwarder.formats.options import MappingOptions
from itom_forwarder.formats.shapes import HEALTH_DETAIL_TYPES as DETAIL_TYPES
from itom_forwarder.formats.shapes import is_aws_health
from itom_forwarder.itom_event import FIELD_LIMITS, ItomEvent, valid_text

__all__ = ["DETAIL_TYPES", "is_aws_health", "to_events"]

SERVICE = "health"
KEY_PREFIX = "aws.health"
# "AWS Health Abuse Event" has the same detail (the schema reference lists both).
CLOSED = "closed"
# The Health Dashboard's page of one event. The dashboard is at
# https://health.aws.amazon.com/health/home ("Concepts for AWS Health", AWS Health User
# Guide: https://docs.aws.amazon.com/health/latest/ug/aws-health-concepts-and-terms.html);
# the guide documents no deep link, and this event-log route is the dashboard's own
# (its address bar on an event's Details tab), as public Health integrations link it.
CONSOLE_URL = "https://health.aws.amazon.com/health/home#/account/event-log?eventID={arn}&eventTab=details"
# Affected entities kept in additional_info and listed in the description.
INFO_ENTITIES = 20
DESCRIBED_ENTITIES = 10
METADATA_ITEMS = 20


def _entities(event: Mapping[str, Any], detail: Mapping[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """The affected entities (each {entity_value, status?, last_updated_time?, tags}), from
    `affectedEntities`, else the event's `resources`; and how many there are in all."""
    raw = detail.get("affectedEntities")
    entities: list[dict[str, Any]] = []
    for item in as_list(raw):
        entry = as_mapping(item)
        value = text_or_none(entry.get("entityValue")) if entry else text_or_none(item)
        if value:
            entities.append(
                {
                    "entity_value": value,
                    "status": text_or_none(entry.get("status")),
                    "last_updated_time": text_or_none(entry.get("lastUpdatedTime")),
                    "tags": entry.get("tags"),
                }
            )
    if entities:
        return entities, max(len(raw) if isinstance(raw, list) else 1, len(entities))
    resources = event.get("resources")
    values = [text for text in (text_or_none(item) for item in as_list(resources)) if text]
    total = len(resources) if isinstance(resources, list) else len(values)
    return [{"entity_value": value} for value in values], max(total, len(values))


def _node(entity: str) -> str:
    """An EC2 instance's id from its ARN (`arn:aws:ec2:...:instance/i-...`), else the entity."""
    if entity.startswith("arn:") and ":instance/" in entity:
        instance = entity.rsplit("/", 1)[-1]
        if instance.startswith("i-"):
            return instance
    return entity


def _joined(values: list[str], total: int, limit: int) -> str:
    """As many of `values` as fit in `limit` characters, comma-separated, then "+N more"."""
    shown: list[str] = []
    for index, value in enumerate(values):
        rest = total - index - 1
        candidate = ", ".join([*shown, value]) + (f" +{rest} more" if rest else "")
        if shown and len(candidate) > limit:
            break
        shown.append(value)
    rest = total - len(shown)
    return ", ".join(shown) + (f" +{rest} more" if rest else "")


def _entity_text(entity: Mapping[str, Any]) -> str:
    status = entity.get("status")
    return f"{entity['entity_value']} ({status})" if status else str(entity["entity_value"])


def _latest_description(detail: Mapping[str, Any]) -> str | None:
    """The event's latest description, in en_US where there is one."""
    descriptions = [as_mapping(item) for item in as_list(detail.get("eventDescription"))]
    texts = [
        (text_or_none(item.get("language")), text)
        for item in descriptions
        if (text := text_or_none(item.get("latestDescription")))
    ]
    return next((text for language, text in texts if language == "en_US"), texts[0][1] if texts else None)


def _message_key(detail: Mapping[str, Any], account: str | None) -> str:
    arn = text_or_none(detail.get("eventArn"))
    if not arn:
        # No ARN: what identifies the event best, the same for its open and closed states.
        parts = [text_or_none(detail.get(name)) for name in ("service", "eventTypeCode", "eventRegion", "startTime")]
        arn = "/".join(part or "" for part in parts) if any(parts[1:]) else digest_key(detail)
    return ":".join(part for part in (KEY_PREFIX, arn, account) if part)


def _severity(status: str | None, category: str | None, options: MappingOptions) -> str:
    if status and status.lower() == CLOSED:
        return CLEAR
    by_category = {name.lower(): value for name, value in options.health_severity_by_category.items()}
    return by_category.get((category or "").lower()) or options.default_severity


def _title(detail: Mapping[str, Any], category: str | None, region: str | None, status: str | None) -> str:
    code = text_or_none(detail.get("eventTypeCode"))
    head = " ".join(part for part in ("AWS Health", category or "event", code) if part)
    where = ", ".join(part for part in (text_or_none(detail.get("service")), region) if part)
    return f"{head}{f' ({where})' if where else ''}: {status or 'open'}"


def _details(detail: Mapping[str, Any], entities: list[dict[str, Any]], total: int) -> list[str]:
    lines = [_latest_description(detail) or ""]
    start, end = text_or_none(detail.get("startTime")), text_or_none(detail.get("endTime"))
    if start or end:
        lines.append("; ".join(part for part in (start and f"Start: {start}", end and f"End: {end}") if part))
    if entities:
        listed = ", ".join(_entity_text(entity) for entity in entities[:DESCRIBED_ENTITIES])
        more = total - min(len(entities), DESCRIBED_ENTITIES)
        lines.append(f"Affected entities ({total}): {listed}{f' +{more} more' if more else ''}")
    return lines


def _info(
    event: Mapping[str, Any], detail: Mapping[str, Any], entities: list[dict[str, Any]], total: int
) -> dict[str, object]:
    fields = {
        "event_arn": "eventArn",
        "service": "service",
        "event_type_code": "eventTypeCode",
        "event_type_category": "eventTypeCategory",
        "event_scope_code": "eventScopeCode",
        "status_code": "statusCode",
        "communication_id": "communicationId",
        "event_region": "eventRegion",
        "start_time": "startTime",
        "end_time": "endTime",
        "last_updated_time": "lastUpdatedTime",
        "affected_account": "affectedAccount",
        "page": "page",
        "total_pages": "totalPages",
    }
    info: dict[str, object] = {key: text_or_none(detail.get(name)) for key, name in fields.items()}
    info["affected_entities"] = [
        {key: value for key, value in entity.items() if key != "tags" and value} for entity in entities[:INFO_ENTITIES]
    ]
    if total > INFO_ENTITIES:
        info["affected_entities_total"] = total
    info["event_metadata"] = text_map(detail.get("eventMetadata"), METADATA_ITEMS)
    delivered_to = text_or_none(event.get("account"))
    if info["affected_account"] and delivered_to != info["affected_account"]:
        # Organisational view: the management or delegated administrator account received it.
        info["delivered_to_account"] = delivered_to
    return info


def to_events(event: Mapping[str, Any], notification: Notification, options: MappingOptions) -> list[ItomEvent]:
    detail = as_mapping(event.get("detail"))
    arn = text_or_none(detail.get("eventArn"))
    account = text_or_none(detail.get("affectedAccount")) or text_or_none(event.get("account"))
    region = text_or_none(detail.get("eventRegion")) or region_from_arn(arn) or text_or_none(event.get("region"))
    status = text_or_none(detail.get("statusCode"))
    category = text_or_none(detail.get("eventTypeCategory"))
    entities, total = _entities(event, detail)
    values = {
        "event_arn": arn,
        "service": text_or_none(detail.get("service")),
        "event_type_code": text_or_none(detail.get("eventTypeCode")),
        "category": category,
        "status": status,
        "scope": text_or_none(detail.get("eventScopeCode")),
        "account": account,
        "region": region,
        "communication_id": text_or_none(detail.get("communicationId")),
    }
    signal = Signal(
        service=SERVICE,
        message_key=_message_key(detail, account),
        severity=_severity(status, category, options),
        title=_title(detail, category, region, status),
        account=account,
        region=region,
        updated_at=first_source_time(detail.get("lastUpdatedTime"), detail.get("startTime"), event.get("time")),
        node=_node(entities[0]["entity_value"]) if entities else None,
        resource=_joined([entity["entity_value"] for entity in entities], total, FIELD_LIMITS["resource"]) or None,
        type=values["service"],
        metric_name=values["event_type_code"],
        details=_details(detail, entities, total),
        # A lone surrogate cannot be URL-encoded: valid_text replaces it first.
        console_url=CONSOLE_URL.format(arn=quote(valid_text(arn), safe=":/")) if arn else None,
        info=_info(event, detail, entities, total),
        tags=tags_of(entities[0].get("tags")) if entities else {},
        values={name: value for name, value in values.items() if value},
    )
    return [to_event(signal, options, eventbridge_context(event, notification.context()))]
