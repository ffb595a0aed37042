"""One-time invite codes bound to one member (20 §5): generate, validate, consume."""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from sv_common import clock
from sv_common.db.models import InviteCode
from sv_common.errors import BadRequest, Unavailable

log = logging.getLogger(__name__)

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
MAX_TRIES = 5


def new_code() -> str:
    """8 characters from the unambiguous alphabet, from `secrets`."""
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(raw: str) -> str:
    """Trim, upper-case, drop spaces and hyphens (users type `abcd-2345`)."""
    return raw.strip().upper().replace(" ", "").replace("-", "")


async def generate_invite_code(
    session: AsyncSession, *, member_id: int, created_by_id: int | None, expires_hours: int = 72
) -> InviteCode:
    """Create a code for the member, revoking their earlier unused codes (same transaction)."""
    now = clock.now()
    await session.execute(
        update(InviteCode)
        .where(
            InviteCode.member_id == member_id,
            InviteCode.used_at.is_(None),
            InviteCode.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    for _ in range(MAX_TRIES):
        invite = InviteCode(
            code=new_code(),
            member_id=member_id,
            created_by=created_by_id,
            expires_at=now + timedelta(hours=expires_hours),
            created_at=now,
        )
        try:
            async with session.begin_nested():
                session.add(invite)
                await session.flush()
            return invite
        except IntegrityError:
            log.warning("invite code collision for member %s; retrying", member_id)
    log.error("could not generate a unique invite code after %s tries", MAX_TRIES)
    raise Unavailable("Could not generate an invite code, try again.")


def invite_problem(invite: InviteCode | None) -> str | None:
    """The registration message for an unusable code, or None when it is valid (20 §6)."""
    if invite is None:
        return "Invalid invite code."
    if invite.used_at is not None:
        return "This invite code has already been used."
    if invite.revoked_at is not None:
        return "This invite code is no longer valid."
    if clock.now() >= invite.expires_at:
        return "This invite code has expired."
    return None


async def find_invite_code(
    session: AsyncSession, code: str, *, lock: bool = False
) -> InviteCode | None:
    """Look a code up after normalisation (optionally `FOR UPDATE`)."""
    normalised = normalise_code(code)
    if not normalised or len(normalised) > 20:
        return None
    query = select(InviteCode).where(InviteCode.code == normalised)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def validate_invite_code(session: AsyncSession, code: str) -> InviteCode | None:
    """The code row when usable; None if unknown, used, revoked or expired."""
    invite = await find_invite_code(session, code)
    return invite if invite_problem(invite) is None else None


async def consume_invite_code(session: AsyncSession, code: str) -> InviteCode:
    """Lock, check and mark the code used; raises BadRequest with the rule's message."""
    invite = await find_invite_code(session, code, lock=True)
    problem = invite_problem(invite)
    if problem is not None or invite is None:
        raise BadRequest(problem or "Invalid invite code.")
    invite.used_at = clock.now()
    await session.flush()
    return invite
