"""The dead-letter queue: the one place that writes dead-letter messages.

Message body (JSON, one documented format, see docs/dead-letter-format.md):
    {"kind": "itom-forwarder.dead-letter", "version": 1,
     "reason": {"step", "message", "status", "detail"},
     "attempts", "first_failure_at", "last_failure_at",
     "function": {"name", "version", "request_id"},
     "source": "sns" | "direct", "format": <input format or null>,
     "payload": <the original record, untouched>}
(over 1 MB, "payload_gzip_base64" holds the same payload gzipped, for SQS's 1 MiB limit)
"""

from __future__ import annotations

import base64
import gzip
import json
import os
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from itom_forwarder.servicenow.errors import FailureReason

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageAttributeValueTypeDef

KIND = "itom-forwarder.dead-letter"
VERSION = 1
REDACTED = "[redacted]"
# SQS takes at most 1 MiB a message; past this the payload is stored gzip+base64 instead.
MAX_BODY_BYTES = 1_000_000


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace any secret value in `text`: defence in depth for reasons built from
    ServiceNow's answers, which should never hold one."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return text


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class DeadLetterQueue:
    def __init__(self, queue_url: str, sqs_client: SQSClient | None = None) -> None:
        self.queue_url = queue_url
        self._sqs = sqs_client

    def _client(self) -> SQSClient:
        if self._sqs is None:
            import boto3

            self._sqs = boto3.client("sqs")
        return self._sqs

    def put(
        self,
        payload: object,
        reason: FailureReason,
        *,
        source: str,
        attempts: int,
        input_format: str | None = None,
        request_id: str | None = None,
        first_failure_at: str | None = None,
        secrets: Iterable[str] = (),
        delay_seconds: int = 0,
        extra_attributes: Mapping[str, str] | None = None,
    ) -> str:
        """Send one dead-letter message; returns its SQS message id. Raises on failure so
        the invocation fails and Lambda's retries (and the function's DLQ) keep the event."""
        secret_values = tuple(secrets)
        now = _now()
        body = {
            "kind": KIND,
            "version": VERSION,
            "reason": {
                "step": reason.step,
                "message": redact(reason.message, secret_values),
                "status": reason.status,
                "detail": redact(reason.detail, secret_values) if reason.detail else None,
            },
            "attempts": attempts,
            "first_failure_at": first_failure_at or now,
            "last_failure_at": now,
            "function": {
                "name": os.environ.get("AWS_LAMBDA_FUNCTION_NAME"),
                "version": os.environ.get("AWS_LAMBDA_FUNCTION_VERSION"),
                "request_id": request_id,
            },
            "source": source,
            "format": input_format,
            "payload": payload,
        }
        text = json.dumps(body, ensure_ascii=False, default=str)
        if len(text.encode("utf-8")) > MAX_BODY_BYTES:
            # Still the payload, untouched once decompressed: replay reads either form.
            packed = gzip.compress(json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8"))
            del body["payload"]
            body["payload_gzip_base64"] = base64.b64encode(packed).decode("ascii")
            text = json.dumps(body, ensure_ascii=False, default=str)
        attributes: dict[str, MessageAttributeValueTypeDef] = {
            "kind": {"DataType": "String", "StringValue": KIND},
            "reason_step": {"DataType": "String", "StringValue": reason.step},
        }
        if reason.status is not None:
            attributes["status"] = {"DataType": "Number", "StringValue": str(reason.status)}
        for name, value in (extra_attributes or {}).items():
            attributes[name] = {"DataType": "String", "StringValue": value}
        response = self._client().send_message(
            QueueUrl=self.queue_url,
            MessageBody=text,
            MessageAttributes=attributes,
            DelaySeconds=delay_seconds,
        )
        return response["MessageId"]
