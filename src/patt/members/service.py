"""Admin roster writes from validated request bodies, shared by the JSON API and the admin pages.

Each function turns one body (`patt.members.schemas`) into the identity service call, so the API
route and the page form run the same steps; callers check Officer+ / top rank first.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from patt.accounts import invites
from patt.members.schemas import CharacterCreate, MemberCreate, RankCreate
from sv_common.db.models import Character, GuildMember, GuildRank
from sv_common.identity import characters as character_service
from sv_common.identity import members as member_service
from sv_common.identity import ranks as rank_service


async def create_rank(session: AsyncSession, *, actor: GuildMember, body: RankCreate) -> GuildRank:
    """New rank; 409 when it would put a rank above the acting Guild Leader's."""
    rank = await rank_service.create_rank(
        session,
        name=body.name,
        level=body.level,
        description=body.description,
        discord_role_id=body.discord_role_id,
    )
    await rank_service.check_keeps_top_rank(session, actor.rank_id)
    return rank


async def create_member(
    session: AsyncSession, *, actor: GuildMember, body: MemberCreate
) -> GuildMember:
    """New member (rank guard applies to the chosen rank)."""
    return await member_service.create_member(
        session,
        actor=actor,
        discord_username=body.discord_username,
        discord_id=body.discord_id,
        display_name=body.display_name,
        rank_id=body.rank_id,
    )


async def add_character(
    session: AsyncSession,
    *,
    actor: GuildMember,
    member_id: int,
    body: CharacterCreate,
    region: str,
) -> Character:
    """Add a character, or claim an unlinked one with the same name and realm."""
    return await character_service.add_character(
        session,
        actor=actor,
        member_id=member_id,
        name=body.name,
        realm=body.realm,
        wow_class=body.wow_class,
        spec=body.spec or None,
        role=body.role or None,
        main_alt=body.main_alt,
        region=region,
    )


async def send_invite(*, app_state: Any, actor: GuildMember, member_id: int) -> dict[str, Any]:
    """Create an invite code and DM it (70 §7) with the app's settings, throttle and Discord:
    the code in its own transaction, the DM after the commit."""
    return await invites.send_invite(
        app_state.sessionmaker,
        actor=actor,
        member_id=member_id,
        settings=app_state.settings,
        throttle=app_state.throttles[invites.THROTTLE_NAME],
        discord=getattr(app_state, "discord", None),
    )
