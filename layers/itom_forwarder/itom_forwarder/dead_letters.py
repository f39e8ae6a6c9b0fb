"""The dead-letter message: its one owner, which both writes it and reads it back.

Body (JSON, see docs/dead-letter-format.md), version 1:
    {"kind": "itom-forwarder.dead-letter", "version": 1,
     "reason": {"step", "message", "status", "detail"},
     "attempts", "first_failure_at", "last_failure_at", "received_at_ms",
     "function": {"name", "version", "request_id"},
     "source": "sns" | "sqs" | "direct" | "api", "format": <input format or null>,
     "payload": <the original record, untouched>}
Over 1 MB, "payload_gzip_base64" holds the same payload gzipped (SQS takes at most 1 MiB).
The body is written as ASCII JSON, so any payload text (a lone surrogate included) is kept
exactly and is valid for SQS.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import os
import zlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from itom_forwarder.failures import FailureReason

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageAttributeValueTypeDef, MessageTypeDef

__all__ = ["KIND", "VERSION", "DeadLetter", "DeadLetterQueue", "NotADeadLetter", "Unreadable", "decode", "encode"]

KIND = "itom-forwarder.dead-letter"
VERSION = 1
REDACTED = "[redacted]"
MAX_BODY_BYTES = 1_000_000
# The most a gzipped payload may unpack to (what was packed came from events of at most a
# few MB: an SNS or SQS record, an API body of at most 1 MiB).
MAX_PAYLOAD_BYTES = 32 * 1024 * 1024
SOURCES = ("sns", "sqs", "direct", "api")


class Unreadable(ValueError):
    """A message that claims to be a dead letter but cannot be read: left untouched."""


class NotADeadLetter(ValueError):
    """Not the forwarder's format (a Lambda DLQ event, an SNS notification...)."""


class DeadLetter(NamedTuple):
    payload: object  # the SNS or SQS record, the API request, or the whole direct event
    source: str
    reason: FailureReason
    attempts: int = 0
    input_format: str | None = None
    request_id: str | None = None
    first_failure_at: str | None = None
    last_failure_at: str | None = None
    function_name: str | None = None
    function_version: str | None = None
    # When the item first reached the forwarder (epoch ms): the ordering guard's time for
    # an event that carries none, kept so a replay is not mistaken for a new event.
    received_at_ms: int | None = None


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace any secret value in `text`: defence in depth for reasons built from
    ServiceNow's answers, which should never hold one."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return text


def _dumps(value: object) -> str:
    return json.dumps(value, default=str)


def encode(letter: DeadLetter, secrets: Iterable[str] = ()) -> str:
    """The message body; the reason's texts are redacted of every secret value."""
    secret_values = tuple(secrets)
    stamp = now()
    reason = letter.reason
    body: dict[str, Any] = {
        "kind": KIND,
        "version": VERSION,
        "reason": {
            "step": reason.step,
            "message": redact(reason.message, secret_values),
            "status": reason.status,
            "detail": redact(reason.detail, secret_values) if reason.detail else None,
        },
        "attempts": letter.attempts,
        "first_failure_at": letter.first_failure_at or stamp,
        "last_failure_at": stamp,
        "received_at_ms": letter.received_at_ms,
        "function": {
            "name": letter.function_name or os.environ.get("AWS_LAMBDA_FUNCTION_NAME"),
            "version": letter.function_version or os.environ.get("AWS_LAMBDA_FUNCTION_VERSION"),
            "request_id": letter.request_id,
        },
        "source": letter.source,
        "format": letter.input_format,
        "payload": letter.payload,
    }
    text = _dumps(body)
    if len(text) > MAX_BODY_BYTES:  # ASCII: characters are bytes
        # Still the payload, untouched once decompressed: decode reads either form.
        packed = gzip.compress(_dumps(letter.payload).encode("ascii"))
        del body["payload"]
        body["payload_gzip_base64"] = base64.b64encode(packed).decode("ascii")
        text = _dumps(body)
    return text


def _gunzip(packed: bytes) -> bytes:
    """At most MAX_PAYLOAD_BYTES of one gzip member: a small message cannot unpack into
    more memory than the function has."""
    unpacker = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # gzip framing
    data = unpacker.decompress(packed, MAX_PAYLOAD_BYTES + 1)
    if len(data) > MAX_PAYLOAD_BYTES:
        raise Unreadable(f"payload_gzip_base64: more than {MAX_PAYLOAD_BYTES} bytes once unpacked")
    if not unpacker.eof:
        raise Unreadable("payload_gzip_base64: not gzipped JSON in base64")
    return data


def _payload_of(body: Mapping[str, Any]) -> object:
    if "payload_gzip_base64" not in body:
        return body.get("payload")
    packed = body["payload_gzip_base64"]
    if not isinstance(packed, str):
        raise Unreadable("payload_gzip_base64: not a string")
    try:
        return json.loads(_gunzip(base64.b64decode(packed, validate=True)))
    except Unreadable:
        raise
    except RecursionError:
        raise Unreadable("payload_gzip_base64: the payload is nested too deeply to read") from None
    except (binascii.Error, zlib.error, ValueError):  # UnicodeDecodeError is a ValueError
        raise Unreadable("payload_gzip_base64: not gzipped JSON in base64") from None


def _int(value: object, name: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise Unreadable(f"{name}: not a whole number")
    return value


def _optional_int(value: object, name: str) -> int | None:
    return None if value is None else _int(value, name)


def _text(value: object, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise Unreadable(f"{name}: not a string")


def decode(body: Mapping[str, Any]) -> DeadLetter:
    """Read a parsed message body back; raises NotADeadLetter for another kind of message
    and Unreadable for one of ours that is damaged."""
    if body.get("kind") != KIND:
        raise NotADeadLetter("not a dead-letter message of the forwarder")
    if body.get("version") != VERSION:
        raise Unreadable(f"version {body.get('version')!r} is not supported (this forwarder reads {VERSION})")
    source = body.get("source")
    if source not in SOURCES:
        raise Unreadable(f"source: {source!r} is not one of {', '.join(SOURCES)}")
    raw_reason = body.get("reason")
    reason_fields: Mapping[str, Any] = raw_reason if isinstance(raw_reason, Mapping) else {}
    status = reason_fields.get("status")
    reason = FailureReason(
        str(reason_fields.get("step") or "unknown"),
        str(reason_fields.get("message") or ""),
        status if isinstance(status, int) and not isinstance(status, bool) else None,
        _text(reason_fields.get("detail"), "reason.detail"),
    )
    raw_function = body.get("function")
    function: Mapping[str, Any] = raw_function if isinstance(raw_function, Mapping) else {}
    return DeadLetter(
        payload=_payload_of(body),
        source=str(source),
        reason=reason,
        attempts=_int(body.get("attempts"), "attempts"),
        input_format=_text(body.get("format"), "format"),
        request_id=_text(function.get("request_id"), "function.request_id"),
        first_failure_at=_text(body.get("first_failure_at"), "first_failure_at"),
        last_failure_at=_text(body.get("last_failure_at"), "last_failure_at"),
        function_name=_text(function.get("name"), "function.name"),
        function_version=_text(function.get("version"), "function.version"),
        received_at_ms=_optional_int(body.get("received_at_ms"), "received_at_ms"),
    )


class DeadLetterQueue:
    """The SQS queue dead letters are written to (and read from by the replay)."""

    def __init__(self, queue_url: str, sqs_client: SQSClient | None = None) -> None:
        self.queue_url = queue_url
        self._sqs = sqs_client

    def client(self) -> SQSClient:
        if self._sqs is None:
            import boto3
            from botocore.config import Config

            # boto3's defaults wait 60 s per read and retry for minutes: far past an
            # invocation's budget. A dead letter that cannot be written fails the
            # invocation instead (its caller retries; nothing is lost).
            config = Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 2, "mode": "standard"})
            self._sqs = boto3.client("sqs", config=config)
        return self._sqs

    def put(
        self,
        letter: DeadLetter,
        *,
        secrets: Iterable[str] = (),
        delay_seconds: int = 0,
        extra_attributes: Mapping[str, str] | None = None,
    ) -> str:
        """Send one dead-letter message; returns its SQS message id. Raises on failure so
        the invocation fails and Lambda's retries (and the function's DLQ) keep the event."""
        attributes: dict[str, MessageAttributeValueTypeDef] = {
            "kind": {"DataType": "String", "StringValue": KIND},
            "reason_step": {"DataType": "String", "StringValue": letter.reason.step},
        }
        if letter.reason.status is not None:
            attributes["status"] = {"DataType": "Number", "StringValue": str(letter.reason.status)}
        for name, value in (extra_attributes or {}).items():
            attributes[name] = {"DataType": "String", "StringValue": value}
        response = self.client().send_message(
            QueueUrl=self.queue_url,
            MessageBody=encode(letter, secrets),
            MessageAttributes=attributes,
            DelaySeconds=delay_seconds,
        )
        return response["MessageId"]

    def receive(self, count: int, visibility_seconds: int) -> list[MessageTypeDef]:
        return (
            self.client()
            .receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=count,
                VisibilityTimeout=visibility_seconds,
                MessageAttributeNames=["All"],
                AttributeNames=["All"],
            )
            .get("Messages", [])
        )

    def delete(self, receipt_handle: str) -> None:
        self.client().delete_message(QueueUrl=self.queue_url, ReceiptHandle=receipt_handle)

    def release(self, receipt_handle: str) -> None:
        """Make a message visible again at once (it was only looked at)."""
        self.client().change_message_visibility(
            QueueUrl=self.queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=0
        )
