"""What the emulated instance knows and has seen: users, OAuth clients, tokens, rate
limits, injected faults, recorded requests, events and alerts. No HTTP here."""

from __future__ import annotations

import base64
import binascii
import copy
import dataclasses
import hmac
import math
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

EVENT_PATH = "/api/global/em/jsonv2"
OAUTH_PATH = "/oauth_token.do"
SYS_CHOICE_PATH = "/api/now/table/sys_choice"
EM_EVENT_PATH = "/api/now/table/em_event"
EM_ALERT_PATH = "/api/now/table/em_alert"
STATS_PATH = "/_emulator/stats"

EVENT_ROLE = "evt_mgmt_integration"
CHOICES_ROLE = "personalize_choices"
DEFAULT_ROLES = (EVENT_ROLE, CHOICES_ROLE)

DEFAULT_MAX_CONTENT_LENGTH = 10 * 1024 * 1024  # glide.rest.max_content_length default
RATE_LIMIT_WINDOW_SECONDS = 3600
DEFAULT_ACTIVE_INTERVAL_SECONDS = 3600  # evt_mgmt.active_interval default (one hour)
OAUTH_USER_FIELDS = frozenset({"user_name", "email"})

_CLEAR_SEVERITY = "0"
_CLOSING_STATE = "Closing"
_FALLBACK_KEY_FIELDS = ("source", "node", "type", "resource", "metric_name")
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"  # time_of_event: ServiceNow's yyyy-MM-dd HH:mm:ss, UTC


# --------------------------------------------------------------------------- records


@dataclass
class EmulatedUser:
    """A sys_user record: credentials, roles and the email an OAuth `sub` may name."""

    username: str
    password: str = field(repr=False)
    roles: frozenset[str]
    email: str | None = None


@dataclass
class RecordedRequest:
    """One request as the emulator received it (secrets redacted).

    ``status`` is the status answered; 0 while the request is in flight or when the
    emulator dropped the connection without answering (``inject_disconnect``).
    """

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    user: str | None
    status: int


@dataclass
class Alert:
    """An em_alert record built from the events sharing one message key.

    The last three fields are not ServiceNow's: they are the emulator's oracle for tests of
    event ordering (ServiceNow applies events in arrival order and counts nothing of the
    kind). ``newest_time_of_event`` is the newest ``time_of_event`` among the events applied
    to this alert ("" while none had a valid one); ``stale_events`` and ``stale_reopenings``
    are defined in ``EmulatorState._apply_to_alerts``.
    """

    message_key: str
    state: str  # "Open" | "Closed"
    severity: str
    event_count: int
    first_event: dict[str, str]
    last_event: dict[str, str]
    reopened_count: int = 0
    newest_time_of_event: str = ""
    stale_events: int = 0
    stale_reopenings: int = 0


@dataclass
class OAuthClient:
    """An OAuth application registry entry with its JWT verifier (one key)."""

    client_id: str
    client_secret: str = field(repr=False)
    jwt_key_id: str
    public_key: RSAPublicKey = field(repr=False)
    user_field: str
    token_lifetime_seconds: int


@dataclass
class Fault:
    """An injected answer for the next ``remaining`` requests to ``path``."""

    kind: str  # "disconnect" | "delay" | "status" (a redirect is a status with a location) | "body"
    path: str
    remaining: int
    status: int = 0
    body: dict[str, Any] | str | None = None
    retry_after: int | None = None
    seconds: float = 0.0
    location: str | None = None
    # A "body" fault: `size` bytes sent `chunk` at a time, `seconds` apart; the connection
    # is reset after `reset_after` bytes when given.
    size: int = 0
    chunk: int = 0
    reset_after: int | None = None


@dataclass(frozen=True)
class RateDecision:
    """One request counted against a user's hourly limit (``limit`` None: unlimited)."""

    limit: int | None
    allowed: bool
    headers: list[tuple[str, str]]
    wait_seconds: int


@dataclass
class _Token:
    username: str
    expires_at: float  # time.monotonic()


def alert_key(record: dict[str, str]) -> str:
    """The message key, or the concatenation ServiceNow falls back to without one."""
    return record.get("message_key", "") or "".join(record.get(name, "") for name in _FALLBACK_KEY_FIELDS)


def event_time(value: str | None) -> datetime | None:
    """A ``time_of_event`` as a naive UTC datetime; None when missing or not in
    ServiceNow's ``yyyy-MM-dd HH:mm:ss`` (such an event is never judged stale)."""
    if not value:
        return None
    try:
        return datetime.strptime(value, _TIME_FORMAT)
    except ValueError:
        return None


def load_rsa_public_key(pem: str | bytes) -> RSAPublicKey:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    data = pem.encode("ascii") if isinstance(pem, str) else pem
    key: object
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            key = x509.load_pem_x509_certificate(data).public_key()
        else:
            key = load_pem_public_key(data)
    except ValueError as error:
        raise ValueError(f"certificate_pem is not a PEM X.509 certificate or public key: {error}") from error
    if not isinstance(key, rsa.RSAPublicKey):
        raise TypeError("the JWT verifier needs an RSA certificate or public key")
    return key


class EmulatorState:
    """The instance's records behind one lock; the public methods are the test API of
    ``ServiceNowEmulator`` (configuration, fault injection, inspection).

    Settings are plain attributes, read on every request:

    * ``max_content_length``: glide.rest.max_content_length, in bytes.
    * ``active_interval_seconds``: evt_mgmt.active_interval: a closed alert is reopened
      by a (non-clear) event at most this long after it closed; after that the event
      creates a new alert for the key.
    * ``clock``: the monotonic clock alert closing is timed with (``time.monotonic``);
      tests replace it to step over the active interval without waiting.
    * ``compress_answers``: answer with a gzip body (``Content-Encoding: gzip``) whenever
      the request's ``Accept-Encoding`` allows it, as an instance's web tier may (requests
      sends ``Accept-Encoding: gzip, deflate`` by default). Off by default.
    """

    # Every access token any emulator in this process issued (tests scan output for them).
    every_issued_token: ClassVar[set[str]] = set()

    def __init__(self) -> None:
        self.max_content_length = DEFAULT_MAX_CONTENT_LENGTH
        self.active_interval_seconds: float = DEFAULT_ACTIVE_INTERVAL_SECONDS
        self.clock: Callable[[], float] = time.monotonic
        self.compress_answers = False
        self._lock = threading.Lock()
        self._users: dict[str, EmulatedUser] = {}
        self._clients: dict[str, OAuthClient] = {}
        self._tokens: dict[str, _Token] = {}
        self._issued_tokens: list[str] = []
        self._used_jtis: set[tuple[str, str]] = set()
        self._rate_limits: dict[str, int] = {}
        self._rate_windows: dict[str, deque[float]] = {}
        self._rate_rules: dict[str, str] = {}
        self._faults: list[Fault] = []
        self._requests: list[RecordedRequest] = []
        self._events: list[dict[str, str]] = []
        self._alerts: dict[str, Alert] = {}  # the current alert of each key
        self._alerts_created: dict[str, int] = {}
        self._closed_at: dict[str, float] = {}  # clock() when the key's current alert closed
        self._newest_time: dict[str, datetime] = {}  # newest time_of_event received per key
        self._stale_events = 0
        self._stale_reopenings = 0
        self._connections_opened = 0
        self._token_requests = 0

    # ------------------------------------------------------------ configuration

    def add_user(
        self,
        username: str,
        password: str,
        roles: Iterable[str] = DEFAULT_ROLES,
        email: str | None = None,
    ) -> EmulatedUser:
        user = EmulatedUser(username, password, frozenset(roles), email)
        with self._lock:
            self._users[username] = user
        return user

    def set_password(self, username: str, password: str) -> None:
        with self._lock:
            self._user(username).password = password

    def add_oauth_client(  # noqa: PLR0917 - the positional signature is part of the API
        self,
        client_id: str,
        client_secret: str,
        jwt_key_id: str,
        certificate_pem: str | bytes,
        user_field: str = "user_name",
        token_lifetime_seconds: int = 1800,
    ) -> None:
        if user_field not in OAUTH_USER_FIELDS:
            raise ValueError(f"user_field must be one of {sorted(OAUTH_USER_FIELDS)}")
        public_key = load_rsa_public_key(certificate_pem)
        client = OAuthClient(client_id, client_secret, jwt_key_id, public_key, user_field, token_lifetime_seconds)
        with self._lock:
            self._clients[client_id] = client

    def expire_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    def set_rate_limit(self, username: str, requests_per_hour: int | None) -> None:
        with self._lock:
            self._user(username)
            if requests_per_hour is None:
                self._rate_limits.pop(username, None)
                self._rate_windows.pop(username, None)
                return
            if requests_per_hour < 0:
                raise ValueError("requests_per_hour must be >= 0")
            self._rate_limits[username] = requests_per_hour
            self._rate_rules.setdefault(username, secrets.token_hex(16))

    def inject_fault(
        self,
        status: int,
        count: int = 1,
        *,
        path: str = EVENT_PATH,
        body: dict[str, Any] | str | None = None,
        retry_after: int | None = None,
    ) -> None:
        self._add_fault(Fault("status", path, count, status, body, retry_after))

    def inject_delay(self, seconds: float, count: int = 1, *, path: str = EVENT_PATH) -> None:
        self._add_fault(Fault("delay", path, count, seconds=seconds))

    def inject_body(
        self,
        status: int,
        size: int,
        *,
        chunk: int = 65_536,
        interval_seconds: float = 0.0,
        reset_after: int | None = None,
        count: int = 1,
        path: str = EVENT_PATH,
    ) -> None:
        """Answer the next ``count`` requests to ``path`` with ``status`` and a body of
        ``size`` bytes sent ``chunk`` bytes every ``interval_seconds`` (a slow or huge
        answer), resetting the connection after ``reset_after`` bytes when given."""
        fault = Fault("body", path, count, status, seconds=interval_seconds, size=size, chunk=chunk)
        self._add_fault(replace(fault, reset_after=reset_after))

    def inject_disconnect(self, count: int = 1, *, path: str = EVENT_PATH) -> None:
        """Close the connection of the next ``count`` requests to ``path`` without an answer."""
        self._add_fault(Fault("disconnect", path, count))

    def inject_redirect(self, location: str, status: int = 307, count: int = 1, *, path: str = EVENT_PATH) -> None:
        """Answer the next ``count`` requests to ``path`` with a redirect to ``location``
        (empty body), e.g. to check a client never follows one to a host it does not trust."""
        if not 300 <= status <= 399:
            raise ValueError("a redirect status is 3xx")
        if not location or any(c in location for c in "\r\n"):
            raise ValueError("location must be a non-empty single-line string")
        self._add_fault(Fault("status", path, count, status, location=location))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def reset(self) -> None:
        """Forget events, alerts (with their history and stale counts), requests, faults,
        rate limits and counters.

        Users, OAuth clients, issued tokens, used JWT IDs and the settings stay.
        """
        with self._lock:
            self._faults.clear()
            self._requests.clear()
            self._events.clear()
            self._alerts.clear()
            self._alerts_created.clear()
            self._closed_at.clear()
            self._newest_time.clear()
            self._stale_events = 0
            self._stale_reopenings = 0
            self._rate_limits.clear()
            self._rate_windows.clear()
            self._connections_opened = 0
            self._token_requests = 0

    # ---------------------------------------------------------------- inspection

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [copy.deepcopy(request) for request in self._requests]

    @property
    def events(self) -> list[dict[str, str]]:
        with self._lock:
            return [dict(event) for event in self._events]

    @property
    def alerts(self) -> dict[str, Alert]:
        """The current alert of each message key (a newer one replaces a closed one once
        the active interval is over; ``alerts_created`` counts them all)."""
        with self._lock:
            return {key: copy.deepcopy(alert) for key, alert in self._alerts.items()}

    @property
    def alerts_created(self) -> dict[str, int]:
        """How many alerts each message key has had: 1 for its first, +1 for each one
        created after its previous alert had been closed longer than the active interval."""
        with self._lock:
            return dict(self._alerts_created)

    def alert_states(self) -> dict[str, str]:
        """The state ("Open" or "Closed") of each key's current alert."""
        with self._lock:
            return {key: alert.state for key, alert in self._alerts.items()}

    @property
    def connections_opened(self) -> int:
        with self._lock:
            return self._connections_opened

    @property
    def token_requests(self) -> int:
        with self._lock:
            return self._token_requests

    @property
    def issued_tokens(self) -> list[str]:
        """Every access token issued so far (tests check none reaches any output)."""
        with self._lock:
            return list(self._issued_tokens)

    def count(self, method: str, path: str) -> int:
        method = method.upper()
        with self._lock:
            return sum(1 for r in self._requests if r.method == method and r.path == path)

    def stats(self) -> dict[str, int]:
        """What the instance has seen, for a benchmark or test in another process.

        ``alerts_created`` is the number of alerts ever created (replaced ones included);
        ``stale_events`` and ``stale_reopenings`` are the totals over every alert (defined
        in ``_apply_to_alerts``; the emulator's oracle, ServiceNow has no such counter).
        """
        with self._lock:
            posts = sum(1 for r in self._requests if r.method == "POST" and r.path == EVENT_PATH)
            return {
                "event_posts": posts,
                "events": len(self._events),
                "token_requests": self._token_requests,
                "connections_opened": self._connections_opened,
                "alerts_created": sum(self._alerts_created.values()),
                "stale_events": self._stale_events,
                "stale_reopenings": self._stale_reopenings,
            }

    # ------------------------------------------------- used by the API and server

    def connection_opened(self) -> None:
        with self._lock:
            self._connections_opened += 1

    def record(self, request: RecordedRequest) -> RecordedRequest:
        with self._lock:
            self._requests.append(request)
            if request.method == "POST" and request.path == OAUTH_PATH:
                self._token_requests += 1
        return request

    def finish(self, request: RecordedRequest, status: int, user: str | None) -> None:
        with self._lock:
            request.status = status
            request.user = user

    def take_fault(self, kind: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.kind == kind and fault.path == path:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def authenticate(self, authorization: str) -> EmulatedUser | None:
        """The user a Basic or Bearer ``Authorization`` header value names, if valid."""
        scheme, _, credentials = authorization.strip().partition(" ")
        credentials = credentials.strip()
        with self._lock:
            if scheme.lower() == "basic":
                try:
                    decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
                except (binascii.Error, UnicodeDecodeError):
                    return None
                username, sep, password = decoded.partition(":")
                user = self._users.get(username)
                if not sep or user is None:
                    return None
                if not hmac.compare_digest(user.password.encode(), password.encode()):
                    return None
                return user
            if scheme.lower() == "bearer":
                token = self._tokens.get(credentials)
                if token is None:
                    return None
                if time.monotonic() >= token.expires_at:
                    del self._tokens[credentials]
                    return None
                return self._users.get(token.username)
        return None

    def check_rate_limit(self, username: str) -> RateDecision:
        """Count one request against the user's sliding one-hour window."""
        with self._lock:
            limit = self._rate_limits.get(username)
            if limit is None:
                return RateDecision(None, True, [], 0)
            now = time.monotonic()
            window = self._rate_windows.setdefault(username, deque())
            while window and window[0] <= now - RATE_LIMIT_WINDOW_SECONDS:
                window.popleft()
            allowed = len(window) < limit
            if allowed:
                window.append(now)
            oldest = window[0] if window else now
            wait = max(1, math.ceil(oldest + RATE_LIMIT_WINDOW_SECONDS - now))
            headers = [
                ("X-RateLimit-Limit", str(limit)),
                ("X-RateLimit-Reset", str(int(time.time()) + wait)),
                ("X-RateLimit-Rule", self._rate_rules[username]),
            ]
            return RateDecision(limit, allowed, headers, wait)

    def store_events(self, records: list[dict[str, str]]) -> None:
        with self._lock:
            for record in records:
                self._events.append(dict(record))
                self._apply_to_alerts(record)

    def table_rows(self, path: str) -> list[dict[str, Any]]:
        """Copies of the em_event or em_alert records."""
        with self._lock:
            if path == EM_EVENT_PATH:
                return [dict(event) for event in self._events]
            return [dataclasses.asdict(alert) for alert in self._alerts.values()]

    def oauth_client(self, client_id: str) -> OAuthClient | None:
        with self._lock:
            return self._clients.get(client_id)

    def issue_token(self, client: OAuthClient, subject: str, jti: str | None) -> tuple[str, str] | str:
        """(token, username) for the user ``subject`` names, or what is wrong (a message)."""
        with self._lock:
            if jti is not None and (client.client_id, jti) in self._used_jtis:
                return "JWT ID (jti) has already been used"
            user = next(
                (
                    u
                    for u in self._users.values()
                    if (u.username if client.user_field == "user_name" else u.email) == subject
                ),
                None,
            )
            if user is None:
                return "User not found"
            if jti is not None:
                self._used_jtis.add((client.client_id, jti))
            token = secrets.token_urlsafe(48)
            self._tokens[token] = _Token(user.username, time.monotonic() + client.token_lifetime_seconds)
            self._issued_tokens.append(token)
            EmulatorState.every_issued_token.add(token)
            return token, user.username

    # ------------------------------------------------------------------ internals

    def _user(self, username: str) -> EmulatedUser:
        try:
            return self._users[username]
        except KeyError:
            raise KeyError(f"unknown user {username!r}") from None

    def _add_fault(self, fault: Fault) -> None:
        if fault.remaining < 1:
            raise ValueError("count must be >= 1")
        with self._lock:
            self._faults.append(fault)

    def _apply_to_alerts(self, record: dict[str, str]) -> None:
        """Apply one event as ServiceNow does: by message key, in arrival order, whatever
        its ``time_of_event``.

        A clear (severity "0" or resolution_state "Closing") closes the key's open alert,
        keeping its severity, and does nothing without one. Any other event updates the
        open alert, reopens a closed one (``reopened_count``) if it closed at most
        ``active_interval_seconds`` ago, and otherwise creates a new alert (Open, one event)
        that replaces it in ``alerts`` and counts in ``alerts_created``.

        The ordering oracle (not ServiceNow's), judged on valid ``time_of_event`` values
        only; an event without one is never stale and moves no reference:

        * ``stale_events`` counts each event that was applied (it created, updated, closed
          or reopened an alert) and is older than an event received before it with the same
          key: applied or not (a clear that found no open alert counts as received), of the
          current alert or of an earlier one. An equal time is not stale (the same event
          again). It is counted on the alert the event was applied to and in the total.
        * ``stale_reopenings`` counts each reopening by an event older than the clear that
          closed the alert (each is also a stale event).
        """
        key = alert_key(record)
        moment = event_time(record.get("time_of_event"))
        newest = self._newest_time.get(key)
        stale = moment is not None and newest is not None and moment < newest
        if moment is not None and (newest is None or moment > newest):
            self._newest_time[key] = moment
        alert = self._alerts.get(key)
        severity = record.get("severity")
        closing = severity == _CLEAR_SEVERITY or record.get("resolution_state") == _CLOSING_STATE
        if closing:
            if alert is not None and alert.state == "Open":
                alert.state = "Closed"
                alert.event_count += 1
                alert.last_event = dict(record)
                if severity is not None:
                    alert.severity = severity
                self._closed_at[key] = self.clock()
                self._note_applied(alert, moment, stale=stale)
            return
        if alert is not None and alert.state == "Closed":
            if self.clock() - self._closed_at[key] > self.active_interval_seconds:
                alert = None  # past evt_mgmt.active_interval: a new alert, not a reopening
            else:
                closed_by = event_time(alert.last_event.get("time_of_event"))
                if moment is not None and closed_by is not None and moment < closed_by:
                    alert.stale_reopenings += 1
                    self._stale_reopenings += 1
                alert.state = "Open"
                alert.reopened_count += 1
            del self._closed_at[key]
        if alert is None:
            alert = Alert(key, "Open", severity or "", 1, dict(record), dict(record))
            self._alerts[key] = alert
            self._alerts_created[key] = self._alerts_created.get(key, 0) + 1
            self._note_applied(alert, moment, stale=stale)
            return
        alert.event_count += 1
        alert.last_event = dict(record)
        if severity is not None:
            alert.severity = severity
        self._note_applied(alert, moment, stale=stale)

    def _note_applied(self, alert: Alert, moment: datetime | None, *, stale: bool) -> None:
        if stale:
            alert.stale_events += 1
            self._stale_events += 1
        if moment is not None:
            current = event_time(alert.newest_time_of_event)
            if current is None or moment > current:
                # strftime's %Y does not pad years before 1000 on every platform
                alert.newest_time_of_event = f"{moment.year:04d}-{moment:%m-%d %H:%M:%S}"
