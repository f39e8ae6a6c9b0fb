"""The connection secret in the per-container state, against moto's Secrets Manager (signed
requests of aws_api, each signature checked by the local server): cached within its max
age, re-read on refresh, parsed again only when its text changed, and a rotated secret
picked up by the ServiceNow client; Secrets Manager's errors classified (what only the
operator can fix, what a retry may), with the limits of each read."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from itom_forwarder.container import Container
from itom_forwarder.failures import ConfigError, PermanentFailure, SecretUnavailable, TransientFailure
from itom_forwarder.secrets import SecretConnections, SecretDocument, secrets_manager_client
from itom_forwarder.servicenow import EVENT_API_PATH, ClientOptions, ServiceNowClient
from itom_forwarder.servicenow.session import new_session
from itom_forwarder.settings import Settings
from local.aws import LocalAws, free_port
from local.stack import INTEGRATION_USER, LocalStack
from tests.unit.aws_api.servers import Answer, ScriptedAws

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
    connections = SecretConnections("itom-forwarder/servicenow", max_age_seconds=300, allowed_hosts=())
    with pytest.raises(SecretUnavailable) as raised:
        connections.current()
    assert isinstance(raised.value, TransientFailure)
    assert str(raised.value) == (
        "secret 'itom-forwarder/servicenow' could not be read: "
        "secretsmanager GetSecretValue: no answer after 2 attempts (ConnectionError)"
    )
    assert local_aws.calls(GET_SECRET) == served  # moto was never asked


def test_a_missing_secret_s_text_names_aws_s_error(local_aws: LocalAws) -> None:
    served = local_aws.calls(GET_SECRET)
    with pytest.raises(ConfigError) as raised:
        SecretDocument("itom-forwarder/absent", max_age_seconds=300).raw()
    # moto answers 404 where Secrets Manager answers 400: the code decides, not the status.
    assert re.fullmatch(
        r"secret 'itom-forwarder/absent' could not be read: secretsmanager GetSecretValue: "
        r"ResourceNotFoundException \(HTTP 40[04]\): Secrets Manager can't find the specified secret\.",
        str(raised.value),
    )
    assert local_aws.calls(GET_SECRET) == served + 1  # not retried


def test_a_binary_secret_is_a_config_error(local_aws: LocalAws) -> None:
    name = f"itom-forwarder/binary-{uuid.uuid4().hex[:8]}"
    local_aws.client("secretsmanager").create_secret(Name=name, SecretBinary=b'{"instance_url": "https://x"}')
    with pytest.raises(ConfigError, match=r"must be a SecretString holding a JSON object"):
        SecretConnections(name, max_age_seconds=300, allowed_hosts=()).current()


def test_the_max_age_is_counted_from_when_the_read_began(stack: LocalStack) -> None:
    now = [1000.0]
    document = SecretDocument(stack.secret_name, max_age_seconds=300, clock=lambda: now[0])
    first = document.raw()
    now[0] += 299.9
    assert document.raw() == first
    assert reads(stack) == 1
    now[0] += 0.1  # 300 s after the first read began
    document.raw()
    assert reads(stack) == 2
    document.raw(force_fetch=True)
    assert reads(stack) == 3


@pytest.mark.parametrize(
    ("answer", "failure"),
    [
        (Answer(400, {"__type": "AccessDeniedException", "message": "not authorized"}), ConfigError),
        (Answer(400, {"__type": "DecryptionFailure", "message": "KMS refused"}), ConfigError),
        (Answer(400, {"__type": "InvalidRequestException", "message": "marked for deletion"}), ConfigError),
        (Answer(400, {"__type": "ThrottlingException", "message": "Rate exceeded"}), SecretUnavailable),
        (Answer(500, {"__type": "InternalServiceError", "message": "oops"}), SecretUnavailable),
        (Answer(400, {"__type": "ExpiredTokenException", "message": "expired"}), SecretUnavailable),
    ],
    ids=["access-denied", "decryption", "invalid-request", "throttled", "internal", "expired-token"],
)
def test_secrets_manager_s_refusals_are_classified(
    monkeypatch: pytest.MonkeyPatch, answer: Answer, failure: type[Exception]
) -> None:
    """What only the operator can fix (the secret, its key, the role) dead-letters; the rest
    is retried. Throttling and 5xx are retried once first, like boto3's standard mode."""
    server = ScriptedAws().start()
    try:
        server.script(answer, answer)
        monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", server.url)
        with pytest.raises(failure) as raised:
            SecretDocument("itom-forwarder/servicenow", max_age_seconds=300).raw()
        retried = failure is SecretUnavailable and answer.body["__type"] != "ExpiredTokenException"
        assert len(server.received) == (2 if retried else 1)
        assert str(raised.value).startswith("secret 'itom-forwarder/servicenow' could not be read: ")
    finally:
        server.stop()


def test_a_secrets_manager_that_answers_once_retried_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    server = ScriptedAws().start()
    try:
        server.script(Answer(503, b"Service Unavailable"), Answer(200, {"SecretString": '{"a": 1}'}))
        monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", server.url)
        assert SecretDocument("s", max_age_seconds=300).parse(SecretDocument("s", max_age_seconds=300).raw()) == {
            "a": 1
        }
        assert len(server.received) == 2
    finally:
        server.stop()


def test_the_read_s_limits_are_2_s_to_connect_3_s_to_answer_and_2_attempts() -> None:
    client = secrets_manager_client({"AWS_REGION": "eu-west-1"})
    assert (client.connect_timeout, client.read_timeout, client.max_attempts) == (2, 3, 2)
    assert client.endpoint == "https://secretsmanager.eu-west-1.amazonaws.com"


def test_the_container_s_secrets_share_one_client(stack: LocalStack) -> None:
    """The connection secret and the ingest secret: one Secrets Manager client, one session
    (one kept-alive connection) for the container's life."""
    container = Container(Settings.from_environ())
    container.connections.current()
    ingest = container.ingest_secret()
    assert ingest is not None
    ingest.current()
    assert container.secrets_manager().requests == 2
    assert reads(stack) == 2
    assert ingest.reread() is not None
    assert ingest.reread() is None  # at most once per second
    assert container.connections.refresh() is container.connections.current()
    assert container.secrets_manager().requests == 4
