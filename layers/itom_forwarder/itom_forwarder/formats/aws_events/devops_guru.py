"""Amazon DevOps Guru insights on EventBridge (source aws.devops-guru): "DevOps Guru New
Insight Open", "DevOps Guru Insight Severity Upgraded", "DevOps Guru New Anomaly
Association", "DevOps Guru New Recommendation Created" and "DevOps Guru Insight Closed".

One ServiceNow alert per insight: `aws.devops-guru:<account>:<region>:<insightId>` (the
detail's `accountId` and `region`, else the event's). "DevOps Guru Insight Closed" closes
it; every other event updates it, at the severity of `insightSeverity` (high Major, medium
Minor, low Warning; none or another value: the default severity). DevOps Guru's events carry
no update time of their own (`startTime`/`endTime` are the insight's, kept in
additional_info), so the update time is the event's `time`.

`node` is the insight's application (its first CloudFormation stack, else its app boundary
tag's value), else the lead anomaly's resource; `resource` is what the lead anomaly (the
first with a metric) is on: the resource DevOps Guru names, else its metric's dimensions.

The events: https://docs.aws.amazon.com/devops-guru/latest/userguide/working-with-eventbridge.html
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from itom_forwarder.formats.alarms.facts import Dimension
from itom_forwarder.formats.alarms.mapping import node_of
from itom_forwarder.formats.aws_events.common import (
    CLEAR,
    Signal,
    digest_key,
    eventbridge_context,
    first_source_time,
    to_event,
)
from itom_forwarder.formats.json_values import as_list, as_mapping, decode_json, text_map, text_or_none
from itom_forwarder.formats.notification import Notification
from itom_forwarder.formats.options import MappingOptions
from itom_forwarder.formats.shapes import DEVOPS_GURU_CLOSED_DETAIL_TYPE as CLOSED_DETAIL_TYPE
from itom_forwarder.formats.shapes import DEVOPS_GURU_DETAIL_TYPES as DETAIL_TYPES
from itom_forwarder.formats.shapes import is_devops_guru
from itom_forwarder.itom_event import ItomEvent, format_time, valid_text

__all__ = ["CLOSED_DETAIL_TYPE", "DETAIL_TYPES", "is_devops_guru", "to_events"]

SERVICE = "devopsguru"
KEY_PREFIX = "aws.devops-guru"
SEVERITY_BY_INSIGHT_SEVERITY = {"high": "2", "medium": "3", "low": "4"}
# DevOps Guru's insight statuses (ListInsights): an insight is ONGOING until it is CLOSED.
ONGOING, CLOSED = "ONGOING", "CLOSED"
# The console's page of one insight, as `insightUrl` gives it.
CONSOLE_URL = "https://{region}.console.aws.amazon.com/devops-guru/insight/{kind}/{insight}"
INSIGHT_KINDS = ("reactive", "proactive")
_URL_INSIGHT = re.compile(r"/insight/(?:reactive|proactive)/([\w.~-]+)", re.IGNORECASE)
DESCRIBED_ANOMALIES = 10
INFO_ANOMALIES = 20
DESCRIBED_RECOMMENDATIONS = 5
INFO_RECOMMENDATIONS = 10
STACKS = 20
ARNS_PER_ANOMALY = 5
DIMENSIONS = 30  # CloudWatch's limit per metric


def _text(item: Mapping[str, Any], *names: str) -> str | None:
    """The first of `names` that `item` has as non-empty text (the events' schema writes
    some names in two cases: `ResourceId`/`resourceId`, `startTimeISO`/`startTimeIso`)."""
    return next((text for name in names if (text := text_or_none(item.get(name)))), None)


def _time(item: Mapping[str, Any], name: str) -> str | None:
    """`<name>ISO` (else `<name>`, epoch milliseconds) in ServiceNow's form, UTC; the raw
    text when it reads as no time."""
    raw = _text(item, f"{name}ISO", f"{name}Iso", name)
    moment = first_source_time(*(item.get(key) for key in (f"{name}ISO", f"{name}Iso", name)))
    return format_time(moment) if moment else raw


def _total(raw: object, read: int) -> int:
    return max(len(raw) if isinstance(raw, list) else 0, read)


@dataclass(frozen=True)
class _Anomaly:
    id: str | None = None
    severity: str | None = None
    description: str | None = None
    start: str | None = None
    end: str | None = None
    namespace: str | None = None
    metric: str | None = None
    stat: str | None = None
    dimensions: dict[str, str] = field(default_factory=dict)
    resource: str | None = None  # the resource DevOps Guru names (resources, ResourceId, ARN)
    resource_type: str | None = None
    arns: tuple[str, ...] = ()

    @property
    def target(self) -> str | None:
        """What the anomaly is on: its resource, else its metric's dimensions."""
        return self.resource or ", ".join(f"{name}={value}" for name, value in self.dimensions.items()) or None

    def text(self) -> str:
        metric = " ".join(part for part in (self.namespace, self.metric) if part) or "Anomaly"
        parts = [metric + (f" ({self.stat})" if self.stat else "")]
        if self.target:
            parts.append(f"on {self.target}")
        if self.start:
            parts.append(f"from {self.start}" + (f" to {self.end}" if self.end else ""))
        if self.severity:
            parts.append(f"[{self.severity}]")
        return "- " + " ".join(parts) + (f": {self.description}" if self.description else "")

    def info(self) -> dict[str, object]:
        entries: dict[str, object] = {
            "id": self.id,
            "severity": self.severity,
            "metric": " ".join(part for part in (self.namespace, self.metric) if part) or None,
            "stat": self.stat,
            "dimensions": self.dimensions or None,
            "resource": self.resource,
            "resource_type": self.resource_type,
            "associated_resource_arns": list(self.arns) or None,
            "start_time": self.start,
            "end_time": self.end,
            "description": self.description,
        }
        return {key: value for key, value in entries.items() if value is not None}


def _dimensions(raw: object) -> dict[str, str]:
    """A metric's dimensions: a list of {name, value}, an object, or (in DevOps Guru's SNS
    notifications) an object written as JSON in a string."""
    if isinstance(raw, str):
        raw = decode_json(raw)
    if isinstance(raw, Mapping):
        return text_map(raw, DIMENSIONS)
    dimensions: dict[str, str] = {}
    for item in as_list(raw, DIMENSIONS):
        entry = as_mapping(item)
        name, value = text_or_none(entry.get("name")), text_or_none(entry.get("value"))
        if name and value is not None:
            dimensions[name] = value
    return dimensions


def _identifiers(anomaly: Mapping[str, Any]) -> Mapping[str, Any]:
    """The metric of the anomaly's first source detail that names one."""
    for item in as_list(anomaly.get("sourceDetails")):
        identifiers = as_mapping(as_mapping(item).get("dataIdentifiers"))
        if identifiers:
            return identifiers
    return {}


def _named_resource(
    anomaly: Mapping[str, Any], identifiers: Mapping[str, Any], arns: tuple[str, ...]
) -> tuple[str | None, str | None]:
    """The resource the anomaly names, and its type: `anomalyResources`, the metric's
    `ResourceId`, the associated ARNs, the source metadata's ARN."""
    for item in as_list(anomaly.get("anomalyResources")):
        entry = as_mapping(item)
        if name := text_or_none(entry.get("name")):
            return name, text_or_none(entry.get("type"))
    if resource_id := _text(identifiers, "ResourceId", "resourceId"):
        return resource_id, _text(identifiers, "ResourceType", "resourceType")
    metadata = as_mapping(anomaly.get("sourceMetadata"))
    arn = arns[0] if arns else text_or_none(metadata.get("sourceResourceArn"))
    return arn, text_or_none(metadata.get("sourceResourceType")) if arn else None


def _anomaly(raw: object) -> _Anomaly | None:
    anomaly = as_mapping(raw)
    if not anomaly:
        return None
    identifiers = _identifiers(anomaly)
    arns = tuple(
        text for text in (text_or_none(item) for item in as_list(anomaly.get("associatedResourceArns"))) if text
    )[:ARNS_PER_ANOMALY]
    resource, resource_type = _named_resource(anomaly, identifiers, arns)
    return _Anomaly(
        id=text_or_none(anomaly.get("id")),
        severity=_text(anomaly, "anomalySeverity", "severity"),
        description=text_or_none(anomaly.get("description")),
        start=_time(anomaly, "startTime"),
        end=_time(anomaly, "endTime"),
        namespace=text_or_none(identifiers.get("namespace")),
        metric=_text(identifiers, "name", "metricDisplayName"),
        stat=text_or_none(identifiers.get("stat")),
        dimensions=_dimensions(identifiers.get("dimensions")),
        resource=resource,
        resource_type=resource_type,
        arns=arns,
    )


@dataclass(frozen=True)
class _Recommendation:
    name: str | None
    description: str | None
    link: str | None
    reason: str | None
    category: str | None

    def text(self) -> str:
        head = self.name or "Recommendation"
        return (
            f"- {head}"
            + (f": {self.description}" if self.description else "")
            + (f" ({self.link})" if self.link else "")
        )

    def info(self) -> dict[str, str]:
        entries = {
            "name": self.name,
            "description": self.description,
            "link": self.link,
            "reason": self.reason,
            "category": self.category,
        }
        return {key: value for key, value in entries.items() if value}


def _recommendations(raw: object) -> list[_Recommendation]:
    found: list[_Recommendation] = []
    for item in as_list(raw):
        entry = as_mapping(item)
        fields = [text_or_none(entry.get(name)) for name in ("name", "description", "link", "reason", "category")]
        if any(fields):
            found.append(_Recommendation(*fields))
    return found


@dataclass(frozen=True)
class _Collection:
    """The resources the insight is about: CloudFormation stacks or app boundary tags."""

    stacks: tuple[str, ...] = ()
    tags: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def read(cls, raw: object) -> _Collection:
        collection = as_mapping(raw)
        names = as_mapping(collection.get("cloudFormation")).get("stackNames")
        stacks = tuple(text for text in (text_or_none(item) for item in as_list(names, STACKS)) if text)
        tags: dict[str, tuple[str, ...]] = {}
        for item in as_list(collection.get("tags"), STACKS):
            entry = as_mapping(item)
            if key := text_or_none(entry.get("appBoundaryKey")):
                values = (text_or_none(value) for value in as_list(entry.get("tagValues"), STACKS))
                tags[key] = tuple(value for value in values if value)
        return cls(stacks, tags)

    @property
    def application(self) -> str | None:
        """Its first stack, else its first tag value."""
        values = [value for values in self.tags.values() for value in values]
        return self.stacks[0] if self.stacks else (values[0] if values else None)

    def text(self) -> str | None:
        parts = []
        if self.stacks:
            parts.append(f"CloudFormation stack{'s' * (len(self.stacks) > 1)} {', '.join(self.stacks)}")
        parts.extend(f"tag {key}: {', '.join(values)}" if values else f"tag {key}" for key, values in self.tags.items())
        return f"Resources: {'; '.join(parts)}" if parts else None

    def info(self) -> dict[str, object]:
        entries: dict[str, object] = {
            "cloudformation_stack_names": list(self.stacks),
            "tags": {key: list(values) for key, values in self.tags.items()},
        }
        return {key: value for key, value in entries.items() if value}


def _insight_id(detail: Mapping[str, Any]) -> str:
    """The insight's id; without one, the id in `insightUrl`, else a digest of what stays
    the same across the insight's events (its name, description, type and start)."""
    if insight_id := text_or_none(detail.get("insightId")):
        return insight_id
    match = _URL_INSIGHT.search(text_or_none(detail.get("insightUrl")) or "")
    if match:
        return match.group(1)
    names = ("insightName", "insightDescription", "insightType", "startTime")
    stable = {name: detail[name] for name in names if detail.get(name) not in (None, "")}
    return digest_key(stable or detail)


def _severity(closed: bool, insight_severity: str | None, options: MappingOptions) -> str:
    if closed:
        return CLEAR
    return SEVERITY_BY_INSIGHT_SEVERITY.get((insight_severity or "").lower()) or options.default_severity


def _console_url(detail: Mapping[str, Any], region: str | None, kind: str | None) -> str | None:
    url = text_or_none(detail.get("insightUrl"))
    if url and url.startswith("https://"):
        return url
    insight_id = text_or_none(detail.get("insightId"))
    if not (region and insight_id and kind in INSIGHT_KINDS):
        return None
    return CONSOLE_URL.format(  # a lone surrogate cannot be quoted
        region=quote(valid_text(region), safe=""), kind=kind, insight=quote(valid_text(insight_id), safe="")
    )


def _title(detail_type: str | None, insight_type: str | None, name: str | None, severity: str | None) -> str:
    kind = f"{insight_type} insight" if insight_type else "insight"
    about = f" {name}" if name else ""
    level = f" ({severity})" if severity else ""
    event = (detail_type or "event").removeprefix("DevOps Guru ")
    return f"DevOps Guru {kind}{about}{level}: {event}"


def _listed(heading: str, lines: list[str], total: int, limit: int) -> list[str]:
    if not lines:
        return []
    more = total - min(len(lines), limit)
    return [f"{heading} ({total}):", *lines[:limit], *([f"+{more} more"] if more else [])]


@dataclass(frozen=True)
class _Insight:
    """What one event says of its insight."""

    detail: Mapping[str, Any]
    anomalies: list[_Anomaly]
    anomalies_total: int
    recommendations: list[_Recommendation]
    recommendations_total: int
    collection: _Collection

    @classmethod
    def read(cls, detail: Mapping[str, Any]) -> _Insight:
        raw_anomalies, raw_recommendations = detail.get("anomalies"), detail.get("recommendations")
        anomalies = [anomaly for anomaly in map(_anomaly, as_list(raw_anomalies)) if anomaly]
        recommendations = _recommendations(raw_recommendations)
        return cls(
            detail,
            anomalies,
            _total(raw_anomalies, len(anomalies)),
            recommendations,
            _total(raw_recommendations, len(recommendations)),
            _Collection.read(detail.get("resourceCollection")),
        )

    @property
    def lead(self) -> _Anomaly | None:
        """The anomaly the alert's metric and resource come from: the first with a metric."""
        return next((item for item in self.anomalies if item.metric), self.anomalies[0] if self.anomalies else None)

    def resource(self) -> str | None:
        lead = self.lead
        return (lead.target if lead else None) or next((item.target for item in self.anomalies if item.target), None)

    def node(self) -> str | None:
        if application := self.collection.application:
            return application
        lead = self.lead
        if lead is None:
            return None
        return lead.resource or node_of([Dimension(name, value) for name, value in lead.dimensions.items()])

    def details(self, name: str | None, console_url: str | None) -> list[str]:
        description = text_or_none(self.detail.get("insightDescription"))
        start, end = _time(self.detail, "startTime"), _time(self.detail, "endTime")
        times = "; ".join(part for part in (start and f"Started: {start}", end and f"Ended: {end}") if part)
        return [
            description if description and description != name else "",
            times,
            self.collection.text() or "",
            *_listed("Anomalies", [item.text() for item in self.anomalies], self.anomalies_total, DESCRIBED_ANOMALIES),
            *_listed(
                "Recommendations",
                [item.text() for item in self.recommendations],
                self.recommendations_total,
                DESCRIBED_RECOMMENDATIONS,
            ),
            f"Insight: {console_url}" if console_url else "",
        ]

    def info(self, values: Mapping[str, str | None]) -> dict[str, object]:
        info: dict[str, object] = {
            "insight_id": text_or_none(self.detail.get("insightId")),
            "insight_name": text_or_none(self.detail.get("insightName")),
            "insight_description": text_or_none(self.detail.get("insightDescription")),
            "insight_type": values["insight_type"],
            "insight_severity": values["severity"],
            "insight_status": values["status"],
            "message_type": text_or_none(self.detail.get("messageType")),
            "start_time": _time(self.detail, "startTime"),
            "end_time": _time(self.detail, "endTime"),
            "resource_collection": self.collection.info(),
            "anomalies": [item.info() for item in self.anomalies[:INFO_ANOMALIES]],
            "recommendations": [item.info() for item in self.recommendations[:INFO_RECOMMENDATIONS]],
        }
        if self.anomalies_total > INFO_ANOMALIES:
            info["anomalies_total"] = self.anomalies_total
        if self.recommendations_total > INFO_RECOMMENDATIONS:
            info["recommendations_total"] = self.recommendations_total
        return info


def to_events(event: Mapping[str, Any], notification: Notification, options: MappingOptions) -> list[ItomEvent]:
    detail = as_mapping(event.get("detail"))
    detail_type = text_or_none(event.get("detail-type"))
    closed = detail_type == CLOSED_DETAIL_TYPE
    account = text_or_none(detail.get("accountId")) or text_or_none(event.get("account"))
    region = text_or_none(detail.get("region")) or text_or_none(event.get("region"))
    insight_type = text_or_none(detail.get("insightType"))
    insight = _Insight.read(detail)
    name = text_or_none(detail.get("insightName")) or text_or_none(detail.get("insightDescription"))
    values = {
        "insight_id": text_or_none(detail.get("insightId")),
        "insight_type": insight_type,
        "name": name,
        "severity": text_or_none(detail.get("insightSeverity")),
        "status": CLOSED if closed else ONGOING,
        "account": account,
        "region": region,
        "event": detail_type,
    }
    console_url = _console_url(detail, region, (insight_type or "").lower())
    lead = insight.lead
    signal = Signal(
        service=SERVICE,
        message_key=":".join((KEY_PREFIX, account or "", region or "", _insight_id(detail))),
        severity=_severity(closed, values["severity"], options),
        title=_title(detail_type, insight_type, name, values["severity"]),
        account=account,
        region=region,
        updated_at=first_source_time(event.get("time")),
        node=insight.node(),
        resource=insight.resource(),
        type=insight_type,
        metric_name=(lead.metric if lead else None) or "insight",
        details=insight.details(name, console_url),
        console_url=console_url,
        info=insight.info(values),
        tags={key: ", ".join(tag_values) for key, tag_values in insight.collection.tags.items() if tag_values},
        values={key: value for key, value in values.items() if value},
    )
    return [to_event(signal, options, eventbridge_context(event, notification.context()))]
