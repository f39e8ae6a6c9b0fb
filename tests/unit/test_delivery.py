"""The delivery policy's pieces on their own: how items are grouped into POSTs, what each
trigger's disposition does with each class of failure, how a refused POST is split to
isolate the refused items, and what happens when a dead letter cannot be written (on
stand-ins for the instance and the queue; the same through the handler: tests/integration)."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from typing import cast

import pytest
from aws_lambda_powertools import Metrics
from hypothesis import given
from hypothesis import strategies as st

from itom_forwarder.container import Container
from itom_forwarder.dead_letters import DeadLetter
from itom_forwarder.delivery import (
    API_REQUEST,
    ASYNC_INVOKE,
    CHECK,
    REPLAY_RETRY_DELAY_SECONDS,
    SQS_BATCH,
    Disposition,
    Fate,
    Handling,
    NotKept,
    Outcome,
    _is_splittable,
    _Mapped,
    chunks,
    deliver,
    replay_disposition,
)
from itom_forwarder.failures import (
    ConfigError,
    FailureReason,
    PermanentFailure,
    SecretUnavailable,
    TransientFailure,
)
from itom_forwarder.formats import Notification
from itom_forwarder.inbound import Inbound
from itom_forwarder.itom_event import InvalidPayload
from itom_forwarder.servicenow.client import Delivered
from itom_forwarder.servicenow.exceptions import AuthenticationRejected, TokenRequestRefused
from itom_forwarder.settings import DeliverySettings, Settings


def items(*sizes: int) -> list[_Mapped]:
    """One mapped item per size, with that many records (each record names its item)."""
    mapped = []
    for index, size in enumerate(sizes):
        item = Inbound({"index": index}, Notification(message=f"item {index}"), "sns")
        records = tuple({"message_key": f"item-{index}/{n}"} for n in range(size))
        mapped.append(_Mapped(index, item, "generic", records, (0,) * size))
    return mapped


def shape(grouped: list[list[_Mapped]]) -> list[list[int]]:
    return [[len(entry.records) for entry in chunk] for chunk in grouped]


def test_items_fill_each_post_up_to_the_cap() -> None:
    assert shape(list(chunks(items(1, 1, 1, 1, 1), 2))) == [[1, 1], [1, 1], [1]]
    assert shape(list(chunks(items(3, 4, 2, 1), 5))) == [[3], [4], [2, 1]]
    assert shape(list(chunks(items(*[1] * 250), 100))) == [[1] * 100, [1] * 100, [1] * 50]


def test_an_item_s_records_are_never_split() -> None:
    grouped = list(chunks(items(2, 2, 2), 3))
    assert shape(grouped) == [[2], [2], [2]]
    # Every POST carries whole items: each item's records travel together.
    for chunk in grouped:
        keys = [record["message_key"] for entry in chunk for record in entry.records]
        assert {key.split("/")[0] for key in keys} == {f"item-{entry.position}" for entry in chunk}


def test_an_item_larger_than_the_cap_goes_alone() -> None:
    assert shape(list(chunks(items(1, 7, 1), 5))) == [[1], [7], [1]]
    assert shape(list(chunks(items(7), 5))) == [[7]]


def test_no_items_no_post() -> None:
    assert list(chunks([], 100)) == []


@given(sizes=st.lists(st.integers(min_value=1, max_value=12), max_size=40), cap=st.integers(min_value=1, max_value=20))
def test_chunks_keep_every_item_once_in_order_and_within_the_cap(sizes: list[int], cap: int) -> None:
    mapped = items(*sizes)
    grouped = list(chunks(mapped, cap))
    assert [entry for chunk in grouped for entry in chunk] == mapped
    for position, chunk in enumerate(grouped):
        records = sum(len(entry.records) for entry in chunk)
        assert chunk, "no empty POST"
        assert records <= cap or len(chunk) == 1
        if position + 1 < len(grouped):  # as few POSTs as the cap allows: the next item did not fit
            assert records + len(grouped[position + 1][0].records) > cap


INVALID = InvalidPayload("records[0].severity: 'catastrophic' is not a severity")
PERMANENT = PermanentFailure(FailureReason("deliver", "User Not Authorized", 403))
CONFIG = ConfigError("instance_url: must use https")
TRANSIENT = TransientFailure(FailureReason("deliver", "Service Unavailable", 503), 3)
SECRET = SecretUnavailable("secret 'itom' could not be read: throttled")
FAILURES = {"invalid": INVALID, "permanent": PERMANENT, "config": CONFIG, "transient": TRANSIENT, "secret": SECRET}

DEAD, RETRY, RETURN = Handling.DEAD_LETTER, Handling.RETRY, Handling.RETURN
# disposition -> what happens to an item failing with each failure of FAILURES, in order.
EXPECTED = {
    # Lambda retries what raises (transient); what cannot succeed is kept.
    "ASYNC_INVOKE": (ASYNC_INVOKE, (DEAD, DEAD, DEAD, RETRY, RETRY)),
    # SQS delivers a reported message again (transient); what cannot succeed is kept.
    "SQS_BATCH": (SQS_BATCH, (DEAD, DEAD, DEAD, RETRY, RETRY)),
    # The sender fixes its own body (400); the rest is kept, since the request is answered now.
    "API_REQUEST": (API_REQUEST, (RETURN, DEAD, DEAD, DEAD, DEAD)),
    # The check only reports: its test event is never kept.
    "CHECK": (CHECK, (RETURN, RETURN, RETURN, RETURN, RETURN)),
    # A replayed item that fails again goes back to the queue, whatever the failure.
    "replay": (replay_disposition("run-1"), (DEAD, DEAD, DEAD, DEAD, DEAD)),
}


@pytest.mark.parametrize("name", EXPECTED)
@pytest.mark.parametrize("failure", FAILURES)
def test_each_disposition_handles_each_failure_class(name: str, failure: str) -> None:
    disposition, handlings = EXPECTED[name]
    expected = dict(zip(FAILURES, handlings, strict=True))[failure]
    assert disposition.handling_of(FAILURES[failure]) is expected


def test_the_failure_classes_are_what_the_dispositions_assume() -> None:
    # InvalidPayload and ConfigError are permanent, SecretUnavailable transient: a
    # disposition that names only three classes covers all five.
    assert isinstance(INVALID, PermanentFailure)
    assert isinstance(CONFIG, PermanentFailure)
    assert isinstance(SECRET, TransientFailure)
    assert Disposition(permanent=RETURN).handling_of(INVALID) is DEAD  # invalid is its own class first
    assert Disposition(invalid=RETURN).handling_of(CONFIG) is DEAD


def test_replay_puts_a_failed_item_back_later_tagged_with_its_run() -> None:
    disposition = replay_disposition("run-42")
    assert disposition.dead_letter_delay_seconds == REPLAY_RETRY_DELAY_SECONDS > 0
    assert disposition.dead_letter_attributes == {"replay_run": "run-42"}
    assert replay_disposition("run-42", delay_seconds=5).dead_letter_delay_seconds == 5
    for disposition in (ASYNC_INVOKE, SQS_BATCH, API_REQUEST, CHECK):
        assert (disposition.dead_letter_delay_seconds, dict(disposition.dead_letter_attributes)) == (0, {})


# --- splitting a refused POST, on a container whose instance and queue are stand-ins ---

REFUSED_RECORD = FailureReason("deliver", "Bad record", 400, "ServiceNow rejected the request body")


class StandInInstance:
    """Refuses (400) any POST that holds a record of a bad key; records every POST."""

    def __init__(self, bad: set[str], error: Exception | None = None) -> None:
        self.bad = bad
        self.error = error
        self.posts: list[list[str]] = []

    def send(self, records: Sequence[dict[str, str]], deadline: float) -> Delivered:
        keys = [record["message_key"] for record in records]
        self.posts.append(keys)
        if self.error is not None and len(self.posts) > 1:
            raise self.error
        if self.bad & set(keys):
            raise PermanentFailure(REFUSED_RECORD, 1)
        return Delivered(200, "{}", 1, 0.001)


class StandInQueue:
    def __init__(self, error: Exception | None = None) -> None:
        self.letters: list[DeadLetter] = []
        self.error = error

    def put(self, letter: DeadLetter, **_: object) -> str:
        if self.error is not None:
            raise self.error
        self.letters.append(letter)
        return f"dl-{len(self.letters)}"


class StandInContainer:
    def __init__(self, instance: StandInInstance, queue: StandInQueue | None = None, cap: int = 100) -> None:
        self.settings = Settings("secret", "queue", delivery=DeliverySettings(batch_max_records=cap))
        self.instance = instance
        self.dead_letters = queue or StandInQueue()

    def client(self) -> StandInInstance:
        return self.instance

    owner = "stand-in"

    def guard(self) -> None:
        return None  # the ordering guard has its own tests, against DynamoDB

    def secret_values(self) -> tuple[str, ...]:
        return ()


def alert_items(count: int) -> list[Inbound]:
    return [
        Inbound(
            {"messageId": f"m-{index}"},
            Notification(message=json.dumps({"node": f"n-{index}", "severity": "major", "message_key": f"k-{index}"})),
            "sqs",
            message_id=f"m-{index}",
        )
        for index in range(count)
    ]


def run(
    container: StandInContainer, items: list[Inbound], disposition: Disposition = SQS_BATCH, *, dry_run: bool = False
) -> list[Outcome]:
    try:
        return deliver(cast(Container, container), items, time.monotonic() + 30, disposition, dry_run=dry_run)
    finally:
        Metrics().clear_metrics()  # what the handler's flush does after each invocation


@given(data=st.data(), count=st.integers(min_value=1, max_value=40))
def test_a_refused_post_is_split_until_only_the_refused_items_are_dead_lettered(
    data: st.DataObject, count: int
) -> None:
    bad = data.draw(st.sets(st.integers(min_value=0, max_value=count - 1), max_size=count))
    instance = StandInInstance({f"k-{index}" for index in bad})
    container = StandInContainer(instance)
    outcomes = run(container, alert_items(count))
    fates = [outcome.fate for outcome in outcomes]
    assert fates == [Fate.DEAD_LETTERED if index in bad else Fate.DELIVERED for index in range(count)]
    delivered = [key for post in instance.posts if not instance.bad & set(post) for key in post]
    assert sorted(delivered) == sorted(f"k-{index}" for index in range(count) if index not in bad)  # each once
    # Bounded: one POST, then for each refused item at most two per level of halving.
    levels = math.ceil(math.log2(count)) if count > 1 else 0
    assert len(instance.posts) <= 1 + 2 * len(bad) * levels
    # Each dead letter counts the POSTs that carried its item, and ServiceNow's reason.
    for letter in container.dead_letters.letters:
        key = "k-" + letter.payload["messageId"].removeprefix("m-")  # type: ignore[index]
        assert letter.attempts == sum(1 for post in instance.posts if key in post)
        assert letter.reason == REFUSED_RECORD


def test_one_bad_item_among_eight_costs_two_posts_per_level() -> None:
    instance = StandInInstance({"k-5"})
    run(StandInContainer(instance), alert_items(8))
    assert [len(post) for post in instance.posts] == [8, 4, 4, 2, 1, 1, 2]


def test_each_chunk_is_split_on_its_own() -> None:
    instance = StandInInstance({"k-6"})
    outcomes = run(StandInContainer(instance, cap=4), alert_items(8))
    assert [len(post) for post in instance.posts] == [4, 4, 2, 2, 1, 1]
    assert [outcome.fate for outcome in outcomes].count(Fate.DEAD_LETTERED) == 1


SPLITTABLE = {
    "400": (PermanentFailure(FailureReason("deliver", "Bad", 400)), True),
    "413": (PermanentFailure(FailureReason("deliver", "Too large", 413)), True),
    "401": (AuthenticationRejected(FailureReason("deliver", "User Not Authenticated", 401)), False),
    "403": (PermanentFailure(FailureReason("deliver", "User Not Authorized", 403)), False),
    "404": (PermanentFailure(FailureReason("deliver", "No such API", 404)), False),
    "redirect": (PermanentFailure(FailureReason("deliver", "a redirect", 307)), False),
    "2xx-without-result": (PermanentFailure(FailureReason("deliver", "without a result", 200)), False),
    "token-400": (TokenRequestRefused(FailureReason("token", "invalid_grant", 400)), False),
    "certificate": (PermanentFailure(FailureReason("deliver", "not trusted")), False),
    "config": (CONFIG, False),
}


@pytest.mark.parametrize("name", SPLITTABLE)
def test_only_a_refusal_one_record_can_cause_is_split(name: str) -> None:
    failure, split = SPLITTABLE[name]
    assert _is_splittable(failure) is split


class RefusingEverything(StandInInstance):
    def __init__(self, failure: PermanentFailure) -> None:
        super().__init__(set())
        self.failure = failure

    def send(self, records: Sequence[dict[str, str]], deadline: float) -> Delivered:
        self.posts.append([record["message_key"] for record in records])
        raise self.failure


@pytest.mark.parametrize("name", [name for name, (_, split) in SPLITTABLE.items() if not split])
def test_a_refusal_of_the_instance_is_one_post_for_the_whole_chunk(name: str) -> None:
    instance = RefusingEverything(SPLITTABLE[name][0])  # type: ignore[arg-type]
    outcomes = run(StandInContainer(instance), alert_items(6))
    assert len(instance.posts) == 1
    assert {outcome.fate for outcome in outcomes} == {Fate.DEAD_LETTERED}


def test_an_item_whose_dead_letter_cannot_be_written_is_left_to_the_batch_s_retry() -> None:
    queue = StandInQueue(RuntimeError("SQS is down"))
    outcomes = run(StandInContainer(StandInInstance({"k-1"}), queue), alert_items(3))
    assert [outcome.fate for outcome in outcomes] == [Fate.DELIVERED, Fate.RETRY_LATER, Fate.DELIVERED]
    failure = outcomes[1].failure
    assert isinstance(failure, NotKept)
    assert failure.failure.reason == REFUSED_RECORD
    assert str(failure.reason).startswith("dead-letter: the dead-letter queue could not be written (RuntimeError)")


@pytest.mark.parametrize("disposition", [ASYNC_INVOKE, API_REQUEST], ids=["async", "api"])
def test_elsewhere_a_dead_letter_that_cannot_be_written_fails_the_invocation(disposition: Disposition) -> None:
    queue = StandInQueue(RuntimeError("SQS is down"))
    with pytest.raises(RuntimeError, match="SQS is down"):
        run(StandInContainer(StandInInstance({"k-0"}), queue), alert_items(1), disposition)


def test_the_replay_leaves_an_item_it_cannot_put_back() -> None:
    queue = StandInQueue(RuntimeError("SQS is down"))
    [outcome] = run(StandInContainer(StandInInstance({"k-0"}), queue), alert_items(1), replay_disposition("r"))
    assert (outcome.fate, type(outcome.failure)) == (Fate.RETRY_LATER, NotKept)


def test_an_unexpected_error_of_the_client_fails_only_the_chunks_not_yet_delivered() -> None:
    instance = StandInInstance(set(), error=KeyError("a bug"))  # the second POST raises
    outcomes = run(StandInContainer(instance, cap=2), alert_items(6))
    assert [outcome.fate for outcome in outcomes] == [Fate.DELIVERED] * 2 + [Fate.RETRY_LATER] * 4
    assert len(instance.posts) == 2  # the third chunk is not tried: the instance counts as unavailable
    assert str(outcomes[2].reason) == "deliver: the delivery failed unexpectedly: KeyError"


def test_a_dry_run_keeps_nothing() -> None:
    items = alert_items(1)
    items.append(Inbound({}, Notification(message=json.dumps({"node": "x", "severity": "loud"})), "sqs"))
    container = StandInContainer(StandInInstance(set()))
    outcomes = run(container, items, dry_run=True)
    assert [outcome.fate for outcome in outcomes] == [Fate.MAPPED, Fate.RETURNED]
    assert container.dead_letters.letters == []
    assert container.instance.posts == []
