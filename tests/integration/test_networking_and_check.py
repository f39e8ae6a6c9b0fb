"""Networking (private CA, HTTPS proxy, TLS verification, allowed hosts, redirects) and
the connector check, through lambda_handler against an HTTPS emulator and moto."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from local.aws import LocalAws
from local.connect_proxy import ConnectProxy
from local.servicenow_emulator import ServiceNowEmulator
from local.stack import LocalStack
from local.tls import TestCA, make_ca
from tests.integration.conftest import StackFactory
from tests.samples import ROOT, load

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
    assert stack.invoke(load("sns-cloudwatch-alarm.json")) == {"delivered": 1, "dead_lettered": 0}


def test_untrusted_certificate_is_a_permanent_failure_naming_the_fix(https_stack: Any) -> None:
    stack = https_stack(trusted=False)
    assert stack.invoke(load("sns-cloudwatch-alarm.json")) == {"delivered": 0, "dead_lettered": 1}
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
    assert stack.invoke(load("sns-cloudwatch-alarm.json")) == {"delivered": 0, "dead_lettered": 1}
    reason = json.loads(stack.dead_letters()[0]["Body"])["reason"]
    assert (reason["status"], reason["message"]) == (
        307,
        "the instance answered a redirect to collector.example.net, which is not followed",
    )
    assert stack.emulator.count("POST", EVENT_API) == 1


def check(stack: LocalStack, **options: Any) -> dict[str, Any]:
    report: dict[str, Any] = stack.invoke({"action": "check", **options})
    return report


def test_connector_check_passes_and_lists_the_severities(stack: LocalStack) -> None:
    report = check(stack, send_test_event=True)
    assert report["ok"] is True
    assert [step["name"] for step in report["steps"]] == [
        "secret",
        "instance",
        "authentication",
        "severity choices",
        "test event",
    ]
    assert {item["value"]: item["label"] for item in report["severities"]}["1"] == "Critical"
    [alert] = stack.emulator.alerts.values()  # the test event, cleared at once
    assert alert.state == "Closed"


def test_connector_check_over_oauth(make_stack: StackFactory) -> None:
    report = check(make_stack(oauth=True))
    assert report["ok"] is True
    assert "OAuth token exchange" in report["steps"][2]["detail"]


@pytest.mark.parametrize(
    ("roles", "password", "failed_step", "hint"),
    [
        (("evt_mgmt_integration",), None, "severity choices", "personalize_choices"),
        (("personalize_choices",), None, "test event", "evt_mgmt_integration"),
        (("evt_mgmt_integration", "personalize_choices"), "Wr0ng-pass", "authentication", "username and password"),
    ],
)
def test_connector_check_names_what_to_fix(
    stack: LocalStack, roles: tuple[str, ...], password: str | None, failed_step: str, hint: str
) -> None:
    stack.emulator.add_user("checked.user", "Ch3cked-pass", roles=roles)
    stack.put_secret(stack.basic_secret(username="checked.user", password=password or "Ch3cked-pass"))
    stack.new_container()
    report = check(stack, send_test_event=True)
    assert report["ok"] is False
    failed = [step for step in report["steps"] if not step["ok"]]
    assert [step["name"] for step in failed] == [failed_step]
    assert hint in failed[0]["hint"]


def test_connector_check_reports_an_invalid_secret(stack: LocalStack) -> None:
    stack.put_secret({"instance_url": "ftp://x", "username": "u", "password": "Pw-0123456"})
    stack.new_container()
    report = check(stack)
    assert report["steps"] == [
        {
            "name": "secret",
            "ok": False,
            "detail": "instance_url: scheme 'ftp' is not supported, use https",
            "hint": "fix the key named above in the secret, or the function's access",
        }
    ]


def test_logs_carry_the_correlation_id_and_metrics_the_input_format() -> None:
    """The function's own stdout, as CloudWatch Logs receives it (the local runner, verbose)."""
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "local.runner",
            "--verbose",
            "events/sns-cloudwatch-alarm.json",
            "events/sqs-buffered-batch.json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    documents = [json.loads(line) for line in completed.stdout.splitlines() if line.startswith("{")]
    delivered_logs = [d for d in documents if d.get("message") == "Events delivered to ServiceNow"]
    sns_message_id = load("sns-cloudwatch-alarm.json")["Records"][0]["Sns"]["MessageId"]
    sqs_message_id = load("sqs-buffered-batch.json")["Records"][0]["messageId"]
    assert [d["correlation_id"] for d in delivered_logs] == [sns_message_id, sqs_message_id]
    assert all(d["level"] == "INFO" and "Records" not in json.dumps(d) for d in delivered_logs)  # no event logged
    emf = [d for d in documents if "_aws" in d and "EventsDelivered" in d]
    assert [(d["input_format"], d["EventsDelivered"]) for d in emf] == [
        ("cloudwatch_alarm", [1.0]),
        ("cloudwatch_alarm", [3.0]),
    ]
    assert all("ServiceNowLatency" in d and d["_aws"]["CloudWatchMetrics"][0]["Namespace"] for d in emf)


def test_runner_checks_the_instance_a_given_secret_points_to(stack: LocalStack) -> None:
    """`--check --secret-id`: no emulator of its own; the secret (here in moto) decides."""
    env = {key: value for key, value in os.environ.items() if key != "DLQ_URL"}
    completed = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "local.runner", "--check", "--send-test-event", "--secret-id", stack.secret_name],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "PASS  test event" in completed.stdout
    assert "connector check passed" in completed.stdout
    assert stack.emulator.count("POST", EVENT_API) == 2  # the test event and its clearing, on this instance
