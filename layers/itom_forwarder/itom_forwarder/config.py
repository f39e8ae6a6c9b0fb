"""Configuration: the environment (`Settings`) and the ServiceNow connection secret.

This is the only module that talks to Secrets Manager. Validation errors name the key and
the problem, never a value, because they end up in logs and dead-letter messages.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from aws_lambda_powertools import Logger

from itom_forwarder.field_templates import FieldTemplates, TemplateError

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

logger = Logger(child=True)

BASIC_KEYS = ("username", "password")
OAUTH_KEYS = ("client_id", "client_secret", "jwt_key_id", "user_identifier", "private_key", "private_key_password")
# private_key_password is only needed for an encrypted key, so it is not required.
OAUTH_REQUIRED_KEYS = ("client_id", "client_secret", "jwt_key_id", "user_identifier", "private_key")
KNOWN_SECRET_KEYS = frozenset({"instance_url", "use_oauth", "ca_certificate", *BASIC_KEYS, *OAUTH_KEYS})
SEVERITY_DIGITS = ("0", "1", "2", "3", "4", "5")


class ConfigError(ValueError):
    """The environment or the secret is not usable. Says which key and why, never a value."""


class SecretUnavailable(RuntimeError):
    """Secrets Manager could not answer now (throttling, network): worth retrying."""


# Errors that a retry will not fix: the operator must change the secret or the policy.
PERMANENT_SECRET_ERRORS = frozenset(
    {
        "ResourceNotFoundException",
        "AccessDeniedException",
        "DecryptionFailure",
        "InvalidRequestException",
        "InvalidParameterException",
    }
)


@dataclass(frozen=True)
class ConnectionConfig:
    """The validated content of the ServiceNow secret. Secret fields are kept out of repr."""

    instance_url: str
    use_oauth: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    jwt_key_id: str | None = None
    user_identifier: str | None = None
    private_key: str | None = field(default=None, repr=False)
    private_key_password: str | None = field(default=None, repr=False)
    # A private CA's certificate (PEM) for an instance behind it; public, not a secret.
    ca_certificate: str | None = None

    @property
    def secret_values(self) -> tuple[str, ...]:
        """Every secret string this config holds (used to keep them out of any text)."""
        candidates = (self.password, self.client_secret, self.private_key, self.private_key_password)
        return tuple(value for value in candidates if value)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _validate_instance_url(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError("instance_url: required, the instance's URL such as https://example.service-now.com")
    parts = urlsplit(value.strip())
    host = parts.hostname or ""
    if not host:
        raise ConfigError("instance_url: not a URL with a host (expected https://<instance>.service-now.com)")
    if parts.username or parts.password:
        raise ConfigError("instance_url: must not contain credentials; use username/password keys")
    if parts.query or parts.fragment:
        raise ConfigError("instance_url: must not have a query or fragment")
    if parts.scheme == "http" and not _is_loopback(host):
        raise ConfigError("instance_url: must use https (plain http is accepted only for a loopback emulator)")
    if parts.scheme not in ("https", "http"):
        raise ConfigError(f"instance_url: scheme {parts.scheme!r} is not supported, use https")
    return f"{parts.scheme}://{parts.netloc}{parts.path}".rstrip("/")


def _parse_bool(key: str, value: object) -> bool:
    # The Secrets Manager console's key/value editor stores every value as a string.
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ConfigError(f"{key}: must be true or false")


def _optional_string(secret: Mapping[str, object], key: str) -> str | None:
    value = secret.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{key}: must be a string")
    return value


def parse_connection(secret: Mapping[str, object]) -> ConnectionConfig:
    """Validate the secret's JSON object the way Kibana's connector validates its config."""
    unknown = sorted(set(secret) - KNOWN_SECRET_KEYS)
    if unknown:
        # Warn rather than fail: the secret may carry keys for other tools.
        logger.warning("ServiceNow secret has keys the forwarder does not use", extra={"keys": unknown})
    instance_url = _validate_instance_url(secret.get("instance_url"))
    use_oauth = _parse_bool("use_oauth", secret.get("use_oauth", False))
    values = {key: _optional_string(secret, key) for key in (*BASIC_KEYS, *OAUTH_KEYS)}
    if use_oauth:
        missing = [key for key in OAUTH_REQUIRED_KEYS if not values[key]]
        if missing:
            raise ConfigError(f"{', '.join(missing)}: required when use_oauth is true")
        extra = [key for key in BASIC_KEYS if values[key]]
        if extra:
            raise ConfigError(f"{', '.join(extra)}: must not be set when use_oauth is true")
    else:
        missing = [key for key in BASIC_KEYS if not values[key]]
        if missing:
            raise ConfigError(f"{', '.join(missing)}: required for basic authentication (use_oauth is false)")
        extra = [key for key in OAUTH_KEYS if values[key]]
        if extra:
            raise ConfigError(f"{', '.join(extra)}: must not be set when use_oauth is false")
    ca_certificate = _optional_string(secret, "ca_certificate")
    if ca_certificate and "-----BEGIN CERTIFICATE-----" not in ca_certificate:
        raise ConfigError("ca_certificate: not a PEM certificate (expected -----BEGIN CERTIFICATE-----)")
    return ConnectionConfig(instance_url=instance_url, use_oauth=use_oauth, ca_certificate=ca_certificate, **values)


def _parse_env_bool(environ: Mapping[str, str], name: str, *, default: bool) -> bool:
    raw = environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in ("true", "false"):
        raise ConfigError(f"{name}: must be true or false, got {raw!r}")
    return raw == "true"


def host_allowed(host: str, patterns: tuple[str, ...]) -> bool:
    """`*.service-now.com` matches any instance of that domain; no patterns allow all."""
    return not patterns or any(fnmatch.fnmatchcase(host.lower(), pattern) for pattern in patterns)


def _env_int(environ: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}: must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name}: must be at least {minimum}, got {value}")
    return value


def _env_float(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}: must be a number of seconds, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name}: must be positive, got {raw!r}")
    return value


def _env_severity(environ: Mapping[str, str], name: str, default: str) -> str:
    value = environ.get(name, "").strip() or default
    if value not in SEVERITY_DIGITS:
        raise ConfigError(f"{name}: must be one of 0-5 (0 Clear, 1 Critical ... 5 OK), got {value!r}")
    return value


def _env_severity_or_none(environ: Mapping[str, str], name: str, default: str) -> str | None:
    if environ.get(name, "").strip().lower() == "none":
        return None
    return _env_severity(environ, name, default)


def _env_field_templates(environ: Mapping[str, str]) -> FieldTemplates:
    try:
        return FieldTemplates.parse(environ.get("FIELD_TEMPLATES", ""))
    except TemplateError as error:
        raise ConfigError(f"FIELD_TEMPLATES: {error}") from None


@dataclass(frozen=True)
class MappingSettings:
    """What the formats need to know: defaults an operator can change without code."""

    alarm_source: str = "AWS CloudWatch"
    sns_source: str = "AWS SNS"
    # A state mapped to None sends nothing (INSUFFICIENT_DATA may be set to "none").
    severity_by_alarm_state: Mapping[str, str | None] = field(
        default_factory=lambda: {"ALARM": "2", "OK": "0", "INSUFFICIENT_DATA": "4"}
    )
    default_severity: str = "4"
    field_templates: FieldTemplates = field(default_factory=FieldTemplates)


@dataclass(frozen=True)
class DeliverySettings:
    connect_timeout_seconds: float = 3.0
    read_timeout_seconds: float = 10.0
    attempts: int = 3
    # First retry waits up to this (full jitter), doubling each time, capped at 8 s.
    backoff_base_seconds: float = 0.5
    # Records per POST in buffered mode (ServiceNow documents no maximum; 100 is what
    # public exporters use and keeps one request well under the instance's body limit).
    batch_max_records: int = 100
    # Time kept back from the invocation's deadline to dead-letter or raise cleanly.
    deadline_margin_seconds: float = 2.0
    # Host patterns the instance URL must match (empty: any), as Kibana's
    # xpack.actions.allowedHosts; redirects are never followed, so they cannot escape it.
    allowed_hosts: tuple[str, ...] = ()
    # Off only by an explicit TLS_VERIFY=false, which is logged on every cold start.
    tls_verify: bool = True


@dataclass(frozen=True)
class Settings:
    secret_id: str
    dlq_url: str
    secret_max_age_seconds: int
    mapping: MappingSettings
    delivery: DeliverySettings
    # A refused optional setting (a template naming an unknown value, a bad severity).
    problem: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        secret_id = env.get("SERVICENOW_SECRET_ID", "").strip()
        if not secret_id:
            raise ConfigError("SERVICENOW_SECRET_ID: required, the name or ARN of the ServiceNow secret")
        dlq_url = env.get("DLQ_URL", "").strip()
        if not dlq_url:
            raise ConfigError("DLQ_URL: required, the URL of the dead-letter SQS queue")
        # A bad optional setting must not lose events: the forwarder still starts (it has
        # the DLQ), logs the problem and dead-letters every event with it as the reason.
        problem = None
        try:
            mapping = MappingSettings(
                alarm_source=env.get("EVENT_SOURCE", "").strip() or "AWS CloudWatch",
                severity_by_alarm_state={
                    "ALARM": _env_severity(env, "SEVERITY_ALARM", "2"),
                    "OK": _env_severity(env, "SEVERITY_OK", "0"),
                    "INSUFFICIENT_DATA": _env_severity_or_none(env, "SEVERITY_INSUFFICIENT_DATA", "4"),
                },
                default_severity=_env_severity(env, "DEFAULT_SEVERITY", "4"),
                field_templates=_env_field_templates(env),
            )
            delivery = DeliverySettings(
                connect_timeout_seconds=_env_float(env, "HTTP_CONNECT_TIMEOUT_SECONDS", 3.0),
                read_timeout_seconds=_env_float(env, "HTTP_READ_TIMEOUT_SECONDS", 10.0),
                attempts=_env_int(env, "DELIVERY_ATTEMPTS", 3, minimum=1),
                backoff_base_seconds=_env_float(env, "RETRY_BASE_DELAY_SECONDS", 0.5),
                batch_max_records=_env_int(env, "BATCH_MAX_RECORDS", 100, minimum=1),
                allowed_hosts=tuple(
                    pattern.strip().lower() for pattern in env.get("ALLOWED_HOSTS", "").split(",") if pattern.strip()
                ),
                tls_verify=_parse_env_bool(env, "TLS_VERIFY", default=True),
            )
        except ConfigError as error:
            mapping, delivery, problem = MappingSettings(), DeliverySettings(), str(error)
        return cls(
            secret_id=secret_id,
            dlq_url=dlq_url,
            secret_max_age_seconds=_env_int(env, "SECRET_MAX_AGE_SECONDS", 300),
            mapping=mapping,
            delivery=delivery,
            problem=problem,
        )


class ConnectionSource:
    """Reads the ServiceNow secret through Powertools' cached SecretsProvider.

    `connection()` is a cache hit on warm invocations; `refresh()` forces a read, used when
    ServiceNow refuses the credentials (the secret may have been rotated).
    """

    def __init__(self, secret_id: str, max_age_seconds: int, provider: SecretsProvider | None = None) -> None:
        self._secret_id = secret_id
        self._max_age = max_age_seconds
        self._provider = provider
        self._parsed: tuple[str, ConnectionConfig] | None = None

    def _secrets(self) -> SecretsProvider:
        if self._provider is None:
            from aws_lambda_powertools.utilities.parameters import SecretsProvider

            self._provider = SecretsProvider()
        return self._provider

    def connection(self, *, force_fetch: bool = False) -> ConnectionConfig:
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        try:
            raw = self._secrets().get(self._secret_id, max_age=self._max_age, force_fetch=force_fetch)
        except GetParameterError as error:
            # Powertools keeps the AWS error as __context__; its text never holds the value.
            code = getattr(error.__context__, "response", {}).get("Error", {}).get("Code")
            text = f"secret {self._secret_id!r} could not be read: {error}"
            if code in PERMANENT_SECRET_ERRORS:
                raise ConfigError(text) from None
            raise SecretUnavailable(text) from None
        if not isinstance(raw, str):
            raise ConfigError(f"secret {self._secret_id!r}: must be a SecretString holding a JSON object")
        if self._parsed is not None and self._parsed[0] == raw:
            return self._parsed[1]
        try:
            document = json.loads(raw)
        except ValueError:
            raise ConfigError(f"secret {self._secret_id!r}: is not valid JSON (expected a JSON object)") from None
        if not isinstance(document, dict):
            raise ConfigError(f"secret {self._secret_id!r}: must be a JSON object")
        parsed = parse_connection(document)
        self._parsed = (raw, parsed)
        return parsed

    def refresh(self) -> ConnectionConfig:
        return self.connection(force_fetch=True)
