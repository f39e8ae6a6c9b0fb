"""Event routing: which trigger each Lambda event reaches, and `route` giving that
trigger module's `handle`."""

from __future__ import annotations

import copy
import importlib
from typing import Any

import jmespath
import pytest

from itom_forwarder.triggers import correlation_id, route, trigger_name
from tests.events import http_event, rest_event, sns_event, sqs_event
from tests.samples import EVENTS, load

# events/ sample -> the trigger the forwarder's handler gives it.
SAMPLE_TRIGGERS = {
    "alarm-action-composite.json": "asynchronous",
    "alarm-action.json": "asynchronous",
    "apigateway-http-events.json": "api",
    "apigateway-rest-alertmanager.json": "api",
    "apigateway-rest-events.json": "api",
    "apigateway-rest-grafana.json": "api",
    "eventbridge-alarm-state-change.json": "asynchronous",
    "eventbridge-health-issue-open.json": "asynchronous",
    "eventbridge-guardduty-finding-medium-ec2-dns.json": "asynchronous",
    "sns-eventbridge-guardduty-finding.json": "asynchronous",
    "eventbridge-securityhub-findings-imported-informational-failed.json": "asynchronous",
    "eventbridge-config-compliance-change-compliant.json": "asynchronous",
    "eventbridge-devops-guru-new-insight-open.json": "asynchronous",
    "eventbridge-contributor-state-change.json": "asynchronous",
    "sns-cloudwatch-alarm-tags.json": "asynchronous",
    "sns-cloudwatch-alarm.json": "asynchronous",
    "sns-cloudwatch-anomaly-detection.json": "asynchronous",
    "sns-cloudwatch-composite.json": "asynchronous",
    "sns-cloudwatch-contributor.json": "asynchronous",
    "sns-cloudwatch-insufficient-data.json": "asynchronous",
    "sns-cloudwatch-metric-math.json": "asynchronous",
    "sns-cloudwatch-ok.json": "asynchronous",
    "sns-eventbridge-alarm-state-change.json": "asynchronous",
    "sns-generic-alert.json": "asynchronous",
    "sns-plain-text.json": "asynchronous",
    "sqs-buffered-batch.json": "sqs_batch",
}
# Not events of the forwarder: env.json is `sam local invoke`'s environment, and the redrive
# samples are the redrive Lambda's, which calls its trigger directly.
NOT_FORWARDER_EVENTS = {"env.json", "redrive-dry-run.json", "redrive-replay.json", "redrive-scheduled.json"}


def test_every_forwarder_sample_has_its_trigger_here() -> None:
    names = {path.name for path in EVENTS.glob("*.json")} - NOT_FORWARDER_EVENTS
    assert names == set(SAMPLE_TRIGGERS)


@pytest.mark.parametrize(("name", "trigger"), sorted(SAMPLE_TRIGGERS.items()))
def test_each_sample_reaches_its_trigger(name: str, trigger: str) -> None:
    assert trigger_name(load(name)) == trigger


@pytest.mark.parametrize(
    ("event", "trigger"),
    [
        ({"action": "check"}, "check"),
        ({"action": "check", "send_test_event": True}, "check"),
        ({"action": "Check"}, "asynchronous"),  # not the operator's command: kept as an alert
        ({"action": "replay"}, "asynchronous"),  # the redrive Lambda's event is not routed here
        ("a bare string", "asynchronous"),
        (["a", "list"], "asynchronous"),
        (42, "asynchronous"),
        (None, "asynchronous"),
        ({}, "asynchronous"),
        ({"Records": []}, "asynchronous"),
        ({"node": "db-1", "severity": "critical"}, "asynchronous"),
        (rest_event("/events", "{}"), "api"),
        (http_event("/alertmanager", "{}"), "api"),
        (sns_event("hello"), "asynchronous"),
        (sqs_event("hello"), "sqs_batch"),
    ],
)
def test_other_events_reach_their_trigger(event: object, trigger: str) -> None:
    assert trigger_name(event) == trigger


def test_a_mixed_batch_is_not_taken_for_an_sqs_batch() -> None:
    mixed: dict[str, Any] = sqs_event("hello")
    mixed["Records"].append(copy.deepcopy(sns_event("hello")["Records"][0]))
    assert trigger_name(mixed) == "asynchronous"


@pytest.mark.parametrize(
    "event",
    [
        {"requestContext": {"requestId": "r"}},  # neither payload 1.0 nor 2.0
        {"requestContext": "not an object", "httpMethod": "POST"},
        {"version": "2.0", "routeKey": "POST /events"},  # no requestContext
        {"version": "1.0", "routeKey": "POST /events", "requestContext": {}},
    ],
)
def test_look_alikes_of_api_gateway_events_are_not_api_requests(event: dict[str, Any]) -> None:
    assert trigger_name(event) == "asynchronous"


@pytest.mark.parametrize(
    ("event", "module"),
    [
        (load("sns-cloudwatch-alarm.json"), "asynchronous"),
        (load("sqs-buffered-batch.json"), "sqs_batch"),
        (load("apigateway-rest-events.json"), "api"),
        ({"action": "check"}, "check"),
        ("plain text", "asynchronous"),
    ],
)
def test_route_gives_the_trigger_module_s_handle(event: object, module: str) -> None:
    handle = route(event)
    assert handle is importlib.import_module(f"itom_forwarder.triggers.{module}").handle


# The JMESPath the handler used to give Powertools; correlation_id reads the same directly.
CORRELATION_PATH = "Records[0].Sns.MessageId || Records[0].messageId || requestContext.requestId"


@pytest.mark.parametrize("name", sorted(path.name for path in EVENTS.glob("*.json")))
def test_the_correlation_id_of_each_sample_is_what_the_jmespath_gave(name: str) -> None:
    event = load(name)
    expected = jmespath.search(CORRELATION_PATH, event)
    assert correlation_id(event) == (str(expected) if expected else None)


@pytest.mark.parametrize(
    "event",
    [
        None,
        "plain text",
        [],
        {},
        {"Records": []},
        {"Records": "x"},
        {"Records": [None]},
        {"Records": [{"Sns": "x", "messageId": "m-1"}]},
        {"Records": [{"Sns": {"MessageId": ""}, "messageId": "m-2"}]},
        {"Records": [{}], "requestContext": {"requestId": "r-1"}},
        {"requestContext": {"requestId": 7}},
        {"requestContext": []},
    ],
)
def test_the_correlation_id_of_odd_shapes_is_what_the_jmespath_gives(event: Any) -> None:
    expected = jmespath.search(CORRELATION_PATH, event) if isinstance(event, dict | list) else None
    assert correlation_id(event) == (str(expected) if expected else None)
