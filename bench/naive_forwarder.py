"""What a typical hand-written forwarder does, as the baseline: per invocation it creates a
Secrets Manager client and reads the secret, fetches an OAuth token when configured, and
posts with a one-off `requests.post` (a new connection every time)."""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import Any

import boto3
import jwt
import requests


def naive_handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    secret = json.loads(
        boto3.client("secretsmanager").get_secret_value(SecretId=os.environ["SERVICENOW_SECRET_ID"])["SecretString"]
    )
    alarm = json.loads(event["Records"][0]["Sns"]["Message"])
    record = {
        "source": "AWS CloudWatch",
        "node": alarm["Trigger"]["Dimensions"][0]["value"],
        "metric_name": alarm["Trigger"]["MetricName"],
        "type": alarm["Trigger"]["Namespace"],
        "severity": {"ALARM": "2", "OK": "0"}.get(alarm["NewStateValue"], "4"),
        "description": alarm["NewStateReason"],
        "message_key": alarm["AlarmArn"],
    }
    url = secret["instance_url"] + "/api/global/em/jsonv2"
    if secret.get("use_oauth"):
        now = int(time.time())
        claims = {"iss": secret["client_id"], "aud": secret["client_id"], "sub": secret["user_identifier"],
                  "iat": now, "exp": now + 60, "jti": str(uuid.uuid4())}  # fmt: skip
        assertion = jwt.encode(claims, secret["private_key"], algorithm="RS256", headers={"kid": secret["jwt_key_id"]})
        token = requests.post(
            secret["instance_url"] + "/oauth_token.do",
            data={
                "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "client_id": secret["client_id"],
                "client_secret": secret["client_secret"],
                "assertion": assertion,
            },
            timeout=10,
        ).json()["access_token"]
        response = requests.post(
            url, json={"records": [record]}, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
    else:
        response = requests.post(
            url, json={"records": [record]}, auth=(secret["username"], secret["password"]), timeout=10
        )
    response.raise_for_status()
    return {"delivered": 1}
