"""The environment settings: the two required ones, the groups validated on their own, and
the defaults."""

from __future__ import annotations

import pytest

from itom_forwarder.failures import ConfigError
from itom_forwarder.servicenow import ClientOptions
from itom_forwarder.settings import DeliverySettings, Settings

REQUIRED = {"SERVICENOW_SECRET_ID": "s", "DLQ_URL": "q"}


def test_settings_from_environment() -> None:
    settings = Settings.from_environ(
        {"SERVICENOW_SECRET_ID": "s", "DLQ_URL": "q", "SEVERITY_ALARM": "1", "EVENT_SOURCE": "CW prod"}
    )
    assert settings.mapping.severity_by_alarm_state["ALARM"] == "1"
    assert settings.mapping.severity_by_alarm_state["OK"] == "0"
    assert settings.mapping.alarm_source == "CW prod"
    assert settings.delivery.secret_max_age_seconds == 300


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
    ("extra", "group", "problem"),
    [
        ({"SEVERITY_OK": "9"}, "mapping", "SEVERITY_OK: must be one of 0-5"),
        ({"DELIVERY_ATTEMPTS": "0"}, "delivery", "DELIVERY_ATTEMPTS: must be at least 1"),
        ({"HTTP_READ_TIMEOUT_SECONDS": "nan"}, "delivery", "HTTP_READ_TIMEOUT_SECONDS: must be a positive number"),
        ({"SECRET_MAX_AGE_SECONDS": "five"}, "delivery", "SECRET_MAX_AGE_SECONDS: must be a whole number"),
        (
            {"FIELD_TEMPLATES": '{"node": "{{alarm.nmae}}"}'},
            "mapping",
            "FIELD_TEMPLATES: node: unknown value {{alarm.nmae}}",
        ),
        ({"FIELD_TEMPLATES": '{"additional_info": "x"}'}, "mapping", "FIELD_TEMPLATES: additional_info: not a field"),
        ({"FIELD_TEMPLATES": "node=x"}, "mapping", "FIELD_TEMPLATES: not valid JSON"),
    ],
)
def test_a_refused_setting_refuses_only_its_group_and_names_itself(
    extra: dict[str, str], group: str, problem: str
) -> None:
    environ = {"SERVICENOW_SECRET_ID": "s", "DLQ_URL": "q", "ALLOWED_HOSTS": "*.service-now.com", "EVENT_SOURCE": "x"}
    settings = Settings.from_environ(environ | extra)
    assert list(settings.refusals) == [group]
    refusal = settings.refusal()
    assert refusal is not None
    assert refusal.startswith(f"{group} settings refused: ")
    assert problem in refusal
    # The other group keeps its own values: a bad severity cannot reset ALLOWED_HOSTS.
    if group == "mapping":
        assert settings.delivery.allowed_hosts == ("*.service-now.com",)
    else:
        assert settings.mapping.alarm_source == "x"


def test_insufficient_data_can_send_nothing() -> None:
    settings = Settings.from_environ(
        {"SERVICENOW_SECRET_ID": "s", "DLQ_URL": "q", "SEVERITY_INSUFFICIENT_DATA": "none"}
    )
    assert settings.mapping.severity_by_alarm_state["INSUFFICIENT_DATA"] is None
    assert settings.refusals == {}


def test_defaults_when_only_the_required_settings_are_given() -> None:
    settings = Settings.from_environ({"SERVICENOW_SECRET_ID": " itom/servicenow ", "DLQ_URL": " https://q "})
    assert (settings.secret_id, settings.dlq_url) == ("itom/servicenow", "https://q")
    assert settings.refusals == {}
    assert settings.refusal() is None
    assert settings.delivery == DeliverySettings()
    assert settings.delivery.client == ClientOptions(
        connect_timeout_seconds=3.0, read_timeout_seconds=10.0, attempts=3, backoff_base_seconds=0.5, tls_verify=True
    )
    assert settings.delivery.batch_max_records == 100
    assert settings.delivery.allowed_hosts == ()
    assert settings.mapping.severity_by_alarm_state == {"ALARM": "2", "OK": "0", "INSUFFICIENT_DATA": "4"}
    assert settings.mapping.default_severity == "4"


def test_delivery_settings_from_environment() -> None:
    settings = Settings.from_environ(
        REQUIRED
        | {
            "HTTP_CONNECT_TIMEOUT_SECONDS": "1.5",
            "HTTP_READ_TIMEOUT_SECONDS": "20",
            "DELIVERY_ATTEMPTS": "5",
            "RETRY_BASE_DELAY_SECONDS": "0.25",
            "TLS_VERIFY": "FALSE",
            "BATCH_MAX_RECORDS": "50",
            "ALLOWED_HOSTS": " *.Service-Now.com, ,*.servicenowservices.com ",
            "SECRET_MAX_AGE_SECONDS": "0",
        }
    )
    assert settings.refusals == {}
    assert settings.delivery.client == ClientOptions(
        connect_timeout_seconds=1.5, read_timeout_seconds=20.0, attempts=5, backoff_base_seconds=0.25, tls_verify=False
    )
    assert settings.delivery.batch_max_records == 50
    assert settings.delivery.allowed_hosts == ("*.service-now.com", "*.servicenowservices.com")
    assert settings.delivery.secret_max_age_seconds == 0


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ({"TLS_VERIFY": "no"}, "TLS_VERIFY: must be true or false, got 'no'"),
        ({"BATCH_MAX_RECORDS": "0"}, "BATCH_MAX_RECORDS: must be at least 1, got 0"),
        ({"HTTP_CONNECT_TIMEOUT_SECONDS": "-1"}, "HTTP_CONNECT_TIMEOUT_SECONDS: must be a positive number"),
        ({"RETRY_BASE_DELAY_SECONDS": "inf"}, "RETRY_BASE_DELAY_SECONDS: must be a positive number"),
        ({"HTTP_READ_TIMEOUT_SECONDS": "ten"}, "HTTP_READ_TIMEOUT_SECONDS: must be a number of seconds"),
    ],
)
def test_a_refused_delivery_setting_keeps_the_delivery_defaults(extra: dict[str, str], problem: str) -> None:
    settings = Settings.from_environ(REQUIRED | {"DELIVERY_ATTEMPTS": "7"} | extra)
    refusal = settings.refusal("delivery")
    assert refusal is not None
    assert problem in refusal
    # Nothing of the refused group is half-applied: TLS verification and the rest stay the defaults.
    assert settings.delivery == DeliverySettings()
    assert settings.refusal("mapping") is None


def test_refusal_names_the_first_refused_group_asked_for() -> None:
    settings = Settings.from_environ(REQUIRED | {"SEVERITY_OK": "9", "DELIVERY_ATTEMPTS": "0"})
    assert set(settings.refusals) == {"mapping", "delivery"}
    assert str(settings.refusal("delivery")).startswith("delivery settings refused: DELIVERY_ATTEMPTS")
    assert str(settings.refusal("mapping", "delivery")).startswith("mapping settings refused: SEVERITY_OK")
    assert settings.refusal("other") is None


def test_blank_required_settings_are_missing() -> None:
    with pytest.raises(ConfigError, match="SERVICENOW_SECRET_ID: required"):
        Settings.from_environ({"SERVICENOW_SECRET_ID": "  ", "DLQ_URL": "q"})
