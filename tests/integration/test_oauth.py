"""OAuth 2.0 JWT bearer through lambda_handler, against moto's server and the emulator's
/oauth_token.do, over real sockets."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from local.keys import make_key_pair
from local.stack import LocalStack
from tests.integration.conftest import StackFactory, assert_no_secret_in
from tests.samples import load

EVENT_API = "/api/global/em/jsonv2"
TOKEN_API = "/oauth_token.do"


def alarm(index: int = 0) -> dict[str, object]:
    event = load("sns-cloudwatch-alarm.json")
    event["Records"][0]["Sns"]["MessageId"] = f"oauth-{index}"
    return event


def dead_letter_reason(stack: LocalStack) -> dict[str, object]:
    [message] = stack.dead_letters()
    assert_no_secret_in(message["Body"], stack)
    reason: dict[str, object] = json.loads(message["Body"])["reason"]
    return reason


def test_warm_invocations_make_one_token_request(make_stack: StackFactory) -> None:
    stack = make_stack(oauth=True)
    for index in range(20):
        assert stack.invoke(alarm(index)) == {"delivered": 1, "dead_lettered": 0, "superseded": 0}
    assert stack.emulator.token_requests == 1
    assert stack.emulator.count("POST", EVENT_API) == 20
    assert stack.aws.calls("secretsmanager.GetSecretValue") == 1
    assert stack.emulator.connections_opened == 1
    assert all(r.user == "aws.integration" for r in stack.emulator.requests if r.path == EVENT_API)


def test_a_new_token_is_fetched_once_the_lifetime_runs_out(make_stack: StackFactory) -> None:
    stack = make_stack(oauth=True, token_lifetime_seconds=2)
    stack.invoke(alarm(1))
    stack.invoke(alarm(2))
    assert stack.emulator.token_requests == 1
    time.sleep(2.1)
    stack.invoke(alarm(3))
    stack.invoke(alarm(4))
    assert stack.emulator.token_requests == 2
    assert len(stack.emulator.events) == 4


def test_a_revoked_token_is_replaced_in_the_same_invocation(make_stack: StackFactory) -> None:
    stack = make_stack(oauth=True)
    stack.invoke(alarm(1))
    stack.emulator.expire_tokens()
    assert stack.invoke(alarm(2)) == {"delivered": 1, "dead_lettered": 0, "superseded": 0}
    assert stack.emulator.token_requests == 2
    assert [r.status for r in stack.emulator.requests if r.path == EVENT_API] == [200, 401, 200]
    assert stack.aws.calls("secretsmanager.GetSecretValue") == 1  # a new token was enough


def test_a_rotated_key_in_secrets_manager_is_picked_up(make_stack: StackFactory) -> None:
    stack = make_stack(oauth=True)
    stack.invoke(alarm(1))
    rotated = make_key_pair()
    stack.register_certificate(rotated.certificate_pem)  # the verifier map now holds the new certificate
    stack.put_secret(stack.oauth_secret(private_key=rotated.private_key_pem, private_key_password=None))
    stack.emulator.expire_tokens()
    assert stack.invoke(alarm(2)) == {"delivered": 1, "dead_lettered": 0, "superseded": 0}
    token_statuses = [r.status for r in stack.emulator.requests if r.path == TOKEN_API]
    assert token_statuses == [200, 401, 200]  # the old key is refused, the re-read secret's key works
    assert stack.aws.calls("secretsmanager.GetSecretValue") == 2


def test_token_endpoint_outage_is_retried(make_stack: StackFactory) -> None:
    stack = make_stack(oauth=True)
    stack.emulator.inject_fault(503, path=TOKEN_API)
    assert stack.invoke(alarm()) == {"delivered": 1, "dead_lettered": 0, "superseded": 0}
    assert [r.status for r in stack.emulator.requests if r.path == TOKEN_API] == [503, 200]


TOKEN_REFUSALS = [
    ("client_secret", "wrong-client-secret", "ServiceNow refused the token request: server_error (access_denied)"),
    ("jwt_key_id", "some-other-kid", "ServiceNow refused the token request: server_error (access_denied)"),
    ("user_identifier", "nobody@example.com", "ServiceNow refused the token request: invalid_grant (User not found)"),
]


@pytest.mark.parametrize(("key", "value", "message"), TOKEN_REFUSALS)
def test_refused_token_request_is_dead_lettered_after_one_secret_reread(
    make_stack: StackFactory, key: str, value: str, message: str
) -> None:
    stack = make_stack(oauth=True)
    stack.put_secret(stack.oauth_secret(**{key: value}))
    stack.new_container()
    assert stack.invoke(alarm()) == {"delivered": 0, "dead_lettered": 1, "superseded": 0}
    reason = dead_letter_reason(stack)
    assert (reason["step"], reason["status"], reason["message"]) == ("token", 401, message)
    assert "jwt_key_id" in str(reason["detail"])  # says what to check
    assert stack.aws.calls("secretsmanager.GetSecretValue") == 2
    assert stack.emulator.count("POST", EVENT_API) == 0


def test_key_that_does_not_match_the_certificate_is_refused(make_stack: StackFactory) -> None:
    stack = make_stack(oauth=True)
    stranger = make_key_pair()
    stack.put_secret(stack.oauth_secret(private_key=stranger.private_key_pem, private_key_password=None))
    stack.new_container()
    assert stack.invoke(alarm())["dead_lettered"] == 1
    assert dead_letter_reason(stack)["message"] == "ServiceNow refused the token request: server_error (access_denied)"


def _ec_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    return (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"private_key_password": None}, "private_key_password: required, private_key is encrypted"),
        ({"private_key_password": "not-the-password"}, "private_key_password: does not decrypt private_key"),
        ({"private_key": "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", "private_key_password": None}, "private_key: not a PEM"),
        ({"private_key": "ec", "private_key_password": None}, "private_key: EC keys are not supported"),
        ({"client_id": None}, "client_id: required when use_oauth is true"),
    ],
)
def test_bad_key_configuration_is_dead_lettered_with_its_own_message(
    make_stack: StackFactory, overrides: dict[str, object], message: str
) -> None:
    stack = make_stack(oauth=True)
    if overrides.get("private_key") == "ec":
        overrides = {**overrides, "private_key": _ec_key()}
    stack.put_secret(stack.oauth_secret(**overrides))
    stack.new_container()
    assert stack.invoke(alarm())["dead_lettered"] == 1
    reason = dead_letter_reason(stack)
    assert reason["step"] == "config"
    assert message in str(reason["message"])
    assert stack.emulator.token_requests == 0


def test_password_given_for_an_unencrypted_key_works_with_a_warning(
    make_stack: StackFactory, function_logs: io.StringIO
) -> None:
    stack = make_stack(oauth=True)
    plain = make_key_pair(traditional=True)  # PKCS#1, no encryption
    stack.register_certificate(plain.certificate_pem)
    stack.put_secret(stack.oauth_secret(private_key=plain.private_key_pem, private_key_password="foobar"))
    stack.new_container()
    assert stack.invoke(alarm())["delivered"] == 1
    output = function_logs.getvalue()
    assert "private_key is not encrypted: private_key_password is not needed and is ignored" in output
    assert_no_secret_in(output, stack)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl binary on this machine")
@pytest.mark.parametrize(
    "genrsa",
    [
        # The connector doc's command: OpenSSL 3 writes an UNENCRYPTED key despite -passout.
        ["openssl", "genrsa", "-passout", "pass:foobar", "-out", "key.pem", "3072"],
        # The command that really encrypts, as the README shows.
        ["openssl", "genrsa", "-aes256", "-passout", "pass:foobar", "-out", "key.pem", "3072"],
    ],
)
def test_keys_made_by_the_docs_openssl_commands_work(
    make_stack: StackFactory, tmp_path: Path, genrsa: list[str]
) -> None:
    openssl = shutil.which("openssl") or "openssl"
    subprocess.run([openssl, *genrsa[1:]], cwd=tmp_path, check=True, capture_output=True)  # noqa: S603 - fixed argv
    password_args = ["-passin", "pass:foobar"]
    subprocess.run(  # noqa: S603 - fixed argv
        [openssl, "req", "-new", "-x509", "-key", "key.pem", "-out", "cert.pem", "-days", "360",
         "-subj", "/CN=itom-forwarder", *password_args],
        cwd=tmp_path, check=True, capture_output=True,
    )  # fmt: skip
    key_pem = (tmp_path / "key.pem").read_text()
    assert ("ENCRYPTED" in key_pem) == ("-aes256" in genrsa)
    stack = make_stack(oauth=True)
    stack.register_certificate((tmp_path / "cert.pem").read_text())
    stack.put_secret(stack.oauth_secret(private_key=key_pem, private_key_password="foobar"))
    stack.new_container()
    assert stack.invoke(alarm()) == {"delivered": 1, "dead_lettered": 0, "superseded": 0}
