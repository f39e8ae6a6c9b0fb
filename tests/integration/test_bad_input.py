"""Bad input never crashes the handler: hypothesis throws random JSON, wrong types,
truncated and huge payloads and invalid UTF-8 at the SNS, SQS and API paths, and each
alert ends delivered or dead-lettered with a reason (an API caller gets its answer)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local.stack import LocalStack
from tests.integration.conftest import StackFactory
from tests.samples import load


@pytest.fixture
def stack(make_stack: StackFactory) -> LocalStack:
    """The guard off: examples share the sample alarm's key, and it would (rightly)
    supersede an example whose state change time is older than an earlier one's, which is
    neither delivered nor dead-lettered; bad input is what is tested here."""
    return make_stack(ordering_guard=False)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=15), children, max_size=5),
    max_leaves=15,
)
ALARM = json.loads(load("sns-cloudwatch-alarm.json")["Records"][0]["Sns"]["Message"])
SHAPED = st.one_of(
    # Real shapes with fields replaced by anything: wrong types, nulls, nonsense.
    st.dictionaries(st.sampled_from(sorted(ALARM)), JSON, max_size=6).map(lambda patch: {**ALARM, **patch}),
    st.dictionaries(
        st.sampled_from(["node", "severity", "time_of_event", "message_key", "additional_info", "records", "type"]),
        JSON,
        min_size=1,
        max_size=5,
    ),
)
MESSAGES = st.one_of(
    JSON.map(json.dumps),
    SHAPED.map(json.dumps),
    SHAPED.map(lambda value: json.dumps(value)[: max(1, len(json.dumps(value)) // 2)]),  # truncated
    st.text(max_size=200),
    st.sampled_from(
        ["", " ", "null", "[]", "{}", '{"records": []}', "x" * 250_000, json.dumps({"node": "n" * 200_000})]
    ),
)
SUBJECTS = st.one_of(st.none(), st.text(max_size=50), st.integers())


def sns_event(message: Any, subject: Any) -> dict[str, Any]:
    event = load("sns-generic-alert.json")
    event["Records"][0]["Sns"].update(Message=message, Subject=subject)
    return event


def outcome_count(stack: LocalStack, before_events: int) -> tuple[int, int]:
    delivered = len(stack.emulator.events) - before_events
    dead = stack.dead_letters()
    for message in dead:
        body = json.loads(message["Body"])
        assert body["reason"]["step"] in ("map", "deliver", "config")
        assert body["reason"]["message"]
    return delivered, len(dead)


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(message=MESSAGES | JSON, subject=SUBJECTS)
def test_sns_bad_input_is_delivered_or_dead_lettered(stack: LocalStack, message: Any, subject: Any) -> None:
    before = len(stack.emulator.events)
    result = stack.invoke(sns_event(message, subject))  # must not raise: ServiceNow is healthy
    delivered, dead = outcome_count(stack, before)
    assert (delivered > 0) + dead == 1, (result, delivered, dead)
    assert result["dead_lettered"] == dead


@FUZZ
@given(body=MESSAGES | JSON.map(json.dumps), wrapped=st.booleans())
def test_sqs_bad_input_is_delivered_or_dead_lettered(stack: LocalStack, body: str, wrapped: bool) -> None:
    record = dict(load("sqs-buffered-batch.json")["Records"][0])
    record["body"] = json.dumps({"Type": "Notification", "MessageId": "m", "Message": body}) if wrapped else body
    before = len(stack.emulator.events)
    result = stack.invoke({"Records": [record]})
    assert result == {"batchItemFailures": []}
    delivered, dead = outcome_count(stack, before)
    assert (delivered > 0) + dead == 1


@FUZZ
@given(raw=st.binary(max_size=300) | MESSAGES.map(str.encode), route=st.sampled_from(["/events", "/alertmanager"]))
def test_api_bad_input_gets_a_documented_answer(stack: LocalStack, raw: bytes, route: str) -> None:
    event: dict[str, Any] = load("apigateway-rest-events.json")
    event.update(path=route, resource=route, body=base64.b64encode(raw).decode(), isBase64Encoded=True)
    event["requestContext"]["resourcePath"] = route
    if route == "/alertmanager":  # a webhook route: the sender's own credential, no API key
        event["headers"]["Authorization"] = f"Bearer {stack.bearer_token}"
    answer = stack.invoke(event)
    # 202: a webhook's alerts that cannot map are kept in the DLQ, never refused (4xx).
    assert answer["statusCode"] in ((200, 202, 400, 415) if route == "/alertmanager" else (200, 400, 413, 415)), answer
    body = json.loads(answer["body"])
    assert body["request_id"]
    if answer["statusCode"] == 200 and route == "/events":
        assert body["delivered"] >= 1


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"Records": []},
        {"Records": [{"EventSource": "aws:sns"}]},
        {"weird": [1, 2]},
        [{"node": "n", "severity": "2"}],
    ],
)
def test_odd_lambda_events_are_kept(stack: LocalStack, event: Any) -> None:
    result = stack.invoke(event)
    delivered, dead = outcome_count(stack, 0)
    assert (delivered > 0) + dead == 1, result
