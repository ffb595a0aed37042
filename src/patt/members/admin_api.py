"""Admin roster API under /api/v1/admin (30 §4): ranks, members, characters, send-invite.

Officer+ for everything; rank writes need the top rank. Member and character writes follow the
rank guard of decision 5 (in the identity services).

Choices where the spec is silent:
- A rank write that would leave the acting Guild Leader without the top rank (re-levelling
  their own rank below another, or creating a rank above it) is refused with 409, so the guild
  can never lock itself out of rank management.
- Character writes answer with the officer Character shape (30 §1.1, Officer+ fields).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from patt.core.envelope import Deleted, Envelope, ok
from patt.core.fields import IdPath
from patt.deps import DB, Officer, OfficerOutsideTransaction
from patt.members import service as roster_writes
from patt.members.schemas import (
    CharacterCreate,
    CharacterOfficerRead,
    CharacterUpdate,
    InviteSent,
    MemberCreate,
    MemberDetail,
    MemberOfficerRead,
    MemberSignedOut,
    MemberUpdate,
    RankCreate,
    RankRead,
    RankUpdate,
    changes_of,
)
from sv_common.auth import sessions
from sv_common.db.models import GuildMember
from sv_common.errors import Conflict
from sv_common.identity import characters as character_service
from sv_common.identity import members as member_service
from sv_common.identity import ranks as rank_service

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


async def require_top_rank(member: Officer, db: DB) -> GuildMember:
    """Officer+ (401/403 first), then 403 unless the member holds the top rank."""
    await rank_service.check_top_rank(db, member)
    return member


TopRank = Annotated[GuildMember, Depends(require_top_rank)]


# ------------------------------------------------------------------------------ ranks
@router.get("/ranks", response_model=Envelope[list[RankRead]])
async def list_ranks(member: Officer, db: DB) -> Response:
    """All ranks ordered by level."""
    return ok([RankRead.model_validate(rank) for rank in await rank_service.list_ranks(db)])


@router.post("/ranks", status_code=201, response_model=Envelope[RankRead])
async def create_rank(body: RankCreate, actor: TopRank, db: DB) -> Response:
    """New rank (top rank only)."""
    rank = await roster_writes.create_rank(db, actor=actor, body=body)
    return ok(RankRead.model_validate(rank), 201)


@router.patch("/ranks/{rank_id}", response_model=Envelope[RankRead])
async def update_rank(rank_id: IdPath, body: RankUpdate, actor: TopRank, db: DB) -> Response:
    """Rename, re-level, describe or map a rank (top rank only)."""
    rank = await rank_service.update_rank(db, rank_id, changes_of(body))
    await rank_service.check_keeps_top_rank(db, actor.rank_id)
    return ok(RankRead.model_validate(rank))


@router.delete("/ranks/{rank_id}", response_model=Envelope[Deleted])
async def delete_rank(rank_id: IdPath, actor: TopRank, db: DB) -> Response:
    """Delete an unused rank (top rank only)."""
    await rank_service.delete_rank(db, rank_id)
    return ok(Deleted())


# ---------------------------------------------------------------------------- members
@router.get("/members", response_model=Envelope[list[MemberOfficerRead]])
async def list_members(member: Officer, db: DB) -> Response:
    """All members ordered by display name."""
    return ok([MemberOfficerRead.of(m) for m in await member_service.list_members(db)])


@router.post("/members", status_code=201, response_model=Envelope[MemberOfficerRead])
async def create_member(body: MemberCreate, actor: Officer, db: DB) -> Response:
    """New member (rank guard applies to the chosen rank)."""
    member = await roster_writes.create_member(db, actor=actor, body=body)
    return ok(MemberOfficerRead.of(member), 201)


@router.get("/members/{member_id}", response_model=Envelope[MemberDetail])
async def get_member(member_id: IdPath, member: Officer, db: DB) -> Response:
    """One member with all their characters."""
    target = await member_service.get_member(db, member_id)
    characters = await character_service.list_member_characters(db, target.id)
    return ok(MemberDetail.of(target, characters=[CharacterOfficerRead.of(c) for c in characters]))


@router.patch("/members/{member_id}", response_model=Envelope[MemberOfficerRead])
async def update_member(member_id: IdPath, body: MemberUpdate, actor: Officer, db: DB) -> Response:
    """Change the given fields; null clears discord_id, discord_username and notes."""
    member = await member_service.update_member(
        db, actor=actor, member_id=member_id, changes=changes_of(body)
    )
    return ok(MemberOfficerRead.of(member))


@router.get("/members/{member_id}/characters", response_model=Envelope[list[CharacterOfficerRead]])
async def list_member_characters(member_id: IdPath, member: Officer, db: DB) -> Response:
    """A member's characters (404 for an unknown member)."""
    target = await member_service.get_member(db, member_id)
    characters = await character_service.list_member_characters(db, target.id)
    return ok([CharacterOfficerRead.of(c) for c in characters])


@router.post(
    "/members/{member_id}/characters",
    status_code=201,
    response_model=Envelope[CharacterOfficerRead],
)
async def add_character(
    member_id: IdPath, body: CharacterCreate, request: Request, actor: Officer, db: DB
) -> Response:
    """Add a character, or claim an unlinked one with the same name and realm."""
    character = await roster_writes.add_character(
        db,
        actor=actor,
        member_id=member_id,
        body=body,
        region=request.app.state.settings.blizzard_region,
    )
    return ok(CharacterOfficerRead.of(character), 201)


@router.patch("/characters/{character_id}", response_model=Envelope[CharacterOfficerRead])
async def update_character(
    character_id: IdPath, body: CharacterUpdate, request: Request, actor: Officer, db: DB
) -> Response:
    """Edit a character, or link / move / unlink it with `member_id`."""
    character = await character_service.update_character(
        db,
        actor=actor,
        character_id=character_id,
        changes=changes_of(body),
        region=request.app.state.settings.blizzard_region,
    )
    return ok(CharacterOfficerRead.of(character))


@router.delete("/characters/{character_id}", response_model=Envelope[Deleted])
async def delete_character(character_id: IdPath, actor: Officer, db: DB) -> Response:
    """Delete a character (a synced one still in the guild returns as an orphan)."""
    await character_service.delete_character(db, character_id, actor=actor)
    return ok(Deleted())


# ---------------------------------------------------------------------------- invites
@router.post("/members/{member_id}/send-invite", response_model=Envelope[InviteSent])
async def send_invite(
    member_id: IdPath, request: Request, actor: OfficerOutsideTransaction
) -> Response:
    """Create an invite code and DM it (70 §7); 200 whenever a code was created."""
    data = await roster_writes.send_invite(
        app_state=request.app.state, actor=actor, member_id=member_id
    )
    return ok(data)


@router.post("/members/{member_id}/sign-out", response_model=Envelope[MemberSignedOut])
async def sign_out_member(member_id: IdPath, actor: Officer, db: DB) -> Response:
    """End every session of a member's account (a lost phone, a shared password)."""
    target = await member_service.get_member(db, member_id)
    member_service.check_can_edit(actor, target, changes_rank=False)
    if target.user_id is None:
        raise Conflict("This member has no account.")
    await sessions.sign_out_everywhere(db, target.user_id)
    return ok(MemberSignedOut(member_id=target.id))
