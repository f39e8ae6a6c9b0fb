"""The credentials: Lambda's, from the environment; elsewhere botocore's chain (a profile
here), looked up only then; none at all is a configuration error naming no value."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from itom_forwarder.aws_api import AwsConfigurationError, AwsCredentials
from itom_forwarder.aws_api import credentials as credentials_module
from local.runner import CODE_PATHS

CHAIN_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
)


@pytest.fixture
def chain(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """botocore's chain with nothing but the files given (no instance metadata either)."""
    for name in CHAIN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    shared = tmp_path / "credentials"
    shared.write_text("")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(shared))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    credentials_module._chain.clear()
    yield shared
    credentials_module._chain.clear()


def test_lambda_s_credentials_come_from_the_environment() -> None:
    environ = {"AWS_ACCESS_KEY_ID": "ASIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "s3cr3t", "AWS_SESSION_TOKEN": "t0k3n"}
    assert AwsCredentials.from_environment(environ) == AwsCredentials("ASIAEXAMPLE", "s3cr3t", "t0k3n")
    long_term = {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "s3cr3t", "AWS_SESSION_TOKEN": ""}
    assert AwsCredentials.from_environment(long_term).session_token is None


def test_the_repr_shows_the_key_id_only() -> None:
    shown = repr(AwsCredentials("ASIAEXAMPLE", "s3cr3t-value", "t0k3n-value"))
    assert "ASIAEXAMPLE" in shown
    assert "s3cr3t-value" not in shown
    assert "t0k3n-value" not in shown


def test_without_them_a_profile_is_used(chain: Path) -> None:
    chain.write_text("[default]\naws_access_key_id = AKIAPROFILE\naws_secret_access_key = profile-secret\n")
    found = AwsCredentials.from_environment({})
    assert found == AwsCredentials("AKIAPROFILE", "profile-secret", None)
    chain.write_text("")  # looked up once per process: the chain's credentials are kept
    assert AwsCredentials.from_environment({}) == found


@pytest.mark.usefixtures("chain")
def test_no_credentials_anywhere_is_a_configuration_error() -> None:
    with pytest.raises(AwsConfigurationError, match="no AWS credentials: set AWS_ACCESS_KEY_ID"):
        AwsCredentials.from_environment({})


@pytest.mark.usefixtures("chain")
def test_half_the_credentials_in_the_environment_name_no_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAHALF")  # botocore's chain refuses half a pair
    with pytest.raises(AwsConfigurationError) as raised:
        AwsCredentials.from_environment({"AWS_ACCESS_KEY_ID": "AKIAHALF"})
    assert str(raised.value) == "AWS credentials could not be loaded (PartialCredentialsError)"


def test_the_environment_s_credentials_need_no_botocore() -> None:
    code = (
        "import sys; from itom_forwarder.aws_api import AwsCredentials;"
        "AwsCredentials.from_environment({'AWS_ACCESS_KEY_ID': 'a', 'AWS_SECRET_ACCESS_KEY': 'b'});"
        "print(sorted(m for m in sys.modules if m.startswith(('boto3', 'botocore'))))"
    )
    env = {"PYTHONPATH": ":".join(str(path) for path in CODE_PATHS), "PATH": "/usr/bin:/bin"}
    completed = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == "[]"
