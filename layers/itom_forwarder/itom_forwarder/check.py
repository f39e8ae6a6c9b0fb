"""Check the connection to ServiceNow from a shell:

    python -m itom_forwarder.check [--send-test-event]

against the instance the secret (SERVICENOW_SECRET_ID) points to, with the function's
settings from the environment. Prints the report; exits 1 when a step fails, 2 when the
environment is incomplete. `make run ARGS=--check` runs it against the emulator.
"""

from __future__ import annotations

import argparse
import json

from itom_forwarder.commands import container_or_exit
from itom_forwarder.triggers.check import run_check

PROG = "python -m itom_forwarder.check"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description="Check the connection to ServiceNow.")
    parser.add_argument("--send-test-event", action="store_true", help="send an event and clear it")
    args = parser.parse_args(argv)
    report = run_check(container_or_exit(PROG), send_test_event=args.send_test_event)
    print(json.dumps(report.as_dict(), indent=2))
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
