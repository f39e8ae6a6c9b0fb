"""Where a service is reached, as boto3 decides it from the environment: the service's own
AWS_ENDPOINT_URL_<SERVICE>, else AWS_ENDPOINT_URL (both skipped when
AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is true), else the regional endpoint. Locally the tests
and the runner point AWS_ENDPOINT_URL at moto.
"""

from __future__ import annotations

from collections.abc import Mapping

from itom_forwarder.aws_api.exceptions import AwsConfigurationError

__all__ = ["endpoint_for", "region_from"]

# The partitions whose DNS suffix is not amazonaws.com, by region prefix.
_DNS_SUFFIXES = (("cn-", "amazonaws.com.cn"), ("us-isob-", "sc2s.sgov.gov"), ("us-iso-", "c2s.ic.gov"))


def region_from(environ: Mapping[str, str]) -> str:
    """AWS_REGION (what Lambda sets), else AWS_DEFAULT_REGION."""
    region = (environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "").strip()
    if not region:
        raise AwsConfigurationError("no AWS region: set AWS_REGION or AWS_DEFAULT_REGION")
    return region


def endpoint_for(service_env_name: str, endpoint_prefix: str, region: str, environ: Mapping[str, str]) -> str:
    """The endpoint URL; `service_env_name` is the service's part of its variable
    (SECRETS_MANAGER, DYNAMODB), `endpoint_prefix` its host's first label."""
    if environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").strip().lower() != "true":
        for name in (f"AWS_ENDPOINT_URL_{service_env_name}", "AWS_ENDPOINT_URL"):
            configured = environ.get(name, "").strip()
            if configured:
                if not configured.startswith(("https://", "http://")):
                    raise AwsConfigurationError(f"{name}: must be an http(s) URL")
                return configured
    suffix = next((dns for prefix, dns in _DNS_SUFFIXES if region.startswith(prefix)), "amazonaws.com")
    return f"https://{endpoint_prefix}.{region}.{suffix}"
