"""Reading the instance's answers into failure reasons: ServiceNow's error bodies, redirects
(never followed), untrusted certificates and Retry-After."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
from urllib3 import BaseHTTPResponse
from urllib3.exceptions import ReadTimeoutError

from itom_forwarder.failures import FailureReason

TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class Answer(Protocol):
    """What is read of an answer here: requests' Response, or the event POST's own
    (servicenow/event_post.py)."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    def json(self) -> Any: ...


def error_of(response: Answer) -> tuple[str, str | None]:
    """ServiceNow's `error.message` and `error.detail`, or a neutral description.

    A non-JSON body (a proxy's or login page) is not copied: it says nothing useful and
    could hold anything.
    """
    try:
        body = response.json()
    except ValueError:
        kind = response.headers.get("Content-Type", "no content type").split(";")[0]
        return f"non-JSON answer ({kind})", None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        message = str(error.get("message") or "no message")[:500]
        detail = error.get("detail")
        return message, str(detail)[:1000] if detail else None
    if isinstance(error, str):  # the OAuth endpoint's shape: {"error": ..., "error_description": ...}
        return error[:200], str(body.get("error_description") or "")[:500] or None
    return "answer without an error message", None


def untrusted_certificate_reason(step: str) -> FailureReason:
    return FailureReason(
        step,
        "the instance's TLS certificate is not trusted",
        None,
        "for an instance behind a private CA, put the CA certificate in the secret as ca_certificate",
    )


def redirect_reason(step: str, response: Answer) -> FailureReason:
    target = urlsplit(response.headers.get("Location", "")).hostname or "an unnamed location"
    return FailureReason(
        step,
        f"the instance answered a redirect to {target}, which is not followed",
        response.status_code,
        "set instance_url to the instance's own URL (redirects could carry the credentials elsewhere)",
    )


def retry_after_seconds(response: Answer) -> float | None:
    """`Retry-After` as seconds (it may be a number or an HTTP date)."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def hint(status: int) -> str:
    return {
        400: "ServiceNow rejected the request body",
        401: "ServiceNow did not accept the credentials: check username/password in the secret",
        403: "the user lacks the evt_mgmt_integration role (or an ACL denies the event API)",
        404: "no event API at this URL: check instance_url and that Event Management is installed",
        413: "the request body is larger than the instance accepts",
    }.get(status, "ServiceNow refused the request")


# ServiceNow's answers are small JSON documents; an error page beyond this is cut.
MAX_ANSWER_BYTES = 1_000_000
_READ_SIZE = 65_536


class AnswerTooSlow(Exception):
    """The answer's body did not arrive before the deadline."""


def read_answer(response: requests.Response, deadline: float, clock: Callable[[], float]) -> None:
    """Read a streamed requests answer's body with `read_body` into `response.content`."""
    response._content = read_body(response.raw, deadline, clock)
    response._content_consumed = True  # type: ignore[attr-defined]


def read_body(raw: BaseHTTPResponse, deadline: float, clock: Callable[[], float]) -> bytes:
    """A streamed answer's body, read before `deadline` (a `clock()` time), at most
    MAX_ANSWER_BYTES of it.

    A per-request read timeout bounds each socket read, not the whole body: an instance
    feeding one byte every half second would hold the invocation for ever. Here every read
    is given only the time left, and reading stops at the cap (the connection is then
    dropped rather than drained). Raises AnswerTooSlow, or urllib3's errors for a broken
    connection (ProtocolError), for the caller to classify.
    """
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    # Undecoded, a body of a stated length is over once that much is read: no read for
    # the end of it (urllib3 has closed it and put the connection back by then).
    sized = "content-encoding" not in raw.headers
    parts: list[bytes] = []
    size = 0
    try:
        while size < MAX_ANSWER_BYTES:
            remaining = deadline - clock()
            if remaining <= 0:
                raise AnswerTooSlow
            if sock is not None:
                sock.settimeout(remaining)
            try:
                # Decoded: an instance may gzip its answer (requests asks for it, with
                # Accept-Encoding: gzip, deflate); the bytes as sent would not parse as JSON.
                chunk = raw.read1(min(_READ_SIZE, MAX_ANSWER_BYTES - size), decode_content=True)
            except (TimeoutError, ReadTimeoutError):
                raise AnswerTooSlow from None
            if not chunk:
                break
            parts.append(chunk)
            size += len(chunk)
            if sized and raw.length_remaining == 0:
                break
    except BaseException:
        _drop(raw)
        raise
    if size >= MAX_ANSWER_BYTES:
        _drop(raw)  # the rest is not read: this connection cannot be reused
    return b"".join(parts)


def _drop(raw: BaseHTTPResponse) -> None:
    """Close the answer's connection and give its place back to the pool (as requests'
    Response.close does), which opens a new one when next needed."""
    raw.close()
    raw.release_conn()
