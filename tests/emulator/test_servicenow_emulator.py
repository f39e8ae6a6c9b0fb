"""Tests for the ServiceNow emulator, over real loopback sockets with `requests`."""

from __future__ import annotations

import datetime
import json
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from local.emulator import ServiceNowEmulator

REPO_ROOT = Path(__file__).resolve().parents[2]
EVENTS = "/api/global/em/jsonv2"
TOKEN = "/oauth_token.do"
SYS_CHOICE = "/api/now/table/sys_choice"
AUTH = ("svc", "secret")
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CLIENT_ID = "client-123"
CLIENT_SECRET = "client-secret-xyz"
KEY_ID = "kid-1"

UNAUTHENTICATED = {
    "error": {
        "message": "User Not Authenticated",
        "detail": "Required to provide Auth information",
    },
    "status": "failure",
}


# ------------------------------------------------------------------------ fixtures


@pytest.fixture
def sn() -> Iterator[ServiceNowEmulator]:
    with ServiceNowEmulator() as emulator:
        emulator.add_user("svc", "secret", email="svc@example.com")
        emulator.add_user("reader", "pw", roles=())
        yield emulator


@pytest.fixture
def http() -> Iterator[requests.Session]:
    session = requests.Session()
    session.trust_env = False  # never route loopback through an environment proxy
    with session:
        yield session


def post_events(
    http: requests.Session,
    sn: ServiceNowEmulator,
    records: list[dict[str, Any]],
    **kwargs: Any,
) -> requests.Response:
    kwargs.setdefault("auth", AUTH)
    return http.post(sn.url + EVENTS, json={"records": records}, timeout=5, **kwargs)


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def certificate_pem(rsa_key: rsa.RSAPrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "emulator-test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(rsa_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=360))
        .sign(rsa_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture
def oauth_sn(sn: ServiceNowEmulator, certificate_pem: bytes) -> ServiceNowEmulator:
    sn.add_oauth_client(CLIENT_ID, CLIENT_SECRET, KEY_ID, certificate_pem.decode())
    return sn


def make_jwt(
    key: rsa.RSAPrivateKey,
    *,
    sub: str = "svc",
    kid: str = KEY_ID,
    exp_in: int = 300,
    jti: str | None = "fresh",
    **overrides: Any,
) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": CLIENT_ID,
        "aud": CLIENT_ID,
        "sub": sub,
        "iat": now,
        "exp": now + exp_in,
    }
    if jti is not None:
        claims["jti"] = uuid.uuid4().hex if jti == "fresh" else jti
    claims.update(overrides)
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def exchange(
    http: requests.Session,
    sn: ServiceNowEmulator,
    assertion: str,
    *,
    client_secret: str = CLIENT_SECRET,
    grant_type: str = JWT_GRANT,
) -> requests.Response:
    form = {
        "grant_type": grant_type,
        "client_id": CLIENT_ID,
        "client_secret": client_secret,
        "assertion": assertion,
    }
    return http.post(sn.url + TOKEN, data=form, timeout=5)


# ---------------------------------------------------------------------- event API


def test_accepts_events_and_answers_bulk_message(sn: ServiceNowEmulator, http: requests.Session) -> None:
    records = [
        {"source": "SCOM", "node": "web01", "severity": "2", "message_key": "k1"},
        {"source": "SCOM", "node": "web02", "severity": "4", "description": "ü"},
    ]
    response = post_events(http, sn, records)
    assert response.status_code == 200
    assert response.json() == {"result": {"Default Bulk Endpoint": "2 events were inserted"}}
    assert response.headers["Content-Type"].startswith("application/json")
    assert sn.events == records
    assert sn.count("POST", EVENTS) == 1
    (recorded,) = sn.requests
    assert recorded.user == "svc"
    assert recorded.status == 200
    assert recorded.headers["Authorization"] == "<redacted>"
    assert b"secret" not in recorded.body


def test_snapshots_are_copies(sn: ServiceNowEmulator, http: requests.Session) -> None:
    post_events(http, sn, [{"severity": "1", "message_key": "k"}])
    sn.events[0]["severity"] = "5"
    sn.alerts["k"].state = "Closed"
    assert sn.events[0]["severity"] == "1"
    assert sn.alerts["k"].state == "Open"


def test_alert_lifecycle_by_message_key(sn: ServiceNowEmulator, http: requests.Session) -> None:
    post_events(http, sn, [{"message_key": "rule:1", "severity": "3", "node": "a"}])
    alert = sn.alerts["rule:1"]
    assert (alert.state, alert.severity, alert.event_count) == ("Open", "3", 1)

    post_events(http, sn, [{"message_key": "rule:1", "severity": "1", "node": "b"}])
    alert = sn.alerts["rule:1"]
    assert (alert.state, alert.severity, alert.event_count) == ("Open", "1", 2)
    assert alert.first_event["node"] == "a"
    assert alert.last_event["node"] == "b"

    post_events(http, sn, [{"message_key": "rule:1", "severity": "0"}])
    assert sn.alerts["rule:1"].state == "Closed"

    post_events(http, sn, [{"message_key": "rule:1", "severity": "2"}])
    alert = sn.alerts["rule:1"]
    assert (alert.state, alert.severity, alert.reopened_count) == ("Open", "2", 1)
    assert alert.event_count == 4


def test_resolution_state_closing_closes_alert(sn: ServiceNowEmulator, http: requests.Session) -> None:
    post_events(http, sn, [{"message_key": "k", "severity": "5"}])
    assert sn.alerts["k"].state == "Open"  # OK still creates an alert
    post_events(http, sn, [{"message_key": "k", "severity": "5", "resolution_state": "Closing"}])
    assert sn.alerts["k"].state == "Closed"


def test_clear_without_open_alert_creates_none(sn: ServiceNowEmulator, http: requests.Session) -> None:
    response = post_events(http, sn, [{"message_key": "nothing", "severity": "0"}])
    assert response.status_code == 200
    assert sn.alerts == {}
    assert len(sn.events) == 1


def test_alert_fallback_message_key(sn: ServiceNowEmulator, http: requests.Session) -> None:
    event = {
        "source": "SCOM",
        "node": "web01",
        "type": "Disk",
        "resource": "C:",
        "metric_name": "free",
        "severity": "2",
        "message_key": "",
    }
    post_events(http, sn, [event])
    key = "SCOMweb01DiskC:free"
    assert list(sn.alerts) == [key]
    post_events(http, sn, [{**event, "severity": "0"}])
    assert sn.alerts[key].state == "Closed"
    # only the present fields are concatenated
    post_events(http, sn, [{"source": "Elastic", "node": "db1", "severity": "1"}])
    assert sn.alerts["Elasticdb1"].state == "Open"


# ------------------------------------------- alert history and the ordering oracle

ALERTS = "/api/now/table/em_alert"
STATS = "/_emulator/stats"


class FakeClock:
    """A monotonic clock the test moves by hand (``EmulatorState.clock``)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(sn: ServiceNowEmulator) -> FakeClock:
    fake = FakeClock()
    sn.clock = fake
    return fake


def at(clock_time: str) -> str:
    """A time_of_event (ServiceNow's yyyy-MM-dd HH:mm:ss, UTC) on one test day."""
    return f"2024-05-01 {clock_time}"


def alarm(when: str | None, key: str = "k", severity: str = "2") -> dict[str, str]:
    record = {"message_key": key, "severity": severity}
    if when is not None:
        record["time_of_event"] = at(when)
    return record


def clear(when: str, key: str = "k") -> dict[str, str]:
    return {"message_key": key, "severity": "0", "time_of_event": at(when)}


def send(http: requests.Session, sn: ServiceNowEmulator, *records: dict[str, str]) -> None:
    """Each record in its own POST, so arrival order is the order given."""
    for record in records:
        assert post_events(http, sn, [record]).status_code == 200


def oracle(sn: ServiceNowEmulator) -> dict[str, int]:
    stats = sn.stats()
    return {name: stats[name] for name in ("alerts_created", "stale_events", "stale_reopenings")}


def test_new_stats_start_at_zero(sn: ServiceNowEmulator, http: requests.Session) -> None:
    stats = http.get(sn.url + STATS, timeout=5).json()
    assert stats == {
        "event_posts": 0,
        "events": 0,
        "token_requests": 0,
        "connections_opened": 1,
        "alerts_created": 0,
        "stale_events": 0,
        "stale_reopenings": 0,
    }
    assert sn.active_interval_seconds == 3600  # evt_mgmt.active_interval's default
    assert (sn.alerts_created, sn.alert_states()) == ({}, {})


def test_clear_without_alert_creates_nothing_but_is_remembered(sn: ServiceNowEmulator, http: requests.Session) -> None:
    send(http, sn, clear("12:00:10"))
    assert (sn.alerts, sn.alerts_created, sn.alert_states()) == ({}, {}, {})
    assert oracle(sn) == {"alerts_created": 0, "stale_events": 0, "stale_reopenings": 0}
    # The ALARM the Clear ended arrives after it: ServiceNow opens an alert (left open for
    # a week); the oracle sees an event older than one already received for the key.
    send(http, sn, alarm("12:00:00"))
    alert = sn.alerts["k"]
    assert (alert.state, alert.event_count, alert.stale_events, alert.stale_reopenings) == ("Open", 1, 1, 0)
    assert alert.newest_time_of_event == at("12:00:00")
    assert oracle(sn) == {"alerts_created": 1, "stale_events": 1, "stale_reopenings": 0}


def test_alarm_then_clear_closes_and_a_newer_alarm_reopens(
    sn: ServiceNowEmulator, http: requests.Session, clock: FakeClock
) -> None:
    send(http, sn, alarm("12:00:00", severity="1"), clear("12:00:10"))
    assert sn.alert_states() == {"k": "Closed"}
    assert sn.alerts["k"].event_count == 2

    clock.now += 3599
    send(http, sn, alarm("12:00:20"))
    alert = sn.alerts["k"]
    assert (alert.state, alert.reopened_count, alert.event_count) == ("Open", 1, 3)
    assert (alert.stale_events, alert.stale_reopenings) == (0, 0)
    assert alert.newest_time_of_event == at("12:00:20")
    assert sn.alerts_created == {"k": 1}
    assert oracle(sn) == {"alerts_created": 1, "stale_events": 0, "stale_reopenings": 0}


def test_alarm_older_than_its_clear_reopens_as_stale(sn: ServiceNowEmulator, http: requests.Session) -> None:
    # The ALARM delivered late (after its Clear), within the active interval.
    send(http, sn, alarm("12:00:00"), clear("12:00:10"), alarm("12:00:05"))
    alert = sn.alerts["k"]
    assert (alert.state, alert.reopened_count) == ("Open", 1)
    assert (alert.stale_events, alert.stale_reopenings) == (1, 1)
    assert alert.newest_time_of_event == at("12:00:10")  # the newest applied, not the last
    assert oracle(sn) == {"alerts_created": 1, "stale_events": 1, "stale_reopenings": 1}
    served = http.get(sn.url + STATS, timeout=5).json()
    assert {name: served[name] for name in oracle(sn)} == oracle(sn)

    (row,) = http.get(sn.url + ALERTS, auth=AUTH, timeout=5).json()["result"]
    assert (row["state"], row["reopened_count"]) == ("Open", 1)
    assert (row["stale_events"], row["stale_reopenings"]) == (1, 1)
    assert row["newest_time_of_event"] == at("12:00:10")
    stale_only = {"sysparm_query": "stale_reopenings!=0", "sysparm_fields": "message_key"}
    stale_rows = http.get(sn.url + ALERTS, params=stale_only, auth=AUTH, timeout=5).json()["result"]
    assert stale_rows == [{"message_key": "k"}]


def test_stale_events_on_an_open_alert(sn: ServiceNowEmulator, http: requests.Session) -> None:
    send(
        http,
        sn,
        alarm("12:00:10"),
        alarm("12:00:10"),  # the same event again: not stale
        alarm("12:00:05"),  # older: stale, though the alert is open
        alarm(None),  # no time_of_event: never judged
        {**alarm("12:00:00"), "time_of_event": "yesterday"},  # not yyyy-MM-dd HH:mm:ss either
        clear("12:00:01"),  # a stale Clear closes the alert all the same
    )
    alert = sn.alerts["k"]
    assert (alert.state, alert.event_count, alert.reopened_count) == ("Closed", 6, 0)
    assert (alert.stale_events, alert.stale_reopenings) == (2, 0)
    assert alert.newest_time_of_event == at("12:00:10")
    # a Clear that finds no open alert is not applied: not counted, even when stale
    send(http, sn, clear("12:00:00"))
    assert oracle(sn) == {"alerts_created": 1, "stale_events": 2, "stale_reopenings": 0}


def test_clear_of_a_closed_alert_is_remembered(sn: ServiceNowEmulator, http: requests.Session) -> None:
    send(http, sn, alarm("12:00:00"), clear("12:00:10"), clear("12:00:30"), alarm("12:00:20"))
    alert = sn.alerts["k"]
    assert (alert.state, alert.event_count, alert.reopened_count) == ("Open", 3, 1)
    # older than the second Clear (received, not applied), newer than the one that closed it
    assert (alert.stale_events, alert.stale_reopenings) == (1, 0)


@pytest.mark.parametrize(("elapsed", "reopened"), [(3600.0, True), (3600.5, False)])
def test_active_interval_boundary(
    sn: ServiceNowEmulator, http: requests.Session, clock: FakeClock, elapsed: float, reopened: bool
) -> None:
    send(http, sn, alarm("12:00:00"), clear("12:00:10"))
    clock.now += elapsed
    send(http, sn, alarm("13:00:20"))
    alert = sn.alerts["k"]
    assert alert.state == "Open"
    assert alert.reopened_count == (1 if reopened else 0)
    assert sn.alerts_created == {"k": 1 if reopened else 2}


def test_after_active_interval_a_new_alert_is_created(
    sn: ServiceNowEmulator, http: requests.Session, clock: FakeClock
) -> None:
    send(http, sn, alarm("12:00:00", severity="1"), alarm("12:00:01", key="other"), clear("12:00:10"))
    clock.now += 3601
    new = alarm("13:00:20", severity="3")
    send(http, sn, new)
    alert = sn.alerts["k"]
    assert (alert.state, alert.severity, alert.event_count, alert.reopened_count) == ("Open", "3", 1, 0)
    assert alert.first_event == alert.last_event == new
    assert (alert.stale_events, alert.stale_reopenings) == (0, 0)
    assert alert.newest_time_of_event == at("13:00:20")
    assert list(sn.alerts) == ["k", "other"]  # replaced in place: one current alert per key
    assert sn.alerts_created == {"k": 2, "other": 1}
    assert sn.alert_states() == {"k": "Open", "other": "Open"}
    assert oracle(sn) == {"alerts_created": 3, "stale_events": 0, "stale_reopenings": 0}
    rows = http.get(sn.url + ALERTS, params={"sysparm_query": "message_key=k"}, auth=AUTH, timeout=5)
    assert [(r["event_count"], r["reopened_count"]) for r in rows.json()["result"]] == [(1, 0)]

    # the new alert closes and reopens like the first one
    send(http, sn, clear("13:00:30"), alarm("13:00:40"))
    assert (sn.alerts["k"].reopened_count, sn.alerts_created["k"]) == (1, 2)


def test_late_alarm_after_active_interval_is_stale_not_a_reopening(
    sn: ServiceNowEmulator, http: requests.Session
) -> None:
    sn.active_interval_seconds = 0  # any later event is past the interval
    send(http, sn, alarm("12:00:00"), clear("12:00:10"), alarm("12:00:00"))  # e.g. a redrive
    alert = sn.alerts["k"]
    assert (alert.state, alert.event_count, alert.reopened_count) == ("Open", 1, 0)
    assert (alert.stale_events, alert.stale_reopenings) == (1, 0)
    assert oracle(sn) == {"alerts_created": 2, "stale_events": 1, "stale_reopenings": 0}


def test_totals_keep_replaced_alerts(sn: ServiceNowEmulator, http: requests.Session, clock: FakeClock) -> None:
    send(http, sn, alarm("12:00:00"), clear("12:00:10"), alarm("12:00:05"), clear("12:00:20"))
    assert oracle(sn) == {"alerts_created": 1, "stale_events": 1, "stale_reopenings": 1}
    clock.now += 7200
    send(http, sn, alarm("14:00:00"))
    assert (sn.alerts["k"].stale_events, sn.alerts["k"].stale_reopenings) == (0, 0)
    assert oracle(sn) == {"alerts_created": 2, "stale_events": 1, "stale_reopenings": 1}


def test_reset_forgets_alert_history(sn: ServiceNowEmulator, http: requests.Session) -> None:
    sn.active_interval_seconds = 0
    send(http, sn, alarm("12:00:00"), clear("12:00:10"), alarm("12:00:05"), clear("12:00:30"))
    assert oracle(sn) == {"alerts_created": 2, "stale_events": 1, "stale_reopenings": 0}
    sn.reset()
    assert (sn.alerts, sn.alerts_created, sn.alert_states()) == ({}, {}, {})
    assert oracle(sn) == {"alerts_created": 0, "stale_events": 0, "stale_reopenings": 0}
    assert sn.active_interval_seconds == 0  # a setting, like max_content_length: kept
    # the newest time seen for the key is forgotten too
    send(http, sn, alarm("12:00:01"))
    assert sn.alerts["k"].stale_events == 0
    assert sn.alerts_created == {"k": 1}


def test_401_without_auth(sn: ServiceNowEmulator, http: requests.Session) -> None:
    response = post_events(http, sn, [{"severity": "1"}], auth=None)
    assert response.status_code == 401
    assert response.json() == UNAUTHENTICATED
    assert "realm" in response.headers["WWW-Authenticate"]
    assert sn.events == []


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Basic " + "c3ZjOndyb25n"},  # svc:wrong
        {"Authorization": "Basic !!notbase64"},
        {"Authorization": "Bearer no-such-token"},
        {"Authorization": "Digest whatever"},
    ],
)
def test_401_with_wrong_auth(sn: ServiceNowEmulator, http: requests.Session, headers: dict[str, str]) -> None:
    response = post_events(http, sn, [{"severity": "1"}], auth=None, headers=headers)
    assert response.status_code == 401
    assert response.json() == UNAUTHENTICATED
    assert sn.requests[0].headers["Authorization"] == "<redacted>"


def test_password_rotation(sn: ServiceNowEmulator, http: requests.Session) -> None:
    sn.set_password("svc", "new-secret")
    assert post_events(http, sn, [{"severity": "1"}]).status_code == 401
    response = post_events(http, sn, [{"severity": "1"}], auth=("svc", "new-secret"))
    assert response.status_code == 200


def test_403_without_role(sn: ServiceNowEmulator, http: requests.Session) -> None:
    response = post_events(http, sn, [{"severity": "1"}], auth=("reader", "pw"))
    assert response.status_code == 403
    body = response.json()
    assert body["status"] == "failure"
    assert body["error"]["message"] == "User Not Authorized"
    assert sn.events == []
    assert sn.requests[0].user == "reader"


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ([1, 2], "body"),
        ({"events": []}, "records"),
        ({"records": {"severity": "1"}}, "records"),
        ({"records": []}, "records"),
        ({"records": [{"severity": "1"}, "oops"]}, "records[1]"),
        ({"records": [{"severity": "1"}, {"severity": 1}]}, "records[1].severity"),
        ({"records": [{"node": None}]}, "records[0].node"),
        ({"records": [{"severity": "1", "additional_info": {"a": "b"}}]}, "records[0].additional_info"),
        ({"records": [{"severity": "7"}]}, "records[0].severity"),
        ({"records": [{"severity": ""}]}, "records[0].severity"),
    ],
)
def test_400_validation(sn: ServiceNowEmulator, http: requests.Session, payload: object, expected: str) -> None:
    response = http.post(sn.url + EVENTS, json=payload, auth=AUTH, timeout=5)
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == "failure"
    assert body["error"]["message"].startswith(expected)
    assert sn.events == []
    assert sn.alerts == {}


def test_400_messages_are_specific(sn: ServiceNowEmulator, http: requests.Session) -> None:
    payload = {"records": [{"severity": "1"}, {"severity": 1}]}
    response = http.post(sn.url + EVENTS, json=payload, auth=AUTH, timeout=5)
    assert response.json()["error"]["message"] == "records[1].severity: value must be a string"


def test_400_invalid_json(sn: ServiceNowEmulator, http: requests.Session) -> None:
    response = http.post(
        sn.url + EVENTS,
        data=b'{"records": [',
        headers={"Content-Type": "application/json"},
        auth=AUTH,
        timeout=5,
    )
    assert response.status_code == 400
    assert response.json()["error"]["detail"] == "The payload is not valid JSON."


def test_400_body_too_large_keeps_connection(sn: ServiceNowEmulator, http: requests.Session) -> None:
    sn.max_content_length = 1000
    big = [{"severity": "1", "description": "x" * 2000}]
    response = post_events(http, sn, big)
    assert response.status_code == 400
    assert "too large" in response.json()["error"]["message"]
    assert sn.events == []
    # the oversized body was drained: the same connection still works
    assert post_events(http, sn, [{"severity": "1"}]).status_code == 200
    assert sn.connections_opened == 1


def test_415_wrong_content_type(sn: ServiceNowEmulator, http: requests.Session) -> None:
    response = http.post(
        sn.url + EVENTS,
        data='{"records": [{"severity": "1"}]}',
        headers={"Content-Type": "text/plain"},
        auth=AUTH,
        timeout=5,
    )
    assert response.status_code == 415
    assert response.json()["status"] == "failure"
    assert sn.events == []


def test_json_content_type_with_charset_is_accepted(sn: ServiceNowEmulator, http: requests.Session) -> None:
    response = http.post(
        sn.url + EVENTS,
        data=b'{"records": [{"severity": "1"}]}',
        headers={"Content-Type": "application/json; charset=utf-8"},
        auth=AUTH,
        timeout=5,
    )
    assert response.status_code == 200


def test_404_and_405(sn: ServiceNowEmulator, http: requests.Session) -> None:
    response = http.get(sn.url + "/api/now/nothing", auth=AUTH, timeout=5)
    assert response.status_code == 404
    assert response.json() == {
        "error": {"message": "Requested URI does not represent any resource", "detail": None},
        "status": "failure",
    }
    assert http.get(sn.url + EVENTS, auth=AUTH, timeout=5).status_code == 405
    assert http.post(sn.url + SYS_CHOICE, auth=AUTH, timeout=5).status_code == 405
    assert http.get(sn.url + TOKEN, timeout=5).status_code == 405


# ------------------------------------------------------------------------ framing


def raw_exchange(sn: ServiceNowEmulator, request: bytes) -> tuple[str, dict[str, str], bytes]:
    """Send raw bytes; (status line, headers, body) of the answer, read until the close."""
    with socket.create_connection(("127.0.0.1", sn.port), timeout=5) as raw:
        raw.sendall(request)
        data = b""
        while chunk := raw.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    return status, headers, body


def test_chunked_body_and_query(sn: ServiceNowEmulator, http: requests.Session) -> None:
    body = b'{"records": [{"source": "AWS", "severity": "3"}]}'
    response = http.post(
        sn.url + EVENTS + "?a=1",
        data=iter([body[:10], body[10:]]),  # a generator body is sent chunked
        headers={"Content-Type": "application/json"},
        auth=AUTH,
        timeout=5,
    )
    assert response.status_code == 200, response.text
    (request,) = sn.requests
    assert request.headers["Transfer-Encoding"] == "chunked"
    assert (request.query, request.body) == ("a=1", body)
    assert sn.events == [{"source": "AWS", "severity": "3"}]


def test_chunked_body_too_large_keeps_connection(sn: ServiceNowEmulator, http: requests.Session) -> None:
    sn.max_content_length = 1000
    chunks = [b'{"records": [{"severity": "1", "description": "', b"x" * 2000, b'"}]}']
    response = http.post(
        sn.url + EVENTS, data=iter(chunks), headers={"Content-Type": "application/json"}, auth=AUTH, timeout=5
    )
    assert response.status_code == 400
    assert "too large" in response.json()["error"]["message"]
    assert post_events(http, sn, [{"severity": "1"}]).status_code == 200
    assert sn.connections_opened == 1


@pytest.mark.parametrize(
    ("request_bytes", "status", "message"),
    [
        (b"NONSENSE\r\n\r\n", "400", "Bad request syntax"),
        (b"POST /api/global/em/jsonv2 HTTP/1.1\r\nContent-Length: -5\r\n\r\n", "400", "Invalid Content-Length"),
        (
            b"POST /api/global/em/jsonv2 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "400",
            "Malformed chunked body",
        ),
        (
            b"POST /api/global/em/jsonv2 HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            "501",
            "Unsupported Transfer-Encoding",
        ),
    ],
)
def test_unreadable_requests_get_servicenow_errors_and_a_close(
    sn: ServiceNowEmulator, request_bytes: bytes, status: str, message: str
) -> None:
    status_line, headers, body = raw_exchange(sn, request_bytes)
    assert status_line.split(" ")[1] == status
    assert headers["Connection"] == "close"
    assert headers["Server"] == "ServiceNow"
    error = json.loads(body)
    assert error["status"] == "failure"
    assert error["error"]["message"].startswith(message)
    assert sn.events == []


# ------------------------------------------------------------------------- faults


def test_injected_status_fault_with_count(sn: ServiceNowEmulator, http: requests.Session) -> None:
    sn.inject_fault(503, count=2)
    first = post_events(http, sn, [{"severity": "1"}], auth=None)  # before auth
    second = post_events(http, sn, [{"severity": "1"}])
    third = post_events(http, sn, [{"severity": "1"}])
    assert [first.status_code, second.status_code, third.status_code] == [503, 503, 200]
    assert first.json()["status"] == "failure"
    assert set(first.json()["error"]) == {"message", "detail"}
    assert "Retry-After" not in first.headers
    assert len(sn.events) == 1
    assert [r.status for r in sn.requests] == [503, 503, 200]


def test_injected_fault_retry_after_and_body(sn: ServiceNowEmulator, http: requests.Session) -> None:
    sn.inject_fault(429, retry_after=7)
    sn.inject_fault(200, body={"unexpected": True})
    sn.inject_fault(502, body="<html>Bad gateway</html>")
    limited = post_events(http, sn, [{"severity": "1"}])
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "7"
    odd = post_events(http, sn, [{"severity": "1"}])
    assert (odd.status_code, odd.json()) == (200, {"unexpected": True})
    html = post_events(http, sn, [{"severity": "1"}])
    assert html.status_code == 502
    assert html.headers["Content-Type"].startswith("text/html")
    assert html.text == "<html>Bad gateway</html>"
    assert sn.events == []


def test_fault_only_hits_its_path(sn: ServiceNowEmulator, http: requests.Session) -> None:
    sn.inject_fault(500, path=SYS_CHOICE)
    assert post_events(http, sn, [{"severity": "1"}]).status_code == 200
    assert http.get(sn.url + SYS_CHOICE, auth=AUTH, timeout=5).status_code == 500
    assert http.get(sn.url + SYS_CHOICE, auth=AUTH, timeout=5).status_code == 200


def test_clear_faults(sn: ServiceNowEmulator, http: requests.Session) -> None:
    sn.inject_fault(500, count=5)
    sn.inject_disconnect(count=5)
    sn.clear_faults()
    assert post_events(http, sn, [{"severity": "1"}]).status_code == 200


def test_injected_delay(sn: ServiceNowEmulator, http: requests.Session) -> None:
    sn.inject_delay(0.3)
    started = time.perf_counter()
    assert post_events(http, sn, [{"severity": "1"}]).status_code == 200
    assert time.perf_counter() - started >= 0.3
    started = time.perf_counter()
    assert post_events(http, sn, [{"severity": "1"}]).status_code == 200
    assert time.perf_counter() - started < 0.3


def test_injected_delay_triggers_client_timeout(sn: ServiceNowEmulator, http: requests.Session) -> None:
    sn.inject_delay(0.5)
    with pytest.raises(requests.Timeout):
        http.post(sn.url + EVENTS, json={"records": [{"severity": "1"}]}, auth=AUTH, timeout=0.1)


def test_injected_disconnect(sn: ServiceNowEmulator, http: requests.Session) -> None:
    sn.inject_disconnect()
    with pytest.raises(requests.ConnectionError):
        post_events(http, sn, [{"severity": "1"}])
    assert sn.events == []
    assert sn.requests[0].status == 0
    assert post_events(http, sn, [{"severity": "1"}]).status_code == 200
    assert len(sn.events) == 1


def test_disconnect_on_reused_connection(sn: ServiceNowEmulator, http: requests.Session) -> None:
    assert post_events(http, sn, [{"severity": "1"}]).status_code == 200
    sn.inject_disconnect()
    with pytest.raises(requests.ConnectionError):
        post_events(http, sn, [{"severity": "1"}])


# --------------------------------------------------------------------- rate limit


def test_rate_limit(sn: ServiceNowEmulator, http: requests.Session) -> None:
    sn.set_rate_limit("svc", 2)
    before = int(time.time())
    responses = [post_events(http, sn, [{"severity": "1"}]) for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 429]
    for response in responses:
        assert response.headers["X-RateLimit-Limit"] == "2"
        assert int(response.headers["X-RateLimit-Reset"]) >= before + 3500
        assert response.headers["X-RateLimit-Rule"]
        assert "X-RateLimit-Remaining" not in response.headers
    denied = responses[2]
    assert 0 < int(denied.headers["Retry-After"]) <= 3600
    body = denied.json()
    assert body["error"]["message"] == "Rate limit exceeded"
    assert body["status"] == "failure"
    assert len(sn.events) == 2

    sn.set_rate_limit("svc", None)
    unlimited = post_events(http, sn, [{"severity": "1"}])
    assert unlimited.status_code == 200
    assert "X-RateLimit-Limit" not in unlimited.headers


# -------------------------------------------------------------------- Table API


def test_sys_choice(sn: ServiceNowEmulator, http: requests.Session) -> None:
    params = {
        "sysparm_query": "name=task^ORname=em_event^element=severity^language=en",
        "sysparm_fields": "label,value,dependent_value,element",
    }
    response = http.get(sn.url + SYS_CHOICE, params=params, auth=AUTH, timeout=5)
    assert response.status_code == 200
    result = response.json()["result"]
    assert [(c["label"], c["value"]) for c in result] == [
        ("Critical", "1"),
        ("Major", "2"),
        ("Minor", "3"),
        ("Warning", "4"),
        ("OK", "5"),
        ("Clear", "0"),
    ]
    assert result[0] == {
        "label": "Critical",
        "value": "1",
        "dependent_value": "",
        "element": "severity",
    }
    fields = {"sysparm_fields": "label,value"}
    narrow = http.get(sn.url + SYS_CHOICE, params=fields, auth=AUTH, timeout=5).json()
    assert narrow["result"][0] == {"label": "Critical", "value": "1"}


def test_sys_choice_needs_role(sn: ServiceNowEmulator, http: requests.Session) -> None:
    sn.add_user("events-only", "pw", roles=["evt_mgmt_integration"])
    response = http.get(sn.url + SYS_CHOICE, auth=("events-only", "pw"), timeout=5)
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "User Not Authorized"
    assert http.get(sn.url + SYS_CHOICE, timeout=5).status_code == 401


def test_inspection_endpoints(sn: ServiceNowEmulator, http: requests.Session) -> None:
    post_events(
        http,
        sn,
        [
            {"message_key": "a", "severity": "1", "node": "n1"},
            {"message_key": "b", "severity": "2", "node": "n2"},
            {"message_key": "a", "severity": "0", "node": "n1"},
        ],
    )
    events = http.get(sn.url + "/api/now/table/em_event", auth=("reader", "pw"), timeout=5)
    assert events.status_code == 200
    assert len(events.json()["result"]) == 3

    query = {"sysparm_query": "message_key=a"}
    only_a = http.get(sn.url + "/api/now/table/em_event", params=query, auth=AUTH, timeout=5)
    assert [e["severity"] for e in only_a.json()["result"]] == ["1", "0"]

    alerts = http.get(sn.url + "/api/now/table/em_alert", params=query, auth=AUTH, timeout=5)
    (alert,) = alerts.json()["result"]
    assert alert["message_key"] == "a"
    assert alert["state"] == "Closed"
    assert alert["event_count"] == 2
    assert alert["first_event"]["severity"] == "1"

    all_alerts = http.get(sn.url + "/api/now/table/em_alert", auth=AUTH, timeout=5)
    assert {a["message_key"] for a in all_alerts.json()["result"]} == {"a", "b"}
    assert http.get(sn.url + "/api/now/table/em_alert", timeout=5).status_code == 401


# -------------------------------------------------------------- connection reuse


def test_keep_alive_reuses_one_connection(sn: ServiceNowEmulator, http: requests.Session) -> None:
    for _ in range(5):
        assert post_events(http, sn, [{"severity": "1"}]).status_code == 200
    assert sn.connections_opened == 1


def test_keep_alive_has_no_nagle_stall(sn: ServiceNowEmulator, http: requests.Session) -> None:
    post_events(http, sn, [{"severity": "1"}])
    started = time.perf_counter()
    for _ in range(30):
        post_events(http, sn, [{"severity": "1"}])
    # a header/body split would cost ~40 ms per request (1.2 s here)
    assert time.perf_counter() - started < 0.8
    assert sn.connections_opened == 1


def test_separate_clients_open_separate_connections(sn: ServiceNowEmulator) -> None:
    for _ in range(3):
        with requests.Session() as session:
            session.trust_env = False
            session.post(sn.url + EVENTS, json={"records": [{"severity": "1"}]}, auth=AUTH)
    assert sn.connections_opened == 3


def test_concurrent_posts(sn: ServiceNowEmulator) -> None:
    def worker(index: int) -> None:
        with requests.Session() as session:
            session.trust_env = False
            for j in range(5):
                record = {"message_key": f"k{index}", "severity": "1", "n": str(j)}
                response = session.post(sn.url + EVENTS, json={"records": [record]}, auth=AUTH, timeout=5)
                assert response.status_code == 200

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(sn.events) == 40
    assert {key: alert.event_count for key, alert in sn.alerts.items()} == {f"k{i}": 5 for i in range(8)}


def test_reset_keeps_users(sn: ServiceNowEmulator, http: requests.Session) -> None:
    post_events(http, sn, [{"message_key": "k", "severity": "1"}])
    sn.inject_fault(500)
    sn.set_rate_limit("svc", 0)
    sn.reset()
    assert (sn.events, sn.alerts, sn.requests) == ([], {}, [])
    assert sn.connections_opened == 0
    assert post_events(http, sn, [{"severity": "1"}]).status_code == 200
    assert sn.count("POST", EVENTS) == 1


def test_stop_closes_idle_keep_alive_connections(http: requests.Session) -> None:
    emulator = ServiceNowEmulator().start()
    emulator.add_user("svc", "secret")
    url = emulator.url
    assert post_events(http, emulator, [{"severity": "1"}]).status_code == 200
    started = time.perf_counter()
    emulator.stop()
    assert time.perf_counter() - started < 2
    with pytest.raises(requests.ConnectionError):
        http.post(url + EVENTS, json={"records": [{"severity": "1"}]}, auth=AUTH, timeout=2)
    emulator.stop()  # idempotent


# -------------------------------------------------------------------------- OAuth


def test_oauth_token_exchange_and_bearer(
    oauth_sn: ServiceNowEmulator, http: requests.Session, rsa_key: rsa.RSAPrivateKey
) -> None:
    response = exchange(http, oauth_sn, make_jwt(rsa_key))
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "useraccount"
    assert body["expires_in"] == 1800
    token = body["access_token"]
    assert isinstance(token, str)
    assert len(token) >= 32
    assert oauth_sn.token_requests == 1

    bearer = {"Authorization": f"Bearer {token}"}
    ok = post_events(http, oauth_sn, [{"severity": "1"}], auth=None, headers=bearer)
    assert ok.status_code == 200
    assert oauth_sn.requests[-1].user == "svc"
    assert oauth_sn.requests[-1].headers["Authorization"] == "<redacted>"

    oauth_sn.expire_tokens()
    expired = post_events(http, oauth_sn, [{"severity": "1"}], auth=None, headers=bearer)
    assert expired.status_code == 401
    assert expired.json() == UNAUTHENTICATED


def test_oauth_request_is_recorded_without_secrets(
    oauth_sn: ServiceNowEmulator, http: requests.Session, rsa_key: rsa.RSAPrivateKey
) -> None:
    assertion = make_jwt(rsa_key)
    token = exchange(http, oauth_sn, assertion).json()["access_token"]
    (recorded,) = oauth_sn.requests
    assert recorded.path == TOKEN
    assert CLIENT_SECRET.encode() not in recorded.body
    assert assertion.encode() not in recorded.body
    assert token.encode() not in recorded.body
    assert b"client_secret=<redacted>" in recorded.body
    assert b"client_id=client-123" in recorded.body


def test_oauth_with_public_key_and_email_user_field(
    sn: ServiceNowEmulator, http: requests.Session, rsa_key: rsa.RSAPrivateKey
) -> None:
    public_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    sn.add_oauth_client(CLIENT_ID, CLIENT_SECRET, KEY_ID, public_pem, user_field="email", token_lifetime_seconds=60)
    by_name = exchange(http, sn, make_jwt(rsa_key, sub="svc"))
    assert by_name.status_code == 401
    assert by_name.json() == {"error": "invalid_grant", "error_description": "User not found"}
    by_email = exchange(http, sn, make_jwt(rsa_key, sub="svc@example.com"))
    assert by_email.status_code == 200
    assert by_email.json()["expires_in"] == 60


def test_oauth_token_lifetime(
    sn: ServiceNowEmulator, http: requests.Session, rsa_key: rsa.RSAPrivateKey, certificate_pem: bytes
) -> None:
    sn.add_oauth_client(CLIENT_ID, CLIENT_SECRET, KEY_ID, certificate_pem, token_lifetime_seconds=0)
    token = exchange(http, sn, make_jwt(rsa_key)).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    response = post_events(http, sn, [{"severity": "1"}], auth=None, headers=bearer)
    assert response.status_code == 401


ACCESS_DENIED = {"error": "server_error", "error_description": "access_denied"}


def test_oauth_wrong_secret(oauth_sn: ServiceNowEmulator, http: requests.Session, rsa_key: rsa.RSAPrivateKey) -> None:
    response = exchange(http, oauth_sn, make_jwt(rsa_key), client_secret="nope")
    assert (response.status_code, response.json()) == (401, ACCESS_DENIED)


def test_oauth_wrong_kid(oauth_sn: ServiceNowEmulator, http: requests.Session, rsa_key: rsa.RSAPrivateKey) -> None:
    response = exchange(http, oauth_sn, make_jwt(rsa_key, kid="other-kid"))
    assert (response.status_code, response.json()) == (401, ACCESS_DENIED)


def test_oauth_wrong_signature(
    oauth_sn: ServiceNowEmulator, http: requests.Session, other_key: rsa.RSAPrivateKey
) -> None:
    response = exchange(http, oauth_sn, make_jwt(other_key))
    assert (response.status_code, response.json()) == (401, ACCESS_DENIED)


def test_oauth_unknown_sub(oauth_sn: ServiceNowEmulator, http: requests.Session, rsa_key: rsa.RSAPrivateKey) -> None:
    response = exchange(http, oauth_sn, make_jwt(rsa_key, sub="ghost"))
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_grant", "error_description": "User not found"}


def test_oauth_expired_jwt(oauth_sn: ServiceNowEmulator, http: requests.Session, rsa_key: rsa.RSAPrivateKey) -> None:
    stale = make_jwt(rsa_key, exp_in=-400, iat=int(time.time()) - 1000)
    response = exchange(http, oauth_sn, stale)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_grant"
    assert "expired" in response.json()["error_description"]
    # within ServiceNow's 300 s clock skew allowance it is still accepted
    recent = make_jwt(rsa_key, exp_in=-100, iat=int(time.time()) - 200)
    assert exchange(http, oauth_sn, recent).status_code == 200


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"aud": "someone-else"}, "audience"),
        ({"iss": "someone-else"}, "issuer"),
        ({"iat": None}, "iat"),
    ],
)
def test_oauth_bad_claims(
    oauth_sn: ServiceNowEmulator,
    http: requests.Session,
    rsa_key: rsa.RSAPrivateKey,
    overrides: dict[str, Any],
    fragment: str,
) -> None:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": CLIENT_ID,
        "aud": CLIENT_ID,
        "sub": "svc",
        "iat": now,
        "exp": now + 300,
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    assertion = jwt.encode(claims, rsa_key, algorithm="RS256", headers={"kid": KEY_ID})
    response = exchange(http, oauth_sn, assertion)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_grant"
    assert fragment in response.json()["error_description"].lower()


def test_oauth_reused_jti(oauth_sn: ServiceNowEmulator, http: requests.Session, rsa_key: rsa.RSAPrivateKey) -> None:
    assertion = make_jwt(rsa_key, jti="once")
    assert exchange(http, oauth_sn, assertion).status_code == 200
    replay = exchange(http, oauth_sn, assertion)
    assert replay.status_code == 401
    assert replay.json()["error"] == "invalid_grant"
    assert "jti" in replay.json()["error_description"]
    # without a jti (as Kibana sends) the same JWT may be exchanged again
    no_jti = make_jwt(rsa_key, jti=None)
    assert exchange(http, oauth_sn, no_jti).status_code == 200
    assert exchange(http, oauth_sn, no_jti).status_code == 200
    assert oauth_sn.token_requests == 4


def test_oauth_unsupported_grant(
    oauth_sn: ServiceNowEmulator, http: requests.Session, rsa_key: rsa.RSAPrivateKey
) -> None:
    response = exchange(http, oauth_sn, make_jwt(rsa_key), grant_type="password")
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"
    assert oauth_sn.token_requests == 1


def test_oauth_token_cannot_be_used_with_wrong_scheme(
    oauth_sn: ServiceNowEmulator, http: requests.Session, rsa_key: rsa.RSAPrivateKey
) -> None:
    token = exchange(http, oauth_sn, make_jwt(rsa_key)).json()["access_token"]
    response = post_events(http, oauth_sn, [{"severity": "1"}], auth=("svc", token))
    assert response.status_code == 401


def test_add_oauth_client_rejects_bad_input(sn: ServiceNowEmulator, certificate_pem: bytes) -> None:
    with pytest.raises(ValueError, match="user_field"):
        sn.add_oauth_client(CLIENT_ID, CLIENT_SECRET, KEY_ID, certificate_pem, user_field="x")
    with pytest.raises(ValueError, match="certificate_pem"):
        sn.add_oauth_client(CLIENT_ID, CLIENT_SECRET, KEY_ID, b"not a pem")


# ---------------------------------------------------------------------------- CLI


def test_cli_serves_until_terminated() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "local.emulator", "--port", "0", "--user", "svc:secret"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        with requests.Session() as session:
            session.trust_env = False
            response = session.post(url + EVENTS, json={"records": [{"severity": "1"}]}, auth=AUTH, timeout=5)
            assert response.status_code == 200
            assert response.json()["result"]["Default Bulk Endpoint"] == "1 events were inserted"
            assert session.post(url + EVENTS, json={"records": []}, timeout=5).status_code == 401
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=5)
    assert process.returncode == 0
    assert "secret" not in stderr


def test_cli_active_interval() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "local.emulator", "--port", "0", "--user", "svc:secret", "--active-interval", "0"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        with requests.Session() as session:
            session.trust_env = False
            for severity in ("2", "0", "2"):
                record = {"message_key": "k", "severity": severity}
                session.post(url + EVENTS, json={"records": [record]}, auth=AUTH, timeout=5).raise_for_status()
            stats = session.get(url + "/_emulator/stats", timeout=5).json()
    finally:
        process.terminate()
        process.communicate(timeout=5)
    assert stats["alerts_created"] == 2  # closed, then past a zero interval: a new alert
    assert process.returncode == 0
