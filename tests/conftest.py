"""Fixtures for every test."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter


@pytest.fixture
def function_logs() -> Iterator[io.StringIO]:
    """Every log record the code emits during the test, formatted as the JSON line
    Powertools writes to CloudWatch Logs (message and extra keys included).

    Powertools binds its handler to the sys.stdout of the moment the handler module was
    imported, which pytest's capture swaps per test; records also reach the root logger,
    so a handler there sees them all, whichever test imported the module first.
    """
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(LambdaPowertoolsFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield buffer
    root.removeHandler(handler)
