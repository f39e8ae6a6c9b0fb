"""The ingest secret's document: every key optional, each shape checked with a reason that
names the key and never shows a value."""

from __future__ import annotations

import pytest

from itom_forwarder.webhook_auth import BasicCredential, CredentialsInvalid, WebhookCredentials, parse_credentials

DOCUMENT = {
    "bearer_tokens": ["old-token-0123456789", "new-token-9876543210"],
    "basic_credentials": [{"username": "alertmanager", "password": "s3cret-basic-password"}],
    "grafana_hmac_secret": "hmac-secret-abcdefghij",
    "grafana_hmac_timestamp_header": "X-Grafana-Alerting-Timestamp",
}


def test_a_full_document() -> None:
    credentials = parse_credentials(DOCUMENT)
    assert credentials.bearer_tokens == ("old-token-0123456789", "new-token-9876543210")
    assert credentials.basic_credentials == (BasicCredential("alertmanager", "s3cret-basic-password"),)
    assert credentials.grafana_hmac_secret == "hmac-secret-abcdefghij"
    assert credentials.grafana_hmac_timestamp_header == "X-Grafana-Alerting-Timestamp"
    assert set(credentials.secret_values) == {
        "old-token-0123456789",
        "new-token-9876543210",
        "s3cret-basic-password",
        "hmac-secret-abcdefghij",
    }


def test_every_key_is_optional() -> None:
    assert parse_credentials({}) == WebhookCredentials()
    assert parse_credentials({"bearer_tokens": ["t"]}).basic_credentials == ()


def test_no_value_is_shown_by_repr() -> None:
    shown = repr(parse_credentials(DOCUMENT))
    assert not any(value in shown for value in parse_credentials(DOCUMENT).secret_values)
    assert "alertmanager" in repr(BasicCredential("alertmanager", "pw-not-shown"))
    assert "pw-not-shown" not in repr(BasicCredential("alertmanager", "pw-not-shown"))


@pytest.mark.parametrize(
    ("document", "named"),
    [
        ({"bearer_token": ["singular"]}, "unknown key(s) bearer_token"),
        ({"bearer_tokens": "one-string"}, "bearer_tokens: must be a list"),
        ({"bearer_tokens": ["ok", ""]}, "bearer_tokens: must be a list of non-empty strings"),
        ({"basic_credentials": {"username": "a", "password": "b"}}, "basic_credentials: must be a list"),
        ({"basic_credentials": [{"username": "a:b", "password": "c"}]}, "basic_credentials[0].username"),
        ({"basic_credentials": [{"username": "a"}]}, "basic_credentials[0].password"),
        ({"grafana_hmac_secret": 12}, "grafana_hmac_secret: must be a non-empty string"),
        ({"grafana_hmac_secret": "s", "grafana_hmac_timestamp_header": "Bad Header"}, "must be an HTTP header name"),
        ({"grafana_hmac_timestamp_header": "X-Ts"}, "set without grafana_hmac_secret"),
    ],
)
def test_a_document_in_no_usable_shape_names_the_key(document: dict[str, object], named: str) -> None:
    with pytest.raises(CredentialsInvalid) as raised:
        parse_credentials(document)
    assert named in str(raised.value)
    assert "one-string" not in str(raised.value)
