"""Integration fixtures: one moto server and one ServiceNow emulator per session, a fresh
secret, queue and container per test, and a scan of every test's output for secrets."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from local.aws import LocalAws
from local.emulator import ServiceNowEmulator
from local.stack import LocalStack

StackFactory = Callable[..., LocalStack]


@pytest.fixture(scope="session")
def local_aws() -> Iterator[LocalAws]:
    with LocalAws() as aws:
        yield aws


@pytest.fixture(scope="session")
def emulator() -> Iterator[ServiceNowEmulator]:
    with ServiceNowEmulator() as instance:
        yield instance


def assert_no_secret_in(text: str, stack: LocalStack) -> None:
    leaked = [secret for secret in stack.secret_values if secret in text]
    assert not leaked, f"{len(leaked)} secret value(s) found in the text"


@pytest.fixture
def make_stack(local_aws: LocalAws, emulator: ServiceNowEmulator) -> Iterator[StackFactory]:
    """Build a LocalStack (basic by default, `oauth=True` for OAuth) on the shared servers."""
    emulator.reset()
    local_aws.reset_calls()
    stacks: list[LocalStack] = []

    def build(**options: Any) -> LocalStack:
        stack = LocalStack(aws=local_aws, emulator=emulator, **options).start()
        stacks.append(stack)
        return stack

    yield build
    # The output itself is scanned for every secret by the autouse fixture in tests/conftest.py.
    for stack in reversed(stacks):  # each restores the environment it found
        stack.stop()


@pytest.fixture
def stack(make_stack: StackFactory) -> LocalStack:
    return make_stack()
