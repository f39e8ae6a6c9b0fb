"""OAuth pieces on their own: key loading, the JWT assertion, the token cache."""

from __future__ import annotations

import threading
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from itom_forwarder.failures import ConfigError
from itom_forwarder.servicenow import ServiceNowConnection
from itom_forwarder.servicenow.oauth import (
    ASSERTION_LIFETIME_SECONDS,
    AccessToken,
    TokenCache,
    load_private_key,
    make_assertion,
)
from local.keys import make_key_pair
from local.stack import remember_secret

PASSWORD = "k3y-passw0rd"
CONNECTION = ServiceNowConnection(
    instance_url="https://acme.service-now.com",
    use_oauth=True,
    client_id="client-123",
    client_secret="client-secret-value",
    jwt_key_id="kid-9",
    user_identifier="svc@acme.com",
)
remember_secret(PASSWORD, "client-secret-value")


@pytest.fixture(scope="module")
def pkcs8_encrypted() -> str:
    return make_key_pair(password=PASSWORD).private_key_pem


@pytest.mark.parametrize(
    ("password", "traditional", "header"),
    [
        (None, False, "BEGIN PRIVATE KEY"),
        (None, True, "BEGIN RSA PRIVATE KEY"),
        (PASSWORD, False, "BEGIN ENCRYPTED PRIVATE KEY"),
        (PASSWORD, True, "Proc-Type: 4,ENCRYPTED"),
    ],
)
def test_pkcs1_and_pkcs8_keys_encrypted_or_not_load(password: str | None, traditional: bool, header: str) -> None:
    pem = make_key_pair(password=password, traditional=traditional, bits=2048).private_key_pem
    assert header in pem
    assert load_private_key(pem, password).key_size == 2048


def test_encrypted_key_without_password(pkcs8_encrypted: str) -> None:
    with pytest.raises(ConfigError, match=r"^private_key_password: required, private_key is encrypted$"):
        load_private_key(pkcs8_encrypted, None)


def test_encrypted_key_with_the_wrong_password(pkcs8_encrypted: str) -> None:
    with pytest.raises(ConfigError, match=r"^private_key_password: does not decrypt private_key$") as raised:
        load_private_key(pkcs8_encrypted, "wrong")
    assert "wrong" not in str(raised.value).replace("wrong password", "")


def test_password_with_unencrypted_key_is_accepted() -> None:
    pem = make_key_pair(bits=2048).private_key_pem
    assert load_private_key(pem, "foobar").key_size == 2048


def test_pem_with_literal_newline_escapes_loads() -> None:
    pem = make_key_pair(bits=2048).private_key_pem
    assert load_private_key(pem.replace("\n", "\\n"), None).key_size == 2048


@pytest.mark.parametrize(
    ("pem", "message"),
    [
        ("not a key at all", "private_key: not a PEM private key"),
        ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----", "private_key: cannot be read"),
    ],
)
def test_unreadable_keys(pem: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_private_key(pem, None)


def test_short_rsa_key_is_refused() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - the point of the test
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    with pytest.raises(ConfigError, match="RSA key of 1024 bits, at least 2048"):
        load_private_key(pem, None)


def test_assertion_claims_and_header() -> None:
    pair = make_key_pair(bits=2048)
    key = load_private_key(pair.private_key_pem, None)
    first = make_assertion(key, CONNECTION, now=time.time())
    second = make_assertion(key, CONNECTION, now=time.time())
    public_key = key.public_key()
    header = jwt.get_unverified_header(first)
    assert header == {"alg": "RS256", "typ": "JWT", "kid": "kid-9"}
    claims = jwt.decode(first, public_key, algorithms=["RS256"], audience="client-123")
    assert claims["iss"] == claims["aud"] == "client-123"
    assert claims["sub"] == "svc@acme.com"
    assert claims["exp"] - claims["iat"] == ASSERTION_LIFETIME_SECONDS
    other = jwt.decode(second, public_key, algorithms=["RS256"], audience="client-123")
    assert claims["jti"] != other["jti"]


def test_token_cache_reuses_until_expiry() -> None:
    now = [100.0]
    cache = TokenCache(clock=lambda: now[0])
    fetched: list[int] = []

    def fetch() -> AccessToken:
        fetched.append(1)
        return AccessToken(f"t{len(fetched)}", "Bearer", now[0] + 10)

    key = ("https://a", "c", "u")
    assert cache.get(key, fetch).header == "Bearer t1"
    now[0] = 109.9
    assert cache.get(key, fetch).value == "t1"
    now[0] = 110.0
    assert cache.get(key, fetch).value == "t2"
    cache.drop(key)
    assert cache.get(key, fetch).value == "t3"
    assert cache.get(("https://b", "c", "u"), fetch).value == "t4"  # keyed by instance, client, user


def test_concurrent_callers_make_one_token_request() -> None:
    cache = TokenCache()
    calls: list[int] = []

    def slow_fetch() -> AccessToken:
        calls.append(1)
        time.sleep(0.2)
        return AccessToken("t", "Bearer", time.monotonic() + 60)

    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get(("i", "c", "u"), slow_fetch).value)) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["t"] * 8
    assert len(calls) == 1
