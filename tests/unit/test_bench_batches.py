"""The batch rows' baseline, the code before issue 16 (bench/measure.py BEFORE_COMMIT): taken
from git when the history is there, and said missing (not failed) when it is not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench import measure
from bench.__main__ import batch_rows
from tests.test_bench_smoke import has_before_commit

SIZES = [10, 100, 1000]


def _summary(per_record: list[float], slope: float, posts: list[int] | None = None) -> dict[str, Any]:
    summary: dict[str, Any] = {"per_record_us": per_record, "slope_us": slope, "intercept_us": 1500.0}
    return summary if posts is None else {**summary, "posts": posts}


def _results(*, before: bool) -> dict[str, Any]:
    batches: dict[str, Any] = {
        "sizes": SIZES,
        "rounds": 3,
        "before": {"commit": measure.BEFORE_COMMIT, "available": before, "reason": "" if before else "no git"},
    }
    for kind in ("sqs", "generic"):
        batches[kind] = _summary([300, 120, 100], 98.0, [1, 1, 10])
        batches[f"{kind}_bare"] = _summary([180, 50, 40], 38.0)
        if before:
            batches[f"{kind}_before"] = _summary([400, 160, 150], 148.0 if kind == "sqs" else 90.0, [1, 1, 10])
    memory = {"records": 1000, "peak_mb": 60.0, "rss_before_mb": 55.0, "reset": True}
    return {"batches": batches, "batch_memory": {"sqs": memory, "generic": memory}}


def _cells(row: str) -> list[str]:
    return [cell.strip() for cell in row.strip("|").split("|")]


def test_before_code_is_the_pinned_commit_of_this_checkout(tmp_path: Path) -> None:
    if not has_before_commit():
        pytest.skip("no git, or no history holding the commit, here")
    paths, reason = measure._before_code(tmp_path)
    assert reason == ""
    assert paths == (tmp_path / "functions" / "forwarder", tmp_path / "layers" / "itom_forwarder")
    assert (paths[0] / "app.py").is_file()
    assert (paths[1] / "itom_forwarder" / "__init__.py").is_file()


def test_before_code_missing_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(measure, "ROOT", tmp_path)  # a copy without history
    paths, reason = measure._before_code(tmp_path / "out")
    assert paths is None
    assert reason.startswith("git archive 387a863 failed: ")


def test_no_git_at_all_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no git on PATH
    paths, reason = measure._before_code(tmp_path / "out")
    assert paths is None
    assert reason == "no git found"


def test_rows_judge_the_slope_against_the_code_before() -> None:
    sqs, generic, _memory = batch_rows(_results(before=True))
    cells = _cells(sqs)
    assert "the code before issue 16 (387a863), same run: 400 / 160 / 150; slope 148.0" in cells[3]
    assert "bare posts of the same records (as many as today's POSTs): 180 / 50 / 40; slope 38.0" in cells[3]
    assert cells[4].startswith("slope 0.66× the code before's; 2.58× the bare posts' (+60.0 µs)")
    assert cells[5] == "linear, slope lower than the code before issue 16 (387a863) measured in the same run — met"
    assert _cells(generic)[5].endswith("— NOT met")  # 98 µs against the code before's 90


def test_rows_without_the_code_before_say_so() -> None:
    sqs, _generic, _memory = batch_rows(_results(before=False))
    cells = _cells(sqs)
    assert cells[3].startswith("before-code not available (no git)")
    assert "— not measured (before-code not available" in cells[5]
    assert "met" not in cells[5].replace("not measured", "")
