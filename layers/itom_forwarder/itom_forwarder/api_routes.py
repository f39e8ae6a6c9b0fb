"""The API's route table, defined once: each route's path, the input format its body is in,
how to recognise it and split it into items, its mapper, and how its senders authenticate.
The API trigger answers by it and the delivery policy maps by it, so a replayed API request
maps as it did when it came in.

The delivery policy imports this table on every path; its mappers are the formats' own,
which import their format's module (Alertmanager, Grafana, generic) when a request first
needs one: an SNS alarm's cold start loads none of them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from itom_forwarder.formats import MAPPERS, MappingOptions, Notification, shapes
from itom_forwarder.itom_event import ItomEvent
from itom_forwarder.webhook_auth import Method

__all__ = ["ROUTES", "ApiRoute", "one_alert_groups"]

# A webhook's group-wide text, which repeats every alert: not copied into each alert's item.
GROUP_TEXT_KEYS = frozenset({"alerts", "message"})


class ApiRoute(NamedTuple):
    path: str
    input_format: str
    # The items of a body in this route's format, or None when the body is not in it.
    items_of: Callable[[object], list[object] | None]
    to_events: Callable[[Any, Notification, MappingOptions], list[ItomEvent]]
    expected: str  # what the route takes, for an answer to a body in no such shape
    # The credentials the function checks (API Gateway's API key aside).
    methods: frozenset[Method]
    # True: a request with the API key API Gateway checked is authenticated by it.
    api_key: bool = False
    # A webhook sender retries only a 5xx (Alertmanager) or nothing (Grafana): its request is
    # never refused for its size, each alert is an item of its own (delivered, superseded or
    # dead-lettered alone), and it is answered 2xx once every alert is delivered or kept.
    webhook: bool = False


def _alert_groups(payload: object) -> list[object] | None:
    return list(payload["alerts"]) if shapes.is_alertmanager(payload) else None  # type: ignore[index]


def one_alert_groups(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A webhook as one webhook per alert, each with the group's fields: the route maps
    each (now, and when a dead letter of it is replayed) exactly as the whole."""
    group = {key: value for key, value in payload.items() if key not in GROUP_TEXT_KEYS}
    return [{**group, "alerts": [alert]} for alert in payload["alerts"]]


WEBHOOK_METHODS = frozenset({Method.BEARER, Method.BASIC})

ROUTES: dict[str, ApiRoute] = {
    route.path: route
    for route in (
        ApiRoute(
            "/events",
            "generic",
            shapes.generic_records,
            MAPPERS["generic"],
            'expected one ITOM event object, a list of them, or {"records": [...]}',
            methods=frozenset({Method.BEARER}),
            api_key=True,
        ),
        ApiRoute(
            "/alertmanager",
            "alertmanager",
            _alert_groups,
            MAPPERS["alertmanager"],
            'expected an Alertmanager webhook (version 4): {"status": ..., "alerts": [...]}',
            methods=WEBHOOK_METHODS,
            webhook=True,
        ),
        ApiRoute(
            "/grafana",
            "grafana",
            _alert_groups,
            MAPPERS["grafana"],
            'expected a Grafana webhook (version 1): {"status": ..., "alerts": [...]}',
            methods=WEBHOOK_METHODS | {Method.GRAFANA_HMAC},
            webhook=True,
        ),
    )
}
