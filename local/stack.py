"""The whole local stack in one object: moto's server, the ServiceNow emulator, the secret,
the ingest secret (the webhook senders' credentials), the dead-letter queue, the ordering
guard's table and the environment the function sees in Lambda.

Used by the local runner, the integration tests and the benchmarks, so all three exercise
the handler the same way `sam local invoke` would: `lambda_handler(event, context)`.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import secrets
import uuid
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from local.aws import LocalAws
from local.emulator import ServiceNowEmulator
from local.keys import KeyPair, make_key_pair
from local.lambda_context import LocalLambdaContext
from local.webhook_auth import GRAFANA_TIMESTAMP_HEADER

INTEGRATION_USER = "aws.integration"
INTEGRATION_EMAIL = "aws.integration@example.com"
OAUTH_CLIENT_ID = "3f1c2b9a8d7e4f60a1b2c3d4e5f60718"
OAUTH_KEY_ID = "itom-forwarder-jwt"
SECRET_KEYS = ("password", "client_secret", "private_key", "private_key_password")
ALERTMANAGER_USER = "alertmanager"
# Every secret value any stack (or test) has used in this process: the test suite checks
# that none of them reaches any output.
SECRET_VALUES: set[str] = set()


def remember_secret(*values: str) -> None:
    for value in values:
        SECRET_VALUES.add(value)
        # A key could leak in part: every line of its body counts on its own.
        SECRET_VALUES.update(line for line in value.splitlines() if len(line) >= 40 and "-----" not in line)


def ingest_secret_values(document: Mapping[str, object]) -> list[str]:
    """The secret values of an ingest secret's document, whatever its shape (a test may
    store a malformed one on purpose: its values must not leak either)."""
    tokens = document.get("bearer_tokens")
    logins = document.get("basic_credentials")
    values = [*(tokens if isinstance(tokens, list) else [tokens])]
    for login in logins if isinstance(logins, list) else [logins]:
        values.append(login.get("password") if isinstance(login, Mapping) else login)
    values.append(document.get("grafana_hmac_secret"))
    # Non-empty strings only: "" is in every text.
    return [value for value in values if isinstance(value, str) and value]


class LocalStack:
    """Start with `with LocalStack() as stack:`; `stack.invoke(event)` runs the handler."""

    def __init__(
        self,
        *,
        aws: LocalAws | None = None,
        emulator: ServiceNowEmulator | None = None,
        environment: Mapping[str, str] | None = None,
        oauth: bool = False,
        token_lifetime_seconds: int = 1800,
        ordering_guard: bool = True,
        ingest_secret: bool = True,
    ) -> None:
        self._owns_aws = aws is None
        self._owns_emulator = emulator is None
        self.aws = aws or LocalAws()
        self.emulator = emulator or ServiceNowEmulator()
        self.extra_environment = dict(environment or {})
        suffix = uuid.uuid4().hex[:8]
        self.secret_name = f"itom-forwarder/servicenow-{suffix}"
        self.queue_name = f"itom-forwarder-dlq-{suffix}"
        # The template's default: OrderingGuard on, a table of its own per stack.
        self.alert_state_table = f"itom-forwarder-alert-state-{suffix}" if ordering_guard else ""
        # The webhook senders' credentials (INGEST_SECRET_ID); "" without: no ingest secret.
        self.ingest_secret_name = f"itom-forwarder/ingest-{suffix}" if ingest_secret else ""
        # Generated per run: nothing real, and printed only by `make serve` (to use them).
        self.password = secrets.token_urlsafe(18)
        self.oauth = oauth
        self.token_lifetime_seconds = token_lifetime_seconds
        self.client_secret = secrets.token_urlsafe(18)
        self.key_password = secrets.token_urlsafe(12)
        self.key_pair: KeyPair | None = None
        self.bearer_token = secrets.token_urlsafe(24)
        self.basic_username = ALERTMANAGER_USER
        self.basic_password = secrets.token_urlsafe(18)
        self.grafana_hmac_secret = secrets.token_urlsafe(24)
        self.grafana_timestamp_header = GRAFANA_TIMESTAMP_HEADER
        self._secret_values: set[str] = {
            self.password,
            self.client_secret,
            self.key_password,
            self.bearer_token,
            self.basic_password,
            self.grafana_hmac_secret,
        }
        remember_secret(*self._secret_values)
        self.queue_url = ""
        self._saved: dict[str, str | None] = {}

    def start(self) -> LocalStack:
        if self._owns_aws:
            self.aws.start()
        if self._owns_emulator:
            self.emulator.start()
        self.emulator.add_user(INTEGRATION_USER, self.password, email=INTEGRATION_EMAIL)
        if self.oauth:
            self.key_pair = make_key_pair(password=self.key_password)
            self._remember(self.key_pair.private_key_pem)
            self.register_certificate(self.key_pair.certificate_pem)
        self.aws.create_secret(self.secret_name, self.oauth_secret() if self.oauth else self.basic_secret())
        if self.ingest_secret_name:
            self.aws.create_secret(self.ingest_secret_name, self.ingest_document())
        self.queue_url = self.aws.create_queue(self.queue_name)
        if self.alert_state_table:
            self.aws.create_alert_state_table(self.alert_state_table)
        self._set_environment(
            {
                **self.aws.environment(),
                "SERVICENOW_SECRET_ID": self.secret_name,
                "INGEST_SECRET_ID": self.ingest_secret_name,
                "DLQ_URL": self.queue_url,
                "ALERT_STATE_TABLE": self.alert_state_table,
                # A POST to the loopback emulator takes milliseconds: a 3 s lease (10 s in
                # AWS; room for the default retries) keeps a run of one alert's events quick.
                "ALERT_STATE_LEASE_SECONDS": "3",
                "POWERTOOLS_SERVICE_NAME": "itom-forwarder",
                "POWERTOOLS_METRICS_NAMESPACE": "ItomForwarderLocal",
                "AWS_LAMBDA_FUNCTION_NAME": "itom-forwarder-local",
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                **self.extra_environment,
            }
        )
        self.new_container()
        return self

    def stop(self) -> None:
        if not self._owns_aws and self.alert_state_table:
            # moto copies every table on each transaction: a session of shared servers must
            # not accumulate one table per test, or later claims time out.
            with contextlib.suppress(Exception):
                self.aws.client("dynamodb").delete_table(TableName=self.alert_state_table)
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved.clear()
        if self._owns_emulator:
            self.emulator.stop()
        if self._owns_aws:
            self.aws.stop()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _set_environment(self, values: Mapping[str, str]) -> None:
        for key, value in values.items():
            self._saved.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    def basic_secret(self, **overrides: object) -> dict[str, object]:
        return {"instance_url": self.emulator.url, "username": INTEGRATION_USER, "password": self.password, **overrides}

    def oauth_secret(self, **overrides: object) -> dict[str, object]:
        """An OAuth secret for the stack's client, with an encrypted 3072-bit key."""
        if self.key_pair is None:
            self.key_pair = make_key_pair(password=self.key_password)
            self._remember(self.key_pair.private_key_pem)
        return {
            "instance_url": self.emulator.url,
            "use_oauth": True,
            "client_id": OAUTH_CLIENT_ID,
            "client_secret": self.client_secret,
            "jwt_key_id": OAUTH_KEY_ID,
            "user_identifier": INTEGRATION_EMAIL,
            "private_key": self.key_pair.private_key_pem,
            "private_key_password": self.key_password,
            **overrides,
        }

    def register_certificate(self, certificate_pem: str) -> None:
        """What an admin does in the JWT verifier map: (re)attach the certificate."""
        self.emulator.add_oauth_client(
            OAUTH_CLIENT_ID,
            self.client_secret,
            OAUTH_KEY_ID,
            certificate_pem,
            user_field="email",
            token_lifetime_seconds=self.token_lifetime_seconds,
        )

    def put_secret(self, value: Mapping[str, object]) -> None:
        for key in SECRET_KEYS:
            if isinstance(value.get(key), str) and value[key]:
                self._remember(str(value[key]))
        self.aws.put_secret(self.secret_name, dict(value))

    def ingest_document(self, **overrides: object) -> dict[str, object]:
        """The ingest secret's JSON as the stack stores it at start: one of each credential,
        from the values generated for this stack (`overrides` replace keys)."""
        return {
            "bearer_tokens": [self.bearer_token],
            "basic_credentials": [{"username": self.basic_username, "password": self.basic_password}],
            "grafana_hmac_secret": self.grafana_hmac_secret,
            "grafana_hmac_timestamp_header": self.grafana_timestamp_header,
            **overrides,
        }

    def put_ingest_secret(self, document: Mapping[str, object]) -> None:
        """Store `document` as the ingest secret's new version (a rotation); its tokens,
        passwords and HMAC secret join the values no output may contain."""
        if not self.ingest_secret_name:
            raise RuntimeError("this stack has no ingest secret (LocalStack(ingest_secret=False))")
        for value in ingest_secret_values(document):
            self._remember(value)
        self.aws.put_secret(self.ingest_secret_name, dict(document))

    def _remember(self, secret: str) -> None:
        self._secret_values.add(secret)
        self._secret_values.update(line for line in secret.splitlines() if len(line) >= 40 and "-----" not in line)
        remember_secret(secret)

    @property
    def secret_values(self) -> tuple[str, ...]:
        """Every secret value this stack has stored, and every token the instance issued
        (tests check none reaches any output)."""
        return (*self._secret_values, *self.emulator.issued_tokens)

    def handler(self) -> Callable[[dict[str, Any], Any], Any]:
        app: ModuleType = importlib.import_module("app")
        handler: Callable[[dict[str, Any], Any], Any] = app.lambda_handler
        return handler

    def new_container(self) -> None:
        """Forget the per-container state, as a cold start would."""
        from itom_forwarder.container import reset

        reset()

    def invoke(self, event: dict[str, Any], *, timeout_seconds: float = 30.0) -> Any:
        return self.handler()(event, LocalLambdaContext(timeout_seconds=timeout_seconds))

    def alert_state(self) -> dict[str, dict[str, Any]]:
        """The ordering guard's table: per message key, the newest source time accepted."""
        return self.aws.alert_state(self.alert_state_table) if self.alert_state_table else {}

    def dead_letters(self) -> list[dict[str, Any]]:
        """Receive (and delete) everything in the dead-letter queue."""
        return self.aws.receive_all(self.queue_url)
