"""One delivery policy for every trigger: the same refused setting, the same bad payload
and the same refusal by ServiceNow get the same classification (step, status, message)
through SNS, SQS, the API, the replay and the check; and the defects the old spread-out
rules had (a refused setting bypassed by replay and check, a lone surrogate crashing the
invocation, the check's silent empty severity list, the commands' tracebacks) stay fixed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from itom_forwarder.container import current
from itom_forwarder.triggers.redrive import Replayer
from local.runner import CODE_PATHS
from local.stack import LocalStack
from tests.events import rest_event, sns_event, sqs_event
from tests.integration.conftest import StackFactory
from tests.samples import ROOT, load

EVENT_API = "/api/global/em/jsonv2"
ALERT = {"source": "Nagios", "node": "app-01", "severity": "critical", "message_key": "nagios:app-01:disk"}
REFUSED = {"SEVERITY_ALARM": "9", "ALLOWED_HOSTS": "*.service-now.com"}
REFUSAL = "mapping settings refused: SEVERITY_ALARM: must be one of 0-5 (0 Clear, 1 Critical ... 5 OK), got '9'"

Classification = tuple[str, int | None, str]


def reason_of(message: dict[str, Any]) -> Classification:
    reason = json.loads(message["Body"])["reason"]
    return reason["step"], reason["status"], reason["message"]


def only_dead_letter(stack: LocalStack) -> Classification:
    [message] = stack.dead_letters()
    return reason_of(message)


def through_sns(stack: LocalStack, payload: str) -> Classification:
    assert stack.invoke(sns_event(payload)) == {"delivered": 0, "dead_lettered": 1, "superseded": 0}
    return only_dead_letter(stack)


def through_sqs(stack: LocalStack, payload: str) -> Classification:
    assert stack.invoke(sqs_event(payload)) == {"batchItemFailures": []}  # kept in the DLQ: done
    return only_dead_letter(stack)


def through_api(stack: LocalStack, payload: str) -> Classification:
    answer = stack.invoke(rest_event("/events", payload))
    body = json.loads(answer["body"])
    if answer["statusCode"] == 400:  # the sender is told, nothing is kept
        assert stack.dead_letters() == []
        [problem] = body["problems"]
        return "map", None, f"records[{problem['index']}].{problem['field']}: {problem['reason']}"
    assert (answer["statusCode"], body["dead_lettered"]) == (502, 1)
    return only_dead_letter(stack)


def through_replay(stack: LocalStack, payload: str) -> Classification:
    # What Lambda's own DLQ holds after its retries: the original SNS event, with its attributes.
    attributes = {"RequestID": "r-1", "ErrorCode": "200", "ErrorMessage": "HTTP 503: Service Unavailable"}
    stack.aws.client("sqs").send_message(
        QueueUrl=stack.queue_url,
        MessageBody=json.dumps(sns_event(payload)),
        MessageAttributes={name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()},
    )
    report = Replayer(current(), retry_delay_seconds=0).run()
    assert (report.received, report.failed_again) == (1, 1)
    return only_dead_letter(stack)  # put back, with the reason it failed again


PATHS: dict[str, Callable[[LocalStack, str], Classification]] = {
    "sns": through_sns,
    "sqs": through_sqs,
    "api": through_api,
    "replay": through_replay,
}


def check(stack: LocalStack, **event: Any) -> dict[str, Any]:
    report: dict[str, Any] = stack.invoke({"action": "check", **event})
    return report


@pytest.mark.parametrize("path", PATHS)
def test_a_refused_setting_keeps_every_event_on_every_path_and_reaches_no_forbidden_host(
    make_stack: StackFactory, path: str
) -> None:
    stack = make_stack(environment=REFUSED)  # the emulator's 127.0.0.1 is not *.service-now.com
    assert PATHS[path](stack, json.dumps(ALERT)) == ("config", None, REFUSAL)
    assert stack.emulator.requests == []  # nothing reached the host ALLOWED_HOSTS forbids


def test_the_check_fails_on_the_same_refused_setting(make_stack: StackFactory) -> None:
    stack = make_stack(environment=REFUSED)
    report = check(stack, send_test_event=True)
    assert report["ok"] is False
    assert report["steps"] == [
        {
            "name": "settings",
            "ok": False,
            "detail": REFUSAL,
            "hint": (
                "fix the setting named above in the function's environment; until then every event is dead-lettered"
            ),
        }
    ]
    assert stack.emulator.requests == []


def test_a_refused_delivery_setting_is_refused_the_same_way(make_stack: StackFactory) -> None:
    stack = make_stack(environment={"HTTP_READ_TIMEOUT_SECONDS": "nan"})
    refusal = "delivery settings refused: HTTP_READ_TIMEOUT_SECONDS: must be a positive number of seconds, got 'nan'"
    assert through_sns(stack, json.dumps(ALERT)) == ("config", None, refusal)
    assert check(stack)["steps"][0]["detail"] == refusal
    assert stack.emulator.requests == []


@pytest.mark.parametrize("path", PATHS)
def test_the_same_bad_payload_is_classified_alike_on_every_path(stack: LocalStack, path: str) -> None:
    bad = json.dumps({**ALERT, "severity": "loud"})
    expected = (
        "records[0].severity: 'loud' is not a severity (expected 0-5 or critical, major, minor, warning, ok, clear)"
    )
    assert PATHS[path](stack, bad) == ("map", None, expected)
    assert stack.emulator.count("POST", EVENT_API) == 0


@pytest.fixture
def refusing_stack(stack: LocalStack) -> LocalStack:
    """The integration user lost evt_mgmt_integration: the event API answers 403."""
    stack.emulator.add_user("no.events", "N0-events-pass", roles=("personalize_choices",))
    stack.put_secret(stack.basic_secret(username="no.events", password="N0-events-pass"))
    stack.new_container()
    return stack


def test_the_same_403_is_classified_alike_on_every_path(refusing_stack: LocalStack) -> None:
    # A key per path: on one key the ordering guard would (rightly) supersede the replayed
    # event, older than the API's, instead of sending it.
    seen = {
        path: through(refusing_stack, json.dumps({**ALERT, "message_key": f"nagios:app-01:disk:{path}"}))
        for path, through in PATHS.items()
    }
    assert len(set(seen.values())) == 1, seen
    step, status, _ = seen["sns"]
    assert (step, status) == ("deliver", 403)


def test_the_check_reports_the_same_403_at_its_test_event(refusing_stack: LocalStack) -> None:
    sns_reason = through_sns(refusing_stack, json.dumps(ALERT))
    report = check(refusing_stack, send_test_event=True)
    [failed] = [step for step in report["steps"] if not step["ok"]]
    assert failed["name"] == "test event"
    assert failed["detail"].startswith(f"deliver (HTTP 403): {sns_reason[2]}")
    assert "evt_mgmt_integration" in failed["hint"]
    assert refusing_stack.dead_letters() == []  # the check's own event is never kept


def test_a_lone_surrogate_is_delivered_not_a_crash(stack: LocalStack) -> None:
    # The JSON text holds the escape of half an emoji, as a cut string leaves it.
    payload = json.dumps({**ALERT, "description": "disk almost full \ud83d"})
    assert "\\ud83d" in payload
    assert stack.invoke(sns_event(payload)) == {"delivered": 1, "dead_lettered": 0, "superseded": 0}
    [event] = stack.emulator.events
    assert event["description"] == "disk almost full \ufffd"


def test_a_lone_surrogate_in_a_dead_letter_is_kept_and_replayed(refusing_stack: LocalStack) -> None:
    payload = json.dumps({**ALERT, "description": "cut \ud83d"})
    assert refusing_stack.invoke(sns_event(payload))["dead_lettered"] == 1
    refusing_stack.put_secret(refusing_stack.basic_secret())  # fixed: the right user again
    refusing_stack.new_container()
    report = Replayer(current(), retry_delay_seconds=0).run()
    assert (report.delivered, report.failed_again) == (1, 0)
    assert refusing_stack.emulator.events[-1]["description"] == "cut \ufffd"


def test_a_lone_surrogate_in_plain_text_is_delivered(stack: LocalStack) -> None:
    event = load("sns-plain-text.json")
    event["Records"][0]["Sns"]["Message"] = "Budget exceeded \udcff"
    assert stack.invoke(event)["delivered"] == 1
    assert stack.emulator.events[0]["description"].endswith("Budget exceeded \ufffd")


def test_the_check_names_the_role_when_no_severity_comes_back(stack: LocalStack) -> None:
    # Row-level ACLs: a user without personalize_choices gets 200 and an empty result.
    stack.emulator.inject_fault(200, 3, path="/api/now/table/sys_choice", body={"result": []})
    report = check(stack)
    assert report["ok"] is False
    [failed] = [step for step in report["steps"] if not step["ok"]]
    assert (failed["name"], failed["detail"]) == ("severity choices", "no severity choices returned")
    assert "personalize_choices" in failed["hint"]


@pytest.mark.parametrize("command", ["itom_forwarder.replay", "itom_forwarder.check"])
@pytest.mark.parametrize(
    ("environment", "missing"), [({}, "SERVICENOW_SECRET_ID"), ({"SERVICENOW_SECRET_ID": "s"}, "DLQ_URL")]
)
def test_commands_without_their_environment_say_what_is_missing(
    command: str, environment: dict[str, str], missing: str
) -> None:
    env = {"PYTHONPATH": os.pathsep.join(str(path) for path in CODE_PATHS), "PATH": "/usr/bin:/bin", **environment}
    completed = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-m", command], cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=60
    )
    assert completed.returncode == 2
    assert completed.stdout == ""
    [line] = completed.stderr.splitlines()
    assert line.startswith(f"python -m {command}: {missing}: required")
