"""Claiming message keys in the alert-state table.

One item per message key (partition key `message_key`, a string):
    source_time   the source time (epoch milliseconds) of the newest event accepted
    lease_until   until when (epoch milliseconds) the invocation that accepted it may still
                  be sending it
    lease_owner   that invocation (a run id)
    expires_at    epoch seconds; the table's TTL removes the keys of quiet alerts

A claim of (key, t) is one conditional write that succeeds when
  - the key has no event yet, or
  - t equals the recorded time (the same event again: a retry, a duplicate delivery), or
  - t is newer and no other invocation is still sending the older event (its lease is
    over, or it is this run's own).
Otherwise the claim fails and the table's item says why: a newer event was accepted (the
claimed one is superseded), or an older one is being sent right now (the claimed one must
wait, else its POST could reach ServiceNow before the older one's and be undone by it).

A claim that meets a key in flight waits once, until that lease ends (when the run's
deadline leaves time to send after it), and claims again: two events of one alert a
moment apart both go, in their order.

One key: one UpdateItem. Several: TransactWriteItems of up to 100 keys (one round trip;
a cancelled transaction names each key's reason, and the keys that did not fail are
claimed again in a second one), chunks of 100 one after the other. Both go through the
aws_api client (DynamoDB's JSON 1.0 protocol, signed HTTPS, no boto3); the request bodies
are the low-level boto3 arguments, which are the wire format.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any, NamedTuple

from aws_lambda_powertools import Logger

from itom_forwarder.aws_api import AwsApiError, AwsUnavailable
from itom_forwarder.ordering.exceptions import GuardUnavailable

if TYPE_CHECKING:
    # The boto3 stubs' shapes, for type checking only: the payloads are DynamoDB's own JSON.
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef, UpdateTypeDef

    from itom_forwarder.aws_api import AwsJsonClient

__all__ = ["Claim", "Decision", "GuardOptions", "OrderingGuard", "Verdict", "table_key"]

KEY_ATTRIBUTE = "message_key"
# DynamoDB's limit for a partition key, in UTF-8 bytes; a message key may be 1,024 UTF-16
# units, up to 3,072 bytes.
MAX_TABLE_KEY_BYTES = 2048
TRANSACTION_MAX_ITEMS = 100
# A second round claims the keys a cancelled transaction did not refuse; a third only
# when another writer changed one of them in between.
MAX_ROUNDS = 3

_UPDATE = "SET source_time = :t, lease_until = :lease, lease_owner = :owner, expires_at = :expires"
_CONDITION = (
    "attribute_not_exists(source_time) OR source_time = :t"
    " OR (source_time < :t AND (lease_until < :now OR lease_owner = :owner))"
)
_RETRY_CODES = frozenset({"None", "TransactionConflict"})
# After waiting for a lease, at least this long must be left to send.
MIN_SEND_MS = 1000
# Past the lease's end, so the other invocation's last POST is surely over.
LEASE_GRACE_MS = 20

logger = Logger(child=True)


class GuardOptions(NamedTuple):
    table_name: str
    # Longer than the dead-letter queue keeps a message (14 days): a replayed event always
    # finds the time of what superseded it.
    ttl_seconds: int = 15 * 24 * 3600
    # How long a claimer may still be sending the event it claimed: its POSTs end by then,
    # and a newer event of the key waits for it (at most this long) before it is sent.
    lease_seconds: float = 10.0


class Claim(NamedTuple):
    key: str  # the alert's message key
    source_time_ms: int


class Verdict(StrEnum):
    ACCEPTED = "accepted"
    SUPERSEDED = "superseded"  # a newer event of the key was accepted: this one is not sent
    IN_FLIGHT = "in_flight"  # an older event of the key is being sent now: retry after it


class Decision(NamedTuple):
    verdict: Verdict
    # The time the table holds: the newer event's (superseded), or the one in flight.
    recorded_ms: int | None = None
    # In flight: when the other invocation's lease ends (epoch ms), if known.
    lease_until_ms: int | None = None


def table_key(message_key: str) -> str:
    """The table's key for a message key: the key itself, or its SHA-256 when it is longer
    than DynamoDB allows (distinct keys stay distinct)."""
    encoded = message_key.encode("utf-8", "surrogatepass")
    if len(encoded) <= MAX_TABLE_KEY_BYTES:
        return message_key
    return "sha256:" + hashlib.sha256(encoded).hexdigest()


def _error_code(error: Exception) -> str:
    """AWS's error code; for no answer (a timeout, a dropped connection, throttled to the
    last attempt) the last answer's code, else what happened."""
    if isinstance(error, AwsApiError):
        return error.code
    if isinstance(error, AwsUnavailable):
        return error.code or error.reason
    return type(error).__name__


def _decided(claim: Claim, item: Mapping[str, Any] | None) -> Decision:
    """Why the table refused `claim`, from the item it holds."""
    fields = item or {}
    recorded = fields.get("source_time", {}).get("N")
    if recorded is None:  # refused, yet no time: contended; try again later
        return Decision(Verdict.IN_FLIGHT)
    recorded_ms = int(recorded)
    if recorded_ms > claim.source_time_ms:
        return Decision(Verdict.SUPERSEDED, recorded_ms)
    lease = fields.get("lease_until", {}).get("N")
    return Decision(Verdict.IN_FLIGHT, recorded_ms, int(lease) if lease is not None else None)


class OrderingGuard:
    def __init__(
        self,
        options: GuardOptions,
        client_factory: Callable[[], AwsJsonClient],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.options = options
        self._client_factory = client_factory
        self._client: AwsJsonClient | None = None
        self._clock = clock
        self._count_lock = threading.Lock()
        self.requests = 0  # DynamoDB requests made (the soak and the benchmark report them)

    def _table(self) -> AwsJsonClient:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def lease_until(self, deadline_ms: int) -> int:
        """The end of a lease taken now by a run that sends until `deadline_ms`."""
        return min(deadline_ms, int(self._clock() * 1000 + self.options.lease_seconds * 1000))

    def _update(self, claim: Claim, owner: str, lease_until_ms: int) -> UpdateTypeDef:
        now = self._clock()
        return {
            "TableName": self.options.table_name,
            "Key": {KEY_ATTRIBUTE: {"S": table_key(claim.key)}},
            "UpdateExpression": _UPDATE,
            "ConditionExpression": _CONDITION,
            "ExpressionAttributeValues": {
                ":t": {"N": str(claim.source_time_ms)},
                ":now": {"N": str(int(now * 1000))},
                ":lease": {"N": str(lease_until_ms)},
                ":owner": {"S": owner},
                ":expires": {"N": str(int(now) + self.options.ttl_seconds)},
            },
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def settle(
        self, claims: Sequence[Claim], owner: str, deadline_ms: int, *, sleep: Callable[[float], None] = time.sleep
    ) -> tuple[dict[str, Decision], int]:
        """Claim every key for a run that sends until `deadline_ms` (epoch ms): each
        claim's decision, and the end of the lease written, which the run's POSTs must
        not outlast. Keys in flight elsewhere are waited for once, when their leases end
        soon enough to send after them; then the keys not superseded are claimed again
        (fresh leases for all). Raises GuardUnavailable as `claim` does."""
        lease_until_ms = self.lease_until(deadline_ms)
        decisions = self.claim(claims, owner, lease_until_ms)
        leases = [d.lease_until_ms for d in decisions.values() if d.verdict is Verdict.IN_FLIGHT]
        if not leases or None in leases:
            return decisions, lease_until_ms
        until_ms = max(lease for lease in leases if lease is not None) + LEASE_GRACE_MS
        wait_ms = until_ms - self._clock() * 1000
        if wait_ms > self.options.lease_seconds * 1000 or until_ms + MIN_SEND_MS > deadline_ms:
            return decisions, lease_until_ms  # not worth it (or no time): retried later
        logger.info(
            "Waiting for an older event of the same alert to be sent first",
            extra={"keys": len(leases), "wait_ms": round(max(wait_ms, 0.0))},
        )
        sleep(max(wait_ms, 0.0) / 1000)
        again = [claim for claim in claims if decisions[claim.key].verdict is not Verdict.SUPERSEDED]
        lease_until_ms = self.lease_until(deadline_ms)
        decisions.update(self.claim(again, owner, lease_until_ms))
        return decisions, lease_until_ms

    def claim(self, claims: Sequence[Claim], owner: str, lease_until_ms: int) -> dict[str, Decision]:
        """Each claim's decision, by key (the keys must be distinct). Raises
        GuardUnavailable when DynamoDB does not answer: nothing may be sent then."""
        if len(claims) == 1:
            (only,) = claims
            return {only.key: self._claim_one(only, owner, lease_until_ms)}
        decisions: dict[str, Decision] = {}
        pending = list(claims)
        for _ in range(MAX_ROUNDS):
            if not pending:
                break
            size = TRANSACTION_MAX_ITEMS
            chunks = [pending[start : start + size] for start in range(0, len(pending), size)]
            pending = []
            for decided, again in self._each(chunks, owner, lease_until_ms):
                decisions.update(decided)
                pending.extend(again)
        # Changed by another writer in every round: left for a retry, like a key in flight.
        decisions.update({claim.key: Decision(Verdict.IN_FLIGHT) for claim in pending})
        return decisions

    def _each(
        self, chunks: list[list[Claim]], owner: str, lease_until_ms: int
    ) -> list[tuple[dict[str, Decision], list[Claim]]]:
        # One after the other: a batch of up to 100 keys (the default batch size) is one
        # round trip; each further 100 keys add one.
        return [self._transact(chunk, owner, lease_until_ms) for chunk in chunks]

    def _counted(self) -> None:
        with self._count_lock:  # one guard may serve several threads (the local API server)
            self.requests += 1

    def _claim_one(self, claim: Claim, owner: str, lease_until_ms: int) -> Decision:
        self._counted()
        try:
            self._table().call("UpdateItem", self._update(claim, owner, lease_until_ms))
        except Exception as error:  # whatever it is, the event is retried, never sent unguarded
            code = _error_code(error)
            if isinstance(error, AwsApiError) and code == "ConditionalCheckFailedException":
                return _decided(claim, error.body.get("Item"))
            raise GuardUnavailable(f"the alert-state table could not be written ({code})") from None
        return Decision(Verdict.ACCEPTED)

    def _transact(self, chunk: list[Claim], owner: str, lease_until_ms: int) -> tuple[dict[str, Decision], list[Claim]]:
        """One transaction: the decisions it settles, and the claims to make again."""
        if len(chunk) == 1:
            return {chunk[0].key: self._claim_one(chunk[0], owner, lease_until_ms)}, []
        items: list[TransactWriteItemTypeDef] = [
            {"Update": self._update(claim, owner, lease_until_ms)} for claim in chunk
        ]
        self._counted()
        # The token boto3 fills in by itself (an idempotency token): a retry of a transaction
        # that was applied but whose answer was lost is answered as applied, not run again.
        request = {"TransactItems": items, "ClientRequestToken": str(uuid.uuid4())}
        try:
            self._table().call("TransactWriteItems", request)
        except Exception as error:  # whatever it is, the event is retried, never sent unguarded
            code = _error_code(error)
            reasons = error.body.get("CancellationReasons") if isinstance(error, AwsApiError) else None
            if code != "TransactionCanceledException" or not isinstance(reasons, list) or len(reasons) != len(chunk):
                raise GuardUnavailable(f"the alert-state table could not be written ({code})") from None
            return self._cancelled(chunk, reasons)
        return {claim.key: Decision(Verdict.ACCEPTED) for claim in chunk}, []

    @staticmethod
    def _cancelled(chunk: list[Claim], reasons: list[Mapping[str, Any]]) -> tuple[dict[str, Decision], list[Claim]]:
        decided: dict[str, Decision] = {}
        again: list[Claim] = []
        for claim, reason in zip(chunk, reasons, strict=True):
            code = str(reason.get("Code", "None"))
            if code == "ConditionalCheckFailed":
                decided[claim.key] = _decided(claim, reason.get("Item"))
            elif code in _RETRY_CODES:
                again.append(claim)
            else:  # throttled, or refused for a reason a retry may fix
                raise GuardUnavailable(f"the alert-state table could not be written ({code})")
        return decided, again
