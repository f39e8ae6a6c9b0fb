"""The webhook routes as Alertmanager and Grafana use them, through lambda_handler with REST
API (1.0) and HTTP API (2.0) events, against the emulator and moto over real sockets:
each credential kind accepted, every wrong one refused with 401 and nothing sent or kept,
a rotated credential picked up, a group of any size delivered in full, an outage answered
2xx with the alerts kept, and real Grafana payloads opening and closing one alert."""

from __future__ import annotations

import copy
import io
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from local.lambda_context import LocalLambdaContext
from local.stack import LocalStack
from tests.events import basic_headers, bearer_headers, grafana_signature_headers, http_event, rest_event
from tests.integration.conftest import StackFactory, assert_no_secret_in
from tests.integration.functions import load_redrive_app
from tests.samples import load

EVENT_PATH = "/api/global/em/jsonv2"
EventBuilder = Callable[..., dict[str, Any]]
BUILDERS = pytest.mark.parametrize("build", [rest_event, http_event], ids=["rest-1.0", "http-2.0"])
ALERTMANAGER_FIRING = "prometheus-msteams-alertmanager-webhook-v4-firing.json"
GRAFANA_FIRING = "grafana-docs-grafana-webhook-firing-two-alerts.json"
GRAFANA_RESOLVED = "zulip-grafana-webhook-resolved.json"


def request(build: EventBuilder, path: str, body: str, *, headers: dict[str, str]) -> dict[str, Any]:
    """A webhook request: no API key (a REST event's identity has none; HTTP APIs have none)."""
    return (
        build(path, body, headers=headers, api_key=False) if build is rest_event else build(path, body, headers=headers)
    )


def sample_text(name: str) -> str:
    return json.dumps(load(name))


def answer_of(result: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return int(result["statusCode"]), json.loads(result["body"])


def header_of(result: dict[str, Any], name: str) -> str:
    """A response header, from a REST (multiValueHeaders) or HTTP API (headers) answer."""
    single = {key.lower(): value for key, value in (result.get("headers") or {}).items()}
    multi = {key.lower(): ", ".join(values) for key, values in (result.get("multiValueHeaders") or {}).items()}
    return str({**multi, **single}[name.lower()])


def posted(stack: LocalStack) -> int:
    return stack.emulator.count("POST", EVENT_PATH)


def alertmanager_group(size: int) -> dict[str, Any]:
    """One alertname across `size` pods, as Alertmanager groups them."""
    alerts = [
        {
            "status": "firing",
            "labels": {"alertname": "PodCrashLooping", "pod": f"api-{index}", "severity": "critical"},
            "annotations": {"summary": f"pod api-{index} restarts"},
            "startsAt": "2026-12-01T08:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": f"{index:016x}",
        }
        for index in range(size)
    ]
    return {"version": "4", "status": "firing", "receiver": "servicenow", "groupKey": "{}:{}", "alerts": alerts}


@BUILDERS
@pytest.mark.parametrize("path", ["/alertmanager", "/grafana"])
def test_a_bearer_token_or_a_basic_login_is_accepted(stack: LocalStack, build: EventBuilder, path: str) -> None:
    body = sample_text(ALERTMANAGER_FIRING if path == "/alertmanager" else GRAFANA_FIRING)
    expected = len(json.loads(body)["alerts"])
    for headers in (bearer_headers(stack.bearer_token), basic_headers(stack.basic_username, stack.basic_password)):
        status, answer = answer_of(stack.invoke(request(build, path, body, headers=headers)))
        assert (status, answer["delivered"]) == (200, expected)
    assert len(stack.emulator.events) == 2 * expected


@BUILDERS
def test_a_grafana_signature_with_and_without_a_timestamp_is_accepted(stack: LocalStack, build: EventBuilder) -> None:
    body = sample_text(GRAFANA_FIRING)
    untimed = {k: v for k, v in stack.ingest_document().items() if k != "grafana_hmac_timestamp_header"}
    stack.put_ingest_secret(untimed)
    stack.new_container()
    headers = grafana_signature_headers(stack.grafana_hmac_secret, body.encode(), None)
    assert answer_of(stack.invoke(request(build, "/grafana", body, headers=headers)))[0] == 200
    stack.put_ingest_secret({**untimed, "grafana_hmac_timestamp_header": stack.grafana_timestamp_header})
    stack.new_container()
    headers = grafana_signature_headers(stack.grafana_hmac_secret, body.encode(), stack.grafana_timestamp_header)
    status, answer = answer_of(stack.invoke(request(build, "/grafana", body, headers=headers)))
    assert (status, answer["delivered"]) == (200, 2)
    assert [event["source"] for event in stack.emulator.events] == ["Grafana"] * 4


def _refusals(stack: LocalStack, body: str) -> dict[str, dict[str, str]]:
    now = int(time.time())
    header = stack.grafana_timestamp_header
    signed = grafana_signature_headers(stack.grafana_hmac_secret, body.encode(), header, now=now)
    tampered_body = body.replace("High memory usage", "Low memory usage")
    assert tampered_body != body
    return {
        "missing": {},
        "wrong bearer": bearer_headers("not-the-token"),
        "wrong password": basic_headers(stack.basic_username, "not-the-password"),
        "unknown user": basic_headers("someone", stack.basic_password),
        "other scheme": {"Authorization": f"Digest {stack.bearer_token}"},
        "tampered body": {**signed, "__body__": tampered_body},
        "stale timestamp": grafana_signature_headers(stack.grafana_hmac_secret, body.encode(), header, now=now - 301),
        "future timestamp": grafana_signature_headers(stack.grafana_hmac_secret, body.encode(), header, now=now + 330),
        "no timestamp": {k: v for k, v in signed.items() if k != header},
        "another secret": grafana_signature_headers("not-the-secret", body.encode(), header, now=now),
    }


@BUILDERS
def test_missing_wrong_tampered_and_stale_credentials_are_refused_with_401(
    stack: LocalStack, build: EventBuilder, function_logs: io.StringIO
) -> None:
    body = sample_text(GRAFANA_FIRING)
    for case, headers in _refusals(stack, body).items():
        sent = headers.pop("__body__", body)
        result = stack.invoke(request(build, "/grafana", sent, headers=headers))
        status, answer = answer_of(result)
        assert status == 401, case
        challenge = header_of(result, "WWW-Authenticate")
        assert challenge.startswith("Bearer realm="), case
        assert "Basic realm=" in challenge, case
        assert "authentication required" in answer["error"], case
    assert posted(stack) == 0
    assert stack.dead_letters() == []
    logged = function_logs.getvalue()
    assert_no_secret_in(logged, stack)
    assert logged.count("API request refused: not authenticated") == len(_refusals(stack, body))


@BUILDERS
def test_the_api_key_is_no_credential_on_the_webhook_routes(stack: LocalStack, build: EventBuilder) -> None:
    body = sample_text(ALERTMANAGER_FIRING)
    status, _ = answer_of(stack.invoke(build("/alertmanager", body, headers={"x-api-key": "anything"})))
    assert status == 401
    assert posted(stack) == 0


def test_a_new_credential_is_picked_up_at_once_and_a_removed_one_stops_working(stack: LocalStack) -> None:
    body = sample_text(ALERTMANAGER_FIRING)
    old = stack.bearer_token
    assert answer_of(stack.invoke(rest_event("/alertmanager", body, headers=bearer_headers(old))))[0] == 200
    # The sender switches to a new token added beside the old one: the warm container's
    # cached secret does not hold it, so the mismatch reads the secret again.
    new = "rotated-token-" + "x" * 24
    stack.put_ingest_secret({**stack.ingest_document(), "bearer_tokens": [old, new]})
    assert answer_of(stack.invoke(rest_event("/alertmanager", body, headers=bearer_headers(new))))[0] == 200
    assert answer_of(stack.invoke(rest_event("/alertmanager", body, headers=bearer_headers(old))))[0] == 200
    # The old one is removed: a container that reads the secret refuses it.
    stack.put_ingest_secret({**stack.ingest_document(), "bearer_tokens": [new]})
    stack.new_container()
    assert answer_of(stack.invoke(rest_event("/alertmanager", body, headers=bearer_headers(old))))[0] == 401
    assert answer_of(stack.invoke(rest_event("/alertmanager", body, headers=bearer_headers(new))))[0] == 200


def test_mismatches_read_the_secret_again_at_most_once_a_second(stack: LocalStack) -> None:
    body = sample_text(ALERTMANAGER_FIRING)
    assert answer_of(stack.invoke(rest_event("/alertmanager", body, headers=bearer_headers(stack.bearer_token))))[0]
    stack.aws.reset_calls()
    for _ in range(20):
        result = stack.invoke(rest_event("/alertmanager", body, headers=bearer_headers("guess")))
        assert result["statusCode"] == 401
    assert 1 <= stack.aws.calls("secretsmanager.GetSecretValue") <= 3  # 20 refusals in well under 3 s


@BUILDERS
def test_a_150_alert_group_is_delivered_in_full_in_two_posts(make_stack: StackFactory, build: EventBuilder) -> None:
    # The deployed lease (10 s), not the local stack's 3 s: moto takes seconds, not
    # DynamoDB's milliseconds, to claim 100 keys in one transaction on a busy machine.
    stack = make_stack(environment={"ALERT_STATE_LEASE_SECONDS": "10"})
    group = alertmanager_group(150)
    result = stack.invoke(build("/alertmanager", json.dumps(group), headers=bearer_headers(stack.bearer_token)))
    assert answer_of(result)[0] == 200
    assert answer_of(result)[1]["delivered"] == 150
    assert posted(stack) == 2
    keys = {event["message_key"] for event in stack.emulator.events}
    assert keys == {f"alertmanager:{index:016x}" for index in range(150)}


def test_servicenow_down_answers_202_with_every_alert_in_the_dead_letter_queue(stack: LocalStack) -> None:
    stack.emulator.inject_fault(503, count=50)
    group = alertmanager_group(12)
    result = stack.invoke(rest_event("/alertmanager", json.dumps(group), headers=bearer_headers(stack.bearer_token)))
    status, answer = answer_of(result)
    assert status == 202
    assert (answer["delivered"], answer["dead_lettered"]) == (0, 12)
    assert "do not resend" in answer["detail"]
    letters = stack.dead_letters()
    assert len(letters) == 12
    kept = sorted(
        json.loads(json.loads(letter["Body"])["payload"]["body"])["alerts"][0]["fingerprint"] for letter in letters
    )
    assert kept == sorted(alert["fingerprint"] for alert in group["alerts"])


def test_servicenow_refusing_the_alerts_is_answered_2xx_too(stack: LocalStack) -> None:
    stack.emulator.inject_fault(403, count=50)
    group = alertmanager_group(3)
    result = stack.invoke(rest_event("/alertmanager", json.dumps(group), headers=bearer_headers(stack.bearer_token)))
    status, answer = answer_of(result)
    assert (status, answer["dead_lettered"]) == (202, 3)
    assert len(stack.dead_letters()) == 3


def test_an_alert_that_cannot_map_is_kept_and_the_others_delivered(stack: LocalStack) -> None:
    group = alertmanager_group(3)
    group["alerts"][1]["status"] = "exploded"
    result = stack.invoke(rest_event("/alertmanager", json.dumps(group), headers=bearer_headers(stack.bearer_token)))
    status, answer = answer_of(result)
    assert (status, answer["delivered"], answer["dead_lettered"]) == (202, 2, 1)
    assert "not firing or resolved" in answer["reasons"][0]
    (letter,) = stack.dead_letters()
    kept = json.loads(letter["Body"])
    assert kept["payload"]["api"]["path"] == "/alertmanager"
    assert json.loads(kept["payload"]["body"])["alerts"][0]["status"] == "exploded"


def test_a_dead_letter_that_cannot_be_written_answers_503(stack: LocalStack) -> None:
    stack.aws.client("sqs").delete_queue(QueueUrl=stack.queue_url)
    stack.emulator.inject_fault(503, count=50)
    result = stack.invoke(
        rest_event("/alertmanager", sample_text(ALERTMANAGER_FIRING), headers=bearer_headers(stack.bearer_token))
    )
    assert result["statusCode"] == 503  # Alertmanager retries a 5xx


@BUILDERS
def test_real_grafana_firing_and_resolved_payloads_close_one_alert(stack: LocalStack, build: EventBuilder) -> None:
    resolved = load(GRAFANA_RESOLVED)
    firing = copy.deepcopy(resolved)
    firing.update(status="firing", state="alerting", title="[FIRING:1]  (Test alert true)")
    firing["alerts"][0].update(status="firing", endsAt="0001-01-01T00:00:00Z")
    for payload in (firing, resolved):
        body = json.dumps(payload)
        headers = grafana_signature_headers(stack.grafana_hmac_secret, body.encode(), stack.grafana_timestamp_header)
        assert answer_of(stack.invoke(request(build, "/grafana", body, headers=headers)))[0] == 200
    states = stack.emulator.alert_states()
    assert states == {"grafana:d8a21484c9c25a60": "Closed"}
    closing = stack.emulator.events[-1]
    assert closing["severity"] == "0"
    assert "value=24" in closing["description"]


def test_no_ingest_secret_refuses_every_webhook_request(make_stack: StackFactory) -> None:
    stack = make_stack(ingest_secret=False)
    body = sample_text(ALERTMANAGER_FIRING)
    for headers in (bearer_headers("anything"), basic_headers("a", "b"), {}):
        assert stack.invoke(rest_event("/alertmanager", body, headers=headers, api_key=False))["statusCode"] == 401
    # /events still takes the API key API Gateway checked.
    event = {"node": "db-1", "severity": "critical", "message_key": "db-1/disk"}
    assert stack.invoke(rest_event("/events", json.dumps(event)))["statusCode"] == 200
    assert stack.invoke(http_event("/events", json.dumps(event), headers=bearer_headers("x")))["statusCode"] == 401
    assert posted(stack) == 1


def test_events_takes_the_api_key_or_a_bearer_token(stack: LocalStack) -> None:
    event = json.dumps({"node": "db-1", "severity": "critical", "message_key": "db-1/disk"})
    assert stack.invoke(rest_event("/events", event))["statusCode"] == 200
    assert stack.invoke(rest_event("/events", event, api_key=False))["statusCode"] == 401
    assert stack.invoke(http_event("/events", event))["statusCode"] == 401
    assert stack.invoke(http_event("/events", event, headers=bearer_headers(stack.bearer_token)))["statusCode"] == 200
    basic = basic_headers(stack.basic_username, stack.basic_password)
    assert stack.invoke(http_event("/events", event, headers=basic))["statusCode"] == 401  # bearer only there
    assert posted(stack) == 2


@pytest.mark.parametrize("secret", ["missing", "not json", "bad shape"])
def test_an_unreadable_ingest_secret_answers_503_not_401(
    make_stack: StackFactory, secret: str, function_logs: io.StringIO
) -> None:
    stack = make_stack()
    if secret == "missing":
        stack.aws.client("secretsmanager").delete_secret(
            SecretId=stack.ingest_secret_name, ForceDeleteWithoutRecovery=True
        )
    elif secret == "not json":
        stack.aws.client("secretsmanager").put_secret_value(SecretId=stack.ingest_secret_name, SecretString="{nope")
    else:
        stack.put_ingest_secret({"bearer_token": stack.bearer_token})
    stack.new_container()
    body = sample_text(ALERTMANAGER_FIRING)
    result = stack.invoke(rest_event("/alertmanager", body, headers=bearer_headers(stack.bearer_token)))
    assert result["statusCode"] == 503  # retried by Alertmanager once the secret is fixed
    assert posted(stack) == 0
    if secret == "bad shape":
        assert "unknown key(s) bearer_token" in function_logs.getvalue()


@BUILDERS
def test_an_unknown_path_is_404_and_another_method_405_never_503(stack: LocalStack, build: EventBuilder) -> None:
    status, answer = answer_of(stack.invoke(build("/alerts", "{}", headers=bearer_headers(stack.bearer_token))))
    assert status == 404
    assert "/alertmanager" in answer["error"]
    event = build("/grafana", "{}", headers=bearer_headers(stack.bearer_token))
    if "httpMethod" in event:
        event["httpMethod"] = event["requestContext"]["httpMethod"] = "GET"
    else:
        event["requestContext"]["http"]["method"] = "GET"
        event["routeKey"] = "GET /grafana"
    result = stack.invoke(event)
    assert result["statusCode"] == 405
    assert header_of(result, "Allow") == "POST"
    assert posted(stack) == 0


@pytest.mark.parametrize(
    ("body", "status"),
    [("", 400), ("{not json", 400), ('{"hello": "world"}', 400), ("[1, 2]", 400), ('{"status": "firing"}', 400)],
)
def test_a_body_not_in_the_routes_format_is_400(stack: LocalStack, body: str, status: int) -> None:
    result = stack.invoke(rest_event("/alertmanager", body, headers=bearer_headers(stack.bearer_token)))
    assert result["statusCode"] == status
    assert posted(stack) == 0
    assert stack.dead_letters() == []


def test_a_group_kept_during_an_outage_is_replayed_alert_by_alert_once_servicenow_is_back(stack: LocalStack) -> None:
    firing = sample_text(GRAFANA_FIRING)
    stack.emulator.inject_fault(503, count=50)
    headers = grafana_signature_headers(stack.grafana_hmac_secret, firing.encode(), stack.grafana_timestamp_header)
    status, answer = answer_of(stack.invoke(rest_event("/grafana", firing, headers=headers, api_key=False)))
    assert (status, answer["dead_lettered"]) == (202, 2)
    stack.emulator.clear_faults()
    redrive = load_redrive_app()
    done = redrive.lambda_handler(load("redrive-replay.json"), LocalLambdaContext())
    assert (done["received"], done["delivered"]) == (2, 2)
    assert stack.emulator.alert_states() == {"grafana:c6eadffa33fcdf37": "Open", "grafana:bc97ff14869b13e3": "Open"}
    assert {event["source"] for event in stack.emulator.events} == {"Grafana"}
    assert stack.dead_letters() == []


def test_a_large_group_kept_during_an_outage_is_counted_once_per_request(
    stack: LocalStack, capfd: pytest.CaptureFixture[str]
) -> None:
    """150 dead letters are one metric value of 150: Powertools flushes a metric on its
    100th value, which must never happen in the middle of a request."""
    stack.emulator.inject_fault(503, count=50)
    group = alertmanager_group(150)
    result = stack.invoke(rest_event("/alertmanager", json.dumps(group), headers=bearer_headers(stack.bearer_token)))
    assert answer_of(result)[0] == 202
    assert answer_of(result)[1]["dead_lettered"] == 150
    output = capfd.readouterr().out
    assert_no_secret_in(output, stack)
    metrics = [json.loads(line) for line in output.splitlines() if line.startswith('{"_aws"')]
    assert [document["EventsDeadLettered"] for document in metrics if "EventsDeadLettered" in document] == [[150.0]]
    assert len(stack.dead_letters()) == 150


def test_a_group_taking_longer_than_one_lease_is_claimed_post_by_post(make_stack: StackFactory) -> None:
    """4 POSTs of 1.5 s each outlast a 5 s lease: each POST's keys are claimed just before it,
    so every alert is delivered, none dead-lettered for want of time. (The lease leaves 3.5 s
    for moto's claim, which is slow under CI load, before each POST.)"""
    stack = make_stack(environment={"BATCH_MAX_RECORDS": "25", "ALERT_STATE_LEASE_SECONDS": "5"})
    stack.emulator.inject_delay(1.5, count=4)
    stack.aws.reset_calls()
    group = alertmanager_group(100)
    result = stack.invoke(rest_event("/alertmanager", json.dumps(group), headers=bearer_headers(stack.bearer_token)))
    status, answer = answer_of(result)
    assert (status, answer["delivered"]) == (200, 100)
    assert posted(stack) == 4
    assert stack.aws.calls("dynamodb.TransactWriteItems") == 4  # one claim per POST
    assert stack.dead_letters() == []
