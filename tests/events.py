"""Lambda events of every trigger, built around one payload, for tests that send the same
thing through each path, and the headers a webhook sender authenticates with."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping
from typing import Any

from local.webhook_auth import GRAFANA_SIGNATURE_HEADER, grafana_signature
from tests.samples import load

TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:itom-forwarder-alarms"
# What API Gateway puts in requestContext.identity.apiKey on a method that requires a key:
# the key the request carried (and its id).
REST_API_KEY = "test-rest-api-key-0123456789"
REST_API_KEY_ID = "a1b2c3d4e5"


def sns_event(message: str) -> dict[str, Any]:
    """A Lambda SNS event of one notification whose Message is `message`."""
    event: dict[str, Any] = load("sns-generic-alert.json")
    event["Records"][0]["Sns"]["Message"] = message
    return event


def sqs_event(message: str, *, message_id: str = "msg-0") -> dict[str, Any]:
    """A Lambda SQS event (buffered mode) of one SNS notification whose Message is `message`."""
    template = load("sqs-buffered-batch.json")["Records"][0]
    notification = {
        "Type": "Notification",
        "MessageId": f"sns-{message_id}",
        "TopicArn": TOPIC_ARN,
        "Subject": "alert",
        "Message": message,
        "Timestamp": "2026-11-29T08:00:00.000Z",
    }
    return {"Records": [{**template, "messageId": message_id, "body": json.dumps(notification)}]}


def rest_event(
    path: str,
    body: str,
    *,
    base64_body: bool = False,
    headers: Mapping[str, str] | None = None,
    api_key: bool = True,
) -> dict[str, Any]:
    """An API Gateway REST API (payload 1.0) proxy event; `headers` join Content-Type (or
    replace it).
    `api_key`: the request passed the gateway's API key check (identity.apiKey is the key,
    as on POST /events); False: a method that requires none (identity.apiKey null)."""
    event: dict[str, Any] = load("powertools-apigateway-rest-v1-proxy-event.json")
    extra = dict(headers or {})
    # The caller's content type, in whatever case, replaces the default.
    default = {} if any(name.lower() == "content-type" for name in extra) else {"Content-Type": "application/json"}
    all_headers = {**default, **extra}
    event.update(path=path, resource=path, httpMethod="POST", headers=all_headers)
    event["multiValueHeaders"] = {name: [value] for name, value in all_headers.items()}
    event["requestContext"].update(resourcePath=path, httpMethod="POST", path=f"/v1{path}")
    event["requestContext"]["identity"].update(
        apiKey=REST_API_KEY if api_key else None, apiKeyId=REST_API_KEY_ID if api_key else None
    )
    event["body"] = base64.b64encode(body.encode()).decode() if base64_body else body
    event["isBase64Encoded"] = base64_body
    return event


def http_event(
    path: str,
    body: str,
    *,
    base64_body: bool = False,
    headers: Mapping[str, str] | None = None,
    api_key: bool = False,
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event; `headers` join content-type, their names
    lowercased as an HTTP API passes them. An HTTP API has no API keys: `api_key` is only
    there so that a test can build either kind of event with the same arguments."""
    if api_key:
        raise ValueError("an HTTP API (payload 2.0) event never has an API key")
    event: dict[str, Any] = load("powertools-apigateway-http-v2-event.json")
    all_headers = {
        "content-type": "application/json",
        **{name.lower(): value for name, value in (headers or {}).items()},
    }
    event.update(routeKey=f"POST {path}", rawPath=path, rawQueryString="", headers=all_headers)
    event["requestContext"]["http"].update(method="POST", path=path)
    event["body"] = base64.b64encode(body.encode()).decode() if base64_body else body
    event["isBase64Encoded"] = base64_body
    return event


def bearer_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def basic_headers(user: str, password: str) -> dict[str, str]:
    login = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return {"Authorization": f"Basic {login}"}


def grafana_signature_headers(
    secret: str, body: bytes, timestamp_header: str | None, now: int | None = None
) -> dict[str, str]:
    """The headers Grafana signs a webhook with: the signature, and with a timestamp header
    configured, the signing time (`now`, default the current Unix second) it covers."""
    if not timestamp_header:
        return {GRAFANA_SIGNATURE_HEADER: grafana_signature(secret, body)}
    timestamp = str(now if now is not None else int(time.time()))
    return {timestamp_header: timestamp, GRAFANA_SIGNATURE_HEADER: grafana_signature(secret, body, timestamp)}
