"""`python -m bench` (make bench): every measurement, printed as a table and written to
docs/performance.md. `--smoke` runs tiny sizes (the test command runs it so the suite
cannot rot) and writes nowhere unless --output is given."""

from __future__ import annotations

import argparse
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import measure
from bench.servers import ROOT, Servers


@dataclass(frozen=True)
class Sizes:
    cold_runs: int
    warm_alerts: int
    warm_rounds: int
    naive_alerts: int
    storm_alerts: int
    storm_batch: int
    memory_invocations: int
    mapping_iterations: int
    guard_warm_alerts: int  # fewer than warm_alerts: moto's answer is slow
    guard_batch: int  # the SQS batch of distinct alarms, guard on and off
    guard_batch_rounds: int


FULL = Sizes(15, 3000, 10, 1000, 1000, 100, 10_000, 20_000, 1000, 100, 7)
SMOKE = Sizes(2, 40, 2, 20, 50, 25, 200, 200, 20, 25, 1)


def _size(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.1f} kB"


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _per_thousand(count: float, alerts: int) -> str:
    return f"{count * 1000 / alerts:g}"


def guard_rows(results: dict[str, Any]) -> dict[int, list[str]]:
    """The rows measured with the ordering guard on (the template's default), by number."""
    warm, batch, storm = results["warm_guard"], results["guard_batch"], results["storm_guard"]
    work = warm["work_per_alert"]
    rows: dict[int, list[str]] = {2: [], 3: [], 5: []}
    rows[2].append(
        f"| 2 | warm alert through lambda_handler, basic, guard on (one UpdateItem; a new alarm each) | "
        f"{warm['ours_us']:.0f} µs | bare `Session.post` {warm['post_us']:.0f} µs + bare boto3 `update_item` "
        f"{warm['update_us']:.0f} µs = {warm['bare_us']:.0f} µs | {warm['ratio']:.2f}× | "
        f"≤ 1.10× (issue 16; reported only) |"
    )
    rows[2].append(
        f"| 2 | the guard's claim alone (`OrderingGuard.claim`, one key: a conditional UpdateItem) | "
        f"{warm['claim_us']:.0f} µs | bare boto3 `update_item` {warm['update_us']:.0f} µs (with the claim's "
        f"update and condition expressions: {warm['conditional_us']:.0f} µs) | "
        f"{warm['claim_us'] / warm['update_us']:.2f}× ({warm['claim_us'] / warm['conditional_us']:.2f}×) | |"
    )
    figures = (
        work["event_posts"],
        work["dynamodb_requests"],
        work["token_requests"],
        work["secret_reads"],
        work["connections_opened"],
    )
    single_ok = figures == (1, 1, 0, 0, 0) and work["update_items"] == 1
    rows[3].append(
        "| 3 | work per warm alert, basic, guard on: POSTs / DynamoDB requests (at moto) / token requests / "
        f"secret reads / new connections | {' / '.join(f'{value:g}' for value in figures)} "
        f"(UpdateItem {work['update_items']:g}) | | | 1 / 1 / 0 / 0 / 0 — {verdict(single_ok)} |"
    )
    per_batch = batch["dynamodb_per_batch"]
    batch_ok = batch["dynamodb_min_per_batch"] == per_batch["dynamodb_requests"] == per_batch["transactions"] == 1
    rows[5].append(
        f"| 5 | SQS batch of {batch['batch_size']} distinct alarms, guard on: time per batch (median of "
        f"{batch['batches']}) / DynamoDB requests per batch | {batch['on_ms']:.0f} ms / "
        f"{per_batch['dynamodb_requests']} (TransactWriteItems {per_batch['transactions']}, UpdateItem "
        f"{per_batch['update_items']}) | guard off {batch['off_ms']:.0f} ms (the guard's claim of "
        f"{batch['batch_size']} keys alone {batch['claim_ms']:.0f} ms; a bare {batch['batch_size']}-key "
        f"TransactWriteItems {batch['bare_ms']:.0f} ms) | "
        f"{batch['on_ms'] / batch['off_ms']:.1f}× | 1 TransactWriteItems per batch — {verdict(batch_ok)} |"
    )
    alerts = storm["alerts"]
    direct, buffered = storm["direct"], storm["buffered"]
    rows[5].append(
        f"| 5 | storm of {alerts} distinct alarms, guard on, buffered (batches of {storm['batch_size']}): POSTs / "
        f"DynamoDB requests per 1,000 alerts | {_per_thousand(buffered['posts'], alerts)} / "
        f"{_per_thousand(buffered['dynamodb_requests'], alerts)} (TransactWriteItems "
        f"{_per_thousand(buffered['transactions'], alerts)}), {buffered['per_s']:.0f} alerts/s | direct: "
        f"{_per_thousand(direct['posts'], alerts)} / {_per_thousand(direct['dynamodb_requests'], alerts)} "
        f"(UpdateItem {_per_thousand(direct['update_items'], alerts)}), {direct['per_s']:.0f} alerts/s | "
        f"{buffered['per_s'] / direct['per_s']:.1f}× | ≤ 1 POST and ≤ 1 DynamoDB request per 10 alerts — "
        f"{verdict(buffered['posts'] * 10 <= alerts and buffered['dynamodb_requests'] * 10 <= alerts)} |"
    )
    return rows


def build_report(results: dict[str, Any], sizes: Sizes) -> str:
    cold, mem = results["cold"], results["memory"]
    guarded = guard_rows(results)
    lines = [
        "# Performance",
        "",
        f"Measured by `make bench` (`python -m bench`) on {platform.machine()}, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}. The ServiceNow emulator and moto's server each run in their own "
        "process on loopback. Ratios compare runs made side by side in the same run; absolute "
        "figures are for context (these machines are noisy: medians over repeated runs).",
        "",
        "| # | measurement | result | baseline | ratio | target |",
        "|---|---|---|---|---|---|",
    ]
    med = cold["median_ms"]
    ratio = (med["handler"] - med["bare"]) / (med["floor"] - med["bare"])
    lines.append(
        f"| 1 | cold start: fresh interpreter importing the handler (median of {cold['runs']}) | "
        f"{med['handler']:.0f} ms | `import boto3, requests` {med['floor']:.0f} ms (bare interpreter "
        f"{med['bare']:.0f} ms) | {med['handler'] / med['floor']:.2f}× (import work alone: {ratio:.2f}×) | "
        f"≤ 1.3× — {verdict(med['handler'] / med['floor'] <= 1.3)} |"
    )
    for mode in ("basic", "oauth"):
        first = cold["first"][mode]
        lines.append(
            f"| 1 | first invocation, {mode}, guard off: import / secret read / client / token / first POST | "
            f"{first['import_ms']:.0f} / {first['secret_read_ms']:.0f} / {first['client_ms']:.0f} / "
            f"{first['token_ms']:.0f} / {first['first_post_ms']:.0f} ms | | total {first['total_ms']:.0f} ms | |"
        )
    for mode in ("basic", "oauth"):
        warm = results[f"warm_{mode}"]
        lines.append(
            f"| 2 | warm alert through lambda_handler, {mode}, guard off | {warm['ours_us']:.0f} µs | "
            f"bare `Session.post` {warm['bare_us']:.0f} µs | {warm['ratio']:.2f}× | "
            f"≤ 1.10× — {verdict(warm['ratio'] <= 1.10)} |"
        )
        lines.append(
            f"| 2 | the forwarder's client alone (`ServiceNowClient.send`), {mode} | {warm['client_us']:.0f} µs | "
            f"bare `Session.post` {warm['bare_us']:.0f} µs | {warm['client_us'] / warm['bare_us']:.2f}× | |"
        )
    lines += guarded[2]
    lines.append(f"| 2 | mapping alone (SNS classic alarm → record) | {results['mapping_us']:.0f} µs | | | |")
    lines.append(
        f"| 2 | Powertools alone per invocation (Logger + Metrics decorators, 1 INFO line, 3 metrics) | "
        f"{results['observability_us']:.0f} µs | | | |"
    )
    for mode in ("basic", "oauth"):
        work = results[f"warm_{mode}"]["work_per_alert"]
        figures = (work["event_posts"], work["token_requests"], work["secret_reads"], work["connections_opened"])
        shown = " / ".join(f"{value:g}" for value in figures)
        lines.append(
            f"| 3 | work per warm alert, {mode}, guard off: POSTs / token requests / secret reads / new connections | "
            f"{shown} | | | 1 / 0 / 0 / 0 — {verdict(figures == (1, 0, 0, 0))} |"
        )
    lines += guarded[3]
    for mode in ("basic", "oauth"):
        naive = results[f"naive_{mode}"]
        lines.append(
            f"| 4 | warm alerts per second, {mode}, guard off | {naive['ours_per_s']:.0f}/s | naive forwarder "
            f"{naive['naive_per_s']:.0f}/s | {naive['ratio']:.1f}× | ≥ 5× — {verdict(naive['ratio'] >= 5)} |"
        )
    storm = results["storm"]
    direct, buffered = storm["direct"], storm["buffered"]
    lines.append(
        f"| 5 | storm of {storm['alerts']} alerts, guard off, buffered (batches of {storm['batch_size']}) | "
        f"{buffered['posts']} POSTs, {buffered['per_s']:.0f} alerts/s | direct: {direct['posts']} POSTs, "
        f"{direct['per_s']:.0f} alerts/s | {buffered['per_s'] / direct['per_s']:.1f}× | ≤ 1 POST per 10 alerts — "
        f"{verdict(buffered['posts'] * 10 <= storm['alerts'])} |"
    )
    lines += guarded[5]
    growth = mem["rss_at_end_mb"] - mem["rss_at_checkpoint_mb"]
    lines.append(
        f"| 6 | memory after {mem['invocations']} warm invocations, guard off: peak RSS / growth since invocation "
        f"{mem['checkpoint']} | {mem['peak_rss_mb']:.0f} MB / {growth:+.1f} MB | | | ≤ 100 MB, no growth — "
        f"{verdict(mem['peak_rss_mb'] <= 100 and growth < 1)} |"
    )
    package = results["package"]
    if package:
        for name, (unzipped, zipped) in package.items():
            lines.append(f"| 7 | `sam build` {name}: unzipped / zipped | {_size(unzipped)} / {_size(zipped)} | | | |")
    else:
        lines.append("| 7 | `sam build` sizes | not built (run `bash scripts/check-template.sh` first) | | | |")
    basic = results["warm_basic"]
    gap = basic["ours_us"] - basic["client_us"]
    lines += [
        "",
        "## Where a warm alert's time goes",
        "",
        f"Through `lambda_handler` a warm alert costs {basic['ours_us']:.0f} µs against {basic['bare_us']:.0f} µs "
        f"for a bare `requests.Session().post` of the same body ({basic['ratio']:.2f}×, basic auth). The "
        f"forwarder's own client is faster than the bare post ({basic['client_us']:.0f} µs: it reads the proxy "
        "environment once per container instead of on every request), so the POST itself is at the limit. The "
        f"{gap:.0f} µs on top of the client contain the mapping ({results['mapping_us']:.0f} µs) and Powertools' "
        f"Logger and Metrics ({results['observability_us']:.0f} µs per invocation on their own: context "
        "injection, one INFO line, the EMF flush), each measured in isolation; the remaining "
        f"{gap - results['mapping_us'] - results['observability_us']:.0f} µs (SNS parsing, the secret cache "
        "check, building the JSON body, and whatever running between network waits costs on this 2-core machine "
        "shared by three processes) are not attributed further. The floor with structured logging and metrics is "
        "client + mapping + Powertools "
        f"= {basic['client_us'] + results['mapping_us'] + results['observability_us']:.0f} µs; the 1.10× target "
        "is measured against the emulator's sub-2 ms loopback answer. Against a real instance (tens to hundreds "
        "of ms per "
        "POST over the internet) the same overhead is well under 1 %.",
        "",
        "Cold start: the handler module imports in less time than `boto3` + `requests` because boto3 is only "
        "imported when the secret is first read (the `secret read` column of the first invocation includes it); "
        "PyJWT and cryptography load only for OAuth (`client` column: loading them and the RSA key), the API, "
        "batch and replay modules only on their paths (a unit test checks this).",
        "",
        *guard_notes(results),
    ]
    lines += ["", "Largest imports of the handler module (`python -X importtime -c 'import app'`, cumulative):", ""]
    lines += [f"- `{name}`: {micro / 1000:.1f} ms" for micro, name in cold["top_imports"]]
    lines += [
        "",
        f"Sizes: {sizes.cold_runs} fresh processes per cold-start figure, {sizes.warm_alerts} warm alerts in "
        f"{sizes.warm_rounds} interleaved rounds ({sizes.guard_warm_alerts} with the guard on), "
        f"{sizes.guard_batch_rounds} SQS "
        f"batches of {sizes.guard_batch} per guard setting, {sizes.memory_invocations} invocations for memory.",
        "",
    ]
    return "\n".join(lines)


def guard_notes(results: dict[str, Any]) -> list[str]:
    warm, batch = results["warm_guard"], results["guard_batch"]
    off = results["warm_basic"]
    return [
        "## With the ordering guard on",
        "",
        "The rows marked *guard on* run with `ALERT_STATE_TABLE` naming the alert-state table in moto's server "
        "(the template's default); the others leave it unset (guard off), as before the guard existed. "
        f"A warm single alert claims its key with one UpdateItem: {warm['ours_us']:.0f} µs through "
        f"`lambda_handler` against {off['ours_us']:.0f} µs with the guard off (the basic-auth row above, an "
        "earlier part of the same run), and against its own side-by-side baseline of a bare `Session.post` "
        f"({warm['post_us']:.0f} µs) plus a bare boto3 `update_item` to the same table over a kept-alive client "
        f"({warm['update_us']:.0f} µs): {warm['ratio']:.2f}×. The guard's own claim, timed alone, costs "
        f"{warm['claim_us']:.0f} µs, and a bare `update_item` with the claim's update and condition "
        f"expressions {warm['conditional_us']:.0f} µs: what the claim costs above the plain update is moto "
        "evaluating those expressions. Through `lambda_handler` the guard-on alert costs about the guard-off "
        f"one plus the claim alone ({off['ours_us']:.0f} + {warm['claim_us']:.0f} µs). moto answers far "
        "slower than DynamoDB does within a region, so the absolute cost of a claim here is moto's more than "
        "the guard's.",
        "",
        f"A batch of {batch['batch_size']} different alarms claims its keys with one TransactWriteItems. moto "
        "copies the whole table once for each item of a transaction, so its time for one grows with the items "
        "the table holds: each guarded batch (and the bare transaction it is compared with) starts from an "
        f"empty table, emptied outside the timing. Of the guarded batch's {batch['on_ms']:.0f} ms (guard off: "
        f"{batch['off_ms']:.0f} ms), the guard's claim of {batch['batch_size']} keys alone takes "
        f"{batch['claim_ms']:.0f} ms, against {batch['bare_ms']:.0f} ms for a bare transaction of plain updates "
        "(no condition expressions): moto's time, not the forwarder's. The storm row with the guard on empties "
        "the table the same way before each batch.",
    ]


def run(sizes: Sizes) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with Servers() as servers:
        print("cold start ...", file=sys.stderr)
        results["cold"] = measure.cold_start(servers, sizes.cold_runs)
        print("warm path ...", file=sys.stderr)
        for mode in ("basic", "oauth"):
            results[f"warm_{mode}"] = measure.warm_path(
                servers, oauth=mode == "oauth", alerts=sizes.warm_alerts, rounds=sizes.warm_rounds
            )
        print("warm path, guard on ...", file=sys.stderr)
        results["warm_guard"] = measure.warm_path(
            servers, oauth=False, alerts=sizes.guard_warm_alerts, rounds=sizes.warm_rounds, guard=True
        )
        results["mapping_us"] = measure.mapping_microseconds(sizes.mapping_iterations)
        results["observability_us"] = measure.observability_microseconds(sizes.mapping_iterations)
        print("naive baseline ...", file=sys.stderr)
        for mode in ("basic", "oauth"):
            results[f"naive_{mode}"] = measure.ours_against_naive(
                servers, oauth=mode == "oauth", alerts=sizes.naive_alerts
            )
        print("storm ...", file=sys.stderr)
        results["storm"] = measure.storm(servers, alerts=sizes.storm_alerts, batch_size=sizes.storm_batch)
        print("guard on: SQS batches, storm ...", file=sys.stderr)
        results["guard_batch"] = measure.guarded_batch(
            servers, batch_size=sizes.guard_batch, rounds=sizes.guard_batch_rounds
        )
        results["storm_guard"] = measure.storm(
            servers, alerts=sizes.storm_alerts, batch_size=sizes.storm_batch, guard=True
        )
        print("memory ...", file=sys.stderr)
        results["memory"] = measure.memory(servers, sizes.memory_invocations)
    results["package"] = measure.package()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the suite runs, measures nothing")
    parser.add_argument("--output", type=Path, help="where to write the report (default docs/performance.md)")
    args = parser.parse_args(argv)
    sizes = SMOKE if args.smoke else FULL
    report = build_report(run(sizes), sizes)
    print(report)
    output = args.output or (None if args.smoke else ROOT / "docs" / "performance.md")
    if output:
        output.write_text(report)
        print(f"written to {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
