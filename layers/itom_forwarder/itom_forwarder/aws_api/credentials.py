"""The credentials a request is signed with.

On Lambda they are in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_SESSION_TOKEN), set for the execution environment's life. They are read from it on
every request anyway: three dictionary look-ups, far below the cost of a signature, and an
environment that does change (a test, a process whose host renews them) is followed with no
cache to go stale.

Without them (a laptop with a profile, SSO, an instance or container role) the credentials
come from botocore's own chain, imported only then: that fallback is never on Lambda's path.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from itom_forwarder.aws_api.exceptions import AwsConfigurationError

__all__ = ["AwsCredentials", "CredentialsSource"]

CredentialsSource = Callable[[], "AwsCredentials"]

_chain_lock = threading.Lock()
_chain: list[Any] = []  # botocore's Credentials, once looked up (refreshable ones renew themselves)


class AwsCredentials(NamedTuple):
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def __repr__(self) -> str:  # the key id only: the secret and the token never reach a text
        return f"AwsCredentials(access_key_id={self.access_key_id!r})"

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> AwsCredentials:
        """The environment's credentials (what Lambda provides), else botocore's chain."""
        access_key_id = environ.get("AWS_ACCESS_KEY_ID")
        secret_access_key = environ.get("AWS_SECRET_ACCESS_KEY")
        if access_key_id and secret_access_key:
            return cls(access_key_id, secret_access_key, environ.get("AWS_SESSION_TOKEN") or None)
        return _from_botocore_chain()


def _from_botocore_chain() -> AwsCredentials:
    """Off Lambda only: profiles, SSO, web identity, container and instance roles. The chain
    is looked up once per process; its frozen copy is taken per request."""
    try:
        with _chain_lock:
            if not _chain:
                import botocore.session

                _chain.append(botocore.session.get_session().get_credentials())
            found = _chain[0]
        frozen = found.get_frozen_credentials() if found is not None else None
    except Exception as error:  # botocore's own errors, whatever their kind: none holds a secret
        raise AwsConfigurationError(f"AWS credentials could not be loaded ({type(error).__name__})") from None
    if frozen is None or not frozen.access_key or not frozen.secret_key:
        with _chain_lock:
            _chain.clear()  # none yet: look again next time (a profile may be configured meanwhile)
        raise AwsConfigurationError(
            "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or configure a profile"
        )
    return AwsCredentials(frozen.access_key, frozen.secret_key, frozen.token or None)
