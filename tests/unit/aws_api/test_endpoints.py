"""Where the client finds a service, the way boto3 does: the service's own endpoint
variable, then AWS_ENDPOINT_URL, then the region's endpoint (its partition's domain), and
the region from AWS_REGION or AWS_DEFAULT_REGION. Checked against boto3's own choice."""

from __future__ import annotations

import boto3
import pytest

from itom_forwarder.aws_api import AwsConfigurationError, endpoint_for, region_from

SERVICES = [("secretsmanager", "SECRETS_MANAGER", "secretsmanager"), ("dynamodb", "DYNAMODB", "dynamodb")]


@pytest.mark.parametrize("service", SERVICES, ids=[names[0] for names in SERVICES])
@pytest.mark.parametrize(
    ("region", "environ"),
    [
        ("eu-west-1", {}),
        ("cn-north-1", {}),
        ("us-gov-west-1", {}),
        ("eu-west-1", {"AWS_ENDPOINT_URL": "http://127.0.0.1:5000"}),
        ("eu-west-1", {"AWS_ENDPOINT_URL": "http://127.0.0.1:5000", "AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://sm:1"}),
        ("eu-west-1", {"AWS_ENDPOINT_URL": "http://127.0.0.1:5000", "AWS_ENDPOINT_URL_DYNAMODB": "http://ddb:2"}),
        ("eu-west-1", {"AWS_ENDPOINT_URL": "http://127.0.0.1:5000", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"}),
    ],
    ids=["regional", "china", "govcloud", "general", "secrets-manager-own", "dynamodb-own", "ignored"],
)
def test_the_endpoint_boto3_would_use(
    monkeypatch: pytest.MonkeyPatch, service: tuple[str, str, str], region: str, environ: dict[str, str]
) -> None:
    boto_name, env_name, prefix = service
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    session = boto3.session.Session(aws_access_key_id="a", aws_secret_access_key="b", region_name=region)
    expected = session.client(boto_name).meta.endpoint_url  # type: ignore[call-overload]
    assert endpoint_for(env_name, prefix, region, environ).rstrip("/") == expected.rstrip("/")


def test_an_endpoint_that_is_no_url_is_refused() -> None:
    with pytest.raises(AwsConfigurationError, match="AWS_ENDPOINT_URL_DYNAMODB: must be an http"):
        endpoint_for("DYNAMODB", "dynamodb", "eu-west-1", {"AWS_ENDPOINT_URL_DYNAMODB": "localhost:8000"})


def test_blank_variables_are_unset() -> None:
    environ = {"AWS_ENDPOINT_URL_DYNAMODB": " ", "AWS_ENDPOINT_URL": ""}
    assert endpoint_for("DYNAMODB", "dynamodb", "eu-west-1", environ) == "https://dynamodb.eu-west-1.amazonaws.com"


def test_the_region_is_lambda_s_aws_region_else_the_default_region() -> None:
    assert region_from({"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-east-1"}) == "eu-west-1"
    assert region_from({"AWS_DEFAULT_REGION": "us-east-1"}) == "us-east-1"
    with pytest.raises(AwsConfigurationError, match="no AWS region: set AWS_REGION or AWS_DEFAULT_REGION"):
        region_from({"AWS_REGION": " "})
