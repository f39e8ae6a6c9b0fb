"""The SigV4 signer: the AWS test suite's vectors, and the same Authorization header as
botocore's SigV4Auth for the requests the client makes (with and without a session token,
unicode bodies, ports, paths), at a fixed time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from itom_forwarder.aws_api import AwsCredentials
from itom_forwarder.aws_api.signing import _signing_key, host_of, sign

NOW = datetime(2015, 8, 30, 12, 36, tzinfo=UTC)
# The AWS SigV4 test suite's credentials.
EXAMPLE = AwsCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")


def test_the_signing_key_of_the_aws_documentation() -> None:
    """ "Deriving the signing key" in the SigV4 documentation: 20150830, us-east-1, iam."""
    key = _signing_key(EXAMPLE.secret_access_key, "20150830", "us-east-1", "iam")
    assert key.hex() == "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"


def test_the_post_vanilla_vector_of_the_sigv4_test_suite() -> None:
    headers = sign(
        method="POST",
        url="https://example.amazonaws.com/",
        headers={},
        body=b"",
        credentials=EXAMPLE,
        region="us-east-1",
        service="service",
        now=NOW,
    )
    assert headers == {
        "X-Amz-Date": "20150830T123600Z",
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=host;x-amz-date, "
        "Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
    }


def botocore_headers(
    url: str, headers: dict[str, str], body: bytes, credentials: AwsCredentials, *, region: str, service: str
) -> dict[str, str]:
    request = AWSRequest(method="POST", url=url, headers=headers, data=body)
    reference = Credentials(credentials.access_key_id, credentials.secret_access_key, credentials.session_token)
    # botocore reads the clock itself: fixed for the reference side only.
    with mock.patch("botocore.auth.get_current_datetime", return_value=NOW.replace(tzinfo=None)):
        SigV4Auth(reference, service, region).add_auth(request)
    return {
        name: request.headers[name]
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token")
        if name in request.headers
    }


JSON_11 = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "secretsmanager.GetSecretValue"}
JSON_10 = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.UpdateItem"}


@pytest.mark.parametrize("token", [None, "IQoJb3JpZ2luX2VjEJr//////////wEaCWV1LXdlc3QtMSJHMEUCIQ+token=="])
@pytest.mark.parametrize(
    ("url", "headers", "body"),
    [
        ("https://secretsmanager.eu-west-1.amazonaws.com/", JSON_11, b'{"SecretId":"itom-forwarder/servicenow"}'),
        ("https://dynamodb.eu-west-1.amazonaws.com", JSON_10, b'{"TableName":"t","Key":{"k":{"S":"\\u20ac"}}}'),
        ("http://127.0.0.1:4566/", JSON_10, '{"k": "€ ✓ 𝄞 naïve"}'.encode()),  # raw UTF-8
        ("https://proxy.example.com:8443/aws/dynamodb", JSON_10, b"{}"),
        ("https://dynamodb.eu-west-1.amazonaws.com:443/", {**JSON_10, "X-Extra": "  two   spaces  "}, b""),
        ("https://example.amazonaws.com/?b=2&a=1", JSON_10, b"{}"),
    ],
    ids=["secretsmanager", "dynamodb-escaped", "unicode-body-port", "path-and-port", "default-port-spaces", "query"],
)
def test_the_same_signature_as_botocore(url: str, headers: dict[str, str], body: bytes, token: str | None) -> None:
    credentials = AwsCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    service = "secretsmanager" if headers is JSON_11 else "dynamodb"
    ours = sign(
        method="POST",
        url=url,
        headers={"Host": host_of(url), **headers},
        body=body,
        credentials=credentials,
        region="eu-west-1",
        service=service,
        now=NOW,
    )
    assert ours == botocore_headers(url, dict(headers), body, credentials, region="eu-west-1", service=service)
    assert ("X-Amz-Security-Token" in ours) is (token is not None)


def test_host_is_what_botocore_signs() -> None:
    assert host_of("https://dynamodb.eu-west-1.amazonaws.com:443/") == "dynamodb.eu-west-1.amazonaws.com"
    assert host_of("http://127.0.0.1:80") == "127.0.0.1"
    assert host_of("http://127.0.0.1:5000/x") == "127.0.0.1:5000"
    assert host_of("https://user:pw@Example.COM:8443") == "example.com:8443"
    assert host_of("http://[::1]:5000/") == "[::1]:5000"


def test_the_time_is_signed_in_utc_whatever_its_zone() -> None:
    paris = NOW.astimezone(timezone(timedelta(hours=2)))
    common = {"method": "POST", "url": "https://example.amazonaws.com/", "headers": {}, "body": b""}
    signed = sign(**common, credentials=EXAMPLE, region="us-east-1", service="service", now=paris)
    assert signed == sign(**common, credentials=EXAMPLE, region="us-east-1", service="service", now=NOW)


def test_the_signing_key_is_derived_once_per_day_region_and_service() -> None:
    _signing_key.cache_clear()
    common = {"method": "POST", "url": "https://example.amazonaws.com/", "headers": {}, "credentials": EXAMPLE}
    for index in range(5):
        sign(**common, body=str(index).encode(), region="eu-west-1", service="dynamodb", now=NOW)
    sign(**common, body=b"", region="eu-west-1", service="dynamodb", now=NOW + timedelta(days=1))
    info = _signing_key.cache_info()
    assert (info.misses, info.hits) == (2, 4)


def test_no_secret_in_what_is_signed_or_shown() -> None:
    credentials = AwsCredentials("AKIDEXAMPLE", "the-secret-key", "the-session-token")
    signed = sign(
        method="POST",
        url="https://example.amazonaws.com/",
        headers={},
        body=b"",
        credentials=credentials,
        region="us-east-1",
        service="service",
        now=NOW,
    )
    assert "the-secret-key" not in repr(signed)
    assert signed["X-Amz-Security-Token"] == "the-session-token"  # sent, as AWS requires
    assert "the-secret-key" not in repr(credentials)
    assert "the-session-token" not in repr(credentials)
    assert "AKIDEXAMPLE" in repr(credentials)
