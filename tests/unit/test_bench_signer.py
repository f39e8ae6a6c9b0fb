"""The benchmark's own SigV4 signer (bench/sigv4.py) signs as botocore does, so the bare
signed baselines of `make bench` are real signed requests (moto does not check them)."""

from __future__ import annotations

import datetime
import json

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from bench.sigv4 import sign

URL = "https://dynamodb.eu-west-1.amazonaws.com/"
BODY = json.dumps({"TableName": "alert-state", "Key": {"message_key": {"S": "k"}}}).encode()
HEADERS = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.UpdateItem"}


@pytest.mark.parametrize(
    ("url", "token"),
    [(URL, "session-token"), (URL, None), ("http://127.0.0.1:5123/", "session-token")],
)
def test_signature_matches_botocore(url: str, token: str | None) -> None:
    request = AWSRequest(method="POST", url=url, data=BODY, headers=dict(HEADERS))
    SigV4Auth(Credentials("AKIDEXAMPLE", "secret/key+example", token), "dynamodb", "eu-west-1").add_auth(request)
    amz_date = request.headers["X-Amz-Date"]
    now = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC)

    ours = sign(
        "POST",
        url,
        HEADERS,
        BODY,
        service="dynamodb",
        region="eu-west-1",
        access_key="AKIDEXAMPLE",
        secret_key="secret/key+example",
        session_token=token,
        now=now,
    )

    assert ours["Authorization"] == request.headers["Authorization"]
    assert ours["X-Amz-Date"] == amz_date
    assert ours.get("X-Amz-Security-Token") == request.headers.get("X-Amz-Security-Token")
