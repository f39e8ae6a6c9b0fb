"""The ordering guard: per message key, the source time of the newest event accepted, in a
DynamoDB table, so that an event older than one already accepted is never sent (it would
reopen or leave open what the newer one settled).

A leaf: it receives its table name, options and client (an `aws_api.AwsJsonClient`, signed
requests: no boto3 on the alert path) as arguments and imports nothing of the application
but the failure hierarchy and the `aws_api` leaf.
"""

from __future__ import annotations

from itom_forwarder.ordering.exceptions import GuardUnavailable, KeyInFlight
from itom_forwarder.ordering.guard import (
    Claim,
    Decision,
    GuardOptions,
    OrderingGuard,
    Verdict,
    table_key,
)

__all__ = [
    "Claim",
    "Decision",
    "GuardOptions",
    "GuardUnavailable",
    "KeyInFlight",
    "OrderingGuard",
    "Verdict",
    "table_key",
]
