"""Optional bearer-token auth: JWTs signed HS256 (shared secret) or RS256 (public key), with the `predict`
scope.

The key comes from a mounted file: a PEM public key means RS256, anything else is an HS256 secret of at least
32 bytes (RFC 7518 section 3.2: a key at least as long as the hash output). With no audience configured, a token
that names one is refused (it was issued for another service); `exp` must be a JSON number no further ahead
than the maximum token lifetime.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import jwt

from runtime.serving.errors import Forbidden, Unauthorized

REQUIRED_SCOPE = "predict"
MIN_HS256_KEY_BYTES = 32


class Authenticator:
    def __init__(self, key_file: Path, *, audience: str | None = None, max_lifetime_s: float = 86_400.0) -> None:
        material = key_file.read_text().strip()
        if not material:
            raise ValueError(f"{key_file} is empty: put an HS256 secret or an RS256 PEM public key in it")
        self.audience = audience
        self.max_lifetime_s = max_lifetime_s
        if material.startswith("-----BEGIN"):
            from cryptography.hazmat.primitives.serialization import load_pem_public_key

            self._key: Any = load_pem_public_key(material.encode())
            self.algorithms = ["RS256"]
        else:
            if len(material.encode()) < MIN_HS256_KEY_BYTES:
                raise ValueError(
                    f"{key_file}: an HS256 secret needs at least {MIN_HS256_KEY_BYTES} bytes "
                    f"(RFC 7518 section 3.2), this one has {len(material.encode())}"
                )
            self._key = material
            self.algorithms = ["HS256"]

    def check(self, authorization: str | None) -> dict[str, Any]:
        """The token's claims when it is valid and grants `predict`; raises 401 or 403 otherwise."""
        if not authorization:
            raise Unauthorized("missing bearer token")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("expected `Authorization: Bearer <token>`")
        try:
            claims: dict[str, Any] = jwt.decode(
                token.strip(),
                self._key,
                algorithms=self.algorithms,
                audience=self.audience,
                # with no audience configured, PyJWT refuses a token that carries one
                options={"require": ["exp"], "verify_aud": True},
            )
        except jwt.PyJWTError as error:
            raise Unauthorized(f"invalid token: {error}") from None
        expires = claims["exp"]
        if type(expires) not in (int, float) or not math.isfinite(expires):
            raise Unauthorized("invalid token: `exp` must be a number of seconds since the epoch")
        if expires > time.time() + self.max_lifetime_s:
            raise Unauthorized(f"invalid token: `exp` is more than {self.max_lifetime_s:g} s ahead")
        if REQUIRED_SCOPE not in scopes(claims):
            raise Forbidden(f"token lacks the `{REQUIRED_SCOPE}` scope")
        return claims


def scopes(claims: dict[str, Any]) -> set[str]:
    """Scopes from `scope` (space-separated, OAuth 2) or `scp` (list or string)."""
    found: set[str] = set()
    for name in ("scope", "scp"):
        value = claims.get(name)
        if isinstance(value, str):
            found.update(value.split())
        elif isinstance(value, list):
            found.update(str(item) for item in value)
    return found
