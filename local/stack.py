"""The whole local stack in one object: moto's server, the ServiceNow emulator, the secret,
the dead-letter queue and the environment the function sees in Lambda.

Used by the local runner, the integration tests and the benchmarks, so all three exercise
the handler the same way `sam local invoke` would: `lambda_handler(event, context)`.
"""

from __future__ import annotations

import importlib
import os
import secrets
import uuid
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from local.aws import LocalAws
from local.lambda_context import LocalLambdaContext
from local.servicenow_emulator import ServiceNowEmulator

INTEGRATION_USER = "aws.integration"
SECRET_KEYS = ("password", "client_secret", "private_key", "private_key_password")


class LocalStack:
    """Start with `with LocalStack() as stack:`; `stack.invoke(event)` runs the handler."""

    def __init__(
        self,
        *,
        aws: LocalAws | None = None,
        emulator: ServiceNowEmulator | None = None,
        environment: Mapping[str, str] | None = None,
    ) -> None:
        self._owns_aws = aws is None
        self._owns_emulator = emulator is None
        self.aws = aws or LocalAws()
        self.emulator = emulator or ServiceNowEmulator()
        self.extra_environment = dict(environment or {})
        suffix = uuid.uuid4().hex[:8]
        self.secret_name = f"itom-forwarder/servicenow-{suffix}"
        self.queue_name = f"itom-forwarder-dlq-{suffix}"
        # Generated per run: nothing real, and never printed.
        self.password = secrets.token_urlsafe(18)
        self._secret_values: set[str] = {self.password}
        self.queue_url = ""
        self._saved: dict[str, str | None] = {}

    def start(self) -> LocalStack:
        if self._owns_aws:
            self.aws.start()
        if self._owns_emulator:
            self.emulator.start()
        self.emulator.add_user(INTEGRATION_USER, self.password)
        self.aws.create_secret(self.secret_name, self.basic_secret())
        self.queue_url = self.aws.create_queue(self.queue_name)
        self._set_environment(
            {
                **self.aws.environment(),
                "SERVICENOW_SECRET_ID": self.secret_name,
                "DLQ_URL": self.queue_url,
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

    def put_secret(self, value: Mapping[str, object]) -> None:
        for key in SECRET_KEYS:
            if isinstance(value.get(key), str) and value[key]:
                self._secret_values.add(str(value[key]))
        self.aws.put_secret(self.secret_name, dict(value))

    @property
    def secret_values(self) -> tuple[str, ...]:
        """Every secret value this stack has stored (tests check none reaches any output)."""
        return tuple(self._secret_values)

    def handler(self) -> Callable[[dict[str, Any], Any], Any]:
        app: ModuleType = importlib.import_module("app")
        handler: Callable[[dict[str, Any], Any], Any] = app.lambda_handler
        return handler

    def new_container(self) -> None:
        """Forget the per-container state, as a cold start would."""
        from itom_forwarder.runtime import reset_forwarder

        reset_forwarder()

    def invoke(self, event: dict[str, Any], *, timeout_seconds: float = 30.0) -> Any:
        return self.handler()(event, LocalLambdaContext(timeout_seconds=timeout_seconds))

    def dead_letters(self) -> list[dict[str, Any]]:
        """Receive (and delete) everything in the dead-letter queue."""
        return self.aws.receive_all(self.queue_url)
