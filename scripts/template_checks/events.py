"""Sanity checks of the sample events (events/*.json).

Every file parses, without CRLF line endings. By name:
  env.json          the sam local env-vars file: a ForwarderFunction object;
  sqs-*.json        Lambda SQS events (buffered mode) whose record bodies are SNS notification
                    JSON (Type Notification, Message a string) with a matching md5OfBody;
  redrive-*.json    RedriveFunction payloads (a JSON object with action "replay", or
                    "redrive" as the schedule sends it);
  sns-*.json        Lambda SNS events whose Messages are JSON unless the name says plain-text;
  apigateway-*.json API Gateway proxy events (REST payload 1.0 or HTTP API payload 2.0) whose
                    body, base64-decoded when isBase64Encoded, is JSON;
  any other         a direct invocation event: a CloudWatch alarm action's payload, or an
                    EventBridge event from aws.cloudwatch or from a source the AWS service
                    event rules forward (service_events.SOURCES: aws.health, aws.guardduty,
                    aws.securityhub, aws.config, aws.devops-guru), with a detail-type its rule
                    matches.
"""

from __future__ import annotations

import base64
import binascii
import glob
import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path

from template_checks.service_events import SOURCES

# Each check returns what is wrong with one parsed event file (messages without the path).
Check = Callable[[object, str], list[str]]


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _records(doc: object) -> list[object] | None:
    records = doc.get("Records") if isinstance(doc, dict) else None
    return records if isinstance(records, list) and records else None


def check_env(doc: object, name: str) -> list[str]:
    if not isinstance(doc, dict) or not isinstance(doc.get("ForwarderFunction"), dict):
        return ["expected a ForwarderFunction object"]
    return []


def _sqs_record(i: int, record: object, message_ids: set[str]) -> list[str]:
    if not isinstance(record, dict) or record.get("eventSource") != "aws:sqs":
        return [f"Records[{i}] is not an SQS record (eventSource aws:sqs)"]
    failures = []
    message_id = record.get("messageId")
    if not isinstance(message_id, str) or message_id in message_ids:
        failures.append(f"Records[{i}].messageId is missing or repeated")
    if isinstance(message_id, str):
        message_ids.add(message_id)
    body = record.get("body")
    if not isinstance(body, str):
        return [*failures, f"Records[{i}].body is not a string"]
    if record.get("md5OfBody") != hashlib.md5(body.encode("utf-8")).hexdigest():  # noqa: S324 - SQS's checksum
        failures.append(f"Records[{i}].md5OfBody does not match the body")
    try:
        notification = json.loads(body)
    except ValueError as exc:
        return [*failures, f"Records[{i}].body is not JSON: {exc}"]
    if not isinstance(notification, dict) or notification.get("Type") != "Notification":
        return [*failures, f"Records[{i}].body is not an SNS notification (Type Notification)"]
    if not isinstance(notification.get("Message"), str):
        failures.append(f"Records[{i}].body Message is not a string")
    return failures


def check_sqs(doc: object, name: str) -> list[str]:
    """A Lambda SQS event as the buffered mode delivers it: each record's body is the SNS
    notification JSON (raw message delivery off), whose Message is a string."""
    records = _records(doc)
    if records is None:
        return ["no Records"]
    message_ids: set[str] = set()
    return [failure for i, record in enumerate(records) for failure in _sqs_record(i, record, message_ids)]


def check_redrive(doc: object, name: str) -> list[str]:
    """A RedriveFunction payload (an operator's replay, or the schedule's redrive)."""
    if not isinstance(doc, dict) or doc.get("action") not in ("replay", "redrive"):
        return ['not a JSON object with action "replay" or "redrive"']
    failures = []
    if "dry_run" in doc and not isinstance(doc["dry_run"], bool):
        failures.append("dry_run is not a boolean")
    max_messages = doc.get("max_messages", 1)
    if isinstance(max_messages, bool) or not isinstance(max_messages, int) or max_messages < 1:
        failures.append("max_messages is not a positive integer")
    return failures


def _sns_record(i: int, record: object, should_be_json: bool) -> list[str]:
    if not isinstance(record, dict) or record.get("EventSource") != "aws:sns":
        return [f"Records[{i}] is not an SNS record (EventSource aws:sns)"]
    sns = record.get("Sns")
    message = sns.get("Message") if isinstance(sns, dict) else None
    if not isinstance(message, str):
        return [f"Records[{i}].Sns.Message is not a string"]
    if _is_json(message) != should_be_json:
        kind = "JSON" if should_be_json else "plain text"
        return [f"Records[{i}].Sns.Message should be {kind}"]
    return []


def check_sns(doc: object, name: str) -> list[str]:
    """A Lambda SNS event: Records[].Sns.Message is a string, JSON unless the name says
    plain-text."""
    records = _records(doc)
    if records is None:
        return ["no Records"]
    should_be_json = "plain-text" not in name
    return [failure for i, record in enumerate(records) for failure in _sns_record(i, record, should_be_json)]


def _http_api_shape(doc: dict[str, object], context: dict[str, object]) -> str | None:
    """What is wrong with a payload 2.0 (HTTP API) event's shape, if anything."""
    if not isinstance(doc.get("routeKey"), str):
        return "payload 2.0 (HTTP API) event without routeKey"
    # Powertools strips a named stage from rawPath: it must start with /<stage>/.
    stage, raw_path = context.get("stage"), doc.get("rawPath")
    named_stage = isinstance(stage, str) and stage != "$default"
    if named_stage and isinstance(raw_path, str) and not raw_path.startswith(f"/{stage}/"):
        return f"rawPath {raw_path!r} does not start with the stage /{stage}/"
    return None


def _proxy_body(doc: dict[str, object]) -> str | None:
    """What is wrong with a proxy event's body, if anything: a string holding JSON,
    base64-encoded when isBase64Encoded is true."""
    body = doc.get("body")
    if not isinstance(body, str):
        return "body is not a string"
    if doc.get("isBase64Encoded") is True:
        try:
            body = base64.b64decode(body, validate=True).decode("utf-8")
        except (binascii.Error, ValueError) as exc:
            return f"isBase64Encoded but the body is not base64 UTF-8: {exc}"
    try:
        json.loads(body)
    except ValueError as exc:
        return f"body is not JSON: {exc}"
    return None


def check_apigateway(doc: object, name: str) -> list[str]:
    """An API Gateway Lambda proxy event: REST API (payload 1.0: httpMethod + requestContext
    + body) or HTTP API (payload 2.0: version "2.0" + routeKey + requestContext)."""
    if not isinstance(doc, dict):
        return ["not a JSON object"]
    context = doc.get("requestContext")
    if not isinstance(context, dict):
        return ["no requestContext object"]
    if doc.get("version") == "2.0":
        problem = _http_api_shape(doc, context)
    elif not isinstance(doc.get("httpMethod"), str):
        problem = "neither httpMethod (REST, payload 1.0) nor version 2.0 + routeKey (HTTP API)"
    else:
        problem = None
    problem = problem or _proxy_body(doc)
    return [problem] if problem else []


def check_direct(doc: object, name: str) -> list[str]:
    """A direct invocation event: the payload of a CloudWatch alarm's Lambda action (alarmArn +
    alarmData, from aws.cloudwatch), or an EventBridge event (detail-type + detail) from
    aws.cloudwatch or from a source the templates' rules forward (AWS Health, GuardDuty,
    Security Hub, AWS Config, DevOps Guru), then with a detail-type that source's rule matches."""
    if not isinstance(doc, dict):
        return ["not a JSON object"]
    source = doc.get("source")
    forwarded = {rule.source: rule.detail_types for rule in SOURCES}
    if source != "aws.cloudwatch" and source not in forwarded:
        return [f"source is {source!r}: not aws.cloudwatch nor {', '.join(forwarded)} (not a direct invocation event)"]
    eventbridge = isinstance(doc.get("detail-type"), str) and isinstance(doc.get("detail"), dict)
    alarm_action = isinstance(doc.get("alarmArn"), str) and isinstance(doc.get("alarmData"), dict)
    if not (eventbridge or (alarm_action and source == "aws.cloudwatch")):
        return ["neither detail-type + detail (EventBridge) nor alarmArn + alarmData (alarm action)"]
    if source in forwarded and doc.get("detail-type") not in forwarded[source]:
        return [f"detail-type {doc.get('detail-type')!r} is not one the {source} rule forwards ({forwarded[source]})"]
    return []


PREFIX_CHECKS: tuple[tuple[str, Check], ...] = (
    ("sqs-", check_sqs),
    ("redrive-", check_redrive),
    ("sns-", check_sns),
    ("apigateway-", check_apigateway),
)


def check_for(name: str) -> Check:
    if name == "env.json":
        return check_env
    return next((check for prefix, check in PREFIX_CHECKS if name.startswith(prefix)), check_direct)


def check_file(path: Path, label: str) -> list[str]:
    """Everything wrong with one event file, each message starting with its label."""
    raw = path.read_bytes()
    failures = []
    if b"\r" in raw:
        failures.append(f"{label}: CRLF line endings")
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        return [*failures, f"{label}: not JSON: {exc}"]
    return failures + [f"{label}: {failure}" for failure in check_for(path.name)(doc, path.name)]


def run(directory: Path) -> int:
    """Check every *.json of directory (labelled as given, e.g. events/x.json); 1 if any
    check failed."""
    failures = []
    pattern = f"{directory}/*.json"
    paths = sorted(glob.glob(pattern))
    if not paths:
        failures.append(f"no {pattern} found")
    for path in paths:
        found = check_file(Path(path), path)
        if found:
            failures += found
        else:
            print(f"  ok  {path}")
    if failures:
        print("\n".join("  FAIL " + failure for failure in failures), file=sys.stderr)
        return 1
    return 0
