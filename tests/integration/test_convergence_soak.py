"""Convergence soak (issue 13): whatever order the state changes of an alarm arrive in, and
whatever fails on the way, ServiceNow ends with every alert in its alarm's last state.

200 CloudWatch alarms each change state 6 or 7 times (ALARM, OK, INSUFFICIENT_DATA; one
second or more apart, as ServiceNow's time_of_event has second resolution). Half the alarms
arrive through SNS direct, half through the buffered mode's SQS batches; both streams are
interleaved, and each is shuffled in windows of 20 (neither SNS nor SQS keeps order), so
the events of one alarm arrive out of order. Lambda's side is simulated as in
test_soak.py: an asynchronous invocation that raises is run again up to twice, later
(behind other events), then Lambda writes the event to the function's DLQ; a message an
SQS batch reports as failed comes back in a later batch, up to maxReceiveCount, then the
queue's redrive policy moves it (the SNS notification body) to the same DLQ. Random 5xx,
429 and dropped connections hit the POSTs, and an outage (every POST and every instance
read answers 503) sends a stretch of events to the DLQ; a second one at the end of the
stream sends its last events there too.

The redrive schedule runs during the outage (it must skip: the instance does not
answer), after it while the stream goes on (a real `{"action": "redrive"}` invocation of
the redrive function), and once the stream is over the DLQ is replayed until empty (the
first of those runs meets a few 503s, so some messages fail again and are put back).

At the end, per alarm: its alert is in the state of the alarm's last change (ALARM and
INSUFFICIENT_DATA: Open with that state's severity; OK: Closed, or never created), the
emulator saw no stale event and no stale reopening, and no event is lost: each one was
delivered or superseded by a newer one of its alarm that was, and the DLQ is empty.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from itom_forwarder.container import current
from itom_forwarder.triggers.redrive import Replayer, ReplayReport
from local.lambda_context import LocalLambdaContext
from local.stack import LocalStack
from tests.integration.conftest import StackFactory
from tests.integration.functions import load_redrive_app
from tests.samples import load

SEED = 20261313
ALARMS = 200
MIN_CHANGES, MAX_CHANGES = 6, 7
STATES = ("ALARM", "OK", "INSUFFICIENT_DATA")
# The severities the default mapping gives each state (settings.py: SEVERITY_ALARM,
# SEVERITY_OK, SEVERITY_INSUFFICIENT_DATA); "0" is a clear.
SEVERITY = {"ALARM": "2", "OK": "0", "INSUFFICIENT_DATA": "4"}
# The alarms' first changes are spread over this long, each next change 1 to 30 s after
# the previous one: a few alarms are flapping at any moment, so a window of 20 events
# often holds two changes of one alarm.
SPREAD_SECONDS = 1200
GAP_MS = (1000, 30_000)
BASE_TIME = datetime(2026, 11, 29, 8, 0, 0, tzinfo=UTC)
WINDOW = 20  # each stream is shuffled in windows of this many events
LAMBDA_RETRIES = 2
MAX_RECEIVE_COUNT = 3
BATCH_SIZE = 10
# The outage: from this job (one invocation, direct or batch) on, this many jobs long.
OUTAGE_START = 250
OUTAGE_JOBS = 120
# The scheduled redrive runs halfway through the outage, and this many jobs after it.
REDRIVE_AFTER_OUTAGE = 40
# A second outage takes the stream's last events (and their retries) to the DLQ: the final
# replay has them to deliver.
TAIL_OUTAGE_EVENTS = 40
MAX_FINAL_REPLAYS = 6
EVENT_API = "/api/global/em/jsonv2"
SYS_CHOICE_API = "/api/now/table/sys_choice"  # what the redrive's "does it answer?" reads
TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:itom-forwarder-alarms"
ALARM_ARN = "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:"
# Fast retries and a short read timeout (as test_soak.py), and a lease that covers a POST
# with its retries (three attempts of at most 0.15 s) yet keeps a replay quick.
SOAK_ENVIRONMENT = {
    "RETRY_BASE_DELAY_SECONDS": "0.005",
    "HTTP_READ_TIMEOUT_SECONDS": "0.15",
    "DELIVERY_ATTEMPTS": "3",
    "BATCH_MAX_RECORDS": "10",
    "ALERT_STATE_LEASE_SECONDS": "1",
}
# The sanity check (not to be committed as False): without the guard the soak must fail.
ORDERING_GUARD = True


@dataclass(frozen=True)
class Change:
    """One state change of one alarm, as CloudWatch publishes it."""

    alarm: int
    seq: int
    state: str
    previous: str
    at: datetime

    @property
    def name(self) -> str:
        return f"soak-alarm-{self.alarm:03d}"

    @property
    def key(self) -> str:
        return ALARM_ARN + self.name

    @property
    def time_of_event(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S}"

    @property
    def posted(self) -> tuple[str, str, str]:
        """What ServiceNow receives of it: (message_key, time_of_event, severity)."""
        return self.key, self.time_of_event, SEVERITY[self.state]

    @property
    def ident(self) -> str:
        return f"{self.alarm:03d}-{self.seq}"


def timeline(rng: random.Random) -> list[Change]:
    """Every alarm's changes (consecutive states differ), all in source-time order."""
    changes: list[Change] = []
    for alarm in range(ALARMS):
        moment = BASE_TIME + timedelta(milliseconds=rng.randint(0, SPREAD_SECONDS * 1000))
        previous = rng.choice(STATES)
        for seq in range(rng.randint(MIN_CHANGES, MAX_CHANGES)):
            if seq:
                moment += timedelta(milliseconds=rng.randint(*GAP_MS))
            state = rng.choice([state for state in STATES if state != previous])
            changes.append(Change(alarm, seq, state, previous, moment))
            previous = state
    return sorted(changes, key=lambda change: change.at)


def alarm_message(change: Change) -> str:
    """The sample alarm notification, made this alarm's change."""
    message = json.loads(load("sns-cloudwatch-alarm.json")["Records"][0]["Sns"]["Message"])
    message.update(
        AlarmName=change.name,
        AlarmArn=change.key,
        NewStateValue=change.state,
        OldStateValue=change.previous,
        NewStateReason=f"soak: {change.previous} -> {change.state}",
        StateChangeTime=f"{change.at:%Y-%m-%dT%H:%M:%S}.{change.at.microsecond // 1000:03d}+0000",
    )
    return json.dumps(message)


def published(change: Change) -> str:
    """SNS's publish time: a moment after the state change."""
    moment = change.at + timedelta(milliseconds=64)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def sns_event(change: Change) -> dict[str, Any]:
    event: dict[str, Any] = load("sns-cloudwatch-alarm.json")
    event["Records"][0]["Sns"].update(
        MessageId=f"sns-{change.ident}",
        Subject=f"{change.state}: {change.name!r} in EU (Ireland)",
        Message=alarm_message(change),
        Timestamp=published(change),
    )
    return event


def sqs_record(change: Change, receive_count: int) -> dict[str, Any]:
    notification = {
        "Type": "Notification",
        "MessageId": f"sns-{change.ident}",
        "TopicArn": TOPIC_ARN,
        "Subject": f"{change.state}: {change.name!r} in EU (Ireland)",
        "Message": alarm_message(change),
        "Timestamp": published(change),
    }
    record: dict[str, Any] = dict(load("sqs-buffered-batch.json")["Records"][0])
    attributes = {**record["attributes"], "ApproximateReceiveCount": str(receive_count)}
    record.update(messageId=f"sqs-{change.ident}", body=json.dumps(notification), attributes=attributes)
    return record


def shuffled_in_windows(changes: list[Change], rng: random.Random) -> list[Change]:
    shuffled: list[Change] = []
    for start in range(0, len(changes), WINDOW):
        window = changes[start : start + WINDOW]
        rng.shuffle(window)
        shuffled.extend(window)
    return shuffled


def inversions(order: list[Change]) -> int:
    """Pairs of changes of one alarm that first arrived newest first."""
    seen: dict[int, list[int]] = {}
    count = 0
    for change in order:
        earlier = seen.setdefault(change.alarm, [])
        count += sum(1 for seq in earlier if seq > change.seq)
        earlier.append(change.seq)
    return count


@dataclass
class Pending:
    change: Change
    tries: int = 0  # invocations (direct) or receives (buffered) so far


@dataclass
class Soak:
    stack: LocalStack
    rng: random.Random
    direct: list[Pending]
    buffered: list[Pending]
    jobs: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    first_arrivals: list[Change] = field(default_factory=list)
    arrived: set[str] = field(default_factory=set)
    dead_lettered: Counter[str] = field(default_factory=Counter)  # by who wrote the DLQ message
    replayed: int = 0  # DLQ messages received by the replays
    replay_superseded: int = 0
    redrive_skipped: int = 0
    tail_outage: bool = False
    sqs: Any = None

    # ---------------------------------------------------------------- faults

    def random_fault(self) -> None:
        roll = self.rng.random()
        if roll < 0.07:
            self.stack.emulator.inject_fault(self.rng.choice([500, 502, 503, 504]), count=self.rng.randint(1, 4))
            self.faults["5xx"] += 1
        elif roll < 0.10:
            self.stack.emulator.inject_fault(429, count=self.rng.randint(1, 3), retry_after=0)
            self.faults["429"] += 1
        elif roll < 0.13:
            self.stack.emulator.inject_disconnect(count=self.rng.randint(1, 3))
            self.faults["disconnect"] += 1

    def outage(self) -> None:
        """Every POST and every read of the instance answers 503 until cleared."""
        self.stack.emulator.inject_fault(503, count=1_000_000)
        self.stack.emulator.inject_fault(503, count=1_000_000, path=SYS_CHOICE_API)
        self.faults["outage"] += 1

    # ------------------------------------------------------------ arrivals

    def arrive(self, change: Change) -> None:
        if change.ident not in self.arrived:
            self.arrived.add(change.ident)
            self.first_arrivals.append(change)

    def later(self, queue: list[Pending], pending: Pending, low: int, high: int) -> None:
        queue.insert(min(len(queue), self.rng.randint(low, high)), pending)

    def send_to_dlq(self, body: str, attributes: dict[str, str], writer: str) -> None:
        if self.sqs is None:  # one client: building one loads botocore's models again
            self.sqs = self.stack.aws.client("sqs")
        self.sqs.send_message(
            QueueUrl=self.stack.queue_url,
            MessageBody=body,
            MessageAttributes={name: {"DataType": "String", "StringValue": v} for name, v in attributes.items()},
        )
        self.dead_lettered[writer] += 1

    def invoke_direct(self) -> None:
        """One asynchronous invocation; one that raises runs again later (Lambda's two
        retries, behind other events), then goes to the function's DLQ as Lambda writes it."""
        pending = self.direct.pop(0)
        pending.tries += 1
        self.arrive(pending.change)
        event = sns_event(pending.change)
        context = LocalLambdaContext()
        try:
            self.stack.handler()(event, context)
        except Exception as error:
            if pending.tries <= LAMBDA_RETRIES:
                self.later(self.direct, pending, 3, 15)
                return
            attributes = {"RequestID": context.aws_request_id, "ErrorCode": "200", "ErrorMessage": str(error)[:256]}
            self.send_to_dlq(json.dumps(event), attributes, "lambda")

    def invoke_batch(self) -> None:
        """One SQS batch; each message it reports failed comes back in a later batch, and
        after maxReceiveCount receives the redrive policy moves it to the DLQ as it is."""
        batch, self.buffered[:BATCH_SIZE] = self.buffered[:BATCH_SIZE], []
        records = []
        for pending in batch:
            pending.tries += 1
            self.arrive(pending.change)
            records.append(sqs_record(pending.change, pending.tries))
        result = self.stack.invoke({"Records": records})
        failed = {item["itemIdentifier"] for item in result["batchItemFailures"]}
        for pending, record in zip(batch, records, strict=True):
            if record["messageId"] not in failed:
                continue
            if pending.tries >= MAX_RECEIVE_COUNT:
                self.send_to_dlq(record["body"], {}, "sqs")
            else:
                self.later(self.buffered, pending, BATCH_SIZE, 4 * BATCH_SIZE)  # after its visibility timeout

    # -------------------------------------------------------------- replay

    def redrive(self) -> dict[str, Any]:
        """The scheduled run: a real invocation of the redrive function."""
        answer: dict[str, Any] = load_redrive_app().lambda_handler(
            {"action": "redrive", "max_messages": 10_000}, LocalLambdaContext(timeout_seconds=120)
        )
        if answer["replay"] is None:
            self.redrive_skipped += 1
        else:
            self.count_replay(answer["replay"])
        return answer

    def count_replay(self, report: dict[str, Any]) -> None:
        self.replayed += report["received"]
        self.replay_superseded += report["superseded"]

    def replay_until_empty(self) -> int:
        """Replay (failed-again messages put back at once) until a run finds nothing; the
        first run meets a short outage, so some messages fail again and need a later run."""
        self.stack.emulator.inject_fault(503, count=6)
        for runs in range(1, MAX_FINAL_REPLAYS + 1):
            report: ReplayReport = Replayer(current(), retry_delay_seconds=0).run(max_messages=10_000)
            self.count_replay(report.as_dict())
            if report.received == 0:
                return runs
        return MAX_FINAL_REPLAYS

    # ---------------------------------------------------------------- run

    def run(self) -> None:
        outage_end = OUTAGE_START + OUTAGE_JOBS
        while self.direct or self.buffered:
            if self.jobs == OUTAGE_START:
                self.outage()
            if self.jobs == OUTAGE_START + OUTAGE_JOBS // 2:
                assert self.redrive()["replay"] is None, "the redrive replayed while the instance was down"
            if self.jobs == outage_end:
                self.stack.emulator.clear_faults()  # the instance is back
            if self.jobs == outage_end + REDRIVE_AFTER_OUTAGE:
                assert not self.tail_outage, "the stream is too short for its two outages"
                self.stack.emulator.clear_faults()  # the replay meets no fault: none is put back for 60 s
                assert self.redrive()["replay"] is not None, "the redrive skipped though the instance answers"
            if not self.tail_outage and len(self.direct) + len(self.buffered) <= TAIL_OUTAGE_EVENTS:
                self.tail_outage = True
                self.outage()
            if not (OUTAGE_START <= self.jobs < outage_end or self.tail_outage):
                self.random_fault()
            self.jobs += 1
            # Both streams end about together: a batch takes ten events.
            direct_weight, buffered_weight = len(self.direct), len(self.buffered) / BATCH_SIZE
            if self.rng.random() * (direct_weight + buffered_weight) < direct_weight:
                self.invoke_direct()
            else:
                self.invoke_batch()
        self.stack.emulator.clear_faults()  # the instance is back


def queue_depth(stack: LocalStack) -> int:
    """Messages in the DLQ, visible, in flight or delayed."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    names.append("ApproximateNumberOfMessagesDelayed")
    attributes = stack.aws.client("sqs").get_queue_attributes(QueueUrl=stack.queue_url, AttributeNames=names)
    return sum(int(value) for value in attributes["Attributes"].values())


def expected_state(change: Change) -> tuple[set[str | None], str | None]:
    """The alert states (None: no alert) and the severity an alarm's last change leaves."""
    if change.state == "OK":
        return {"Closed", None}, None
    return {"Open"}, SEVERITY[change.state]


def by_alarm(changes: list[Change]) -> list[list[Change]]:
    alarms: dict[int, list[Change]] = {}
    for change in changes:
        alarms.setdefault(change.alarm, []).append(change)
    return [sorted(alarm_changes, key=lambda change: change.seq) for alarm_changes in alarms.values()]


def fates(alarms: list[list[Change]], posted: Counter[tuple[str, str, str]]) -> tuple[int, int]:
    """(superseded, lost): a change not POSTed is superseded when a newer change of its
    alarm was POSTed, and lost otherwise."""
    superseded = lost = 0
    for alarm_changes in alarms:
        newest_posted = max((change.seq for change in alarm_changes if change.posted in posted), default=-1)
        for change in alarm_changes:
            if change.posted not in posted:
                if change.seq < newest_posted:
                    superseded += 1
                else:
                    lost += 1
    return superseded, lost


def wrong_states(stack: LocalStack, alarms: list[list[Change]]) -> list[str]:
    """The alarms whose alert is not in the state (and severity) of their last change."""
    states = stack.emulator.alert_states()
    alerts = stack.emulator.alerts
    wrong: list[str] = []
    for alarm_changes in alarms:
        last = alarm_changes[-1]
        allowed, severity = expected_state(last)
        state = states.get(last.key)
        if state not in allowed or (severity is not None and alerts[last.key].severity != severity):
            shown = f"{state}/{alerts[last.key].severity}" if state else "no alert"
            wrong.append(f"{last.name}: last {last.state}, alert {shown}")
    return wrong


def check_convergence(stack: LocalStack, changes: list[Change]) -> tuple[dict[str, int], list[str]]:
    """The figures of the outcome, and what is wrong with it."""
    posted = Counter(
        (event.get("message_key", ""), event.get("time_of_event", ""), event.get("severity", ""))
        for event in stack.emulator.events
    )
    alarms = by_alarm(changes)
    superseded, lost = fates(alarms, posted)
    wrong = wrong_states(stack, alarms)
    unknown = set(posted) - {change.posted for change in changes}
    stats = stack.emulator.stats()
    left = queue_depth(stack)
    checks = {
        f"{len(unknown)} events POSTed that no alarm published, e.g. {sorted(unknown)[:2]}": bool(unknown),
        f"{len(wrong)} alerts not in their alarm's last state, e.g. {wrong[:3]}": bool(wrong),
        f"{stats['stale_events']} stale events applied": stats["stale_events"] > 0,
        f"{stats['stale_reopenings']} alerts reopened by a stale event": stats["stale_reopenings"] > 0,
        f"{lost} events lost (neither delivered nor older than one delivered)": lost > 0,
        f"{left} messages left in the DLQ": left > 0,
    }
    figures = {
        "superseded": superseded,
        "duplicates": sum(count - 1 for count in posted.values() if count > 1),
        "lost": lost,
        "wrong_states": len(wrong),
        "stale_events": stats["stale_events"],
        "stale_reopenings": stats["stale_reopenings"],
        "posts": stats["event_posts"],
        "left_in_dlq": left,
    }
    return figures, [problem for problem, failed in checks.items() if failed]


def test_every_alert_converges_to_its_alarm_s_last_state(
    make_stack: StackFactory, capfd: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    stack = make_stack(environment=SOAK_ENVIRONMENT, ordering_guard=ORDERING_GUARD)
    rng = random.Random(SEED)
    changes = timeline(rng)
    direct = shuffled_in_windows([c for c in changes if c.alarm % 2 == 0], rng)
    buffered = shuffled_in_windows([c for c in changes if c.alarm % 2 == 1], rng)
    soak = Soak(stack, rng, [Pending(c) for c in direct], [Pending(c) for c in buffered])
    soak.run()
    final_runs = soak.replay_until_empty()
    figures, problems = check_convergence(stack, changes)
    dynamodb = stack.aws.calls("dynamodb.UpdateItem") + stack.aws.calls("dynamodb.TransactWriteItems")
    seconds = time.monotonic() - started
    with capfd.disabled():  # shown in every run, not only on failure
        print(
            f"\n[convergence, guard {'on' if ORDERING_GUARD else 'off'}] alarms {ALARMS}, events {len(changes)}, "
            f"superseded {figures['superseded']}, duplicates {figures['duplicates']}, POSTs {figures['posts']}, "
            f"DynamoDB requests {dynamodb}, DLQ messages replayed {soak.replayed}, seconds {seconds:.1f} | "
            f"reordered pairs {inversions(soak.first_arrivals)}, jobs {soak.jobs}, faults {dict(soak.faults)}, "
            f"dead-lettered {dict(soak.dead_lettered)}, superseded at replay {soak.replay_superseded}, "
            f"redrive skipped {soak.redrive_skipped}, final replay runs {final_runs}, "
            f"wrong states {figures['wrong_states']}, stale events {figures['stale_events']}, "
            f"stale reopenings {figures['stale_reopenings']}, lost {figures['lost']}, "
            f"left in DLQ {figures['left_in_dlq']}"
        )
    assert not problems, "; ".join(problems)
    # The soak exercised what it is about: reordering, the outage's dead letters, the replay.
    assert inversions(soak.first_arrivals) > 100
    assert sum(soak.dead_lettered.values()) >= 20
    assert soak.redrive_skipped == 1
    assert soak.replay_superseded > 0  # replayed events older than what ServiceNow has: deleted, not sent
    assert soak.replayed >= sum(soak.dead_lettered.values())
    assert len(soak.arrived) == len(changes)
