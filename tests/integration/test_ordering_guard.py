"""The ordering guard end to end, through the handler against moto's DynamoDB over HTTP:
an event older than one already accepted for its alert is superseded (not sent, never
lost), wherever it comes from (a late SNS delivery, a batch listing it after its newer
one, a second invocation racing the first, a replay of the dead-letter queue); a retry of
the same event still goes; a table that does not answer makes events retry, never go
unguarded; the guard off makes no DynamoDB request; and what the guard costs per
invocation. The emulator's stale-event counter is the oracle: ServiceNow applies events
in arrival order, so every stale event it counts is one the guard let through."""

from __future__ import annotations

import io
import json
import random
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from itom_forwarder.container import Container, current
from itom_forwarder.failures import TransientFailure
from itom_forwarder.ordering import GuardUnavailable
from itom_forwarder.settings import Settings
from itom_forwarder.triggers import sqs_batch
from itom_forwarder.triggers.redrive import Replayer
from local.aws import CALLS_PATH, LocalAws
from local.lambda_context import LocalLambdaContext
from local.stack import LocalStack
from tests.events import TOPIC_ARN, rest_event
from tests.integration.conftest import StackFactory
from tests.integration.functions import load_redrive_app
from tests.samples import load

EVENT_API = "/api/global/em/jsonv2"
ACCOUNT_ALARM_ARN = "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:"
SUPERSEDED_LINE = "Event superseded by a newer one of its message key: not sent"
WAITING_LINE = "Waiting for an older event of the same alert to be sent first"
# What Lambda sets on each message it puts in a function's DLQ after its asynchronous retries.
LAMBDA_DLQ = {"RequestID": "r-1", "ErrorCode": "200", "ErrorMessage": "HTTP 503: Service Unavailable"}
START = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)


def minute(offset: float) -> datetime:
    return START + timedelta(minutes=offset)


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def iso_ms(moment: datetime) -> str:
    """A time as the log line writes it (UTC, to the millisecond)."""
    return moment.isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Change:
    """One state change of one CloudWatch alarm, as CloudWatch publishes it."""

    alarm: str
    state: str  # ALARM | OK
    at: datetime

    @property
    def key(self) -> str:  # the message key: the alarm's ARN
        return ACCOUNT_ALARM_ARN + self.alarm

    @property
    def severity(self) -> str:  # the template's defaults: ALARM major, OK clear
        return "2" if self.state == "ALARM" else "0"

    def message(self) -> str:
        message = json.loads(load("sns-cloudwatch-alarm.json")["Records"][0]["Sns"]["Message"])
        message.update(
            AlarmName=self.alarm,
            AlarmArn=self.key,
            NewStateValue=self.state,
            OldStateValue="OK" if self.state == "ALARM" else "ALARM",
            StateChangeTime=self.at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{self.at.microsecond // 1000:03d}+0000",
        )
        return json.dumps(message)

    def notification(self, message_id: str) -> dict[str, Any]:
        """The SNS notification (published a few milliseconds after the state change)."""
        published = self.at + timedelta(milliseconds=64)
        return {
            "Type": "Notification",
            "MessageId": message_id,
            "TopicArn": TOPIC_ARN,
            "Subject": f'{self.state}: "{self.alarm}" in EU (Ireland)',
            "Message": self.message(),
            "Timestamp": published.strftime("%Y-%m-%dT%H:%M:%S.") + f"{published.microsecond // 1000:03d}Z",
        }

    def sns_event(self, message_id: str | None = None) -> dict[str, Any]:
        """The Lambda SNS event (direct subscription) of this change."""
        event: dict[str, Any] = load("sns-cloudwatch-alarm.json")
        sns = event["Records"][0]["Sns"]
        sns.update(self.notification(message_id or str(uuid.uuid4())))
        return event

    def sqs_record(self, message_id: str) -> dict[str, Any]:
        """The SQS record (buffered mode) of this change; its SNS message id is `sns-<id>`."""
        template = load("sqs-buffered-batch.json")["Records"][0]
        return {**template, "messageId": message_id, "body": json.dumps(self.notification(f"sns-{message_id}"))}


def sqs_event(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Records": records}


def failed_ids(answer: dict[str, Any]) -> list[str]:
    return sorted(item["itemIdentifier"] for item in answer["batchItemFailures"])


def log_lines(logs: io.StringIO, message: str) -> list[dict[str, Any]]:
    """The function's JSON log lines whose message is `message`."""
    lines = [json.loads(line) for line in logs.getvalue().splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("message") == message]


def dynamodb_calls(aws: LocalAws) -> dict[str, int]:
    """Every DynamoDB request the server answered (by operation) since its last reset."""
    counts: dict[str, int] = requests.get(aws.endpoint_url + CALLS_PATH, timeout=5).json()
    return {name: count for name, count in counts.items() if name.startswith("dynamodb.") and count}


def queue_lambda_dlq(stack: LocalStack, *events: dict[str, Any]) -> None:
    """What Lambda does with each event whose invocation and two retries failed (in order)."""
    sqs = stack.aws.client("sqs")
    attributes = {name: {"DataType": "String", "StringValue": value} for name, value in LAMBDA_DLQ.items()}
    for event in events:
        sqs.send_message(QueueUrl=stack.queue_url, MessageBody=json.dumps(event), MessageAttributes=attributes)


def peek_dead_letters(stack: LocalStack) -> list[dict[str, Any]]:
    """The dead-letter queue's message bodies, left in the queue."""
    sqs = stack.aws.client("sqs")
    answer = sqs.receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0)
    return [json.loads(message["Body"]) for message in answer.get("Messages", [])]


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


# ---------------------------------------------------------------- late and reordered events


@pytest.mark.parametrize("opened_before", [True, False], ids=["alert-opened-before", "alarm-and-ok-swapped"])
def test_an_alarm_arriving_after_its_newer_ok_is_superseded_and_logged(
    stack: LocalStack, function_logs: io.StringIO, opened_before: bool
) -> None:
    """SNS may deliver an ALARM after the OK that followed it: sent, it would reopen (or
    open) an alert for an alarm that is OK."""
    late = Change("prod-web-1-late-alarm", "ALARM", minute(5))
    ok = Change(late.alarm, "OK", minute(10))
    if opened_before:
        assert stack.invoke(Change(late.alarm, "ALARM", minute(0)).sns_event())["delivered"] == 1
    assert stack.invoke(ok.sns_event())["delivered"] == 1
    posts = stack.emulator.count("POST", EVENT_API)

    assert stack.invoke(late.sns_event()) == {"delivered": 0, "dead_lettered": 0, "superseded": 1}

    assert stack.emulator.count("POST", EVENT_API) == posts  # nothing sent for it
    if opened_before:
        alert = stack.emulator.alerts[late.key]
        assert (alert.state, alert.event_count, alert.reopened_count) == ("Closed", 2, 0)
    else:
        assert late.key not in stack.emulator.alerts  # never opened
    assert late.at.strftime("%Y-%m-%d %H:%M:%S") not in [event["time_of_event"] for event in stack.emulator.events]
    assert stack.emulator.stats()["stale_events"] == 0
    assert stack.alert_state()[late.key]["source_time"] == epoch_ms(ok.at)  # the OK's time stays
    assert stack.dead_letters() == []  # superseded is not a failure: nothing to replay
    [line] = log_lines(function_logs, SUPERSEDED_LINE)
    assert (line["message_key"], line["source_time"], line["newer_source_time"]) == (
        late.key,
        iso_ms(late.at),
        iso_ms(ok.at),
    )


def test_an_ok_listed_before_its_older_alarm_in_one_batch_is_the_only_one_sent(
    stack: LocalStack, function_logs: io.StringIO
) -> None:
    """SQS does not keep order: a batch can hold an alarm's OK before the ALARM it ends.
    The newest event of the key in the batch is what is sent."""
    ok = Change("prod-db-1-swapped", "OK", minute(10))
    alarm = Change(ok.alarm, "ALARM", minute(5))
    answer = stack.invoke(sqs_event([ok.sqs_record("ok-first"), alarm.sqs_record("alarm-second")]))

    assert answer == {"batchItemFailures": []}  # both done: the ALARM is superseded, not retried
    assert stack.emulator.count("POST", EVENT_API) == 1
    assert [(event["message_key"], event["severity"]) for event in stack.emulator.events] == [(ok.key, "0")]
    assert ok.key not in stack.emulator.alerts  # the ALARM never opened one
    assert stack.emulator.stats()["stale_events"] == 0
    assert stack.alert_state()[ok.key]["source_time"] == epoch_ms(ok.at)
    assert stack.dead_letters() == []
    [line] = log_lines(function_logs, SUPERSEDED_LINE)
    assert (line["message_key"], line["source_time"], line["newer_source_time"]) == (
        ok.key,
        iso_ms(alarm.at),
        iso_ms(ok.at),
    )
    assert line["notification_id"] == "sns-alarm-second"


def test_a_lambda_retry_of_the_same_event_goes_through_at_once(
    make_stack: StackFactory, function_logs: io.StringIO
) -> None:
    """The retry carries the same source time as the claim its failed attempt left (with
    that attempt's lease still running, on another container): it is the same event, not
    an older one, and must be neither superseded nor held back."""
    stack = make_stack(environment={"DELIVERY_ATTEMPTS": "1"})
    alarm = Change("prod-web-1-retried", "ALARM", minute(5))
    event = alarm.sns_event()
    stack.emulator.inject_fault(503)
    with pytest.raises(TransientFailure):  # Lambda retries the invocation
        stack.invoke(event)
    assert stack.alert_state()[alarm.key]["source_time"] == epoch_ms(alarm.at)  # claimed by the failed attempt

    stack.new_container()  # the retry may run in another container
    assert stack.invoke(event) == {"delivered": 1, "dead_lettered": 0, "superseded": 0}

    assert log_lines(function_logs, WAITING_LINE) == []  # not held back by the first attempt's lease
    assert stack.emulator.count("POST", EVENT_API) == 2  # the 503, then the delivery
    alert = stack.emulator.alerts[alarm.key]
    assert (alert.state, alert.event_count) == ("Open", 1)
    assert stack.dead_letters() == []


# ---------------------------------------------------------------- two invocations at once

ALARMS = [f"prod-fleet-{index:02d}-cpu-high" for index in range(20)]


def run_batch(event: dict[str, Any], container: Container | None = None) -> dict[str, Any]:
    """One invocation for the batch in a Lambda container of its own (secret, session,
    DynamoDB client, lease owner), as two concurrent Lambda containers have."""
    container = container or Container(Settings.from_environ())
    return sqs_batch.handle(container, event, LocalLambdaContext(timeout_seconds=30))


def warm_container(name: str) -> Container:
    """A container that has delivered a batch already (an unrelated alarm's OK): its secret
    read, its connections open, so its next claim is made at once."""
    container = Container(Settings.from_environ())
    assert run_batch(sqs_event([Change(name, "OK", minute(0)).sqs_record(name)]), container) == {
        "batchItemFailures": []
    }
    return container


@pytest.mark.parametrize("slow", ["older", "newer"], ids=["older-batch-in-flight", "newer-batch-in-flight"])
def test_two_batches_of_the_same_alarms_at_once_leave_each_alert_in_its_newest_state(
    make_stack: StackFactory, function_logs: io.StringIO, slow: str
) -> None:
    """Two containers get one batch each: the ALARMs of 20 alarms, and their OKs. The
    first batch's POST is slow; the second batch is claimed while it is in flight. The
    OKs must reach ServiceNow last (or the ALARMs never), whichever batch runs first."""
    stack = make_stack(environment={"ALERT_STATE_LEASE_SECONDS": "2"})
    stack.handler()  # the function's loggers set up, as in Lambda
    alarms = [Change(name, "ALARM", minute(5)) for name in ALARMS]
    oks = [Change(name, "OK", minute(10)) for name in ALARMS]
    keys = {change.key for change in oks}
    records = {
        "older": [change.sqs_record(f"alarm-{index}") for index, change in enumerate(alarms)],
        "newer": [change.sqs_record(f"ok-{index}") for index, change in enumerate(oks)],
    }
    first, second = (records["older"], records["newer"]) if slow == "older" else (records["newer"], records["older"])
    containers = [warm_container("prod-warm-first"), warm_container("prod-warm-second")]
    posts = stack.emulator.count("POST", EVENT_API)
    stack.emulator.inject_delay(1.0)  # the first batch's POST: well within the 2 s lease

    with ThreadPoolExecutor(max_workers=2) as pool:
        running = pool.submit(run_batch, sqs_event(first), containers[0])
        wait_for(lambda: stack.emulator.count("POST", EVENT_API) > posts)  # its POST is in flight
        answers = [pool.submit(run_batch, sqs_event(second), containers[1]).result(30), running.result(30)]

    # Every message is accounted for exactly once: delivered, superseded, or left to SQS.
    events = [event for event in stack.emulator.events if event["message_key"] in keys]
    retried = [item for answer in answers for item in failed_ids(answer)]
    delivered = [json.loads(event["additional_info"])["sns_message_id"] for event in events]
    superseded = [line["notification_id"] for line in log_lines(function_logs, SUPERSEDED_LINE)]
    every_id = sorted(f"sns-{record['messageId']}" for record in first + second)
    assert sorted(delivered + superseded + [f"sns-{item}" for item in retried]) == every_id
    for _ in range(3):  # SQS delivers the reported messages again
        if not retried:
            break
        again = [record for record in first + second if record["messageId"] in retried]
        retried = failed_ids(run_batch(sqs_event(again)))
    assert retried == []

    events = [event for event in stack.emulator.events if event["message_key"] in keys]
    states = stack.emulator.alert_states()
    if slow == "older":
        assert states == dict.fromkeys(keys, "Closed")
        # The OKs were claimed only once the ALARMs' lease was over: sent after them.
        assert [event["severity"] for event in events] == ["2"] * 20 + ["0"] * 20
        assert log_lines(function_logs, WAITING_LINE)
    else:
        assert sorted(superseded) == sorted(f"sns-alarm-{index}" for index in range(20))
        assert [event["severity"] for event in events] == ["0"] * 20
        assert states == {}  # the OKs found nothing open, and no ALARM opened anything
    assert stack.emulator.stats()["stale_events"] == 0
    table = stack.alert_state()
    assert {key: table[key]["source_time"] for key in keys} == {change.key: epoch_ms(change.at) for change in oks}


# ---------------------------------------------------------------- replay


def test_an_alarm_dead_lettered_in_an_outage_is_removed_as_superseded_when_its_ok_came_live(
    make_stack: StackFactory,
) -> None:
    """The instance was down for the ALARM (Lambda's retries failed, the event went to the
    DLQ); it was back for the OK. Replaying the ALARM afterwards would open an alert for an
    alarm that is OK: the scheduled redrive deletes it, unsent."""
    stack = make_stack(environment={"DELIVERY_ATTEMPTS": "1"})
    alarm = Change("prod-web-1-outage", "ALARM", minute(5))
    ok = Change(alarm.alarm, "OK", minute(10))
    event = alarm.sns_event()
    stack.emulator.inject_fault(503, count=3)
    for _ in range(3):  # the invocation and Lambda's two retries
        with pytest.raises(TransientFailure):
            stack.invoke(event)
    queue_lambda_dlq(stack, event)
    assert stack.invoke(ok.sns_event())["delivered"] == 1  # the instance is back

    answer = load_redrive_app().lambda_handler({"action": "redrive"}, LocalLambdaContext())

    assert answer["instance"]["ok"] is True
    report = answer["replay"]
    assert (report["received"], report["superseded"], report["delivered"], report["failed_again"]) == (1, 1, 0, 0)
    assert [outcome["result"] for outcome in report["outcomes"]] == ["superseded"]
    assert stack.dead_letters() == []  # removed: nothing left to replay
    assert [event["severity"] for event in stack.emulator.events] == ["0"]  # the ALARM never reached it
    assert alarm.key not in stack.emulator.alerts
    assert stack.emulator.stats()["stale_events"] == 0
    assert stack.alert_state()[alarm.key]["source_time"] == epoch_ms(ok.at)


def history(index: int) -> list[Change]:
    """Alarm `index`'s state changes: ALARM, OK, ALARM... (2 to 5 of them), a minute apart."""
    name = f"prod-flapping-{index}"
    return [Change(name, "ALARM" if step % 2 == 0 else "OK", minute(index + step)) for step in range(2 + index % 4)]


def test_a_shuffled_dead_letter_queue_is_replayed_oldest_first_in_one_run(stack: LocalStack) -> None:
    """SQS returns a DLQ in no order. One run must leave each alert in its last state:
    every event of an alarm sent in order, and none of an alarm that has since had a newer
    event delivered live (they are superseded, and deleted)."""
    histories = [history(index) for index in range(10)]
    live = {index: Change(histories[index][0].alarm, "ALARM", minute(60)) for index in (0, 1, 2)}
    dead = [change for changes in histories for change in changes]
    random.Random(1129).shuffle(dead)
    queue_lambda_dlq(stack, *(change.sns_event() for change in dead))
    for change in live.values():  # newer than every dead letter of its alarm
        assert stack.invoke(change.sns_event())["delivered"] == 1

    report = Replayer(current(), retry_delay_seconds=0).run()

    of_live = sum(len(histories[index]) for index in live)
    assert (report.received, report.delivered, report.superseded) == (len(dead), len(dead) - of_live, of_live)
    assert (report.failed_again, report.left_in_queue, report.unreadable) == (0, 0, 0)
    assert report.delivered + report.superseded == report.received
    assert stack.dead_letters() == []
    expected = {
        changes[-1].key: "Open" if index in live or changes[-1].state == "ALARM" else "Closed"
        for index, changes in enumerate(histories)
    }
    assert stack.emulator.alert_states() == expected
    for index in live:  # only the live event reached the instance
        assert stack.emulator.alerts[histories[index][0].key].event_count == 1
    assert stack.emulator.stats()["stale_events"] == 0
    assert len(stack.emulator.events) == len(live) + report.delivered  # each at most once


# ---------------------------------------------------------------- the table unavailable


def test_without_its_table_nothing_is_sent_unguarded_and_nothing_is_lost(
    make_stack: StackFactory, local_aws: LocalAws
) -> None:
    """ALERT_STATE_TABLE names a table that is not there (deleted, another region...): each
    trigger keeps its events for later, like a ServiceNow outage; none is sent without
    the guard. Once the table is back, the retries and the replay deliver them all."""
    table = f"itom-forwarder-alert-state-missing-{uuid.uuid4().hex[:8]}"
    stack = make_stack(environment={"ALERT_STATE_TABLE": table})
    direct = Change("prod-guard-down-sns", "ALARM", minute(5))
    buffered = [Change(f"prod-guard-down-sqs-{index}", "ALARM", minute(5)) for index in range(3)]
    batch = sqs_event([change.sqs_record(f"guard-down-{index}") for index, change in enumerate(buffered)])
    api_alert = {"node": "db-1", "severity": "critical", "message_key": "prod-guard-down-api"}

    sns_event = direct.sns_event()
    with pytest.raises(GuardUnavailable):  # Lambda retries the invocation
        stack.invoke(sns_event)
    assert failed_ids(stack.invoke(batch)) == ["guard-down-0", "guard-down-1", "guard-down-2"]
    answer = stack.invoke(rest_event("/events", json.dumps(api_alert)))
    assert (answer["statusCode"], json.loads(answer["body"])["queued"]) == (202, 1)
    assert stack.emulator.count("POST", EVENT_API) == 0
    [letter] = peek_dead_letters(stack)
    assert (letter["source"], letter["reason"]["step"]) == ("api", "guard")

    local_aws.create_alert_state_table(table)
    try:
        assert stack.invoke(sns_event)["delivered"] == 1  # Lambda's retry
        assert stack.invoke(batch) == {"batchItemFailures": []}  # SQS's redelivery
        report = Replayer(current(), retry_delay_seconds=0).run()
        assert (report.received, report.delivered) == (1, 1)
        assert stack.dead_letters() == []
        keys = {direct.key, *(change.key for change in buffered), "prod-guard-down-api"}
        assert {event["message_key"] for event in stack.emulator.events} == keys
        assert len(stack.emulator.events) == len(keys)  # each once
        assert set(stack.aws.alert_state(table)) == keys
    finally:
        local_aws.client("dynamodb").delete_table(TableName=table)


# ---------------------------------------------------------------- the guard off, and its cost


def test_with_the_guard_off_no_dynamodb_request_is_made_and_a_late_alarm_is_sent(
    make_stack: StackFactory, local_aws: LocalAws
) -> None:
    """OrderingGuard=false is the behaviour before the guard: every event goes, in arrival
    order, and a late ALARM reopens its alert (the stale event the emulator counts)."""
    stack = make_stack(ordering_guard=False)
    local_aws.reset_calls()
    late = Change("prod-web-1-unguarded", "ALARM", minute(5))
    assert stack.invoke(Change(late.alarm, "ALARM", minute(0)).sns_event())["delivered"] == 1
    assert stack.invoke(Change(late.alarm, "OK", minute(10)).sns_event())["delivered"] == 1
    assert stack.invoke(late.sns_event()) == {"delivered": 1, "dead_lettered": 0, "superseded": 0}
    batch = [Change(f"prod-unguarded-{index}", "ALARM", minute(5)).sqs_record(f"off-{index}") for index in range(3)]
    assert stack.invoke(sqs_event(batch)) == {"batchItemFailures": []}

    assert dynamodb_calls(local_aws) == {}
    alert = stack.emulator.alerts[late.key]
    assert (alert.state, alert.reopened_count, alert.stale_events) == ("Open", 1, 1)
    assert stack.emulator.count("POST", EVENT_API) == 4


def test_one_alert_costs_one_dynamodb_request_and_a_batch_of_ten_keys_one_transaction(
    stack: LocalStack, local_aws: LocalAws
) -> None:
    """The guard's price on the warm path: one conditional write per invocation of one
    alert, one transaction for a batch of up to 100 keys."""
    local_aws.reset_calls()
    assert stack.invoke(Change("prod-web-1-cost", "ALARM", minute(5)).sns_event())["delivered"] == 1
    assert dynamodb_calls(local_aws) == {"dynamodb.UpdateItem": 1}

    local_aws.reset_calls()
    changes = [Change(f"prod-cost-{index}", "ALARM", minute(5)) for index in range(10)]
    records = [change.sqs_record(f"cost-{index}") for index, change in enumerate(changes)]
    assert stack.invoke(sqs_event(records)) == {"batchItemFailures": []}
    assert dynamodb_calls(local_aws) == {"dynamodb.TransactWriteItems": 1}
    assert stack.emulator.count("POST", EVENT_API) == 2
    state = stack.alert_state()
    assert {change.key: state[change.key]["source_time"] for change in changes} == {
        change.key: epoch_ms(change.at) for change in changes
    }


def test_a_post_the_container_gave_up_on_is_not_overtaken_by_its_next_event(make_stack: StackFactory) -> None:
    """A POST abandoned at the read timeout may still be applied by the instance. The
    container's next event must then wait for that lease like anyone else's, or the
    abandoned ALARM would land after the newer OK and reopen the alert."""
    stack = make_stack(
        environment={
            "HTTP_READ_TIMEOUT_SECONDS": "0.2",
            "RETRY_BASE_DELAY_SECONDS": "0.005",
            "ALERT_STATE_LEASE_SECONDS": "2",
        }
    )
    alarm, ok = Change("zombie", "ALARM", minute(0)), Change("zombie", "OK", minute(1))
    stack.emulator.inject_delay(0.6)  # the first attempt times out; the instance applies it 0.6 s later
    assert stack.invoke(alarm.sns_event())["delivered"] == 1  # by the retry
    assert stack.invoke(ok.sns_event())["delivered"] == 1  # same container: it waited for the lease
    time.sleep(1.0)
    assert stack.emulator.alert_states()[alarm.key] == "Closed"
    assert stack.emulator.events[-1]["severity"] == "0"  # the OK was applied last
    assert (stack.emulator.stats()["stale_events"], stack.emulator.stats()["stale_reopenings"]) == (0, 0)


@pytest.mark.parametrize("keys", [1, 2])
def test_a_table_that_never_answers_is_a_transient_failure_not_a_crash(keys: int) -> None:
    """A read timeout carries no AWS answer: the guard must still say GuardUnavailable
    (the event is retried), for one key (UpdateItem) as for several (a transaction)."""
    import socket

    from itom_forwarder.aws_api import AwsJsonClient
    from itom_forwarder.ordering import Claim, GuardOptions, OrderingGuard

    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
        guard = OrderingGuard(
            GuardOptions("alert-state"),
            lambda: AwsJsonClient(
                service="dynamodb",
                signing_name="dynamodb",
                target_prefix="DynamoDB_20120810",
                json_version="1.0",
                region="eu-west-1",
                endpoint=endpoint,
                connect_timeout=0.2,
                read_timeout=0.2,
                max_attempts=1,
            ),
        )
        claims = [Claim(f"key-{index}", 1_000) for index in range(keys)]
        with pytest.raises(GuardUnavailable, match=r"could not be written \(ReadTimeout\)"):
            guard.claim(claims, "owner", 2_000)
