"""Grafana unified alerting's webhook contact point (payload version "1"): one ITOM event
per alert.

The payload is Alertmanager's webhook with more per alert (`values`, `valueString`, links
to the dashboard, panel, silence and image) and the organisation (`orgId`), so it maps
with Alertmanager's pieces: the message key is `grafana:<fingerprint>`, the same for the
firing and the resolved alert; severity comes from a `severity` label, else a `severity`
annotation (where Grafana rules often keep it); resolved alerts are Clear.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from itom_forwarder.formats import alertmanager
from itom_forwarder.formats.json_values import as_mapping, first_items, text_or_none
from itom_forwarder.formats.notification import Notification
from itom_forwarder.formats.options import MappingOptions
from itom_forwarder.formats.shapes import GRAFANA_VERSION as VERSION
from itom_forwarder.itom_event import ItomEvent

SOURCE = "Grafana"


def _extras(alert: Mapping[str, Any], payload: Mapping[str, Any]) -> alertmanager.AlertExtras:
    """The query's values and the links Grafana adds to each alert."""
    value_string = text_or_none(alert.get("valueString"))
    raw_values = as_mapping(alert.get("values"))
    org_id = alert.get("orgId")
    info: dict[str, object] = {
        # Kept as numbers (not text_map's strings): they are measurements.
        "values": dict(first_items(raw_values)),
        "value_string": value_string,
        "dashboard_url": alert.get("dashboardURL"),
        "panel_url": alert.get("panelURL"),
        "silence_url": alert.get("silenceURL"),
        "image_url": alert.get("imageURL"),
        "org_id": payload.get("orgId") if org_id is None else org_id,
        **alertmanager.truncated_notes(values=raw_values),
    }
    return (value_string,), info


GRAFANA = alertmanager.Webhook(
    source=SOURCE,
    key_prefix="grafana",
    url_key="grafana_url",
    name="a Grafana webhook",
    version=VERSION,
    severity_annotation=True,
    extras=_extras,
)


def to_events(payload: object, notification: Notification, options: MappingOptions) -> list[ItomEvent]:
    """Any payload in Alertmanager's shape: whoever calls this (the format table, by
    `is_grafana`, or a Grafana route) has decided it is Grafana's, so a payload without
    the version mark still maps rather than being refused."""
    del notification  # the webhook carries everything itself
    return alertmanager.webhook_events(payload, options, GRAFANA)
