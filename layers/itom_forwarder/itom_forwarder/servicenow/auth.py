"""How requests to the instance authenticate. Basic now; OAuth slots in behind the same
`InstanceAuth` interface (a requests AuthBase that can also drop cached credentials)."""

from __future__ import annotations

from requests.auth import AuthBase, HTTPBasicAuth

from itom_forwarder.config import ConfigError, ConnectionConfig


class InstanceAuth(AuthBase):
    """A requests auth that knows how to forget what it cached (after a 401)."""

    def invalidate(self) -> None:
        """Drop cached credentials so the next request fetches fresh ones."""


class BasicAuth(InstanceAuth):
    def __init__(self, username: str, password: str) -> None:
        self._basic = HTTPBasicAuth(username, password)

    def __call__(self, request):  # type: ignore[no-untyped-def]
        return self._basic(request)

    def __repr__(self) -> str:  # never show the password
        return f"BasicAuth(username={self._basic.username!r})"


def auth_for(connection: ConnectionConfig) -> InstanceAuth:
    if connection.use_oauth:
        raise ConfigError("use_oauth: OAuth JWT authentication is not available in this version; use basic auth")
    if not connection.username or not connection.password:
        raise ConfigError("username, password: required for basic authentication")
    return BasicAuth(connection.username, connection.password)
