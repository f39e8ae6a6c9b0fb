"""The one redaction step for every text that leaves the process: log lines (the
formatter below), the handler's answers and raised errors (app.py), dead-letter reasons
(dead_letters.encode) and reports. Every secret value of the connection in use and what is
derived from it (the Authorization header's value, access tokens) is replaced by
`[redacted]`, in its plain and its JSON-escaped form, wherever it appears: a hostile or
misconfigured instance may echo a credential back in its error text.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

if TYPE_CHECKING:
    from aws_lambda_powertools.logging.types import LogRecord

from itom_forwarder.failures import ForwarderFailure

__all__ = ["REDACTED", "RedactingFormatter", "redact", "redact_value", "sanitized", "set_source"]

REDACTED = "[redacted]"
# Shorter values would redact ordinary words; no credential is this short.
MIN_SECRET_LENGTH = 4
# Values of earlier secret versions stay known for a while (an echo may come late).
KEPT_VALUES = 64


class _Redactor:
    def __init__(self) -> None:
        self._source: Callable[[], Iterable[str]] | None = None
        self._seen: tuple[str, ...] = ()
        self._known: dict[str, None] = {}
        self._forms: tuple[str, ...] = ()

    def set_source(self, source: Callable[[], Iterable[str]] | None) -> None:
        self._source = source

    def forms(self) -> tuple[str, ...]:
        """Every form to replace, longest first (a value inside another is replaced after it)."""
        current = tuple(self._source()) if self._source else ()
        if current != self._seen:
            self._seen = current
            for value in current:
                if len(value) >= MIN_SECRET_LENGTH:
                    self._known.pop(value, None)
                    self._known[value] = None
            while len(self._known) > KEPT_VALUES:
                self._known.pop(next(iter(self._known)))
            escaped = {json.dumps(value)[1:-1] for value in self._known}
            self._forms = tuple(sorted({*self._known, *escaped}, key=len, reverse=True))
        return self._forms

    def redact(self, text: str) -> str:
        for form in self.forms():
            if form in text:
                text = text.replace(form, REDACTED)
        return text


_REDACTOR = _Redactor()


def set_source(source: Callable[[], Iterable[str]] | None) -> None:
    """Where the current secret values come from (the container sets itself)."""
    _REDACTOR.set_source(source)


def redact(text: str) -> str:
    return _REDACTOR.redact(text)


def redact_value(value: Any) -> Any:
    """A JSON-like value with every string in it redacted (an answer, a report)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: redact_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redact_value(item) for item in value]
    return value


def sanitized(error: BaseException) -> BaseException:
    """The error as it may leave the process (Lambda shows its text as ErrorMessage):
    the same error when its text holds no secret, else a copy whose texts are redacted."""
    text = str(error)
    clean = redact(text)
    if clean == text:
        return error
    if isinstance(error, ForwarderFailure):
        reason = error.reason
        copied = copy.copy(error)
        copied.reason = reason._replace(message=redact(reason.message), detail=redact(reason.detail or "") or None)
        copied.args = (clean,)
        return copied
    return RuntimeError(f"{type(error).__name__}: {clean}")


class RedactingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON log line, redacted (message and every extra key alike)."""

    def serialize(self, log: LogRecord) -> str:
        return redact(super().serialize(log))
