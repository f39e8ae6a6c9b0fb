"""The connection secret in the per-container state, against moto's Secrets Manager: cached
within its max age, re-read on refresh, parsed again only when its text changed, and a
rotated secret picked up by the ServiceNow client; Secrets Manager's errors classified."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from itom_forwarder.failures import ConfigError, PermanentFailure, SecretUnavailable, TransientFailure
from itom_forwarder.secrets import SecretConnections
from itom_forwarder.servicenow import EVENT_API_PATH, ClientOptions, ServiceNowClient
from itom_forwarder.servicenow.session import new_session
from local.aws import LocalAws, free_port
from local.stack import INTEGRATION_USER, LocalStack

ROTATED = "R0tated-secret-passw0rd"
RECORDS = [{"source": "secrets-test", "node": "db-1", "severity": "2", "message_key": "secrets-test/db-1"}]
GET_SECRET = "secretsmanager.GetSecretValue"


def reads(stack: LocalStack) -> int:
    return stack.aws.calls(GET_SECRET)


def connections_of(stack: LocalStack, max_age: int = 300, allowed_hosts: tuple[str, ...] = ()) -> SecretConnections:
    return SecretConnections(stack.secret_name, max_age_seconds=max_age, allowed_hosts=allowed_hosts)


def rotate(stack: LocalStack) -> None:
    """What a rotation does: the instance's password changes, then the secret's."""
    stack.emulator.set_password(INTEGRATION_USER, ROTATED)
    stack.put_secret(stack.basic_secret(password=ROTATED))


ClientFactory = Callable[[SecretConnections], ServiceNowClient]


@pytest.fixture
def client_of() -> Iterator[ClientFactory]:
    """A ServiceNow client whose connection source is the given secret (as in the container)."""
    sessions = []

    def build(connections: SecretConnections) -> ServiceNowClient:
        session = new_session()
        sessions.append(session)
        return ServiceNowClient(connections, ClientOptions(), session=session)

    yield build
    for session in sessions:
        session.close()


def event_statuses(stack: LocalStack) -> list[int]:
    return [request.status for request in stack.emulator.requests if request.path == EVENT_API_PATH]


def test_current_is_read_once_within_its_max_age(stack: LocalStack) -> None:
    connections = connections_of(stack)
    first = connections.current()
    assert (first.instance_url, first.username, first.password) == (
        stack.emulator.url,
        INTEGRATION_USER,
        stack.password,
    )
    for _ in range(5):
        assert connections.current() is first
    assert reads(stack) == 1


def test_current_reads_again_once_its_max_age_has_passed(stack: LocalStack) -> None:
    connections = connections_of(stack, max_age=1)
    connections.current()
    connections.current()
    assert reads(stack) == 1
    time.sleep(1.1)
    connections.current()
    assert reads(stack) == 2


def test_a_max_age_of_zero_reads_every_time(stack: LocalStack) -> None:
    connections = connections_of(stack, max_age=0)
    for _ in range(3):
        connections.current()
    assert reads(stack) == 3


def test_refresh_reads_again_and_keeps_the_parsed_connection_while_the_text_is_unchanged(stack: LocalStack) -> None:
    connections = connections_of(stack)
    first = connections.current()
    assert connections.refresh() is first
    assert connections.refresh() is first
    assert reads(stack) == 3


def test_a_changed_secret_gives_a_new_connection_on_refresh(stack: LocalStack) -> None:
    connections = connections_of(stack)
    first = connections.current()
    rotate(stack)
    assert connections.current() is first  # still within its max age
    rotated = connections.refresh()
    assert rotated is not first
    assert rotated.password == ROTATED
    assert connections.current() is rotated
    assert reads(stack) == 2


def test_the_client_rebinds_to_a_rotated_secret_on_its_next_send(stack: LocalStack, client_of: ClientFactory) -> None:
    connections = connections_of(stack, max_age=1)
    client = client_of(connections)
    client.send(RECORDS, time.monotonic() + 30)
    first_auth = client.auth
    rotate(stack)
    time.sleep(1.1)  # the cached secret expires
    client.send(RECORDS, time.monotonic() + 30)
    # The new credentials were sent at once: no 401 first.
    assert event_statuses(stack) == [200, 200]
    assert client.auth is not first_auth
    assert client.connection.password == ROTATED
    assert reads(stack) == 2


def test_a_rotation_inside_the_max_age_is_found_after_one_401(stack: LocalStack, client_of: ClientFactory) -> None:
    connections = connections_of(stack)
    client = client_of(connections)
    client.send(RECORDS, time.monotonic() + 30)
    rotate(stack)
    client.send(RECORDS, time.monotonic() + 30)
    assert event_statuses(stack) == [200, 401, 200]
    assert client.connection.password == ROTATED
    assert reads(stack) == 2  # the refused credentials made it re-read the secret once


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("not json", "is not valid JSON (expected a JSON object)"),
        ('["a", "list"]', "must be a JSON object"),
        ('{"instance_url": "https://acme.service-now.com", "username": "u"}', "password: required"),
    ],
)
def test_an_unusable_secret_is_a_config_error(stack: LocalStack, text: str, problem: str) -> None:
    stack.aws.client("secretsmanager").put_secret_value(SecretId=stack.secret_name, SecretString=text)
    with pytest.raises(ConfigError, match=re.escape(problem)):
        connections_of(stack).current()


def test_an_instance_outside_the_allowed_hosts_is_a_config_error(stack: LocalStack) -> None:
    with pytest.raises(ConfigError, match=r"instance_url: host '127\.0\.0\.1' is not allowed by ALLOWED_HOSTS"):
        connections_of(stack, allowed_hosts=("*.service-now.com",)).current()


def test_a_fixed_secret_is_read_after_a_refused_one(stack: LocalStack) -> None:
    connections = connections_of(stack, max_age=0)
    stack.aws.client("secretsmanager").put_secret_value(SecretId=stack.secret_name, SecretString="{")
    with pytest.raises(ConfigError):
        connections.current()
    stack.put_secret(stack.basic_secret())
    assert connections.current().password == stack.password


@pytest.mark.usefixtures("local_aws")
def test_a_missing_secret_is_a_config_error() -> None:
    name = f"itom-forwarder/missing-{uuid.uuid4().hex[:8]}"
    connections = SecretConnections(name, max_age_seconds=300, allowed_hosts=())
    with pytest.raises(ConfigError) as raised:
        connections.current()
    assert isinstance(raised.value, PermanentFailure)
    assert not isinstance(raised.value, TransientFailure)
    assert str(raised.value).startswith(f"secret {name!r} could not be read")


def test_an_unreachable_secrets_manager_is_secret_unavailable(
    local_aws: LocalAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = local_aws.calls(GET_SECRET)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    connections = SecretConnections("itom-forwarder/servicenow", max_age_seconds=300, allowed_hosts=())
    with pytest.raises(SecretUnavailable) as raised:
        connections.current()
    assert isinstance(raised.value, TransientFailure)
    assert str(raised.value).startswith("secret 'itom-forwarder/servicenow' could not be read")
    assert local_aws.calls(GET_SECRET) == served  # moto was never asked
