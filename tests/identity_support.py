"""Building blocks for identity tests: a small guild built row by row.

Discord accounts and unlinked characters are written as ORM rows because the writers that
normally create them (the Discord member sync, the Blizzard sync) also link, role-sync or
fetch; the engine tests need the raw, unlinked state. Members and links go through services.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text

from sv_common.db.models import AuditIssue, Character, DiscordMember, GuildMember, IdentityLink
from sv_common.identity import members as member_service
from sv_common.identity.integrity.checker import IntegrityStats, run_integrity_check
from sv_common.identity.matching.engine import run_matching
from sv_common.identity.matching.planner import MatchingStats


@dataclass(frozen=True)
class Actor:
    """An officer as the link services see it."""

    id: int
    display_name: str


class World:
    """Creates accounts, characters and members in the test's database."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.snowflakes = 0

    def session(self) -> Any:
        return self.app.state.sessionmaker()

    async def account(
        self,
        username: str,
        *,
        nickname: str | None = None,
        global_name: str | None = None,
        role: str | None = None,
        present: bool = True,
        discord_id: str | None = None,
    ) -> int:
        """An unlinked Discord account; `role` is the platform rank name of its guild role."""
        self.snowflakes += 1
        snowflake = discord_id or f"{400000000000000000 + self.snowflakes}"
        async with self.session() as session, session.begin():
            account = DiscordMember(
                discord_id=snowflake,
                username=username,
                nickname=nickname,
                global_name=global_name,
                display_name=nickname or global_name or username,
                highest_guild_role=role,
                all_guild_roles=[role] if role else [],
                is_present=present,
            )
            session.add(account)
            await session.flush()
            return int(account.id)

    async def character(
        self,
        name: str,
        *,
        realm: str = "senjin",
        note: str | None = None,
        officer_note: str | None = None,
        removed_at: datetime | None = None,
        game_rank: int | None = 3,
        last_login_at: datetime | None = None,
        main_alt: str = "alt",
        wow_class: str | None = "Druid",
    ) -> int:
        """An unlinked character as the Blizzard sync or the addon would store it."""
        async with self.session() as session, session.begin():
            character = Character(
                name=name,
                realm_slug=realm,
                character_class=wow_class,
                guild_note=note,
                officer_note=officer_note,
                removed_at=removed_at,
                game_rank=game_rank,
                last_login_at=last_login_at,
                main_alt=main_alt,
                origin="blizzard_sync",
            )
            session.add(character)
            await session.flush()
            return int(character.id)

    async def member(
        self,
        display_name: str,
        *,
        discord_username: str | None = None,
        discord_id: str | None = None,
        level: int = 2,
    ) -> int:
        """A member created through the member service."""
        async with self.session() as session, session.begin():
            rank_id = await session.scalar(
                text("SELECT id FROM common.guild_ranks WHERE level = :l"), {"l": level}
            )
            member = await member_service.create_member(
                session,
                actor=None,
                discord_username=discord_username,
                discord_id=discord_id,
                display_name=display_name,
                rank_id=rank_id,
            )
            return int(member.id)

    async def match(self, **settings: Any) -> MatchingStats:
        """One matching run in its own transaction."""
        async with self.session() as session, session.begin():
            return await run_matching(session, **settings)

    async def check(self, **settings: Any) -> IntegrityStats:
        """One integrity check in its own transaction."""
        async with self.session() as session, session.begin():
            return await run_integrity_check(session, **settings)

    async def character_row(self, character_id: int) -> Character:
        async with self.session() as session:
            return (
                await session.execute(select(Character).where(Character.id == character_id))
            ).scalar_one()

    async def account_row(self, account_id: int) -> DiscordMember:
        async with self.session() as session:
            return (
                await session.execute(select(DiscordMember).where(DiscordMember.id == account_id))
            ).scalar_one()

    async def member_row(self, member_id: int) -> GuildMember:
        async with self.session() as session:
            return (
                await session.execute(select(GuildMember).where(GuildMember.id == member_id))
            ).scalar_one()

    async def member_level(self, member_id: int) -> tuple[int, str]:
        async with self.session() as session:
            row = (
                await session.execute(
                    text(
                        "SELECT r.level, m.rank_source FROM common.guild_members m "
                        "JOIN common.guild_ranks r ON r.id = m.rank_id WHERE m.id = :id"
                    ),
                    {"id": member_id},
                )
            ).one()
            return int(row[0]), str(row[1])

    async def link_of(
        self, *, character_id: int | None = None, account_id: int | None = None
    ) -> IdentityLink | None:
        async with self.session() as session:
            query = select(IdentityLink)
            if character_id is not None:
                query = query.where(IdentityLink.character_id == character_id)
            else:
                query = query.where(IdentityLink.discord_member_id == account_id)
            return (await session.execute(query)).scalar_one_or_none()

    async def issues(
        self, issue_type: str | None = None, *, open_only: bool = True
    ) -> list[AuditIssue]:
        async with self.session() as session:
            query = select(AuditIssue).order_by(AuditIssue.id)
            if issue_type is not None:
                query = query.where(AuditIssue.issue_type == issue_type)
            if open_only:
                query = query.where(AuditIssue.resolved_at.is_(None))
            return list((await session.scalars(query)).all())

    async def state(self) -> dict[str, list[tuple[Any, ...]]]:
        """Everything a matching run may write, for "nothing changed" comparisons."""
        queries = {
            "members": "SELECT id, display_name, discord_username, discord_id, rank_id, rank_source "
            "FROM common.guild_members ORDER BY id",
            "characters": "SELECT id, member_id, main_alt FROM common.characters ORDER BY id",
            "accounts": "SELECT id, member_id FROM guild_identity.discord_members ORDER BY id",
            "links": "SELECT id, member_id, character_id, discord_member_id, source, confidence, "
            "confirmed, confirmed_by FROM guild_identity.identity_links ORDER BY id",
            "issues": "SELECT id, issue_hash, resolved_at, summary FROM guild_identity.audit_issues "
            "ORDER BY id",
        }
        async with self.session() as session:
            return {
                name: [tuple(row) for row in (await session.execute(text(query))).all()]
                for name, query in queries.items()
            }
