"""Discord member sync into `guild_identity.discord_members` (70 §5): full sync and live events.

Full sync: fetch the member list, drop bots, bulk-upsert every account, mark the missing ones
departed (unless the safety rule says the list is implausible), attach accounts to existing
members (engine step A, 85 §3), then role sync (70 §6) on the same list — all in one
transaction, so a failed fetch or a crash writes nothing.

Counting: every fetched account is exactly one of `new`, `rejoined` (was departed),
`updated` (stored values changed) or `unchanged`; `found` is their sum.

Events (join / remove / update / user_update) are idempotent: they compare with the stored
row, so an event replayed after a full sync changes nothing. They never run the pipeline
inline; they call `request_pipeline(reason)` (debounced by the caller).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sv_common import clock
from sv_common.db.models import (
    DiscordMember,
    GuildMember,
    GuildRank,
    LinkRejection,
)
from sv_common.discord.interface import (
    DiscordMemberInfo,
    DiscordService,
    DiscordUnavailable,
    MemberEvent,
)
from sv_common.discord.role_sync import (
    DEFAULT_GAME_RANK_NAMES,
    RoleSyncStats,
    ranks_for_roles,
    sync_roles,
)
from sv_common.guild_sync.sync_log import SyncRun, finish_sync, start_sync
from sv_common.identity import members as member_service
from sv_common.identity.names import key

log = logging.getLogger(__name__)

SOURCE = "discord_bot"
SAFETY_MIN_PRESENT = 10
SAFETY_RATIO = 0.5
PARTIAL_MESSAGE = "member list implausibly small; departures skipped"
UPSERT_CHUNK = 1000
# Columns compared to decide "updated" (everything the sync writes except bookkeeping).
COMPARED = (
    "username",
    "global_name",
    "nickname",
    "display_name",
    "roles",
    "highest_guild_role",
    "all_guild_roles",
    "joined_server_at",
)


@dataclass
class MemberSyncStats:
    """Result of a full Discord sync (70 §5.1)."""

    found: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    departed: int = 0
    rejoined: int = 0
    accounts_linked: int = 0
    status: str = "success"
    message: str | None = None
    role_sync: RoleSyncStats = field(default_factory=RoleSyncStats)
    sync_log_id: int | None = None

    @property
    def changed(self) -> bool:
        """True when anything was written that the pipeline should look at."""
        roles = self.role_sync
        return bool(
            self.new
            or self.updated
            or self.departed
            or self.rejoined
            or self.accounts_linked
            or roles.updated
            or roles.created
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON form (API, CLI, logs)."""
        data = asdict(self)
        data["role_sync"] = self.role_sync.as_dict()
        return data


# ------------------------------------------------------------------------------ rows
def _clip(value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value[:limit] or None


def account_values(user: DiscordMemberInfo, ranks: Sequence[GuildRank]) -> dict[str, Any]:
    """Column values of one account as the sync stores them."""
    matched = ranks_for_roles(user.roles, ranks)
    return {
        "discord_id": user.id,
        "username": (user.username.strip() or user.id)[:50],
        "global_name": _clip(user.global_name, 100),
        "nickname": _clip(user.nick, 100),
        "display_name": _clip(user.display_name, 100),
        "roles": [{"id": role.id, "name": role.name} for role in user.roles],
        "highest_guild_role": matched[0].name[:50] if matched else None,
        "all_guild_roles": [rank.name for rank in matched],
        "joined_server_at": user.joined_at,
    }


def _stored(row: DiscordMember) -> dict[str, Any]:
    return {column: getattr(row, column) for column in COMPARED}


def _same(stored: dict[str, Any], values: dict[str, Any]) -> bool:
    return all(stored[c] == values[c] for c in COMPARED)


async def _upsert(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """`INSERT … ON CONFLICT (discord_id) DO UPDATE` in chunks (member_id is never touched)."""
    now = clock.now()
    for start in range(0, len(rows), UPSERT_CHUNK):
        chunk = [
            {**row, "is_present": True, "removed_at": None, "last_sync": now}
            for row in rows[start : start + UPSERT_CHUNK]
        ]
        statement = insert(DiscordMember).values(chunk)
        statement = statement.on_conflict_do_update(
            index_elements=[DiscordMember.discord_id],
            set_={
                column: statement.excluded[column]
                for column in (*COMPARED, "is_present", "removed_at", "last_sync")
            },
        )
        await session.execute(statement)


async def _ranks(session: AsyncSession) -> list[GuildRank]:
    return list((await session.scalars(select(GuildRank).order_by(GuildRank.level))).all())


# --------------------------------------------------------------------- account linking
async def link_accounts(session: AsyncSession, discord_ids: Sequence[str] | None = None) -> int:
    """Engine step A (85 §3): attach present unlinked accounts to existing members.

    A1: the member whose `discord_id` is the account's snowflake (`discord_sync`).
    A2: else the one member without snowflake and account whose username key matches
    (`exact_name_match`; the member gets the snowflake). Rejected pairs are never linked.
    """
    query = select(DiscordMember).where(
        DiscordMember.is_present.is_(True), DiscordMember.member_id.is_(None)
    )
    if discord_ids is not None:
        query = query.where(DiscordMember.discord_id.in_(list(discord_ids)))
    accounts = list((await session.scalars(query.order_by(DiscordMember.id))).all())
    if not accounts:
        return 0
    snowflakes = [a.discord_id for a in accounts]
    by_snowflake = {
        m.discord_id: m
        for m in (
            await session.scalars(select(GuildMember).where(GuildMember.discord_id.in_(snowflakes)))
        ).all()
    }
    has_account = select(DiscordMember.id).where(DiscordMember.member_id == GuildMember.id)
    free = (
        await session.scalars(
            select(GuildMember).where(
                GuildMember.discord_id.is_(None),
                GuildMember.discord_username.is_not(None),
                ~has_account.exists(),
            )
        )
    ).all()
    by_key: dict[str, list[GuildMember]] = {}
    for member in free:
        by_key.setdefault(key(member.discord_username), []).append(member)
    rejected = {
        (r.discord_member_id, r.member_id)
        for r in (
            await session.scalars(
                select(LinkRejection).where(
                    LinkRejection.discord_member_id.in_([a.id for a in accounts])
                )
            )
        ).all()
    }
    linked = 0
    now = clock.now()
    for account in accounts:
        found = by_snowflake.get(account.discord_id)
        source = "discord_sync"
        if found is None:
            candidates = by_key.get(key(account.username), []) if account.username else []
            if len(candidates) != 1:
                continue
            found = candidates[0]
            source = "exact_name_match"
        member = found
        if (account.id, member.id) in rejected:
            continue
        if source == "exact_name_match":
            member.discord_id = account.discord_id
            by_key[key(member.discord_username)].remove(member)
        member_service.link_discord_automatically(
            session, account=account, member=member, source=source, at=now
        )
        linked += 1
    await session.flush()
    return linked


# ------------------------------------------------------------------------- full sync
async def apply_member_list(
    session: AsyncSession,
    members: Sequence[DiscordMemberInfo],
    *,
    game_rank_names: Sequence[str] = DEFAULT_GAME_RANK_NAMES,
) -> MemberSyncStats:
    """Write a fetched member list (steps 2–5 of 70 §5.1) in the caller's transaction."""
    stats = MemberSyncStats()
    users = list({m.id: m for m in members if not m.bot}.values())
    ranks = await _ranks(session)
    existing = {
        row.discord_id: row
        for row in (
            await session.scalars(
                select(DiscordMember).where(DiscordMember.discord_id.in_([u.id for u in users]))
            )
        ).all()
    }
    present_before = int(
        await session.scalar(select(func.count()).where(DiscordMember.is_present.is_(True))) or 0
    )
    rows: list[dict[str, Any]] = []
    for user in users:
        values = account_values(user, ranks)
        rows.append(values)
        row = existing.get(user.id)
        if row is None:
            stats.new += 1
        elif not row.is_present:
            stats.rejoined += 1
        elif _same(_stored(row), values):
            stats.unchanged += 1
        else:
            stats.updated += 1
    stats.found = len(users)
    await _upsert(session, rows)
    session.expire_all()

    implausible = not users or (
        present_before >= SAFETY_MIN_PRESENT and len(users) < SAFETY_RATIO * present_before
    )
    if implausible:
        stats.status = "partial"
        stats.message = PARTIAL_MESSAGE
        log.warning(
            "Discord sync: %s accounts listed, %s present before; %s",
            len(users),
            present_before,
            PARTIAL_MESSAGE,
        )
    else:
        result = await session.execute(
            update(DiscordMember)
            .where(
                DiscordMember.is_present.is_(True),
                DiscordMember.discord_id.not_in([u.id for u in users]),
            )
            .values(is_present=False, removed_at=clock.now())
            .returning(DiscordMember.id)
        )
        stats.departed = len(result.all())

    stats.accounts_linked = await link_accounts(session)
    stats.role_sync = await sync_roles(session, users, game_rank_names=game_rank_names)
    return stats


async def sync_discord_members(
    service: DiscordService,
    session: AsyncSession,
    *,
    game_rank_names: Sequence[str] = DEFAULT_GAME_RANK_NAMES,
) -> MemberSyncStats:
    """Fetch the member list and write it; DiscordUnavailable propagates (nothing written)."""
    members = await service.list_members()
    return await apply_member_list(session, members, game_rank_names=game_rank_names)


async def run_discord_sync(
    service: DiscordService,
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    triggered_by: str,
    scheduled: bool = False,
    game_rank_names: Sequence[str] = DEFAULT_GAME_RANK_NAMES,
    log_id: int | None = None,
) -> MemberSyncStats | None:
    """A logged full sync (sync_log `discord_bot`); `log_id` continues a row already inserted.

    Scheduled runs are skipped silently (None, no row) while Discord is unavailable; manual
    runs write an `error` row and raise DiscordUnavailable.
    """
    if scheduled and not service.available and not getattr(service, "is_file_fake", False):
        return None
    started = time.monotonic()
    if log_id is None:
        log_id = await start_sync(sessionmaker, source=SOURCE, triggered_by=triggered_by)
    run = SyncRun(log_id=log_id)
    stats: MemberSyncStats | None = None
    try:
        # the member list is fetched before the transaction opens: no connection is held while
        # Discord answers
        members = await service.list_members()
        async with sessionmaker() as session, session.begin():
            stats = await apply_member_list(session, members, game_rank_names=game_rank_names)
        stats.sync_log_id = run.log_id
        run.status = stats.status
        run.error_message = stats.message
        run.found, run.new, run.updated, run.removed = (
            stats.found,
            stats.new,
            stats.updated,
            stats.departed,
        )
        run.details = {
            "unchanged": stats.unchanged,
            "rejoined": stats.rejoined,
            "accounts_linked": stats.accounts_linked,
            "role_sync": stats.role_sync.as_dict(),
        }
        return stats
    except DiscordUnavailable as exc:
        run.status = "error"
        run.error_message = exc.message
        if scheduled:
            log.warning("scheduled Discord sync skipped: %s", exc.message)
            return None
        raise
    except BaseException as exc:
        run.status = "error"
        run.error_message = (str(exc) or type(exc).__name__)[:500]
        raise
    finally:
        await finish_sync(sessionmaker, run, duration=time.monotonic() - started)


# ---------------------------------------------------------------------------- events
PipelineRequest = Callable[[str], None]


class MemberEventHandler:
    """Listener for `DiscordService.subscribe` that keeps accounts and ranks current (70 §5.2)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        request_pipeline: PipelineRequest | None = None,
        game_rank_names: Sequence[str] = DEFAULT_GAME_RANK_NAMES,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.request_pipeline = request_pipeline
        self.game_rank_names = list(game_rank_names)

    async def __call__(self, event: MemberEvent) -> None:
        """Apply one event in its own transaction."""
        if event.member.bot:
            return
        async with self.sessionmaker() as session, session.begin():
            if event.kind == "join":
                changed = await self._upsert_one(session, event.member, role_sync=True)
            elif event.kind == "remove":
                changed = await self._remove(session, event.member.id)
            elif event.kind == "update":
                changed = await self._upsert_one(session, event.member, role_sync=True)
            elif event.kind == "user_update":
                changed = await self._user_update(session, event.member)
            else:
                return
        if changed and event.kind in ("join", "remove") and self.request_pipeline:
            self.request_pipeline(f"discord {event.kind}")

    async def _upsert_one(
        self, session: AsyncSession, user: DiscordMemberInfo, *, role_sync: bool
    ) -> bool:
        """Upsert one account when it differs from the stored row; then link and role-sync it."""
        ranks = await _ranks(session)
        values = account_values(user, ranks)
        row = (
            await session.scalars(select(DiscordMember).where(DiscordMember.discord_id == user.id))
        ).first()
        if row is not None and row.is_present and _same(_stored(row), values):
            return False
        await _upsert(session, [values])
        session.expire_all()
        await link_accounts(session, [user.id])
        if role_sync:
            await sync_roles(session, [user], game_rank_names=self.game_rank_names)
        return True

    async def _remove(self, session: AsyncSession, user_id: str) -> bool:
        result = await session.execute(
            update(DiscordMember)
            .where(DiscordMember.discord_id == user_id, DiscordMember.is_present.is_(True))
            .values(is_present=False, removed_at=clock.now())
            .returning(DiscordMember.id)
        )
        return bool(result.all())

    async def _user_update(self, session: AsyncSession, user: DiscordMemberInfo) -> bool:
        row = (
            await session.scalars(select(DiscordMember).where(DiscordMember.discord_id == user.id))
        ).first()
        if row is None:
            return False
        username = (user.username.strip() or row.username)[:50]
        global_name = _clip(user.global_name, 100)
        display_name = _clip(row.nickname or global_name or username, 100)
        if (row.username, row.global_name, row.display_name) == (
            username,
            global_name,
            display_name,
        ):
            return False
        row.username, row.global_name, row.display_name = username, global_name, display_name
        await session.flush()
        return True
