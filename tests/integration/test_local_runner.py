"""The README's run command: `python -m local.runner` (what `make run` executes), and the
function's own output through it: structured logs and metrics."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from tests.samples import ROOT, load


def test_runner_shows_the_whole_flow_on_the_sample_events() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "local.runner"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert completed.returncode == 0, completed.stderr
    out = completed.stdout
    assert out.count('returned {"delivered": 1, "dead_lettered": 0, "superseded": 0}') == 20
    # ALARM over SNS opens, OK over SNS closes; the same ALARM again over EventBridge+SNS is
    # older than that OK: superseded by the ordering guard, so the alert stays closed.
    assert 'returned {"delivered": 0, "dead_lettered": 0, "superseded": 1}' in out
    assert out.count("superseded: older than the event ServiceNow already has for its alert") == 1
    assert "Closed severity 0  events 2  arn:aws:cloudwatch:eu-west-1:123456789012:alarm:prod-web-1-cpu-high" in out
    assert "Closed severity 0  events 2  arn:aws:cloudwatch:eu-west-1:123456789012:alarm:prod-dynamodb-throttles" in out
    assert "Dead-letter queue: 0 message(s)" in out
    assert out.count("answered HTTP 200") == 4  # the API Gateway samples (webhooks with the sample token)
    assert 'returned {"batchItemFailures": []}' in out  # the SQS batch: its alarms in one POST
    # One claim per invocation; the SQS batch's transaction is cancelled by its superseded
    # key and claims the others again: 26 invocations, 27 requests. Two secrets read once
    # each: the ServiceNow connection, and the webhook credentials (on the API path).
    assert "Secrets Manager reads: 2   TCP connections to the instance: 1   POSTs: 25   DynamoDB requests: 27" in out


def test_runner_reports_a_missing_file() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "local.runner", "events/does-not-exist.json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 2
    assert "no such event file: events/does-not-exist.json" in completed.stderr


def _function_output(log_level: str) -> list[dict[str, Any]]:
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
        env={**os.environ, "POWERTOOLS_LOG_LEVEL": log_level},
    )
    return [json.loads(line) for line in completed.stdout.splitlines() if line.startswith("{")]


def test_logs_carry_the_correlation_id_and_metrics_the_input_format() -> None:
    """At LogLevel DEBUG each delivery has its line, with the invocation's correlation id."""
    documents = _function_output("DEBUG")
    delivered_logs = [d for d in documents if d.get("message") == "Events delivered to ServiceNow"]
    sns_message_id = load("sns-cloudwatch-alarm.json")["Records"][0]["Sns"]["MessageId"]
    sqs_message_id = load("sqs-buffered-batch.json")["Records"][0]["messageId"]
    assert [d["correlation_id"] for d in delivered_logs] == [sns_message_id, sqs_message_id]
    assert all(d["level"] == "DEBUG" and "Records" not in json.dumps(d) for d in delivered_logs)  # no event logged
    emf = [d for d in documents if "_aws" in d and "EventsDelivered" in d]
    assert [(d["input_format"], d["EventsDelivered"]) for d in emf] == [
        ("cloudwatch_alarm", [1.0]),
        ("cloudwatch_alarm", [3.0]),
    ]
    assert all("ServiceNowLatency" in d and d["_aws"]["CloudWatchMetrics"][0]["Namespace"] for d in emf)


def test_at_info_a_first_attempt_delivery_logs_no_line_of_its_own_but_its_metrics() -> None:
    """The default LogLevel (INFO): a delivery that went through at once is counted in the
    invocation's EMF line (by input format), not logged on a line of its own."""
    documents = _function_output("INFO")
    assert [d for d in documents if d.get("message") == "Events delivered to ServiceNow"] == []
    emf = [d for d in documents if "_aws" in d and "EventsDelivered" in d]
    assert [(d["input_format"], d["EventsDelivered"]) for d in emf] == [
        ("cloudwatch_alarm", [1.0]),
        ("cloudwatch_alarm", [3.0]),
    ]
