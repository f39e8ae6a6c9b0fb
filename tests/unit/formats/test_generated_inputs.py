"""Generated inputs for every format, grown from the real samples: any value replaced by a
number, a string, a list, an object, null or a boolean (at any depth), lone surrogates,
astral characters, JSON nested 1,000 levels deep and objects of thousands of keys.

Whatever comes in, `formats.to_events` (and the API routes' mappers) raise nothing but
InvalidPayload, and every record they give is what ServiceNow takes: strings within each
field's limit in UTF-16 units, UTF-8 encodable, additional_info a JSON object of strings.
Each example's mapping must also stay within a fixed amount of time (the deadline): the
mapping is linear, so even the largest example here maps in milliseconds.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from itom_forwarder.formats import MappingOptions, Notification, alertmanager, generic, to_events
from itom_forwarder.itom_event import FIELD_LIMITS, InvalidPayload, ItomEvent
from tests.samples import load

OPTIONS = MappingOptions()
TOPIC = "arn:aws:sns:eu-west-1:123456789012:itom-forwarder-alarms"


def _sns(name: str, index: int = 0) -> tuple[object, dict[str, Any]]:
    """A sample's SNS message (decoded) and the rest of its notification."""
    event = load(name)
    record = event["Records"][index]
    sns = record.get("Sns") or json.loads(record["body"])
    fields = {"topic_arn": sns.get("TopicArn"), "subject": sns.get("Subject"), "message_id": sns.get("MessageId")}
    try:
        return json.loads(sns["Message"]), fields
    except ValueError:
        return sns["Message"], fields


def _body(name: str) -> tuple[object, dict[str, Any]]:
    """An SNS notification as an HTTPS subscription receives it."""
    sns = load(name)
    return json.loads(sns["Message"]), {"topic_arn": sns.get("TopicArn"), "subject": sns.get("Subject")}


def _api_body(name: str) -> tuple[object, dict[str, Any]]:
    return json.loads(load(name)["body"]), {"origin": "api", "message_id": "request-1"}


def _direct(name: str) -> tuple[object, dict[str, Any]]:
    return load(name), {"origin": "direct"}


RDS_EVENT = {
    "Event Source": "db-instance",
    "Event Time": "2026-11-29 08:15:00.000",
    "Identifier Link": "https://console.aws.amazon.com/rds/home?region=eu-west-1#dbinstance:id=prod-db-1",
    "Source ID": "prod-db-1",
    "Source ARN": "arn:aws:rds:eu-west-1:123456789012:db:prod-db-1",
    "Event ID": "http://docs.amazonwebservices.com/AmazonRDS/latest/UserGuide/USER_Events.html#RDS-EVENT-0006",
    "Event Message": "DB instance restarted",
}

# Input format → the real samples it grows from: (payload, the notification's other fields).
SEEDS: dict[str, list[tuple[object, dict[str, Any]]]] = {
    "cloudwatch_alarm": [
        _sns("sns-cloudwatch-alarm.json"),
        _sns("sns-cloudwatch-alarm-tags.json"),
        _sns("sns-cloudwatch-metric-math.json"),
        _sns("sns-cloudwatch-anomaly-detection.json"),
        _sns("sns-cloudwatch-composite.json"),
        _sns("sns-cloudwatch-contributor.json"),
        _sns("aws-lambda-go-sns-cloudwatch-alarm-multiple-metrics.json"),
        _sns("assertible-sns-cloudwatch-composite-alarm.json"),
        _sns("notify-slack-sns-cloudwatch-alarm-ok-log-metric.json"),
        _body("cloudforet-sns-https-body-anomaly-detection-alarm-ok.json"),
        _direct("notify-slack-bare-cloudwatch-alarm-message-minimal.json"),
    ],
    "eventbridge_alarm": [
        _direct("eventbridge-alarm-state-change.json"),
        _direct("eventbridge-contributor-state-change.json"),
        _direct("feral-eventbridge-alarm-state-change-composite-suppressor.json"),
        _sns("sns-eventbridge-alarm-state-change.json"),
    ],
    "alarm_action": [
        _direct("alarm-action.json"),
        _direct("alarm-action-composite.json"),
        _direct("powertools-lambda-alarm-action-composite.json"),
        _direct("aws-lambda-java-lambda-alarm-action-single-metric.json"),
    ],
    "alertmanager": [
        _direct("prom2teams-alertmanager-webhook-v4-resolved.json"),
        _direct("prometheus-msteams-alertmanager-webhook-v4-firing.json"),
        _api_body("apigateway-rest-alertmanager.json"),
    ],
    "generic": [
        _sns("sns-generic-alert.json"),
        _api_body("apigateway-rest-events.json"),
        ([{"node": "db-1", "severity": "critical", "additional_info": {"team": "dba"}}, {"node": "db-2"}], {}),
    ],
    "plain_text": [
        _sns("sns-plain-text.json"),
        _sns("powertools-sqs-event-sns-envelope-body.json"),  # {"message": "hello world", ...}
        (RDS_EVENT, {"topic_arn": TOPIC, "subject": "RDS Notification Message"}),
    ],
}

# Stand-ins for what a Python value cannot hold without recursing (1,000 levels) or what
# would be slow to generate per example (thousands of keys): replaced in the JSON text.
_SPLICES = {
    "\x00deep-list\x00": "[" * 1000 + "]" * 1000,
    "\x00deep-object\x00": '{"a":' * 1000 + "1" + "}" * 1000,
    "\x00nearly-too-deep\x00": "[" * 960 + '"x"' + "]" * 960,
    "\x00deeper\x00": "[" * 5000 + "]" * 5000,
    "\x00many-keys\x00": json.dumps({f"key-{i:05d}": f"value {i}" for i in range(3000)}),
    "\x00many-items\x00": json.dumps([{"name": f"n{i}", "value": f"v{i}", "Arn": f"a{i}"} for i in range(3000)]),
    "\x00many-tags\x00": json.dumps([{"Key": f"itom:k{i}", "Value": "v"} for i in range(2000)]),
}
_SPLICED = {json.dumps(marker): text for marker, text in _SPLICES.items()}

STRINGS = st.one_of(
    st.text(max_size=20),
    st.sampled_from(
        [
            "",
            "\ud83d",  # a lone surrogate: what cutting an emoji leaves
            "cut \ud83d\ude00 pair \udcff",
            "🚨" * 1500,  # 3,000 UTF-16 units
            "é" * 4100,
            "x" * 5000,
            '\n\t"\\' * 1200,  # every character escaped in JSON
            " " * 3000 + "x",
            "itom:node=x" + " " * 3000 + "y",
            "itom:severity=catastrophic",
            "ALARM",
            "OK",
            "firing",
            "resolved",
            "9999-12-31T23:59:59-05:00",
            "0001-01-01T00:00:00+01:00",
            "1" * 400,
            "http://[not-an-ip",
            "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:" + "a" * 2000,
            '{"triggeringAlarms": 5}',
            'SELECT AVG("' + " " * 2000,
        ]
    ),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([0, -1, 10**30, 10**4000 // 10**3700, 1e308, -0.0]),
    st.floats(),
    STRINGS,
    st.sampled_from(list(_SPLICES)),
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(STRINGS, children, max_size=4),
    max_leaves=5,
)


def _paths(value: object, path: tuple[object, ...] = ()) -> Iterator[tuple[object, ...]]:
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*path, index))


def _replaced(value: Any, path: tuple[Any, ...], new: object) -> Any:
    if not path:
        return new
    value[path[0]] = _replaced(value[path[0]], path[1:], new)
    return value


@st.composite
def _mutated(draw: st.DrawFn, payload: object) -> object:
    """The payload with one to three values (anywhere, the whole included) replaced, or a
    key of an object added."""
    value = copy.deepcopy(payload)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(_paths(value))))
        target = value
        for step in path:
            target = target[step]
        if isinstance(target, dict) and draw(st.booleans()):
            target[draw(STRINGS)] = draw(VALUES)
        else:
            value = _replaced(value, path, draw(VALUES))
    return value


def _message(payload: object) -> str:
    if isinstance(payload, str):
        return payload
    text = json.dumps(payload)
    for marker, spliced in _SPLICED.items():
        text = text.replace(marker, spliced)
    return text


@st.composite
def notifications(draw: st.DrawFn, input_format: str) -> Notification:
    payload, fields = draw(st.sampled_from(SEEDS[input_format]))
    fields = dict(fields)
    if input_format == "plain_text" and isinstance(payload, str):
        # Text: cut anywhere, a lone surrogate or a deep JSON text put in.
        cut = draw(st.integers(0, len(payload)))
        payload = payload[:cut] + draw(STRINGS) + payload[cut:]
    else:
        payload = draw(_mutated(payload))
    if fields.get("origin") != "api":
        fields["subject"] = draw(st.one_of(st.just(fields.get("subject")), st.none(), STRINGS))
    return Notification(message=_message(payload), **fields)


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2  # also fails on a lone surrogate


def assert_sendable(event: ItomEvent) -> None:
    record = event.to_record()
    assert record["severity"] in {"0", "1", "2", "3", "4", "5"}
    for key, value in record.items():
        assert isinstance(value, str), key
        value.encode("utf-8")  # a lone surrogate cannot be sent
        if key in FIELD_LIMITS:
            assert _units(value) <= FIELD_LIMITS[key], key
    if "additional_info" in record:
        info = json.loads(record["additional_info"])
        assert isinstance(info, dict)
        assert all(isinstance(value, str) for value in info.values())


def map_everything(notification: Notification, *, api: bool) -> None:
    """The SNS/direct path, and (`api`) the API routes' mappers on what decodes as JSON."""
    try:
        _, events = to_events(notification, OPTIONS)
    except InvalidPayload:
        events = []
    if api:
        try:
            payload = json.loads(notification.message)
        except (ValueError, RecursionError):
            payload = None
        for mapper in (generic.to_events, alertmanager.to_events):
            with contextlib.suppress(InvalidPayload):
                events += mapper(payload, notification, OPTIONS)
    for event in events:
        assert_sendable(event)


API_FORMATS = ("alertmanager", "generic")  # what the API routes take

# A linear mapping of the largest example (a few hundred kB) takes milliseconds; the
# quadratic additional_info took seconds to minutes for a few thousand keys. The deadline
# is per example (with room for a loaded machine), checked again before a failure counts.
GENERATED = settings(
    max_examples=200,
    deadline=timedelta(seconds=2),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.parametrize("input_format", sorted(SEEDS))
def test_every_seed_maps_as_its_format(input_format: str) -> None:
    for payload, fields in SEEDS[input_format]:
        name, events = to_events(Notification(message=_message(payload), **fields), OPTIONS)
        assert name == input_format
        for event in events:
            assert_sendable(event)


@pytest.mark.parametrize("input_format", sorted(SEEDS))
def test_generated_inputs_map_or_are_refused_by_name(input_format: str) -> None:
    @GENERATED
    @given(notifications(input_format))
    def check(notification: Notification) -> None:
        map_everything(notification, api=input_format in API_FORMATS)

    check()


WRONG_TYPES: tuple[object, ...] = (5, -1.5, "abc", "", "\ud83d", [1, "x"], [], {"a": {"b": 1}}, {}, None, True)


@pytest.mark.parametrize("input_format", sorted(SEEDS))
def test_every_field_of_every_seed_takes_every_wrong_type(input_format: str) -> None:
    """Not left to chance: each value of each seed (the whole payload included) replaced in
    turn by a number, a string (a lone surrogate too), a list, an object, null and a boolean."""
    for payload, fields in SEEDS[input_format]:
        if isinstance(payload, str):
            continue
        for path in list(_paths(payload)):
            for wrong in WRONG_TYPES:
                mutated = _replaced(copy.deepcopy(payload), path, wrong)
                map_everything(Notification(message=_message(mutated), **fields), api=input_format in API_FORMATS)
