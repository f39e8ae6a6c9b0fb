"""The measurements. Each returns plain numbers; __main__ turns them into the table."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import statistics
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import requests

from bench.events import sns_alarm, sqs_batch
from bench.naive_forwarder import naive_handler
from bench.servers import ROOT, USER, Servers
from local.lambda_context import LocalLambdaContext
from local.runner import CODE_PATHS, add_code_paths

EVENT_API = "/api/global/em/jsonv2"
CORRELATION_PATH = "Records[0].Sns.MessageId || Records[0].messageId || requestContext.requestId"
Handler = Callable[[dict[str, Any], Any], Any]


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """The function's JSON logs and EMF lines go to /dev/null, as cheaply as Lambda's pipe."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(devnull)
        os.close(saved)


@contextlib.contextmanager
def function_environment(environment: dict[str, str]) -> Iterator[Handler]:
    """The in-process function, configured like a deployed one, as a new container."""
    saved = dict(os.environ)
    os.environ.update(environment)
    add_code_paths()
    from itom_forwarder.container import reset

    reset()
    app = importlib.import_module("app")
    try:
        yield app.lambda_handler
    finally:
        reset()
        os.environ.clear()
        os.environ.update(saved)


def _process_seconds(code: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)  # noqa: S603
    return time.perf_counter() - started


def cold_start(servers: Servers, runs: int) -> dict[str, Any]:
    env = {**os.environ, **servers.environment(), "PYTHONPATH": os.pathsep.join(str(p) for p in CODE_PATHS)}
    samples: dict[str, list[float]] = {"bare": [], "floor": [], "handler": []}
    for _ in range(runs):  # interleaved, so machine noise hits all three alike
        samples["bare"].append(_process_seconds("pass", env))
        samples["floor"].append(_process_seconds("import boto3, requests", env))
        samples["handler"].append(_process_seconds("import app", env))
    medians = {name: statistics.median(values) * 1000 for name, values in samples.items()}
    trace = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import app"], env=env, capture_output=True, text=True, check=True
    ).stderr
    rows = []
    for line in trace.splitlines()[1:]:
        _, cumulative_us, name = line.removeprefix("import time:").split("|")
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        if depth <= 2 and name.strip() != "app":  # what the handler imports, two levels deep
            rows.append((int(cumulative_us), "  " * max(0, depth - 1) + name.strip()))
    first = {
        mode: _child(["first-invocation"], {**env, **servers.environment(oauth=mode == "oauth")})
        for mode in ("basic", "oauth")
    }
    return {"median_ms": medians, "runs": runs, "top_imports": sorted(rows, reverse=True)[:8], "first": first}


def _child(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    completed = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "bench.child", *args], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    )
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def _records_of(event: dict[str, Any]) -> list[dict[str, str]]:
    add_code_paths()
    from itom_forwarder import formats
    from itom_forwarder.formats import MappingOptions
    from itom_forwarder.inbound import read_records

    [inbound] = read_records(event)
    return [item.to_record() for item in formats.to_events(inbound.notification, MappingOptions())[1]]


def mapping_microseconds(iterations: int) -> float:
    add_code_paths()
    from itom_forwarder import formats
    from itom_forwarder.formats import MappingOptions
    from itom_forwarder.inbound import read_records

    settings = MappingOptions()
    [inbound] = read_records(sns_alarm(0))
    started = time.perf_counter()
    for _ in range(iterations):
        [event] = formats.to_events(inbound.notification, settings)[1]
        event.to_record()
    return (time.perf_counter() - started) / iterations * 1e6


def observability_microseconds(iterations: int) -> float:
    """What Powertools costs per invocation on its own: the handler's Logger and Metrics
    decorators, one INFO line and the warm path's metrics, with no mapping and no POST."""
    add_code_paths()
    app = importlib.import_module("app")
    from aws_lambda_powertools.metrics import MetricUnit

    @app.metrics.log_metrics(capture_cold_start_metric=True)  # type: ignore[untyped-decorator]
    @app.logger.inject_lambda_context(correlation_id_path=CORRELATION_PATH, clear_state=True)  # type: ignore[untyped-decorator]
    def observed(event: dict[str, Any], context: Any) -> None:
        for name in ("EventsReceived", "EventsDelivered"):
            app.metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
        app.metrics.add_metric(name="ServiceNowLatency", unit=MetricUnit.Milliseconds, value=1.0)
        app.logger.info("Events delivered to ServiceNow", extra={"records": 1, "formats": ["x"], "attempts": 1})

    event = sns_alarm(0)
    with quiet_stdout():
        for _ in range(50):
            observed(event, LocalLambdaContext())
        started = time.perf_counter()
        for _ in range(iterations):
            observed(event, LocalLambdaContext())
        return (time.perf_counter() - started) / iterations * 1e6


def warm_path(servers: Servers, *, oauth: bool, alerts: int, rounds: int) -> dict[str, Any]:
    """Per alert through lambda_handler against a bare Session.post of the same body."""
    body = json.dumps({"records": _records_of(sns_alarm(0))}).encode()
    bare = requests.Session()
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    with function_environment(servers.environment(oauth=oauth)) as handler, quiet_stdout():
        from itom_forwarder.container import current

        for index in range(20):  # warm: secret, connection, token, code paths
            handler(sns_alarm(index), LocalLambdaContext())
        if oauth:
            prepared = requests.Request("POST", servers.emulator_url).prepare()
            current().client().auth(prepared)
            headers["Authorization"] = str(prepared.headers["Authorization"])
            auth = None
        else:
            auth = (USER, servers.password)
        for _ in range(20):
            bare.post(servers.emulator_url + EVENT_API, data=body, headers=headers, auth=auth, timeout=10)
        client = current().client()
        records = json.loads(body)["records"]
        per_round = max(1, alerts // rounds)
        ours_times, bare_times, client_times = [], [], []
        for round_index in range(rounds):  # interleaved, so machine noise hits both alike
            started = time.perf_counter()
            for _ in range(per_round):
                bare.post(servers.emulator_url + EVENT_API, data=body, headers=headers, auth=auth, timeout=10)
            bare_times.append((time.perf_counter() - started) / per_round)
            started = time.perf_counter()
            for index in range(per_round):
                handler(sns_alarm(round_index * per_round + index), LocalLambdaContext())
            ours_times.append((time.perf_counter() - started) / per_round)
            started = time.perf_counter()
            for _ in range(per_round):
                client.send(records, time.monotonic() + 30)
            client_times.append((time.perf_counter() - started) / per_round)
        # Work per warm alert, counted at the servers.
        before = servers.stats()
        for index in range(per_round):
            handler(sns_alarm(index), LocalLambdaContext())
        after = servers.stats()
    work = {key: (after[key] - before[key]) / per_round for key in after if key != "events"}
    ours_us, bare_us = statistics.median(ours_times) * 1e6, statistics.median(bare_times) * 1e6
    client_us = statistics.median(client_times) * 1e6
    return {
        "ours_us": ours_us,
        "bare_us": bare_us,
        "client_us": client_us,
        "ratio": ours_us / bare_us,
        "work_per_alert": work,
    }


def throughput(servers: Servers, handler: Handler, alerts: int) -> float:
    with quiet_stdout():
        started = time.perf_counter()
        for index in range(alerts):
            handler(sns_alarm(index), LocalLambdaContext())
        return alerts / (time.perf_counter() - started)


def ours_against_naive(servers: Servers, *, oauth: bool, alerts: int) -> dict[str, float]:
    with function_environment(servers.environment(oauth=oauth)) as handler:
        throughput(servers, handler, 10)
        ours = throughput(servers, handler, alerts)
    saved = dict(os.environ)
    os.environ.update(servers.environment(oauth=oauth))
    try:
        throughput(servers, naive_handler, 3)
        naive = throughput(servers, naive_handler, max(10, alerts // 5))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return {"ours_per_s": ours, "naive_per_s": naive, "ratio": ours / naive}


def storm(servers: Servers, *, alerts: int, batch_size: int) -> dict[str, Any]:
    result: dict[str, Any] = {}
    with function_environment(servers.environment()) as handler, quiet_stdout():
        handler(sns_alarm(0), LocalLambdaContext())
        before = servers.stats()["event_posts"]
        started = time.perf_counter()
        for index in range(alerts):
            handler(sns_alarm(index), LocalLambdaContext())
        elapsed = time.perf_counter() - started
        result["direct"] = {"posts": servers.stats()["event_posts"] - before, "per_s": alerts / elapsed}
        before = servers.stats()["event_posts"]
        started = time.perf_counter()
        for start in range(0, alerts, batch_size):
            response = handler(sqs_batch(start, min(batch_size, alerts - start)), LocalLambdaContext())
            assert not response["batchItemFailures"]
        elapsed = time.perf_counter() - started
        result["buffered"] = {"posts": servers.stats()["event_posts"] - before, "per_s": alerts / elapsed}
    result["alerts"] = alerts
    result["batch_size"] = batch_size
    return result


def memory(servers: Servers, invocations: int) -> dict[str, Any]:
    env = {**os.environ, **servers.environment(), "POWERTOOLS_LOG_LEVEL": "INFO"}
    return _child(["memory", "--invocations", str(invocations)], env)


def _sizes(folder: Path) -> tuple[int, int]:
    unzipped = sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder))
    return unzipped, buffer.tell()


def package() -> dict[str, Any]:
    """Sizes of the `sam build` output (run scripts/check-template.sh or sam build first)."""
    build = ROOT / ".aws-sam" / "build"
    sizes = {}
    for name in ("ForwarderFunction", "RedriveFunction", "ForwarderLayer"):
        folder = build / name
        if folder.is_dir():
            sizes[name] = _sizes(folder)
    return sizes
