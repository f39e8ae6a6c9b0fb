"""``python -m local.emulator``: the emulated instance on its own, until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from local.emulator.server import ServiceNowEmulator
from local.emulator.state import DEFAULT_ACTIVE_INTERVAL_SECONDS, DEFAULT_ROLES, OAUTH_USER_FIELDS


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m local.emulator",
        description="Run an emulated ServiceNow instance (event API, sys_choice, OAuth JWT).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (0 = any free port)")
    parser.add_argument(
        "--user",
        action="append",
        default=[],
        metavar="NAME:PASSWORD",
        help="add a user (repeatable)",
    )
    parser.add_argument(
        "--roles",
        default=",".join(DEFAULT_ROLES),
        help="comma-separated roles for every --user (default: %(default)s)",
    )
    parser.add_argument(
        "--oauth-client",
        action="append",
        default=[],
        metavar="CLIENT_ID:SECRET:KEY_ID:CERT_PEM_PATH",
        help="add an OAuth JWT client verified by the certificate/public key file (repeatable)",
    )
    parser.add_argument(
        "--oauth-user-field",
        choices=sorted(OAUTH_USER_FIELDS),
        default="user_name",
        help="user field the JWT sub is matched against",
    )
    parser.add_argument(
        "--active-interval",
        type=float,
        default=DEFAULT_ACTIVE_INTERVAL_SECONDS,
        metavar="SECONDS",
        help="evt_mgmt.active_interval: how long a closed alert can be reopened (default %(default)s)",
    )
    parser.add_argument("--tls-cert", metavar="PEM_PATH", help="serve HTTPS with this server certificate")
    parser.add_argument("--tls-key", metavar="PEM_PATH", help="the unencrypted private key of --tls-cert")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    tls = None
    if args.tls_cert or args.tls_key:
        if not (args.tls_cert and args.tls_key):
            print("--tls-cert and --tls-key go together", file=sys.stderr)
            return 2
        from local.tls import ServerCertificate

        with open(args.tls_cert, encoding="ascii") as tls_cert, open(args.tls_key, encoding="ascii") as tls_key:
            tls = ServerCertificate(tls_cert.read(), tls_key.read())
    emulator = ServiceNowEmulator(args.host, args.port, verbose=args.verbose, tls=tls)
    emulator.active_interval_seconds = args.active_interval
    roles = [role.strip() for role in args.roles.split(",") if role.strip()]
    for spec in args.user:
        username, sep, password = spec.partition(":")
        if not sep or not username:
            print("--user needs NAME:PASSWORD", file=sys.stderr)
            return 2
        emulator.add_user(username, password, roles)
    for spec in args.oauth_client:
        parts = spec.split(":", 3)
        if len(parts) != 4:
            print("--oauth-client needs CLIENT_ID:SECRET:KEY_ID:CERT_PEM_PATH", file=sys.stderr)
            return 2
        client_id, client_secret, key_id, cert_path = parts
        with open(cert_path, "rb") as cert_file:
            emulator.add_oauth_client(client_id, client_secret, key_id, cert_file.read(), args.oauth_user_field)

    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    emulator.start()
    try:
        print(emulator.url, flush=True)
        names = ", ".join(spec.partition(":")[0] for spec in args.user) or "(none)"
        print(f"ServiceNow emulator serving at {emulator.url}; users: {names}", file=sys.stderr, flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()
    return 0
