"""The event API client: one POST of many records, classified into an outcome.

`ServiceNowClient.send` returns `Delivered`, or raises `PermanentFailure` (retrying cannot
help: dead-letter now) or `TransientFailure` (retried here with backoff until the attempts
or the invocation's time run out; then the caller's retries take over).

It owns the whole 401 policy: a 401 drops a renewable credential (the OAuth token) and
sends once more with a new one; credentials still refused make it ask its connection
source for fresh ones (the secret may have been rotated) and send again only if they
changed.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import requests
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from urllib3.exceptions import ProtocolError

from itom_forwarder.failures import ConfigError, FailureReason, PermanentFailure, TransientFailure
from itom_forwarder.servicenow.answers import (
    TRANSIENT_STATUSES,
    AnswerTooSlow,
    error_of,
    hint,
    read_answer,
    redirect_reason,
    retry_after_seconds,
    untrusted_certificate_reason,
)
from itom_forwarder.servicenow.auth import BasicAuth, InstanceAuth
from itom_forwarder.servicenow.connection import ServiceNowConnection
from itom_forwarder.servicenow.event_post import EventAnswer, EventPost
from itom_forwarder.servicenow.exceptions import AuthenticationRejected, CredentialsRejected
from itom_forwarder.servicenow.options import ClientOptions
from itom_forwarder.servicenow.session import bind_session, new_session

if TYPE_CHECKING:
    from itom_forwarder.servicenow.oauth import TokenCache

logger = Logger(child=True)
metrics = Metrics()

EVENT_API_PATH = "/api/global/em/jsonv2"
# The event API's body as compact JSON (one encoder, not one built by json.dumps per POST).
_encode_body = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
BACKOFF_CAP_SECONDS = 8.0
# The least time worth starting a request with: below this, give the time back to the caller.
MINIMUM_REQUEST_SECONDS = 0.5


class ConnectionSource(Protocol):
    """Where the connection comes from: `current()` may be cached, `refresh()` re-reads."""

    def current(self) -> ServiceNowConnection: ...

    def refresh(self) -> ServiceNowConnection: ...


class Delivered(NamedTuple):
    status: int
    answer: object  # the answer's `result`, as ServiceNow sent it
    attempts: int
    elapsed_seconds: float
    # An earlier attempt got no answer (a timeout, a dropped connection): the instance may
    # still apply that copy later.
    unanswered: bool = False

    @property
    def result(self) -> str:
        """The answer's `result` as JSON text, cut to 500 characters (for the log; encoded
        only when asked for: a warm alert's DEBUG line is not written at INFO)."""
        return _result_text(self.answer)


def _result_text(result: object) -> str:
    return json.dumps(result)[:500]


def auth_for(
    connection: ServiceNowConnection,
    session: requests.Session,
    token_cache: TokenCache | None,
    clock: Callable[[], float] = time.monotonic,
) -> InstanceAuth:
    """The auth the secret asks for. OAuth's modules (PyJWT, cryptography) load only here."""
    if connection.use_oauth:
        from itom_forwarder.servicenow.oauth import OAuthJwtAuth, TokenCache

        return OAuthJwtAuth(connection, session, token_cache or TokenCache(), clock)
    if not connection.username or not connection.password:
        raise ConfigError("username, password: required for basic authentication")
    return BasicAuth(connection.username, connection.password)


_INSERTED = re.compile(r"^(\d+) events? (?:were|was) inserted")


def _warn_if_not_all_inserted(result: object, sent: int) -> None:
    """A 200 whose result reports fewer events inserted than sent, or an error, is still
    delivered (retrying would insert the others twice): it is logged and counted."""
    inserted: int | None = None
    if isinstance(result, dict):
        for value in result.values():
            match = _INSERTED.match(str(value))
            if match:
                inserted = (inserted or 0) + int(match.group(1))
        errored = any("error" in str(key).lower() for key in result)
    else:
        errored = False
    if (inserted is None or inserted >= sent) and not errored:
        return
    missing = sent - inserted if inserted is not None else sent
    logger.warning(
        "ServiceNow accepted the request but reports events not inserted",
        extra={"sent": sent, "inserted": inserted, "result": _result_text(result)},
    )
    metrics.add_metric(name="EventsNotInserted", unit=MetricUnit.Count, value=max(missing, 0))


class _Bound(NamedTuple):
    connection: ServiceNowConnection
    auth: InstanceAuth
    post: EventPost  # the event API's POST, prepared for this connection


class ServiceNowClient:
    """Sends records to the instance its connection source names, over one kept-alive session."""

    def __init__(
        self,
        connections: ConnectionSource,
        options: ClientOptions,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connections = connections
        self._options = options
        self._session = session or new_session()
        self._sleep = sleep
        self._clock = clock
        self._bound: _Bound | None = None
        self._token_cache: TokenCache | None = None

    @property
    def connection(self) -> ServiceNowConnection:
        """The connection in use (read from the source when none is bound yet)."""
        return self._bind().connection

    @property
    def auth(self) -> InstanceAuth:
        return self._bind().auth

    @property
    def secret_values(self) -> tuple[str, ...]:
        """Every secret value of the connection last used and what is derived from it (the
        Authorization header's value, the access token): to keep them out of any text."""
        if self._bound is None:
            return ()
        return (*self._bound.connection.secret_values, *self._bound.auth.secret_values())

    def _bind(self) -> _Bound:
        connection = self._connections.current()
        if self._bound is None or self._bound.connection != connection:
            # First use, or the cached secret expired and came back different (rotation).
            if connection.use_oauth and self._token_cache is None:
                from itom_forwarder.servicenow.oauth import TokenCache

                self._token_cache = TokenCache()  # outlives connections: a new secret version keeps its token
            bind_session(self._session, connection, tls_verify=self._options.tls_verify)
            auth = auth_for(connection, self._session, self._token_cache, self._clock)
            self._bound = _Bound(connection, auth, EventPost(self._session, connection.instance_url + EVENT_API_PATH))
        return self._bound

    def get(
        self,
        path: str,
        params: dict[str, str] | None = None,
        *,
        authenticated: bool = True,
        deadline: float | None = None,
    ) -> requests.Response:
        """A read from the instance (the connector check), with the same session and auth,
        over by `deadline` (a `clock()` time) whatever the instance does."""
        bound = self._bind()
        until = deadline if deadline is not None else self._clock() + self._options.read_timeout_seconds
        remaining = until - self._clock()
        if remaining < MINIMUM_REQUEST_SECONDS:
            raise requests.Timeout("no time left")
        if authenticated:
            bound.auth.limit_to(until)
        response = self._session.get(
            bound.connection.instance_url + path,
            params=params,
            auth=bound.auth if authenticated else None,
            timeout=(
                min(self._options.connect_timeout_seconds, remaining),
                min(self._options.read_timeout_seconds, remaining),
            ),
            allow_redirects=False,
            stream=True,
        )
        try:
            read_answer(response, until, self._clock)
        except AnswerTooSlow:
            raise requests.Timeout("the answer did not arrive in time") from None
        except ProtocolError as error:
            raise requests.ConnectionError(type(error).__name__) from None
        return response

    def send(self, records: Sequence[dict[str, str]], deadline: float) -> Delivered:
        """POST all records in one request, retrying transient failures until `deadline`
        (a `clock()` time) or the configured attempts run out."""
        body = _encode_body({"records": list(records)}).encode("utf-8")
        bound = self._bind()
        try:
            return self._send_renewing_token(bound, body, deadline, len(records))
        except CredentialsRejected:
            # Compared with the connection the refused POST used, not with whatever the
            # cache holds by now: a rotation picked up meanwhile must still be tried.
            if self._connections.refresh() == bound.connection:
                raise  # the secret has not changed: sending again cannot succeed
            logger.info("ServiceNow refused the credentials; the secret has changed, retrying with it")
            return self._send_renewing_token(self._bind(), body, deadline, len(records))

    def _send_renewing_token(self, bound: _Bound, body: bytes, deadline: float, records: int) -> Delivered:
        try:
            return self._send_retrying(bound, body, deadline, records)
        except AuthenticationRejected:
            bound.auth.invalidate()  # whatever was cached is refused: never reuse it
            if not bound.auth.renews_credentials:
                raise  # basic auth: the same credentials get the same answer
        # The token was revoked or expired early: one more try, with a new token.
        logger.info("ServiceNow refused the access token; retrying with a new one")
        try:
            return self._send_retrying(bound, body, deadline, records)
        except AuthenticationRejected:
            bound.auth.invalidate()
            raise

    def _send_retrying(self, bound: _Bound, body: bytes, deadline: float, records: int) -> Delivered:
        started = self._clock()
        attempt = 0
        unanswered = False
        while True:
            attempt += 1
            remaining = deadline - self._clock()
            if remaining < MINIMUM_REQUEST_SECONDS:
                raise TransientFailure(
                    FailureReason("deliver", "no time left in the invocation to reach ServiceNow"), attempt - 1
                )
            outcome = self._attempt(bound, body, remaining, attempt, records)
            if isinstance(outcome, Delivered):
                return Delivered(outcome.status, outcome.answer, attempt, self._clock() - started, unanswered)
            failure, wait = outcome
            unanswered = unanswered or failure.reason.status is None
            if attempt >= self._options.attempts:
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
        ceiling = min(BACKOFF_CAP_SECONDS, self._options.backoff_base_seconds * 2 ** (attempt - 1))
        return random.uniform(0, ceiling)  # noqa: S311 - jitter, not cryptography

    def _attempt(
        self, bound: _Bound, body: bytes, remaining: float, attempt: int, records: int
    ) -> Delivered | tuple[TransientFailure, float]:
        timeout = (
            min(self._options.connect_timeout_seconds, remaining),
            min(self._options.read_timeout_seconds, remaining),
        )
        started = self._clock()
        until = started + remaining
        bound.auth.limit_to(until)  # a token request, if one is needed, within the same time
        try:
            answer = bound.post.send(body, bound.auth, timeout, until, self._clock)
        except TransientFailure as failure:  # the auth could not get a token just now
            return failure, self._backoff(attempt)
        except requests.exceptions.SSLError:
            # Not a passing fault: the same certificate fails the same way on every retry.
            raise PermanentFailure(untrusted_certificate_reason("deliver"), attempt) from None
        except (requests.Timeout, AnswerTooSlow):
            reason = FailureReason("deliver", f"ServiceNow did not answer within {remaining:.1f} s")
            return TransientFailure(reason, attempt), self._backoff(attempt)
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError, ProtocolError, OSError) as error:
            reason = FailureReason("deliver", f"cannot connect to the instance: {type(error).__name__}")
            return TransientFailure(reason, attempt), self._backoff(attempt)
        return self._classify(answer, attempt, self._clock() - started, records)

    def _classify(
        self, response: EventAnswer, attempt: int, elapsed: float, records: int
    ) -> Delivered | tuple[TransientFailure, float]:
        status = response.status_code
        if 200 <= status < 300:
            return self._accepted(response, attempt, elapsed, records)
        if 300 <= status < 400:
            raise PermanentFailure(redirect_reason("deliver", response), attempt)
        message, detail = error_of(response)
        if status in TRANSIENT_STATUSES:
            wait = retry_after_seconds(response)
            failure = TransientFailure(FailureReason("deliver", message, status, detail), attempt)
            return failure, self._backoff(attempt) if wait is None else wait
        reason = FailureReason("deliver", message, status, detail or hint(status))
        if status == 401:
            raise AuthenticationRejected(reason, attempt)
        raise PermanentFailure(reason, attempt)

    def _accepted(self, response: EventAnswer, attempt: int, elapsed: float, records: int) -> Delivered:
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
        _warn_if_not_all_inserted(result, records)
        return Delivered(response.status_code, result, attempt, elapsed)
