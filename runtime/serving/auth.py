"""Optional bearer-token auth: JWTs signed HS256 (shared secret) or RS256 (public key), with the `predict`
scope.

The key comes from a mounted file: a PEM public key means RS256, anything else is an HS256 secret.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jwt

from runtime.serving.errors import Forbidden, Unauthorized

REQUIRED_SCOPE = "predict"


class Authenticator:
    def __init__(self, key_file: Path, *, audience: str | None = None) -> None:
        material = key_file.read_text().strip()
        if not material:
            raise ValueError(f"{key_file} is empty: put an HS256 secret or an RS256 PEM public key in it")
        self.audience = audience
        if material.startswith("-----BEGIN"):
            from cryptography.hazmat.primitives.serialization import load_pem_public_key

            self._key: Any = load_pem_public_key(material.encode())
            self.algorithms = ["RS256"]
        else:
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
                options={"require": ["exp"], "verify_aud": self.audience is not None},
            )
        except jwt.PyJWTError as error:
            raise Unauthorized(f"invalid token: {error}") from None
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
