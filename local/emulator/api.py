"""The emulated instance's HTTP API: a WSGI application on werkzeug's Request and Response.

* ``POST /api/global/em/jsonv2``: the Event Management event API (basic or bearer auth,
  role ``evt_mgmt_integration``, per-user hourly rate limits, payload validation).
* ``GET /api/now/table/sys_choice``: the severity choice list (role ``personalize_choices``).
* ``GET /api/now/table/em_event`` and ``/api/now/table/em_alert``: what was received.
* ``POST /oauth_token.do``: the OAuth 2.0 JWT bearer grant, verified with PyJWT.
* ``GET /_emulator/stats``: not ServiceNow; counters for a benchmark in another process.

Errors have ServiceNow's shape: ``{"error": {"message", "detail"}, "status": "failure"}``.
"""

from __future__ import annotations

import contextlib
import gzip
import hmac
import http
import json
import socket
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import parse_qs, parse_qsl, urlencode

from werkzeug.exceptions import ClientDisconnected
from werkzeug.wrappers import Request, Response

from local.emulator.state import (
    CHOICES_ROLE,
    EM_ALERT_PATH,
    EM_EVENT_PATH,
    EVENT_PATH,
    EVENT_ROLE,
    OAUTH_PATH,
    STATS_PATH,
    SYS_CHOICE_PATH,
    EmulatorState,
    Fault,
    RecordedRequest,
)

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_CLOCK_SKEW_SECONDS = 300  # ServiceNow's default clock-skew allowance
JSON_CONTENT_TYPE = "application/json;charset=UTF-8"
WWW_AUTHENTICATE = 'BASIC realm="Service-now"'
REDACTED = "<redacted>"
_SENSITIVE_FORM_FIELDS = frozenset({"client_secret", "assertion", "password", "refresh_token", "code"})
_NO_STORE = (("Cache-Control", "no-store"), ("Pragma", "no-cache"))

# (label, value) in the order ServiceNow lists them for em_event.severity.
SEVERITY_CHOICES: tuple[tuple[str, str], ...] = (
    ("Critical", "1"),
    ("Major", "2"),
    ("Minor", "3"),
    ("Warning", "4"),
    ("OK", "5"),
    ("Clear", "0"),
)
_VALID_SEVERITIES = frozenset(value for _, value in SEVERITY_CHOICES)

# Bodies larger than this are not even drained: the connection is closed instead.
_DRAIN_LIMIT = 256 * 1024 * 1024
_READ_CHUNK = 64 * 1024


# ------------------------------------------------------------------------ responses


def reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _response(
    status: int,
    body: bytes,
    content_type: str = JSON_CONTENT_TYPE,
    headers: Iterable[tuple[str, str]] = (),
) -> Response:
    return Response(body, status=f"{status} {reason(status)}", headers=list(headers), content_type=content_type)


def _compress(response: Response, accepted: str) -> None:
    """gzip the answer's body when the request accepts it (a streamed fault body is left as is)."""
    codings = {part.split(";")[0].strip().lower() for part in accepted.split(",")}
    if "gzip" not in codings or response.is_streamed:
        return
    data = response.get_data()
    if data:
        response.set_data(gzip.compress(data))
        response.headers["Content-Encoding"] = "gzip"


def _json_response(status: int, payload: object, headers: Iterable[tuple[str, str]] = ()) -> Response:
    return _response(status, json.dumps(payload, separators=(",", ":")).encode("utf-8"), headers=headers)


def error_body(message: str, detail: str | None) -> bytes:
    """A ServiceNow REST error body."""
    payload = {"error": {"message": message, "detail": detail}, "status": "failure"}
    return json.dumps(payload, separators=(",", ":")).encode("utf-8")


def _error(status: int, message: str, detail: str | None, headers: Iterable[tuple[str, str]] = ()) -> Response:
    return _response(status, error_body(message, detail), headers=headers)


def _oauth_error(status: int, error: str, description: str) -> Response:
    return _json_response(status, {"error": error, "error_description": description}, _NO_STORE)


def _not_authenticated() -> Response:
    return _error(
        401,
        "User Not Authenticated",
        "Required to provide Auth information",
        [("WWW-Authenticate", WWW_AUTHENTICATE)],
    )


def _not_authorized(role: str) -> Response:
    return _error(403, "User Not Authorized", f"The user does not have the role required by this API: {role}")


def _fault_response(fault: Fault) -> Response:
    headers: list[tuple[str, str]] = []
    if fault.retry_after is not None:
        headers.append(("Retry-After", str(fault.retry_after)))
    if fault.location is not None:
        headers.append(("Location", fault.location))
        return _response(fault.status, b"", "text/html;charset=UTF-8", headers)
    if fault.body is None:
        message = "Rate limit exceeded" if fault.status == 429 else reason(fault.status)
        return _error(fault.status, message, "Injected fault", headers)
    if isinstance(fault.body, dict):
        return _json_response(fault.status, fault.body, headers)
    text = fault.body
    try:
        json.loads(text)
        content_type = JSON_CONTENT_TYPE
    except ValueError:
        content_type = "text/html;charset=UTF-8" if text.lstrip().startswith("<") else "text/plain;charset=UTF-8"
    return _response(fault.status, text.encode("utf-8"), content_type, headers)


def _slow_body(fault: Fault, environ: WSGIEnvironment) -> Response:
    """An answer whose body comes slowly, or is huge, or breaks off (a reset mid-body)."""

    def body() -> Iterator[bytes]:
        sent = 0
        while sent < fault.size:
            if fault.reset_after is not None and sent >= fault.reset_after:
                _disconnect(environ)
            piece = b"x" * min(fault.chunk, fault.size - sent)
            yield piece
            sent += len(piece)
            if fault.seconds:
                time.sleep(fault.seconds)

    headers = [("Content-Length", str(fault.size))]
    return Response(body(), status=f"{fault.status} {reason(fault.status)}", headers=headers, content_type="text/plain")


# ----------------------------------------------------------------------- requests


class _Unreadable(Exception):
    """A body the emulator cannot read: answered with ``status``, then the connection closes."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class _Call:
    request: Request
    path: str
    body: bytes
    too_large: bool
    user: str | None = None  # set once authenticated

    def param(self, name: str) -> str:
        return self.request.args.get(name, "")


def _declared_length(request: Request) -> int | None:
    """The Content-Length (0 when there is none), or None for a chunked body."""
    encoding = request.headers.get("Transfer-Encoding", "").strip().lower()
    if encoding not in ("", "identity", "chunked"):
        raise _Unreadable(501, "Unsupported Transfer-Encoding")
    if encoding == "chunked":  # werkzeug dechunks the stream of a chunked request itself
        return None
    length = request.headers.get("Content-Length")
    if length is None:
        return 0
    if not length.strip().isdigit():
        raise _Unreadable(400, "Invalid Content-Length")
    return int(length)


def _read_body(request: Request, limit: int) -> tuple[bytes, bool, bool]:
    """(body, too_large, close). A body over ``limit`` is read and dropped so the
    connection stays usable; one over the drain limit closes the connection instead."""
    declared = _declared_length(request)
    if declared == 0:
        return b"", False, False
    if declared is not None and declared > _DRAIN_LIMIT:
        return b"", True, True
    parts: list[bytes] = []
    total = 0
    try:
        while chunk := request.stream.read(_READ_CHUNK):
            total += len(chunk)
            if total > _DRAIN_LIMIT:
                return b"", True, True
            if total <= limit:
                parts.append(chunk)
    except ClientDisconnected:
        raise ConnectionAbortedError("the client went away inside the body") from None
    except (ConnectionError, TimeoutError):
        raise
    except OSError:  # werkzeug's DechunkedInput on a malformed chunk
        raise _Unreadable(400, "Malformed chunked body") from None
    if total > limit:
        return b"", True, False
    return b"".join(parts), False, False


def _redact_form(body: bytes) -> bytes:
    pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    redacted = [(k, REDACTED if k in _SENSITIVE_FORM_FIELDS else v) for k, v in pairs]
    return urlencode(redacted, safe="<>").encode("ascii")


def _disconnect(environ: WSGIEnvironment) -> NoReturn:
    """Close the connection without an answer (werkzeug hands the app its socket)."""
    with contextlib.suppress(OSError):
        environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
    raise ConnectionAbortedError("injected disconnect")


class EmulatorApp:
    """The WSGI application: reads and records each request, applies injected faults,
    then routes it. An injected disconnect raises ConnectionAbortedError to the server."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return self._answer(Request(environ))(environ, start_response)

    def _answer(self, request: Request) -> Response:
        state = self.state
        try:
            body, too_large, close = _read_body(request, state.max_content_length)
        except _Unreadable as error:
            response = _error(error.status, str(error), None)
            response.headers["Connection"] = "close"
            return response
        path = request.path
        record = state.record(
            RecordedRequest(
                method=request.method,
                path=path,
                query=request.query_string.decode("utf-8", "replace"),
                headers={
                    name: REDACTED if name.lower() == "authorization" else value
                    for name, value in request.headers.items()
                },
                body=_redact_form(body) if path == OAUTH_PATH else body,
                user=None,
                status=0,
            )
        )
        call = _Call(request, path, body, too_large)
        if state.take_fault("disconnect", path) is not None:
            _disconnect(request.environ)
        try:
            response = self._route(call)
        except Exception as error:  # an emulator bug: answer 500 and show it
            traceback.print_exc(file=sys.stderr)
            response = _error(500, "Internal emulator error", repr(error))
        state.finish(record, response.status_code, call.user)
        if close:
            response.headers["Connection"] = "close"
        if state.compress_answers:
            _compress(response, request.headers.get("Accept-Encoding", ""))
        return response

    def _route(self, call: _Call) -> Response:
        delay = self.state.take_fault("delay", call.path)
        if delay is not None:
            time.sleep(delay.seconds)
        fault = self.state.take_fault("status", call.path)
        if fault is not None:
            return _fault_response(fault)
        body_fault = self.state.take_fault("body", call.path)
        if body_fault is not None:
            return _slow_body(body_fault, call.request.environ)
        route = _ROUTES.get(call.path)
        if route is None:
            return _error(404, "Requested URI does not represent any resource", None)
        method, handler = route
        if call.request.method != method:
            return _error(
                405,
                "Method not Supported",
                f"Method {call.request.method} is not supported by this resource; use {method}",
                [("Allow", method)],
            )
        return handler(self.state, call)


# ---------------------------------------------------------------------- event API


def _is_json_content_type(value: str) -> bool:
    return value.split(";", 1)[0].strip().lower() == "application/json"


def _validate_records(payload: object) -> str | None:
    """Return what is wrong with an event API payload, or None when it is valid."""
    if not isinstance(payload, dict):
        return "body: must be a JSON object with a 'records' list"
    if "records" not in payload:
        return "records: required field is missing"
    records = payload["records"]
    if not isinstance(records, list):
        return "records: must be a list of event objects"
    if not records:
        return "records: must not be empty"
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            return f"records[{index}]: must be an object"
        for name, value in record.items():
            if not isinstance(value, str):
                return f"records[{index}].{name}: value must be a string"
        severity = record.get("severity")
        if severity is not None and severity not in _VALID_SEVERITIES:
            return f'records[{index}].severity: must be one of "0".."5" (got {json.dumps(severity)})'
    return None


def _post_events(state: EmulatorState, call: _Call) -> Response:
    user = state.authenticate(call.request.headers.get("Authorization", ""))
    if user is None:
        return _not_authenticated()
    call.user = user.username
    if EVENT_ROLE not in user.roles:
        return _not_authorized(EVENT_ROLE)
    rate = state.check_rate_limit(user.username)
    headers = rate.headers
    if not rate.allowed:
        return _error(
            429,
            "Rate limit exceeded",
            f"The rate limit rule for user {user.username} allows "
            f"{rate.limit} requests per hour; retry in {rate.wait_seconds} seconds",
            [("Retry-After", str(rate.wait_seconds)), *headers],
        )
    content_type = call.request.headers.get("Content-Type", "")
    if not _is_json_content_type(content_type):
        return _error(
            415,
            "Unsupported Media Type",
            f"Content-Type {content_type or '(none)'!r} is not supported; use application/json",
            headers,
        )
    if call.too_large:
        return _error(
            400,
            "Request body too large",
            f"The request body exceeds glide.rest.max_content_length ({state.max_content_length} bytes)",
            headers,
        )
    try:
        payload = json.loads(call.body)
    except ValueError:
        return _error(400, "Exception while reading request", "The payload is not valid JSON.", headers)
    problem = _validate_records(payload)
    if problem is not None:
        return _error(400, problem, "Invalid event payload; no events were inserted", headers)
    records: list[dict[str, str]] = payload["records"]
    state.store_events(records)
    return _json_response(200, {"result": {"Default Bulk Endpoint": f"{len(records)} events were inserted"}}, headers)


# ---------------------------------------------------------------------- Table API


def _query_terms(query: str) -> list[list[tuple[str, str, str]]]:
    """Parse an encoded query into AND-ed groups of OR-ed (field, op, value) terms.

    Only ``=`` and ``!=`` are understood; other operators and ORDERBY are ignored.
    """
    groups: list[list[tuple[str, str, str]]] = []
    for raw in query.split("^"):
        term = raw
        if not term or term.startswith("ORDERBY") or term == "EQ":
            continue
        is_or = term.startswith("OR") and bool(groups)
        if is_or:
            term = term[2:]
        op = "!=" if "!=" in term else "=" if "=" in term else None
        if op is None:
            continue
        name, value = term.split(op, 1)
        if is_or:
            groups[-1].append((name, op, value))
        else:
            groups.append([(name, op, value)])
    return groups


def _matches(record: Mapping[str, object], groups: list[list[tuple[str, str, str]]]) -> bool:
    def holds(name: str, op: str, value: str) -> bool:
        actual = record.get(name, "")
        text = "" if actual is None else str(actual)
        return text == value if op == "=" else text != value

    return all(any(holds(*term) for term in group) for group in groups)


def _table(state: EmulatorState, call: _Call) -> Response:
    user = state.authenticate(call.request.headers.get("Authorization", ""))
    if user is None:
        return _not_authenticated()
    call.user = user.username
    rows: list[dict[str, Any]]
    if call.path == SYS_CHOICE_PATH:
        if CHOICES_ROLE not in user.roles:
            return _not_authorized(CHOICES_ROLE)
        # sysparm_query is ignored: only the severity choices exist here.
        rows = [
            {"label": label, "value": value, "dependent_value": "", "element": "severity"}
            for label, value in SEVERITY_CHOICES
        ]
    else:
        groups = _query_terms(call.param("sysparm_query"))
        rows = [row for row in state.table_rows(call.path) if _matches(row, groups)]
    limit = call.param("sysparm_limit")
    if limit.isdigit():
        rows = rows[: int(limit)]
    names = [name.strip() for name in call.param("sysparm_fields").split(",") if name.strip()]
    if names:
        rows = [{name: row.get(name, "") for name in names} for row in rows]
    return _json_response(200, {"result": rows})


# -------------------------------------------------------------------------- OAuth


def _verified_claims(client: Any, assertion: str) -> dict[str, Any] | Response:
    """The assertion's claims, or the refusal ServiceNow answers for the first check it fails."""
    import jwt

    refusals: tuple[tuple[type[Exception], str, str], ...] = (
        (jwt.InvalidSignatureError, "server_error", "access_denied"),
        (jwt.ExpiredSignatureError, "invalid_grant", "JWT has expired"),
        (jwt.InvalidAudienceError, "invalid_grant", "Invalid audience"),
        (jwt.InvalidIssuerError, "invalid_grant", "Invalid issuer"),
        (jwt.ImmatureSignatureError, "invalid_grant", "JWT is not yet valid"),
    )
    try:
        claims: dict[str, Any] = jwt.decode(
            assertion,
            client.public_key,
            algorithms=["RS256"],
            audience=client.client_id,
            issuer=client.client_id,
            leeway=JWT_CLOCK_SKEW_SECONDS,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
    except jwt.MissingRequiredClaimError as error:
        return _oauth_error(401, "invalid_grant", f"Missing claim: {error.claim}")
    except jwt.InvalidTokenError as error:
        for kind, code, description in refusals:
            if isinstance(error, kind):
                return _oauth_error(401, code, description)
        return _oauth_error(401, "invalid_grant", f"Invalid JWT: {error}")
    return claims


def _oauth_token(state: EmulatorState, call: _Call) -> Response:
    import jwt

    form = parse_qs(call.body.decode("utf-8", "replace"), keep_blank_values=True)

    def field(name: str) -> str:
        values = form.get(name)
        return values[0] if values else ""

    grant_type = field("grant_type")
    if grant_type != JWT_BEARER_GRANT:
        return _oauth_error(400, "unsupported_grant_type", f"Unsupported grant type: {grant_type or '(none)'}")
    client = state.oauth_client(field("client_id"))
    secret = field("client_secret").encode()
    if client is None or not hmac.compare_digest(client.client_secret.encode(), secret):
        return _oauth_error(401, "server_error", "access_denied")
    assertion = field("assertion")
    if not assertion:
        return _oauth_error(401, "invalid_request", "assertion is required")
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.InvalidTokenError:
        return _oauth_error(401, "invalid_grant", "Malformed JWT")
    if header.get("kid") != client.jwt_key_id or header.get("alg") != "RS256":
        return _oauth_error(401, "server_error", "access_denied")
    claims = _verified_claims(client, assertion)
    if isinstance(claims, Response):
        return claims
    jti = claims.get("jti")
    issued = state.issue_token(client, str(claims["sub"]), None if jti is None else str(jti))
    if isinstance(issued, str):
        return _oauth_error(401, "invalid_grant", issued)
    token, call.user = issued
    body = {
        "access_token": token,
        "scope": "useraccount",
        "token_type": "Bearer",
        "expires_in": client.token_lifetime_seconds,
    }
    return _json_response(200, body, _NO_STORE)


def _stats(state: EmulatorState, call: _Call) -> Response:
    return _json_response(200, state.stats())


_ROUTES: dict[str, tuple[str, Callable[[EmulatorState, _Call], Response]]] = {
    EVENT_PATH: ("POST", _post_events),
    OAUTH_PATH: ("POST", _oauth_token),
    SYS_CHOICE_PATH: ("GET", _table),
    EM_EVENT_PATH: ("GET", _table),
    EM_ALERT_PATH: ("GET", _table),
    STATS_PATH: ("GET", _stats),
}
