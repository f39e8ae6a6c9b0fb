"""The connector check (Kibana's "test connector" and getChoices): run it before trusting
a deployment. Each step passes or fails with a hint that says what to fix.

    1. settings         the function's settings are accepted (the delivery policy's own
                        refusal: while it fails, every event is dead-lettered)
    2. secret           the secret reads and validates (ALLOWED_HOSTS included)
    3. instance         the instance answers (over verified TLS)
    4. authentication   basic credentials are accepted, or the OAuth token exchange works
    5. severity choices sys_choice answers with the severities (proves personalize_choices)
    6. test event       optional: an event with a unique message key is sent, then cleared,
                        through the delivery policy (proves evt_mgmt_integration)

As a Lambda invocation: `{"action": "check", "send_test_event": false}` returns the report.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import requests
from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from itom_forwarder.container import Container
from itom_forwarder.delivery import CHECK, Fate, deliver, preflight
from itom_forwarder.failures import ForwarderFailure
from itom_forwarder.formats import Notification
from itom_forwarder.inbound import Inbound
from itom_forwarder.servicenow import ServiceNowClient

__all__ = ["CheckReport", "Step", "handle", "instance_answers", "run_check"]

metrics = Metrics()

SYS_CHOICE_PATH = "/api/now/table/sys_choice"
SEVERITY_QUERY = {
    "sysparm_query": "name=task^ORname=em_event^element=severity^language=en",
    "sysparm_fields": "label,value,dependent_value,element",
}
CHOICES_ROLE_HINT = (
    "give the integration user the role personalize_choices: without it ServiceNow refuses the "
    "sys_choice table (403) or, where row-level ACLs filter it, answers with an empty list"
)


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


def _json_object(response: requests.Response) -> dict[str, Any] | None:
    """The answer as a JSON object, or None (a login page, a proxy's page, a list...)."""
    try:
        body = response.json()
    except (ValueError, RecursionError):
        return None
    return body if isinstance(body, dict) else None


def _error_message(response: requests.Response) -> str:
    body = _json_object(response) or {}
    error = body.get("error")
    message = error.get("message") if isinstance(error, dict) else error
    text = str(message)[:300] if message else ""
    return f"HTTP {response.status_code}: {text}" if text else f"HTTP {response.status_code}"


def _reach(client: ServiceNowClient, deadline: float) -> Step:
    plain = client.connection.instance_url.startswith("http://")
    scheme = "plain HTTP (loopback emulator)" if plain else "HTTPS, certificate verified"
    try:
        response = client.get(SYS_CHOICE_PATH, {"sysparm_limit": "1"}, authenticated=False, deadline=deadline)
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


def _authenticate(client: ServiceNowClient, use_oauth: bool, deadline: float) -> Step:
    try:
        response = client.get(SYS_CHOICE_PATH, {"sysparm_limit": "1"}, deadline=deadline)
    except ForwarderFailure as failure:  # the OAuth token exchange was refused or failed
        return Step("authentication", False, failure.reason.message, failure.reason.detail)
    except (requests.ConnectionError, requests.Timeout) as error:
        return Step("authentication", False, f"no answer from the instance ({type(error).__name__})")
    if response.status_code == 401:
        hint = (
            "check client_id/client_secret, jwt_key_id, the verifier map's certificate and user_identifier"
            if use_oauth
            else "check username and password in the secret (and that the user is active)"
        )
        return Step("authentication", False, _error_message(response), hint)
    kind = "OAuth token exchange and bearer token" if use_oauth else "basic credentials"
    return Step("authentication", True, f"{kind} accepted")


def _severities(client: ServiceNowClient, report: CheckReport, deadline: float) -> Step:
    try:
        response = client.get(SYS_CHOICE_PATH, SEVERITY_QUERY, deadline=deadline)
    except ForwarderFailure as failure:
        return Step("severity choices", False, failure.reason.message, failure.reason.detail)
    except (requests.ConnectionError, requests.Timeout) as error:
        return Step("severity choices", False, f"no answer from the instance ({type(error).__name__})")
    if response.status_code == 403:
        return Step("severity choices", False, _error_message(response), CHOICES_ROLE_HINT)
    if response.status_code != 200:
        return Step("severity choices", False, _error_message(response))
    body = _json_object(response)
    result = body.get("result") if body is not None else None
    if not isinstance(result, list):
        kind = response.headers.get("Content-Type", "no content type").split(";")[0]
        detail = f"the instance answered 200 without a result list ({kind})"
        hint = "check that instance_url is the instance itself, not a login (SSO) page or a proxy, and that it is awake"
        return Step("severity choices", False, detail, hint)
    report.severities = [
        {"value": str(item.get("value")), "label": str(item.get("label"))} for item in result if isinstance(item, dict)
    ]
    if not report.severities:
        return Step("severity choices", False, "no severity choices returned", CHOICES_ROLE_HINT)
    shown = ", ".join(f"{item['value']} {item['label']}" for item in report.severities)
    return Step("severity choices", True, shown)


def _test_event(container: Container, deadline: float) -> Step:
    key = f"itom-forwarder-check:{uuid.uuid4()}"
    event = {
        "source": "itom-forwarder check",
        "node": "itom-forwarder",
        "type": "Connector check",
        "message_key": key,
        "description": "Connector check: this event is cleared at once.",
    }
    for severity in ("5", "0"):  # sent, then cleared: two POSTs, in that order
        item = Inbound(None, Notification(json.dumps({**event, "severity": severity}), origin="direct"), "direct")
        (outcome,) = deliver(container, [item], deadline, CHECK)
        reason = outcome.reason
        if outcome.fate is not Fate.DELIVERED and reason is not None:
            hint = "give the integration user the role evt_mgmt_integration" if reason.status == 403 else None
            return Step("test event", False, str(reason), hint or reason.detail)
    return Step("test event", True, f"sent and cleared, message key {key}")


def instance_answers(container: Container, deadline: float) -> Step:
    """One cheap authenticated request (a one-row sys_choice read): does the instance
    answer with these credentials? Anything but a 5xx, a 429, a 401 or no answer means
    it does (a 403 too: the instance is up, the user merely lacks personalize_choices)."""
    refused = preflight(container)
    if refused is not None:
        return Step("instance", False, refused.reason.message)
    try:
        client = container.client()
        response = client.get(SYS_CHOICE_PATH, {"sysparm_limit": "1"}, deadline=deadline)
    except ForwarderFailure as failure:  # the secret, or the OAuth token exchange
        return Step("instance", False, str(failure.reason))
    except requests.RequestException as error:
        return Step("instance", False, f"no answer from the instance ({type(error).__name__})")
    status = response.status_code
    if status >= 500 or status in (401, 429):
        return Step("instance", False, _error_message(response))
    return Step("instance", True, f"answered HTTP {status}")


def run_check(container: Container, *, send_test_event: bool = False, deadline: float | None = None) -> CheckReport:
    report = CheckReport()
    end = deadline if deadline is not None else time.monotonic() + 60
    refused = preflight(container)
    if refused is not None:
        hint = "fix the setting named above in the function's environment; until then every event is dead-lettered"
        report.add(Step("settings", False, refused.reason.message, hint))
        return report
    report.add(Step("settings", True, "accepted"))
    try:
        connection = container.connections.refresh()
        client = container.client()
    except ForwarderFailure as error:
        hint = "fix the key named above in the secret, or the function's access"
        report.add(Step("secret", False, error.reason.message, hint))
        return report
    report.add(Step("secret", True, f"read and valid ({'OAuth JWT bearer' if connection.use_oauth else 'basic auth'})"))
    steps: list[Callable[[], Step]] = [
        lambda: _reach(client, end),
        lambda: _authenticate(client, connection.use_oauth, end),
        lambda: _severities(client, report, end),
    ]
    if send_test_event:
        steps.append(lambda: _test_event(container, end))
    for step in steps:
        if not report.add(step()):
            break  # later steps depend on this one
    return report


def handle(container: Container, event: Any, context: Any) -> dict[str, Any]:
    metrics.add_metric(name="ConnectorChecks", unit=MetricUnit.Count, value=1)
    report = run_check(
        container, send_test_event=event.get("send_test_event") is True, deadline=container.deadline(context)
    )
    return report.as_dict()
