"""The API's route table, defined once: each route's path, the input format its body is in,
how to recognise and count that format, and its mapper. The API trigger answers by it and
the delivery policy maps by it, so a replayed API request maps as it did when it came in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from itom_forwarder.formats import MappingOptions, Notification, alertmanager, generic
from itom_forwarder.itom_event import ItomEvent

__all__ = ["ROUTES", "ApiRoute"]


@dataclass(frozen=True)
class ApiRoute:
    path: str
    input_format: str
    # The items of a body in this route's format, or None when the body is not in it.
    items_of: Callable[[object], list[object] | None]
    to_events: Callable[[Any, Notification, MappingOptions], list[ItomEvent]]
    expected: str  # what the route takes, for an answer to a body in no such shape


def _alertmanager_alerts(payload: object) -> list[object] | None:
    return list(payload["alerts"]) if alertmanager.is_alertmanager(payload) else None  # type: ignore[index]


ROUTES: dict[str, ApiRoute] = {
    route.path: route
    for route in (
        ApiRoute(
            "/events",
            "generic",
            generic.records_of,
            generic.to_events,
            'expected one ITOM event object, a list of them, or {"records": [...]}',
        ),
        ApiRoute(
            "/alertmanager",
            "alertmanager",
            _alertmanager_alerts,
            alertmanager.to_events,
            'expected an Alertmanager webhook (version 4): {"status": ..., "alerts": [...]}',
        ),
    )
}
