"""The route an alert arrived by: what the formats may use besides the payload itself."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Notification:
    """An SNS notification (or a direct invocation, where the SNS fields are None)."""

    message: str
    message_id: str | None = None
    topic_arn: str | None = None
    subject: str | None = None
    timestamp: str | None = None

    def context(self) -> dict[str, object]:
        """Route details worth keeping in additional_info (to trace an event back)."""
        return {"sns_message_id": self.message_id, "sns_topic_arn": self.topic_arn}
