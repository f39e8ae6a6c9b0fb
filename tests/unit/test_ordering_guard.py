"""The ordering guard's pieces that need no DynamoDB: the table key of a message key, the
guard's settings (off, refused, accepted) and which source time an event is ordered by
(the format's time, else the SNS publish time, else when it first arrived)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from itom_forwarder import formats
from itom_forwarder.container import Container
from itom_forwarder.delivery import preflight, source_times
from itom_forwarder.formats import Notification
from itom_forwarder.inbound import Inbound, read_records
from itom_forwarder.itom_event import ItomEvent
from itom_forwarder.ordering import table_key
from itom_forwarder.settings import GUARD, Settings
from tests.samples import load

REQUIRED = {"SERVICENOW_SECRET_ID": "s", "DLQ_URL": "q"}
STATE_CHANGE = datetime(2026, 11, 29, 8, 15, 42, 123456, tzinfo=UTC)
STATE_CHANGE_MS = 1_795_940_142_123  # to the millisecond, the microseconds dropped
PUBLISHED = "2026-11-29T08:15:42.187Z"
PUBLISHED_MS = 1_795_940_142_187
SENT_MS = 1_795_940_142_228  # the SQS message's SentTimestamp
ARRIVAL_MS = 1_795_940_199_000


# ---------------------------------------------------------------- table_key


def test_a_key_within_dynamodb_s_limit_is_the_table_key_itself() -> None:
    """An operator looks an alert up in the table by its message key."""
    key = "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:prod-web-1-cpu-high"
    assert table_key(key) == key
    at_the_limit = "k" * 2048
    assert table_key(at_the_limit) == at_the_limit


def test_a_3072_byte_key_is_hashed_to_a_key_dynamodb_takes() -> None:
    """1,024 UTF-16 units (ServiceNow's limit) of a 3-byte character are 3,072 bytes, over
    DynamoDB's 2,048 for a partition key: the claim would be refused on every event."""
    key = "€" * 1024
    assert len(key.encode()) == 3072
    hashed = table_key(key)
    assert hashed.startswith("sha256:")
    assert len(hashed.encode()) <= 2048
    assert table_key(key) == hashed  # the same key every time: one item per alert
    assert table_key("k" * 2049).startswith("sha256:")  # one byte over


def test_distinct_long_keys_stay_distinct() -> None:
    """Two alerts whose keys differ only at their end must not share one item (the newer
    event of one would supersede the other's)."""
    base = "prefix/" + "x" * 3000
    keys = [base + "a", base + "b", "y" + base]
    assert len({table_key(key) for key in keys}) == 3
    assert len({table_key(key) for key in (base, base[:2048])}) == 2  # not a cut at the limit


# ---------------------------------------------------------------- settings


@pytest.mark.parametrize("table", [None, "", "   "], ids=["unset", "empty", "blank"])
def test_without_a_table_the_guard_is_off(table: str | None) -> None:
    environ = REQUIRED if table is None else {**REQUIRED, "ALERT_STATE_TABLE": table}
    settings = Settings.from_environ(environ)
    assert settings.guard is None
    assert settings.refusals == {}
    assert Container(settings).guard() is None


def test_the_guard_s_defaults() -> None:
    settings = Settings.from_environ({**REQUIRED, "ALERT_STATE_TABLE": "alert-state"})
    assert settings.guard is not None
    assert (settings.guard.table_name, settings.guard.ttl_seconds, settings.guard.lease_seconds) == (
        "alert-state",
        15 * 24 * 3600,  # longer than the dead-letter queue keeps a message (14 days)
        10.0,
    )


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ({"ALERT_STATE_TTL_DAYS": "3"}, "ALERT_STATE_TTL_DAYS: must be at least 15, got 3"),
        ({"ALERT_STATE_TTL_DAYS": "two weeks"}, "ALERT_STATE_TTL_DAYS: must be a whole number"),
        ({"ALERT_STATE_LEASE_SECONDS": "0"}, "ALERT_STATE_LEASE_SECONDS: must be a positive number of seconds"),
    ],
)
def test_a_refused_guard_setting_refuses_every_delivery(extra: dict[str, str], problem: str) -> None:
    """A TTL shorter than the DLQ's 14 days would let a replayed event find no trace of the
    newer one that superseded it; sending without the guard configured could reopen alerts:
    the guard group is refused, naming the setting, and every event is kept with that reason."""
    settings = Settings.from_environ({**REQUIRED, "ALERT_STATE_TABLE": "alert-state", **extra})
    refusal = settings.refusals[GUARD]
    assert refusal.startswith(f"guard settings refused: {problem}")
    assert set(settings.refusals) == {GUARD}  # the other groups are untouched
    refused = preflight(Container(settings))
    assert refused is not None
    assert refused.reason.step == "config"
    assert refused.reason.message == refusal


def test_a_ttl_of_15_days_or_more_is_taken() -> None:
    settings = Settings.from_environ({**REQUIRED, "ALERT_STATE_TABLE": "t", "ALERT_STATE_TTL_DAYS": "30"})
    assert settings.guard is not None
    assert settings.guard.ttl_seconds == 30 * 24 * 3600
    assert preflight(Container(settings)) is None


# ---------------------------------------------------------------- source times


def item(*, timestamp: str | None = None, received_at_ms: int | None = None) -> Inbound:
    return Inbound({}, Notification(message="{}", timestamp=timestamp), "sns", received_at_ms=received_at_ms)


def event(at: datetime | None = None) -> ItomEvent:
    return ItomEvent(severity="2", message_key="k", source_time=at)


def test_the_format_s_time_comes_first() -> None:
    """The alarm's state change (or the record's time_of_event) says when it happened: not
    when SNS published it, nor when it reached AWS."""
    inbound = item(timestamp=PUBLISHED, received_at_ms=SENT_MS)
    assert source_times(inbound, [event(STATE_CHANGE)], ARRIVAL_MS) == (STATE_CHANGE_MS,)


def test_without_a_format_time_the_sns_publish_time() -> None:
    inbound = item(timestamp=PUBLISHED, received_at_ms=SENT_MS)
    assert source_times(inbound, [event()], ARRIVAL_MS) == (PUBLISHED_MS,)


def test_without_a_publish_time_when_it_first_reached_aws() -> None:
    """An SQS message's SentTimestamp, or a dead letter's first arrival: not the replay's
    time, which would make a days-old event newer than everything since."""
    assert source_times(item(received_at_ms=SENT_MS), [event()], ARRIVAL_MS) == (SENT_MS,)
    assert source_times(item(timestamp="not a time", received_at_ms=SENT_MS), [event()], ARRIVAL_MS) == (SENT_MS,)


def test_with_nothing_else_the_arrival_time() -> None:
    assert source_times(item(), [event()], ARRIVAL_MS) == (ARRIVAL_MS,)
    assert source_times(item(timestamp="not a time"), [event()], ARRIVAL_MS) == (ARRIVAL_MS,)


def test_each_event_of_an_item_has_its_own_time() -> None:
    inbound = item(timestamp=PUBLISHED)
    assert source_times(inbound, [event(STATE_CHANGE), event()], ARRIVAL_MS) == (STATE_CHANGE_MS, PUBLISHED_MS)


@pytest.mark.parametrize("sample", ["sns-cloudwatch-alarm.json", "sqs-buffered-batch.json"])
def test_a_cloudwatch_alarm_is_ordered_by_its_state_change_time(sample: str) -> None:
    """The real notification: StateChangeTime 08:15:42.123, published 08:15:42.187 and (in
    the buffer queue) sent 08:15:42.228: the state change is what orders it."""
    [first, *_] = read_records(load(sample))
    _, events = formats.to_events(first.notification, formats.MappingOptions())
    assert source_times(first, events, ARRIVAL_MS) == (STATE_CHANGE_MS,)
