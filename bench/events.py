"""The alerts the benchmarks send: the project's SNS classic alarm sample, made unique."""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import Any

from local.runner import ROOT


@cache
def _alarm_event() -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "events" / "sns-cloudwatch-alarm.json").read_text())
    return event


def sns_alarm(index: int) -> dict[str, Any]:
    event = copy.deepcopy(_alarm_event())
    event["Records"][0]["Sns"]["MessageId"] = f"bench-{index}"
    return event


def sqs_batch(start: int, count: int) -> dict[str, Any]:
    sns = _alarm_event()["Records"][0]["Sns"]
    records = []
    for index in range(start, start + count):
        notification = {
            "Type": "Notification",
            "MessageId": f"bench-{index}",
            **{key: sns[key] for key in ("TopicArn", "Subject", "Message", "Timestamp")},
        }
        records.append({"messageId": f"m-{index}", "eventSource": "aws:sqs", "body": json.dumps(notification)})
    return {"Records": records}
