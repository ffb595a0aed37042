"""Officers' link services: link a character or Discord account by hand, confirm an automatic
link, remove a link (and remember the rejection so the engine never re-creates it).

Every write keeps the entity's `member_id` and its `identity_links` row in step, in the
caller's transaction. Entities are locked (`FOR UPDATE`) while they are re-linked, so two
officers linking the same character at once cannot both win.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import delete, exists, func, literal, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from sv_common import clock
from sv_common.db.enums import Confidence, LinkSource, MainAlt
from sv_common.db.models import (
    Character,
    DiscordMember,
    GuildMember,
    GuildRank,
    IdentityLink,
    LinkRejection,
)
from sv_common.errors import Conflict, Invalid, NotFound
from sv_common.identity.integrity.issues import resolve_entity_issues
from sv_common.identity.matching.model import AccountRow, RankRow, member_values_for_account
from sv_common.identity.views import link_dicts

LINKED_MANUALLY = "linked manually"
NAME_MAX = 100  # confirmed_by / rejected_by / resolved_by are varchar(100)


class Officer(Protocol):
    """Who acts: a member's id and display name (taken from the session, never a body)."""

    @property
    def id(self) -> int: ...

    @property
    def display_name(self) -> str: ...


def _officer_name(officer: Officer) -> str:
    return officer.display_name[:NAME_MAX]


def _check_id(name: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise Invalid(f"{name} must be a positive integer")
    return value


async def _locked(session: AsyncSession, model: Any, ident: int, missing: str) -> Any:
    row = (
        await session.execute(
            select(model)
            .where(model.id == ident)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(missing)
    return row


_REJECT = text(
    """
    INSERT INTO guild_identity.link_rejections
        (character_id, discord_member_id, member_id, rejected_by, rejected_at)
    SELECT t.c, t.a, t.m, CAST(:by AS text), CAST(:now AS timestamptz)
      FROM unnest(CAST(:characters AS int[]), CAST(:accounts AS int[]), CAST(:members AS int[]))
           AS t(c, a, m)
     WHERE NOT EXISTS (
           SELECT 1 FROM guild_identity.link_rejections r
            WHERE r.character_id IS NOT DISTINCT FROM t.c
              AND r.discord_member_id IS NOT DISTINCT FROM t.a
              AND r.member_id IS NOT DISTINCT FROM t.m)
    """
)


async def _reject(
    session: AsyncSession,
    *,
    character_id: int | None = None,
    account_id: int | None = None,
    member_id: int,
    officer: Officer,
) -> None:
    """Remember that this pairing was undone: (character, member) plus (character, each account
    of the member) for a character, (account, member) for an account."""
    rows: list[tuple[int | None, int | None, int | None]] = []
    if character_id is not None:
        rows.append((character_id, None, member_id))
        accounts = await session.scalars(
            select(DiscordMember.id).where(DiscordMember.member_id == member_id)
        )
        rows.extend((character_id, a, None) for a in accounts.all())
    else:
        rows.append((None, account_id, member_id))
    await session.execute(
        _REJECT,
        {
            "by": _officer_name(officer),
            "now": clock.now(),
            "characters": [r[0] for r in rows],
            "accounts": [r[1] for r in rows],
            "members": [r[2] for r in rows],
        },
    )


def _manual_link(officer: Officer, member_id: int, **target: int) -> IdentityLink:
    return IdentityLink(
        member_id=member_id,
        source=LinkSource.MANUAL,
        confidence=Confidence.HIGH,
        confirmed=True,
        confirmed_by=_officer_name(officer),
        confirmed_at=clock.now(),
        created_by=officer.id,
        **target,
    )


async def _confirm(link: IdentityLink, officer: Officer) -> None:
    if not link.confirmed:
        link.confirmed = True
        link.confirmed_by = _officer_name(officer)
        link.confirmed_at = clock.now()


async def _member_from_account(session: AsyncSession, account: DiscordMember) -> int:
    """Create the member an unlinked account stands for (same rules as the engine)."""
    ranks = [
        RankRow(id=r.id, name=r.name, level=r.level)
        for r in (await session.execute(select(GuildRank.id, GuildRank.name, GuildRank.level)))
    ]
    username_taken = await session.scalar(
        select(
            exists().where(
                func.lower(GuildMember.discord_username) == func.lower(literal(account.username))
            )
        )
    )
    discord_id_taken = await session.scalar(
        select(exists().where(GuildMember.discord_id == account.discord_id))
    )
    values = member_values_for_account(
        AccountRow(
            id=account.id,
            discord_id=account.discord_id,
            username=account.username,
            global_name=account.global_name,
            nickname=account.nickname,
            display_name=account.display_name,
            highest_guild_role=account.highest_guild_role,
            is_present=account.is_present,
        ),
        ranks,
        username_taken=bool(username_taken),
        discord_id_taken=bool(discord_id_taken),
    )
    if values is None:
        raise Conflict("No ranks configured — run the seed first.")
    member = GuildMember(**values)
    session.add(member)
    await session.flush()
    return int(member.id)


async def _release(
    session: AsyncSession,
    entity: Character | DiscordMember,
    link: IdentityLink | None,
    target: int,
    officer: Officer,
    **pairing: int,
) -> int | None:
    """Make way for a link to `target`: when the entity already belongs to `target`, confirm
    its link and return None; otherwise drop its old link, remember the old pairing as
    rejected, and return the old member id (0 when it had none) for the caller's own clean-up.
    """
    if entity.member_id == target and link is not None and link.member_id == target:
        await _confirm(link, officer)
        return None
    previous = entity.member_id
    if link is not None:
        await session.delete(link)
        await session.flush()
    if previous is not None and previous != target:
        await _reject(session, member_id=previous, officer=officer, **pairing)
        return previous
    return 0


async def _attach_account(
    session: AsyncSession, account: DiscordMember, target: int, officer: Officer
) -> int:
    """Link the account to `target` (moving it when needed); returns the link id."""
    link = await session.scalar(
        select(IdentityLink).where(IdentityLink.discord_member_id == account.id)
    )
    previous = await _release(session, account, link, target, officer, account_id=account.id)
    if previous is not None:
        if previous:
            # the old member no longer owns that Discord account
            await session.execute(
                update(GuildMember)
                .where(GuildMember.id == previous, GuildMember.discord_id == account.discord_id)
                .values(discord_id=None)
            )
        account.member_id = target
        link = _manual_link(officer, target, discord_member_id=account.id)
        session.add(link)
        await session.flush()
    assert link is not None
    other = aliased(GuildMember)
    await session.execute(
        update(GuildMember)
        .where(
            GuildMember.id == target,
            GuildMember.discord_id.is_(None),
            ~exists().where(other.discord_id == account.discord_id),
        )
        .values(discord_id=account.discord_id)
    )
    await session.execute(
        delete(LinkRejection).where(
            LinkRejection.discord_member_id == account.id,
            LinkRejection.member_id == target,
            LinkRejection.character_id.is_(None),
        )
    )
    await resolve_entity_issues(
        session,
        discord_member_id=account.id,
        resolved_by=_officer_name(officer),
        note=LINKED_MANUALLY,
    )
    return int(link.id)


async def _attach_character(
    session: AsyncSession, character: Character, target: int, officer: Officer
) -> int:
    """Link the character to `target` (moving it when needed); returns the link id."""
    link = await session.scalar(
        select(IdentityLink).where(IdentityLink.character_id == character.id)
    )
    previous = await _release(session, character, link, target, officer, character_id=character.id)
    if previous is not None:
        if character.main_alt == MainAlt.MAIN:
            other_main = await session.scalar(
                select(
                    exists().where(
                        Character.member_id == target,
                        Character.id != character.id,
                        Character.main_alt == MainAlt.MAIN,
                    )
                )
            )
            if other_main:
                character.main_alt = MainAlt.ALT  # one main per member
        character.member_id = target
        link = _manual_link(officer, target, character_id=character.id)
        session.add(link)
        await session.flush()
    assert link is not None
    accounts_of_target = select(DiscordMember.id).where(DiscordMember.member_id == target)
    await session.execute(
        delete(LinkRejection).where(
            LinkRejection.character_id == character.id,
            (LinkRejection.member_id == target)
            | LinkRejection.discord_member_id.in_(accounts_of_target),
        )
    )
    await resolve_entity_issues(
        session,
        character_id=character.id,
        resolved_by=_officer_name(officer),
        note=LINKED_MANUALLY,
    )
    return int(link.id)


async def link_manually(
    session: AsyncSession,
    *,
    officer: Officer,
    character_id: int | None = None,
    discord_member_id: int | None = None,
    member_id: int | None = None,
    move: bool = False,
) -> dict[str, Any]:
    """Link exactly two of character, Discord account and member.

    Character + account: both join the account's member, else the character's member, else a
    member created from the account; 409 when they belong to two different members. Character
    or account + member: the entity joins that member; 409 when it belongs to another member
    unless `move`. 404 for an unknown id, 422 unless exactly two ids are given. Repeating a
    call changes nothing. Returns `{member_id, created_member, links}`.
    """
    character_id = _check_id("character_id", character_id)
    discord_member_id = _check_id("discord_member_id", discord_member_id)
    member_id = _check_id("member_id", member_id)
    given = [v for v in (character_id, discord_member_id, member_id) if v is not None]
    if len(given) != 2:
        raise Invalid("Give exactly two of character_id, discord_member_id and member_id.")
    character = (
        await _locked(session, Character, character_id, "character not found")
        if character_id is not None
        else None
    )
    account = (
        await _locked(session, DiscordMember, discord_member_id, "Discord account not found")
        if discord_member_id is not None
        else None
    )
    member = (
        await _locked(session, GuildMember, member_id, "member not found")
        if member_id is not None
        else None
    )
    created = False
    if character is not None and account is not None:
        if (
            character.member_id is not None
            and account.member_id is not None
            and character.member_id != account.member_id
        ):
            raise Conflict("linked to different members")
        target = account.member_id or character.member_id
        if target is None:
            target = await _member_from_account(session, account)
            created = True
    else:
        assert member is not None
        target = member.id
        entity = character if character is not None else account
        assert entity is not None
        if entity.member_id is not None and entity.member_id != target and not move:
            raise Conflict("already linked to another member")
    link_ids: list[int] = []
    if account is not None:
        link_ids.append(await _attach_account(session, account, target, officer))
    if character is not None:
        link_ids.insert(0, await _attach_character(session, character, target, officer))
    await session.flush()
    return {
        "member_id": target,
        "created_member": created,
        "links": await link_dicts(session, link_ids),
    }


async def confirm_link(session: AsyncSession, *, link_id: int, officer: Officer) -> dict[str, Any]:
    """Confirm a link (unchanged when already confirmed); 404 for an unknown link."""
    _check_id("link_id", link_id)
    link = await _locked(session, IdentityLink, link_id, "link not found")
    await _confirm(link, officer)
    await session.flush()
    return (await link_dicts(session, [link.id]))[0]


async def remove_link(session: AsyncSession, *, link_id: int, officer: Officer) -> dict[str, int]:
    """Unlink the entity, delete the link row and record the rejection; the member stays (it
    may own a login). A removed account link also clears the member's Discord ID when it was
    that account's snowflake. 404 for an unknown link."""
    _check_id("link_id", link_id)
    link = await _locked(session, IdentityLink, link_id, "link not found")
    member_id = link.member_id
    if link.character_id is not None:
        character_id = link.character_id
        await session.execute(
            update(Character)
            .where(Character.id == character_id, Character.member_id == member_id)
            .values(member_id=None)
        )
        await _reject(session, character_id=character_id, member_id=member_id, officer=officer)
    else:
        account = await _locked(
            session, DiscordMember, int(link.discord_member_id or 0), "Discord account not found"
        )
        await session.execute(
            update(DiscordMember)
            .where(DiscordMember.id == account.id, DiscordMember.member_id == member_id)
            .values(member_id=None)
        )
        await _reject(session, account_id=account.id, member_id=member_id, officer=officer)
        await session.execute(
            update(GuildMember)
            .where(GuildMember.id == member_id, GuildMember.discord_id == account.discord_id)
            .values(discord_id=None)
        )
    await session.execute(delete(IdentityLink).where(IdentityLink.id == link_id))
    await session.flush()
    return {"removed": link_id}
