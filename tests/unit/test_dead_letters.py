"""The dead-letter message: what encode writes, decode reads back field by field, in both
payload forms; reasons are redacted of secrets; damaged messages are refused by field."""

from __future__ import annotations

import base64
import gzip
import json
import random
import string
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from itom_forwarder.dead_letters import (
    KIND,
    MAX_BODY_BYTES,
    MAX_PAYLOAD_BYTES,
    VERSION,
    DeadLetter,
    NotADeadLetter,
    Unreadable,
    decode,
    encode,
)
from itom_forwarder.failures import FailureReason
from local.stack import remember_secret

SECRET = "dl-s3cret-passw0rd"
remember_secret(SECRET)

RECORD = {
    "EventSource": "aws:sns",
    "Sns": {"MessageId": "m-1", "Message": '{"node": "db-1", "severity": "catastrophic"}', "Subject": None},
}
LETTER = DeadLetter(
    payload=RECORD,
    source="sns",
    reason=FailureReason("deliver", "User Not Authorized", 403, "the user lacks the evt_mgmt_integration role"),
    attempts=4,
    input_format="generic",
    request_id="req-0123",
    first_failure_at="2026-11-29T08:00:00.000+00:00",
    function_name="itom-forwarder-prod",
    function_version="7",
)


def round_trip(letter: DeadLetter, secrets: tuple[str, ...] = ()) -> tuple[dict[str, Any], DeadLetter]:
    text = encode(letter, secrets)
    body: dict[str, Any] = json.loads(text)
    return body, decode(body)


def test_every_field_survives_the_round_trip() -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    body, decoded = round_trip(LETTER)
    # The last failure is the time the message is written.
    assert decoded.last_failure_at is not None
    assert before <= datetime.fromisoformat(decoded.last_failure_at) <= datetime.now(UTC)
    assert decoded == LETTER._replace(last_failure_at=decoded.last_failure_at)
    assert (body["kind"], body["version"]) == (KIND, VERSION)
    assert body["payload"] == RECORD  # the original record, untouched
    assert body["function"] == {"name": "itom-forwarder-prod", "version": "7", "request_id": "req-0123"}


def test_a_first_failure_is_stamped_once_and_kept_on_the_next() -> None:
    first, _ = round_trip(LETTER._replace(first_failure_at=None))
    assert first["first_failure_at"] == first["last_failure_at"]
    _, again = round_trip(LETTER._replace(first_failure_at=first["first_failure_at"]))
    assert again.first_failure_at == first["first_failure_at"]


def test_the_function_defaults_to_lambda_s_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "from-env")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
    _, decoded = round_trip(LETTER._replace(function_name=None, function_version=None))
    assert (decoded.function_name, decoded.function_version) == ("from-env", "$LATEST")


def test_a_payload_over_the_limit_is_gzipped_and_reads_back_the_same() -> None:
    rng = random.Random(7)
    # Text that compresses (a real record repeats itself) but is well over the limit.
    words = ["".join(rng.choices(string.ascii_lowercase, k=8)) for _ in range(500)]
    payload = {"Sns": {"Message": " ".join(rng.choice(words) for _ in range(200_000))}}
    text = encode(LETTER._replace(payload=payload))
    assert len(text.encode()) <= MAX_BODY_BYTES
    body = json.loads(text)
    assert "payload" not in body
    assert json.loads(gzip.decompress(base64.b64decode(body["payload_gzip_base64"]))) == payload
    assert decode(body).payload == payload


def test_a_payload_under_the_limit_stays_plain() -> None:
    body = json.loads(encode(LETTER._replace(payload={"text": "x" * 900_000})))
    assert "payload_gzip_base64" not in body
    assert body["payload"] == {"text": "x" * 900_000}


@pytest.mark.parametrize("size", [10, 1_100_000])
def test_a_lone_surrogate_survives_in_an_ascii_body(size: int) -> None:
    text = "half an emoji: \ud83d " + "y" * size
    payload = {"Sns": {"Message": text}}
    encoded = encode(LETTER._replace(payload=payload))
    assert encoded.isascii()
    encoded.encode("utf-8")  # valid for SQS: no lone surrogate left in the body itself
    assert decode(json.loads(encoded)).payload == payload


def test_secret_values_in_the_reason_are_redacted() -> None:
    reason = FailureReason("token", f"refused for {SECRET}", 401, f"detail with {SECRET} twice: {SECRET}")
    body, decoded = round_trip(LETTER._replace(reason=reason), (SECRET, "", "abc"))
    assert decoded.reason == FailureReason(
        "token", "refused for [redacted]", 401, "detail with [redacted] twice: [redacted]"
    )
    # Values too short to be a credential are not blotted out of ordinary words.
    _, short = round_trip(LETTER._replace(reason=FailureReason("map", "abc: not a severity")), ("abc",))
    assert short.reason.message == "abc: not a severity"
    assert body["payload"] == RECORD


def body_of(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(encode(LETTER))
    body.update(changes)
    return body


def gzip_body(data: bytes) -> dict[str, Any]:
    body = body_of()
    del body["payload"]
    body["payload_gzip_base64"] = base64.b64encode(data).decode()
    return body


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (body_of(attempts="three"), "attempts: not a whole number"),
        (body_of(attempts=-1), "attempts: not a whole number"),
        (body_of(attempts=True), "attempts: not a whole number"),
        (body_of(payload_gzip_base64="not base64!"), "payload_gzip_base64: not gzipped JSON in base64"),
        (gzip_body(b"plain, not gzip"), "payload_gzip_base64: not gzipped JSON in base64"),
        (gzip_body(gzip.compress(b"{not json")), "payload_gzip_base64: not gzipped JSON in base64"),
        (gzip_body(gzip.compress(b'{"a": 1}')[:-12]), "payload_gzip_base64: not gzipped JSON in base64"),  # cut
        (gzip_body(gzip.compress(b"\xff\xfe")), "payload_gzip_base64: not gzipped JSON in base64"),  # not UTF-8
        (body_of(payload_gzip_base64="\ud83d"), "payload_gzip_base64: not gzipped JSON in base64"),
        (body_of(payload_gzip_base64=12), "payload_gzip_base64: not a string"),
        (gzip_body(gzip.compress(b"[" * 100_000 + b"]" * 100_000)), "payload_gzip_base64: the payload is nested too"),
        # 40 MB of spaces in a 40 KB message: never unpacked whole into memory.
        (gzip_body(gzip.compress(b" " * (MAX_PAYLOAD_BYTES + 1))), "payload_gzip_base64: more than 33554432 bytes"),
        (body_of(version=2), "version 2 is not supported (this forwarder reads 1)"),
        (body_of(version=None), "version None is not supported"),
        (body_of(source="email"), "source: 'email' is not one of sns, sqs, direct, api"),
        (body_of(format=3), "format: not a string"),
        (body_of(reason={"step": "deliver", "message": "m", "detail": ["x"]}), "reason.detail: not a string"),
        (body_of(function={"name": 1}), "function.name: not a string"),
    ],
)
def test_damaged_messages_are_unreadable_naming_the_field(body: dict[str, Any], problem: str) -> None:
    with pytest.raises(Unreadable) as raised:
        decode(body)
    assert problem in str(raised.value)


@pytest.mark.parametrize(
    "body",
    [
        {"Records": [{"EventSource": "aws:sns"}]},  # a Lambda DLQ event: the original invocation
        {"Type": "Notification", "Message": "hello"},
        {"kind": "another-tool.dead-letter", "version": 1},
        {},
    ],
)
def test_other_messages_are_not_dead_letters(body: dict[str, Any]) -> None:
    with pytest.raises(NotADeadLetter):
        decode(body)


def test_missing_optional_fields_read_as_empty() -> None:
    decoded = decode({"kind": KIND, "version": VERSION, "source": "direct", "payload": "text"})
    assert decoded == DeadLetter(payload="text", source="direct", reason=FailureReason("unknown", ""), attempts=0)
