"""Networking (private CA, HTTPS proxy, TLS verification, allowed hosts, redirects),
through lambda_handler against an HTTPS emulator and moto."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from local.aws import LocalAws
from local.connect_proxy import ConnectProxy
from local.emulator import ServiceNowEmulator
from local.stack import LocalStack
from local.tls import TestCA, make_ca
from tests.integration.conftest import StackFactory
from tests.samples import load

EVENT_API = "/api/global/em/jsonv2"


@pytest.fixture(scope="module")
def ca() -> TestCA:
    return make_ca()


@pytest.fixture
def https_emulator(ca: TestCA) -> Iterator[ServiceNowEmulator]:
    with ServiceNowEmulator(tls=ca.issue_server_certificate()) as emulator:
        yield emulator


@pytest.fixture
def https_stack(local_aws: LocalAws, https_emulator: ServiceNowEmulator, ca: TestCA) -> Iterator[Any]:
    """A stack whose instance serves HTTPS with a certificate from the test CA."""
    stacks: list[LocalStack] = []

    def build(*, trusted: bool = True, **options: Any) -> LocalStack:
        stack = LocalStack(aws=local_aws, emulator=https_emulator, **options).start()
        if trusted:
            stack.put_secret(stack.basic_secret(ca_certificate=ca.certificate_pem))
            stack.new_container()
        stacks.append(stack)
        return stack

    yield build
    for stack in reversed(stacks):  # each restores the environment it found
        stack.stop()


def test_instance_behind_a_private_ca_with_ca_certificate_in_the_secret(https_stack: Any) -> None:
    stack = https_stack()
    assert stack.emulator.url.startswith("https://")
    assert stack.invoke(load("sns-cloudwatch-alarm.json")) == {"delivered": 1, "dead_lettered": 0, "superseded": 0}


def test_untrusted_certificate_is_a_permanent_failure_naming_the_fix(https_stack: Any) -> None:
    stack = https_stack(trusted=False)
    assert stack.invoke(load("sns-cloudwatch-alarm.json")) == {"delivered": 0, "dead_lettered": 1, "superseded": 0}
    reason = json.loads(stack.dead_letters()[0]["Body"])["reason"]
    assert reason["message"] == "the instance's TLS certificate is not trusted"
    assert "ca_certificate" in reason["detail"]
    assert stack.emulator.count("POST", EVENT_API) == 0


def test_tls_verification_off_only_explicitly_and_logged(https_stack: Any, function_logs: Any) -> None:
    stack = https_stack(trusted=False, environment={"TLS_VERIFY": "false"})
    assert stack.invoke(load("sns-cloudwatch-alarm.json"))["delivered"] == 1
    assert "TLS certificate verification is OFF (TLS_VERIFY=false)" in function_logs.getvalue()


def test_https_proxy_from_the_environment_is_used(https_stack: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with ConnectProxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        stack = https_stack()
        assert stack.invoke(load("sns-cloudwatch-alarm.json"))["delivered"] == 1
        host_port = stack.emulator.url.removeprefix("https://")
        assert proxy.tunnels == [host_port]
        # NO_PROXY takes the instance off the proxy.
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        stack.new_container()
        assert stack.invoke(load("sns-cloudwatch-ok.json"))["delivered"] == 1
        assert proxy.tunnels == [host_port]


def test_allowed_hosts_are_enforced_on_the_instance_url(make_stack: StackFactory) -> None:
    stack = make_stack(environment={"ALLOWED_HOSTS": "*.service-now.com, *.servicenowservices.com"})
    assert stack.invoke(load("sns-cloudwatch-alarm.json"))["dead_lettered"] == 1
    reason = json.loads(stack.dead_letters()[0]["Body"])["reason"]
    assert reason["step"] == "config"
    assert "instance_url: host '127.0.0.1' is not allowed by ALLOWED_HOSTS" in reason["message"]
    allowed = make_stack(environment={"ALLOWED_HOSTS": "127.0.0.1"})
    assert allowed.invoke(load("sns-cloudwatch-alarm.json"))["delivered"] == 1


def test_redirects_are_never_followed(stack: LocalStack) -> None:
    stack.emulator.inject_redirect("https://collector.example.net/api/global/em/jsonv2", status=307)
    assert stack.invoke(load("sns-cloudwatch-alarm.json")) == {"delivered": 0, "dead_lettered": 1, "superseded": 0}
    reason = json.loads(stack.dead_letters()[0]["Body"])["reason"]
    assert (reason["status"], reason["message"]) == (
        307,
        "the instance answered a redirect to collector.example.net, which is not followed",
    )
    assert stack.emulator.count("POST", EVENT_API) == 1


@pytest.mark.parametrize("oauth", [False, True], ids=["basic", "oauth"])
def test_an_instance_that_gzips_its_answers_is_understood(make_stack: StackFactory, oauth: bool) -> None:
    """requests asks for gzip (Accept-Encoding: gzip, deflate); an instance's web tier may
    answer so. The event API's answer (and the token endpoint's) must be read decoded: read
    as sent they are no JSON, and every alert would be dead-lettered as "no result"."""
    stack = make_stack(oauth=oauth)
    stack.emulator.compress_answers = True
    assert stack.invoke(load("sns-cloudwatch-alarm.json")) == {"delivered": 1, "dead_lettered": 0, "superseded": 0}
    assert stack.invoke(load("sns-cloudwatch-ok.json")) == {"delivered": 1, "dead_lettered": 0, "superseded": 0}
    posts = [request for request in stack.emulator.requests if request.path == EVENT_API]
    assert len(posts) == 2
    assert all("gzip" in request.headers.get("Accept-Encoding", "") for request in posts)
    assert set(stack.emulator.alert_states().values()) == {"Closed"}
    assert stack.dead_letters() == []


def test_a_gzipped_error_answer_is_read_for_its_reason(stack: LocalStack) -> None:
    stack.emulator.compress_answers = True
    stack.emulator.inject_fault(
        403, body={"error": {"message": "User Not Authorized", "detail": "no evt_mgmt_integration"}}
    )
    assert stack.invoke(load("sns-cloudwatch-alarm.json")) == {"delivered": 0, "dead_lettered": 1, "superseded": 0}
    reason = json.loads(stack.dead_letters()[0]["Body"])["reason"]
    assert (reason["status"], reason["message"]) == (403, "User Not Authorized")
