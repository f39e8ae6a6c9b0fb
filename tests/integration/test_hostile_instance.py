"""A hostile or misconfigured instance, and secrets that could lead the credentials astray:
the host connected to is the host checked, and no secret value or token reaches a log
line, an answer, a raised error or a dead letter, even when the instance echoes it."""

from __future__ import annotations

import base64
import io
import json
import time

import pytest

from itom_forwarder.failures import TransientFailure
from local.stack import INTEGRATION_USER, LocalStack
from tests.events import rest_event, sns_event
from tests.integration.conftest import StackFactory

ALERT = {"source": "Nagios", "node": "app-01", "severity": "critical", "message_key": "nagios:app-01:disk"}


def assert_nowhere(secret: str, *texts: str) -> None:
    assert all(secret not in text for text in texts)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://localhost\\.service-now.com", "must not contain spaces, control characters or backslashes"),
        ("https://acme.service-now.com\t.evil.example", "must not contain spaces, control characters or backslashes"),
        ("https://user@acme.service-now.com", "must not contain credentials"),
        ("https://[::1%25eth0].service-now.com", "not a valid URL"),
        ("https://acme.service-now.com:8443", "only the HTTPS port (443) is accepted"),
        ("https://acme.service-now.com:Pa55w0rd-in-port", "not a valid URL"),
        ("https://[::1", "not a valid URL"),
    ],
)
def test_an_instance_url_the_parsers_could_read_differently_is_refused(
    make_stack: StackFactory, url: str, problem: str
) -> None:
    stack = make_stack(environment={"ALLOWED_HOSTS": "*.service-now.com"})
    stack.put_secret(stack.basic_secret(instance_url=url))
    stack.new_container()
    assert stack.invoke(sns_event(json.dumps(ALERT))) == {"delivered": 0, "dead_lettered": 1, "superseded": 0}
    [message] = stack.dead_letters()
    reason = json.loads(message["Body"])["reason"]
    assert reason["step"] == "config"
    assert problem in reason["message"]
    assert "Pa55w0rd" not in message["Body"]  # the URL is never quoted
    report = stack.invoke({"action": "check"})
    assert [(step["name"], step["ok"]) for step in report["steps"]] == [("settings", True), ("secret", False)]
    assert stack.emulator.requests == []


def test_a_refusal_that_echoes_the_credentials_is_redacted_everywhere(
    stack: LocalStack, function_logs: io.StringIO
) -> None:
    basic = base64.b64encode(f"{INTEGRATION_USER}:{stack.password}".encode()).decode()
    echo = {"error": {"message": f"User {INTEGRATION_USER}:{stack.password} refused", "detail": f"Basic {basic}"}}
    stack.emulator.inject_fault(403, 2, body=echo)
    assert stack.invoke(sns_event(json.dumps(ALERT)))["dead_lettered"] == 1
    answer = stack.invoke(rest_event("/events", json.dumps(ALERT)))
    assert answer["statusCode"] == 502
    bodies = [message["Body"] for message in stack.dead_letters()]
    assert len(bodies) == 2
    assert "[redacted]" in bodies[0]
    assert "[redacted]" in answer["body"]
    for secret in (stack.password, basic):
        assert_nowhere(secret, function_logs.getvalue(), answer["body"], *bodies)


def test_an_echo_in_a_transient_failure_is_redacted_in_the_raised_error(
    stack: LocalStack, function_logs: io.StringIO
) -> None:
    stack.emulator.inject_fault(503, 3, body={"error": {"message": f"down, password {stack.password}"}})
    with pytest.raises(TransientFailure) as raised:  # Lambda retries; its ErrorMessage is this text
        stack.invoke(sns_event(json.dumps(ALERT)))
    assert "[redacted]" in str(raised.value)
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__
    assert_nowhere(stack.password, str(raised.value), function_logs.getvalue())


def test_an_echoed_access_token_is_redacted(make_stack: StackFactory, function_logs: io.StringIO) -> None:
    stack = make_stack(oauth=True)
    assert stack.invoke(sns_event(json.dumps(ALERT)))["delivered"] == 1
    token = stack.emulator.issued_tokens[-1]  # the one this container holds
    stack.emulator.inject_fault(403, body={"error": {"message": f"token Bearer {token} lacks a role"}})
    assert stack.invoke(sns_event(json.dumps(ALERT)))["dead_lettered"] == 1
    [message] = stack.dead_letters()
    assert "Bearer [redacted]" in message["Body"]
    assert_nowhere(token, message["Body"], function_logs.getvalue())


@pytest.mark.parametrize(
    "answer",
    [
        {"access_token": "abc\r\nX-Injected: 1", "token_type": "Bearer", "expires_in": 1800},
        {"access_token": "abcdef0123456789", "token_type": "Bearer\r\nX-Injected: 1", "expires_in": 1800},
        {"access_token": "has space", "token_type": "Bearer", "expires_in": 1800},
    ],
)
def test_a_token_that_cannot_be_a_header_is_refused_not_a_crash(
    make_stack: StackFactory, answer: dict[str, object]
) -> None:
    stack = make_stack(oauth=True)
    stack.emulator.inject_fault(200, 2, path="/oauth_token.do", body=answer)
    assert stack.invoke(sns_event(json.dumps(ALERT))) == {"delivered": 0, "dead_lettered": 1, "superseded": 0}
    [message] = stack.dead_letters()
    reason = json.loads(message["Body"])["reason"]
    assert (reason["step"], reason["message"]) == (
        "token",
        "the token endpoint answered a token that cannot be sent as a Bearer header",
    )
    assert str(answer["access_token"]) not in message["Body"]


def test_a_password_beyond_latin_1_is_sent_as_utf_8(stack: LocalStack) -> None:
    password = "pässwörd-日本-🔑"
    stack.emulator.add_user("intl.user", password)
    stack.put_secret(stack.basic_secret(username="intl.user", password=password))
    stack.new_container()
    assert stack.invoke(sns_event(json.dumps(ALERT))) == {"delivered": 1, "dead_lettered": 0, "superseded": 0}


def test_an_answer_fed_a_byte_at_a_time_cannot_hold_the_invocation(stack: LocalStack) -> None:
    # One byte every 0.2 s for 100 bytes: 20 s against an invocation of 4 s.
    stack.emulator.inject_body(200, 100, chunk=1, interval_seconds=0.2, count=3)
    started = time.monotonic()
    with pytest.raises(TransientFailure, match="did not answer"):
        stack.invoke(sns_event(json.dumps(ALERT)), timeout_seconds=4)
    assert time.monotonic() - started < 4  # within the invocation, margin included


def test_a_huge_error_body_is_read_only_up_to_the_cap(stack: LocalStack) -> None:
    stack.emulator.inject_body(403, 50_000_000, count=1)  # 50 MB of a "login page"
    assert stack.invoke(sns_event(json.dumps(ALERT))) == {"delivered": 0, "dead_lettered": 1, "superseded": 0}
    [message] = stack.dead_letters()
    assert json.loads(message["Body"])["reason"]["status"] == 403


def test_a_reset_inside_the_answer_is_transient_and_retried(stack: LocalStack) -> None:
    stack.emulator.inject_body(200, 10_000, chunk=1000, reset_after=3000, count=1)
    assert stack.invoke(sns_event(json.dumps(ALERT))) == {"delivered": 1, "dead_lettered": 0, "superseded": 0}
    assert stack.emulator.count("POST", "/api/global/em/jsonv2") == 2


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ("<html><body>Log in</body></html>", "the instance answered 200 without a result list (text/html)"),
        ("[1, 2, 3]", "the instance answered 200 without a result list (application/json)"),
    ],
)
def test_the_check_diagnoses_a_login_page_or_a_list(stack: LocalStack, body: str, detail: str) -> None:
    stack.emulator.inject_fault(200, 3, path="/api/now/table/sys_choice", body=body)
    report = stack.invoke({"action": "check"})
    [failed] = [step for step in report["steps"] if not step["ok"]]
    assert (failed["name"], failed["detail"]) == ("severity choices", detail)
    assert "login" in failed["hint"]


def test_a_partial_insert_is_delivered_and_counted(stack: LocalStack, function_logs: io.StringIO) -> None:
    stack.emulator.inject_fault(200, body={"result": {"Default Bulk Endpoint": "0 events were inserted"}})
    assert stack.invoke(sns_event(json.dumps(ALERT)))["delivered"] == 1
    logs = function_logs.getvalue()
    assert "reports events not inserted" in logs
    assert '"inserted":0' in logs


def test_a_ca_certificate_without_a_pem_block_is_refused_by_name(make_stack: StackFactory) -> None:
    stack = make_stack()
    stack.put_secret(stack.basic_secret(ca_certificate="Certificate:\n    Issuer: CN=Ünïcode Corp — no PEM here"))
    stack.new_container()
    assert stack.invoke(sns_event(json.dumps(ALERT)))["dead_lettered"] == 1
    [message] = stack.dead_letters()
    assert "ca_certificate: not a PEM certificate" in json.loads(message["Body"])["reason"]["message"]


def test_an_api_body_nested_too_deep_is_refused_not_a_crash(stack: LocalStack) -> None:
    answer = stack.invoke(rest_event("/events", '{"records": ' + "[" * 100_000 + "]" * 100_000 + "}"))
    assert (answer["statusCode"], json.loads(answer["body"])["error"]) == (400, "the JSON body is nested too deep")
    assert stack.emulator.requests == []


def test_a_direct_event_nested_too_deep_is_still_delivered(stack: LocalStack) -> None:
    nested: list[object] = []
    for _ in range(5000):
        nested = [nested]
    assert stack.invoke({"alert": "deep", "detail": nested}) == {"delivered": 1, "dead_lettered": 0, "superseded": 0}
