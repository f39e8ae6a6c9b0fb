"""The kinds of credential a webhook sender can present: what a route takes (the API's
route table names them for each route, on every path) and what a verdict says was used."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Method"]


class Method(StrEnum):
    BEARER = "bearer"
    BASIC = "basic"
    GRAFANA_HMAC = "grafana_hmac"
