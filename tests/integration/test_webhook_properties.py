"""A property of the webhook routes: for arbitrary bodies and headers every answer is a
documented one, and a body in the route's format with valid credentials is never answered
4xx (Alertmanager drops a 4xx for good, Grafana never retries anything)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local.stack import LocalStack
from tests.events import basic_headers, bearer_headers, grafana_signature_headers, http_event, rest_event

DOCUMENTED = {200, 202, 400, 401, 415}  # 503 only when the DLQ or the ingest secret fails
SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
ALERT_KEYS = st.sampled_from(
    ["status", "labels", "annotations", "startsAt", "endsAt", "fingerprint", "values", "valueString", "generatorURL"]
)
ALERTS = st.lists(
    st.dictionaries(ALERT_KEYS, st.sampled_from(["firing", "resolved"]) | JSON_VALUES, max_size=6) | JSON_VALUES,
    max_size=4,
)
IN_FORMAT = st.fixed_dictionaries(
    {"status": st.sampled_from(["firing", "resolved"]) | JSON_VALUES, "alerts": ALERTS},
    optional={"version": st.sampled_from(["1", "4"]), "orgId": st.integers(), "externalURL": st.text(max_size=20)},
)
ANY_BODY = st.binary(max_size=64).map(lambda raw: raw.decode("utf-8", "replace")) | JSON_VALUES.map(json.dumps)
JUNK_HEADERS = st.dictionaries(
    st.sampled_from(["Authorization", "X-Grafana-Alerting-Signature", "X-Grafana-Alerting-Timestamp", "Content-Type"]),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
    max_size=3,
)


def _valid_headers(stack: LocalStack, kind: str, body: str) -> dict[str, str]:
    if kind == "bearer":
        return bearer_headers(stack.bearer_token)
    if kind == "basic":
        return basic_headers(stack.basic_username, stack.basic_password)
    return grafana_signature_headers(stack.grafana_hmac_secret, body.encode(), stack.grafana_timestamp_header)


def _invoke(stack: LocalStack, path: str, body: str, headers: dict[str, str], v2: bool) -> int:
    build: Any = http_event if v2 else rest_event
    event = build(path, body, headers=headers) if v2 else build(path, body, headers=headers, api_key=False)
    return int(stack.invoke(event)["statusCode"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=st.sampled_from(["/alertmanager", "/grafana"]),
    payload=IN_FORMAT,
    kind=st.sampled_from(["bearer", "basic", "hmac"]),
    v2=st.booleans(),
)
def test_a_body_in_the_routes_format_with_valid_credentials_is_never_4xx(
    stack: LocalStack, path: str, payload: dict[str, Any], kind: str, v2: bool
) -> None:
    if kind == "hmac" and path != "/grafana":
        kind = "bearer"
    body = json.dumps(payload)
    status = _invoke(stack, path, body, _valid_headers(stack, kind, body), v2)
    assert status in (200, 202), (status, body)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=st.sampled_from(["/alertmanager", "/grafana"]),
    body=ANY_BODY | IN_FORMAT.map(json.dumps),
    headers=JUNK_HEADERS,
    valid=st.sampled_from([None, "bearer", "basic", "hmac"]),
    v2=st.booleans(),
)
def test_any_request_gets_a_documented_answer(  # noqa: PLR0917 - hypothesis passes each strategy by name
    stack: LocalStack, path: str, body: str, headers: dict[str, str], valid: str | None, v2: bool
) -> None:
    if valid is not None:
        headers = {**headers, **_valid_headers(stack, valid, body)}
    status = _invoke(stack, path, body, headers, v2)
    assert status in DOCUMENTED, (status, body, sorted(headers))
    if valid is None or (valid == "hmac" and path != "/grafana"):
        assert status == 401  # no random header is a credential
