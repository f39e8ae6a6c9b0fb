"""Prometheus Alertmanager's webhook (version 4): one ITOM event per alert.

Firing alerts take their severity from the `severity` label (names mapped below, else
DEFAULT_SEVERITY); resolved alerts are Clear, which closes the ServiceNow alert with the
same message key: the alert's fingerprint, or a hash of its labels when there is none.

Grafana's webhook is this shape with more per alert; formats/grafana.py maps it with the
same pieces (`Webhook` says what differs), so both map an alert the same way.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from itom_forwarder.formats.json_values import MAX_ITEMS, as_mapping, shown, text_map, text_or_none
from itom_forwarder.formats.notification import Notification
from itom_forwarder.formats.options import MappingOptions
from itom_forwarder.formats.shapes import is_alertmanager
from itom_forwarder.itom_event import InvalidPayload, ItomEvent, Problem, format_time, map_each, parse_time

SOURCE = "Prometheus Alertmanager"
SEVERITY_BY_LABEL = {
    "critical": "1",
    "crit": "1",
    "page": "1",
    "p1": "1",
    "fatal": "1",
    "error": "2",
    "major": "2",
    "high": "2",
    "severe": "2",
    "p2": "2",
    "minor": "3",
    "medium": "3",
    "p3": "3",
    "warning": "4",
    "warn": "4",
    "low": "4",
    "p4": "4",
    "info": "5",
    "informational": "5",
    "none": "5",
    "ok": "5",
    "p5": "5",
}
NODE_LABELS = ("instance", "host", "hostname", "node", "nodename")
MAX_ALERTS = 1000  # per webhook, as generic records per message: the work stays bounded
ZERO_TIME = "0001-01-01T00:00:00Z"
_HOST_PORT = re.compile(r"^(?P<host>[^:/\s]+|\[[0-9a-fA-F:]+\]):\d{1,5}$")

# An alert's extra description lines and additional_info entries, made from the alert and its webhook.
AlertExtras = tuple[tuple[str | None, ...], dict[str, object]]
Extras = Callable[[Mapping[str, Any], Mapping[str, Any]], AlertExtras]


def _no_extras(alert: Mapping[str, Any], payload: Mapping[str, Any]) -> AlertExtras:
    del alert, payload  # Alertmanager's alerts carry nothing beyond the common fields
    return (), {}


@dataclass(frozen=True)
class Webhook:
    """What a webhook in Alertmanager's shape maps differently."""

    source: str
    key_prefix: str  # message keys are `<key_prefix>:<fingerprint>`
    url_key: str  # additional_info's name for the sender's externalURL
    name: str  # what a payload in no such shape is refused for not being
    version: str
    # A `severity` annotation counts where no label gives one (Grafana rules often set it there).
    severity_annotation: bool = False
    extras: Extras = _no_extras


def label_of(labels: Mapping[str, Any], name: str) -> str | None:
    """One label (or annotation) as text, wherever it is among any number of them."""
    return text_or_none(labels.get(name))


def node_of(labels: Mapping[str, Any]) -> str | None:
    """`instance` is usually host:port (the scrape target); ServiceNow binds CIs by host."""
    value = next((text for text in (label_of(labels, name) for name in NODE_LABELS) if text), None)
    if value is None:
        return None
    match = _HOST_PORT.match(value)
    return match.group("host").strip("[]") if match else value


def severity_of(labels: Mapping[str, Any], annotations: Mapping[str, Any], options: MappingOptions) -> str:
    """A firing alert's severity: its `severity` label, else its `severity` annotation."""
    name = label_of(labels, "severity") or label_of(annotations, "severity") or ""
    return SEVERITY_BY_LABEL.get(name.strip().lower(), options.default_severity)


def labels_hash(labels: Mapping[str, Any]) -> str:
    """`sha256:<32 hex>` of all the labels, whatever their order (however many: one pass in C)."""
    digest = hashlib.sha256(_canonical(labels).encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"sha256:{digest}"


def message_key(alert: Mapping[str, Any], labels: Mapping[str, Any], prefix: str = "alertmanager") -> str:
    """The fingerprint, or a hash of the labels: the same for the firing and the resolved alert."""
    return f"{prefix}:{text_or_none(alert.get('fingerprint')) or labels_hash(labels)}"


def _canonical(labels: Mapping[str, Any]) -> str:
    """The labels as sorted, compact, ASCII JSON (what the key has always been hashed on)."""
    try:
        return json.dumps(labels, separators=(",", ":"), sort_keys=True, default=str)
    except (RecursionError, TypeError, ValueError):
        return json.dumps(text_map(labels, len(labels)), separators=(",", ":"), sort_keys=True)


def event_class_of(payload: Mapping[str, Any], external: str | None) -> str | None:
    """The sender's host (from its externalURL), else the URL or the receiver."""
    if external:
        try:
            host = urlsplit(external).netloc
        except ValueError:  # "http://[not-an-ip", or a host NFKC normalisation would change
            host = ""
        return host or external
    return text_or_none(payload.get("receiver"))


def status_of(alert: Mapping[str, Any], index: int, payload: Mapping[str, Any]) -> str:
    status = (text_or_none(alert.get("status")) or text_or_none(payload.get("status")) or "").lower()
    if status not in ("firing", "resolved"):
        reason = f"{shown(status)} is not firing or resolved"
        raise InvalidPayload(f"alerts[{index}].status: {reason}", (Problem(reason, "status", index),))
    return status


def moment_of(value: object) -> datetime | None:
    if not value or value == ZERO_TIME:
        return None
    try:
        return parse_time(value)
    except InvalidPayload:
        return None  # ServiceNow then stamps the time it receives the event


def description_of(
    status: str, labels: Mapping[str, Any], annotations: Mapping[str, Any], more: tuple[str | None, ...] = ()
) -> str:
    """The status and alert name, the summary and description annotations, then `more`: one per line."""
    summary = label_of(annotations, "summary") or label_of(annotations, "title")
    details = label_of(annotations, "description") or label_of(annotations, "message")
    title = f"[{status.upper()}] {label_of(labels, 'alertname') or 'alert'}"
    return "\n".join(part for part in (title, summary, details, *more) if part)


def truncated_notes(**objects: Mapping[str, Any]) -> dict[str, str]:
    """What text_map and first_items left out of each object past MAX_ITEMS, as notes."""
    return {
        f"{name}_truncated": f"{len(raw) - MAX_ITEMS} more not shown"
        for name, raw in objects.items()
        if len(raw) > MAX_ITEMS
    }


def alert_event(
    alert: Mapping[str, Any], index: int, payload: Mapping[str, Any], options: MappingOptions, webhook: Webhook
) -> ItomEvent:
    raw_labels = as_mapping(alert.get("labels"))
    raw_annotations = as_mapping(alert.get("annotations"))
    status = status_of(alert, index, payload)
    if status == "resolved":
        severity, moment = "0", moment_of(alert.get("endsAt"))
    else:
        severity = severity_of(raw_labels, raw_annotations if webhook.severity_annotation else {}, options)
        moment = moment_of(alert.get("startsAt"))
    lines, extra_info = webhook.extras(alert, payload)
    external = text_or_none(payload.get("externalURL"))
    info: dict[str, object] = {
        "status": status,
        "labels": text_map(raw_labels),
        "annotations": text_map(raw_annotations),
        **extra_info,
        "generator_url": alert.get("generatorURL"),
        "fingerprint": alert.get("fingerprint"),
        "receiver": payload.get("receiver"),
        "group_key": payload.get("groupKey"),
        webhook.url_key: external,
        **truncated_notes(labels=raw_labels, annotations=raw_annotations),
    }
    return ItomEvent(
        severity=severity,
        source=webhook.source,
        event_class=event_class_of(payload, external),
        node=node_of(raw_labels),
        resource=label_of(raw_labels, "instance") or label_of(raw_labels, "job"),
        metric_name=label_of(raw_labels, "alertname"),
        type=label_of(raw_labels, "job"),
        description=description_of(status, raw_labels, raw_annotations, lines),
        message_key=message_key(alert, raw_labels, webhook.key_prefix),
        time_of_event=format_time(moment) if moment else None,
        source_time=moment,
        additional_info={key: value for key, value in info.items() if value not in (None, "", {})},
    )


def webhook_events(payload: object, options: MappingOptions, webhook: Webhook) -> list[ItomEvent]:
    """Every alert of a webhook in Alertmanager's shape, or InvalidPayload naming each bad one."""
    if not isinstance(payload, Mapping) or not is_alertmanager(payload):
        raise InvalidPayload(
            f'payload: expected {webhook.name} (version {webhook.version}): {{"status": ..., "alerts": [...]}}',
            (Problem(f"expected {webhook.name}", "payload"),),
        )
    alerts = payload["alerts"]
    if not alerts:
        raise InvalidPayload("alerts: empty, expected at least one alert", (Problem("empty", "alerts"),))
    if len(alerts) > MAX_ALERTS:
        reason = f"{len(alerts)} alerts, at most {MAX_ALERTS} per message"
        raise InvalidPayload(f"alerts: {reason}", (Problem(reason, "alerts"),))
    return map_each(
        alerts, lambda alert, index: alert_event(alert, index, payload, options, webhook), collection="alerts"
    )


ALERTMANAGER = Webhook(
    source=SOURCE,
    key_prefix="alertmanager",
    url_key="alertmanager_url",
    name="an Alertmanager webhook",
    version="4",
)


def to_events(payload: object, notification: Notification, options: MappingOptions) -> list[ItomEvent]:
    del notification  # the webhook carries everything itself
    return webhook_events(payload, options, ALERTMANAGER)
