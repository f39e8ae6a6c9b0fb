"""The connector check (Kibana's "test connector" and getChoices): run it before trusting
a deployment. Each step passes or fails with a hint that says what to fix.

    1. secret           the secret reads and validates
    2. instance         the instance answers (over verified TLS)
    3. authentication   basic credentials are accepted, or the OAuth token exchange works
    4. severity choices sys_choice answers (proves the role personalize_choices)
    5. test event       optional: an event with a unique message key is sent, then cleared
                        (proves evt_mgmt_integration)

As a Lambda invocation: `{"action": "check", "send_test_event": false}` returns the report.
As a command: `python -m itom_forwarder.check [--send-test-event]` against the instance the
secret (SERVICENOW_SECRET_ID) points to; `make run ARGS=--check` against the emulator.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import requests

from itom_forwarder.config import ConfigError, SecretUnavailable
from itom_forwarder.runtime import Forwarder
from itom_forwarder.servicenow.client import ServiceNowClient
from itom_forwarder.servicenow.errors import DeliveryFailure

SYS_CHOICE_PATH = "/api/now/table/sys_choice"
SEVERITY_QUERY = {
    "sysparm_query": "name=task^ORname=em_event^element=severity^language=en",
    "sysparm_fields": "label,value,dependent_value,element",
}


@dataclass
class Step:
    name: str
    ok: bool
    detail: str
    hint: str | None = None


@dataclass
class CheckReport:
    ok: bool = True
    steps: list[Step] = field(default_factory=list)
    severities: list[dict[str, str]] = field(default_factory=list)

    def add(self, step: Step) -> bool:
        self.steps.append(step)
        self.ok = self.ok and step.ok
        return step.ok

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _error_message(response: requests.Response) -> str:
    try:
        error = response.json().get("error", {})
    except (ValueError, AttributeError):
        return f"HTTP {response.status_code}"
    message = error.get("message") if isinstance(error, dict) else error
    return f"HTTP {response.status_code}: {message}" if message else f"HTTP {response.status_code}"


def _reach(client: ServiceNowClient) -> Step:
    scheme = (
        "plain HTTP (loopback emulator)" if client.instance_url.startswith("http://") else "HTTPS, certificate verified"
    )
    try:
        response = client.get(SYS_CHOICE_PATH, {"sysparm_limit": "1"}, authenticated=False)
    except requests.exceptions.SSLError:
        detail = "the TLS handshake failed: the instance's certificate is not trusted"
        return Step("instance", False, detail, "for a private CA put its certificate in the secret as ca_certificate")
    except (requests.ConnectionError, requests.Timeout) as error:
        hint = "check instance_url, DNS, HTTPS_PROXY/NO_PROXY and the function's network (VPC egress)"
        return Step("instance", False, f"no answer from the instance ({type(error).__name__})", hint)
    if 300 <= response.status_code < 400:
        detail = f"the instance redirects ({response.status_code})"
        return Step("instance", False, detail, "set instance_url to the instance's own URL")
    return Step("instance", True, f"answered HTTP {response.status_code} over {scheme}")


def _authenticate(client: ServiceNowClient, use_oauth: bool) -> Step:
    try:
        response = client.get(SYS_CHOICE_PATH, {"sysparm_limit": "1"})
    except DeliveryFailure as failure:  # the OAuth token exchange was refused or failed
        return Step("authentication", False, str(failure.reason.message), failure.reason.detail)
    if response.status_code == 401:
        hint = (
            "check client_id/client_secret, jwt_key_id, the verifier map's certificate and user_identifier"
            if use_oauth
            else "check username and password in the secret (and that the user is active)"
        )
        return Step("authentication", False, _error_message(response), hint)
    kind = "OAuth token exchange and bearer token" if use_oauth else "basic credentials"
    return Step("authentication", True, f"{kind} accepted")


def _severities(client: ServiceNowClient, report: CheckReport) -> Step:
    response = client.get(SYS_CHOICE_PATH, SEVERITY_QUERY)
    if response.status_code == 403:
        hint = "give the integration user the role personalize_choices"
        return Step("severity choices", False, _error_message(response), hint)
    if response.status_code != 200:
        return Step("severity choices", False, _error_message(response))
    result = response.json().get("result") or []
    report.severities = [{"value": str(item.get("value")), "label": str(item.get("label"))} for item in result]
    shown = ", ".join(f"{item['value']} {item['label']}" for item in report.severities)
    return Step("severity choices", bool(result), shown or "no severity choices returned")


def _test_event(client: ServiceNowClient, deadline: float) -> Step:
    key = f"itom-forwarder-check:{uuid.uuid4()}"
    event = {
        "source": "itom-forwarder check",
        "node": "itom-forwarder",
        "type": "Connector check",
        "message_key": key,
        "description": "Connector check: this event is cleared at once.",
    }
    try:
        client.send([{**event, "severity": "5"}], deadline)
        client.send([{**event, "severity": "0"}], deadline)
    except DeliveryFailure as failure:
        hint = "give the integration user the role evt_mgmt_integration" if failure.reason.status == 403 else None
        return Step("test event", False, str(failure.reason), hint or failure.reason.detail)
    return Step("test event", True, f"sent and cleared, message key {key}")


def run_check(forwarder: Forwarder, *, send_test_event: bool = False, deadline: float | None = None) -> CheckReport:
    report = CheckReport()
    end = deadline if deadline is not None else time.monotonic() + 60
    try:
        connection = forwarder.connections.connection(force_fetch=True)
        client = forwarder.client()
    except (ConfigError, SecretUnavailable) as error:
        report.add(Step("secret", False, str(error), "fix the key named above in the secret, or the function's access"))
        return report
    report.add(Step("secret", True, f"read and valid ({'OAuth JWT bearer' if connection.use_oauth else 'basic auth'})"))
    steps: list[Callable[[], Step]] = [
        lambda: _reach(client),
        lambda: _authenticate(client, connection.use_oauth),
        lambda: _severities(client, report),
    ]
    if send_test_event:
        steps.append(lambda: _test_event(client, end))
    for step in steps:
        if not report.add(step()):
            break  # later steps depend on this one
    return report


def main(argv: list[str] | None = None) -> int:
    from itom_forwarder.runtime import current_forwarder

    parser = argparse.ArgumentParser(prog="python -m itom_forwarder.check", description="Check the connection.")
    parser.add_argument("--send-test-event", action="store_true", help="send an event and clear it")
    args = parser.parse_args(argv)
    report = run_check(current_forwarder(), send_test_event=args.send_test_event)
    print(json.dumps(report.as_dict(), indent=2))
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
