"""What the operator's commands share: the container from the environment, or one line
naming what is missing (exit status 2) instead of a traceback."""

from __future__ import annotations

import sys

from itom_forwarder.container import Container, current
from itom_forwarder.failures import ConfigError

__all__ = ["container_or_exit"]

USAGE_ERROR = 2


def container_or_exit(prog: str) -> Container:
    try:
        return current()
    except ConfigError as error:
        print(f"{prog}: {error.reason.message}", file=sys.stderr)
        raise SystemExit(USAGE_ERROR) from None
