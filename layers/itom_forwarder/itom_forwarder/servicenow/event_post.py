"""The event API's POST, prepared once per bound connection.

`Session.post` works out again, on every request, what never changes for one instance: it
merges the session's settings, looks the connection pool up in the pool manager, checks the
TLS settings on it, builds the request line's URL and parses the timeout. A warm alert paid
that for nothing (about a tenth of its own time on Python 3.13). Here it is worked out once,
by requests' own adapter (`get_connection_with_tls_context`, `cert_verify`, `request_url`),
and each POST goes straight to the session's pooled connection with the same arguments the
adapter gives urllib3: no retries, no redirects followed (a redirect could lead the
credentials off the allowed hosts), the body streamed back undecoded until read. urllib3's
errors become requests' own, as the adapter maps them, so the client classifies them the
same. The token requests share the pool (one connection to the instance).

The answer is an `EventAnswer`: its status, headers and body, read before the deadline.
requests' Response would add, per POST, a cookie jar, the cookies parsed out of the
headers, a copy of them and a guess at the encoding, none of which the client reads.

No cookies: each POST authenticates with its own Authorization header, as the event API
expects, so no session cookie can outlive a rotated credential.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3 import BaseHTTPResponse, HTTPConnectionPool, Timeout
from urllib3.exceptions import (
    ClosedPoolError,
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ProxyError,
    ReadTimeoutError,
    SSLError,
)

from itom_forwarder.servicenow.answers import read_body
from itom_forwarder.servicenow.auth import InstanceAuth

__all__ = ["EventAnswer", "EventPost"]


class EventAnswer:
    """The event API's answer as the client reads it (answers.Answer): status, headers
    (case-insensitive, urllib3's) and the whole body."""

    __slots__ = ("content", "headers", "status_code")

    def __init__(self, status_code: int, headers: Mapping[str, str], content: bytes) -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = content

    def json(self) -> Any:
        return json.loads(self.content)  # bytes: json detects the UTF, as requests' .json() does


class EventPost:
    """POSTs of JSON bodies to one URL over `session`'s adapter for it, as `session.post`
    would send them (its headers, proxy and TLS settings, which session.bind_session fixed
    and which are read here once)."""

    def __init__(self, session: requests.Session, url: str) -> None:
        adapter = session.get_adapter(url)
        if not isinstance(adapter, HTTPAdapter):
            raise TypeError("the session's adapter for the instance must be requests' HTTPAdapter")
        template = requests.PreparedRequest()
        template.prepare(method="POST", url=url, headers=session.headers)
        self._adapter = adapter
        self._template = template
        self._url = str(template.url)
        self._headers = dict(template.headers)
        self._verify: bool | str = True if session.verify is None else session.verify
        self._proxies = dict(session.proxies)
        self._path = adapter.request_url(template, self._proxies)
        self._pool: HTTPConnectionPool | None = None

    def _connection_pool(self) -> HTTPConnectionPool:
        if self._pool is None:
            pool = self._adapter.get_connection_with_tls_context(self._template, self._verify, proxies=self._proxies)
            if not isinstance(pool, HTTPConnectionPool):
                raise TypeError("the adapter's connection pool must be urllib3's HTTP(S)ConnectionPool")
            self._adapter.cert_verify(pool, self._url, self._verify, None)  # type: ignore[no-untyped-call]
            self._pool = pool
        return self._pool

    def send(
        self,
        body: bytes,
        auth: InstanceAuth,
        timeout: tuple[float, float],
        deadline: float,
        clock: Callable[[], float],
    ) -> EventAnswer:
        """POST `body`; the answer's body is read before `deadline` (a `clock()` time)."""
        headers = {**self._headers, "Authorization": auth.authorization(), "Content-Length": str(len(body))}
        try:
            answer = self._urlopen(headers, body, timeout)
        except ClosedPoolError:
            # The pool was closed under us (urllib3 1.x closed the pools its manager let go;
            # any holder may close one): nothing was sent on it; once more on the pool that
            # replaces it. (urllib3 2 leaves a pool its manager lets go open and usable.) The
            # managers still hold the closed pool: they forget it, and make a new one.
            self._pool = None
            self._adapter.poolmanager.clear()
            for manager in self._adapter.proxy_manager.values():
                manager.clear()
            answer = self._urlopen(headers, body, timeout)
        return EventAnswer(answer.status, answer.headers, read_body(answer, deadline, clock))

    def _urlopen(self, headers: dict[str, str], body: bytes, timeout: tuple[float, float]) -> BaseHTTPResponse:
        try:
            answer = self._connection_pool().urlopen(
                "POST",
                self._path,
                body=body,
                headers=headers,
                redirect=False,
                assert_same_host=False,
                preload_content=False,
                decode_content=False,
                retries=False,  # the client retries, knowing the deadline; errors come unwrapped
                timeout=Timeout(connect=timeout[0], read=timeout[1]),
                chunked=False,
            )
        except ClosedPoolError:
            raise
        # requests' HTTPAdapter.send maps them so; the client classifies requests' errors.
        except SSLError as error:
            raise requests.exceptions.SSLError(error) from None
        except ProxyError as error:
            raise requests.exceptions.ProxyError(error) from None
        except NewConnectionError as error:  # a ConnectTimeoutError too, in urllib3's hierarchy
            raise requests.ConnectionError(error) from None
        except ConnectTimeoutError as error:
            raise requests.ConnectTimeout(error) from None
        except ReadTimeoutError as error:
            raise requests.ReadTimeout(error) from None
        except (ProtocolError, OSError, HTTPError) as error:
            raise requests.ConnectionError(error) from None
        return answer
