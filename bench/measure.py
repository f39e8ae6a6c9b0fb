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
from typing import TYPE_CHECKING, Any

import boto3
import requests

from bench.events import sns_alarm, sqs_batch
from bench.naive_forwarder import naive_handler
from bench.servers import ALERT_STATE_TABLE, ROOT, USER, Servers
from local.aws import REGION
from local.lambda_context import LocalLambdaContext
from local.runner import CODE_PATHS, add_code_paths

if TYPE_CHECKING:
    from itom_forwarder.ordering import OrderingGuard

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


# The shape of the guard's claim (itom_forwarder.ordering.guard), for a bare update like it.
_CLAIM_SHAPE = {
    "UpdateExpression": "SET source_time = :t, lease_until = :lease, lease_owner = :owner, expires_at = :expires",
    "ConditionExpression": "attribute_not_exists(source_time) OR source_time = :t"
    " OR (source_time < :t AND (lease_until < :now OR lease_owner = :owner))",
    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
}


def _bare_update(dynamodb: Any, index: int, *, conditional: bool = False) -> None:
    """A plain UpdateItem to the alert-state table: the floor of one claim. `conditional`:
    with the claim's update and condition expressions (what moto spends evaluating them)."""
    key = {"message_key": {"S": f"bench-bare-{'c' if conditional else ''}{index}"}}
    if not conditional:
        dynamodb.update_item(
            TableName=ALERT_STATE_TABLE,
            Key=key,
            UpdateExpression="SET source_time = :t",
            ExpressionAttributeValues={":t": {"N": str(index)}},
        )
        return
    now_ms = int(time.time() * 1000)
    values = {":t": str(index), ":now": str(now_ms), ":lease": str(now_ms + 10_000), ":expires": str(now_ms)}
    dynamodb.update_item(
        TableName=ALERT_STATE_TABLE,
        Key=key,
        ExpressionAttributeValues={
            **{name: {"N": value} for name, value in values.items()},
            ":owner": {"S": "bench"},
        },
        **_CLAIM_SHAPE,
    )


def _claim(guard: OrderingGuard, index: int, count: int = 1) -> None:
    """The guard alone: `count` keys of their own claimed at once (one: a warm single alert)."""
    from itom_forwarder.ordering import Claim

    deadline_ms = int(time.time() * 1000) + 30_000
    claims = [Claim(f"bench-claim-{index}-{n}", index) for n in range(count)]
    guard.claim(claims, "bench", guard.lease_until(deadline_ms))


def _seconds_each(call: Callable[[int], object], indices: range) -> float:
    started = time.perf_counter()
    for index in indices:
        call(index)
    return (time.perf_counter() - started) / len(indices)


def _median_us(values: list[float]) -> float:
    return statistics.median(values) * 1e6 if values else 0.0


def warm_path(servers: Servers, *, oauth: bool, alerts: int, rounds: int, guard: bool = False) -> dict[str, Any]:
    """Per alert through lambda_handler against a bare Session.post of the same body; with
    the guard on, each alert is an alarm of its own (a claim of a new key) and the baseline
    is the bare post plus a bare boto3 update_item to the table, over a kept-alive client."""
    body = json.dumps({"records": _records_of(sns_alarm(0))}).encode()
    bare = requests.Session()
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    with function_environment(servers.environment(oauth=oauth, guard=guard)) as handler, quiet_stdout():
        from itom_forwarder.container import current

        def ours(index: int) -> None:
            handler(sns_alarm(index, distinct=guard), LocalLambdaContext())

        def post(_: int) -> None:
            bare.post(servers.emulator_url + EVENT_API, data=body, headers=headers, auth=auth, timeout=10)

        def update(index: int) -> None:
            _bare_update(dynamodb, index)

        def conditional(index: int) -> None:
            _bare_update(dynamodb, index, conditional=True)

        warm_up = range(20)
        _seconds_each(ours, warm_up)  # warm: secret, connection, token, code paths
        if oauth:
            prepared = requests.Request("POST", servers.emulator_url).prepare()
            current().client().auth(prepared)
            headers["Authorization"] = str(prepared.headers["Authorization"])
            auth = None
        else:
            auth = (USER, servers.password)
        _seconds_each(post, warm_up)
        if guard:
            _seconds_each(update, warm_up)
            _seconds_each(conditional, warm_up)
        client = current().client()
        records = json.loads(body)["records"]
        per_round = max(1, alerts // rounds)
        guard_alone = current().guard()
        times: dict[str, list[float]] = {
            name: [] for name in ("ours", "post", "update", "conditional", "client", "claim")
        }
        for round_index in range(rounds):  # interleaved, so machine noise hits both alike
            alarms = range(20 + round_index * per_round, 20 + (round_index + 1) * per_round)  # new ones each round
            times["post"].append(_seconds_each(post, alarms))
            if guard:
                times["update"].append(_seconds_each(update, alarms))
            times["ours"].append(_seconds_each(ours, alarms))
            times["client"].append(_seconds_each(lambda _: client.send(records, time.monotonic() + 30), alarms))
            if guard_alone is not None:
                times["claim"].append(_seconds_each(lambda index: _claim(guard_alone, index), alarms))
                times["conditional"].append(_seconds_each(conditional, alarms))
        # Work per warm alert, counted at the servers.
        before = servers.stats()
        _seconds_each(ours, range(20 + rounds * per_round, 20 + (rounds + 1) * per_round))
        after = servers.stats()
    work = {key: (after[key] - before[key]) / per_round for key in after if key != "events"}
    # The baseline of a round is its bare post plus (guard on) its bare update, side by side.
    baseline = [post + update for post, update in zip(times["post"], times["update"] or [0.0] * rounds, strict=True)]
    ours_us, bare_us = _median_us(times["ours"]), _median_us(baseline)
    return {
        "ours_us": ours_us,
        "bare_us": bare_us,
        "post_us": _median_us(times["post"]),
        "update_us": _median_us(times["update"]),
        "conditional_us": _median_us(times["conditional"]),
        "client_us": _median_us(times["client"]),
        "claim_us": _median_us(times["claim"]),
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


def _dynamodb_work(before: dict[str, Any], after: dict[str, Any]) -> dict[str, int]:
    return {key: after[key] - before[key] for key in ("dynamodb_requests", "update_items", "transactions")}


def _bare_transaction(dynamodb: Any, start: int, count: int) -> None:
    """A plain TransactWriteItems of `count` new keys: moto's own time for one."""
    dynamodb.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": ALERT_STATE_TABLE,
                    "Key": {"message_key": {"S": f"bench-bare-{index}"}},
                    "UpdateExpression": "SET source_time = :t",
                    "ExpressionAttributeValues": {":t": {"N": str(index)}},
                }
            }
            for index in range(start, start + count)
        ]
    )


def _timed_batch(servers: Servers, *, guard: bool, start: int, batch_size: int) -> dict[str, Any]:
    """One container: a warm-up batch, then a timed one (both of alarms of their own); guard
    on, the guard's claim of as many new keys alone, timed as well."""
    with function_environment(servers.environment(guard=guard)) as handler, quiet_stdout():
        from itom_forwarder.container import current

        if guard:  # else moto may take longer than the guard's 2 s read timeout
            servers.empty_alert_state_table()
        handler(sqs_batch(start, batch_size, distinct=True), LocalLambdaContext())  # warm
        event = sqs_batch(start + batch_size, batch_size, distinct=True)
        if guard:
            servers.empty_alert_state_table()
        before = servers.stats()
        started = time.perf_counter()
        response = handler(event, LocalLambdaContext())
        elapsed = time.perf_counter() - started
        after = servers.stats()
        assert not response["batchItemFailures"], response
        result = {"seconds": elapsed, "posts": after["event_posts"] - before["event_posts"]}
        guard_alone = current().guard()
        if guard_alone is not None:
            servers.empty_alert_state_table()
            result["claim_seconds"] = _seconds_each(lambda index: _claim(guard_alone, index, batch_size), range(1))
            result["work"] = _dynamodb_work(before, after)
    return result


def guarded_batch(servers: Servers, *, batch_size: int, rounds: int) -> dict[str, Any]:
    """An SQS batch of `batch_size` different alarms (distinct message keys) through
    lambda_handler, guard off and on in alternating rounds (a new container each), the
    guard's claim of as many keys alone, and a bare TransactWriteItems of as many keys;
    each starts from an empty table (see Servers.empty_alert_state_table), not timed."""
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    times: dict[str, list[float]] = {"off": [], "on": [], "claim": [], "bare": []}
    work: list[dict[str, int]] = []
    start = 2_000_000  # keys of their own
    for _ in range(rounds):
        off = _timed_batch(servers, guard=False, start=start, batch_size=batch_size)
        on = _timed_batch(servers, guard=True, start=start + 2 * batch_size, batch_size=batch_size)
        start += 4 * batch_size
        times["off"].append(off["seconds"])
        times["on"].append(on["seconds"])
        times["claim"].append(on["claim_seconds"])
        work.append(on["work"])
        servers.empty_alert_state_table()
        _bare_transaction(dynamodb, 0, 1)  # the connection, once
        servers.empty_alert_state_table()
        started = time.perf_counter()
        _bare_transaction(dynamodb, start, batch_size)
        times["bare"].append(time.perf_counter() - started)
    medians = {f"{mode}_ms": statistics.median(values) * 1000 for mode, values in times.items()}
    return {
        **medians,
        "batch_size": batch_size,
        "batches": rounds,
        # The most any guarded batch needed, so one outlier cannot hide in an average.
        "dynamodb_per_batch": {key: max(w[key] for w in work) for key in work[0]},
        "dynamodb_min_per_batch": min(w["dynamodb_requests"] for w in work),
    }


def storm(servers: Servers, *, alerts: int, batch_size: int, guard: bool = False) -> dict[str, Any]:
    """`alerts` alerts one per invocation (direct), then in SQS batches (buffered). With the
    guard on, each alert is an alarm of its own, and the table is emptied before the direct
    run and before each batch (not timed; see Servers.empty_alert_state_table)."""
    result: dict[str, Any] = {"alerts": alerts, "batch_size": batch_size, "guard": guard}
    offset = 1_000_000 if guard else 0  # keys of their own
    with function_environment(servers.environment(guard=guard)) as handler, quiet_stdout():
        handler(sns_alarm(offset, distinct=guard), LocalLambdaContext())
        if guard:
            servers.empty_alert_state_table()
        before = servers.stats()
        started = time.perf_counter()
        for index in range(offset, offset + alerts):
            handler(sns_alarm(index, distinct=guard), LocalLambdaContext())
        elapsed = time.perf_counter() - started
        after = servers.stats()
        result["direct"] = {
            "posts": after["event_posts"] - before["event_posts"],
            "per_s": alerts / elapsed,
            **_dynamodb_work(before, after),
        }
        offset += alerts
        result["buffered"] = (_guarded_storm if guard else _buffered_storm)(
            servers, handler, offset, alerts, batch_size
        )
    return result


def _buffered_storm(servers: Servers, handler: Handler, offset: int, alerts: int, batch_size: int) -> dict[str, Any]:
    before = servers.stats()
    started = time.perf_counter()
    for start in range(offset, offset + alerts, batch_size):
        response = handler(sqs_batch(start, min(batch_size, offset + alerts - start)), LocalLambdaContext())
        assert not response["batchItemFailures"]
    elapsed = time.perf_counter() - started
    after = servers.stats()
    return {"posts": after["event_posts"] - before["event_posts"], "per_s": alerts / elapsed}


def _guarded_storm(servers: Servers, handler: Handler, offset: int, alerts: int, batch_size: int) -> dict[str, Any]:
    """As _buffered_storm, distinct alarms, the table emptied before each batch (not timed)."""
    totals = {"posts": 0, "dynamodb_requests": 0, "update_items": 0, "transactions": 0}
    elapsed = 0.0
    for start in range(offset, offset + alerts, batch_size):
        servers.empty_alert_state_table()
        before = servers.stats()
        started = time.perf_counter()
        response = handler(
            sqs_batch(start, min(batch_size, offset + alerts - start), distinct=True), LocalLambdaContext()
        )
        elapsed += time.perf_counter() - started
        after = servers.stats()
        assert not response["batchItemFailures"]
        totals["posts"] += after["event_posts"] - before["event_posts"]
        for key, value in _dynamodb_work(before, after).items():
            totals[key] += value
    return {**totals, "per_s": alerts / elapsed}


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
