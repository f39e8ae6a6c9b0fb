"""API Gateway ingestion: over real HTTP through the local API (as API Gateway would call
the function), and through lambda_handler with REST (1.0) and HTTP API (2.0) events."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local.api_server import LocalApiServer
from local.runner import SAMPLE_BEARER_TOKEN
from local.stack import LocalStack
from tests.events import bearer_headers, http_event, rest_event
from tests.integration.conftest import assert_no_secret_in
from tests.samples import load

API_KEY = "test-api-key-0123456789"
EVENT = {"node": "db-1", "metric_name": "disk", "severity": "critical", "message_key": "db-1/disk"}
DOCUMENTED = {200, 202, 400, 413, 415, 502}


@pytest.fixture
def api(stack: LocalStack) -> Iterator[tuple[LocalStack, str]]:
    server = LocalApiServer(stack.handler(), API_KEY).start()
    yield stack, server.url
    server.stop()


def post(
    url: str,
    body: Any = None,
    *,
    raw: bytes | None = None,
    content_type: str = "application/json",
    extra: dict[str, str] | None = None,
) -> requests.Response:
    data = raw if raw is not None else json.dumps(body).encode()
    headers = {"x-api-key": API_KEY, "Content-Type": content_type} if content_type else {"x-api-key": API_KEY}
    return requests.post(url, data=data, headers={**headers, **(extra or {})}, timeout=30)


def test_delivered_events_answer_200(api: tuple[LocalStack, str]) -> None:
    stack, url = api
    response = post(f"{url}/events", {"records": [EVENT, {**EVENT, "message_key": "db-1/cpu"}]})
    assert response.status_code == 200
    body = response.json()
    assert body["delivered"] == 2
    assert body["request_id"] == response.headers["X-Request-Id"]
    assert [event["severity"] for event in stack.emulator.events] == ["1", "1"]


def test_invalid_events_answer_400_listing_each_problem_and_send_nothing(api: tuple[LocalStack, str]) -> None:
    stack, url = api
    response = post(f"{url}/events", [EVENT, {"node": "x", "severity": "catastrophic", "time_of_event": "soon"}, 7])
    assert response.status_code == 400
    problems = response.json()["problems"]
    assert {(p["index"], p["field"]) for p in problems} == {(1, "severity"), (1, "time_of_event"), (2, None)}
    assert stack.emulator.count("POST", "/api/global/em/jsonv2") == 0
    assert stack.dead_letters() == []


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "error"),
    [
        (b"{not json", "application/json", 400, "malformed JSON"),
        (b"", "application/json", 400, "empty body"),
        (b'{"hello": "world"}', "application/json", 400, "expected one ITOM event object"),
        (b"node=db-1", "application/x-www-form-urlencoded", 415, "unsupported content type"),
        (b"plain words", "", 415, "the body is not JSON"),
        (json.dumps([EVENT] * 101).encode(), "application/json", 413, "101 events in one request, at most 100"),
        (b'{"description": "' + b"x" * (1024 * 1024) + b'"}', "application/json", 413, "larger than the limit"),
    ],
)
def test_refused_bodies(api: tuple[LocalStack, str], raw: bytes, content_type: str, status: int, error: str) -> None:
    _, url = api
    response = post(f"{url}/events", raw=raw, content_type=content_type)
    assert response.status_code == status
    assert error in response.json()["error"]


def test_transient_failure_answers_202_and_queues_the_events(api: tuple[LocalStack, str]) -> None:
    stack, url = api
    stack.emulator.inject_fault(503, count=10)
    response = post(f"{url}/events", EVENT)
    assert response.status_code == 202
    assert response.json()["queued"] == 1
    [message] = stack.dead_letters()
    body = json.loads(message["Body"])
    assert body["source"] == "api"
    assert json.loads(body["payload"]["body"]) == EVENT  # the request body, untouched
    assert body["payload"]["api"]["path"] == "/events"
    assert API_KEY not in message["Body"]
    assert body["reason"]["status"] == 503


def test_permanent_refusal_answers_502_with_servicenow_message(api: tuple[LocalStack, str]) -> None:
    stack, url = api
    stack.emulator.add_user("no.role", "No-r0le-pass", roles=())
    stack.put_secret(stack.basic_secret(username="no.role", password="No-r0le-pass"))
    stack.new_container()
    response = post(f"{url}/events", EVENT)
    assert response.status_code == 502
    body = response.json()
    assert body["error"] == "ServiceNow refused the events: User Not Authorized"
    assert (body["servicenow_status"], body["dead_lettered"]) == (403, 1)
    assert_no_secret_in(response.text, stack)
    assert stack.emulator.url not in response.text  # no instance internals
    assert len(stack.dead_letters()) == 1


def test_broken_secret_answers_502_without_details(api: tuple[LocalStack, str]) -> None:
    stack, url = api
    stack.put_secret({"instance_url": "http://servicenow.example.com", "username": "u", "password": "S3cret-pass"})
    stack.new_container()
    response = post(f"{url}/events", EVENT)
    assert response.status_code == 502
    assert response.json()["error"] == "the forwarder is misconfigured"
    assert "instance_url" not in response.text
    assert "servicenow.example.com" not in response.text


def test_missing_api_key_is_refused_by_the_gateway(api: tuple[LocalStack, str]) -> None:
    _, url = api
    response = requests.post(f"{url}/events", json=EVENT, timeout=10)
    assert (response.status_code, response.json()) == (403, {"message": "Forbidden"})


def alertmanager_pair() -> tuple[dict[str, Any], dict[str, Any]]:
    firing = load("prometheus-msteams-alertmanager-webhook-v4-firing.json")
    firing["alerts"][0]["fingerprint"] = "3c2d1f0e9a8b7c6d"
    resolved = copy.deepcopy(firing)
    resolved["status"] = "resolved"
    resolved["alerts"][0].update(status="resolved", endsAt="2018-03-07T12:00:00Z")
    return firing, resolved


def test_alertmanager_firing_then_resolved_opens_and_closes_one_alert(api: tuple[LocalStack, str]) -> None:
    stack, url = api
    firing, resolved = alertmanager_pair()
    token = bearer_headers(stack.bearer_token)
    assert post(f"{url}/alertmanager", firing, extra=token).status_code == 200
    assert [a.state for a in stack.emulator.alerts.values()] == ["Open"]
    assert post(f"{url}/alertmanager", resolved, extra=token).json()["delivered"] == 1
    [alert] = stack.emulator.alerts.values()
    assert (alert.message_key, alert.state, alert.event_count) == ("alertmanager:3c2d1f0e9a8b7c6d", "Closed", 2)


def test_alertmanager_route_refuses_other_shapes(api: tuple[LocalStack, str]) -> None:
    stack, url = api
    response = post(f"{url}/alertmanager", EVENT, extra=bearer_headers(stack.bearer_token))
    assert response.status_code == 400
    assert "expected an Alertmanager webhook" in response.json()["error"]


@pytest.mark.parametrize("make_event", [rest_event, http_event], ids=["rest-v1", "http-v2"])
@pytest.mark.parametrize("base64_body", [False, True], ids=["plain", "base64"])
def test_lambda_handler_answers_rest_and_http_api_events(stack: LocalStack, make_event: Any, base64_body: bool) -> None:
    # A bearer token: an HTTP API (payload 2.0) has no API keys, and the webhook routes take none.
    token = bearer_headers(stack.bearer_token)
    ok = stack.invoke(make_event("/events", json.dumps([EVENT]), base64_body=base64_body, headers=token))
    assert ok["statusCode"] == 200
    assert json.loads(ok["body"])["delivered"] == 1
    invalid = json.dumps({"severity": "nope", "node": "n"})
    bad = stack.invoke(make_event("/events", invalid, base64_body=base64_body, headers=token))
    assert bad["statusCode"] == 400
    firing, _ = alertmanager_pair()
    assert stack.invoke(make_event("/alertmanager", json.dumps(firing), headers=token))["statusCode"] == 200


@pytest.mark.parametrize(
    ("sample", "delivered"),
    [
        ("apigateway-rest-events.json", 1),
        ("apigateway-rest-alertmanager.json", 1),
        ("apigateway-rest-grafana.json", 2),
        ("apigateway-http-events.json", 2),
    ],
)
def test_api_gateway_samples_for_sam_local_invoke_are_delivered(stack: LocalStack, sample: str, delivered: int) -> None:
    # The webhook samples carry the bearer token a sender configured with it would send.
    stack.put_ingest_secret(stack.ingest_document(bearer_tokens=[stack.bearer_token, SAMPLE_BEARER_TOKEN]))
    answer = stack.invoke(load(sample))
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"])["delivered"] == delivered
    assert len(stack.emulator.events) == delivered


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
ITOM_RECORD = st.fixed_dictionaries(
    {},
    optional={
        key: JSON | st.sampled_from(["critical", "3", "0", "2026-11-29T08:00:00Z", "1764407700"])
        for key in ("node", "severity", "time_of_event", "message_key", "resolution_state", "additional_info", "type")
    },
)
BODIES = st.one_of(
    JSON.map(lambda value: (json.dumps(value).encode(), "application/json")),
    ITOM_RECORD.map(lambda value: (json.dumps(value).encode(), "application/json")),
    st.lists(ITOM_RECORD, max_size=3).map(lambda value: (json.dumps({"records": value}).encode(), "application/json")),
    st.binary(max_size=64).map(lambda raw: (raw, "application/json")),
    st.binary(max_size=64).map(lambda raw: (raw, "")),
    st.text(max_size=40).map(lambda text: (text.encode(), "text/plain")),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=BODIES, route=st.sampled_from(["/events", "/alertmanager"]))
def test_any_body_gets_a_documented_answer_never_a_crash(
    api: tuple[LocalStack, str], body: tuple[bytes, str], route: str
) -> None:
    # One stack and API server serve every example (a warm container taking requests).
    stack, url = api
    raw, content_type = body
    response = post(f"{url}{route}", raw=raw, content_type=content_type, extra=bearer_headers(stack.bearer_token))
    assert response.status_code in DOCUMENTED, response.text
    answer = response.json()
    assert answer["request_id"]
    assert ("error" in answer) == (response.status_code >= 400)
