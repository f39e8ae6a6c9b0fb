"""Reading the instance's answers into failure reasons: ServiceNow's error bodies, redirects
(never followed), untrusted certificates and Retry-After."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import requests

from itom_forwarder.failures import FailureReason

TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def error_of(response: requests.Response) -> tuple[str, str | None]:
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


def redirect_reason(step: str, response: requests.Response) -> FailureReason:
    target = urlsplit(response.headers.get("Location", "")).hostname or "an unnamed location"
    return FailureReason(
        step,
        f"the instance answered a redirect to {target}, which is not followed",
        response.status_code,
        "set instance_url to the instance's own URL (redirects could carry the credentials elsewhere)",
    )


def retry_after_seconds(response: requests.Response) -> float | None:
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
