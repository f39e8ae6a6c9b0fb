"""Replay the dead-letter queue from a shell once the cause is fixed:

    python -m itom_forwarder.replay [--dry-run] [--max-messages N]

with SERVICENOW_SECRET_ID and DLQ_URL (and AWS credentials) in the environment. Prints
the replay report; exits 1 when a message failed again (or could not be put back), 2 when the environment is
incomplete. The redrive Lambda (functions/redrive) runs the same replay.
"""

from __future__ import annotations

import argparse
import json

from itom_forwarder.commands import container_or_exit
from itom_forwarder.triggers.redrive import MAX_MESSAGES_LIMIT, Replayer

PROG = "python -m itom_forwarder.replay"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description="Replay the dead-letter queue.")
    parser.add_argument("--dry-run", action="store_true", help="show what would be sent; send and change nothing")
    parser.add_argument("--max-messages", type=int, default=100, help=f"1 to {MAX_MESSAGES_LIMIT} (default 100)")
    args = parser.parse_args(argv)
    if not 0 < args.max_messages <= MAX_MESSAGES_LIMIT:
        parser.error(f"--max-messages: a number from 1 to {MAX_MESSAGES_LIMIT}")
    report = Replayer(container_or_exit(PROG)).run(dry_run=args.dry_run, max_messages=args.max_messages)
    print(json.dumps(report.as_dict(), indent=2))
    return 1 if report.failed_again or report.left_in_queue else 0


if __name__ == "__main__":
    raise SystemExit(main())
