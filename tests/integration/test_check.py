"""The connector check, `{"action": "check"}` through lambda_handler and the runner's
`--check`, against moto and the emulator: every step, and what to fix when one fails."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from local.stack import LocalStack
from tests.integration.conftest import StackFactory
from tests.samples import ROOT

EVENT_API = "/api/global/em/jsonv2"


def check(stack: LocalStack, **options: Any) -> dict[str, Any]:
    report: dict[str, Any] = stack.invoke({"action": "check", **options})
    return report


def test_connector_check_passes_and_lists_the_severities(stack: LocalStack) -> None:
    report = check(stack, send_test_event=True)
    assert report["ok"] is True
    assert [step["name"] for step in report["steps"]] == [
        "settings",
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
    assert "OAuth token exchange" in report["steps"][3]["detail"]


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
        {"name": "settings", "ok": True, "detail": "accepted", "hint": None},
        {
            "name": "secret",
            "ok": False,
            "detail": "instance_url: scheme 'ftp' is not supported, use https",
            "hint": "fix the key named above in the secret, or the function's access",
        },
    ]


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
