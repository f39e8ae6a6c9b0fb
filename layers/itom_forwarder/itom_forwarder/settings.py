"""The environment settings, read once per container.

Two settings are required (the secret and the dead-letter queue): without them the
function cannot keep an event, so it fails to start. The others come in groups (mapping,
delivery, guard), each validated on its own: a refused setting refuses only its group, whose reason names the
setting, and whose values stay the defaults so that nothing else changes. The delivery
policy refuses every event while a group it needs is refused (the events are
dead-lettered with that reason), on every path.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, NamedTuple, TypeVar

from itom_forwarder.failures import ConfigError
from itom_forwarder.formats import MappingOptions
from itom_forwarder.ordering import GuardOptions
from itom_forwarder.servicenow import ClientOptions

if TYPE_CHECKING:
    from itom_forwarder.formats.alarms.templates import FieldTemplates

__all__ = ["DeliverySettings", "Settings"]

SEVERITY_DIGITS = ("0", "1", "2", "3", "4", "5")
MAPPING = "mapping"
DELIVERY = "delivery"
GUARD = "guard"
# The dead-letter queue keeps a message 14 days: the guard must remember a key longer, or a
# replayed event would find no trace of what superseded it.
MIN_ALERT_STATE_TTL_DAYS = 15
T = TypeVar("T")


def _env_bool(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in ("true", "false"):
        raise ConfigError(f"{name}: must be true or false, got {raw!r}")
    return raw == "true"


def _env_int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}: must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name}: must be at least {minimum}, got {value}")
    return value


def _env_seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}: must be a number of seconds, got {raw!r}") from None
    if not value > 0 or value == float("inf"):  # NaN compares false: refused too
        raise ConfigError(f"{name}: must be a positive number of seconds, got {raw!r}")
    return value


def _env_severity(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip() or default
    if value not in SEVERITY_DIGITS:
        raise ConfigError(f"{name}: must be one of 0-5 (0 Clear, 1 Critical ... 5 OK), got {value!r}")
    return value


def _env_severity_or_none(env: Mapping[str, str], name: str, default: str) -> str | None:
    if env.get(name, "").strip().lower() == "none":
        return None
    return _env_severity(env, name, default)


def _env_field_templates(env: Mapping[str, str]) -> FieldTemplates | None:
    """The deployment's field templates, checked here (at start); None when none are set,
    without loading the templates' module (the formats that apply them load it)."""
    text = env.get("FIELD_TEMPLATES", "")
    if not text.strip():
        return None
    from itom_forwarder.formats.alarms.templates import FieldTemplates, TemplateError

    try:
        return FieldTemplates.parse(text)
    except TemplateError as error:
        raise ConfigError(f"FIELD_TEMPLATES: {error}") from None


# The AWS services' formats: the env var naming each one's ITOM source, by service key.
AWS_EVENT_SOURCE_SETTINGS = {
    "health": "HEALTH_EVENT_SOURCE",
    "guardduty": "GUARDDUTY_EVENT_SOURCE",
    "securityhub": "SECURITYHUB_EVENT_SOURCE",
    "config": "CONFIG_EVENT_SOURCE",
    "devopsguru": "DEVOPSGURU_EVENT_SOURCE",
}
# AWS Health's severity of an open event, by eventTypeCategory: the env var of each.
HEALTH_SEVERITY_SETTINGS = {
    "issue": "HEALTH_SEVERITY_ISSUE",
    "investigation": "HEALTH_SEVERITY_INVESTIGATION",
    "scheduledChange": "HEALTH_SEVERITY_SCHEDULED_CHANGE",
    "accountNotification": "HEALTH_SEVERITY_ACCOUNT_NOTIFICATION",
}


def _mapping(env: Mapping[str, str]) -> MappingOptions:
    defaults = MappingOptions()
    return MappingOptions(
        aws_event_sources={
            service: env.get(name, "").strip() or defaults.aws_event_sources[service]
            for service, name in AWS_EVENT_SOURCE_SETTINGS.items()
        },
        health_severity_by_category={
            category: _env_severity(env, name, defaults.health_severity_by_category[category])
            for category, name in HEALTH_SEVERITY_SETTINGS.items()
        },
        config_noncompliant_severity=_env_severity(
            env, "CONFIG_SEVERITY_NON_COMPLIANT", defaults.config_noncompliant_severity
        ),
        alarm_source=env.get("EVENT_SOURCE", "").strip() or MappingOptions._field_defaults["alarm_source"],
        severity_by_alarm_state={
            "ALARM": _env_severity(env, "SEVERITY_ALARM", "2"),
            "OK": _env_severity(env, "SEVERITY_OK", "0"),
            "INSUFFICIENT_DATA": _env_severity_or_none(env, "SEVERITY_INSUFFICIENT_DATA", "4"),
        },
        default_severity=_env_severity(env, "DEFAULT_SEVERITY", "4"),
        field_templates=_env_field_templates(env),
    )


class DeliverySettings(NamedTuple):
    client: ClientOptions = ClientOptions()
    # Records per POST (ServiceNow documents no maximum; 100 is what public exporters use
    # and keeps one request well under the instance's body limit).
    batch_max_records: int = 100
    # Time kept back from the invocation's deadline to dead-letter or raise cleanly.
    deadline_margin_seconds: float = 2.0
    # Host patterns the instance URL must match (empty: any), checked when the secret is
    # parsed; redirects are never followed, so they cannot escape it.
    allowed_hosts: tuple[str, ...] = ()
    secret_max_age_seconds: int = 300


def _delivery(env: Mapping[str, str]) -> DeliverySettings:
    return DeliverySettings(
        client=ClientOptions(
            connect_timeout_seconds=_env_seconds(env, "HTTP_CONNECT_TIMEOUT_SECONDS", 3.0),
            read_timeout_seconds=_env_seconds(env, "HTTP_READ_TIMEOUT_SECONDS", 10.0),
            attempts=_env_int(env, "DELIVERY_ATTEMPTS", 3, minimum=1),
            backoff_base_seconds=_env_seconds(env, "RETRY_BASE_DELAY_SECONDS", 0.5),
            tls_verify=_env_bool(env, "TLS_VERIFY", default=True),
        ),
        batch_max_records=_env_int(env, "BATCH_MAX_RECORDS", 100, minimum=1),
        allowed_hosts=tuple(
            pattern.strip().lower() for pattern in env.get("ALLOWED_HOSTS", "").split(",") if pattern.strip()
        ),
        secret_max_age_seconds=_env_int(env, "SECRET_MAX_AGE_SECONDS", 300),
    )


def _guard(env: Mapping[str, str]) -> GuardOptions | None:
    """The ordering guard's options; None (off) when ALERT_STATE_TABLE is unset or empty."""
    table_name = env.get("ALERT_STATE_TABLE", "").strip()
    if not table_name:
        return None
    ttl_days = _env_int(env, "ALERT_STATE_TTL_DAYS", MIN_ALERT_STATE_TTL_DAYS, minimum=MIN_ALERT_STATE_TTL_DAYS)
    return GuardOptions(
        table_name=table_name,
        ttl_seconds=ttl_days * 24 * 3600,
        lease_seconds=_env_seconds(env, "ALERT_STATE_LEASE_SECONDS", GuardOptions._field_defaults["lease_seconds"]),
    )


def _group(name: str, read: Callable[[], T], default: T, refusals: dict[str, str]) -> T:
    """The group's values, or its defaults with the refusal recorded under its name."""
    try:
        return read()
    except ConfigError as error:
        refusals[name] = f"{name} settings refused: {error.reason.message}"
        return default


class Settings(NamedTuple):
    secret_id: str
    dlq_url: str
    # The webhook credentials' secret (INGEST_SECRET_ID); empty: the webhook routes refuse
    # every request, and /events takes only API Gateway's API key.
    ingest_secret_id: str = ""
    mapping: MappingOptions = MappingOptions()
    delivery: DeliverySettings = DeliverySettings()
    # The ordering guard (None: off). A refused guard group refuses every event: sending
    # without the guard it was configured with could reopen alerts.
    guard: GuardOptions | None = None
    # Group name -> why it is refused (the reason every event of that group is kept with).
    refusals: Mapping[str, str] = MappingProxyType({})

    def refusal(self, *groups: str) -> str | None:
        """The first refusal among `groups` (all groups when none is named)."""
        for name in groups or tuple(self.refusals):
            if name in self.refusals:
                return self.refusals[name]
        return None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        secret_id = env.get("SERVICENOW_SECRET_ID", "").strip()
        if not secret_id:
            raise ConfigError("SERVICENOW_SECRET_ID: required, the name or ARN of the ServiceNow secret")
        dlq_url = env.get("DLQ_URL", "").strip()
        if not dlq_url:
            raise ConfigError("DLQ_URL: required, the URL of the dead-letter SQS queue")
        refusals: dict[str, str] = {}
        return cls(
            secret_id=secret_id,
            dlq_url=dlq_url,
            ingest_secret_id=env.get("INGEST_SECRET_ID", "").strip(),
            mapping=_group(MAPPING, lambda: _mapping(env), MappingOptions(), refusals),
            delivery=_group(DELIVERY, lambda: _delivery(env), DeliverySettings(), refusals),
            guard=_group(GUARD, lambda: _guard(env), None, refusals),
            refusals=refusals,
        )
