"""An emulated ServiceNow instance for tests, local runs and benchmarks.

A real HTTP/1.1 server on loopback (werkzeug's threaded WSGI server, keep-alive, optional
TLS) that answers the parts of ServiceNow the forwarder talks to (see ``api``): the event
API, the sys_choice severities, em_event / em_alert inspection and the OAuth JWT bearer
grant. Tests drive it in-process and inject faults, delays, disconnects, redirects and
rate limits::

    with ServiceNowEmulator() as sn:
        sn.add_user("svc", "secret")
        sn.inject_fault(503, retry_after=7)
        ...
        assert sn.connections_opened == 1

It can also run on its own: ``python -m local.emulator --port 8080 --user svc:secret``.
Given a server certificate (``ServiceNowEmulator(tls=make_ca().issue_server_certificate())``,
see ``local.tls``) it speaks HTTPS (TLS 1.2+, each handshake on its connection's thread).

Modules: ``state`` (users, tokens, faults, records), ``api`` (the routes), ``server``
(serving and ``ServiceNowEmulator``), ``cli``. Production code never imports this package.
"""

from local.emulator.cli import main
from local.emulator.server import ServiceNowEmulator
from local.emulator.state import (
    CHOICES_ROLE,
    DEFAULT_ACTIVE_INTERVAL_SECONDS,
    DEFAULT_ROLES,
    EM_ALERT_PATH,
    EM_EVENT_PATH,
    EVENT_PATH,
    EVENT_ROLE,
    OAUTH_PATH,
    STATS_PATH,
    SYS_CHOICE_PATH,
    Alert,
    EmulatedUser,
    RecordedRequest,
)

__all__ = [
    "CHOICES_ROLE",
    "DEFAULT_ACTIVE_INTERVAL_SECONDS",
    "DEFAULT_ROLES",
    "EM_ALERT_PATH",
    "EM_EVENT_PATH",
    "EVENT_PATH",
    "EVENT_ROLE",
    "OAUTH_PATH",
    "STATS_PATH",
    "SYS_CHOICE_PATH",
    "Alert",
    "EmulatedUser",
    "RecordedRequest",
    "ServiceNowEmulator",
    "main",
]
