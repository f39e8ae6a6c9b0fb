"""The delivery policy: the one place that decides what happens to inbound items.

`deliver` takes any list of items (SNS or SQS records, an API request, replayed dead
letters, the check's test event) and, for each, in order:
  1. refused settings: a refused group the delivery needs keeps every item, with the
     group's reason (no path can bypass ALLOWED_HOSTS or a refused mapping);
  2. mapping: payload -> ITOM events, or InvalidPayload naming the problem (a crash of a
     format while mapping one item is that item's InvalidPayload too: the others go on);
     each event gets its source time (see `source_times`);
  3. ordering: of several events of one message key in this call, only the newest is sent;
     with the ordering guard on, each key is claimed at that time in the alert-state table
     first, one POST's worth of items at a time, just before that POST. An event older
     than one already accepted is superseded (not sent, never lost);
     a key whose older event another invocation is sending right now, or a table that
     does not answer, makes the item retry-later like a 5xx;
  4. the send: one POST per chunk of at most BATCH_MAX_RECORDS records (an item's
     records are never split), and no further POST once the instance failed transiently.
     A chunk of several items refused for its content (400, 413: one record can cause
     that) is sent again in halves, down to single items, so that only the refused
     item(s) are dead-lettered and the others are delivered once;
  5. classification of every failure by the one hierarchy: permanent or transient.
Each item ends delivered, superseded, dead-lettered (with its reason and attempts), retry-later, or
returned to the caller (an API sender's 400, the check's report). What a trigger can do
with a failure is its `Disposition`, including what happens when a dead letter cannot
be written; triggers only translate the outcomes for their caller (return, raise,
batchItemFailures, an HTTP status, a report).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, NamedTuple

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from itom_forwarder import formats
from itom_forwarder.dead_letters import DeadLetter
from itom_forwarder.failures import ConfigError, FailureReason, ForwarderFailure, PermanentFailure, TransientFailure
from itom_forwarder.inbound import Inbound
from itom_forwarder.itom_event import InvalidPayload, ItomEvent, parse_time
from itom_forwarder.ordering import Claim, Decision, GuardUnavailable, KeyInFlight, OrderingGuard, Verdict
from itom_forwarder.settings import DELIVERY, GUARD, MAPPING

if TYPE_CHECKING:
    from itom_forwarder.api_routes import ApiRoute
    from itom_forwarder.container import Container
    from itom_forwarder.servicenow.client import Delivered

__all__ = [
    "API_REQUEST",
    "ASYNC_INVOKE",
    "CHECK",
    "REPLAY_RETRY_DELAY_SECONDS",
    "SQS_BATCH",
    "WEBHOOK_REQUEST",
    "Disposition",
    "Fate",
    "Handling",
    "NotKept",
    "Outcome",
    "deliver",
    "earliest_source_time",
    "preflight",
    "record_key",
    "replay_disposition",
    "source_times",
]

logger = Logger(child=True)
_standard_logger = logging.getLogger(logger.name)  # the same logger: its level check is typed
metrics = Metrics()  # Powertools shares one metric set between instances

REPLAY_RUN_ATTRIBUTE = "replay_run"
# A replayed message that fails again is put back this much later, so one run does not
# meet it again (and the next run finds it).
REPLAY_RETRY_DELAY_SECONDS = 60
# Refusals that one record of a POST can cause: the chunk is split to find it. Any other
# refusal (401, 403, 404, a redirect, a 2xx without result) is about the instance or the
# credentials, and every half would get it too.
SPLITTABLE_STATUSES = frozenset({400, 413})
# The fields ServiceNow concatenates into the key of an event without a message_key.
FALLBACK_KEY_FIELDS = ("source", "node", "type", "resource", "metric_name")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Fate(StrEnum):
    DELIVERED = "delivered"
    SUPERSEDED = "superseded"  # every event of it was older than one already accepted: not sent
    SKIPPED = "skipped"  # mapped to no event (an alarm state set to send nothing)
    DEAD_LETTERED = "dead_lettered"
    RETRY_LATER = "retry_later"
    RETURNED = "returned"  # not kept: given back to the caller to answer (any failure of a dry run)
    MAPPED = "mapped"  # a dry run: mapped, nothing sent or kept


class Handling(StrEnum):
    DEAD_LETTER = "dead_letter"
    RETRY = "retry"
    RETURN = "return"


class Disposition(NamedTuple):
    """What the trigger's caller does with an item that is not delivered, by failure class."""

    invalid: Handling = Handling.DEAD_LETTER
    permanent: Handling = Handling.DEAD_LETTER
    transient: Handling = Handling.RETRY
    dead_letter_delay_seconds: int = 0
    dead_letter_attributes: Mapping[str, str] = MappingProxyType({})
    # A dead letter that cannot be written (SQS down): True leaves the item to the caller's
    # retry (fate RETRY_LATER, failure NotKept: a batch reports it, the replay leaves the
    # original message); False makes `deliver` raise, so the invocation fails and its
    # caller retries (Lambda's asynchronous retries; the API answers 503).
    retry_unkept: bool = False

    def handling_of(self, failure: ForwarderFailure) -> Handling:
        if isinstance(failure, InvalidPayload):
            return self.invalid
        return self.permanent if isinstance(failure, PermanentFailure) else self.transient


# SNS, EventBridge and alarm actions: Lambda retries an invocation that raises.
ASYNC_INVOKE = Disposition()
# Buffered mode: SQS delivers a message reported in batchItemFailures again, so an item
# whose dead letter cannot be written is reported rather than failing the whole batch
# (which would send the delivered ones again).
SQS_BATCH = Disposition(retry_unkept=True)
# An API sender is told at once: a body that cannot map is its to fix (400); anything else
# is kept for replay, since the request is answered now.
API_REQUEST = Disposition(invalid=Handling.RETURN, transient=Handling.DEAD_LETTER)
# A webhook sender (Alertmanager, Grafana) cannot fix or resend what it is refused: every
# alert it sends is delivered or kept, the ones that cannot map included (their reason in
# the dead letter); only an alert that cannot be kept fails the request (503, retried).
WEBHOOK_REQUEST = Disposition(transient=Handling.DEAD_LETTER)
# The connector check reports; its test event is never kept.
CHECK = Disposition(invalid=Handling.RETURN, permanent=Handling.RETURN, transient=Handling.RETURN)


def replay_disposition(run_id: str, delay_seconds: int = REPLAY_RETRY_DELAY_SECONDS) -> Disposition:
    """A replayed item that fails again is put back, delayed and tagged with the run; when
    it cannot be put back, the original message stays in the queue."""
    return Disposition(
        transient=Handling.DEAD_LETTER,
        dead_letter_delay_seconds=delay_seconds,
        dead_letter_attributes={REPLAY_RUN_ATTRIBUTE: run_id},
        retry_unkept=True,
    )


class NotKept(ForwarderFailure):
    """An item's failure whose dead letter could not be written: nothing keeps it but the
    caller's retry. `failure` is the failure that was to be dead-lettered."""

    def __init__(self, failure: ForwarderFailure, error: Exception) -> None:
        reason = FailureReason(
            "dead-letter",
            f"the dead-letter queue could not be written ({type(error).__name__})",
            detail=f"the item failed with {failure.reason}",
        )
        super().__init__(reason, failure.attempts)
        self.failure = failure


class Outcome(NamedTuple):
    item: Inbound
    fate: Fate
    input_format: str | None = None
    records: tuple[dict[str, str], ...] = ()
    failure: ForwarderFailure | None = None
    dlq_message_id: str | None = None
    superseded: int = 0  # its events not sent because a newer one of their key was accepted

    @property
    def reason(self) -> FailureReason | None:
        return self.failure.reason if self.failure else None

    @property
    def message_keys(self) -> list[str]:
        return [record.get("message_key", "") for record in self.records]


class _Mapped(NamedTuple):
    position: int  # the item's place among the call's items (its outcome's index)
    item: Inbound
    input_format: str
    records: tuple[dict[str, str], ...]
    source_times: tuple[int, ...]  # epoch milliseconds, one per record


def preflight(container: Container) -> ConfigError | None:
    """The refused settings every delivery stops at (the check reports the same)."""
    refusal = container.settings.refusal(MAPPING, DELIVERY, GUARD)
    return ConfigError(refusal) if refusal else None


def record_key(record: Mapping[str, str]) -> str:
    """The key ServiceNow matches the record's alert by: its message_key, or without one
    the concatenation ServiceNow falls back to."""
    return record.get("message_key") or "".join(record.get(name, "") for name in FALLBACK_KEY_FIELDS)


def _epoch_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH  # exact integers (days, seconds, microseconds): a float could round
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _iso(epoch_ms: int | None) -> str | None:
    if epoch_ms is None:
        return None
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


def source_times(item: Inbound, events: Sequence[ItomEvent], arrival_ms: int) -> tuple[int, ...]:
    """When each event happened at its source, in epoch milliseconds: the time the format
    read from it (the alarm's state change, the record's time_of_event, the Alertmanager
    alert's startsAt or endsAt), else the SNS publish time, else when the item first
    arrived (an SQS message's SentTimestamp, a dead letter's first arrival, this call)."""
    if all(event.source_time for event in events):  # an alarm's always does: no fallback to parse
        return tuple(_epoch_ms(event.source_time) for event in events if event.source_time)
    fallback = item.received_at_ms or arrival_ms
    if item.notification.timestamp:
        with contextlib.suppress(InvalidPayload):  # a malformed publish time: the arrival time then
            fallback = _epoch_ms(parse_time(item.notification.timestamp, field_name="Timestamp"))
    return tuple(_epoch_ms(event.source_time) if event.source_time else fallback for event in events)


def _route(name: str) -> ApiRoute | None:
    """The webhook route `name`. The routes (and the webhook credentials' code) load only
    for a webhook's item: an alert's path never needs them."""
    from itom_forwarder.api_routes import ROUTES

    return ROUTES.get(name)


def _events_of(item: Inbound, options: formats.MappingOptions) -> tuple[str, list[ItomEvent]]:
    if item.route is None:
        return formats.to_events(item.notification, options)
    route = _route(item.route)
    if route is None:
        raise InvalidPayload(f"no webhook route named {item.route!r}")
    try:
        payload = json.loads(item.notification.message)
    except (ValueError, RecursionError):
        raise InvalidPayload(f"the {item.route} request body is not JSON (or nested too deep)") from None
    return route.input_format, route.to_events(payload, item.notification, options)


def earliest_source_time(container: Container, items: Sequence[Inbound]) -> int | None:
    """The earliest source time (epoch ms) of the items' events; None when none maps."""
    arrival_ms = int(time.time() * 1000)
    times: list[int] = []
    for position, item in enumerate(items):
        with contextlib.suppress(InvalidPayload):  # delivering it reports the problem
            times.extend(_map_one(position, item, container.settings.mapping, arrival_ms).source_times)
    return min(times, default=None)


def chunks(mapped: Sequence[_Mapped], cap: int) -> Iterator[list[_Mapped]]:
    """Items grouped so that each POST carries at most `cap` records; an item's records
    are never split, so each item succeeds or fails as a whole."""
    chunk: list[_Mapped] = []
    size = 0
    for entry in mapped:
        if chunk and size + len(entry.records) > cap:
            yield chunk
            chunk, size = [], 0
        chunk.append(entry)
        size += len(entry.records)
    if chunk:
        yield chunk


def _is_splittable(failure: PermanentFailure) -> bool:
    """A refusal of the POST's content, which one record can cause (not of the instance,
    the credentials or the token, which every smaller POST would get too)."""
    return failure.reason.step == "deliver" and failure.reason.status in SPLITTABLE_STATUSES


def _map_one(position: int, item: Inbound, options: formats.MappingOptions, arrival_ms: int) -> _Mapped:
    """The format, records and source times of the call's item at `position`; a format's
    crash is the item's InvalidPayload."""
    try:
        input_format, events = _events_of(item, options)
        records = tuple(event.to_record() for event in events)
        return _Mapped(position, item, input_format, records, source_times(item, events, arrival_ms))
    except InvalidPayload:
        raise
    except Exception as error:  # a bug in a format: this item only, never the batch
        logger.exception(
            "Mapping failed unexpectedly: the item is handled as invalid",
            extra={"error": type(error).__name__, "notification_id": item.notification.message_id},
        )
        raise InvalidPayload(f"could not be mapped: {type(error).__name__}") from None


class _Run:
    """One call of `deliver`: the outcomes so far, in the order of the items."""

    def __init__(
        self, container: Container, disposition: Disposition, request_id: str | None, *, dry_run: bool = False
    ) -> None:
        self.container = container
        self.disposition = disposition
        self.request_id = request_id
        self.dry_run = dry_run
        self.arrival_ms = int(time.time() * 1000)
        self.outcomes: dict[int, Outcome] = {}
        self.superseded: dict[int, int] = {}  # item index -> its events superseded
        self.unavailable: TransientFailure | None = None
        self.split_posts = 0  # POSTs made to isolate refused records
        self.unanswered = False  # a POST ended without an answer: it may still be applied
        # Counted per call, one metric value each: a webhook of hundreds of alerts must not
        # fill Powertools' 100 values per metric.
        self.delivered = 0
        self.dead_lettered = 0

    def not_delivered(
        self, index: int, item: Inbound, input_format: str | None, failure: ForwarderFailure, earlier_attempts: int = 0
    ) -> None:
        handling = self.disposition.handling_of(failure)
        # The instance (or its secret) failed: no further POST in this call. A key in
        # flight or the guard's table concerns only the items it names.
        blocks = not isinstance(failure, (KeyInFlight, GuardUnavailable))
        if blocks and isinstance(failure, TransientFailure) and self.unavailable is None:
            self.unavailable = failure
        if self.dry_run:  # changes nothing: the failure is only reported
            self.outcomes[index] = Outcome(item, Fate.RETURNED, input_format, failure=failure)
        elif handling is Handling.DEAD_LETTER:
            self.outcomes[index] = self._dead_letter(item, input_format, failure, earlier_attempts)
        else:
            fate = Fate.RETRY_LATER if handling is Handling.RETRY else Fate.RETURNED
            self.outcomes[index] = Outcome(item, fate, input_format, failure=failure)

    def _dead_letter(
        self, item: Inbound, input_format: str | None, failure: ForwarderFailure, earlier_attempts: int
    ) -> Outcome:
        history = item.history
        letter = DeadLetter(
            payload=item.original,
            source=item.source,
            reason=failure.reason,
            attempts=(history.attempts if history else 0) + earlier_attempts + failure.attempts,
            input_format=input_format,
            request_id=self.request_id,
            first_failure_at=history.first_failure_at if history else None,
            received_at_ms=item.received_at_ms or self.arrival_ms,
        )
        try:
            message_id = self.container.dead_letters.put(
                letter,
                secrets=self.container.secret_values(),
                delay_seconds=self.disposition.dead_letter_delay_seconds,
                extra_attributes=self.disposition.dead_letter_attributes,
            )
        except Exception as error:
            if not self.disposition.retry_unkept:
                raise  # nothing keeps the item: the invocation fails and its caller retries
            logger.exception(
                "Dead letter could not be written: the item is left to its caller's retry",
                extra={
                    "reason": str(failure.reason),
                    "error": type(error).__name__,
                    "notification_id": item.notification.message_id,
                },
            )
            return Outcome(item, Fate.RETRY_LATER, input_format, failure=NotKept(failure, error))
        logger.error(
            "Event dead-lettered",
            extra={
                "reason": str(failure.reason),
                "dlq_message_id": message_id,
                "notification_id": item.notification.message_id,
            },
        )
        self.dead_lettered += 1
        return Outcome(item, Fate.DEAD_LETTERED, input_format, failure=failure, dlq_message_id=message_id)

    def map(self, items: Sequence[Inbound], options: formats.MappingOptions) -> list[_Mapped]:
        """Map every item; what is left to send, in order. Skipped and dry-run items and
        mapping problems get their outcome here."""
        mapped: list[_Mapped] = []
        received = invalid_items = 0
        for index, item in enumerate(items):
            try:
                entry = _map_one(index, item, options, self.arrival_ms)
            except InvalidPayload as invalid:
                route = _route(item.route) if item.route else None
                self.not_delivered(index, item, route.input_format if route else None, invalid)
                invalid_items += 1
                continue
            received += len(entry.records)
            if not entry.records:
                self.outcomes[index] = Outcome(item, Fate.SKIPPED, entry.input_format)
            elif self.dry_run:
                self.outcomes[index] = Outcome(item, Fate.MAPPED, entry.input_format, entry.records)
            else:
                mapped.append(entry)
        if invalid_items < len(items):  # once per invocation, not once per record of a batch
            metrics.add_metric(name="EventsReceived", unit=MetricUnit.Count, value=received)
        return mapped

    def _post(self, records: list[dict[str, str]], deadline: float) -> Delivered:
        if self.unavailable is not None:
            # The instance just failed transiently: do not spend the invocation on
            # POSTs that would fail the same way.
            raise self.unavailable
        try:
            return self.container.client().send(records, deadline)
        except (PermanentFailure, TransientFailure):
            raise
        except Exception as error:
            # Not a failure the client knows (a bug, an error of a library it did not
            # expect): nothing is known to be stored, so the items are retried, and the
            # items already delivered stay delivered.
            logger.exception("ServiceNow delivery failed unexpectedly", extra={"error": type(error).__name__})
            reason = FailureReason("deliver", f"the delivery failed unexpectedly: {type(error).__name__}")
            raise TransientFailure(reason) from None

    def send(self, chunk: list[_Mapped], deadline: float, earlier_attempts: int = 0) -> None:
        """POST the chunk's records; a content refusal of several items is split."""
        records = [record for entry in chunk for record in entry.records]
        try:
            delivered = self._post(records, deadline)
        except PermanentFailure as failure:
            if len(chunk) > 1 and _is_splittable(failure):
                self._split(chunk, failure, deadline, earlier_attempts + failure.attempts)
                return
            for entry in chunk:
                self.not_delivered(entry.position, entry.item, entry.input_format, failure, earlier_attempts)
            return
        except TransientFailure as failure:
            # Without a status the instance never answered (timeout, dropped connection):
            # the request may have reached it all the same.
            self.unanswered = self.unanswered or failure.reason.status is None
            for entry in chunk:
                self.not_delivered(entry.position, entry.item, entry.input_format, failure, earlier_attempts)
            return
        self._delivered(chunk, records, delivered)

    def _split(self, chunk: list[_Mapped], failure: PermanentFailure, deadline: float, attempts: int) -> None:
        """Send the halves of a refused chunk: the good items are delivered, the refused
        ones isolated. ceil(log2(items)) levels at most; each level splits only the
        halves that were refused again."""
        middle = len(chunk) // 2
        logger.warning(
            "ServiceNow refused a POST of several items: sending it again in halves to isolate the refused record",
            extra={
                "items": len(chunk),
                "records": sum(len(entry.records) for entry in chunk),
                "reason": str(failure.reason),
                "remaining_seconds": round(deadline - time.monotonic(), 3),
            },
        )
        for half in (chunk[:middle], chunk[middle:]):
            self.split_posts += 1
            self.send(half, deadline, attempts)

    def _delivered(self, chunk: list[_Mapped], records: list[dict[str, str]], delivered: Delivered) -> None:
        self.unanswered = self.unanswered or delivered.unanswered
        self.delivered += len(records)
        metrics.add_metric(
            name="ServiceNowLatency", unit=MetricUnit.Milliseconds, value=delivered.elapsed_seconds * 1000
        )
        if delivered.attempts > 1:  # only then: each metric costs the warm path ~20 µs
            metrics.add_metric(name="DeliveryRetries", unit=MetricUnit.Count, value=delivered.attempts - 1)
        # DEBUG when the first attempt went through (a Powertools line costs a warm alert about
        # a tenth of its own time; the EMF line already counts what was delivered, by format);
        # INFO when it took retries. LogLevel DEBUG brings every delivery's line back.
        retried = delivered.attempts > 1
        if _standard_logger.isEnabledFor(logging.INFO if retried else logging.DEBUG):  # else no fields worked out
            (logger.info if retried else logger.debug)(
                "Events delivered to ServiceNow",
                extra={
                    "records": len(records),
                    "formats": sorted({entry.input_format for entry in chunk}),
                    "attempts": delivered.attempts,
                    "result": delivered.result,
                },
            )
        for entry in chunk:
            superseded = self.superseded.get(entry.position, 0)
            self.outcomes[entry.position] = Outcome(
                entry.item, Fate.DELIVERED, entry.input_format, entry.records, superseded=superseded
            )

    def _supersede(self, entry: _Mapped, record: Mapping[str, str], source_ms: int, newer_ms: int | None) -> None:
        logger.info(
            "Event superseded by a newer one of its message key: not sent",
            extra={
                "message_key": record_key(record),
                "source_time": _iso(source_ms),
                "newer_source_time": _iso(newer_ms),
                "notification_id": entry.item.notification.message_id,
            },
        )
        self.superseded[entry.position] = self.superseded.get(entry.position, 0) + 1

    def order(
        self,
        mapped: list[_Mapped],
        guard: OrderingGuard | None,
        deadline: float,
        owner: str,
        newest: Mapping[str, int],
    ) -> tuple[list[_Mapped], float]:
        """What is left to send of `mapped` once older events are superseded: by a newer
        event of their key in this call (`newest`, over the whole call), then (guard on) by
        the alert-state table; and the time (monotonic) the POSTs must end by: the lease the
        claims wrote. An item that has a key in flight elsewhere, or that the table could
        not settle, is not sent."""
        keys = {key for entry in mapped for key in map(record_key, entry.records) if key}
        decisions: dict[str, Decision] = {}
        if guard is not None and keys:
            wall_deadline_ms = int((time.time() + deadline - time.monotonic()) * 1000)
            claims = [Claim(key, newest[key]) for key in sorted(keys)]
            try:
                decisions, lease_until_ms = guard.settle(claims, owner, wall_deadline_ms)
            except GuardUnavailable as failure:
                return self._unguarded(mapped, failure), deadline
            # The POSTs end with the lease actually written (a slow claim shortens it).
            deadline = min(deadline, time.monotonic() + (lease_until_ms / 1000 - time.time()))
        left: list[_Mapped] = []
        for entry in mapped:
            kept = self._kept(entry, newest, decisions)
            if kept is not None:
                left.append(kept)
        return left, deadline

    def _unguarded(self, mapped: list[_Mapped], failure: GuardUnavailable) -> list[_Mapped]:
        """The table did not answer: every item with a key is retried; none is sent unguarded."""
        logger.error("Ordering guard unavailable: the events are retried", extra={"reason": str(failure.reason)})
        left: list[_Mapped] = []
        for entry in mapped:
            if any(record_key(record) for record in entry.records):
                self.not_delivered(entry.position, entry.item, entry.input_format, failure)
            else:
                left.append(entry)
        return left

    def _kept(self, entry: _Mapped, newest: Mapping[str, int], decisions: Mapping[str, Decision]) -> _Mapped | None:
        records: list[dict[str, str]] = []
        times: list[int] = []
        for record, source_ms in zip(entry.records, entry.source_times, strict=True):
            key = record_key(record)
            decision = decisions.get(key)
            if decision is not None and decision.verdict is Verdict.IN_FLIGHT:
                self.superseded.pop(entry.position, None)
                self.not_delivered(entry.position, entry.item, entry.input_format, KeyInFlight(key))
                return None
            if key and source_ms < newest[key]:
                self._supersede(entry, record, source_ms, newest[key])
            elif decision is not None and decision.verdict is Verdict.SUPERSEDED:
                self._supersede(entry, record, source_ms, decision.recorded_ms)
            else:
                records.append(record)
                times.append(source_ms)
        if not records:
            superseded = self.superseded.get(entry.position, 0)
            self.outcomes[entry.position] = Outcome(
                entry.item, Fate.SUPERSEDED, entry.input_format, superseded=superseded
            )
            return None
        if len(records) == len(entry.records):
            return entry  # the common case, nothing superseded: no copy
        return entry._replace(records=tuple(records), source_times=tuple(times))


def _connect(container: Container) -> None:
    """Read the secret before the claims (a cache hit when warm), so that their lease
    covers the POSTs only; a failure here is the POST's to report."""
    with contextlib.suppress(Exception):
        _ = container.client().connection


def _order_and_send(
    run: _Run, mapped: list[_Mapped], guard: OrderingGuard | None, deadline: float, *, owner: str, cap: int
) -> None:
    """Claimed one POST's worth at a time, each POST ending within the lease its claims
    took (a newer event claimed after it never reaches ServiceNow first): a webhook of
    thousands of alerts takes many POSTs, far more time than one lease."""
    newest = _newest(mapped)
    for group in chunks(mapped, cap):
        left, group_deadline = run.order(group, guard, deadline, owner, newest)
        for chunk in chunks(left, cap):
            run.send(chunk, group_deadline)
    if run.superseded:
        metrics.add_metric(name="EventsSuperseded", unit=MetricUnit.Count, value=sum(run.superseded.values()))


def _newest(mapped: Sequence[_Mapped]) -> dict[str, int]:
    """The newest source time of each message key among the call's events."""
    newest: dict[str, int] = {}
    for entry in mapped:
        for record, source_ms in zip(entry.records, entry.source_times, strict=True):
            key = record_key(record)
            if key and source_ms > newest.get(key, source_ms - 1):
                newest[key] = source_ms
    return newest


def _count(run: _Run) -> None:
    if run.delivered:
        metrics.add_metric(name="EventsDelivered", unit=MetricUnit.Count, value=run.delivered)
    if run.dead_lettered:
        metrics.add_metric(name="EventsDeadLettered", unit=MetricUnit.Count, value=run.dead_lettered)


def _tag_input_format(mapped: Sequence[_Mapped]) -> None:
    """Metrics by input format: one dimension value per invocation ("mixed" for several;
    a replay delivers message by message, and its first message names the format)."""
    if "input_format" in metrics.dimension_set:
        return
    names = {entry.input_format for entry in mapped}
    metrics.add_dimension(name="input_format", value=names.pop() if len(names) == 1 else "mixed")


def deliver(
    container: Container,
    items: Sequence[Inbound],
    deadline: float,
    disposition: Disposition,
    *,
    request_id: str | None = None,
    dry_run: bool = False,
    owner: str | None = None,
) -> list[Outcome]:
    """Decide every item's fate (see the module's docstring); outcomes in item order.
    A dry run maps and reports: it sends nothing and keeps nothing (a failure is RETURNED).
    `owner` names the run in the guard's leases (a replay run passes one id for all its
    calls, so its own earlier claims never hold it back); by default the container's.

    Raises only when a dead letter cannot be written and the disposition does not leave
    such an item to its caller's retry (`retry_unkept`): then nothing is known to be kept,
    and the trigger must fail so that its caller retries.
    """
    run = _Run(container, disposition, request_id, dry_run=dry_run)
    refused = preflight(container)
    if refused is not None:
        for index, item in enumerate(items):
            run.not_delivered(index, item, None, refused)
        _count(run)
        return [run.outcomes[index] for index in range(len(items))]

    mapped = run.map(items, container.settings.mapping)
    cap = container.settings.delivery.batch_max_records
    guard = container.guard() if mapped else None
    if mapped:
        _tag_input_format(mapped)
        if guard is not None:
            _connect(container)
    _order_and_send(run, mapped, guard, deadline, owner=owner or container.owner, cap=cap)
    if run.unanswered and container.guard() is not None:
        container.abandon_leases()
    _count(run)
    if run.split_posts:
        metrics.add_metric(name="SplitPosts", unit=MetricUnit.Count, value=run.split_posts)
    if run.unavailable is not None:
        logger.error(
            "ServiceNow unavailable",
            extra={
                "reason": str(run.unavailable.reason),
                "items": sum(1 for outcome in run.outcomes.values() if isinstance(outcome.failure, TransientFailure)),
            },
        )
        metrics.add_metric(name="TransientFailures", unit=MetricUnit.Count, value=1)
    return [run.outcomes[index] for index in range(len(items))]
