"""Fixtures for every test."""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

from itom_forwarder.redaction import RedactingFormatter

# CI replays the same examples every run (a submission must not pass or fail by luck);
# local runs explore new ones, and keep what failed in .hypothesis/.
settings.register_profile("ci", derandomize=True, print_blob=True)

# Powertools' handler keeps the sys.stdout of the test that first imported the handler,
# which pytest closes afterwards: writing there later is a "Logging error" whose report
# (with the exception being handled, unredacted) is pytest's artefact, not the function's
# output. The records themselves are collected and scanned through the root (below).
logging.raiseExceptions = False
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture
def function_logs() -> Iterator[io.StringIO]:
    """Every log record the code emits during the test, formatted as the JSON line the
    function writes to CloudWatch Logs (Powertools' formatter behind the one redaction
    step, as app.py sets it up; message and extra keys included).

    Powertools binds its handler to the sys.stdout of the moment the handler module was
    imported, which pytest's capture swaps per test; records also reach the root logger,
    so a handler there sees them all, whichever test imported the module first.
    """
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(RedactingFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield buffer
    root.removeHandler(handler)


@pytest.fixture(autouse=True)
def no_secret_reaches_any_output(capfd: pytest.CaptureFixture[str], function_logs: io.StringIO) -> Iterator[None]:
    """Every test: no secret value used in the tests (passwords, client secrets, keys, key
    passwords, issued tokens) appears in what the code logged or printed, or in a warning."""
    yield
    from local.emulator import ServiceNowEmulator
    from local.stack import SECRET_VALUES

    captured = capfd.readouterr()
    text = function_logs.getvalue() + captured.out + captured.err
    secrets = SECRET_VALUES | ServiceNowEmulator.every_issued_token
    leaked = sum(1 for secret in secrets if secret and secret in text)
    assert not leaked, f"{leaked} secret value(s) reached the test's output"
