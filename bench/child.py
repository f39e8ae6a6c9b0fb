"""Measurements that need a fresh interpreter: `python -m bench.child <what> [--oauth]`.
Prints one JSON object. The environment (servers, secret, DLQ) comes from the parent."""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from typing import Any

from local.lambda_context import LocalLambdaContext
from local.runner import add_code_paths


def _rss_mb(field: str = "VmRSS") -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def first_invocation() -> dict[str, Any]:
    """A cold start, step by step: handler import, secret read, client (OAuth: key load),
    token request, first POST; then the same done by one lambda_handler call."""
    add_code_paths()
    started = time.perf_counter()
    import app  # noqa: F401 - the import is what is measured

    imported = time.perf_counter()
    from requests import Request

    from bench.events import sns_alarm
    from itom_forwarder.container import current
    from itom_forwarder.servicenow import EVENT_API_PATH

    container = current()
    container.connections.current()
    secret_read = time.perf_counter()
    client = container.client()
    client_built = time.perf_counter()
    prepared = Request("POST", client.connection.instance_url + EVENT_API_PATH).prepare()
    client.auth(prepared)  # basic: sets the header; OAuth: fetches the token
    authorised = time.perf_counter()
    from itom_forwarder import formats
    from itom_forwarder.inbound import read_records

    [inbound] = read_records(sns_alarm(0))
    _, events = formats.to_events(inbound.notification, container.settings.mapping)
    client.send([event.to_record() for event in events], time.monotonic() + 30)
    posted = time.perf_counter()
    return {
        "import_ms": (imported - started) * 1000,
        "secret_read_ms": (secret_read - imported) * 1000,
        "client_ms": (client_built - secret_read) * 1000,
        "token_ms": (authorised - client_built) * 1000,
        "first_post_ms": (posted - authorised) * 1000,
        "total_ms": (posted - started) * 1000,
    }


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["first-invocation", "memory"])
    parser.add_argument("--invocations", type=int, default=10_000)
    args = parser.parse_args()
    # The function's logs and EMF lines go where Lambda's would, not into our JSON.
    devnull = os.open(os.devnull, os.O_WRONLY)
    real_stdout = os.dup(1)
    os.dup2(devnull, 1)
    result = first_invocation() if args.what == "first-invocation" else memory(args.invocations)
    sys.stdout.flush()
    os.dup2(real_stdout, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
