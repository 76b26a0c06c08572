"""Optional bearer auth: HS256 and RS256 tokens, the `predict` scope, typed 401/403."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from runtime.serving.auth import Authenticator
from runtime.serving.errors import Forbidden, Unauthorized

SECRET = "a-test-secret-of-at-least-32-bytes!!"


def hs256_token(scope: str = "predict", expires_in: float = 3600, secret: str = SECRET) -> str:
    return jwt.encode({"sub": "ci", "scope": scope, "exp": int(time.time() + expires_in)}, secret, algorithm="HS256")


@pytest.fixture
def hs256(tmp_path: Path) -> Authenticator:
    key = tmp_path / "key"
    key.write_text(SECRET + "\n")
    return Authenticator(key)


def test_hs256_accepts_predict_scope(hs256: Authenticator) -> None:
    assert hs256.check(f"Bearer {hs256_token('read predict')}")["sub"] == "ci"


@pytest.mark.parametrize(
    ("header", "error"),
    [
        (lambda: None, Unauthorized),
        (lambda: "Basic abc", Unauthorized),
        (lambda: "Bearer not-a-jwt", Unauthorized),
        (lambda: f"Bearer {hs256_token(expires_in=-10)}", Unauthorized),
        (lambda: f"Bearer {hs256_token(secret='another-secret-of-at-least-32-bytes')}", Unauthorized),
        (lambda: f"Bearer {hs256_token(scope='read')}", Forbidden),
    ],
)
def test_hs256_refusals(hs256: Authenticator, header: Callable[[], str | None], error: type[Exception]) -> None:
    with pytest.raises(error):
        hs256.check(header())  # tokens minted now: collection may be minutes before the test runs


def test_rs256_with_public_key_file(tmp_path: Path) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    key = tmp_path / "public.pem"
    key.write_bytes(public_pem)
    auth = Authenticator(key, audience="mlplat")
    claims = {"scp": ["predict"], "aud": "mlplat", "exp": int(time.time() + 60)}
    token = jwt.encode(claims, private, algorithm="RS256")
    assert auth.check(f"Bearer {token}")["scp"] == ["predict"]
    with pytest.raises(Unauthorized):  # an HS256 token signed with the public key must not pass (alg confusion)
        auth.check(f"Bearer {jwt.encode(claims, 'x' * 32, algorithm='HS256')}")
    with pytest.raises(Unauthorized):
        auth.check(f"Bearer {jwt.encode({**claims, 'aud': 'other'}, private, algorithm='RS256')}")


def _token(claims: dict[str, object]) -> str:
    return jwt.encode({"sub": "ci", "scope": "predict", **claims}, SECRET, algorithm="HS256")


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": "another-service", "exp": 0},  # no audience configured: a token issued for another service
        {"exp": "{now}"},  # exp as a numeric string
        {"exp": 1e300},  # exp so far ahead the token never expires
        {"exp": "{year}"},  # a year ahead: beyond the maximum token lifetime
    ],
)
def test_tokens_issue_20_found_accepted_are_refused(hs256: Authenticator, claims: dict[str, object]) -> None:
    """Issue 20 #11: foreign audience, `exp` as a string or 1e300 were accepted."""
    now = int(time.time())
    values = {"{now}": str(now + 60), "{year}": now + 365 * 86_400}
    filled = {k: values.get(v, v) if isinstance(v, str) else v for k, v in claims.items()}
    if filled.get("exp") == 0:
        filled["exp"] = now + 60
    with pytest.raises(Unauthorized):
        hs256.check(f"Bearer {_token(filled)}")
    assert hs256.check(f"Bearer {_token({'exp': now + 60})}")["sub"] == "ci"  # the same token, well formed


def test_short_hs256_secret_is_refused_at_start(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("k")  # one byte: brute-forced in no time
    with pytest.raises(ValueError, match="at least 32 bytes"):
        Authenticator(key)
