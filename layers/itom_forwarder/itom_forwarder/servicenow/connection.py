"""The connection secret's schema and validation, like Kibana's connector `validators.ts`:
the instance URL (and the hosts it may be), the authentication keys, a private CA.

Errors name the key and the problem, never a value, because they end up in logs and
dead-letter messages.
"""

from __future__ import annotations

import fnmatch
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from aws_lambda_powertools import Logger

from itom_forwarder.failures import ConfigError

__all__ = ["ServiceNowConnection", "host_allowed", "parse_connection"]

logger = Logger(child=True)

BASIC_KEYS = ("username", "password")
OAUTH_KEYS = ("client_id", "client_secret", "jwt_key_id", "user_identifier", "private_key", "private_key_password")
# private_key_password is only needed for an encrypted key, so it is not required.
OAUTH_REQUIRED_KEYS = ("client_id", "client_secret", "jwt_key_id", "user_identifier", "private_key")
KNOWN_KEYS = frozenset({"instance_url", "use_oauth", "ca_certificate", *BASIC_KEYS, *OAUTH_KEYS})


@dataclass(frozen=True)
class ServiceNowConnection:
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
    def host(self) -> str:
        return urlsplit(self.instance_url).hostname or ""

    @property
    def secret_values(self) -> tuple[str, ...]:
        """Every secret string this connection holds (to keep them out of any text)."""
        candidates = (self.password, self.client_secret, self.private_key, self.private_key_password)
        return tuple(value for value in candidates if value)


def host_allowed(host: str, patterns: tuple[str, ...]) -> bool:
    """`*.service-now.com` matches any instance of that domain; no patterns allow all
    (Kibana's xpack.actions.allowedHosts)."""
    return not patterns or any(fnmatch.fnmatchcase(host.lower(), pattern) for pattern in patterns)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _validate_instance_url(value: object, allowed_hosts: tuple[str, ...]) -> str:
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
    if not host_allowed(host, allowed_hosts):
        raise ConfigError(f"instance_url: host {host!r} is not allowed by ALLOWED_HOSTS ({', '.join(allowed_hosts)})")
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


def _check_auth_keys(use_oauth: bool, values: Mapping[str, str | None]) -> None:
    required, other = (OAUTH_REQUIRED_KEYS, BASIC_KEYS) if use_oauth else (BASIC_KEYS, OAUTH_KEYS)
    missing = [key for key in required if not values[key]]
    if missing:
        needed = "when use_oauth is true" if use_oauth else "for basic authentication (use_oauth is false)"
        raise ConfigError(f"{', '.join(missing)}: required {needed}")
    extra = [key for key in other if values[key]]
    if extra:
        raise ConfigError(f"{', '.join(extra)}: must not be set when use_oauth is {str(use_oauth).lower()}")


def parse_connection(secret: Mapping[str, object], allowed_hosts: tuple[str, ...] = ()) -> ServiceNowConnection:
    """Validate the secret's JSON object; the instance's host must match `allowed_hosts`."""
    unknown = sorted(set(secret) - KNOWN_KEYS)
    if unknown:
        # Warn rather than fail: the secret may carry keys for other tools.
        logger.warning("ServiceNow secret has keys the forwarder does not use", extra={"keys": unknown})
    instance_url = _validate_instance_url(secret.get("instance_url"), allowed_hosts)
    use_oauth = _parse_bool("use_oauth", secret.get("use_oauth", False))
    values = {key: _optional_string(secret, key) for key in (*BASIC_KEYS, *OAUTH_KEYS)}
    _check_auth_keys(use_oauth, values)
    ca_certificate = _optional_string(secret, "ca_certificate")
    if ca_certificate and "-----BEGIN CERTIFICATE-----" not in ca_certificate:
        raise ConfigError("ca_certificate: not a PEM certificate (expected -----BEGIN CERTIFICATE-----)")
    return ServiceNowConnection(instance_url=instance_url, use_oauth=use_oauth, ca_certificate=ca_certificate, **values)
