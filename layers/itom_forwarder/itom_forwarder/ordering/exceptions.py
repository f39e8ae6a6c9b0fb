"""The guard's failures, in the forwarder's one failure hierarchy."""

from __future__ import annotations

from itom_forwarder.failures import FailureReason, TransientFailure

__all__ = ["GuardUnavailable", "KeyInFlight"]


class GuardUnavailable(TransientFailure):
    """DynamoDB did not answer the claim (throttled, unreachable, refused): the event is
    neither sent nor skipped but retried, like a 5xx of the instance."""

    def __init__(self, message: str) -> None:
        super().__init__(FailureReason("guard", message))

    def __str__(self) -> str:
        return self.reason.message


class KeyInFlight(TransientFailure):
    """An older event of the key is being sent by another invocation right now: sending
    this newer one at once could let the older one reach ServiceNow last. Retried after it."""

    def __init__(self, message_key: str) -> None:
        shown = message_key if len(message_key) <= 120 else message_key[:119] + "…"
        message = f"an older event of message key {shown!r} is being sent by another invocation: retried after it"
        super().__init__(FailureReason("guard", message))

    def __str__(self) -> str:
        return self.reason.message
