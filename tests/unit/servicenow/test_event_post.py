"""EventPost, the event API's POST prepared once per connection, against two emulated
instances over real HTTP: what it sends, and a pool the session's pool manager let go."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
import requests
from requests.adapters import HTTPAdapter

from itom_forwarder.servicenow import EVENT_API_PATH
from itom_forwarder.servicenow.auth import BasicAuth
from itom_forwarder.servicenow.event_post import EventAnswer, EventPost
from itom_forwarder.servicenow.session import new_session
from local.emulator import ServiceNowEmulator

USER = "svc.event-post"
PASSWORD = "Ev3nt-p0st-passw0rd"
RECORD = {"source": "test", "node": "web-1", "severity": "3", "message_key": "event-post:1"}


@pytest.fixture
def instances() -> Iterator[tuple[ServiceNowEmulator, ServiceNowEmulator]]:
    with ServiceNowEmulator() as first, ServiceNowEmulator() as second:
        for instance in (first, second):
            instance.add_user(USER, PASSWORD)
        yield first, second


def _post(post: EventPost) -> EventAnswer:
    body = json.dumps({"records": [RECORD]}).encode()
    return post.send(body, BasicAuth(USER, PASSWORD), (2.0, 5.0), time.monotonic() + 10, time.monotonic)


def test_each_post_is_what_session_post_would_send(instances: tuple[ServiceNowEmulator, ServiceNowEmulator]) -> None:
    first, _ = instances
    session = new_session()
    post = EventPost(session, first.url + EVENT_API_PATH)
    for _ in range(3):
        assert _post(post).status_code == 200
    requests_seen = [request for request in first.requests if request.path == EVENT_API_PATH]
    assert len(requests_seen) == 3
    headers = requests_seen[0].headers
    assert headers["Content-Type"] == "application/json"
    assert headers["Accept"] == "application/json"
    assert headers["User-Agent"].startswith("aws-itom-forwarder/")
    assert "Cookie" not in headers
    assert {request.user for request in requests_seen} == {USER}
    assert first.connections_opened == 1  # kept alive
    assert len(first.events) == 3


def test_a_pool_the_pool_manager_let_go_keeps_serving(
    instances: tuple[ServiceNowEmulator, ServiceNowEmulator],
) -> None:
    """The session keeps one pool (pool_connections=1): a request to another host takes the
    instance's place in its pool manager. The POSTs keep the pool they hold, still open."""
    first, second = instances
    session = new_session()
    post = EventPost(session, first.url + EVENT_API_PATH)
    assert _post(post).status_code == 200
    session.get(second.url + "/stats.do", timeout=5)  # another host: the first pool is let go
    assert _post(post).status_code == 200
    assert len(first.events) == 2
    assert first.connections_opened == 1


def test_a_closed_pool_is_replaced_and_the_post_goes_through(
    instances: tuple[ServiceNowEmulator, ServiceNowEmulator],
) -> None:
    """A pool closed under the POSTs (urllib3 1.x closed the pools its manager let go; any
    holder may close one): nothing is sent on a closed pool, so the POST is made once more
    on the pool that replaces it."""
    first, _ = instances
    session = new_session()
    url = first.url + EVENT_API_PATH
    post = EventPost(session, url)
    assert _post(post).status_code == 200
    adapter = session.get_adapter(url)
    assert isinstance(adapter, HTTPAdapter)
    adapter.get_connection_with_tls_context(requests.Request("POST", url).prepare(), True, proxies={}).close()
    assert _post(post).status_code == 200
    assert len(first.events) == 2
    assert first.connections_opened == 2  # the new pool's own connection


def test_a_refused_connection_is_requests_connection_error() -> None:
    with ServiceNowEmulator() as instance:
        url = instance.url
    post = EventPost(new_session(), url + EVENT_API_PATH)
    with pytest.raises(requests.ConnectionError):
        _post(post)


def test_a_slow_answer_is_requests_read_timeout(instances: tuple[ServiceNowEmulator, ServiceNowEmulator]) -> None:
    first, _ = instances
    first.inject_delay(1.0)
    post = EventPost(new_session(), first.url + EVENT_API_PATH)
    body = json.dumps({"records": [RECORD]}).encode()
    with pytest.raises(requests.ReadTimeout):
        post.send(body, BasicAuth(USER, PASSWORD), (2.0, 0.2), time.monotonic() + 10, time.monotonic)
