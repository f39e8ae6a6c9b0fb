"""Calls to AWS services without boto3: signed (SigV4) HTTPS requests in the AWS JSON
protocol over a kept-alive `requests.Session`, so the alert path never imports boto3 or
botocore: on a cold start their import and first client cost several times the two small
requests themselves (a secret read and the guard's claim).

A leaf: it is given the service, its endpoint, region and credentials (or the environment
to find them in) and imports nothing of the application.

    client = AwsJsonClient.from_environment(os.environ, service="secretsmanager",
        service_env_name="SECRETS_MANAGER", endpoint_prefix="secretsmanager",
        signing_name="secretsmanager", target_prefix="secretsmanager", json_version="1.1",
        connect_timeout=2, read_timeout=3, max_attempts=2)
    client.call("GetSecretValue", {"SecretId": "itom-forwarder/servicenow"})
"""

from __future__ import annotations

from itom_forwarder.aws_api.client import AwsJsonClient, new_session
from itom_forwarder.aws_api.credentials import AwsCredentials, CredentialsSource
from itom_forwarder.aws_api.endpoints import endpoint_for, region_from
from itom_forwarder.aws_api.exceptions import AwsApiError, AwsConfigurationError, AwsError, AwsUnavailable

__all__ = [
    "AwsApiError",
    "AwsConfigurationError",
    "AwsCredentials",
    "AwsError",
    "AwsJsonClient",
    "AwsUnavailable",
    "CredentialsSource",
    "endpoint_for",
    "new_session",
    "region_from",
]
