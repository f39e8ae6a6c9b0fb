"""The ITOM event model's limits and forms, and the secret/environment validation."""

from __future__ import annotations

import json

import pytest

from itom_forwarder.config import ConfigError, Settings, parse_connection
from itom_forwarder.event import ItomEvent, encode_additional_info
from local.stack import remember_secret

BASIC = {"instance_url": "https://acme.service-now.com", "username": "svc.aws", "password": "Pa55-word!"}
OAUTH = {
    "instance_url": "https://acme.service-now.com",
    "use_oauth": True,
    "client_id": "cid",
    "client_secret": "csecret-value",
    "jwt_key_id": "kid",
    "user_identifier": "svc@acme.com",
    "private_key": "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----",
}
remember_secret("Pa55-word!", "csecret-value")


def test_record_omits_none_and_cuts_every_limited_field() -> None:
    event = ItomEvent(severity="2", node="n" * 150, message_key="k" * 2000, description="d" * 5000)
    record = event.to_record()
    assert set(record) == {"severity", "node", "message_key", "description"}
    assert (len(record["node"]), len(record["message_key"]), len(record["description"])) == (100, 1024, 4000)
    assert record["node"].endswith("…")


def test_additional_info_stays_valid_json_within_the_limit() -> None:
    text = encode_additional_info({"small": "x", "big": "y" * 10_000, "other": "z" * 3000})
    assert len(text) <= 4000
    decoded = json.loads(text)
    assert decoded["small"] == "x"
    assert set(decoded) == {"small", "big", "other"}


def test_basic_secret_is_accepted_and_password_hidden_from_repr() -> None:
    connection = parse_connection(BASIC)
    assert connection.username == "svc.aws"
    assert "Pa55-word!" not in repr(connection)


def test_instance_url_trailing_slash_is_dropped() -> None:
    assert parse_connection(BASIC | {"instance_url": "https://acme.service-now.com/"}).instance_url == (
        "https://acme.service-now.com"
    )


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        ({"username": "u", "password": "p"}, "instance_url: required"),
        (BASIC | {"instance_url": "http://acme.service-now.com"}, "instance_url: must use https"),
        (BASIC | {"instance_url": "ftp://acme"}, "instance_url: scheme 'ftp'"),
        (
            BASIC | {"instance_url": "https://user:pw@acme.service-now.com"},
            "instance_url: must not contain credentials",
        ),
        ({"instance_url": "https://a.service-now.com", "username": "u"}, "password: required for basic"),
        (BASIC | {"client_id": "cid"}, "client_id: must not be set when use_oauth is false"),
        (BASIC | {"use_oauth": "maybe"}, "use_oauth: must be true or false"),
        (OAUTH | {"jwt_key_id": ""}, "jwt_key_id: required when use_oauth is true"),
        (OAUTH | {"username": "u"}, "username: must not be set when use_oauth is true"),
        (BASIC | {"password": 1234}, "password: must be a string"),
    ],
)
def test_invalid_secrets_name_the_key_and_never_the_value(secret: dict[str, object], problem: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_connection(secret)
    message = str(raised.value)
    assert problem in message
    for value in ("Pa55-word!", "csecret-value", "BEGIN PRIVATE KEY", "pw@"):
        assert value not in message


def test_http_is_accepted_for_a_loopback_emulator() -> None:
    for url in ("http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:8080"):
        assert parse_connection(BASIC | {"instance_url": url}).instance_url == url


def test_use_oauth_as_console_string_and_oauth_keys_validate() -> None:
    connection = parse_connection(OAUTH | {"use_oauth": "TRUE"})
    assert connection.use_oauth
    assert "csecret-value" not in repr(connection)


def test_settings_from_environment() -> None:
    settings = Settings.from_environ(
        {"SERVICENOW_SECRET_ID": "s", "DLQ_URL": "q", "SEVERITY_ALARM": "1", "EVENT_SOURCE": "CW prod"}
    )
    assert settings.mapping.severity_by_alarm_state["ALARM"] == "1"
    assert settings.mapping.severity_by_alarm_state["OK"] == "0"
    assert settings.mapping.alarm_source == "CW prod"
    assert settings.secret_max_age_seconds == 300


@pytest.mark.parametrize(
    ("environ", "problem"),
    [
        ({"DLQ_URL": "q"}, "SERVICENOW_SECRET_ID: required"),
        ({"SERVICENOW_SECRET_ID": "s"}, "DLQ_URL: required"),
    ],
)
def test_missing_required_environment_names_the_variable(environ: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        Settings.from_environ(environ)


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ({"SEVERITY_OK": "9"}, "SEVERITY_OK: must be one of 0-5"),
        ({"DELIVERY_ATTEMPTS": "0"}, "DELIVERY_ATTEMPTS: must be at least 1"),
        ({"FIELD_TEMPLATES": '{"node": "{{alarm.nmae}}"}'}, "FIELD_TEMPLATES: node: unknown value {{alarm.nmae}}"),
        ({"FIELD_TEMPLATES": '{"additional_info": "x"}'}, "FIELD_TEMPLATES: additional_info: not a field"),
        ({"FIELD_TEMPLATES": "node=x"}, "FIELD_TEMPLATES: not valid JSON"),
    ],
)
def test_bad_optional_setting_is_kept_as_the_problem_to_dead_letter_with(extra: dict[str, str], problem: str) -> None:
    settings = Settings.from_environ({"SERVICENOW_SECRET_ID": "s", "DLQ_URL": "q", **extra})
    assert settings.problem is not None
    assert problem in settings.problem


def test_insufficient_data_can_send_nothing() -> None:
    settings = Settings.from_environ(
        {"SERVICENOW_SECRET_ID": "s", "DLQ_URL": "q", "SEVERITY_INSUFFICIENT_DATA": "none"}
    )
    assert settings.mapping.severity_by_alarm_state["INSUFFICIENT_DATA"] is None
    assert settings.problem is None
