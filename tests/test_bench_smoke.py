"""The benchmark suite runs end to end at tiny sizes, so it cannot rot. It measures
nothing worth reading at these sizes: `make bench` produces the figures. The saved figures
also build the two-interpreter document `make bench` writes (`--report`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from bench.measure import BEFORE_COMMIT
from tests.samples import ROOT

GUARD_ON_ROWS = (
    "| 2 | warm alert through lambda_handler, basic, guard on",
    "| 2 | the guard's claim alone",
    "| 3 | work per warm alert, basic, guard on",
    "| 5 | SQS batch of 25 distinct alarms, guard on",
    "| 5 | storm of 50 distinct alarms, guard on",
)
OTHER_ROWS = (
    "| 1 | cold start: first invocation through lambda_handler in a fresh process",
    "| 1 | cold start: the handler's import alone",
    "| 1 | cold start: project modules compiled",
    "| 1 | cold start: AWS SDK modules loaded by the first invocation",
    "| 2 | warm alert through lambda_handler, basic, guard off",
    "| 2 | the same against boto3",
    "| 5 | SQS batch (buffered mode) of distinct alarms, guard off",
    "| 5 | direct batch of generic alerts, guard off",
    "| 5 | peak RSS added by one 50-record batch",
)


def has_before_commit() -> bool:
    """Whether git can give the batch rows' baseline, the code at bench/measure.py's BEFORE_COMMIT."""
    git = shutil.which("git")
    if git is None:
        return False
    command = [git, "-C", str(ROOT), "cat-file", "-e", f"{BEFORE_COMMIT}^{{commit}}"]
    return subprocess.run(command, capture_output=True, check=False).returncode == 0  # noqa: S603 - fixed arguments


def _cells(report: str, label: str) -> list[str]:
    [row] = [line for line in report.splitlines() if line.startswith(label)]
    return [cell.strip() for cell in row.strip("|").split("|")]


def test_benchmark_smoke_run_produces_every_row(tmp_path: Path) -> None:
    output, results = tmp_path / "performance.md", tmp_path / "results.json"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "SERVICENOW_", "DLQ_"))}
    env.pop("ALERT_STATE_TABLE", None)
    completed = subprocess.run(  # noqa: S603 - our own module
        [sys.executable, "-m", "bench", "--smoke", "--output", str(output), "--results", str(results)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    report = output.read_text()
    for row in ("| 1 |", "| 2 |", "| 3 |", "| 4 |", "| 5 |", "| 6 |", "| 7 |", *GUARD_ON_ROWS, *OTHER_ROWS):
        assert row in report, row
    assert "## Cost per million alerts" in report
    assert "| **per month** |" in report
    assert "1 / 0 / 0 / 0 — met" in report  # work per warm alert holds even at tiny sizes
    # Guard on: a warm single alert makes exactly one DynamoDB request (counted at moto), an
    # UpdateItem; a batch of distinct keys one TransactWriteItems.
    work = _cells(report, GUARD_ON_ROWS[2])
    posts, dynamodb_requests, *_ = work[2].split(" (")[0].split(" / ")
    assert (posts, dynamodb_requests) == ("1", "1"), work
    assert "(UpdateItem 1)" in work[2]
    assert work[5].endswith("— met"), work
    batch = _cells(report, GUARD_ON_ROWS[3])
    assert " / 1 (TransactWriteItems 1, UpdateItem 0)" in batch[2], batch
    assert batch[5].endswith("— met"), batch
    assert _cells(report, GUARD_ON_ROWS[4])[5].endswith("— met")
    # The batch rows measure the code before issue 16 side by side and judge today's slope
    # against it; in a copy without the commit (no git, no history) they say it is missing.
    target = "linear, slope lower than the code before issue 16 (387a863) measured in the same run — "
    for label in (row for row in OTHER_ROWS if "batch (buffered mode)" in row or "batch of generic" in row):
        cells = _cells(report, label)
        if has_before_commit():
            assert "the code before issue 16 (387a863), same run:" in cells[3], cells
            assert cells[5] in (target + "met", target + "NOT met"), cells
        else:
            assert cells[3].startswith("before-code not available ("), cells
            assert cells[5].startswith(target + "not measured"), cells

    # make bench's document: the saved runs' tables one after the other, then one cost section.
    combined = tmp_path / "combined.md"
    subprocess.run(  # noqa: S603 - our own module
        [sys.executable, "-m", "bench", "--report", str(results), str(results), "--output", str(combined)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=60,
        check=True,
    )
    document = combined.read_text()
    assert document.count("\n## Python ") == 2
    assert document.count("## Cost per million alerts") == 1
