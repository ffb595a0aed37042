"""HS256 access tokens: create and decode with explicit algorithm list and required claims."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import jwt as pyjwt

from sv_common import clock

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ("user_id", "member_id", "rank_level", "iat", "exp")


class TokenError(Exception):
    """Base for token failures; `message` is the API text."""

    message = "Invalid token."


class TokenExpired(TokenError):
    """The token's `exp` is in the past."""

    message = "Token has expired."


class TokenInvalid(TokenError):
    """Bad signature, malformed token or missing claims."""

    message = "Invalid token."


def create_access_token(
    secret: str,
    *,
    user_id: int,
    member_id: int,
    rank_level: int,
    expires_minutes: int,
    token_version: int = 0,
) -> str:
    """Signed token carrying the member's ids and the user's token version (`ver`: the token
    stops working once the version is raised); `rank_level` is informational only."""
    issued = clock.now()
    claims = {
        "user_id": user_id,
        "member_id": member_id,
        "rank_level": rank_level,
        "ver": token_version,
        "iat": int(issued.timestamp()),
        "exp": int((issued + timedelta(minutes=expires_minutes)).timestamp()),
    }
    return pyjwt.encode(claims, secret, algorithm=ALGORITHM)


# Tokens whose signature and claims already checked out, so a signed-in request does not pay
# for HMAC and JSON parsing again (a token's claims never change; expiry is still judged on every
# call). Bounded: the oldest entry goes when it is full.
_VERIFIED: dict[tuple[str, str], dict[str, Any]] = {}
VERIFIED_CACHE_SIZE = 4096


def decode_access_token(secret: str, token: str) -> dict[str, Any]:
    """Verify and return the claims; raises TokenExpired or TokenInvalid."""
    key = (secret, token)
    claims = _VERIFIED.get(key)
    if claims is None:
        claims = _verified_claims(secret, token)
        if len(_VERIFIED) >= VERIFIED_CACHE_SIZE:
            del _VERIFIED[next(iter(_VERIFIED))]
        _VERIFIED[key] = claims
    # expiry checked against the injectable clock so tests can move time
    if claims["exp"] <= int(clock.now().timestamp()):
        raise TokenExpired()
    return dict(claims)


def _verified_claims(secret: str, token: str) -> dict[str, Any]:
    """The claims of a correctly signed token with every required claim an integer."""
    try:
        claims = pyjwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            # exp is judged by decode_access_token with the injectable clock, not PyJWT's wall clock
            # (PyJWT rejects an `iat` in its future, which breaks tokens minted under a moved clock)
            options={
                "require": list(REQUIRED_CLAIMS),
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except pyjwt.PyJWTError as exc:
        raise TokenInvalid() from exc
    for name in ("user_id", "member_id", "rank_level", "iat", "exp"):
        if not isinstance(claims.get(name), int) or isinstance(claims.get(name), bool):
            raise TokenInvalid()
    return claims
