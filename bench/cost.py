"""What a million alerts a month cost in AWS, from a run's measured figures and template.yaml's
settings (parsed, not copied): the forwarder in direct and buffered mode with the ordering
guard on (the template's default), next to the naive forwarder (bench/naive_forwarder.py).

List prices for us-east-1 as issue 16 gives them (checked December 2026); free tiers ignored:
  Lambda (arm64 duration, requests)  https://aws.amazon.com/lambda/pricing/
  DynamoDB on demand (writes; the November 2024 price cut)  https://aws.amazon.com/dynamodb/pricing/on-demand/
  SQS standard queue  https://aws.amazon.com/sqs/pricing/
  SNS standard topic  https://aws.amazon.com/sns/pricing/
  Secrets Manager  https://aws.amazon.com/secrets-manager/pricing/
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

ALERTS = 1_000_000  # a month
LAMBDA_GB_SECOND = {"arm64": 0.0000133334, "x86_64": 0.0000166667}  # $ per GB-second, billed per ms
LAMBDA_REQUEST = 0.20 / 1e6  # $ per invocation
DYNAMODB_WRITE_UNIT = 0.625 / 1e6  # $ per write request unit, on demand
SQS_REQUEST = 0.40 / 1e6  # $ per request (each 64 KB chunk of a payload is one)
SNS_PUBLISH = 0.50 / 1e6  # $ per publish (each 64 KB chunk); deliveries to Lambda and SQS are free
SECRETS_API_CALL = 0.05 / 10_000  # $ per API call
SECRET_MONTH = 0.40  # $ per secret and month
# Assumed, not measured: one POST from a Lambda function in AWS to a ServiceNow instance over
# the internet, on a kept-alive connection (the emulator on loopback answers in ~2 ms).
SERVICENOW_LATENCY_MS = 150
# SQS's limits per call: ReceiveMessage returns at most 10 messages, DeleteMessageBatch
# deletes at most 10. Lambda's SQS poller fills a batch of 100 with at least 10 receives and
# deletes it with at least 10 delete-batch calls.
SQS_MESSAGES_PER_CALL = 10
# WRUs: an UpdateItem of an item up to 1 KB is 1; each item of a TransactWriteItems is 2.
WRU_PER_UPDATE = 1
WRU_PER_TRANSACTION_ITEM = 2
MONTH_SECONDS = 30 * 24 * 3600


class _CloudFormationLoader(yaml.SafeLoader):  # type: ignore[misc]
    """YAML with CloudFormation's short tags: `!Ref X` reads as {"Ref": "X"}, `!Sub` as
    {"Fn::Sub": ...} and so on."""


def _short_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}


_CloudFormationLoader.add_multi_constructor("!", _short_tag)


@dataclass(frozen=True)
class Deployment:
    """The template's settings the cost depends on (parameters at their defaults)."""

    memory_mb: int
    architecture: str
    buffer_batch_size: int
    batch_max_records: int
    secret_max_age_seconds: int


def deployment(template: Path) -> Deployment:
    document: dict[str, Any] = yaml.load(template.read_text(), Loader=_CloudFormationLoader)  # noqa: S506 - SafeLoader
    parameters = document.get("Parameters", {})
    resources = document["Resources"]

    def resolved(value: Any) -> Any:
        if isinstance(value, dict) and "Ref" in value and value["Ref"] in parameters:
            return parameters[value["Ref"]]["Default"]
        return value

    function = resources["ForwarderFunction"]["Properties"]
    globals_ = document.get("Globals", {}).get("Function", {})
    variables = {**globals_.get("Environment", {}).get("Variables", {})}
    variables.update(function.get("Environment", {}).get("Variables", {}))
    [mapping] = [
        resource["Properties"]
        for resource in resources.values()
        if resource["Type"] == "AWS::Lambda::EventSourceMapping"
        and resource["Properties"].get("FunctionName") == {"Ref": "ForwarderFunction"}
    ]
    return Deployment(
        memory_mb=int(resolved(function.get("MemorySize", globals_.get("MemorySize", 128)))),
        architecture=str((function.get("Architectures") or globals_.get("Architectures") or ["x86_64"])[0]),
        buffer_batch_size=int(resolved(mapping.get("BatchSize", 10))),
        batch_max_records=int(resolved(variables.get("BATCH_MAX_RECORDS", 100))),
        secret_max_age_seconds=int(resolved(variables.get("SECRET_MAX_AGE_SECONDS", 300))),
    )


@dataclass(frozen=True)
class Bill:
    """One way of forwarding a month's alerts: counts, and $ per line."""

    invocations: int
    posts: int  # per invocation
    billed_ms: int  # per invocation
    gb_seconds: float
    write_units: int
    sqs_requests: int
    publishes: int
    secret_calls: int

    def lines(self, price_gb_second: float) -> dict[str, float]:
        return {
            "Lambda duration": self.gb_seconds * price_gb_second,
            "Lambda requests": self.invocations * LAMBDA_REQUEST,
            "DynamoDB writes": self.write_units * DYNAMODB_WRITE_UNIT,
            "SQS requests": self.sqs_requests * SQS_REQUEST,
            "SNS publishes": self.publishes * SNS_PUBLISH,
            "Secrets Manager API calls": self.secret_calls * SECRETS_API_CALL,
            "Secrets Manager secret": SECRET_MONTH,
        }


def _bill(setup: Deployment, *, invocations: int, measured_ms: float, posts: int, **counts: int) -> Bill:
    billed_ms = math.ceil(measured_ms + posts * SERVICENOW_LATENCY_MS)
    gb_seconds = invocations * billed_ms / 1000 * setup.memory_mb / 1024
    return Bill(invocations, posts, billed_ms, gb_seconds, publishes=ALERTS, **counts)


def bills(results: dict[str, Any], setup: Deployment) -> dict[str, Bill]:
    """Direct and buffered mode (guard on) and the naive forwarder, for ALERTS alerts."""
    cached_reads = MONTH_SECONDS // max(1, setup.secret_max_age_seconds)  # one warm container all month
    warm = results["warm_guard"]
    direct = _bill(
        setup,
        invocations=ALERTS,
        measured_ms=warm["ours_us"] / 1000,
        posts=math.ceil(warm["work_per_alert"]["event_posts"]),
        write_units=round(ALERTS * warm["work_per_alert"]["dynamodb_requests"] * WRU_PER_UPDATE),
        sqs_requests=0,
        secret_calls=cached_reads,
    )
    batch, size = results["guard_batch"], setup.buffer_batch_size
    batches = math.ceil(ALERTS / size)
    # POSTs per batch: as measured where the bench's batch is the template's size.
    posts = batch["posts_per_batch"] if batch["batch_size"] == size else math.ceil(size / setup.batch_max_records)
    calls_per_batch = 2 * math.ceil(size / SQS_MESSAGES_PER_CALL)  # receives + delete-batches
    buffered = _bill(
        setup,
        invocations=batches,
        measured_ms=batch["on_ms"] * size / batch["batch_size"],  # measured at the bench's size
        posts=posts,
        write_units=ALERTS * WRU_PER_TRANSACTION_ITEM,
        sqs_requests=batches * calls_per_batch,
        secret_calls=cached_reads,
    )
    naive = _bill(
        setup,
        invocations=ALERTS,
        measured_ms=results["naive_basic"]["naive_us"] / 1000,
        posts=1,
        write_units=0,
        sqs_requests=0,
        secret_calls=ALERTS,
    )
    return {"direct": direct, "buffered": buffered, "naive": naive}


def _money(value: float) -> str:
    return f"${value:,.2f}" if value >= 0.01 or value == 0 else f"${value:,.4f}"


def report(results: dict[str, Any], setup: Deployment) -> list[str]:
    """The cost section of docs/performance.md."""
    price = LAMBDA_GB_SECOND.get(setup.architecture, LAMBDA_GB_SECOND["x86_64"])
    found = bills(results, setup)
    direct, buffered, naive = found["direct"], found["buffered"], found["naive"]
    lines = {name: bill.lines(price) for name, bill in found.items()}
    totals = {name: sum(values.values()) for name, values in lines.items()}
    counts: dict[str, Callable[[Bill], str]] = {
        "Lambda duration": lambda b: f"{b.invocations:,} × {b.billed_ms:,} ms = {b.gb_seconds:,.0f} GB-s",
        "Lambda requests": lambda b: f"{b.invocations:,}",
        "DynamoDB writes": lambda b: f"{b.write_units:,} WRU",
        "SQS requests": lambda b: f"{b.sqs_requests:,}",
        "SNS publishes": lambda b: f"{b.publishes:,}",
        "Secrets Manager API calls": lambda b: f"{b.secret_calls:,}",
        "Secrets Manager secret": lambda b: "1 secret-month",
    }
    warm, batch = results["warm_guard"], results["guard_batch"]
    size = setup.buffer_batch_size
    out = [
        "## Cost per million alerts",
        "",
        f"A month of {ALERTS:,} alerts from CloudWatch alarms (each a publish to the alarm topic), at "
        f"template.yaml's settings ({setup.memory_mb} MB, {setup.architecture}, buffered batches of {size}, "
        f"{setup.batch_max_records} records per POST, the secret cached {setup.secret_max_age_seconds} s), with "
        f"the ordering guard on, from Python {results['python']}'s figures above; us-east-1 list prices, free "
        "tiers ignored (bench/cost.py).",
        "",
        "| item | direct, guard on | buffered, guard on | naive forwarder (direct, no guard) |",
        "|---|---|---|---|",
    ]
    for item, count in counts.items():
        cells = [
            f"{count(bill)}: {_money(lines[name][item])}" if lines[name][item] else "–" for name, bill in found.items()
        ]
        out.append(f"| {item} | {' | '.join(cells)} |")
    out.append(
        f"| **per month** | **{_money(totals['direct'])}** | **{_money(totals['buffered'])}** | "
        f"**{_money(totals['naive'])}** |"
    )
    out += [
        "",
        "Assumptions:",
        "",
        f"- Lambda duration: the measured warm duration plus {SERVICENOW_LATENCY_MS} ms per POST (the stated "
        "latency of a ServiceNow instance over the internet; the emulator answers on loopback in a few ms), "
        f"rounded up to the ms: direct {warm['ours_us'] / 1000:.1f} ms measured per alert → {direct.billed_ms} "
        f"ms billed; buffered {batch['on_ms'] * size / batch['batch_size']:.0f} ms measured per batch of {size} "
        f"→ {buffered.billed_ms} ms billed ({buffered.posts} POST per batch); naive "
        f"{results['naive_basic']['naive_us'] / 1000:.1f} ms measured (basic auth) → {naive.billed_ms} ms "
        f"billed. Prices: ${price:.10f} per GB-s ({setup.architecture}), ${LAMBDA_REQUEST * 1e6:.2f} per million "
        "requests. The measured durations include moto's DynamoDB, far slower than DynamoDB within a region, "
        "and the loopback POST; the naive forwarder's new TLS connection to the instance on every invocation "
        f"is not charged (the {SERVICENOW_LATENCY_MS} ms are the same for all): both favour the slower "
        "columns. Cold starts (their init phase is billed too) are left out: at this rate one container "
        "stays warm.",
        f"- Buffered batches are full ({size} alerts): true during a storm. At a steady "
        f"{ALERTS / MONTH_SECONDS:.2f} alerts/s the batching window gathers a few alerts per invocation, "
        "and the Lambda lines approach direct mode's.",
        f"- DynamoDB on demand, ${DYNAMODB_WRITE_UNIT * 1e6:.3f} per million WRUs: direct mode one UpdateItem "
        f"per alert (the measured DynamoDB requests per warm alert: "
        f"{warm['work_per_alert']['dynamodb_requests']:g}), {WRU_PER_UPDATE} WRU for an item up to 1 KB; "
        f"buffered mode one TransactWriteItems per batch (measured: "
        f"{batch['dynamodb_per_batch']['transactions']} per batch of {batch['batch_size']}), "
        f"{WRU_PER_TRANSACTION_ITEM} WRUs per item. The naive forwarder has no guard. No reads: the guard's "
        "conditional writes return the old item only when the condition fails.",
        f"- SQS (buffered mode), ${SQS_REQUEST * 1e6:.2f} per million requests: SNS's deliveries to the queue "
        "are free; the Lambda event source's ReceiveMessage and DeleteMessageBatch calls are charged, each "
        f"carrying at most {SQS_MESSAGES_PER_CALL} messages: {2 * math.ceil(size / SQS_MESSAGES_PER_CALL)} "
        f"requests per batch of {size} (the bench invokes the handler with the batch: nothing measures these "
        "calls). Not included: the event source's empty long polls of an idle queue (a handful of pollers, "
        "20 s each: some 650,000 requests, ~$0.26, a month whatever the number of alerts).",
        f"- SNS, ${SNS_PUBLISH * 1e6:.2f} per million publishes: CloudWatch's publish of each alarm state "
        "change to the topic; deliveries to Lambda (direct) and to SQS (buffered) are free. The same for all "
        "three.",
        f"- Secrets Manager, ${SECRETS_API_CALL * 10_000:.2f} per 10,000 calls and ${SECRET_MONTH:.2f} per "
        f"secret-month: the forwarder's cache reads the secret once per container and at most every "
        f"{setup.secret_max_age_seconds} s (0 reads per warm alert, measured): one container warm all month "
        f"reads it {MONTH_SECONDS // max(1, setup.secret_max_age_seconds):,} times; the naive forwarder reads it "
        "on every invocation.",
        "- Not included: CloudWatch Logs ingestion and metrics (Powertools' EMF lines), X-Ray, data transfer "
        "out to the instance, KMS requests for a customer managed key.",
    ]
    return out
