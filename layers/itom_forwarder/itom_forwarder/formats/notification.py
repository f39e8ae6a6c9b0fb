"""The route an alert arrived by: what the formats may use besides the payload itself."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Notification"]


class Notification(NamedTuple):
    """An SNS notification, an API request, or a direct invocation (the SNS fields None).

    `origin` says which: "sns" (SNS, or SNS through the buffer queue), "api" (an API
    Gateway request; `message_id` is its request id) or "direct".
    """

    message: str
    message_id: str | None = None
    topic_arn: str | None = None
    subject: str | None = None
    timestamp: str | None = None
    origin: str = "sns"

    def context(self) -> dict[str, object]:
        """Route details worth keeping in additional_info (to trace an event back)."""
        if self.origin == "api":
            return {"api_request_id": self.message_id}
        if self.origin == "sns":
            return {"sns_message_id": self.message_id, "sns_topic_arn": self.topic_arn}
        return {}
