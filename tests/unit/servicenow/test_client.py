"""ServiceNowClient against the emulated instance over real HTTP: the retry policy (with an
injected clock and sleep: the waits are recorded, never slept), the classification of
every answer, redirects, and the whole 401 policy for basic auth and OAuth."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from itom_forwarder.failures import PermanentFailure, TransientFailure
from itom_forwarder.servicenow import (
    EVENT_API_PATH,
    AuthenticationRejected,
    ClientOptions,
    Delivered,
    ServiceNowClient,
    ServiceNowConnection,
)
from itom_forwarder.servicenow.client import BACKOFF_CAP_SECONDS
from itom_forwarder.servicenow.session import new_session
from local.emulator import OAUTH_PATH, ServiceNowEmulator
from local.keys import KeyPair, make_key_pair
from local.stack import remember_secret

USER = "svc.client-test"
PASSWORD = "Cl1ent-test-passw0rd"
ROTATED_PASSWORD = "R0tated-client-passw0rd"
WRONG_PASSWORD = "Wr0ng-client-passw0rd"
EMAIL = "svc.client-test@example.com"
CLIENT_ID = "client-test-0123456789abcdef"
CLIENT_SECRET = "client-test-secret-value"
KEY_ID = "client-test-jwt"
remember_secret(PASSWORD, ROTATED_PASSWORD, WRONG_PASSWORD, CLIENT_SECRET)

RECORDS = [{"source": "client-test", "node": "db-1", "severity": "2", "message_key": "client-test/db-1"}]
START = 1_000.0


@dataclass
class Connections:
    """The client's connection source, in memory: `rotated` is what the next refresh()
    finds (a secret rotated since it was cached); without one, refresh() finds the same."""

    connection: ServiceNowConnection
    rotated: ServiceNowConnection | None = None
    refreshes: int = 0

    def current(self) -> ServiceNowConnection:
        return self.connection

    def refresh(self) -> ServiceNowConnection:
        self.refreshes += 1
        if self.rotated is not None:
            self.connection, self.rotated = self.rotated, None
        return self.connection


@dataclass
class Clock:
    """The client's clock and sleep: time moves only when the client waits."""

    now: float = START
    waits: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


ClientFactory = Callable[..., ServiceNowClient]


@pytest.fixture(scope="module")
def servicenow() -> Iterator[ServiceNowEmulator]:
    with ServiceNowEmulator() as emulator:
        yield emulator


@pytest.fixture
def instance(servicenow: ServiceNowEmulator) -> ServiceNowEmulator:
    servicenow.reset()
    servicenow.expire_tokens()
    servicenow.add_user(USER, PASSWORD, email=EMAIL)
    return servicenow


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_client(clock: Clock) -> Iterator[ClientFactory]:
    """`make_client(connections, **ClientOptions fields)`: a client on the recorded clock."""
    sessions = []

    def build(connections: Connections, **options: Any) -> ServiceNowClient:
        session = new_session()
        sessions.append(session)
        return ServiceNowClient(connections, ClientOptions(**options), session=session, sleep=clock.sleep, clock=clock)

    yield build
    for session in sessions:
        session.close()


@pytest.fixture
def seeded_jitter() -> Iterator[None]:
    """The jitter's random numbers repeat from run to run; the global state is restored."""
    state = random.getstate()
    random.seed(20261129)
    yield
    random.setstate(state)


def basic(url: str, password: str = PASSWORD) -> ServiceNowConnection:
    return ServiceNowConnection(instance_url=url, username=USER, password=password)


def statuses(emulator: ServiceNowEmulator, path: str = EVENT_API_PATH) -> list[int]:
    return [request.status for request in emulator.requests if request.path == path]


def error_body(message: str, detail: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "detail": detail}, "status": "failure"}


# ------------------------------------------------------------------- delivered


def test_an_accepted_post_is_delivered_at_once(instance: ServiceNowEmulator, make_client: ClientFactory) -> None:
    client = make_client(Connections(basic(instance.url)))
    delivered = client.send(RECORDS, deadline=START + 30)
    assert isinstance(delivered, Delivered)
    assert (delivered.status, delivered.attempts) == (200, 1)
    assert "1 events were inserted" in delivered.result
    assert instance.events == RECORDS
    [request] = instance.requests
    assert (request.method, request.path, request.user) == ("POST", EVENT_API_PATH, USER)
    assert json.loads(request.body) == {"records": RECORDS}


def test_posts_share_one_kept_alive_connection(
    instance: ServiceNowEmulator, make_client: ClientFactory, clock: Clock
) -> None:
    client = make_client(Connections(basic(instance.url)))
    instance.inject_fault(503, count=2)
    client.send(RECORDS, deadline=START + 30)
    client.send(RECORDS, deadline=clock.now + 30)
    assert statuses(instance) == [503, 503, 200, 200]
    assert instance.connections_opened == 1


def test_a_2xx_with_a_result_is_delivered_whatever_its_status(
    instance: ServiceNowEmulator, make_client: ClientFactory
) -> None:
    instance.inject_fault(202, body={"result": {"queued": 1}})
    delivered = make_client(Connections(basic(instance.url))).send(RECORDS, deadline=START + 30)
    assert (delivered.status, delivered.result) == (202, '{"queued": 1}')


# ------------------------------------------------------------------- transient


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_transient_statuses_are_retried(
    instance: ServiceNowEmulator, make_client: ClientFactory, clock: Clock, status: int
) -> None:
    instance.inject_fault(status)
    delivered = make_client(Connections(basic(instance.url))).send(RECORDS, deadline=START + 30)
    assert delivered.attempts == 2
    assert statuses(instance) == [status, 200]
    assert len(clock.waits) == 1
    assert instance.events == RECORDS


def test_a_dropped_connection_is_retried(
    instance: ServiceNowEmulator, make_client: ClientFactory, clock: Clock
) -> None:
    instance.inject_disconnect()
    delivered = make_client(Connections(basic(instance.url))).send(RECORDS, deadline=START + 30)
    assert delivered.attempts == 2
    assert len(clock.waits) == 1
    assert instance.events == RECORDS


@pytest.mark.usefixtures("seeded_jitter")
def test_backoff_is_full_jitter_doubling_up_to_its_ceiling(
    instance: ServiceNowEmulator, make_client: ClientFactory, clock: Clock
) -> None:
    client = make_client(Connections(basic(instance.url)), attempts=5, backoff_base_seconds=0.5)
    ceilings = (0.5, 1.0, 2.0, 4.0)  # the base, doubled at each retry
    runs = []
    for _ in range(20):
        clock.waits.clear()
        instance.inject_fault(503, count=4)
        assert client.send(RECORDS, deadline=clock.now + 60).attempts == 5
        runs.append(list(clock.waits))
    for waits in runs:
        assert all(0 <= wait <= ceiling for wait, ceiling in zip(waits, ceilings, strict=True)), waits
    for retry, ceiling in enumerate(ceilings):
        waits = [run[retry] for run in runs]
        # Full jitter: spread over the whole range, not a fixed delay.
        assert len(set(waits)) == len(waits)
        assert min(waits) < ceiling / 2 < max(waits)


@pytest.mark.usefixtures("seeded_jitter")
def test_backoff_never_waits_longer_than_its_cap(
    instance: ServiceNowEmulator, make_client: ClientFactory, clock: Clock
) -> None:
    client = make_client(Connections(basic(instance.url)), attempts=4, backoff_base_seconds=6.0)
    later_waits = []
    for _ in range(15):
        clock.waits.clear()
        instance.inject_fault(500, count=3)
        client.send(RECORDS, deadline=clock.now + 120)
        first, *later = clock.waits
        assert first <= 6.0
        later_waits.extend(later)
    # 12 s and 24 s uncapped: every wait stays within the cap, and uses the room up to it.
    assert max(later_waits) <= BACKOFF_CAP_SECONDS == 8.0
    assert max(later_waits) > 6.0


@pytest.mark.parametrize(("status", "seconds"), [(429, 7), (503, 3), (503, 0)])
def test_retry_after_in_seconds_is_the_wait(
    instance: ServiceNowEmulator, make_client: ClientFactory, clock: Clock, status: int, seconds: int
) -> None:
    instance.inject_fault(status, retry_after=seconds)
    delivered = make_client(Connections(basic(instance.url))).send(RECORDS, deadline=START + 30)
    assert clock.waits == [float(seconds)]
    assert delivered.attempts == 2


class _RetryAfterInstance(ThreadingHTTPServer):
    """An event API whose first answers are 503 with the given Retry-After values (the
    emulator's Retry-After is a number of seconds; ServiceNow may also send an HTTP date)."""

    daemon_threads = True

    def __init__(self, retry_after: list[str]) -> None:
        super().__init__(("127.0.0.1", 0), _RetryAfterHandler)
        self.retry_after = retry_after
        self.posts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _RetryAfterHandler(BaseHTTPRequestHandler):
    server: _RetryAfterInstance
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.posts += 1
        if self.server.retry_after:
            status, body = 503, error_body("Service Unavailable")
            headers = {"Retry-After": self.server.retry_after.pop(0)}
        else:
            status, body, headers = 200, {"result": {"inserted": 1}}, {}
        data = json.dumps(body).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", "Content-Length": str(len(data)), **headers}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@pytest.fixture
def retry_after_instance() -> Iterator[Callable[[list[str]], _RetryAfterInstance]]:
    servers: list[_RetryAfterInstance] = []

    def start(retry_after: list[str]) -> _RetryAfterInstance:
        server = _RetryAfterInstance(retry_after)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_retry_after_as_an_http_date_waits_until_then(
    retry_after_instance: Callable[[list[str]], _RetryAfterInstance], make_client: ClientFactory, clock: Clock
) -> None:
    then = datetime.now(UTC) + timedelta(seconds=30)
    past = datetime.now(UTC) - timedelta(hours=1)
    server = retry_after_instance([format_datetime(then, usegmt=True), format_datetime(past, usegmt=True)])
    delivered = make_client(Connections(basic(server.url))).send(RECORDS, deadline=START + 60)
    assert delivered.attempts == 3
    until_then, already_passed = clock.waits
    assert 28.0 < until_then <= 30.0  # the date has whole seconds
    assert already_passed == 0.0
    assert server.posts == 3


def test_an_unreadable_retry_after_falls_back_to_the_backoff(
    retry_after_instance: Callable[[list[str]], _RetryAfterInstance], make_client: ClientFactory, clock: Clock
) -> None:
    server = retry_after_instance(["soon", "Someday, 99 Foo 2026"])
    client = make_client(Connections(basic(server.url)), backoff_base_seconds=0.5)
    assert client.send(RECORDS, deadline=START + 60).attempts == 3
    first, second = clock.waits
    assert 0 <= first <= 0.5
    assert 0 <= second <= 1.0


def test_the_attempts_are_capped(instance: ServiceNowEmulator, make_client: ClientFactory, clock: Clock) -> None:
    instance.inject_fault(500, count=10)
    with pytest.raises(TransientFailure) as raised:
        make_client(Connections(basic(instance.url)), attempts=3).send(RECORDS, deadline=START + 60)
    failure = raised.value
    assert failure.attempts == 3
    assert (failure.reason.step, failure.reason.status, failure.reason.message) == (
        "deliver",
        500,
        "Internal Server Error",
    )
    assert statuses(instance) == [500, 500, 500]
    assert len(clock.waits) == 2  # no wait after the last attempt
    assert instance.events == []


def test_one_attempt_means_no_retry(instance: ServiceNowEmulator, make_client: ClientFactory, clock: Clock) -> None:
    instance.inject_fault(503)
    with pytest.raises(TransientFailure):
        make_client(Connections(basic(instance.url)), attempts=1).send(RECORDS, deadline=START + 60)
    assert statuses(instance) == [503]
    assert clock.waits == []


# -------------------------------------------------------------------- deadline


def test_no_time_left_sends_nothing(instance: ServiceNowEmulator, make_client: ClientFactory) -> None:
    with pytest.raises(TransientFailure, match="no time left") as raised:
        make_client(Connections(basic(instance.url))).send(RECORDS, deadline=START + 0.4)
    assert raised.value.attempts == 0
    assert instance.requests == []


def test_a_wait_that_would_pass_the_deadline_is_not_taken(
    instance: ServiceNowEmulator, make_client: ClientFactory, clock: Clock
) -> None:
    instance.inject_fault(503, count=2, retry_after=30)
    with pytest.raises(TransientFailure) as raised:
        make_client(Connections(basic(instance.url))).send(RECORDS, deadline=START + 10)
    assert (raised.value.reason.status, raised.value.attempts) == (503, 1)
    assert clock.waits == []
    assert statuses(instance) == [503]


def test_a_wait_that_ends_before_the_deadline_is_taken(
    instance: ServiceNowEmulator, make_client: ClientFactory, clock: Clock
) -> None:
    instance.inject_fault(503, retry_after=9)
    delivered = make_client(Connections(basic(instance.url))).send(RECORDS, deadline=START + 10)
    assert clock.waits == [9.0]
    assert delivered.attempts == 2


# ------------------------------------------------------------------- permanent


@pytest.mark.parametrize(
    ("status", "hint"),
    [
        (400, "ServiceNow rejected the request body"),
        (403, "the user lacks the evt_mgmt_integration role"),
        (404, "no event API at this URL: check instance_url"),
        (413, "the request body is larger than the instance accepts"),
        (415, "ServiceNow refused the request"),
    ],
)
def test_permanent_statuses_carry_servicenow_s_message_and_the_hint(
    instance: ServiceNowEmulator, make_client: ClientFactory, clock: Clock, status: int, hint: str
) -> None:
    instance.inject_fault(status, body=error_body("Bad thing"))
    with pytest.raises(PermanentFailure) as raised:
        make_client(Connections(basic(instance.url))).send(RECORDS, deadline=START + 30)
    assert not isinstance(raised.value, TransientFailure)
    reason = raised.value.reason
    assert (reason.step, reason.status, reason.message) == ("deliver", status, "Bad thing")
    assert reason.detail is not None
    assert reason.detail.startswith(hint)
    assert statuses(instance) == [status]  # not retried
    assert clock.waits == []


def test_servicenow_s_own_detail_is_kept(instance: ServiceNowEmulator, make_client: ClientFactory) -> None:
    instance.add_user("no.role", PASSWORD, roles=())
    connection = ServiceNowConnection(instance_url=instance.url, username="no.role", password=PASSWORD)
    with pytest.raises(PermanentFailure) as raised:
        make_client(Connections(connection)).send(RECORDS, deadline=START + 30)
    reason = raised.value.reason
    assert (reason.status, reason.message) == (403, "User Not Authorized")
    assert reason.detail == "The user does not have the role required by this API: evt_mgmt_integration"


def test_a_page_that_is_not_json_is_described_not_copied(
    instance: ServiceNowEmulator, make_client: ClientFactory
) -> None:
    instance.inject_fault(400, body="<html><body>Proxy says no: ticket 0xDEADBEEF</body></html>")
    with pytest.raises(PermanentFailure) as raised:
        make_client(Connections(basic(instance.url))).send(RECORDS, deadline=START + 30)
    assert raised.value.reason.message == "non-JSON answer (text/html)"
    assert "DEADBEEF" not in str(raised.value)


@pytest.mark.parametrize("body", [{"status": "ok"}, {"result": None}, "[]"])
def test_a_2xx_without_result_is_permanent(
    instance: ServiceNowEmulator, make_client: ClientFactory, body: dict[str, Any] | str
) -> None:
    instance.inject_fault(200, body=body)
    with pytest.raises(PermanentFailure) as raised:
        make_client(Connections(basic(instance.url))).send(RECORDS, deadline=START + 30)
    reason = raised.value.reason
    assert (reason.status, reason.message) == (200, "ServiceNow answered without a result")
    assert reason.detail is not None
    assert "instance_url is the instance itself" in reason.detail
    assert statuses(instance) == [200]


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_never_followed(instance: ServiceNowEmulator, make_client: ClientFactory, status: int) -> None:
    instance.inject_redirect("https://collector.example.net/api/global/em/jsonv2", status=status)
    with pytest.raises(PermanentFailure) as raised:
        make_client(Connections(basic(instance.url))).send(RECORDS, deadline=START + 30)
    reason = raised.value.reason
    assert reason.status == status
    assert reason.message == "the instance answered a redirect to collector.example.net, which is not followed"
    assert reason.detail is not None
    assert "set instance_url" in reason.detail
    assert [request.path for request in instance.requests] == [EVENT_API_PATH]


def test_a_redirect_within_the_instance_is_not_followed_either(
    instance: ServiceNowEmulator, make_client: ClientFactory
) -> None:
    instance.inject_redirect(f"{instance.url}/elsewhere", status=307)
    with pytest.raises(PermanentFailure, match=r"redirect to 127\.0\.0\.1,"):
        make_client(Connections(basic(instance.url))).send(RECORDS, deadline=START + 30)
    assert [request.path for request in instance.requests] == [EVENT_API_PATH]


# ---------------------------------------------------------- 401: basic auth


def test_refused_basic_credentials_ask_the_source_once_and_stop_when_unchanged(
    instance: ServiceNowEmulator, make_client: ClientFactory, clock: Clock
) -> None:
    connections = Connections(basic(instance.url, WRONG_PASSWORD))
    with pytest.raises(AuthenticationRejected) as raised:
        make_client(connections).send(RECORDS, deadline=START + 30)
    reason = raised.value.reason
    assert (reason.status, reason.message) == (401, "User Not Authenticated")
    assert connections.refreshes == 1
    assert statuses(instance) == [401]  # the same credentials would get the same answer
    assert clock.waits == []
    assert isinstance(raised.value, PermanentFailure)


def test_a_rotated_password_is_sent_again_after_a_401(instance: ServiceNowEmulator, make_client: ClientFactory) -> None:
    instance.set_password(USER, ROTATED_PASSWORD)
    connections = Connections(basic(instance.url), rotated=basic(instance.url, ROTATED_PASSWORD))
    client = make_client(connections)
    delivered = client.send(RECORDS, deadline=START + 30)
    assert delivered.status == 200
    assert connections.refreshes == 1
    assert statuses(instance) == [401, 200]
    assert client.connection.password == ROTATED_PASSWORD
    assert instance.events == RECORDS


def test_a_rotated_password_refused_too_is_not_sent_a_third_time(
    instance: ServiceNowEmulator, make_client: ClientFactory
) -> None:
    connections = Connections(basic(instance.url, WRONG_PASSWORD), rotated=basic(instance.url, ROTATED_PASSWORD))
    with pytest.raises(AuthenticationRejected):
        make_client(connections).send(RECORDS, deadline=START + 30)
    assert connections.refreshes == 1
    assert statuses(instance) == [401, 401]


def test_a_connection_changed_at_the_source_is_used_on_the_next_send(
    instance: ServiceNowEmulator, make_client: ClientFactory
) -> None:
    connections = Connections(basic(instance.url))
    client = make_client(connections)
    client.send(RECORDS, deadline=START + 30)
    first_auth = client.auth
    instance.set_password(USER, ROTATED_PASSWORD)
    connections.connection = basic(instance.url, ROTATED_PASSWORD)  # the cached secret expired, came back new
    client.send(RECORDS, deadline=START + 30)
    assert statuses(instance) == [200, 200]  # no 401 first: the new credentials were sent at once
    assert client.auth is not first_auth
    assert connections.refreshes == 0


@dataclass
class ExpiringConnections(Connections):
    """A source whose cache expires while a POST is on its way: the `expire_after`-th
    current() and every later call find the rotated connection (as SecretConnections does
    when its max age passes between the refused POST and the client's next look)."""

    expire_after: int = 2
    calls: int = 0

    def current(self) -> ServiceNowConnection:
        self.calls += 1
        if self.calls >= self.expire_after and self.rotated is not None:
            self.connection, self.rotated = self.rotated, None
        return self.connection


def test_a_rotation_found_just_after_the_401_is_tried_before_giving_up(
    instance: ServiceNowEmulator, make_client: ClientFactory
) -> None:
    """LIBRARY DEFECT (servicenow/client.py, ServiceNowClient.send): after a 401 it takes the
    connection to compare with the refreshed one from `self._bind()`, i.e. from a new
    `current()`, not the connection the refused POST used. When the source's cache expires
    between the two (SecretConnections with its max age passing during the send), `_bind()`
    already returns the rotated connection, `refresh()` returns the same, and the client
    gives up with the 401 without ever sending the rotated credentials: the event is
    dead-lettered although the secret holds working credentials."""
    instance.set_password(USER, ROTATED_PASSWORD)
    connections = ExpiringConnections(basic(instance.url), rotated=basic(instance.url, ROTATED_PASSWORD))
    delivered = make_client(connections).send(RECORDS, deadline=START + 30)
    assert delivered.status == 200
    assert statuses(instance) == [401, 200]


# -------------------------------------------------------------- 401: OAuth


@pytest.fixture(scope="module")
def key_pair() -> KeyPair:
    pair = make_key_pair(bits=2048)
    remember_secret(pair.private_key_pem)
    return pair


@pytest.fixture
def oauth(instance: ServiceNowEmulator, key_pair: KeyPair) -> ServiceNowConnection:
    """What the stack does for OAuth: register the client with its verifier certificate."""
    instance.add_oauth_client(CLIENT_ID, CLIENT_SECRET, KEY_ID, key_pair.certificate_pem, user_field="email")
    return ServiceNowConnection(
        instance_url=instance.url,
        use_oauth=True,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        jwt_key_id=KEY_ID,
        user_identifier=EMAIL,
        private_key=key_pair.private_key_pem,
    )


def test_a_token_is_requested_once_and_reused(
    instance: ServiceNowEmulator, make_client: ClientFactory, oauth: ServiceNowConnection
) -> None:
    client = make_client(Connections(oauth))
    for _ in range(3):
        client.send(RECORDS, deadline=START + 30)
    assert instance.token_requests == 1
    assert [request.user for request in instance.requests if request.path == EVENT_API_PATH] == [USER] * 3


def test_a_revoked_token_is_dropped_and_one_more_post_uses_a_new_one(
    instance: ServiceNowEmulator, make_client: ClientFactory, oauth: ServiceNowConnection, clock: Clock
) -> None:
    connections = Connections(oauth)
    client = make_client(connections)
    client.send(RECORDS, deadline=START + 30)
    instance.expire_tokens()  # revoked, or expired before its time
    delivered = client.send(RECORDS, deadline=START + 30)
    assert delivered.status == 200
    assert statuses(instance) == [200, 401, 200]
    assert instance.token_requests == 2
    assert connections.refreshes == 0  # a new token was enough: the secret is not re-read
    assert clock.waits == []


def test_a_new_token_refused_too_asks_the_source_and_is_dropped(
    instance: ServiceNowEmulator, make_client: ClientFactory, oauth: ServiceNowConnection
) -> None:
    connections = Connections(oauth)
    client = make_client(connections)
    instance.inject_fault(401, count=2, body=error_body("User Not Authenticated"))
    with pytest.raises(AuthenticationRejected) as raised:
        client.send(RECORDS, deadline=START + 30)
    assert raised.value.reason.status == 401
    assert statuses(instance) == [401, 401]  # one more POST, with a new token, then no more
    assert instance.token_requests == 2
    assert connections.refreshes == 1
    # The refused token is not kept: the next send asks for another.
    client.send(RECORDS, deadline=START + 30)
    assert instance.token_requests == 3
    assert statuses(instance) == [401, 401, 200]
    assert statuses(instance, OAUTH_PATH) == [200, 200, 200]
