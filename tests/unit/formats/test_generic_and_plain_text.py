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
    assert record["message_key"].startswith(f"{TOPIC}:AWS Budgets: prod has exceeded your alert threshold:sha256:")
    assert record["time_of_event"] == "2026-11-29 08:00:00"


def test_plain_text_key_is_topic_subject_and_a_hash_of_the_text() -> None:
    first = records("text one", subject="Disk full")[1][0]["message_key"]
    again = records("text one", subject="Disk full")[1][0]["message_key"]
    second = records("text two", subject="Disk full")[1][0]["message_key"]
    other = records("text one", subject="CPU high")[1][0]["message_key"]
    assert first == again
    assert len({first, second, other}) == 3
    assert first.startswith(f"{TOPIC}:Disk full:sha256:")


def test_plain_text_without_subject_keys_on_the_text() -> None:
    assert records("a")[1][0]["message_key"] != records("b")[1][0]["message_key"]
    assert records("a")[1][0]["message_key"] == records("a")[1][0]["message_key"]


def test_json_of_unknown_shape_is_kept_as_text() -> None:
    name, [record] = records({"hello": "world"}, subject="app event")
    assert name == "plain_text"
    assert '{"hello": "world"}' in record["description"]


RDS_SUBJECT = "RDS Notification Message"


def rds_event(db: str, message: str = "DB instance restarted", **changes: object) -> dict[str, object]:
    """An RDS event subscription's notification, as RDS publishes it to SNS."""
    event: dict[str, object] = {
        "Event Source": "db-instance",
        "Event Time": "2026-11-29 08:15:00.000",
        "Identifier Link": f"https://console.aws.amazon.com/rds/home?region=eu-west-1#dbinstance:id={db}",
        "Source ID": db,
        "Source ARN": f"arn:aws:rds:eu-west-1:123456789012:db:{db}",
        "Event ID": "http://docs.amazonwebservices.com/AmazonRDS/latest/UserGuide/USER_Events.html#RDS-EVENT-0006",
        "Event Message": message,
    }
    event.update(changes)
    return {key: value for key, value in event.items() if value is not None}


def test_rds_events_about_different_instances_are_different_alerts() -> None:
    first = records(rds_event("prod-db-1"), subject=RDS_SUBJECT)[1][0]["message_key"]
    repeat = records(rds_event("prod-db-1"), subject=RDS_SUBJECT)[1][0]["message_key"]
    other = records(rds_event("prod-db-2"), subject=RDS_SUBJECT)[1][0]["message_key"]
    assert first == repeat == f"{TOPIC}:{RDS_SUBJECT}:arn:aws:rds:eu-west-1:123456789012:db:prod-db-1"
    assert other != first


def test_without_an_arn_the_source_id_and_its_kind_identify_the_object() -> None:
    [record] = records(rds_event("prod-db-1", **{"Source ARN": None}), subject=RDS_SUBJECT)[1]
    assert record["message_key"] == f"{TOPIC}:{RDS_SUBJECT}:db-instance/prod-db-1"


@pytest.mark.parametrize(
    ("payload", "identity"),
    [
        ({"SourceArn": "arn:aws:s3:::bucket", "detail": "x"}, "arn:aws:s3:::bucket"),
        ({"resourceId": "db-1", "state": "bad"}, "db-1"),
        ({"Resource": 42}, "42"),
        ({"source_id": "i-1", "arn": "arn:aws:ec2:eu-west-1:1:instance/i-1"}, "arn:aws:ec2:eu-west-1:1:instance/i-1"),
    ],
)
def test_identifying_fields_of_unknown_json_name_the_object(payload: dict[str, object], identity: str) -> None:
    name, [record] = records(payload, subject="app event")
    assert name == "plain_text"
    assert record["message_key"] == f"{TOPIC}:app event:{identity}"


def test_a_text_line_naming_the_object_identifies_it() -> None:
    text = "AWS Budget Notification\n\nBudget Name: prod-monthly-budget\nACTUAL Amount: ${}\n"
    first = records(text.format("812.47"), subject="AWS Budgets: over")[1][0]["message_key"]
    later = records(text.format("901.10"), subject="AWS Budgets: over")[1][0]["message_key"]
    assert first == later == f"{TOPIC}:AWS Budgets: over:prod-monthly-budget"


def test_json_without_an_identity_is_keyed_on_a_hash_of_its_text() -> None:
    one = records({"hello": "world"}, subject="app event")[1][0]["message_key"]
    two = records({"hello": "there"}, subject="app event")[1][0]["message_key"]
    assert one.startswith(f"{TOPIC}:app event:sha256:")
    assert one != two


def test_identities_that_differ_only_past_the_key_limit_stay_distinct() -> None:
    keys = {records({"Source ID": "x" * 2000 + end})[1][0]["message_key"] for end in ("a", "b")}
    assert len(keys) == 2
    assert all(len(key) <= 1024 and "…sha256:" in key for key in keys)
