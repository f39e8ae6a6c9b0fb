"""The AWS JSON client against a real HTTP server on loopback: the request it sends (target,
content type, a signature AWS would accept), what it makes of answers (JSON, AWS errors by
`__type` or header), botocore's standard retries (5xx, throttling, timeouts, connection
errors; jittered backoff; none past a deadline) and no secret in any error or repr."""

from __future__ import annotations

import time

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from itom_forwarder.aws_api import AwsApiError, AwsCredentials, AwsUnavailable, new_session
from local.aws import free_port
from tests.unit.aws_api.servers import CREDENTIALS, Answer, Received, ScriptedAws, client_for

CONDITION_FAILED = "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException"
THROTTLED = Answer(400, {"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException", "message": "Rate exceeded"})
UPDATE = {"TableName": "alert-state", "Key": {"message_key": {"S": "k-€"}}}


def signature_is_valid(received: Received, credentials: AwsCredentials, service: str) -> bool:
    """Recomputed by botocore from what arrived: the headers the request says it signed."""
    authorization = received.headers["Authorization"]
    fields = dict(part.strip().split("=", 1) for part in authorization.split(" ", 1)[1].split(","))
    lowered = {name.lower(): value for name, value in received.headers.items()}
    signed = {name: lowered[name] for name in fields["SignedHeaders"].split(";")}
    request = AWSRequest(
        method="POST", url=f"http://{lowered['host']}{received.path}", headers=signed, data=received.body
    )
    request.context["timestamp"] = lowered["x-amz-date"]
    scope = fields["Credential"].split("/")
    reference = Credentials(credentials.access_key_id, credentials.secret_access_key, credentials.session_token)
    signer = SigV4Auth(reference, service, scope[2])
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    return bool(expected == fields["Signature"])


# ---------------------------------------------------------------- requests and answers


def test_a_call_is_one_signed_post_of_the_json_protocol(aws: ScriptedAws) -> None:
    aws.script(Answer(200, {"Attributes": {"n": {"N": "1"}}}))
    client = client_for(aws.url)
    assert client.call("UpdateItem", UPDATE) == {"Attributes": {"n": {"N": "1"}}}
    [received] = aws.received
    assert received.path == "/"
    assert received.headers["X-Amz-Target"] == "DynamoDB_20120810.UpdateItem"
    assert received.headers["Content-Type"] == "application/x-amz-json-1.0"
    assert received.headers["X-Amz-Security-Token"] == CREDENTIALS.session_token
    assert received.body == b'{"TableName":"alert-state","Key":{"message_key":{"S":"k-\\u20ac"}}}'  # botocore's
    assert received.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDLOOPBACK/")
    assert (
        "/eu-west-1/dynamodb/aws4_request, SignedHeaders=content-type;host;x-amz-date;"
        in (received.headers["Authorization"])
    )
    assert signature_is_valid(received, CREDENTIALS, "dynamodb")
    assert client.requests == 1


def test_json_1_1_and_the_signing_name(aws: ScriptedAws) -> None:
    aws.script(Answer(200, {"SecretString": "{}"}))
    client = client_for(aws.url, signing_name="secretsmanager", target_prefix="secretsmanager", json_version="1.1")
    assert client.call("GetSecretValue", {"SecretId": "s"}) == {"SecretString": "{}"}
    [received] = aws.received
    assert (received.headers["X-Amz-Target"], received.headers["Content-Type"]) == (
        "secretsmanager.GetSecretValue",
        "application/x-amz-json-1.1",
    )
    assert signature_is_valid(received, CREDENTIALS, "secretsmanager")


def test_credentials_are_taken_for_each_request(aws: ScriptedAws) -> None:
    """A provider is asked on every attempt: renewed credentials are used at once."""
    issued = iter([AwsCredentials("AKIDONE", "one"), AwsCredentials("AKIDTWO", "two", "token-two")])
    client = client_for(aws.url, credentials=lambda: next(issued))
    client.call("UpdateItem", UPDATE)
    client.call("UpdateItem", UPDATE)
    first, second = aws.received
    assert "Credential=AKIDONE/" in first.headers["Authorization"]
    assert "X-Amz-Security-Token" not in first.headers
    assert "Credential=AKIDTWO/" in second.headers["Authorization"]
    assert signature_is_valid(second, AwsCredentials("AKIDTWO", "two", "token-two"), "dynamodb")


def test_an_empty_answer_is_an_empty_object(aws: ScriptedAws) -> None:
    aws.script(Answer(200, b""))
    assert client_for(aws.url).call("TransactWriteItems", {"TransactItems": []}) == {}


def test_calls_share_one_kept_alive_connection(aws: ScriptedAws) -> None:
    client = client_for(aws.url)
    for _ in range(5):
        client.call("UpdateItem", UPDATE)
    assert len(aws.received) == 5
    assert len(aws.connections) == 1


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        (
            Answer(400, {"__type": CONDITION_FAILED, "message": "The conditional request failed"}),
            "ConditionalCheckFailedException",
        ),
        (Answer(400, {"__type": "ResourceNotFoundException", "Message": "not found"}), "ResourceNotFoundException"),
        (
            Answer(400, b"", {"x-amzn-ErrorType": "AccessDeniedException:http://internal.amazon.com/"}),
            "AccessDeniedException",
        ),
        (Answer(403, b"<html>denied</html>"), "HTTP 403"),
    ],
    ids=["namespaced-type", "bare-type", "header", "not-json"],
)
def test_an_aws_error_is_read_from_its_type_or_header_and_not_retried(
    aws: ScriptedAws, answer: Answer, code: str
) -> None:
    aws.script(answer)
    with pytest.raises(AwsApiError) as raised:
        client_for(aws.url).call("UpdateItem", UPDATE)
    assert (raised.value.code, raised.value.status) == (code, answer.status)
    assert len(aws.received) == 1


def test_the_error_body_is_there_for_the_caller(aws: ScriptedAws) -> None:
    """DynamoDB's answer to a failed condition with ALL_OLD: the item, as the guard reads it."""
    item = {"message_key": {"S": "k"}, "source_time": {"N": "1700000000000"}}
    aws.script(Answer(400, {"__type": CONDITION_FAILED, "message": "The conditional request failed", "Item": item}))
    with pytest.raises(AwsApiError) as raised:
        client_for(aws.url).call("UpdateItem", UPDATE)
    assert raised.value.body["Item"] == item
    assert str(raised.value) == (
        "dynamodb UpdateItem: ConditionalCheckFailedException (HTTP 400): The conditional request failed"
    )


def test_an_answer_that_is_not_an_object_is_no_answer(aws: ScriptedAws) -> None:
    aws.script(Answer(200, b"[1, 2]"), Answer(200, b"{truncated"))
    with pytest.raises(AwsUnavailable, match=r"no answer after 2 attempts \(an answer that is not a JSON object\)"):
        client_for(aws.url).call("UpdateItem", UPDATE)


# ---------------------------------------------------------------- retries


@pytest.mark.parametrize(
    "first",
    [
        Answer(500, b"internal error"),
        Answer(503, {"__type": "ServiceUnavailable", "message": "try later"}),
        THROTTLED,
        Answer(400, {"__type": "ProvisionedThroughputExceededException", "message": "slow down"}),
        Answer(400, {"__type": "TransactionInProgressException", "message": "in progress"}),
        Answer(400, {"__type": "RequestLimitExceeded", "message": "limit"}),
        Answer(429, {"__type": "TooManyRequestsException", "message": "too many"}),
        Answer(429, b""),
    ],
    ids=["500", "503", "throttling", "provisioned", "transaction-in-progress", "request-limit", "too-many", "429"],
)
def test_a_5xx_or_throttling_is_retried(aws: ScriptedAws, first: Answer) -> None:
    aws.script(first, Answer(200, {"ok": True}))
    assert client_for(aws.url).call("UpdateItem", UPDATE) == {"ok": True}
    assert len(aws.received) == 2
    assert signature_is_valid(aws.received[1], CREDENTIALS, "dynamodb")


def test_retries_end_at_max_attempts_with_the_last_answer(aws: ScriptedAws) -> None:
    aws.script(THROTTLED, THROTTLED, THROTTLED, Answer(200))
    with pytest.raises(AwsUnavailable) as raised:
        client_for(aws.url, max_attempts=3).call("UpdateItem", UPDATE)
    assert str(raised.value) == "dynamodb UpdateItem: no answer after 3 attempts (ThrottlingException (HTTP 400))"
    assert (raised.value.code, raised.value.status, raised.value.attempts) == ("ThrottlingException", 400, 3)
    assert len(aws.received) == 3


def test_the_backoff_is_jittered_and_exponential_longer_when_throttled(aws: ScriptedAws) -> None:
    slept: list[float] = []
    aws.script(Answer(500), Answer(500), Answer(500), THROTTLED, THROTTLED, Answer(200))
    client = client_for(aws.url, max_attempts=6, sleep=slept.append, jitter=lambda: 0.5, transient_backoff=0.025)
    client.call("UpdateItem", UPDATE)
    assert slept == pytest.approx([0.0125, 0.025, 0.05, 4.0, 8.0])  # rand * base * 2^i


def test_a_retry_never_runs_past_the_deadline(aws: ScriptedAws) -> None:
    slept: list[float] = []
    aws.script(THROTTLED, Answer(200))
    client = client_for(aws.url, sleep=slept.append, jitter=lambda: 1.0)  # a 1 s backoff
    with pytest.raises(AwsUnavailable, match=r"after 1 attempt \(ThrottlingException"):
        client.call("UpdateItem", UPDATE, deadline=time.monotonic() + 0.5)
    assert (len(aws.received), slept) == (1, [])


def test_a_deadline_already_passed_sends_nothing(aws: ScriptedAws) -> None:
    with pytest.raises(AwsUnavailable, match=r"no answer after 0 attempts \(no time left\)"):
        client_for(aws.url).call("UpdateItem", UPDATE, deadline=time.monotonic() - 1)
    assert aws.received == []


def test_a_server_that_never_answers_is_unavailable_after_its_read_timeouts(silent: str) -> None:
    client = client_for(silent, connect_timeout=0.5, read_timeout=0.3, max_attempts=2)
    started = time.monotonic()
    with pytest.raises(AwsUnavailable) as raised:
        client.call("UpdateItem", UPDATE)
    elapsed = time.monotonic() - started
    assert str(raised.value) == "dynamodb UpdateItem: no answer after 2 attempts (ReadTimeout)"
    assert (raised.value.code, raised.value.status) == (None, None)
    assert 0.6 <= elapsed < 3.0


def test_the_read_timeout_is_cut_to_the_deadline(silent: str) -> None:
    client = client_for(silent, read_timeout=5.0, max_attempts=1)
    started = time.monotonic()
    with pytest.raises(AwsUnavailable, match=r"\(ReadTimeout\)"):
        client.call("UpdateItem", UPDATE, deadline=started + 0.3)
    assert time.monotonic() - started < 2.0


def test_nothing_listening_is_a_connection_error_retried_once() -> None:
    client = client_for(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(AwsUnavailable, match=r"no answer after 2 attempts \(ConnectionError\)"):
        client.call("UpdateItem", UPDATE)
    assert client.requests == 2


# ---------------------------------------------------------------- no secret shown


def test_no_credential_or_signature_in_any_error_text(aws: ScriptedAws) -> None:
    """AWS's InvalidSignatureException echoes the canonical request (the session token among
    the signed headers): neither the token, the key nor any signature reaches an error."""
    echo = (
        "The request signature we calculated does not match the signature you provided.\n\n"
        f"The Canonical String for this request should have been\n'POST\n/\n\nx-amz-security-token:"
        f"{CREDENTIALS.session_token}\n'\nsecret {CREDENTIALS.secret_access_key}"
    )
    aws.script(Answer(403, {"__type": "InvalidSignatureException", "message": echo}))
    client = client_for(aws.url)
    with pytest.raises(AwsApiError) as raised:
        client.call("GetSecretValue", {"SecretId": "s"})
    signature = aws.received[0].headers["Authorization"].rsplit("=", 1)[1]
    shown = " ".join([str(raised.value), repr(raised.value), repr(raised.value.body), repr(client)])
    for secret in (CREDENTIALS.secret_access_key, str(CREDENTIALS.session_token), signature):
        assert secret not in shown
    assert str(raised.value) == (
        "dynamodb GetSecretValue: InvalidSignatureException (HTTP 403): "
        "The request signature we calculated does not match the signature you provided."
    )


def test_no_secret_payload_or_request_in_an_unavailable_error(aws: ScriptedAws, silent: str) -> None:
    secret_answer = b'{"SecretString": "{\\"password\\": \\"hunter2-very-secret\\"'  # cut short
    aws.script(Answer(200, secret_answer), Answer(200, secret_answer))
    with pytest.raises(AwsUnavailable) as raised:
        client_for(aws.url).call("GetSecretValue", {"SecretId": "s"})
    assert "hunter2" not in str(raised.value) + repr(raised.value)
    assert raised.value.__cause__ is None
    assert raised.value.__context__ is None  # nor the parser's error, which holds the text
    with pytest.raises(AwsUnavailable) as timed_out:
        client_for(silent, read_timeout=0.2, max_attempts=1).call("GetSecretValue", {"SecretId": "s"})
    # requests' own error holds the prepared request (its Authorization header): not kept.
    assert timed_out.value.__cause__ is None
    assert timed_out.value.__context__ is None


# ---------------------------------------------------------------- the session


def test_the_session_resolves_proxies_once_and_always_verifies_tls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "secretsmanager.eu-west-1.amazonaws.com")
    monkeypatch.delenv("https_proxy", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    proxied = new_session("https://dynamodb.eu-west-1.amazonaws.com", {})
    assert proxied.trust_env is False
    assert proxied.proxies.get("https") == "http://proxy.internal:3128"
    assert proxied.verify is True
    direct = new_session("https://secretsmanager.eu-west-1.amazonaws.com", {"REQUESTS_CA_BUNDLE": "/etc/ca.pem"})
    assert "https" not in direct.proxies
    assert direct.verify == "/etc/ca.pem"
    assert new_session("https://x", {"AWS_CA_BUNDLE": "/aws.pem", "REQUESTS_CA_BUNDLE": "/r.pem"}).verify == "/aws.pem"


def test_a_session_given_is_used(aws: ScriptedAws) -> None:
    session = requests.Session()
    client = client_for(aws.url, session=session)
    client.call("UpdateItem", UPDATE)
    assert len(session.adapters["http://"].poolmanager.pools) == 1  # type: ignore[attr-defined]
    client.close()
