"""The one-time setup link (20 §7), kept in PostgreSQL so every app process accepts the same one.

Only the sha256 hex of the token is stored, in the single row of `common.setup_token`. Each
start in setup mode replaces it (the link printed last is the valid one); creating the Guild
Leader deletes it in the same transaction, so the link dies for every process at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

MAX_TOKEN_LENGTH = 200

_ARM = """
INSERT INTO common.setup_token (id, token_hash, created_at) VALUES (1, :hash, now())
ON CONFLICT (id) DO UPDATE SET token_hash = EXCLUDED.token_hash, created_at = now()
"""


def token_hash(token: str) -> str:
    """The stored form of a setup token."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


async def arm(session: AsyncSession, hashed: str) -> None:
    """Make `hashed` (sha256 hex of the token) the only valid setup token."""
    await session.execute(text(_ARM), {"hash": hashed.strip().lower()})


async def create(session: AsyncSession) -> str:
    """A new random token (32 bytes, URL-safe), armed; the caller prints the link."""
    token = secrets.token_urlsafe(32)
    await arm(session, token_hash(token))
    return token


async def matches(session: AsyncSession, token: str) -> bool:
    """Constant-time check of `token` against the stored hash (False when none is stored)."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return False
    stored = await session.scalar(text("SELECT token_hash FROM common.setup_token WHERE id = 1"))
    if not stored:
        return False
    return hmac.compare_digest(token_hash(token).encode(), str(stored).encode())


async def is_armed(session: AsyncSession) -> bool:
    """A setup token is stored."""
    return bool(await session.scalar(text("SELECT EXISTS (SELECT 1 FROM common.setup_token)")))


async def discard(session: AsyncSession) -> None:
    """No setup link works any more (the Guild Leader exists)."""
    await session.execute(text("DELETE FROM common.setup_token"))
