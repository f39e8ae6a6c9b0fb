"""Measurements that need a fresh interpreter: `python -m bench.child <what>`. Prints one
JSON object. The environment (servers, secret, DLQ) comes from the parent. (The cold-start
processes are bench/cold.py: they must import nothing of the bench.)

`batches` times the forwarder's code found on PYTHONPATH (not the working tree's: it adds
no code paths), so the same command measures today's code and an older commit's, each in a
process of its own (the two cannot be imported side by side: same package names)."""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from local.lambda_context import LocalLambdaContext
from local.runner import add_code_paths

T = TypeVar("T")


def timed(call: Callable[[T], object], items: Sequence[T]) -> float:
    """Seconds per item of `call` over `items`, prepared beforehand."""
    started = time.perf_counter()
    for item in items:
        call(item)
    return (time.perf_counter() - started) / len(items)


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

    make = batch_makers()[kind]
    app.lambda_handler(make(0, 10), LocalLambdaContext())
    event, context = make(10, records), LocalLambdaContext()
    gc.collect()
    reset = _reset_peak()
    before = _rss_mb()
    app.lambda_handler(event, context)
    peak = _rss_mb("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"records": records, "rss_before_mb": before, "peak_mb": peak, "rss_after_mb": _rss_mb(), "reset": reset}


def batch_makers() -> dict[str, Callable[[int, int], dict[str, Any]]]:
    """The batches of each kind, `make(start, count)`: SQS batches (buffered mode) of
    distinct alarms, direct invocations of generic alerts."""
    from bench.events import generic_batch, sqs_batch

    return {"sqs": lambda start, count: sqs_batch(start, count, distinct=True), "generic": generic_batch}


def batches(sizes: Sequence[int], rounds: int, start: int, stats_url: str) -> dict[str, Any]:
    """Batches of `sizes` records through the lambda_handler found on PYTHONPATH, guard off,
    one container: warmed by a batch of 10 of each kind, then one batch of each kind and
    size whose POSTs are counted at the emulator (`stats_url`); then `rounds` rounds, each
    timing enough batches of a kind and size for ~300 records (median per size over the
    rounds). Every event and context is prepared outside the timing; keys from `start`."""
    import requests

    import app
    import itom_forwarder

    makers = batch_makers()
    stats = requests.Session()

    def ours(invocation: tuple[dict[str, Any], LocalLambdaContext]) -> None:
        response = app.lambda_handler(*invocation)
        assert not response.get("batchItemFailures"), response

    def event_posts() -> int:
        count: int = stats.get(stats_url, timeout=10).json()["event_posts"]
        return count

    for make in makers.values():  # warm: secret, connection, code paths
        ours((make(0, 10), LocalLambdaContext()))
    index = start
    posts: dict[str, list[int]] = {kind: [] for kind in makers}
    for kind, make in makers.items():  # the POSTs for a batch of each size
        for size in sizes:
            invocation = (make(index, size), LocalLambdaContext())
            index += size
            before = event_posts()
            ours(invocation)
            posts[kind].append(event_posts() - before)
    times: dict[str, dict[int, list[float]]] = {kind: {size: [] for size in sizes} for kind in makers}
    for kind, size in [(kind, size) for kind in makers for size in sizes] * rounds:
        repeat = max(1, 300 // size)
        invocations = [(makers[kind](index + n * size, size), LocalLambdaContext()) for n in range(repeat)]
        index += repeat * size
        times[kind][size].append(timed(ours, invocations))
    return {
        "modules": [app.__file__, itom_forwarder.__file__],
        "next_index": index,
        **{
            kind: {"seconds": [statistics.median(by_size[size]) for size in sizes], "posts": posts[kind]}
            for kind, by_size in times.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["memory", "batch-memory", "batches"])
    parser.add_argument("--invocations", type=int, default=10_000)
    parser.add_argument("--kind", choices=["sqs", "generic"], default="sqs")
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--sizes", default="10,100,1000", help="batches: the batch sizes, comma-separated")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--start", type=int, default=3_000_000, help="batches: the first alert's index")
    parser.add_argument("--stats-url", default="", help="batches: the emulator's stats")
    args = parser.parse_args()
    # The function's logs and EMF lines go where Lambda's would, not into our JSON.
    devnull = os.open(os.devnull, os.O_WRONLY)
    real_stdout = os.dup(1)
    os.dup2(devnull, 1)
    if args.what == "batches":
        sizes = [int(size) for size in args.sizes.split(",")]
        result = batches(sizes, args.rounds, args.start, args.stats_url)
    elif args.what == "memory":
        result = memory(args.invocations)
    else:
        result = batch_memory(args.kind, args.records)
    sys.stdout.flush()
    os.dup2(real_stdout, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
