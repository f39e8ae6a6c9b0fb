"""The connection secret's schema and validation, like Kibana's connector `validators.ts`:
the instance URL (and the hosts it may be), the authentication keys, a private CA.

Errors name the key and the problem, never a value, because they end up in logs and
dead-letter messages.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import urlsplit

from aws_lambda_powertools import Logger
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from itom_forwarder.failures import ConfigError

__all__ = ["ServiceNowConnection", "host_allowed", "parse_connection"]

logger = Logger(child=True)

BASIC_KEYS = ("username", "password")
OAUTH_KEYS = ("client_id", "client_secret", "jwt_key_id", "user_identifier", "private_key", "private_key_password")
# private_key_password is only needed for an encrypted key, so it is not required.
OAUTH_REQUIRED_KEYS = ("client_id", "client_secret", "jwt_key_id", "user_identifier", "private_key")
KNOWN_KEYS = frozenset({"instance_url", "use_oauth", "ca_certificate", *BASIC_KEYS, *OAUTH_KEYS})


# Shown by repr: the secret fields never are.
_PUBLIC_FIELDS = ("instance_url", "use_oauth", "username", "client_id", "jwt_key_id", "user_identifier")


class ServiceNowConnection(NamedTuple):
    """The validated content of the ServiceNow secret. Secret fields are kept out of repr."""

    instance_url: str
    use_oauth: bool = False
    username: str | None = None
    password: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    jwt_key_id: str | None = None
    user_identifier: str | None = None
    private_key: str | None = None
    private_key_password: str | None = None
    # A private CA's certificate (PEM) for an instance behind it; public, not a secret.
    ca_certificate: str | None = None

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in _PUBLIC_FIELDS)
        return f"ServiceNowConnection({shown}, ca_certificate={'set' if self.ca_certificate else None})"

    @property
    def host(self) -> str:
        return urlsplit(self.instance_url).hostname or ""

    @property
    def secret_values(self) -> tuple[str, ...]:
        """Every secret string this connection holds (to keep them out of any text)."""
        return _secret_values(self)


@lru_cache(maxsize=8)  # worked out once per secret version (the key's lines are many)
def _secret_values(connection: ServiceNowConnection) -> tuple[str, ...]:
    key = connection.private_key
    candidates = (connection.password, connection.client_secret, key, connection.private_key_password)
    values = [value for value in candidates if value]
    if key:  # a key could leak in part: each line of its body counts on its own
        values.extend(line for line in key.splitlines() if len(line) >= 16 and "-----" not in line)
    return tuple(values)


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


_HOST_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


def _host_of(text: str) -> tuple[str, int | None, str, str]:
    """(scheme, port, host, path) of the URL, read by the strict parser (urllib.parse) and
    by the one the HTTP stack uses (urllib3's parse_url, as requests prepares a request):
    anything they read differently is refused, so the host checked is the host connected
    to. Errors never quote the URL: it may hold a password typed in the wrong place."""
    if any(ord(char) <= 0x20 or ord(char) == 0x7F for char in text) or "\\" in text:
        raise ConfigError("instance_url: must not contain spaces, control characters or backslashes")
    if not text.isascii():
        raise ConfigError("instance_url: must be ASCII (write an internationalised host name in its xn-- form)")
    try:
        strict = urlsplit(text)
        strict_port = strict.port
        lenient = parse_url(text)
    except (ValueError, LocationParseError):
        raise ConfigError(
            "instance_url: not a valid URL (check the host, the brackets of an IPv6 address and the port)"
        ) from None
    if "@" in strict.netloc or lenient.auth:
        raise ConfigError("instance_url: must not contain credentials; use username/password keys")
    if "%" in strict.netloc:
        raise ConfigError("instance_url: an IPv6 zone id or a percent-encoded host is not accepted")
    host = (strict.hostname or "").lower()
    if not host:
        raise ConfigError("instance_url: not a URL with a host (expected https://<instance>.service-now.com)")
    if host != (lenient.host or "").strip("[]").lower() or strict_port != lenient.port:
        raise ConfigError("instance_url: the host is ambiguous (parsers read it differently): write it plainly")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not _HOST_NAME.match(host):
            raise ConfigError("instance_url: the host is not a valid host name") from None
    return strict.scheme.lower(), strict_port, host, strict.path


def _validate_instance_url(value: object, allowed_hosts: tuple[str, ...]) -> str:
    """The instance URL in the one form every request is made to: scheme, host, port
    (only when it is not the scheme's default) and path, rebuilt from what was parsed."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError("instance_url: required, the instance's URL such as https://example.service-now.com")
    text = value.strip()
    if "?" in text or "#" in text:
        raise ConfigError("instance_url: must not have a query or fragment")
    scheme, port, host, path = _host_of(text)
    if scheme not in ("https", "http"):
        raise ConfigError(f"instance_url: scheme {scheme!r} is not supported, use https")
    loopback = _is_loopback(host)
    if scheme == "http" and not loopback:
        raise ConfigError("instance_url: must use https (plain http is accepted only for a loopback emulator)")
    if port is not None and port != 443 and not loopback:
        raise ConfigError("instance_url: only the HTTPS port (443) is accepted for an instance")
    if not host_allowed(host, allowed_hosts):
        raise ConfigError(f"instance_url: host {host!r} is not allowed by ALLOWED_HOSTS ({', '.join(allowed_hosts)})")
    if any(segment in (".", "..") for segment in path.split("/")):
        raise ConfigError("instance_url: the path must not contain . or .. segments")
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != {"https": 443, "http": 80}[scheme]:
        netloc = f"{netloc}:{port}"
    return f"{scheme}://{netloc}{path}".rstrip("/")


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


_PEM_CERTIFICATE = re.compile(r"-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----")


def _pem_certificates(text: str | None) -> str | None:
    """Only the PEM certificate blocks of `text`: pasted `openssl x509 -text` output or
    literal "\\n" sequences around them are left out, so what is written is ASCII PEM."""
    if not text:
        return None
    if "\n" not in text.strip() and "\\n" in text:
        text = text.replace("\\n", "\n")
    blocks = _PEM_CERTIFICATE.findall(text)
    if not blocks:
        raise ConfigError("ca_certificate: not a PEM certificate (expected -----BEGIN CERTIFICATE----- ... END)")
    return "\n".join(block.strip() for block in blocks) + "\n"


def parse_connection(secret: Mapping[str, object], allowed_hosts: tuple[str, ...] = ()) -> ServiceNowConnection:
    """Validate the secret's JSON object; the instance's host must match `allowed_hosts`."""
    unknown = len(set(secret) - KNOWN_KEYS)
    if unknown:
        # Warn rather than fail: the secret may carry keys for other tools. The keys are
        # counted, not named: in the console's key/value editor a value pasted in the key
        # column would be a password in the log.
        logger.warning(
            "ServiceNow secret has keys the forwarder does not use (not named: they might be values)",
            extra={"unknown_keys": unknown, "known_keys": sorted(KNOWN_KEYS)},
        )
    instance_url = _validate_instance_url(secret.get("instance_url"), allowed_hosts)
    use_oauth = _parse_bool("use_oauth", secret.get("use_oauth", False))
    values = {key: _optional_string(secret, key) for key in (*BASIC_KEYS, *OAUTH_KEYS)}
    _check_auth_keys(use_oauth, values)
    ca_certificate = _pem_certificates(_optional_string(secret, "ca_certificate"))
    return ServiceNowConnection(instance_url=instance_url, use_oauth=use_oauth, ca_certificate=ca_certificate, **values)
