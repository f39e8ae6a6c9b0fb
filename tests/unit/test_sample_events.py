"""The project's own events/ samples (used by sam local invoke and make run) map as intended."""

from __future__ import annotations

import json

import pytest

from itom_forwarder.config import MappingSettings
from itom_forwarder.formats import to_events
from tests.samples import EVENTS, load, notification_of

EXPECTED = {
    "sns-cloudwatch-alarm.json": ("cloudwatch_alarm", "2"),
    "sns-cloudwatch-ok.json": ("cloudwatch_alarm", "0"),
    "sns-cloudwatch-insufficient-data.json": ("cloudwatch_alarm", "4"),
    "sns-generic-alert.json": ("generic", "1"),
    "sns-plain-text.json": ("plain_text", "4"),
}


def test_every_event_file_is_covered() -> None:
    assert sorted(path.name for path in EVENTS.glob("sns-*.json")) == sorted(EXPECTED)


@pytest.mark.parametrize(("name", "expected"), sorted(EXPECTED.items()))
def test_event_maps_to_its_format_and_severity(name: str, expected: tuple[str, str]) -> None:
    input_format, events = to_events(notification_of(load(name)), MappingSettings())
    assert (input_format, events[0].to_record()["severity"]) == expected


def test_alarm_and_ok_samples_share_the_message_key() -> None:
    keys = {
        to_events(notification_of(load(name)), MappingSettings())[1][0].message_key
        for name in ("sns-cloudwatch-alarm.json", "sns-cloudwatch-ok.json")
    }
    assert len(keys) == 1


def test_env_file_names_the_template_function() -> None:
    env = json.loads((EVENTS / "env.json").read_text())
    assert set(env["ForwarderFunction"]) >= {"SERVICENOW_SECRET_ID", "DLQ_URL"}
