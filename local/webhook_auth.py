"""Grafana's webhook signature, the way a sender computes it: one definition for the tests
(tests/events.py builds request headers with it) and for the shell recipe `make serve`
prints (local/runner.py), so both sign exactly as Grafana does.

Grafana's HMAC transport: hex HMAC-SHA256 of the body under the shared secret, in
`X-Grafana-Alerting-Signature`; with a timestamp header configured, it puts the Unix
seconds there and signs `<timestamp>:<body>` instead, so a captured request cannot be
replayed later.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["GRAFANA_SIGNATURE_HEADER", "GRAFANA_TIMESTAMP_HEADER", "grafana_signature", "grafana_signature_shell"]

GRAFANA_SIGNATURE_HEADER = "X-Grafana-Alerting-Signature"
# The name the local stack configures (Grafana lets the contact point choose it).
GRAFANA_TIMESTAMP_HEADER = "X-Grafana-Alerting-Timestamp"


def grafana_signature(secret: str, body: bytes, timestamp: str | None = None) -> str:
    """The hex signature of `body` (of `<timestamp>:<body>` when a timestamp is given)."""
    signed = body if timestamp is None else f"{timestamp}:".encode("ascii") + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def grafana_signature_shell(secret: str, path: str, *, timestamp_variable: str = "TS") -> str:
    """A shell command printing `grafana_signature(secret, <file bytes>, $TS)` for a plain
    path (no quoting needed, as the samples' are): the prefix
    and the file are piped straight into openssl, so the bytes signed are the file's bytes
    exactly (a `$(cat file)` would drop trailing newlines, and curl sends them)."""
    return (
        f"printf '%s:' \"${timestamp_variable}\" | cat - {path} "
        f"| openssl dgst -sha256 -hmac {_quoted(secret)} | sed 's/^.* //'"
    )


def _quoted(word: str) -> str:
    """`word` in single quotes for sh, always (a secret may start with '-' or hold anything)."""
    return "'" + word.replace("'", "'\"'\"'") + "'"
