"""The connection secret's schema: the instance URL, the authentication keys, a private CA
and the allowed hosts; every refusal names the key, never the value."""

from __future__ import annotations

import io

import pytest

from itom_forwarder.failures import ConfigError
from itom_forwarder.servicenow import ServiceNowConnection, host_allowed, parse_connection
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


@pytest.mark.parametrize(
    ("host", "patterns", "allowed"),
    [
        ("acme.service-now.com", (), True),  # no patterns: any host
        ("acme.service-now.com", ("*.service-now.com",), True),
        ("ACME.Service-Now.com", ("*.service-now.com",), True),  # host names are not case-sensitive
        ("acme.service-now.com.evil.example", ("*.service-now.com",), False),
        ("service-now.com", ("*.service-now.com",), False),
        ("acme.servicenowservices.com", ("*.service-now.com", "*.servicenowservices.com"), True),
        ("127.0.0.1", ("*.service-now.com",), False),
    ],
)
def test_host_patterns(host: str, patterns: tuple[str, ...], allowed: bool) -> None:
    assert host_allowed(host, patterns) is allowed


def test_instance_url_must_match_the_allowed_hosts() -> None:
    assert parse_connection(BASIC, ("*.service-now.com",)).host == "acme.service-now.com"
    with pytest.raises(ConfigError, match=r"instance_url: host 'acme.service-now.com' is not allowed by ALLOWED_HOSTS"):
        parse_connection(BASIC, ("*.servicenowservices.com",))


def test_ca_certificate_must_be_a_pem_certificate() -> None:
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
    assert parse_connection(BASIC | {"ca_certificate": pem}).ca_certificate == pem + "\n"
    # Pasted `openssl x509 -text` output around it (non-ASCII included) is left out.
    dump = f"Certificate:\n    Issuer: CN=Ünïcode Corp — test\n{pem}\ntrailing text"
    assert parse_connection(BASIC | {"ca_certificate": dump}).ca_certificate == pem + "\n"
    with pytest.raises(ConfigError, match="ca_certificate: not a PEM certificate"):
        parse_connection(BASIC | {"ca_certificate": "MIIB"})


def test_unknown_keys_are_counted_not_named_and_accepted(function_logs: io.StringIO) -> None:
    # A password pasted into the key column of the console's editor is a key: never logged.
    connection = parse_connection(BASIC | {"jira_token": "unrelated-value", "S3cret-pasted-as-key": ""})
    assert connection.username == "svc.aws"
    logs = function_logs.getvalue()
    assert "ServiceNow secret has keys the forwarder does not use" in logs
    assert '"unknown_keys":2' in logs
    assert "S3cret-pasted-as-key" not in logs
    assert "jira_token" not in logs
    assert "unrelated-value" not in logs


def test_secret_values_are_every_credential_the_connection_holds() -> None:
    assert parse_connection(BASIC).secret_values == ("Pa55-word!",)
    oauth = parse_connection(OAUTH | {"private_key_password": "k3y-pass"})
    assert set(oauth.secret_values) == {"csecret-value", OAUTH["private_key"], "k3y-pass"}
    assert ServiceNowConnection(instance_url="https://acme.service-now.com").secret_values == ()


def test_repr_shows_who_and_where_but_no_secret_field() -> None:
    connection = parse_connection(OAUTH | {"private_key_password": "k3y-passw0rd"})
    shown = repr(connection)
    assert "acme.service-now.com" in shown
    assert "svc@acme.com" in shown
    for value in ("csecret-value", "BEGIN PRIVATE KEY", "k3y-passw0rd"):
        assert value not in shown


def test_secret_values_name_every_secret_field_and_each_long_line_of_the_key() -> None:
    key_line = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"
    key = f"-----BEGIN PRIVATE KEY-----\n{key_line}\nabc\n-----END PRIVATE KEY-----"
    connection = parse_connection(OAUTH | {"private_key": key, "private_key_password": "k3y-passw0rd"})
    values = connection.secret_values
    assert {"csecret-value", key, "k3y-passw0rd", key_line} <= set(values)
    assert "abc" not in values  # too short to be told apart from ordinary text
    assert parse_connection(BASIC).secret_values == ("Pa55-word!",)
    # Equal secrets, equal connections: a re-read of an unchanged secret is no rotation.
    assert parse_connection(BASIC) == parse_connection(BASIC)
    assert parse_connection(BASIC) != parse_connection(BASIC | {"password": "An0ther-word!"})
