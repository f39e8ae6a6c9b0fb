"""What a request presents, checked against the webhook credentials: each kind accepted,
and every way of getting it wrong refused with its problem."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

from hypothesis import given
from hypothesis import strategies as st

from itom_forwarder.webhook_auth import (
    REPLAY_WINDOW_SECONDS,
    Method,
    Problem,
    Verdict,
    parse_credentials,
    verify,
)

NOW = 1_796_000_000.0
BODY = b'{"status":"firing","alerts":[{"status":"firing","labels":{"alertname":"x"}}]}'
CREDENTIALS = parse_credentials(
    {
        "bearer_tokens": ["old-token", "new-token"],
        "basic_credentials": [{"username": "alertmanager", "password": "pass:word"}],
        "grafana_hmac_secret": "hmac-secret",
    }
)
TIMESTAMPED = parse_credentials({"grafana_hmac_secret": "hmac-secret", "grafana_hmac_timestamp_header": "X-Ts"})
WEBHOOK = frozenset({Method.BEARER, Method.BASIC})
GRAFANA = WEBHOOK | {Method.GRAFANA_HMAC}


def check(
    headers: Mapping[str, str], methods: frozenset[Method] = GRAFANA, credentials=CREDENTIALS, body=BODY, now=NOW
) -> Verdict:
    lowered = {name.lower(): value for name, value in headers.items()}
    return verify(lambda name: lowered.get(name.lower()), body, credentials, methods, now)


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def signature(secret: str, body: bytes, timestamp: str | None = None) -> str:
    signed = f"{timestamp}:".encode() + body if timestamp is not None else body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def test_each_bearer_token_of_the_list_is_accepted_while_both_are_in_it() -> None:
    for token in ("old-token", "new-token"):
        assert check({"Authorization": f"Bearer {token}"}) == Verdict(Method.BEARER)
    assert check({"authorization": "bearer new-token"}).accepted  # the scheme is case-insensitive


def test_a_wrong_or_rotated_out_bearer_token_is_a_mismatch() -> None:
    assert check({"Authorization": "Bearer older-token"}) == Verdict(Method.BEARER, Problem.MISMATCH)
    assert check({"Authorization": "Bearer "}) == Verdict(Method.BEARER, Problem.MISMATCH)
    assert check({"Authorization": "Bearer new-tokenX"}).problem is Problem.MISMATCH


def test_basic_credentials() -> None:
    assert check(basic("alertmanager", "pass:word")) == Verdict(Method.BASIC)  # a ':' in the password is kept
    assert check(basic("alertmanager", "pass")).problem is Problem.MISMATCH
    assert check(basic("grafana", "pass:word")).problem is Problem.MISMATCH
    assert check({"Authorization": "Basic not-base64!"}).problem is Problem.MALFORMED
    assert check({"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()}).problem is Problem.MALFORMED


def test_a_scheme_the_route_does_not_take_is_refused() -> None:
    assert check({"Authorization": "Digest abc"}).problem is Problem.MALFORMED
    only_bearer = frozenset({Method.BEARER})
    assert check(basic("alertmanager", "pass:word"), only_bearer).problem is Problem.MALFORMED


def test_nothing_presented_is_missing() -> None:
    assert check({}) == Verdict(None, Problem.MISSING)
    # A signature on a route that takes none is not a credential there.
    assert check({"X-Grafana-Alerting-Signature": signature("hmac-secret", BODY)}, WEBHOOK).problem is Problem.MISSING


def test_a_kind_the_secret_holds_none_of_is_not_configured() -> None:
    assert check({"Authorization": "Bearer x"}, credentials=TIMESTAMPED).problem is Problem.NOT_CONFIGURED


def test_a_grafana_signature_of_the_body() -> None:
    for header in ("X-Grafana-Alerting-Signature", "X-Grafana-Alert-Signature"):
        assert check({header: signature("hmac-secret", BODY)}) == Verdict(Method.GRAFANA_HMAC)
    assert check({"X-Grafana-Alerting-Signature": signature("hmac-secret", BODY).upper()}).accepted


def test_a_tampered_body_or_another_secret_does_not_match() -> None:
    sent = signature("hmac-secret", BODY)
    assert check({"X-Grafana-Alerting-Signature": sent}, body=BODY.replace(b"firing", b"resolved")).problem is (
        Problem.MISMATCH
    )
    assert check({"X-Grafana-Alerting-Signature": signature("other", BODY)}).problem is Problem.MISMATCH


def test_a_valid_login_does_not_excuse_a_signature_that_does_not_match() -> None:
    headers = {**basic("alertmanager", "pass:word"), "X-Grafana-Alerting-Signature": signature("x", BODY)}
    assert check(headers).problem is Problem.MISMATCH
    headers["X-Grafana-Alerting-Signature"] = signature("hmac-secret", BODY)
    assert check(headers).accepted


def test_a_timestamped_signature_within_the_replay_window() -> None:
    for age in (0, REPLAY_WINDOW_SECONDS, -REPLAY_WINDOW_SECONDS):
        stamp = str(int(NOW) - age)
        headers = {"X-Ts": stamp, "X-Grafana-Alerting-Signature": signature("hmac-secret", BODY, stamp)}
        assert check(headers, credentials=TIMESTAMPED) == Verdict(Method.GRAFANA_HMAC), age


def test_a_stale_future_missing_or_unsigned_timestamp_is_refused() -> None:
    for stamp in (str(int(NOW) - REPLAY_WINDOW_SECONDS - 1), str(int(NOW) + REPLAY_WINDOW_SECONDS + 1), "soon", ""):
        headers = {"X-Ts": stamp, "X-Grafana-Alerting-Signature": signature("hmac-secret", BODY, stamp)}
        assert check(headers, credentials=TIMESTAMPED).problem is Problem.STALE, stamp
    # The body's signature alone, without the timestamp, is refused when one is configured.
    headers = {"X-Ts": str(int(NOW)), "X-Grafana-Alerting-Signature": signature("hmac-secret", BODY)}
    assert check(headers, credentials=TIMESTAMPED).problem is Problem.MISMATCH
    # A signature for another moment than the header says does not match.
    headers = {"X-Ts": str(int(NOW)), "X-Grafana-Alerting-Signature": signature("hmac-secret", BODY, str(int(NOW) - 1))}
    assert check(headers, credentials=TIMESTAMPED).problem is Problem.MISMATCH


@given(
    headers=st.dictionaries(
        st.sampled_from(["Authorization", "X-Grafana-Alerting-Signature", "X-Ts", "X-Other"]), st.text(max_size=60)
    ),
    body=st.binary(max_size=200),
)
def test_any_headers_and_body_get_a_verdict_never_an_error(headers: dict[str, str], body: bytes) -> None:
    for credentials in (CREDENTIALS, TIMESTAMPED, parse_credentials({})):
        verdict = check(headers, credentials=credentials, body=body)
        assert verdict.accepted is (verdict.problem is None)
        assert not verdict.accepted  # nothing random guesses a credential
