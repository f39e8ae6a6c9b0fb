"""The event API client: one POST of many records, classified into an outcome.

`ServiceNowClient.send` returns `Delivered`, or raises `PermanentFailure` (retrying cannot
help: dead-letter now) or `TransientFailure` (retried here with backoff until the attempts
or the invocation's time run out; then Lambda's own retries take over).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from aws_lambda_powertools import Logger

from itom_forwarder.config import DeliverySettings
from itom_forwarder.servicenow.auth import InstanceAuth
from itom_forwarder.servicenow.errors import (
    AuthenticationRejected,
    FailureReason,
    PermanentFailure,
    TransientFailure,
)

logger = Logger(child=True)

EVENT_API_PATH = "/api/global/em/jsonv2"
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
BACKOFF_CAP_SECONDS = 8.0
# The least time worth starting a request with: below this, give the time back to Lambda.
MINIMUM_REQUEST_SECONDS = 0.5


@dataclass(frozen=True)
class Delivered:
    status: int
    result: str
    attempts: int
    elapsed_seconds: float


def _error_of(response: requests.Response) -> tuple[str, str | None]:
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


def _hint(status: int) -> str:
    return {
        400: "ServiceNow rejected the request body",
        401: "ServiceNow did not accept the credentials: check username/password in the secret",
        403: "the user lacks the evt_mgmt_integration role (or an ACL denies the event API)",
        404: "no event API at this URL: check instance_url and that Event Management is installed",
        413: "the request body is larger than the instance accepts",
    }.get(status, "ServiceNow refused the request")


class ServiceNowClient:
    """Sends records to one instance with one auth, over a shared requests.Session."""

    def __init__(
        self,
        instance_url: str,
        auth: InstanceAuth,
        session: requests.Session,
        settings: DeliverySettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.instance_url = instance_url
        self.auth = auth
        self._session = session
        self._settings = settings
        self._sleep = sleep
        self._clock = clock

    @property
    def event_api_url(self) -> str:
        return self.instance_url + EVENT_API_PATH

    def get(self, path: str, params: dict[str, str] | None = None, *, authenticated: bool = True) -> requests.Response:
        """A read from the instance (the connector check), with the same session and auth."""
        return self._session.get(
            self.instance_url + path,
            params=params,
            auth=self.auth if authenticated else None,
            timeout=(self._settings.connect_timeout_seconds, self._settings.read_timeout_seconds),
            allow_redirects=False,
        )

    def send(self, records: Sequence[dict[str, str]], deadline: float) -> Delivered:
        """POST all records in one request, retrying transient failures until `deadline`
        (a `clock()` time) or the configured attempts run out."""
        body = json.dumps({"records": list(records)}, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        started = self._clock()
        attempt = 0
        while True:
            attempt += 1
            remaining = deadline - self._clock()
            if remaining < MINIMUM_REQUEST_SECONDS:
                raise TransientFailure(
                    FailureReason("deliver", "no time left in the invocation to reach ServiceNow"), attempt - 1
                )
            outcome = self._attempt(body, remaining, attempt)
            if isinstance(outcome, Delivered):
                return Delivered(outcome.status, outcome.result, attempt, self._clock() - started)
            failure, wait = outcome
            if attempt >= self._settings.attempts:
                raise failure
            remaining = deadline - self._clock()
            if wait + MINIMUM_REQUEST_SECONDS > remaining:
                logger.warning(
                    "Not retrying: the wait would run past the invocation's deadline",
                    extra={"wait_seconds": round(wait, 3), "remaining_seconds": round(remaining, 3)},
                )
                raise failure
            logger.warning(
                "ServiceNow delivery failed, retrying",
                extra={"attempt": attempt, "reason": str(failure.reason), "wait_seconds": round(wait, 3)},
            )
            self._sleep(wait)

    def _backoff(self, attempt: int) -> float:
        # Full jitter: spreads the retries of many concurrent invocations.
        ceiling = min(BACKOFF_CAP_SECONDS, self._settings.backoff_base_seconds * 2 ** (attempt - 1))
        return random.uniform(0, ceiling)  # noqa: S311 - jitter, not cryptography

    def _attempt(self, body: bytes, remaining: float, attempt: int) -> Delivered | tuple[TransientFailure, float]:
        timeout = (
            min(self._settings.connect_timeout_seconds, remaining),
            min(self._settings.read_timeout_seconds, remaining),
        )
        started = self._clock()
        try:
            # Redirects are never followed: they could lead the credentials off the allowed hosts.
            response = self._session.post(
                self.event_api_url, data=body, auth=self.auth, timeout=timeout, allow_redirects=False
            )
        except TransientFailure as failure:  # the auth could not get a token just now
            return failure, self._backoff(attempt)
        except requests.exceptions.SSLError:
            # Not a passing fault: the same certificate fails the same way on every retry.
            raise PermanentFailure(untrusted_certificate_reason("deliver"), attempt) from None
        except requests.Timeout:
            reason = FailureReason("deliver", f"ServiceNow did not answer within {timeout[1]:.1f} s")
            return TransientFailure(reason, attempt), self._backoff(attempt)
        except requests.ConnectionError as error:
            reason = FailureReason("deliver", f"cannot connect to the instance: {type(error).__name__}")
            return TransientFailure(reason, attempt), self._backoff(attempt)
        elapsed = self._clock() - started
        status = response.status_code
        if 200 <= status < 300:
            return self._accepted(response, attempt, elapsed)
        if 300 <= status < 400:
            raise PermanentFailure(redirect_reason("deliver", response), attempt)
        message, detail = _error_of(response)
        reason = FailureReason("deliver", message, status, detail)
        if status in TRANSIENT_STATUSES:
            wait = retry_after_seconds(response)
            return TransientFailure(reason, attempt), self._backoff(attempt) if wait is None else wait
        if status == 401:
            self.auth.invalidate()
            raise AuthenticationRejected(FailureReason("deliver", message, status, detail or _hint(status)), attempt)
        if detail is None:
            reason = FailureReason("deliver", message, status, _hint(status))
        raise PermanentFailure(reason, attempt)

    def _accepted(self, response: requests.Response, attempt: int, elapsed: float) -> Delivered:
        # As in Kibana: a 2xx without `result` is not ServiceNow's event API answering.
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        result = body.get("result") if isinstance(body, dict) else None
        if result is None:
            raise PermanentFailure(
                FailureReason(
                    "deliver",
                    "ServiceNow answered without a result",
                    response.status_code,
                    "check that instance_url is the instance itself (not a proxy or SSO page) and that it is awake",
                ),
                attempt,
            )
        return Delivered(response.status_code, json.dumps(result)[:500], attempt, elapsed)
