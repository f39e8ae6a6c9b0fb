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
from typing import Any
from urllib.parse import urlsplit

from itom_forwarder.formats.json_values import as_mapping
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
ZERO_TIME = "0001-01-01T00:00:00Z"
_HOST_PORT = re.compile(r"^(?P<host>[^:/\s]+|\[[0-9a-fA-F:]+\]):\d{1,5}$")


def is_alertmanager(payload: object) -> bool:
    return isinstance(payload, Mapping) and isinstance(payload.get("alerts"), list) and "status" in payload


def _node(labels: Mapping[str, str]) -> str | None:
    """`instance` is usually host:port (the scrape target); ServiceNow binds CIs by host."""
    value = next((labels[name] for name in NODE_LABELS if labels.get(name)), None)
    if value is None:
        return None
    match = _HOST_PORT.match(value)
    return match.group("host").strip("[]") if match else value


def message_key(alert: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    fingerprint = alert.get("fingerprint")
    if fingerprint:
        return f"alertmanager:{fingerprint}"
    canonical = json.dumps(dict(sorted(labels.items())), separators=(",", ":"))
    return f"alertmanager:sha256:{hashlib.sha256(canonical.encode()).hexdigest()[:32]}"


def _alert_to_event(
    alert: Mapping[str, Any], index: int, payload: Mapping[str, Any], options: MappingOptions
) -> ItomEvent:
    labels = {str(k): str(v) for k, v in as_mapping(alert.get("labels")).items()}
    annotations = {str(k): str(v) for k, v in as_mapping(alert.get("annotations")).items()}
    status = str(alert.get("status") or payload.get("status") or "").lower()
    if status not in ("firing", "resolved"):
        raise InvalidPayload(
            f"alerts[{index}].status: {status!r} is not firing or resolved",
            (Problem(f"{status!r} is not firing or resolved", "status", index),),
        )
    if status == "resolved":
        severity, moment = "0", alert.get("endsAt")
    else:
        severity = SEVERITY_BY_LABEL.get(labels.get("severity", "").strip().lower(), options.default_severity)
        moment = alert.get("startsAt")
    time_of_event = None
    if moment and moment != ZERO_TIME:
        try:
            time_of_event = format_time(parse_time(moment))
        except InvalidPayload:
            time_of_event = None  # ServiceNow then stamps the time it receives the event
    summary = annotations.get("summary") or annotations.get("title")
    details = annotations.get("description") or annotations.get("message")
    description = "\n".join(
        part for part in (f"[{status.upper()}] {labels.get('alertname', 'alert')}", summary, details) if part
    )
    external = str(payload.get("externalURL") or "")
    info: dict[str, object] = {
        "status": status,
        "labels": labels,
        "annotations": annotations,
        "generator_url": alert.get("generatorURL"),
        "fingerprint": alert.get("fingerprint"),
        "receiver": payload.get("receiver"),
        "group_key": payload.get("groupKey"),
        "alertmanager_url": external or None,
    }
    return ItomEvent(
        severity=severity,
        source=SOURCE,
        event_class=urlsplit(external).netloc or external or payload.get("receiver") or None,
        node=_node(labels),
        resource=labels.get("instance") or labels.get("job"),
        metric_name=labels.get("alertname"),
        type=labels.get("job"),
        description=description,
        message_key=message_key(alert, labels),
        time_of_event=time_of_event,
        additional_info={key: value for key, value in info.items() if value not in (None, "", {})},
    )


def to_events(payload: Mapping[str, Any], notification: Notification, options: MappingOptions) -> list[ItomEvent]:
    del notification  # the webhook carries everything itself
    alerts = payload.get("alerts") or []
    if not alerts:
        raise InvalidPayload("alerts: empty, expected at least one alert", (Problem("empty", "alerts"),))
    return map_each(alerts, lambda alert, index: _alert_to_event(alert, index, payload, options), collection="alerts")
