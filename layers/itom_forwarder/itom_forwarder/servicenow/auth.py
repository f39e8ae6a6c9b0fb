"""How requests to the instance authenticate: basic auth, or OAuth 2.0 JWT bearer
(servicenow/oauth.py), both behind `InstanceAuth`, a requests AuthBase that can also drop
what it cached."""

from __future__ import annotations

import base64

from requests import PreparedRequest
from requests.auth import AuthBase


class InstanceAuth(AuthBase):
    """A requests auth that knows how to forget what it cached (after a 401)."""

    # True when invalidate() makes the next request use different credentials (a new
    # token), so one more try after a 401 can succeed.
    renews_credentials = False

    def authorization(self) -> str:
        """The next request's `Authorization` header value (it may fetch a token)."""
        raise NotImplementedError

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        request.headers["Authorization"] = self.authorization()
        return request

    def invalidate(self) -> None:
        """Drop cached credentials so the next request fetches fresh ones."""

    def limit_to(self, deadline: float) -> None:
        """The time (a monotonic clock value) by which a credential fetch of the next
        request must be over; basic auth fetches nothing."""

    def secret_values(self) -> tuple[str, ...]:
        """What this auth puts on the wire that must never appear in any text (header
        values, tokens), beside the connection's own secrets."""
        return ()


class BasicAuth(InstanceAuth):
    """`Authorization: Basic`, with the credentials encoded as UTF-8 (ServiceNow accepts
    it; requests' own HTTPBasicAuth encodes Latin-1 and fails on other characters)."""

    def __init__(self, username: str, password: str) -> None:
        self._username = username
        self._token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        self._pair = f"{username}:{password}"
        self._header = f"Basic {self._token}"

    def authorization(self) -> str:
        return self._header

    def secret_values(self) -> tuple[str, ...]:
        return (self._token, self._pair)

    def __repr__(self) -> str:  # never show the password
        return f"BasicAuth(username={self._username!r})"
