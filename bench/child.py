"""Measurements of memory that need a fresh interpreter: `python -m bench.child <what>`.
Prints one JSON object. The environment (servers, secret, DLQ) comes from the parent. (The
cold-start processes are bench/cold.py: they must import nothing of the bench.)"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import sys
from typing import Any

from local.lambda_context import LocalLambdaContext
from local.runner import add_code_paths


def _rss_mb(field: str = "VmRSS") -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak() -> bool:
    """Resets the peak RSS (VmHWM) to the current RSS, where Linux allows (clear_refs 5)."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        return False
    return True


def memory(invocations: int) -> dict[str, Any]:
    """Peak RSS after many warm invocations, and the growth between the first 10 % and the end."""
    add_code_paths()
    import app
    from bench.events import sns_alarm

    event = sns_alarm(0)
    checkpoint = max(1, invocations // 10)
    at_checkpoint = 0.0
    for index in range(1, invocations + 1):
        app.lambda_handler(event, LocalLambdaContext())
        if index == checkpoint:
            at_checkpoint = _rss_mb()
    return {
        "invocations": invocations,
        "checkpoint": checkpoint,
        "rss_at_checkpoint_mb": at_checkpoint,
        "rss_at_end_mb": _rss_mb(),
        "peak_rss_mb": _rss_mb("VmHWM"),
    }


def batch_memory(kind: str, records: int) -> dict[str, Any]:
    """The RSS one batch of `records` adds at its peak, in a container warmed by a batch of
    10 of the same kind (secret, connection, code paths): the RSS just before (the event
    built, as Lambda's runtime hands it over), the peak during (VmHWM reset before, where
    Linux allows; else ru_maxrss, which may hold an earlier peak: an upper bound)."""
    add_code_paths()
    import app
    from bench.events import generic_batch, sqs_batch

    def make(start: int, count: int) -> dict[str, Any]:
        return sqs_batch(start, count, distinct=True) if kind == "sqs" else generic_batch(start, count)

    app.lambda_handler(make(0, 10), LocalLambdaContext())
    event, context = make(10, records), LocalLambdaContext()
    gc.collect()
    reset = _reset_peak()
    before = _rss_mb()
    app.lambda_handler(event, context)
    peak = _rss_mb("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"records": records, "rss_before_mb": before, "peak_mb": peak, "rss_after_mb": _rss_mb(), "reset": reset}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["memory", "batch-memory"])
    parser.add_argument("--invocations", type=int, default=10_000)
    parser.add_argument("--kind", choices=["sqs", "generic"], default="sqs")
    parser.add_argument("--records", type=int, default=1000)
    args = parser.parse_args()
    # The function's logs and EMF lines go where Lambda's would, not into our JSON.
    devnull = os.open(os.devnull, os.O_WRONLY)
    real_stdout = os.dup(1)
    os.dup2(devnull, 1)
    result = memory(args.invocations) if args.what == "memory" else batch_memory(args.kind, args.records)
    sys.stdout.flush()
    os.dup2(real_stdout, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
