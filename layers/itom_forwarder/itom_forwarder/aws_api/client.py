"""A client of one AWS service speaking the AWS JSON protocol (1.0 or 1.1) over a kept-alive
`requests.Session`: `call("GetSecretValue", {"SecretId": ...})` POSTs the payload to the
service's endpoint with `X-Amz-Target: <prefix>.<operation>`, signed (SigV4), and returns
the answer's JSON object.

Retries follow botocore's standard mode: up to `max_attempts` in all, on connection errors,
timeouts, HTTP 500/502/503/504 and 429, and the throttling and transient error codes, with
full-jitter exponential backoff (1 s base for throttling, `transient_backoff` otherwise,
20 s at most). With a `deadline` (time.monotonic), no attempt's timeouts and no backoff
reach past it. No retry quota (the token bucket of botocore's standard mode): the attempts
are few and each caller's deadline bounds them.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

import requests
from requests.adapters import HTTPAdapter

from itom_forwarder.aws_api.credentials import AwsCredentials
from itom_forwarder.aws_api.endpoints import endpoint_for, region_from
from itom_forwarder.aws_api.exceptions import AwsApiError, AwsConfigurationError, AwsUnavailable
from itom_forwarder.aws_api.signing import host_of, sign

__all__ = ["AwsJsonClient", "new_session"]

# botocore's standard mode (botocore/retries/standard.py).
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)
TRANSIENT_CODES = frozenset({"RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete"})
TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})
THROTTLING_STATUS = 429
MAX_BACKOFF_SECONDS = 20.0
THROTTLING_BACKOFF_SECONDS = 1.0
# Errors carry the first line of AWS's message, this long at most.
MAX_MESSAGE_CHARS = 300
REDACTED = "[redacted]"

CredentialsArgument = AwsCredentials | Callable[[], AwsCredentials] | None


class _Retryable(NamedTuple):
    """Why an attempt may be retried."""

    reason: str
    code: str | None = None
    status: int | None = None
    throttled: bool = False


def new_session(endpoint: str, environ: Mapping[str, str], *, pool_maxsize: int = 10) -> requests.Session:
    """A session for one endpoint: no retries of its own (the client's know the deadline),
    the proxy and the CA bundle resolved once. With `trust_env` on, requests would scan the
    environment on every request (see servicenow/session.py); the container's does not
    change. TLS is always verified: AWS_CA_BUNDLE (boto3's), REQUESTS_CA_BUNDLE or
    CURL_CA_BUNDLE name another bundle."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_maxsize, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.trust_env = False
    session.proxies = requests.utils.get_environ_proxies(endpoint)
    bundle = environ.get("AWS_CA_BUNDLE") or environ.get("REQUESTS_CA_BUNDLE") or environ.get("CURL_CA_BUNDLE")
    session.verify = bundle or True
    return session


def _error_code(response: requests.Response, body: Mapping[str, Any]) -> str:
    """`__type` ("com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException", or the
    bare name), else the x-amzn-ErrorType header ("Name:http://..."), else the status."""
    raw = body.get("__type") or response.headers.get("x-amzn-ErrorType") or ""
    code = str(raw).rsplit("#", 1)[-1].split(":", 1)[0].strip()
    return code or f"HTTP {response.status_code}"


def _first_line(text: str) -> str:
    line = text.strip().split("\n", 1)[0].strip()
    return line if len(line) <= MAX_MESSAGE_CHARS else line[: MAX_MESSAGE_CHARS - 1] + "…"


class AwsJsonClient:
    def __init__(
        self,
        *,
        service: str,
        signing_name: str,
        target_prefix: str,
        json_version: Literal["1.0", "1.1"],
        region: str,
        endpoint: str,
        credentials: CredentialsArgument = None,
        connect_timeout: float,
        read_timeout: float,
        max_attempts: int,
        session: requests.Session | None = None,
        user_agent: str = "itom-forwarder",
        transient_backoff: float = 0.05,
        environ: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        if json_version not in ("1.0", "1.1"):
            raise ValueError(f"json_version: 1.0 or 1.1, got {json_version!r}")
        if max_attempts < 1:
            raise ValueError("max_attempts: at least 1")
        if not endpoint.startswith(("https://", "http://")) or not host_of(endpoint):
            raise AwsConfigurationError(f"{service}: the endpoint must be an http(s) URL")
        environment = os.environ if environ is None else environ
        self.service = service
        self.signing_name = signing_name
        self.target_prefix = target_prefix
        self.region = region
        self.endpoint = endpoint
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_attempts = max_attempts
        self._url = endpoint if "/" in endpoint.split("://", 1)[1] else endpoint + "/"
        self._headers = {
            "Host": host_of(endpoint),
            "Content-Type": f"application/x-amz-json-{json_version}",
        }
        self._user_agent = user_agent
        self._credentials = self._credentials_source(credentials, environment)
        self._session = session if session is not None else new_session(endpoint, environment)
        self._transient_backoff = transient_backoff
        self._sleep = sleep
        self._jitter = jitter
        self.requests = 0  # HTTP requests sent, retries included

    @classmethod
    def from_environment(
        cls,
        environ: Mapping[str, str],
        *,
        service: str,
        service_env_name: str,
        endpoint_prefix: str,
        signing_name: str,
        target_prefix: str,
        json_version: Literal["1.0", "1.1"],
        connect_timeout: float,
        read_timeout: float,
        max_attempts: int,
        user_agent: str = "itom-forwarder",
        transient_backoff: float = 0.05,
    ) -> AwsJsonClient:
        """The client boto3 would build here: the region, the endpoint (AWS_ENDPOINT_URL...)
        and the credentials from `environ`."""
        region = region_from(environ)
        return cls(
            service=service,
            signing_name=signing_name,
            target_prefix=target_prefix,
            json_version=json_version,
            region=region,
            endpoint=endpoint_for(service_env_name, endpoint_prefix, region, environ),
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_attempts=max_attempts,
            user_agent=user_agent,
            transient_backoff=transient_backoff,
            environ=environ,
        )

    @staticmethod
    def _credentials_source(
        credentials: CredentialsArgument, environ: Mapping[str, str]
    ) -> Callable[[], AwsCredentials]:
        if credentials is None:
            return lambda: AwsCredentials.from_environment(environ)
        if isinstance(credentials, AwsCredentials):
            fixed = credentials
            return lambda: fixed
        return credentials

    def __repr__(self) -> str:
        return f"AwsJsonClient(service={self.service!r}, region={self.region!r}, endpoint={self.endpoint!r})"

    def close(self) -> None:
        self._session.close()

    def call(self, operation: str, payload: Mapping[str, Any], *, deadline: float | None = None) -> dict[str, Any]:
        """The operation's answer. Raises AwsApiError (AWS refused it), AwsUnavailable (no
        usable answer in `max_attempts`, or before `deadline`) or AwsConfigurationError."""
        # The wire format botocore writes: compact, ASCII (non-ASCII as \\u escapes).
        body = json.dumps(payload, separators=(",", ":")).encode("ascii")
        target = f"{self.target_prefix}.{operation}"
        attempt = 0
        while True:
            attempt += 1
            timeouts = self._timeouts(operation, attempt, deadline)
            credentials = self._credentials()
            outcome = self._attempt(operation, target, body, credentials, timeouts)
            if not isinstance(outcome, _Retryable):
                return outcome
            delay = self._backoff(attempt, outcome.throttled)
            out_of_time = deadline is not None and time.monotonic() + delay >= deadline
            if attempt >= self.max_attempts or out_of_time:
                raise AwsUnavailable(
                    service=self.service,
                    operation=operation,
                    reason=outcome.reason,
                    attempts=attempt,
                    code=outcome.code,
                    status=outcome.status,
                )
            self._sleep(delay)

    def _timeouts(self, operation: str, attempt: int, deadline: float | None) -> tuple[float, float]:
        if deadline is None:
            return self.connect_timeout, self.read_timeout
        left = deadline - time.monotonic()
        if left <= 0:
            raise AwsUnavailable(service=self.service, operation=operation, reason="no time left", attempts=attempt - 1)
        return min(self.connect_timeout, left), min(self.read_timeout, left)

    def _backoff(self, attempt: int, throttled: bool) -> float:
        base = THROTTLING_BACKOFF_SECONDS if throttled else self._transient_backoff
        return float(self._jitter() * min(base * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS))

    def _attempt(
        self,
        operation: str,
        target: str,
        body: bytes,
        credentials: AwsCredentials,
        timeouts: tuple[float, float],
    ) -> dict[str, Any] | _Retryable:
        """The answer, or why this attempt may be retried. Raises what a retry would not fix."""
        headers = {**self._headers, "X-Amz-Target": target}
        headers.update(
            sign(
                method="POST",
                url=self._url,
                headers=headers,
                body=body,
                credentials=credentials,
                region=self.region,
                service=self.signing_name,
                now=datetime.now(UTC),
            )
        )
        headers["User-Agent"] = self._user_agent
        self.requests += 1
        try:
            response = self._session.post(self._url, data=body, headers=headers, timeout=timeouts)
            content = response.content
        except requests.RequestException as error:
            # The type only: a requests error holds the prepared request, signature included.
            return _Retryable(type(error).__name__)
        if response.status_code < 300:
            try:
                answer = json.loads(content) if content.strip() else {}
            except ValueError:
                answer = None
            if isinstance(answer, dict):
                return answer
            return _Retryable("an answer that is not a JSON object", status=response.status_code)
        refused = self._api_error(operation, response, content, credentials)
        code, status = refused.code, refused.status
        throttled = code in THROTTLING_CODES or status == THROTTLING_STATUS
        if throttled or code in TRANSIENT_CODES or status in TRANSIENT_STATUSES:
            reason = code if code == f"HTTP {status}" else f"{code} (HTTP {status})"
            return _Retryable(reason, code, status, throttled)
        raise refused

    def _api_error(
        self, operation: str, response: requests.Response, content: bytes, credentials: AwsCredentials
    ) -> AwsApiError:
        text = content.decode("utf-8", "replace")
        # An answer may echo what was signed (InvalidSignatureException's canonical request
        # names the session token): what the credentials hold never goes further.
        for secret in (credentials.secret_access_key, credentials.session_token):
            if secret:
                text = text.replace(secret, REDACTED)
        try:
            parsed = json.loads(text) if text.strip() else {}
        except ValueError:
            parsed = {}
        body: dict[str, Any] = parsed if isinstance(parsed, dict) else {}
        message = body.get("message", body.get("Message", ""))
        return AwsApiError(
            service=self.service,
            operation=operation,
            code=_error_code(response, body),
            message=_first_line(message) if isinstance(message, str) else "",
            status=response.status_code,
            body=body,
            request_id=response.headers.get("x-amzn-RequestId"),
        )
