"""Integration fixtures: one moto server and one ServiceNow emulator per session, a fresh
secret, queue and container per test, and a scan of every test's output for secrets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.aws import LocalAws
from local.servicenow_emulator import ServiceNowEmulator
from local.stack import LocalStack


@pytest.fixture(scope="session")
def local_aws() -> Iterator[LocalAws]:
    with LocalAws() as aws:
        yield aws


@pytest.fixture(scope="session")
def emulator() -> Iterator[ServiceNowEmulator]:
    with ServiceNowEmulator() as instance:
        yield instance


@pytest.fixture
def stack(local_aws: LocalAws, emulator: ServiceNowEmulator, capfd: pytest.CaptureFixture[str]) -> Iterator[LocalStack]:
    emulator.reset()
    local_aws.reset_calls()
    with LocalStack(aws=local_aws, emulator=emulator) as local_stack:
        yield local_stack
        # Every line the function printed (JSON logs, EMF metrics) and any exception text
        # pytest shows: no secret value may appear in any of it.
        captured = capfd.readouterr()
        output = captured.out + captured.err
        leaked = [secret for secret in local_stack.secret_values if secret in output]
        assert not leaked, f"{len(leaked)} secret value(s) reached the function's output"
