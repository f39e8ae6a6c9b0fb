"""The alerts the benchmarks send: the project's SNS classic alarm sample, made unique.

By default every alert is the same alarm (one message key) in a new notification; with
`distinct` each index is an alarm of its own (its name and ARN, so its message key, carry
the index), as the ordering guard sees a storm of different alarms. `generic_batch`: a
direct invocation of many generic alerts (the project's generic sample), distinct keys."""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import Any

from local.runner import ROOT

ALARM_NAME = "prod-web-1-cpu-high"


@cache
def _alarm_event() -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "events" / "sns-cloudwatch-alarm.json").read_text())
    return event


def _alarm_of(text: str, index: int) -> str:
    """`text` (the alarm JSON, or the subject) naming alarm `index` instead of the sample's."""
    return text.replace(ALARM_NAME, f"{ALARM_NAME}-{index}")


def sns_alarm(index: int, *, distinct: bool = False) -> dict[str, Any]:
    event = copy.deepcopy(_alarm_event())
    sns = event["Records"][0]["Sns"]
    sns["MessageId"] = f"bench-{index}"
    if distinct:
        sns["Message"] = _alarm_of(sns["Message"], index)
        sns["Subject"] = _alarm_of(sns["Subject"], index)
    return event


def sqs_batch(start: int, count: int, *, distinct: bool = False) -> dict[str, Any]:
    sns = _alarm_event()["Records"][0]["Sns"]
    records = []
    for index in range(start, start + count):
        notification = {
            "Type": "Notification",
            "MessageId": f"bench-{index}",
            **{key: sns[key] for key in ("TopicArn", "Subject", "Message", "Timestamp")},
        }
        if distinct:
            notification["Message"] = _alarm_of(sns["Message"], index)
            notification["Subject"] = _alarm_of(sns["Subject"], index)
        records.append({"messageId": f"m-{index}", "eventSource": "aws:sqs", "body": json.dumps(notification)})
    return {"Records": records}


@cache
def _generic_record() -> dict[str, Any]:
    """The generic alert of the project's sample (a Nagios disk alert in ITOM's fields)."""
    event = json.loads((ROOT / "events" / "sns-generic-alert.json").read_text())
    record: dict[str, Any] = json.loads(event["Records"][0]["Sns"]["Message"])
    return record


def generic_batch(start: int, count: int) -> dict[str, Any]:
    """A direct invocation of `count` generic alerts (`{"records": [...]}`), each an alert of
    its own (its message key carries the index)."""
    record = _generic_record()
    key = record["message_key"]
    return {"records": [{**record, "message_key": f"{key}-{index}"} for index in range(start, start + count)]}
