"""The benchmark suite runs end to end at tiny sizes, so it cannot rot. It measures
nothing worth reading at these sizes: `make bench` produces the figures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.samples import ROOT


def test_benchmark_smoke_run_produces_every_row(tmp_path: Path) -> None:
    output = tmp_path / "performance.md"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "SERVICENOW_", "DLQ_"))}
    completed = subprocess.run(  # noqa: S603 - our own module
        [sys.executable, "-m", "bench", "--smoke", "--output", str(output)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    report = output.read_text()
    for row in ("| 1 |", "| 2 |", "| 3 |", "| 4 |", "| 5 |", "| 6 |", "| 7 |"):
        assert row in report
    assert "1 / 0 / 0 / 0 — met" in report  # work per warm alert holds even at tiny sizes
