"""The ordering guard's pieces that need no DynamoDB: the table key of a message key, the
guard's settings (off, refused, accepted), which source time an event is ordered by (the
format's time, else the SNS publish time, else when it first arrived), and what the guard
makes of DynamoDB's answers (from a scripted server on loopback, over the real client):
refusals with the item, cancellation reasons, throttling, the DynamoDB client's limits."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from itom_forwarder import formats
from itom_forwarder.container import Container
from itom_forwarder.delivery import preflight, source_times
from itom_forwarder.formats import Notification
from itom_forwarder.inbound import Inbound, read_records
from itom_forwarder.itom_event import ItomEvent
from itom_forwarder.ordering import Claim, Decision, GuardOptions, GuardUnavailable, OrderingGuard, Verdict, table_key
from itom_forwarder.settings import GUARD, Settings
from tests.samples import load
from tests.unit.aws_api.servers import Answer, ScriptedAws, client_for

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


# ---------------------------------------------------------------- DynamoDB's answers

NOW_MS = 1_795_940_000_000
CONDITION_FAILED = {"__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException", "message": "failed"}
CANCELLED = "com.amazonaws.dynamodb.v20120810#TransactionCanceledException"
THROTTLED = {"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException", "message": "slow"}


@pytest.fixture
def table() -> Iterator[ScriptedAws]:
    server = ScriptedAws().start()
    yield server
    server.stop()


def guard_of(table: ScriptedAws) -> OrderingGuard:
    return OrderingGuard(GuardOptions("alert-state"), lambda: client_for(table.url), clock=lambda: NOW_MS / 1000)


def item_of(source_ms: int, lease_ms: int | None = None) -> dict[str, dict[str, str]]:
    fields = {"message_key": {"S": "k"}, "source_time": {"N": str(source_ms)}}
    return {**fields, **({"lease_until": {"N": str(lease_ms)}} if lease_ms else {})}


def test_one_key_is_one_conditional_update_item(table: ScriptedAws) -> None:
    guard = guard_of(table)
    assert guard.claim([Claim("k", 1000)], "owner", NOW_MS + 5000) == {"k": Decision(Verdict.ACCEPTED)}
    request = json.loads(table.received[0].body)
    assert table.received[0].headers["X-Amz-Target"] == "DynamoDB_20120810.UpdateItem"
    assert request["ReturnValuesOnConditionCheckFailure"] == "ALL_OLD"
    assert request["Key"] == {"message_key": {"S": "k"}}
    assert request["ExpressionAttributeValues"][":t"] == {"N": "1000"}
    assert guard.requests == 1


def test_a_refusal_is_read_from_the_item_dynamodb_returns(table: ScriptedAws) -> None:
    table.script(
        Answer(400, {**CONDITION_FAILED, "Item": item_of(2000)}),
        Answer(400, {**CONDITION_FAILED, "Item": item_of(500, lease_ms=NOW_MS + 3000)}),
    )
    guard = guard_of(table)
    superseded = guard.claim([Claim("k", 1000)], "owner", NOW_MS + 5000)["k"]
    in_flight = guard.claim([Claim("k", 1000)], "owner", NOW_MS + 5000)["k"]
    assert (superseded.verdict, superseded.recorded_ms) == (Verdict.SUPERSEDED, 2000)
    assert (in_flight.verdict, in_flight.lease_until_ms) == (Verdict.IN_FLIGHT, NOW_MS + 3000)


def test_a_cancelled_transaction_decides_by_each_reason_and_claims_the_rest_again(table: ScriptedAws) -> None:
    reasons = [{"Code": "ConditionalCheckFailed", "Item": item_of(9000), "Message": "failed"}, {"Code": "None"}]
    table.script(Answer(400, {"__type": CANCELLED, "message": "cancelled", "CancellationReasons": reasons}), Answer())
    decisions = guard_of(table).claim([Claim("a", 1000), Claim("b", 1000)], "owner", NOW_MS + 5000)
    assert (decisions["a"].verdict, decisions["b"].verdict) == (Verdict.SUPERSEDED, Verdict.ACCEPTED)
    first, second = (json.loads(received.body) for received in table.received)
    assert table.received[0].headers["X-Amz-Target"] == "DynamoDB_20120810.TransactWriteItems"
    assert len(first["TransactItems"]) == 2
    assert second["Key"] == {"message_key": {"S": "b"}}  # the one left: an UpdateItem


def test_a_transaction_retried_by_the_client_keeps_its_idempotency_token(table: ScriptedAws) -> None:
    """As boto3 does: the retry of a transaction whose answer was lost is not run twice."""
    table.script(Answer(500, b"internal"), Answer())
    decisions = guard_of(table).claim([Claim("a", 1000), Claim("b", 1000)], "owner", NOW_MS + 5000)
    assert {decision.verdict for decision in decisions.values()} == {Verdict.ACCEPTED}
    first, retry = (json.loads(received.body) for received in table.received)
    assert first == retry
    assert len(first["ClientRequestToken"]) == 36


@pytest.mark.parametrize("keys", [1, 2])
def test_a_throttled_table_is_unavailable_after_the_client_s_retry(table: ScriptedAws, keys: int) -> None:
    table.script(Answer(400, THROTTLED), Answer(400, THROTTLED))
    guard = guard_of(table)
    with pytest.raises(GuardUnavailable, match=r"could not be written \(ProvisionedThroughputExceededException\)"):
        guard.claim([Claim(f"k{index}", 1000) for index in range(keys)], "owner", NOW_MS + 5000)
    assert (guard.requests, len(table.received)) == (1, 2)  # one claim, tried twice


def test_a_transaction_cancelled_by_throttling_is_unavailable(table: ScriptedAws) -> None:
    reasons = [{"Code": "ThrottlingError", "Message": "throttled"}, {"Code": "None"}]
    table.script(Answer(400, {"__type": CANCELLED, "message": "cancelled", "CancellationReasons": reasons}))
    with pytest.raises(GuardUnavailable, match=r"could not be written \(ThrottlingError\)"):
        guard_of(table).claim([Claim("a", 1000), Claim("b", 1000)], "owner", NOW_MS + 5000)


def test_a_refused_request_is_unavailable_with_its_code(table: ScriptedAws) -> None:
    table.script(Answer(400, {"__type": "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException", "message": "x"}))
    with pytest.raises(GuardUnavailable, match=r"could not be written \(ResourceNotFoundException\)"):
        guard_of(table).claim([Claim("a", 1000)], "owner", NOW_MS + 5000)


def test_the_guard_s_dynamodb_client_connects_within_1_s_reads_within_2_s_twice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    client = Container(Settings.from_environ({**REQUIRED, "ALERT_STATE_TABLE": "t"})).dynamodb()
    assert (client.connect_timeout, client.read_timeout, client.max_attempts) == (1, 2, 2)
    assert (client.endpoint, client.signing_name, client.target_prefix) == (
        "https://dynamodb.eu-west-1.amazonaws.com",
        "dynamodb",
        "DynamoDB_20120810",
    )
