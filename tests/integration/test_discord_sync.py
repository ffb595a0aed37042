"""Discord member sync and role sync against the real database (70 §5, §6, decision 20)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import Factory, count_rows

from sv_common.db.models import (
    AuditIssue,
    Character,
    DiscordConfig,
    DiscordMember,
    GuildMember,
    IdentityLink,
    LinkRejection,
    SyncLog,
)
from sv_common.discord import role_sync
from sv_common.discord.fake import FakeDiscordService
from sv_common.discord.interface import DiscordMemberInfo, DiscordRole, DiscordUnavailable
from sv_common.guild_sync.discord_sync import (
    MemberEventHandler,
    MemberSyncStats,
    apply_member_list,
    run_discord_sync,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
GM = DiscordRole("200000000000000001", "GM", 10)
OFFICER = DiscordRole("200000000000000002", "Officer", 9)
VETERAN = DiscordRole("200000000000000003", "Veteran", 8)
MEMBER = DiscordRole("200000000000000004", "Member", 7)
INITIATE = DiscordRole("200000000000000005", "Initiate", 6)
BOOSTER = DiscordRole("200000000000000009", "Server Booster", 2)


def user(n: int, *roles: DiscordRole, username: str | None = None, **kw: Any) -> DiscordMemberInfo:
    return DiscordMemberInfo(
        id=f"1000000000000{n:05d}", username=username or f"user{n}", roles=tuple(roles), **kw
    )


def basic_fake() -> FakeDiscordService:
    return FakeDiscordService.from_fixture(
        json.loads((FIXTURES / "discord_basic.json").read_text())
    )


async def apply(app: Any, members: list[DiscordMemberInfo]) -> MemberSyncStats:
    async with app.state.sessionmaker() as session, session.begin():
        return await apply_member_list(session, members)


async def member_by_discord(session: AsyncSession, discord_id: str) -> GuildMember | None:
    session.expire_all()
    return (
        await session.scalars(select(GuildMember).where(GuildMember.discord_id == discord_id))
    ).first()


async def rank_level(session: AsyncSession, member_id: int) -> tuple[int, str]:
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


async def account(session: AsyncSession, discord_id: str) -> DiscordMember:
    session.expire_all()
    return (
        await session.scalars(select(DiscordMember).where(DiscordMember.discord_id == discord_id))
    ).one()


# --------------------------------------------------------------------------- member sync
async def test_first_sync_stores_accounts_and_creates_ranked_members(
    app: Any, db: AsyncSession
) -> None:
    stats = await run_discord_sync(basic_fake(), app.state.sessionmaker, triggered_by="manual:1")
    assert stats is not None
    assert (stats.found, stats.new, stats.updated, stats.unchanged, stats.departed) == (
        3,
        3,
        0,
        0,
        0,
    )
    assert stats.role_sync.as_dict() == {
        "updated": 0,
        "created": 2,
        "unchanged": 0,
        "skipped": 1,
        "errors": 0,
        "protected": 0,
    }
    assert await count_rows(db, "guild_identity.discord_members") == 3  # the bot is not stored
    stone = await account(db, "100000000000000001")
    assert stone.display_name == "Stonehoof (Aldrameth)"
    assert stone.highest_guild_role == "Guild Leader" and stone.all_guild_roles == ["Guild Leader"]
    assert stone.roles == [{"id": "200000000000000001", "name": "GM"}]
    stone_member_id = stone.member_id
    branix = await account(db, "100000000000000002")
    assert branix.highest_guild_role == "Member" and branix.global_name == "Brañix"
    assert (await account(db, "100000000000000003")).highest_guild_role is None
    # members created for the two users with a guild role, linked to their accounts
    leader = await member_by_discord(db, "100000000000000001")
    assert leader is not None and leader.display_name == "Stonehoof (Aldrameth)"
    assert leader.discord_username == "stonehoof"
    assert await rank_level(db, leader.id) == (5, "discord_sync")
    assert stone_member_id == leader.id
    link = (await db.scalars(select(IdentityLink).where(IdentityLink.member_id == leader.id))).one()
    assert (link.source, link.confidence, link.confirmed, link.confirmed_by) == (
        "discord_sync",
        "high",
        True,
        "auto",
    )
    assert await member_by_discord(db, "100000000000000003") is None  # guests get no member
    log_row = (await db.scalars(select(SyncLog))).one()
    assert (log_row.source, log_row.status, log_row.triggered_by) == (
        "discord_bot",
        "success",
        "manual:1",
    )
    assert (log_row.characters_found, log_row.characters_new, log_row.characters_removed) == (
        3,
        3,
        0,
    )
    assert log_row.details is not None and log_row.details["role_sync"]["created"] == 2
    assert log_row.completed_at is not None and log_row.duration_seconds is not None


async def test_repeat_sync_is_unchanged_and_changes_count_as_updated(
    app: Any, db: AsyncSession
) -> None:
    service = basic_fake()
    await run_discord_sync(service, app.state.sessionmaker, triggered_by="cli")
    again = await run_discord_sync(service, app.state.sessionmaker, triggered_by="cli")
    assert again is not None and (again.new, again.updated, again.unchanged) == (0, 0, 3)
    assert not again.changed
    members = service.members
    service.set_members(
        [
            DiscordMemberInfo(**{**m.__dict__, "nick": "Quiet!"})
            if m.username == "quietguest"
            else m
            for m in members
        ]
    )
    third = await run_discord_sync(service, app.state.sessionmaker, triggered_by="cli")
    assert third is not None and (third.updated, third.unchanged) == (1, 2)
    assert (await account(db, "100000000000000003")).display_name == "Quiet!"


async def test_departed_accounts_keep_their_member_and_can_rejoin(
    app: Any, db: AsyncSession
) -> None:
    everyone = [user(n, MEMBER) for n in range(1, 6)]
    await apply(app, everyone)
    linked = await account(db, everyone[0].id)
    assert linked.member_id is not None
    stats = await apply(app, everyone[1:])
    assert stats.departed == 1 and stats.status == "success"
    gone = await account(db, everyone[0].id)
    assert gone.is_present is False and gone.removed_at is not None
    assert gone.member_id == linked.member_id  # history kept
    back = await apply(app, everyone)
    assert back.rejoined == 1 and back.departed == 0
    returned = await account(db, everyone[0].id)
    assert returned.is_present is True and returned.removed_at is None
    assert returned.member_id == linked.member_id


@pytest.mark.parametrize("listed", [0, 5])
async def test_implausibly_small_list_never_marks_everyone_departed(
    app: Any, db: AsyncSession, listed: int
) -> None:
    everyone = [user(n) for n in range(1, 13)]
    await apply(app, everyone)
    service = FakeDiscordService(members=everyone[:listed])
    stats = await run_discord_sync(service, app.state.sessionmaker, triggered_by="schedule")
    assert stats is not None
    assert stats.status == "partial" and stats.departed == 0
    assert await count_rows(db, "guild_identity.discord_members", "is_present") == 12
    row = (await db.scalars(select(SyncLog))).one()
    assert row.status == "partial"
    assert row.error_message == "member list implausibly small; departures skipped"


async def test_half_the_list_is_still_plausible(app: Any, db: AsyncSession) -> None:
    everyone = [user(n) for n in range(1, 11)]
    await apply(app, everyone)
    stats = await apply(app, everyone[:5])  # exactly 50 %: not "< 0.5 ×"
    assert stats.status == "success" and stats.departed == 5


async def test_failed_member_list_writes_nothing_but_the_error_log(
    app: Any, db: AsyncSession
) -> None:
    await apply(app, [user(n) for n in range(1, 4)])
    service = FakeDiscordService(members=[])
    service.fail_members_with = DiscordUnavailable("gateway down")
    with pytest.raises(DiscordUnavailable):
        await run_discord_sync(service, app.state.sessionmaker, triggered_by="manual:1")
    assert await count_rows(db, "guild_identity.discord_members", "is_present") == 3
    row = (await db.scalars(select(SyncLog))).one()
    assert (row.status, row.error_message) == ("error", "gateway down")


async def test_a_crash_mid_sync_rolls_everything_back(
    app: Any, db: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("role sync exploded")

    monkeypatch.setattr("sv_common.guild_sync.discord_sync.sync_roles", boom)
    with pytest.raises(RuntimeError):
        await run_discord_sync(
            FakeDiscordService(members=[user(1, MEMBER)]),
            app.state.sessionmaker,
            triggered_by="cli",
        )
    assert await count_rows(db, "guild_identity.discord_members") == 0
    assert (await db.scalars(select(SyncLog))).one().status == "error"


async def test_scheduled_sync_while_unavailable_is_skipped_without_a_log_row(
    app: Any, db: AsyncSession
) -> None:
    service = FakeDiscordService(members=[user(1)], available=False)
    assert (
        await run_discord_sync(
            service, app.state.sessionmaker, triggered_by="schedule", scheduled=True
        )
        is None
    )
    assert await count_rows(db, "guild_identity.sync_log") == 0
    with pytest.raises(DiscordUnavailable):
        await run_discord_sync(service, app.state.sessionmaker, triggered_by="manual:1")
    assert (await db.scalars(select(SyncLog))).one().status == "error"


async def test_bots_never_become_accounts_or_members(app: Any, db: AsyncSession) -> None:
    stats = await apply(app, [user(1, OFFICER, bot=True), user(2, MEMBER)])
    assert stats.found == 1
    assert await count_rows(db, "guild_identity.discord_members") == 1
    assert await count_rows(db, "common.guild_members") == 1


# ----------------------------------------------------------------------------- role sync
async def test_promotion_overrides_a_manual_rank(
    app: Any, db: AsyncSession, factory: Factory
) -> None:
    person = await factory.member(level=2, registered=False, discord_id=user(1).id)
    stats = await apply(app, [user(1, MEMBER, OFFICER)])
    assert stats.role_sync.updated == 1
    assert await rank_level(db, person.id) == (4, "discord_sync")


async def test_demotion_when_a_higher_role_is_removed(
    app: Any, db: AsyncSession, factory: Factory
) -> None:
    person = await factory.member(level=4, registered=False, discord_id=user(1).id)
    await apply(app, [user(1, OFFICER, VETERAN)])
    assert (await rank_level(db, person.id))[0] == 4
    await apply(app, [user(1, VETERAN)])
    assert (await rank_level(db, person.id))[0] == 3


async def test_equal_rank_only_marks_the_source(
    app: Any, db: AsyncSession, factory: Factory
) -> None:
    person = await factory.member(level=3, registered=False, discord_id=user(1).id)
    stats = await apply(app, [user(1, VETERAN, BOOSTER)])
    assert stats.role_sync.unchanged == 1
    assert await rank_level(db, person.id) == (3, "discord_sync")


async def test_member_found_through_the_linked_account_gets_the_snowflake(
    app: Any, db: AsyncSession, factory: Factory
) -> None:
    person = await factory.member(level=1, registered=False, username="Branix")
    stats = await apply(app, [user(2, VETERAN, username="branix")])
    assert stats.accounts_linked == 1 and stats.role_sync.updated == 1
    assert stats.role_sync.created == 0  # attached, not duplicated
    found = await member_by_discord(db, user(2).id)
    assert found is not None and found.id == person.id
    assert await rank_level(db, person.id) == (3, "discord_sync")
    link = (await db.scalars(select(IdentityLink))).one()
    assert link.source == "exact_name_match" and link.member_id == person.id


async def test_rejected_pairs_are_not_linked_again(
    app: Any, db: AsyncSession, factory: Factory
) -> None:
    await apply(app, [user(3, username="quietguest")])
    person = await factory.member(level=1, registered=False, username="QuietGuest")
    acc = await account(db, user(3).id)
    db.add(LinkRejection(discord_member_id=acc.id, member_id=person.id, rejected_by="Officer"))
    await db.commit()
    stats = await apply(app, [user(3, username="quietguest")])
    assert stats.accounts_linked == 0
    assert (await account(db, user(3).id)).member_id is None


async def test_new_member_without_the_taken_username(
    app: Any, db: AsyncSession, factory: Factory
) -> None:
    await factory.member(level=2, registered=False, username="Twin", discord_id=user(9).id)
    stats = await apply(app, [user(9, MEMBER, username="twin"), user(2, INITIATE, username="twin")])
    assert stats.role_sync.created == 1
    created = await member_by_discord(db, user(2).id)
    assert created is not None and created.discord_username is None
    assert await rank_level(db, created.id) == (1, "discord_sync")


async def test_users_without_a_mapped_role_are_never_created_or_demoted(
    app: Any, db: AsyncSession, factory: Factory
) -> None:
    person = await factory.member(level=3, registered=False, discord_id=user(1).id)
    stats = await apply(app, [user(1, BOOSTER), user(2), user(3, BOOSTER)])
    assert stats.role_sync.skipped == 3
    assert await rank_level(db, person.id) == (3, "manual")
    assert await count_rows(db, "common.guild_members") == 1


async def test_vanished_roles_become_a_no_guild_role_issue_not_a_demotion(
    app: Any, db: AsyncSession, factory: Factory
) -> None:
    person = await factory.member(level=4, registered=False, discord_id=user(1).id)
    db.add(Character(name="Aldrameth", realm_slug="senjin", member_id=person.id, game_rank=1))
    await db.commit()
    await apply(app, [user(1, OFFICER)])
    assert await count_rows(db, "guild_identity.audit_issues") == 0
    stats = await apply(app, [user(1, BOOSTER)])  # every mapped role removed (or mapping broken)
    assert stats.role_sync.skipped == 1
    assert (await rank_level(db, person.id))[0] == 4
    issue = (await db.scalars(select(AuditIssue))).one()
    assert (issue.issue_type, issue.severity, issue.member_id) == (
        "no_guild_role",
        "warning",
        person.id,
    )
    assert (
        issue.summary
        == f"'{person.display_name}' is Officer in game but has no guild role on Discord"
    )
    assert issue.issue_hash == role_sync.issue_hash("no_guild_role", person.id)
    await apply(app, [user(1, BOOSTER)])  # detected again: still one open issue
    assert await count_rows(db, "guild_identity.audit_issues", "resolved_at IS NULL") == 1
    await apply(app, [user(1, OFFICER)])  # the role is back
    db.expire_all()
    assert (await db.scalars(select(AuditIssue))).one().resolved_by == "auto"


async def test_top_rank_is_never_demoted_and_becomes_a_role_mismatch(
    app: Any, db: AsyncSession, factory: Factory
) -> None:
    leader = await factory.member(level=5, registered=False, discord_id=user(1).id)
    stats = await apply(app, [user(1, MEMBER)])
    assert stats.role_sync.protected == 1 and stats.role_sync.updated == 0
    assert (await rank_level(db, leader.id))[0] == 5
    issue = (await db.scalars(select(AuditIssue))).one()
    assert (issue.issue_type, issue.severity) == ("role_mismatch", "critical")
    assert "Guild Leader" in issue.summary and "Member on Discord" in issue.summary
    await apply(app, [user(1, GM)])
    db.expire_all()
    fixed = (await db.scalars(select(AuditIssue))).one()
    assert fixed.resolved_at is not None and fixed.resolved_by == "auto"


async def test_gm_role_promotes_to_the_top_rank(
    app: Any, db: AsyncSession, factory: Factory
) -> None:
    person = await factory.member(level=4, registered=False, discord_id=user(1).id)
    await apply(app, [user(1, DiscordRole("200000000000000111", "gm"))])
    assert (await rank_level(db, person.id))[0] == 5


async def test_role_ids_win_over_names(app: Any, db: AsyncSession, factory: Factory) -> None:
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(
            text("UPDATE common.guild_ranks SET discord_role_id = :r WHERE name = 'Officer'"),
            {"r": "200000000000000077"},
        )
    a = await factory.member(level=2, registered=False, discord_id=user(1).id)
    b = await factory.member(level=2, registered=False, discord_id=user(2).id)
    await apply(
        app,
        [user(1, OFFICER), user(2, MEMBER, DiscordRole("200000000000000077", "Raid Lead"))],
    )
    assert (await rank_level(db, a.id))[0] == 2  # a role merely named Officer does nothing
    assert (await rank_level(db, b.id))[0] == 4  # the configured role id does


async def test_one_failing_user_does_not_stop_the_run(
    app: Any, db: AsyncSession, factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await factory.member(level=1, registered=False, discord_id=user(1).id)
    second = await factory.member(level=1, registered=False, discord_id=user(2).id)
    real = role_sync._sync_one

    async def flaky(session: Any, context: Any, u: DiscordMemberInfo, *rest: Any) -> str:
        if u.id == user(1).id:
            raise RuntimeError("bad row")
        return await real(session, context, u, *rest)

    monkeypatch.setattr(role_sync, "_sync_one", flaky)
    stats = await apply(app, [user(1, OFFICER), user(2, OFFICER)])
    assert stats.role_sync.errors == 1 and stats.role_sync.updated == 1
    assert (await rank_level(db, first.id))[0] == 1
    assert (await rank_level(db, second.id))[0] == 4


async def test_role_sync_records_its_time(app: Any, db: AsyncSession) -> None:
    db.add(DiscordConfig(id=1, guild_discord_id="400000000000000001"))
    await db.commit()
    await apply(app, [user(1, MEMBER)])
    db.expire_all()
    assert (await db.get(DiscordConfig, 1)).last_role_sync_at is not None  # type: ignore[union-attr]


# --------------------------------------------------------------------------------- events
class Recorder:
    def __init__(self) -> None:
        self.reasons: list[str] = []

    def __call__(self, reason: str) -> None:
        self.reasons.append(reason)


async def test_member_events_keep_accounts_and_ranks_current(
    app: Any, db: AsyncSession, factory: Factory
) -> None:
    service = FakeDiscordService()
    requests = Recorder()
    service.subscribe(MemberEventHandler(app.state.sessionmaker, request_pipeline=requests))
    newcomer = user(7, username="newbie", global_name="Newbie")
    await service.emit_join(newcomer)
    acc = await account(db, newcomer.id)
    assert acc.is_present and acc.display_name == "Newbie" and acc.member_id is None
    assert requests.reasons == ["discord join"]
    await service.emit_join(newcomer)  # replay: nothing changes, nothing requested
    assert requests.reasons == ["discord join"]

    promoted = user(7, MEMBER, username="newbie", global_name="Newbie", nick="Newbie (Alt)")
    await service.emit_update(newcomer, promoted)
    acc = await account(db, newcomer.id)
    assert acc.nickname == "Newbie (Alt)" and acc.highest_guild_role == "Member"
    member = await member_by_discord(db, newcomer.id)
    assert member is not None
    member_id = member.id
    assert (await rank_level(db, member_id))[0] == 2  # at once
    await service.emit_update(newcomer, promoted)  # replay
    assert await count_rows(db, "common.guild_members") == 1

    await service.emit_user_update(promoted, user(7, username="newbie2", global_name="Newt"))
    acc = await account(db, newcomer.id)
    assert (acc.username, acc.global_name, acc.display_name) == ("newbie2", "Newt", "Newbie (Alt)")

    await service.emit_remove(newcomer.id)
    acc = await account(db, newcomer.id)
    assert acc.is_present is False and acc.removed_at is not None and acc.member_id == member_id
    assert requests.reasons == ["discord join", "discord remove"]
    await service.emit_remove(newcomer.id)  # replay
    assert requests.reasons == ["discord join", "discord remove"]
    await service.emit_join(promoted)  # rejoin
    assert (await account(db, newcomer.id)).removed_at is None


async def test_events_replayed_after_a_full_sync_change_nothing(app: Any, db: AsyncSession) -> None:
    listed = [user(1, MEMBER), user(2)]
    await apply(app, listed)
    before = await db.execute(text("SELECT * FROM guild_identity.discord_members ORDER BY id"))
    rows_before = before.all()
    handler = MemberEventHandler(app.state.sessionmaker)
    service = FakeDiscordService(members=listed)
    service.subscribe(handler)
    await service.emit_join(listed[0])
    await service.emit_update(listed[1], listed[1])
    await service.emit_user_update(listed[0], listed[0])
    after = await db.execute(text("SELECT * FROM guild_identity.discord_members ORDER BY id"))
    assert after.all() == rows_before


async def test_bot_events_are_ignored(app: Any, db: AsyncSession) -> None:
    service = FakeDiscordService()
    service.subscribe(MemberEventHandler(app.state.sessionmaker))
    await service.emit_join(user(99, OFFICER, bot=True))
    assert await count_rows(db, "guild_identity.discord_members") == 0
    await service.emit_remove("100000000000055555")  # unknown user: nothing to do
    assert await count_rows(db, "guild_identity.discord_members") == 0
