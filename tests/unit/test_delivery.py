"""The delivery policy's pieces on their own: how items are grouped into POSTs, and what
each trigger's disposition does with each class of failure."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from itom_forwarder.delivery import (
    API_REQUEST,
    ASYNC_INVOKE,
    CHECK,
    REPLAY_RETRY_DELAY_SECONDS,
    SQS_BATCH,
    Disposition,
    Handling,
    _Mapped,
    chunks,
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


def items(*sizes: int) -> list[_Mapped]:
    """One mapped item per size, with that many records (each record names its item)."""
    mapped = []
    for index, size in enumerate(sizes):
        item = Inbound({"index": index}, Notification(message=f"item {index}"), "sns")
        records = tuple({"message_key": f"item-{index}/{n}"} for n in range(size))
        mapped.append(_Mapped(index, item, "generic", records))
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
        assert {key.split("/")[0] for key in keys} == {f"item-{entry.index}" for entry in chunk}


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
