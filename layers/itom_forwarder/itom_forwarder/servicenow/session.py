"""The HTTP session to the instance: one per container, kept alive between invocations,
bound to the instance's proxy and TLS settings once rather than on every request."""

from __future__ import annotations

import hashlib
import os
import tempfile

import requests
from aws_lambda_powertools import Logger
from requests.adapters import HTTPAdapter

from itom_forwarder import __version__
from itom_forwarder.servicenow.connection import ServiceNowConnection

__all__ = ["bind_session", "new_session"]

logger = Logger(child=True)


def new_session() -> requests.Session:
    session = requests.Session()
    # Retries are the client's (they know the invocation's deadline), so the adapter makes none.
    session.mount("https://", HTTPAdapter(pool_connections=1, pool_maxsize=4, max_retries=0))
    session.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=4, max_retries=0))
    session.headers.update(
        {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"aws-itom-forwarder/{__version__}",
        }
    )
    return session


def _ca_file(pem: str) -> str:
    """requests wants a file: the secret's CA certificates (ASCII PEM, see connection.py),
    written once per content, atomically, so a file cut short is never reused."""
    path = os.path.join(tempfile.gettempdir(), f"itom-forwarder-ca-{hashlib.sha256(pem.encode()).hexdigest()[:16]}.pem")
    if not os.path.exists(path):
        handle, partial = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".partial")
        with os.fdopen(handle, "w", encoding="ascii") as file:
            file.write(pem)
        os.replace(partial, path)
    return path


def bind_session(session: requests.Session, connection: ServiceNowConnection, *, tls_verify: bool) -> None:
    """Resolve the proxy and TLS settings for the instance once.

    With `trust_env` on, requests scans the whole environment on every request (about a
    third of a warm invocation's own time in the benchmark). The container's environment
    does not change, so HTTPS_PROXY / NO_PROXY and REQUESTS_CA_BUNDLE are resolved here.
    """
    session.trust_env = False
    session.proxies = requests.utils.get_environ_proxies(connection.instance_url)
    if not tls_verify:
        logger.warning("TLS certificate verification is OFF (TLS_VERIFY=false): the instance is not authenticated")
        session.verify = False
    elif connection.ca_certificate:
        session.verify = _ca_file(connection.ca_certificate)
    else:
        session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
