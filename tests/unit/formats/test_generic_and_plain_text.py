"""Generic ITOM-shaped alerts and plain-text SNS messages."""

from __future__ import annotations

import json

import pytest

from itom_forwarder.formats import MappingOptions, Notification, to_events
from itom_forwarder.itom_event import InvalidPayload

SETTINGS = MappingOptions()
TOPIC = "arn:aws:sns:eu-west-1:123456789012:ops-alerts"


def records(payload: object, **notification: str) -> tuple[str, list[dict[str, str]]]:
    message = payload if isinstance(payload, str) else json.dumps(payload)
    name, events = to_events(Notification(message=message, message_id="m-1", topic_arn=TOPIC, **notification), SETTINGS)
    return name, [event.to_record() for event in events]


def test_one_object_with_itom_fields() -> None:
    name, [record] = records(
        {
            "source": "Nagios",
            "node": "db-1",
            "metric_name": "disk",
            "severity": "Critical",
            "time_of_event": "2026-11-29T09:15:00+01:00",
            "message_key": "db-1/disk",
            "runbook_url": "https://wiki/runbook",
        }
    )
    assert name == "generic"
    assert record["severity"] == "1"
    assert record["time_of_event"] == "2026-11-29 08:15:00"
    assert record["source"] == "Nagios"
    info = json.loads(record.pop("additional_info"))
    assert info == {"runbook_url": "https://wiki/runbook", "sns_message_id": "m-1", "sns_topic_arn": TOPIC}
    assert record == {
        "severity": "1",
        "source": "Nagios",
        "node": "db-1",
        "metric_name": "disk",
        "message_key": "db-1/disk",
        "time_of_event": "2026-11-29 08:15:00",
    }


@pytest.mark.parametrize(
    ("severity", "expected"),
    [("0", "0"), (3, "3"), (5.0, "5"), ("MAJOR", "2"), ("warning", "4"), ("Ok", "5"), ("clear", "0"), (" minor ", "3")],
)
def test_severity_forms(severity: object, expected: str) -> None:
    assert records({"node": "n", "severity": severity})[1][0]["severity"] == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1764407700, "2025-11-29 09:15:00"),
        (1764407700123, "2025-11-29 09:15:00"),
        ("1764407700", "2025-11-29 09:15:00"),
        ("2025-11-29T09:15:00Z", "2025-11-29 09:15:00"),
        ("2025-11-29T09:15:00.1234567Z", "2025-11-29 09:15:00"),
        ("2025-11-29 09:15:00", "2025-11-29 09:15:00"),
        ("2025-11-29T10:15:00+0100", "2025-11-29 09:15:00"),
    ],
)
def test_time_of_event_forms(value: object, expected: str) -> None:
    assert records({"node": "n", "severity": "3", "time_of_event": value})[1][0]["time_of_event"] == expected


def test_list_and_records_wrapper_give_one_event_each() -> None:
    one = {"node": "a", "severity": "2"}
    two = {"node": "b", "severity": "0"}
    assert [r["node"] for r in records([one, two])[1]] == ["a", "b"]
    assert [r["node"] for r in records({"records": [one, two]})[1]] == ["a", "b"]


def test_non_string_values_are_converted() -> None:
    [record] = records({"node": 42, "resource": True, "severity": 2, "type": {"k": 1}})[1]
    assert (record["node"], record["resource"], record["type"]) == ("42", "true", '{"k":1}')


def test_missing_severity_takes_the_default() -> None:
    assert records({"node": "n"})[1][0]["severity"] == SETTINGS.default_severity


def test_additional_info_object_and_extras_are_merged_as_strings() -> None:
    [record] = records({"node": "n", "severity": "3", "additional_info": {"a": 1, "b": "x"}, "team": "dba"})[1]
    assert json.loads(record["additional_info"]) == {
        "a": "1",
        "b": "x",
        "team": "dba",
        "sns_message_id": "m-1",
        "sns_topic_arn": TOPIC,
    }


def test_additional_info_plain_text_becomes_additional_content() -> None:
    [record] = records({"node": "n", "severity": "3", "additional_info": "free text"})[1]
    assert json.loads(record["additional_info"])["additional_content"] == "free text"


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ({"node": "n", "severity": "catastrophic"}, "records[0].severity: 'catastrophic' is not a severity"),
        ([{"node": "n", "severity": "1"}, "text"], "records[1]: must be an object, got str"),
        ({"node": "n", "severity": "1", "time_of_event": "last tuesday"}, "records[0].time_of_event: 'last tuesday'"),
        ({"records": []}, "records: empty"),
        ({"node": "n", "severity": True}, "records[0].severity"),
        ({"node": "n", "resolution_state": "Done"}, "records[0].resolution_state: must be New or Closing"),
    ],
)
def test_invalid_records_are_rejected_naming_the_field(payload: object, problem: str) -> None:
    with pytest.raises(InvalidPayload) as raised:
        records(payload)
    assert problem in str(raised.value)


def test_every_problem_is_listed_and_nothing_is_mapped() -> None:
    with pytest.raises(InvalidPayload) as raised:
        records([{"severity": "1", "node": "ok"}, {"severity": "bad"}, 7])
    assert "records[1].severity" in str(raised.value)
    assert "records[2]: must be an object" in str(raised.value)


def test_plain_text_message_keeps_subject_and_text() -> None:
    name, [record] = records(
        "Your budget 'prod' has exceeded 80% of its limit.",
        subject="AWS Budgets: prod has exceeded your alert threshold",
        timestamp="2026-11-29T08:00:00.000Z",
    )
    assert name == "plain_text"
    assert record["source"] == "AWS SNS"
    assert record["severity"] == SETTINGS.default_severity
    assert record["event_class"] == "ops-alerts"
    assert record["description"] == (
        "AWS Budgets: prod has exceeded your alert threshold\n\nYour budget 'prod' has exceeded 80% of its limit."
    )
    assert record["message_key"] == f"{TOPIC}:AWS Budgets: prod has exceeded your alert threshold"
    assert record["time_of_event"] == "2026-11-29 08:00:00"


def test_plain_text_key_is_stable_per_topic_and_subject() -> None:
    first = records("text one", subject="Disk full")[1][0]["message_key"]
    second = records("text two", subject="Disk full")[1][0]["message_key"]
    other = records("text one", subject="CPU high")[1][0]["message_key"]
    assert first == second != other


def test_plain_text_without_subject_keys_on_the_text() -> None:
    assert records("a")[1][0]["message_key"] != records("b")[1][0]["message_key"]
    assert records("a")[1][0]["message_key"] == records("a")[1][0]["message_key"]


def test_json_of_unknown_shape_is_kept_as_text() -> None:
    name, [record] = records({"hello": "world"}, subject="app event")
    assert name == "plain_text"
    assert '{"hello": "world"}' in record["description"]
