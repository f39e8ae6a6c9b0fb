"""The client against moto's server over HTTP, as the function uses it: Secrets Manager's
GetSecretValue and DynamoDB's conditional UpdateItem and TransactWriteItems (the error
bodies the guard reads). And the local server's own SigV4 check, which makes every
integration test a proof of the signatures: what is signed wrong is refused like AWS does."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from itom_forwarder.aws_api import AwsApiError, AwsCredentials, AwsJsonClient
from itom_forwarder.aws_api.signing import host_of, sign
from local.aws import LOCAL_ENVIRONMENT, LocalAws

LOCAL = AwsCredentials(
    LOCAL_ENVIRONMENT["AWS_ACCESS_KEY_ID"],
    LOCAL_ENVIRONMENT["AWS_SECRET_ACCESS_KEY"],
    LOCAL_ENVIRONMENT["AWS_SESSION_TOKEN"],
)


@pytest.fixture(scope="module")
def moto() -> Iterator[LocalAws]:
    with LocalAws() as aws:
        yield aws


def secrets_manager(aws: LocalAws, credentials: AwsCredentials | None = None) -> AwsJsonClient:
    return AwsJsonClient.from_environment(
        {
            **aws.environment(),
            **({} if credentials is None else {"AWS_SECRET_ACCESS_KEY": credentials.secret_access_key}),
        },
        service="secretsmanager",
        service_env_name="SECRETS_MANAGER",
        endpoint_prefix="secretsmanager",
        signing_name="secretsmanager",
        target_prefix="secretsmanager",
        json_version="1.1",
        connect_timeout=2,
        read_timeout=3,
        max_attempts=2,
    )


def dynamodb(aws: LocalAws) -> AwsJsonClient:
    return AwsJsonClient.from_environment(
        aws.environment(),
        service="dynamodb",
        service_env_name="DYNAMODB",
        endpoint_prefix="dynamodb",
        signing_name="dynamodb",
        target_prefix="DynamoDB_20120810",
        json_version="1.0",
        connect_timeout=1,
        read_timeout=2,
        max_attempts=2,
    )


def update(table: str, key: str, time_ms: int) -> dict[str, Any]:
    return {
        "TableName": table,
        "Key": {"message_key": {"S": key}},
        "UpdateExpression": "SET source_time = :t",
        "ConditionExpression": "attribute_not_exists(source_time) OR source_time < :t",
        "ExpressionAttributeValues": {":t": {"N": str(time_ms)}},
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


def test_a_secret_is_read(moto: LocalAws) -> None:
    name = f"aws-api/{uuid.uuid4().hex[:8]}"
    moto.create_secret(name, {"instance_url": "https://acme.service-now.com", "note": "naïve ✓"})
    before = moto.calls("secretsmanager.GetSecretValue")
    answer = secrets_manager(moto).call("GetSecretValue", {"SecretId": name})
    assert json.loads(answer["SecretString"])["note"] == "naïve ✓"
    assert moto.calls("secretsmanager.GetSecretValue") == before + 1


def test_a_missing_secret_is_its_aws_error(moto: LocalAws) -> None:
    with pytest.raises(AwsApiError) as raised:
        secrets_manager(moto).call("GetSecretValue", {"SecretId": "aws-api/missing"})
    assert raised.value.code == "ResourceNotFoundException"


def test_dynamodb_s_refusals_carry_the_item_and_the_cancellation_reasons(moto: LocalAws) -> None:
    table = moto.create_alert_state_table(f"aws-api-{uuid.uuid4().hex[:8]}")
    client = dynamodb(moto)
    try:
        assert "Attributes" not in client.call("UpdateItem", update(table, "k-€", 2000))
        with pytest.raises(AwsApiError) as refused:
            client.call("UpdateItem", update(table, "k-€", 1000))
        assert refused.value.code == "ConditionalCheckFailedException"
        assert refused.value.body["Item"]["source_time"] == {"N": "2000"}
        items = [{"Update": update(table, "k-€", 1500)}, {"Update": update(table, "other", 1500)}]
        with pytest.raises(AwsApiError) as cancelled:
            client.call("TransactWriteItems", {"TransactItems": items})
        assert cancelled.value.code == "TransactionCanceledException"
        first, second = cancelled.value.body["CancellationReasons"]
        assert (first["Code"], first["Item"]["source_time"], second["Code"]) == (
            "ConditionalCheckFailed",
            {"N": "2000"},
            "None",
        )
    finally:
        moto.client("dynamodb").delete_table(TableName=table)


# ---------------------------------------------------------------- the server checks signatures


def test_a_wrong_secret_key_is_refused_as_aws_refuses_it(moto: LocalAws) -> None:
    with pytest.raises(AwsApiError) as raised:
        secrets_manager(moto, AwsCredentials(LOCAL.access_key_id, "not-the-key", LOCAL.session_token)).call(
            "GetSecretValue", {"SecretId": "any"}
        )
    assert (raised.value.code, raised.value.status) == ("InvalidSignatureException", 403)
    assert str(raised.value).endswith(
        "The request signature we calculated does not match the signature you provided. "
        "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
    )


def test_a_body_changed_after_signing_is_refused(moto: LocalAws) -> None:
    url = moto.endpoint_url + "/"
    headers = {
        "Host": host_of(url),
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "secretsmanager.ListSecrets",
    }
    signed = sign(
        method="POST",
        url=url,
        headers=headers,
        body=b"{}",
        credentials=LOCAL,
        region="eu-west-1",
        service="secretsmanager",
        now=datetime.now(UTC),
    )
    good = requests.post(url, data=b"{}", headers={**headers, **signed}, timeout=5)
    tampered = requests.post(url, data=b'{"MaxResults":1}', headers={**headers, **signed}, timeout=5)
    assert good.status_code == 200
    assert (tampered.status_code, tampered.json()["__type"]) == (403, "InvalidSignatureException")


def test_an_unsigned_request_is_refused(moto: LocalAws) -> None:
    answer = requests.post(
        moto.endpoint_url, data=b"{}", headers={"X-Amz-Target": "secretsmanager.ListSecrets"}, timeout=5
    )
    assert (answer.status_code, answer.json()["__type"]) == (403, "MissingAuthenticationTokenException")


def test_boto3_s_signatures_pass(moto: LocalAws) -> None:
    assert os.environ["AWS_ENDPOINT_URL"] == moto.endpoint_url
    assert "SecretList" in moto.client("secretsmanager").list_secrets()
    moto.create_queue(f"aws-api-{uuid.uuid4().hex[:8]}")
    assert moto.client("sqs").list_queues()["QueueUrls"]
