"""Regressions: third-party JSON of the wrong type, nested too deep, or with thousands of
keys, in each format. Each maps with what it has, or is refused with InvalidPayload naming
the field; never another exception."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest

from itom_forwarder.formats import MappingOptions, Notification, alertmanager, generic, to_events
from itom_forwarder.formats.alarms.overrides import split_description, tags_of
from itom_forwarder.formats.json_values import as_list, decode_json, first_items, text_map, text_of, text_or_none
from itom_forwarder.itom_event import NESTED_TOO_DEEP, InvalidPayload
from tests.samples import load, message_of

SETTINGS = MappingOptions()
TOPIC = "arn:aws:sns:eu-west-1:123456789012:ops-alerts"


def records(payload: object) -> tuple[str, list[dict[str, str]]]:
    message = payload if isinstance(payload, str) else json.dumps(payload)
    name, events = to_events(Notification(message=message, message_id="m-1", topic_arn=TOPIC), SETTINGS)
    return name, [event.to_record() for event in events]


# ---------------------------------------------------------------- json_values


def test_as_list_takes_a_single_value_as_a_list_of_it_and_never_iterates_a_string() -> None:
    assert as_list(None) == []
    assert as_list([1, 2]) == [1, 2]
    assert as_list(5) == [5]
    assert as_list("abc") == ["abc"]
    assert as_list({"Arn": "a"}) == [{"Arn": "a"}]
    assert as_list(list(range(1000))) == list(range(100))  # bounded


def test_text_never_uses_python_repr() -> None:
    assert text_of({"b": 1, "a": [True, None]}) == '{"a":[true,null],"b":1}'
    assert (text_or_none(None), text_or_none(""), text_or_none(1.5), text_or_none(False)) == (
        None,
        None,
        "1.5",
        "false",
    )
    deep = json.loads("[" * 900 + "]" * 900)
    assert text_of(deep) in {"[" * 900 + "]" * 900, NESTED_TOO_DEEP}
    assert first_items({f"k{i}": i for i in range(500)}) == [(f"k{i}", i) for i in range(100)]
    assert text_map({"a": 1, "b": None, "c": {"d": "e"}}) == {"a": "1", "c": '{"d":"e"}'}


# ---------------------------------------------------------------- a scalar where a list belongs


def metric_math(**trigger: Any) -> dict[str, Any]:
    message = message_of(load("sns-cloudwatch-metric-math.json"))
    message["Trigger"].update(trigger)
    return message


def composite(children: object) -> dict[str, Any]:
    return {**message_of(load("sns-cloudwatch-composite.json")), "TriggeringChildren": children}


def eventbridge(change: Any) -> dict[str, Any]:
    event = copy.deepcopy(load("eventbridge-alarm-state-change.json"))
    change(event)
    return event


def alarm_action_reason(reason_data: object) -> dict[str, Any]:
    event = copy.deepcopy(load("alarm-action-composite.json"))
    event["alarmData"]["state"]["reasonData"] = reason_data
    return event


def _set_metrics(event: dict[str, Any]) -> None:
    event["detail"]["configuration"]["metrics"] = 5


def _set_resources(event: dict[str, Any]) -> None:
    event["resources"] = 5


@pytest.mark.parametrize(
    ("payload", "input_format"),
    [
        (metric_math(Metrics=5), "cloudwatch_alarm"),
        (metric_math(Metrics="m1"), "cloudwatch_alarm"),
        (metric_math(Dimensions=5, Metrics={"Id": "m1"}), "cloudwatch_alarm"),
        (composite(5), "cloudwatch_alarm"),
        (composite("arn:aws:cloudwatch:eu-west-1:123456789012:alarm:child"), "cloudwatch_alarm"),
        ({**message_of(load("sns-cloudwatch-alarm-tags.json")), "AlarmTags": 5}, "cloudwatch_alarm"),
        (eventbridge(_set_metrics), "eventbridge_alarm"),
        (eventbridge(_set_resources), "eventbridge_alarm"),
        (alarm_action_reason(json.dumps({"triggeringAlarms": 5})), "alarm_action"),
        (alarm_action_reason(json.dumps({"triggeringAlarms": "abc"})), "alarm_action"),
        (alarm_action_reason({"triggeringAlarms": [{"arn": "arn:aws:cloudwatch:r:1:alarm:c"}]}), "alarm_action"),
        (alarm_action_reason("[" * 5000 + "]" * 5000), "alarm_action"),
        (
            {"status": "firing", "alerts": [{"labels": 5, "annotations": "text", "fingerprint": {"a": 1}}]},
            "alertmanager",
        ),
    ],
    ids=[
        "Trigger.Metrics-5",
        "Trigger.Metrics-string",
        "Trigger.Metrics-object",
        "TriggeringChildren-5",
        "TriggeringChildren-string",
        "AlarmTags-5",
        "configuration.metrics-5",
        "resources-5",
        "reasonData.triggeringAlarms-5",
        "reasonData.triggeringAlarms-string",
        "reasonData-an-object",
        "reasonData-nested-too-deep",
        "alertmanager-labels-5",
    ],
)
def test_a_scalar_where_a_list_belongs_still_maps(payload: dict[str, Any], input_format: str) -> None:
    name, [record] = records(payload)
    assert name == input_format
    assert record["message_key"]


def test_a_string_of_children_is_not_read_character_by_character() -> None:
    _, [record] = records(composite("abc"))
    assert "Triggered by" not in record["description"]
    _, [record] = records(alarm_action_reason(json.dumps({"triggeringAlarms": "abc"})))
    assert "Triggered by" not in record["description"]


def test_a_single_child_object_is_taken_as_one_child() -> None:
    child = {"Arn": "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:disk-full", "State": {"Value": "ALARM"}}
    _, [record] = records(composite(child))
    assert "Triggered by: disk-full (ALARM)" in record["description"]


def test_a_single_resource_string_still_names_the_alarm() -> None:
    def single(event: dict[str, Any]) -> None:
        event["resources"] = event["resources"][0]

    _, [record] = records(eventbridge(single))
    assert record["message_key"] == load("eventbridge-alarm-state-change.json")["resources"][0]


@pytest.mark.parametrize("state", [["ALARM"], {"v": 1}, 5, None, True])
def test_a_state_of_the_wrong_type_is_refused_naming_the_field(state: object) -> None:
    with pytest.raises(InvalidPayload, match=r"NewStateValue: .* is not one of"):
        records({**message_of(load("sns-cloudwatch-alarm.json")), "NewStateValue": state})
    with pytest.raises(InvalidPayload, match=r"detail\.state\.value: .* is not ALARM"):
        records(eventbridge(lambda event: event["detail"]["state"].update(value=state)))


def test_wrong_types_in_text_fields_become_json_text() -> None:
    message = message_of(load("sns-cloudwatch-alarm.json"))
    message["Trigger"]["Dimensions"] = [{"name": {"a": 1}, "value": [1, 2]}]
    message["AWSAccountId"] = {"not": "an account"}
    message["AlarmContributorId"] = 7
    message["AlarmContributorAttributes"] = {"TableName": {"x": None}}
    _, [record] = records(message)
    assert record["resource"] == '{"a":1}=[1,2]'
    assert record["message_key"].endswith(":contributor/7")
    assert record["event_class"].startswith("123456789012/")  # the account read from the ARN instead


# ---------------------------------------------------------------- times, URLs and text


def test_an_alarm_name_with_a_lone_surrogate_still_maps() -> None:
    # Found by the generated inputs: the console link quoted the name's UTF-8, which fails.
    _, [record] = records({**message_of(load("sns-cloudwatch-alarm.json")), "AlarmName": "cpu \ud83d high"})
    assert "%EF%BF%BD" in json.loads(record["additional_info"])["console_url"]
    assert "\ud83d" not in record["description"]


def test_a_state_change_time_past_the_last_moment_is_refused_naming_the_field() -> None:
    message = {**message_of(load("sns-cloudwatch-alarm.json")), "StateChangeTime": "9999-12-31T23:59:59-05:00"}
    with pytest.raises(InvalidPayload, match=r"StateChangeTime: .* is out of range"):
        records(message)


def test_alertmanager_with_a_broken_external_url_still_maps() -> None:
    payload = copy.deepcopy(load("prometheus-msteams-alertmanager-webhook-v4-firing.json"))
    payload["externalURL"] = "http://[not-an-ip"
    payload["alerts"][0]["startsAt"] = "0001-01-01T00:00:00+01:00"
    _, [record] = records(payload)
    assert record["event_class"] == "http://[not-an-ip"
    assert "time_of_event" not in record


def test_a_webhook_of_too_many_alerts_is_refused_naming_the_count() -> None:
    payload = copy.deepcopy(load("prometheus-msteams-alertmanager-webhook-v4-firing.json"))
    payload["alerts"] *= 1001
    with pytest.raises(InvalidPayload, match=r"^alerts: 1001 alerts, at most 1000 per message$"):
        records(payload)


@pytest.mark.parametrize("payload", [[1, 2], "text", 5, None, {"status": "firing", "alerts": "x"}])
def test_the_alertmanager_route_refuses_what_is_no_webhook(payload: object) -> None:
    with pytest.raises(InvalidPayload, match="expected an Alertmanager webhook"):
        alertmanager.to_events(payload, Notification(message="", origin="api"), SETTINGS)


@pytest.mark.parametrize("payload", [5, "text", None, {"no": "fields"}])
def test_the_events_route_refuses_what_is_no_generic_payload(payload: object) -> None:
    with pytest.raises(InvalidPayload, match="payload: expected an ITOM event object"):
        generic.to_events(payload, Notification(message="", origin="api"), SETTINGS)


# ---------------------------------------------------------------- deep nesting


@pytest.mark.parametrize(
    "message",
    ['{"a":' * 1000 + "1" + "}" * 1000, '{"b": ' + "[" * 1000 + "]" * 1000 + "}", "[" * 100_000 + "]" * 100_000],
    ids=["object-1000-deep", "list-1000-deep-in-an-object", "list-100000-deep"],
)
def test_json_nested_too_deep_is_kept_as_plain_text(message: str) -> None:
    """Python 3.11 cannot decode 1,000 levels (3.13 can: then it is JSON in no known
    shape, plain text too); nobody can decode 100,000."""
    name, [record] = records(message)
    assert name == "plain_text"
    assert record["description"].startswith(message[:100])
    assert record["message_key"].startswith(f"{TOPIC}:sha256:")


def test_a_list_nested_1000_deep_is_plain_text_or_refused_as_records() -> None:
    message = "[" * 1000 + "]" * 1000
    if decode_json(message) is None:  # Python 3.11: too deep to decode
        assert records(message)[0] == "plain_text"
    else:  # Python 3.13 decodes it: a list of records, none of them an object
        with pytest.raises(InvalidPayload, match=r"^records\[0\]: must be an object, got list$"):
            records(message)


def deeply_nested(depth: int) -> list[object]:
    value: list[object] = []
    for _ in range(depth):
        value = [value]
    return value


def test_a_value_too_deep_to_encode_is_sent_as_a_marker() -> None:
    """json.loads may accept nesting (3.13 decodes 5,000 levels) that json.dumps refuses."""
    deep = deeply_nested(200_000)
    notification = Notification(message="", origin="api")
    [event] = generic.to_events({"node": "n", "resource": deep, "extra": deep}, notification, SETTINGS)
    record = event.to_record()
    assert record["resource"] == NESTED_TOO_DEEP
    assert json.loads(record["additional_info"])["extra"] == NESTED_TOO_DEEP
    webhook = {"status": "firing", "alerts": [{"labels": {"alertname": "x", "deep": deep}}]}
    [event] = alertmanager.to_events(webhook, notification, SETTINGS)
    record = event.to_record()
    assert record["message_key"].startswith("alertmanager:sha256:")
    assert json.loads(json.loads(record["additional_info"])["labels"])["deep"] == NESTED_TOO_DEEP


# ---------------------------------------------------------------- many keys


def test_a_generic_record_of_16000_keys_maps_in_milliseconds() -> None:
    extras = {f"key-{index:05d}": f"value {index}" for index in range(16_000)}
    message = json.dumps({"node": "db-1", "severity": "2", **extras})
    started = time.perf_counter()
    _, [record] = records(message)
    elapsed = time.perf_counter() - started
    info = json.loads(record["additional_info"])
    assert info["sns_message_id"] == "m-1"  # the route's context comes first: never cut
    note = info.pop("additional_info_truncated")
    shown = [key for key in info if key.startswith("key-")]
    assert shown == list(extras)[: len(shown)]
    assert note == f"{16_000 - len(shown)} more keys not shown"
    assert elapsed < 5  # ~20 ms (json.loads included); before: over a minute


def test_thousands_of_tags_labels_and_attributes_are_bounded() -> None:
    assert len(tags_of({f"t{i}": "v" for i in range(5000)})) == 100
    assert len(tags_of([{"Key": f"t{i}", "Value": "v"} for i in range(5000)])) == 100
    payload = copy.deepcopy(load("prometheus-msteams-alertmanager-webhook-v4-firing.json"))
    payload["alerts"][0]["labels"].update({f"label{i}": "v" for i in range(5000)})
    _, [record] = records(payload)
    info = json.loads(record["additional_info"])
    assert info["labels_truncated"].endswith("more not shown")
    assert record["metric_name"] == payload["alerts"][0]["labels"]["alertname"]


def test_an_override_line_of_many_spaces_is_read_in_linear_time() -> None:
    started = time.perf_counter()
    description, found = split_description("itom:node=x" + " " * 50_000 + "y\nkept")
    assert time.perf_counter() - started < 1  # the old pattern took ~27 s for 32,000 spaces
    assert found == {"itom:node": "x" + " " * 50_000 + "y"}
    assert description == "kept"
