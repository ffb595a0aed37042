"""The integrity checker against the real database: each issue type opened and resolved
automatically, severities, deduplication, manual resolve, ignore and re-open."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from tests.identity_invariants import check_identity_invariants  # noqa: F401 (autouse)
from tests.identity_support import Actor, World

from sv_common import clock
from sv_common.db.models import AuditIssue
from sv_common.discord import role_sync
from sv_common.errors import Conflict, NotFound
from sv_common.identity.integrity.issues import (
    open_issue_counts,
    open_issues,
    reopen_issue,
    resolve_issue,
)
from sv_common.identity.integrity.rules import issue_hash, rank_change_issue
from sv_common.identity.links import link_manually


@pytest.fixture
def world(app: Any) -> World:
    return World(app)


async def officer(world: World) -> Actor:
    member_id = await world.member("Officer Olga", discord_username="olga", level=4)
    return Actor(id=member_id, display_name="Officer Olga")


async def link(world: World, actor: Actor, **ids: int) -> None:
    async with world.session() as session, session.begin():
        await link_manually(session, officer=actor, **ids)


async def set_row(world: World, table: str, row_id: int, **values: Any) -> None:
    assignments = ", ".join(f"{column} = :{column}" for column in values)
    async with world.session() as session, session.begin():
        await session.execute(
            text(f"UPDATE {table} SET {assignments} WHERE id = :id"), {"id": row_id, **values}
        )


# ------------------------------------------------------------------------------- orphans
async def test_orphan_wow_opened_then_resolved_when_linked(world: World) -> None:
    actor = await officer(world)
    character_id = await world.character("Aldrameth", game_rank=2)

    stats = await world.check()

    (issue,) = await world.issues("orphan_wow")
    assert issue.summary == "Character 'Aldrameth' (Druid, Veteran) is not linked to any member"
    assert issue.severity == "warning" and issue.character_id == character_id
    assert issue.issue_hash == issue_hash("orphan_wow", character_id)
    assert stats.new["orphan_wow"] == 1 and stats.total_new == 1

    await link(world, actor, character_id=character_id, member_id=actor.id)
    assert await world.issues("orphan_wow") == []  # the link service resolved it at once
    (resolved,) = await world.issues("orphan_wow", open_only=False)
    assert (resolved.resolved_by, resolved.resolution_note) == ("Officer Olga", "linked manually")


async def test_orphan_wow_resolved_automatically(world: World) -> None:
    member_id = await world.member("Holder", discord_username="holder")
    linked_later = await world.character("Aldrameth")
    leaves = await world.character("Stonehoof")
    await world.check()

    # linked by another writer (the sheet import, say) and one character left the guild
    async with world.session() as session, session.begin():
        await session.execute(
            text("UPDATE common.characters SET member_id = :m WHERE id = :c"),
            {"m": member_id, "c": linked_later},
        )
        await session.execute(
            text(
                "INSERT INTO guild_identity.identity_links (member_id, character_id, source, "
                "confidence, confirmed, confirmed_by) VALUES (:m, :c, 'migrated_sheet', 'high', "
                "true, 'import')"
            ),
            {"m": member_id, "c": linked_later},
        )
    await set_row(world, "common.characters", leaves, removed_at=clock.now())

    stats = await world.check()

    assert stats.resolved == 2 and stats.total_new == 0
    notes = {
        i.character_id: (i.resolved_by, i.resolution_note)
        for i in await world.issues("orphan_wow", open_only=False)
    }
    assert notes == {
        linked_later: ("auto", "character linked"),
        leaves: ("auto", "left the guild"),
    }


async def test_orphan_discord_lifecycle(world: World) -> None:
    actor = await officer(world)
    account_id = await world.account("stonehoof", nickname="Stoney", role="Member")
    await world.account("guest")  # no guild role: never an orphan
    await world.check()
    (issue,) = await world.issues("orphan_discord")
    assert issue.discord_member_id == account_id
    assert issue.summary == "Discord member 'Stoney' (Member) has no character in the guild"

    # linked to a member who has no character: still an orphan
    member_id = await world.member("Stoney", discord_username="stoney")
    await link(world, actor, discord_member_id=account_id, member_id=member_id)
    assert await world.issues("orphan_discord") == []  # resolved by the manual link…
    await world.check()
    (reopened,) = await world.issues("orphan_discord")  # …and found again: new row
    assert reopened.id != issue.id

    character_id = await world.character("Stonehoof")
    await link(world, actor, character_id=character_id, member_id=member_id)
    await world.check()
    assert await world.issues("orphan_discord") == []


@pytest.mark.parametrize(
    ("change", "note"),
    [
        ({"is_present": False}, "account left"),
        ({"highest_guild_role": None}, "guild role gone"),
    ],
)
async def test_orphan_discord_resolved_when_account_leaves_or_loses_the_role(
    world: World, change: dict[str, Any], note: str
) -> None:
    account_id = await world.account("stonehoof", role="Member")
    await world.check()
    await set_row(world, "guild_identity.discord_members", account_id, **change)

    stats = await world.check()

    assert stats.resolved == 1
    (issue,) = await world.issues("orphan_discord", open_only=False)
    assert issue.resolution_note == note


# ----------------------------------------------------------------------- rank checks
async def person(
    world: World, actor: Actor, *, game_ranks: list[int], role: str | None, name: str = "Stoney"
) -> tuple[int, int, list[int]]:
    """A member with in-guild characters of these in-game ranks and one Discord account."""
    member_id = await world.member(name, discord_username=name.lower())
    account_id = await world.account(name.lower() + "_dc", role=role)
    await link(world, actor, discord_member_id=account_id, member_id=member_id)
    characters = []
    for index, game_rank in enumerate(game_ranks):
        character_id = await world.character(f"{name}{'abcdefgh'[index]}", game_rank=game_rank)
        await link(world, actor, character_id=character_id, member_id=member_id)
        characters.append(character_id)
    return member_id, account_id, characters


async def test_role_mismatch_warning_then_resolved_when_ranks_agree(world: World) -> None:
    actor = await officer(world)
    member_id, account_id, _ = await person(world, actor, game_ranks=[2], role="Member")

    await world.check()

    (issue,) = await world.issues("role_mismatch")
    assert issue.member_id == member_id and issue.severity == "warning"
    assert issue.summary == (
        "'Stoney' is Veteran in game but Member on Discord (expected Discord role: Veteran)"
    )
    assert issue.details["expected_role"] == "Veteran"

    await set_row(world, "guild_identity.discord_members", account_id, highest_guild_role="Veteran")
    stats = await world.check()
    assert stats.resolved == 1
    (resolved,) = await world.issues("role_mismatch", open_only=False)
    assert resolved.resolution_note == "ranks agree"


async def test_role_mismatch_is_critical_for_an_officer(world: World) -> None:
    actor = await officer(world)
    await person(world, actor, game_ranks=[1], role="Veteran")

    await world.check()

    (issue,) = await world.issues("role_mismatch")
    assert issue.severity == "critical"


async def test_highest_rank_over_alts(world: World) -> None:
    actor = await officer(world)
    # the main is Member in game, an alt is Veteran: the person is a Veteran
    await person(world, actor, game_ranks=[3, 2], role="Veteran")

    await world.check()

    assert await world.issues("role_mismatch") == []


async def test_no_guild_role_then_role_appears(world: World) -> None:
    actor = await officer(world)
    member_id, account_id, _ = await person(world, actor, game_ranks=[3], role=None)

    await world.check()

    (issue,) = await world.issues("no_guild_role")
    assert issue.member_id == member_id
    assert issue.summary == "'Stoney' is Member in game but has no guild role on Discord"
    # role sync raises the same problem with the same hash: nothing is duplicated
    assert issue.issue_hash == role_sync.issue_hash("no_guild_role", member_id)

    await set_row(world, "guild_identity.discord_members", account_id, highest_guild_role="Member")
    await world.check()
    (resolved,) = await world.issues("no_guild_role", open_only=False)
    assert resolved.resolution_note == "guild role appeared"


async def test_role_sync_top_rank_finding_is_left_to_role_sync(world: World) -> None:
    member_id = await world.member("Leader", discord_username="leader", level=5)
    async with world.session() as session, session.begin():
        await role_sync.raise_issue(
            session,
            issue_type="role_mismatch",
            severity="critical",
            summary="top rank kept",
            keys=[member_id, "top_rank"],
            member_id=member_id,
        )

    stats = await world.check()

    assert stats.resolved == 0
    assert len(await world.issues("role_mismatch")) == 1


# ---------------------------------------------------------------------------- stale
async def test_stale_character_then_logs_in(world: World) -> None:
    character_id = await world.character(
        "Sleepy", game_rank=3, last_login_at=clock.now() - timedelta(days=40)
    )
    await world.character("Fresh", last_login_at=clock.now() - timedelta(days=3))
    await world.character("Unknown", last_login_at=None)

    await world.check(stale_days=30)

    (issue,) = await world.issues("stale_character")
    assert issue.character_id == character_id and issue.severity == "info"
    assert issue.summary == "'Sleepy' (Member) has not logged in for 40 days"
    assert issue.details["days_inactive"] == 40

    await set_row(world, "common.characters", character_id, last_login_at=clock.now())
    await world.check()
    (resolved,) = await world.issues("stale_character", open_only=False)
    assert resolved.resolution_note == "logged in recently"


async def test_stale_summary_follows_the_days(world: World) -> None:
    await world.character("Sleepy", last_login_at=clock.now() - timedelta(days=40))
    await world.check()
    clock.advance(timedelta(days=2))

    stats = await world.check()

    assert stats.new["stale_character"] == 0
    (issue,) = await world.issues("stale_character")
    assert issue.summary.endswith("for 42 days")
    assert issue.last_detected > issue.first_detected


# ------------------------------------------------------------- engine and sync issues
async def test_rank_change_opened_by_the_sync_and_expired_after_a_week(world: World) -> None:
    character_id = await world.character("Climber", game_rank=2)
    change = rank_change_issue(
        character_id=character_id,
        character_name="Climber",
        old_index=3,
        new_index=2,
        old_name="Member",
        new_name="Veteran",
    )
    async with world.session() as session, session.begin():
        assert await open_issues(session, [change]) == {"rank_change": 1}
        assert await open_issues(session, [change]) == {}  # same hash: refreshed, not new
    clock.advance(timedelta(days=6))
    assert (await world.check()).resolved == 0

    clock.advance(timedelta(days=1, minutes=1))
    stats = await world.check()

    assert stats.resolved == 1
    (issue,) = await world.issues("rank_change", open_only=False)
    assert issue.resolution_note == "expired"


async def test_suggestion_resolved_when_the_character_is_linked(world: World) -> None:
    await world.account("zoelie")
    character_id = await world.character("Zoëlle")
    await world.match()
    assert len(await world.issues("auto_link_suggestion")) == 1
    member_id = await world.member("Zoe", discord_username="zoe")
    async with world.session() as session, session.begin():
        await session.execute(
            text("UPDATE common.characters SET member_id = :m WHERE id = :c"),
            {"m": member_id, "c": character_id},
        )
        await session.execute(
            text(
                "INSERT INTO guild_identity.identity_links (member_id, character_id, source) "
                "VALUES (:m, :c, 'roster_form')"
            ),
            {"m": member_id, "c": character_id},
        )

    await world.check()

    assert await world.issues("auto_link_suggestion") == []
    (issue,) = await world.issues("auto_link_suggestion", open_only=False)
    assert issue.resolution_note == "character linked"


async def test_suggestion_resolved_when_the_account_leaves(world: World) -> None:
    account_id = await world.account("zoelie")
    await world.character("Zoëlle")
    await world.match()
    await set_row(world, "guild_identity.discord_members", account_id, is_present=False)

    await world.check()

    (issue,) = await world.issues("auto_link_suggestion", open_only=False)
    assert issue.resolution_note == "account left"


# -------------------------------------------------------------------------- lifecycle
async def test_second_run_opens_nothing_new(world: World) -> None:
    await world.character("Aldrameth", last_login_at=clock.now() - timedelta(days=90))
    await world.account("stonehoof", role="Veteran")
    first = await world.check()
    assert first.total_new == 3

    second = await world.check()

    assert second.total_new == 0 and second.resolved == 0
    assert len(await world.issues()) == 3


async def test_manual_resolve_reopens_as_new_when_still_present(world: World) -> None:
    await world.character("Aldrameth")
    await world.check()
    (issue,) = await world.issues("orphan_wow")
    async with world.session() as session, session.begin():
        resolved = await resolve_issue(
            session, issue_id=issue.id, officer_name="Officer Olga", note="on a break"
        )
    assert resolved["resolved_by"] == "Officer Olga" and resolved["ignored"] is False

    stats = await world.check()

    assert stats.new["orphan_wow"] == 1
    (again,) = await world.issues("orphan_wow")
    assert again.id != issue.id and again.notified_at is None


async def test_ignore_suppresses_until_reopened(world: World) -> None:
    await world.character("Aldrameth")
    await world.check()
    (issue,) = await world.issues("orphan_wow")
    async with world.session() as session, session.begin():
        await resolve_issue(session, issue_id=issue.id, officer_name="Olga", ignore=True)

    assert (await world.check()).total_new == 0
    assert await world.issues("orphan_wow") == []

    async with world.session() as session, session.begin():
        reopened = await reopen_issue(session, issue_id=issue.id)
    assert reopened["ignored"] is False and reopened["resolved_at"] is not None
    assert (await world.check()).new["orphan_wow"] == 1


async def test_resolve_and_reopen_errors(world: World) -> None:
    await world.character("Aldrameth")
    await world.check()
    (issue,) = await world.issues("orphan_wow")
    async with world.session() as session, session.begin():
        with pytest.raises(NotFound):
            await resolve_issue(session, issue_id=99999, officer_name="Olga")
        with pytest.raises(Conflict):
            await reopen_issue(session, issue_id=issue.id)  # not ignored
        await resolve_issue(session, issue_id=issue.id, officer_name="Olga")
        with pytest.raises(Conflict):
            await resolve_issue(session, issue_id=issue.id, officer_name="Olga")
        with pytest.raises(NotFound):
            await reopen_issue(session, issue_id=99999)


async def test_partial_unique_index_rejects_a_second_open_issue(world: World) -> None:
    digest = issue_hash("orphan_wow", 12345)
    async with world.session() as session, session.begin():
        session.add(AuditIssue(issue_type="orphan_wow", summary="one", issue_hash=digest))
        await session.flush()
        with pytest.raises(IntegrityError):
            async with session.begin_nested():
                session.add(AuditIssue(issue_type="orphan_wow", summary="two", issue_hash=digest))
                await session.flush()
        # a resolved row with the same hash is fine
        session.add(
            AuditIssue(
                issue_type="orphan_wow",
                summary="old",
                issue_hash=digest,
                resolved_at=clock.now(),
            )
        )
        await session.flush()


async def test_open_counts_cover_every_type(world: World) -> None:
    await world.character("Aldrameth")
    await world.check()
    async with world.session() as session:
        counts = await open_issue_counts(session)
    assert counts["orphan_wow"] == 1 and counts["rank_change"] == 0
    assert set(counts) == {
        "orphan_wow",
        "orphan_discord",
        "role_mismatch",
        "no_guild_role",
        "stale_character",
        "rank_change",
        "auto_link_suggestion",
    }
