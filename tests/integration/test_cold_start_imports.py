"""A cold start on the alert path loads no AWS SDK: in a fresh interpreter that imports only
what the function imports, the first invocation (the secret read, the guard's claim, the
POST) goes out with neither boto3 nor any botocore module loaded; boto3 comes in only when
an event must be dead-lettered (SQS, the one AWS call left to it).

The stack (moto, the emulator, the secret, the table, the queue) runs in this process; the
child gets only its endpoints and names, through the environment, as Lambda's function
would. `botocore` itself (its package module, no client, no session) is what Powertools
imports on its own for its user-agent hook: it is loaded by `import app` already, and no
invocation on the alert path adds any of it.

Nor does that first alarm load the input formats, routes and credentials of other paths
(the other alarm routes, the field templates, Alertmanager, Grafana, generic, plain text,
the AWS services' events, the API trigger and the webhook credentials' check): each is
imported when its own path first runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from typing import Any

from local.runner import CODE_PATHS
from local.stack import LocalStack
from tests.samples import ROOT, load

# The function's side: nothing but the handler, a context and the events from stdin.
CHILD = """
import json, sys

def aws_sdk():
    return sorted(m for m in sys.modules if m.split(".")[0] in ("boto3", "botocore"))

def ours():
    return sorted(m for m in sys.modules if m.startswith("itom_forwarder"))

def report(**values):
    print("RESULT " + json.dumps(values), flush=True)

import app

report(sdk=aws_sdk(), modules=ours())

class Context:
    function_name = "itom-forwarder-cold"
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:itom-forwarder-cold"
    aws_request_id = "cold-start"
    log_group_name = "/aws/lambda/itom-forwarder-cold"
    log_stream_name = "cold"

    def get_remaining_time_in_millis(self):
        return 30000

for line in sys.stdin:
    report(result=app.lambda_handler(json.loads(line), Context()), sdk=aws_sdk(), modules=ours())
"""


# What a CloudWatch alarm's first invocation must not import (a module, or a package and
# everything in it): the other formats, the API's trigger and the webhook credentials.
OFF_THE_ALERT_PATH = (
    # The other alarm routes and the field templates (none set): an SNS alarm needs neither.
    "itom_forwarder.formats.alarms.eventbridge",
    "itom_forwarder.formats.alarms.alarm_action",
    "itom_forwarder.formats.alarms.templates",
    "itom_forwarder.formats.alertmanager",
    "itom_forwarder.formats.grafana",
    "itom_forwarder.formats.generic",
    "itom_forwarder.formats.plain_text",
    "itom_forwarder.formats.aws_events",
    # The webhook routes and their credentials' code: an alert is not a webhook's.
    "itom_forwarder.api_routes",
    "itom_forwarder.webhook_auth",
    "itom_forwarder.triggers.api",
    "itom_forwarder.triggers.authentication",
    "itom_forwarder.triggers.sqs_batch",
    "itom_forwarder.triggers.check",
    "itom_forwarder.triggers.redrive",
    "itom_forwarder.servicenow.oauth",
)


def off_the_alert_path(modules: list[str]) -> list[str]:
    return [name for name in modules if any(name == off or name.startswith(off + ".") for off in OFF_THE_ALERT_PATH)]


class Child:
    """The function in its own interpreter, driven one event at a time."""

    def __init__(self) -> None:
        environment = {**os.environ, "PYTHONPATH": os.pathsep.join(str(path) for path in CODE_PATHS)}
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and code
            [sys.executable, "-c", CHILD],
            cwd=ROOT,
            env=environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._watchdog = threading.Timer(120, self.process.kill)
        self._watchdog.start()
        self._errors: str | None = None

    def result(self) -> dict[str, Any]:
        """The next report, past the function's own log lines."""
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("RESULT "):
                report: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
                return report
        raise AssertionError(f"the function's process ended: {self.stop()}")

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(event) + "\n")
        self.process.stdin.flush()
        return self.result()

    def stop(self) -> str:
        """Ends the process (stdin closed: no more events); its stderr's end."""
        if self._errors is None:
            self._watchdog.cancel()
            _, errors = self.process.communicate(timeout=30)
            self._errors = errors[-2000:]
        return self._errors


def test_the_alert_path_loads_no_aws_sdk_and_a_dead_letter_loads_boto3(stack: LocalStack) -> None:
    assert stack.alert_state_table  # the guard on, as deployed by default
    event = load("sns-cloudwatch-alarm.json")
    child = Child()
    try:
        started = child.result()
        imported = started["sdk"]
        assert imported in ([], ["botocore"])  # Powertools' own import of the bare package, if any
        # Not even the alarm's format: the settings (checked at start) do not need it.
        assert not [name for name in started["modules"] if name.startswith("itom_forwarder.formats.alarms")]

        first = child.invoke(event)
        assert first["result"] == {"delivered": 1, "dead_lettered": 0, "superseded": 0}
        assert first["sdk"] == imported  # no boto3, no botocore client, session or signer
        # The alarm's own format came in to map it; no other path's modules did.
        assert "itom_forwarder.formats.alarms.sns_notification" in first["modules"]
        assert off_the_alert_path(first["modules"]) == []
        # Signed by aws_api, each signature checked by the local server.
        assert stack.aws.calls("secretsmanager.GetSecretValue") == 1
        assert stack.aws.calls("dynamodb.UpdateItem") == 1
        assert stack.emulator.count("POST", "/api/global/em/jsonv2") == 1

        stack.emulator.inject_fault(403, body={"error": {"message": "User Not Authorized", "detail": "cold start"}})
        second = child.invoke(event)  # the same event again: the guard lets a retry through
        assert second["result"] == {"delivered": 0, "dead_lettered": 1, "superseded": 0}
        assert {"boto3", "botocore.client"} <= set(second["sdk"])  # only now, for SQS
    finally:
        errors = child.stop()
    assert child.process.returncode == 0, errors
    [letter] = stack.dead_letters()
    assert json.loads(letter["Body"])["reason"]["status"] == 403
