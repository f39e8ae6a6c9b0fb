"""How requests to the instance authenticate: basic auth, or OAuth 2.0 JWT bearer
(servicenow/oauth.py), both behind `InstanceAuth`, a requests AuthBase that can also drop
what it cached."""

from __future__ import annotations

from requests.auth import AuthBase, HTTPBasicAuth


class InstanceAuth(AuthBase):
    """A requests auth that knows how to forget what it cached (after a 401)."""

    # True when invalidate() makes the next request use different credentials (a new
    # token), so one more try after a 401 can succeed.
    renews_credentials = False

    def invalidate(self) -> None:
        """Drop cached credentials so the next request fetches fresh ones."""


class BasicAuth(InstanceAuth):
    def __init__(self, username: str, password: str) -> None:
        self._basic = HTTPBasicAuth(username, password)

    def __call__(self, request):  # type: ignore[no-untyped-def]
        return self._basic(request)

    def __repr__(self) -> str:  # never show the password
        return f"BasicAuth(username={self._basic.username!r})"
