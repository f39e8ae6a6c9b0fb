"""The README's run command: `python -m local.runner` (what `make run` executes)."""

from __future__ import annotations

import subprocess
import sys

from tests.samples import ROOT


def test_runner_shows_the_whole_flow_on_the_sample_events() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "local.runner"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert completed.returncode == 0, completed.stderr
    out = completed.stdout
    assert out.count('returned {"delivered": 1, "dead_lettered": 0}') == 15
    # ALARM over SNS, OK over SNS, ALARM over EventBridge+SNS and SQS, OK over EventBridge: one alert.
    assert "Closed severity 0  events 5  arn:aws:cloudwatch:eu-west-1:123456789012:alarm:prod-web-1-cpu-high" in out
    assert "Closed severity 0  events 2  arn:aws:cloudwatch:eu-west-1:123456789012:alarm:prod-dynamodb-throttles" in out
    assert "Dead-letter queue: 0 message(s)" in out
    assert out.count("answered HTTP 200") == 3  # the API Gateway samples
    assert 'returned {"batchItemFailures": []}' in out  # the SQS batch: 3 alarms in one POST
    assert "Secrets Manager reads: 1   TCP connections to the instance: 1   POSTs: 19" in out


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
