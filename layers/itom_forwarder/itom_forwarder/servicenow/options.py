"""How the client talks to the instance: timeouts, retries, TLS. Given by the caller."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["ClientOptions"]


class ClientOptions(NamedTuple):
    connect_timeout_seconds: float = 3.0
    read_timeout_seconds: float = 10.0
    # Attempts of one POST within an invocation (transient failures only).
    attempts: int = 3
    # First retry waits up to this (full jitter), doubling each time, capped at 8 s.
    backoff_base_seconds: float = 0.5
    # Off only by an explicit choice of the caller, which logs it.
    tls_verify: bool = True
