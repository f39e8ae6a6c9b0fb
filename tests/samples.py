"""Loading the real public samples (tests/samples, see SOURCES.md there) and events/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from itom_forwarder.formats import Notification

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = Path(__file__).resolve().parent / "samples"
EVENTS = ROOT / "events"


def load(name: str) -> Any:
    folder = EVENTS if (EVENTS / name).exists() and not (SAMPLES / name).exists() else SAMPLES
    return json.loads((folder / name).read_text())


def notification_of(sns_event: dict[str, Any], index: int = 0) -> Notification:
    """The Notification the forwarder builds from a Lambda SNS event's record."""
    sns = sns_event["Records"][index]["Sns"]
    return Notification(
        message=sns["Message"],
        message_id=sns.get("MessageId"),
        topic_arn=sns.get("TopicArn"),
        subject=sns.get("Subject"),
        timestamp=sns.get("Timestamp"),
    )


def message_of(sns_event: dict[str, Any], index: int = 0) -> Any:
    return json.loads(sns_event["Records"][index]["Sns"]["Message"])
