"""Run the forwarder locally, end to end, with no AWS account and no instance.

    python -m local.runner                 # every sample in events/ (SNS, then direct)
    python -m local.runner events/x.json   # the files given
    python -m local.runner --oauth         # OAuth 2.0 JWT bearer instead of basic auth
    python -m local.runner --serve [PORT]  # serve POST /events, /alertmanager and /grafana on loopback
    python -m local.runner --check         # the connector check (add --send-test-event, --oauth)
    python -m local.runner --check --secret-id NAME   # ... against the instance a real secret points to
    python -m local.runner --verbose       # also the function's JSON logs and metrics

Starts moto's server (Secrets Manager, SQS) and the ServiceNow emulator on loopback,
creates the secret and the dead-letter queue, then invokes `lambda_handler` with each
event the way `sam local invoke -e` does, in one warm container, and prints what the
instance received: the events, and the alerts they opened or closed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from local.stack import LocalStack

ROOT = Path(__file__).resolve().parent.parent
# Where Lambda puts the function (/var/task) and the layer (/opt/python).
CODE_PATHS = (ROOT / "functions" / "forwarder", ROOT / "layers" / "itom_forwarder")
# The webhooks `serve` suggests sending (paths relative to ROOT, where `make serve` runs).
ALERTMANAGER_SAMPLE = "tests/samples/prometheus-msteams-alertmanager-webhook-v4-firing.json"
GRAFANA_SAMPLE = "tests/samples/grafana-docs-grafana-webhook-firing-two-alerts.json"
# The bearer token the webhook samples in events/ carry (as a sender configured with it
# would): the run's ingest secret lists it beside the generated one.
SAMPLE_BEARER_TOKEN = "EXAMPLE-TOKEN"  # noqa: S105 - a documented example, valid only in the local stack


def add_code_paths() -> None:
    for path in CODE_PATHS:
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))


def default_events() -> list[Path]:
    """SNS events, the SQS batch, then direct invocations: in that order an alarm opens,
    its OK closes it, EventBridge and SQS ALARMs reopen it and a direct EventBridge OK
    closes it."""
    events = ROOT / "events"
    # The redrive function's events are for the other function.
    skip = ("sns-", "sqs-", "redrive-", "env.json")
    others = [path for path in events.glob("*.json") if not path.name.startswith(skip)]
    return sorted(events.glob("sns-*.json")) + sorted(events.glob("sqs-*.json")) + sorted(others)


def _short(text: str, width: int = 72) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def _print_event(record: dict[str, str]) -> None:
    node, metric = record.get("node", "-"), record.get("metric_name", "-")
    print(f"    severity {record.get('severity')}  node {node}  metric {metric}")
    print(f"      source {record.get('source')} | {record.get('event_class', '-')}")
    print(f"      message_key {_short(record.get('message_key', '-'), 90)}")
    print(f"      description {_short(record.get('description', ''))}")


def run(paths: list[Path], *, oauth: bool = False) -> int:
    from local.stack import LocalStack

    failures = 0
    with LocalStack(oauth=oauth) as stack:
        stack.put_ingest_secret(stack.ingest_document(bearer_tokens=[stack.bearer_token, SAMPLE_BEARER_TOKEN]))
        auth = (
            "OAuth JWT bearer, generated 3072-bit key and certificate" if oauth else "basic auth, user aws.integration"
        )
        print(f"ServiceNow emulator: {stack.emulator.url}   moto: {stack.aws.endpoint_url}")
        print(f"Secret {stack.secret_name!r} ({auth})   DLQ {stack.queue_url}")
        print(f"Ordering guard: DynamoDB table {stack.alert_state_table!r} (newest source time per message key)\n")
        for path in paths:
            event: dict[str, Any] = json.loads(path.read_text())
            received_before = len(stack.emulator.events)
            print(f"▶ invoke {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
            try:
                result = stack.invoke(event)
                if isinstance(result, dict) and "statusCode" in result:  # an API Gateway answer
                    print(f"  answered HTTP {result['statusCode']} {result.get('body')}")
                else:
                    print(f"  returned {json.dumps(result)}")
                if isinstance(result, dict) and result.get("superseded"):
                    note = "older than the event ServiceNow already has for its alert (not sent, not lost)"
                    print(f"  superseded: {note}")
            except Exception as error:  # shown, as Lambda would report it
                failures += 1
                print(f"  raised {type(error).__name__}: {error}  (Lambda would retry this event)")
            for record in stack.emulator.events[received_before:]:
                _print_event(record)
        print("\nAlerts in the instance:")
        alerts = stack.emulator.alerts
        if not alerts:
            print("  (none)")
        for key, alert in alerts.items():
            print(f"  {alert.state:<6} severity {alert.severity}  events {alert.event_count}  {_short(key, 90)}")
        dead_letters = stack.dead_letters()
        claims = stack.aws.calls("dynamodb.UpdateItem") + stack.aws.calls("dynamodb.TransactWriteItems")
        print(f"\nDead-letter queue: {len(dead_letters)} message(s)")
        for message in dead_letters:
            body = json.loads(message["Body"])
            reason = body.get("reason", {})
            print(textwrap.indent(f"{reason.get('step')}: {_short(str(reason.get('message')), 100)}", "  "))
        print(
            f"\nSecrets Manager reads: {stack.aws.calls('secretsmanager.GetSecretValue')}   "
            f"TCP connections to the instance: {stack.emulator.connections_opened}   "
            f"POSTs: {stack.emulator.count('POST', '/api/global/em/jsonv2')}   "
            f"DynamoDB requests: {claims}" + (f"   token requests: {stack.emulator.token_requests}" if oauth else "")
        )
    return 1 if failures else 0


def serve(port: int, *, oauth: bool = False) -> int:
    """The forwarder's API on loopback until Ctrl-C, against the emulator and moto."""
    import secrets

    from local.api_server import LocalApiServer
    from local.stack import INTEGRATION_USER, LocalStack

    with LocalStack(oauth=oauth) as stack:
        api_key = secrets.token_urlsafe(16)
        api = LocalApiServer(stack.handler(), api_key, port=port)
        # Local, generated for this run only: printed so the alerts can be looked at and
        # the webhooks sent.
        login = f"{INTEGRATION_USER}:{stack.password}"
        print(f"ServiceNow emulator: {stack.emulator.url}   user {INTEGRATION_USER}, password {stack.password}")
        print(f"  the alerts:  curl -s -u '{login}' {stack.emulator.url}/api/now/table/em_alert")
        print(f"Forwarder API:       {api.url}   API key (POST /events): {api_key}")
        print(f"Webhook credentials (ingest secret {stack.ingest_secret_name!r}):")
        print(f"  bearer token:        {stack.bearer_token}")
        print(f"  basic login:         user {stack.basic_username}, password {stack.basic_password}")
        print(f"  Grafana HMAC secret: {stack.grafana_hmac_secret}   timestamp header {stack.grafana_timestamp_header}")
        print("\nTry (from the repository's root):")
        print("\n".join(f"  {line}" for line in curl_lines(stack, api.url, api_key)))
        print("\nCtrl-C stops.", flush=True)
        try:
            api.serve_forever()
        except KeyboardInterrupt:
            print("\nstopped")
    return 0


def curl_lines(stack: LocalStack, url: str, api_key: str) -> list[str]:
    """Shell lines sending one request to each route with the stack's credentials."""
    from local.webhook_auth import GRAFANA_SIGNATURE_HEADER, grafana_signature_shell

    json_type = "-H 'content-type: application/json'"
    more = "     "  # the indent of a continued line
    return [
        "# an ITOM event: the API key, checked by the gateway",
        f"curl -s -X POST {url}/events -H 'x-api-key: {api_key}' {json_type} \\",
        more + """-d '{"node":"db-1","metric_name":"disk","severity":"critical","message_key":"db-1/disk"}'""",
        "# an Alertmanager webhook: the bearer token (Alertmanager's http_config.authorization)",
        f'curl -s -X POST {url}/alertmanager -H "Authorization: Bearer {stack.bearer_token}" {json_type} \\',
        f"{more}--data-binary @{ALERTMANAGER_SAMPLE}",
        "# ... or the basic login (http_config.basic_auth)",
        f"curl -s -X POST {url}/alertmanager -u '{stack.basic_username}:{stack.basic_password}' {json_type} \\",
        f"{more}--data-binary @{ALERTMANAGER_SAMPLE}",
        "# a Grafana webhook, signed as Grafana does: hex HMAC-SHA256 of <timestamp>:<body>",
        f"TS=$(date +%s); SIG=$({grafana_signature_shell(stack.grafana_hmac_secret, GRAFANA_SAMPLE)})",
        f"curl -s -X POST {url}/grafana {json_type} \\",
        f'{more}-H "{stack.grafana_timestamp_header}: $TS" -H "{GRAFANA_SIGNATURE_HEADER}: $SIG" \\',
        f"{more}--data-binary @{GRAFANA_SAMPLE}",
    ]


def check(*, oauth: bool = False, send_test_event: bool = False, secret_id: str | None = None) -> int:
    """The connector check as the Lambda invocation runs it: against the emulator, or with
    `secret_id` against whatever instance that secret points to (the caller's AWS
    credentials and region, or AWS_ENDPOINT_URL, reach Secrets Manager)."""
    event = {"action": "check", "send_test_event": send_test_event}
    if secret_id:
        import importlib

        from local.lambda_context import LocalLambdaContext

        os.environ["SERVICENOW_SECRET_ID"] = secret_id
        os.environ.setdefault("DLQ_URL", "unused-by-the-check")  # required setting; the check sends nothing there
        report = importlib.import_module("app").lambda_handler(event, LocalLambdaContext(timeout_seconds=60))
    else:
        from local.stack import LocalStack

        with LocalStack(oauth=oauth) as stack:
            report = stack.invoke(event)
    for step in report["steps"]:
        print(f"{'PASS' if step['ok'] else 'FAIL'}  {step['name']:<17} {step['detail']}")
        if step.get("hint"):
            print(f"      {'':<17} → {step['hint']}")
    print("\nconnector check " + ("passed" if report["ok"] else "FAILED"))
    return 0 if report["ok"] else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.runner", description=__doc__.split("\n\n")[0])
    parser.add_argument("events", nargs="*", type=Path, help="Lambda event files (default: all of events/)")
    parser.add_argument("--oauth", action="store_true", help="authenticate with OAuth 2.0 JWT bearer, not basic auth")
    parser.add_argument(
        "--serve", nargs="?", const=3000, type=int, metavar="PORT", help="serve the API on loopback (default port 3000)"
    )
    parser.add_argument("--check", action="store_true", help="run the connector check against the emulator")
    parser.add_argument("--send-test-event", action="store_true", help="with --check: also send and clear an event")
    parser.add_argument(
        "--secret-id", help="with --check: check the instance this Secrets Manager secret points to, not the emulator"
    )
    parser.add_argument("--verbose", action="store_true", help="show the function's logs and EMF metrics")
    args = parser.parse_args(argv)
    if not args.verbose:
        # Before the handler module is imported: Powertools reads these at import time.
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "CRITICAL")
        os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    add_code_paths()
    if args.check:
        return check(oauth=args.oauth, send_test_event=args.send_test_event, secret_id=args.secret_id)
    if args.serve is not None:
        return serve(args.serve, oauth=args.oauth)
    paths = args.events or default_events()
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        parser.error(f"no such event file: {', '.join(missing)}")
    return run(paths, oauth=args.oauth)


if __name__ == "__main__":
    sys.exit(main())
