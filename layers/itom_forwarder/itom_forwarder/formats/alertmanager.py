"""Prometheus Alertmanager's webhook (version 4), also sent by Grafana's Alertmanager-
compatible contact point: one ITOM event per alert.

Firing alerts take their severity from the `severity` label (names mapped below, else
DEFAULT_SEVERITY); resolved alerts are Clear, which closes the ServiceNow alert with the
same message key: the alert's fingerprint, or a hash of its labels when there is none.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from itom_forwarder.formats.json_values import MAX_ITEMS, as_mapping, shown, text_map, text_or_none
from itom_forwarder.formats.notification import Notification
from itom_forwarder.formats.options import MappingOptions
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


def is_alertmanager(payload: object) -> bool:
    return isinstance(payload, Mapping) and isinstance(payload.get("alerts"), list) and "status" in payload


def _label(labels: Mapping[str, Any], name: str) -> str | None:
    """One label (or annotation) as text, wherever it is among any number of them."""
    return text_or_none(labels.get(name))


def _node(labels: Mapping[str, Any]) -> str | None:
    """`instance` is usually host:port (the scrape target); ServiceNow binds CIs by host."""
    value = next((text for text in (_label(labels, name) for name in NODE_LABELS) if text), None)
    if value is None:
        return None
    match = _HOST_PORT.match(value)
    return match.group("host").strip("[]") if match else value


def message_key(alert: Mapping[str, Any], labels: Mapping[str, Any]) -> str:
    """The fingerprint, or a hash of all the labels (however many: one pass in C)."""
    fingerprint = text_or_none(alert.get("fingerprint"))
    if fingerprint:
        return f"alertmanager:{fingerprint}"
    canonical = _canonical(labels)
    return f"alertmanager:sha256:{hashlib.sha256(canonical.encode('utf-8', 'surrogatepass')).hexdigest()[:32]}"


def _canonical(labels: Mapping[str, Any]) -> str:
    """The labels as sorted, compact, ASCII JSON (what the key has always been hashed on)."""
    try:
        return json.dumps(labels, separators=(",", ":"), sort_keys=True, default=str)
    except (RecursionError, TypeError, ValueError):
        return json.dumps(text_map(labels, len(labels)), separators=(",", ":"), sort_keys=True)


def _event_class(payload: Mapping[str, Any], external: str | None) -> str | None:
    """The Alertmanager's host (from its externalURL), else the URL or the receiver."""
    if external:
        try:
            host = urlsplit(external).netloc
        except ValueError:  # "http://[not-an-ip", or a host NFKC normalisation would change
            host = ""
        return host or external
    return text_or_none(payload.get("receiver"))


def _status(alert: Mapping[str, Any], index: int, payload: Mapping[str, Any]) -> str:
    status = (text_or_none(alert.get("status")) or text_or_none(payload.get("status")) or "").lower()
    if status not in ("firing", "resolved"):
        reason = f"{shown(status)} is not firing or resolved"
        raise InvalidPayload(f"alerts[{index}].status: {reason}", (Problem(reason, "status", index),))
    return status


def _moment(value: object) -> datetime | None:
    if not value or value == ZERO_TIME:
        return None
    try:
        return parse_time(value)
    except InvalidPayload:
        return None  # ServiceNow then stamps the time it receives the event


def _alert_to_event(
    alert: Mapping[str, Any], index: int, payload: Mapping[str, Any], options: MappingOptions
) -> ItomEvent:
    raw_labels = as_mapping(alert.get("labels"))
    raw_annotations = as_mapping(alert.get("annotations"))
    status = _status(alert, index, payload)
    if status == "resolved":
        severity, moment = "0", _moment(alert.get("endsAt"))
    else:
        severity = SEVERITY_BY_LABEL.get(
            (_label(raw_labels, "severity") or "").strip().lower(), options.default_severity
        )
        moment = _moment(alert.get("startsAt"))
    summary = _label(raw_annotations, "summary") or _label(raw_annotations, "title")
    details = _label(raw_annotations, "description") or _label(raw_annotations, "message")
    alertname = _label(raw_labels, "alertname")
    description = "\n".join(part for part in (f"[{status.upper()}] {alertname or 'alert'}", summary, details) if part)
    external = text_or_none(payload.get("externalURL"))
    info: dict[str, object] = {
        "status": status,
        "labels": text_map(raw_labels),
        "annotations": text_map(raw_annotations),
        "generator_url": alert.get("generatorURL"),
        "fingerprint": alert.get("fingerprint"),
        "receiver": payload.get("receiver"),
        "group_key": payload.get("groupKey"),
        "alertmanager_url": external,
    }
    omitted = {
        f"{name}_truncated": f"{len(raw) - MAX_ITEMS} more not shown"
        for name, raw in (("labels", raw_labels), ("annotations", raw_annotations))
        if len(raw) > MAX_ITEMS
    }
    return ItomEvent(
        severity=severity,
        source=SOURCE,
        event_class=_event_class(payload, external),
        node=_node(raw_labels),
        resource=_label(raw_labels, "instance") or _label(raw_labels, "job"),
        metric_name=alertname,
        type=_label(raw_labels, "job"),
        description=description,
        message_key=message_key(alert, raw_labels),
        time_of_event=format_time(moment) if moment else None,
        source_time=moment,
        additional_info={key: value for key, value in {**info, **omitted}.items() if value not in (None, "", {})},
    )


def to_events(payload: object, notification: Notification, options: MappingOptions) -> list[ItomEvent]:
    del notification  # the webhook carries everything itself
    if not isinstance(payload, Mapping) or not is_alertmanager(payload):
        raise InvalidPayload(
            'payload: expected an Alertmanager webhook (version 4): {"status": ..., "alerts": [...]}',
            (Problem("expected an Alertmanager webhook", "payload"),),
        )
    alerts = payload["alerts"]
    if not alerts:
        raise InvalidPayload("alerts: empty, expected at least one alert", (Problem("empty", "alerts"),))
    if len(alerts) > MAX_ALERTS:
        reason = f"{len(alerts)} alerts, at most {MAX_ALERTS} per message"
        raise InvalidPayload(f"alerts: {reason}", (Problem(reason, "alerts"),))
    return map_each(alerts, lambda alert, index: _alert_to_event(alert, index, payload, options), collection="alerts")
