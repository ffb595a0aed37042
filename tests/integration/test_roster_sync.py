"""Writing a Blizzard snapshot into common.characters (real PostgreSQL): keying, renames and
merges, field ownership, removals and rejoins, the shrink safety rule, rank_change issues, the
set-based statement count, and the whole sync flow against the fake Blizzard."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import Factory, count_rows

from sv_common.db.models import AuditIssue, Character, IdentityLink
from sv_common.guild_sync.blizzard_client import BlizzardClient, BlizzardConfig
from sv_common.guild_sync.blizzard_models import GuildSnapshot, ProfileStatus, SnapshotCharacter
from sv_common.guild_sync.blizzard_sync import run_blizzard_sync
from sv_common.guild_sync.fake_blizzard import FakeBlizzard, RosterMode
from sv_common.guild_sync.roster_sync import (
    RosterWriteResult,
    apply_roster_snapshot,
    rank_change_hash,
)
from sv_common.identity import characters as character_service

NOW = datetime(2026, 2, 21, 13, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=6)
LOGIN = datetime(2026, 2, 20, 22, 0, tzinfo=UTC)


def member(
    blizzard_id: int,
    name: str,
    *,
    realm: str = "senjin",
    realm_name: str | None = "Sen'jin",
    class_name: str | None = "Druid",
    level: int | None = 80,
    spec: str | None = "Balance",
    item_level: int | None = 620,
    rank: int | None = 3,
    rank_name: str | None = None,
    status: ProfileStatus = ProfileStatus.OK,
) -> SnapshotCharacter:
    names = ("Guild Leader", "Officer", "Veteran", "Member", "Initiate")
    return SnapshotCharacter(
        blizzard_id=blizzard_id,
        name=name,
        realm_slug=realm,
        realm_name=realm_name,
        class_name=class_name,
        level=level,
        active_spec=spec if status is ProfileStatus.OK else None,
        item_level=item_level if status is ProfileStatus.OK else None,
        last_login_at=LOGIN if status is ProfileStatus.OK else None,
        game_rank=rank,
        game_rank_name=rank_name or (names[rank] if rank is not None and rank < 5 else None),
        profile_status=status,
    )


def snapshot(characters: Iterable[SnapshotCharacter], **extra: Any) -> GuildSnapshot:
    chars = tuple(characters)
    ok = sum(c.profile_status is ProfileStatus.OK for c in chars)
    failed = sum(c.profile_status is ProfileStatus.FAILED for c in chars)
    return GuildSnapshot(
        guild_name="Pull All The Things",
        characters=chars,
        profiles_ok=ok,
        profiles_failed=failed,
        profiles_missing=len(chars) - ok - failed,
        requests=len(chars) + 1,
        **extra,
    )


async def apply(
    app: Any, chars: Iterable[SnapshotCharacter], *, now: datetime = NOW, **options: Any
) -> RosterWriteResult:
    extra = {k: options.pop(k) for k in ("unidentified_ids", "deadline_hit") if k in options}
    async with app.state.sessionmaker() as session, session.begin():
        return await apply_roster_snapshot(session, snapshot(chars, **extra), now=now, **options)


async def rows(app: Any) -> dict[str, Character]:
    """Every character by name (fresh session)."""
    async with app.state.sessionmaker() as session:
        found = (await session.scalars(select(Character).order_by(Character.id))).all()
    return {c.name: c for c in found}


async def add_row(app: Any, **values: Any) -> int:
    """A character row as another writer (addon, manual entry, an earlier sync) left it."""
    values.setdefault("realm_slug", "senjin")
    async with app.state.sessionmaker() as session, session.begin():
        character = Character(**values)
        session.add(character)
        await session.flush()
        return character.id


async def linked_character(app: Any, factory: Factory, name: str, **fields: Any) -> tuple[int, int]:
    """A member and a character linked to it through the characters service."""
    handle = await factory.member(registered=False)
    async with app.state.sessionmaker() as session, session.begin():
        character = await character_service.add_character(
            session,
            actor=None,
            member_id=handle.id,
            name=name,
            realm=fields.pop("realm", "Sen'jin"),
            wow_class=fields.pop("wow_class", "Druid"),
            spec=fields.pop("spec", None),
        )
        for key, value in fields.items():
            setattr(character, key, value)
        return handle.id, character.id


async def links_of(app: Any, member_id: int) -> list[int | None]:
    async with app.state.sessionmaker() as session:
        return list(
            (
                await session.scalars(
                    select(IdentityLink.character_id).where(IdentityLink.member_id == member_id)
                )
            ).all()
        )


# -------------------------------------------------------------------------- insert / update
async def test_insert_new_characters(app: Any) -> None:
    result = await apply(
        app,
        [
            member(1, "Aldrameth", rank=0),
            member(
                2,
                "Zoëlle",
                realm="bleeding-hollow",
                realm_name=None,
                class_name="Mage",
                spec="Fire",
            ),
        ],
        region="us",
        home_realm_slug="senjin",
        home_realm_name="Sen'jin",
    )
    assert (result.status, result.found, result.new, result.updated) == ("success", 2, 2, 0)
    found = await rows(app)
    aldrameth, zoelle = found["Aldrameth"], found["Zoëlle"]
    assert aldrameth.origin == "blizzard_sync"
    assert aldrameth.blizzard_id == 1 and aldrameth.member_id is None
    assert (aldrameth.realm_name, aldrameth.character_class, aldrameth.level) == (
        "Sen'jin",
        "Druid",
        80,
    )
    assert (aldrameth.spec, aldrameth.active_spec, aldrameth.role) == (
        "Balance",
        "Balance",
        "ranged_dps",
    )
    assert (aldrameth.item_level, aldrameth.last_login_at) == (620, LOGIN)
    assert (aldrameth.game_rank, aldrameth.game_rank_name) == (0, "Guild Leader")
    assert (aldrameth.main_alt, aldrameth.removed_at) == ("alt", None)
    assert aldrameth.blizzard_last_sync == NOW and aldrameth.first_seen == NOW
    assert (
        aldrameth.armory_url
        == "https://worldofwarcraft.blizzard.com/en-us/character/us/senjin/aldrameth"
    )
    assert zoelle.realm_name is None  # not the home realm, and Blizzard did not name it
    assert zoelle.armory_url.endswith("/us/bleeding-hollow/zo%C3%ABlle")
    assert (zoelle.spec, zoelle.role) == ("Fire", "ranged_dps")


async def test_unchanged_and_updated_counts(app: Any) -> None:
    chars = [member(1, "Aldrameth"), member(2, "Brañix", class_name="Warrior", spec="Arms")]
    await apply(app, chars)
    again = await apply(app, chars, now=LATER)
    assert (again.new, again.updated, again.unchanged, again.removed) == (0, 0, 2, 0)
    assert (await rows(app))["Aldrameth"].blizzard_last_sync == LATER
    changed = await apply(app, [replace(chars[0], level=81), chars[1]], now=LATER)
    assert (changed.updated, changed.unchanged) == (1, 1)
    assert (await rows(app))["Aldrameth"].level == 81


async def test_existing_row_found_case_insensitively_keeps_its_member(
    app: Any, factory: Factory
) -> None:
    member_id, character_id = await linked_character(app, factory, "aldrameth", spec="Feral")
    result = await apply(app, [member(1, "Aldrameth")])
    assert (result.new, result.updated) == (0, 1)
    row = (await rows(app))["Aldrameth"]  # Blizzard's casing wins
    assert row.id == character_id
    assert row.member_id == member_id and row.origin == "manual"
    assert row.blizzard_id == 1
    assert await links_of(app, member_id) == [character_id]


# ------------------------------------------------------------------------ renames / merges
async def test_rename_via_blizzard_id_keeps_row_and_link(app: Any, factory: Factory) -> None:
    member_id, character_id = await linked_character(app, factory, "Aldrameth")
    await apply(app, [member(1, "Aldrameth")])
    result = await apply(app, [member(1, "Aldrabank")], now=LATER)
    assert (result.new, result.updated, result.removed) == (0, 1, 0)
    found = await rows(app)
    assert set(found) == {"Aldrabank"}
    assert found["Aldrabank"].id == character_id
    assert found["Aldrabank"].member_id == member_id
    assert found["Aldrabank"].armory_url.endswith("/senjin/aldrabank")
    assert await links_of(app, member_id) == [character_id]


async def test_realm_transfer_via_blizzard_id(app: Any) -> None:
    await apply(app, [member(1, "Aldrameth")])
    await apply(app, [member(1, "Aldrameth", realm="area-52", realm_name="Area 52")], now=LATER)
    row = (await rows(app))["Aldrameth"]
    assert (row.realm_slug, row.realm_name) == ("area-52", "Area 52")
    assert row.armory_url.endswith("/area-52/aldrameth")


async def test_names_swapped_between_two_characters(app: Any) -> None:
    await apply(app, [member(1, "Alpha"), member(2, "Beta")])
    result = await apply(app, [member(1, "Beta"), member(2, "Alpha")], now=LATER)
    assert result.updated == 2
    found = await rows(app)
    assert (found["Beta"].blizzard_id, found["Alpha"].blizzard_id) == (1, 2)


async def test_rename_onto_an_addon_row_merges_it(app: Any, factory: Factory) -> None:
    await apply(app, [member(1, "Aldrameth")])
    # The addon saw the new name first and created a row; an officer linked it.
    member_id, duplicate_id = await linked_character(
        app,
        factory,
        "Newname",
        guild_note="GM alt",
        officer_note="Discord: stonehoof",
        addon_last_seen=NOW,
        main_alt="main",
    )
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(
            update(Character).where(Character.id == duplicate_id).values(origin="addon")
        )
    original_id = (await rows(app))["Aldrameth"].id
    result = await apply(app, [member(1, "Newname")], now=LATER)
    assert (result.merged, result.new, result.updated) == (1, 0, 1)
    found = await rows(app)
    assert set(found) == {"Newname"}
    kept = found["Newname"]
    assert kept.id == original_id and kept.blizzard_id == 1
    assert (kept.guild_note, kept.officer_note, kept.addon_last_seen) == (
        "GM alt",
        "Discord: stonehoof",
        NOW,
    )
    assert (kept.member_id, kept.main_alt) == (member_id, "main")
    assert await links_of(app, member_id) == [original_id]  # the link moved with the member


async def test_rename_onto_a_row_with_its_own_blizzard_id_is_skipped(app: Any) -> None:
    await apply(app, [member(1, "Aldrameth"), member(2, "Taken")])
    result = await apply(app, [member(1, "Taken", level=81)], now=LATER)
    assert result.skipped == 1
    found = await rows(app)
    assert found["Aldrameth"].blizzard_id == 1 and found["Aldrameth"].level == 81
    assert found["Taken"].blizzard_id == 2  # the other character is untouched (but left)


# ---------------------------------------------------------------- removals, rejoin, safety
async def test_removal_and_rejoin(app: Any, factory: Factory) -> None:
    member_id, _ = await linked_character(app, factory, "Aldrameth")
    await apply(app, [member(1, "Aldrameth"), member(2, "Brañix")])
    gone = await apply(app, [member(2, "Brañix")], now=LATER)
    assert gone.removed == 1
    left = (await rows(app))["Aldrameth"]
    assert left.removed_at == LATER
    assert left.member_id == member_id  # history stays
    back = await apply(
        app, [member(1, "Aldrameth", rank=1), member(2, "Brañix")], now=LATER + timedelta(hours=6)
    )
    assert (back.rejoined, back.updated, back.removed) == (1, 1, 0)
    assert (await rows(app))["Aldrameth"].removed_at is None
    assert back.rank_changes == 0  # a rejoin is not a rank change
    async with app.state.sessionmaker() as session:
        assert await count_rows(session, "guild_identity.audit_issues") == 0


async def test_rows_never_seen_by_the_sync_are_never_removed(app: Any) -> None:
    manual_id = await add_row(app, name="Handmade", origin="manual", character_class="Mage")
    addon_id = await add_row(app, name="Addonly", origin="addon", game_rank=3)
    await apply(app, [member(1, "Aldrameth")])
    await apply(app, [member(1, "Aldrameth")], now=LATER)
    found = await rows(app)
    assert found["Handmade"].id == manual_id and found["Handmade"].removed_at is None
    assert found["Addonly"].id == addon_id and found["Addonly"].removed_at is None


async def test_unidentified_roster_members_are_not_removed(app: Any) -> None:
    await apply(app, [member(1, "Aldrameth"), member(2, "Brañix")])
    result = await apply(app, [member(1, "Aldrameth")], now=LATER, unidentified_ids=frozenset({2}))
    assert result.removed == 0
    assert (await rows(app))["Brañix"].removed_at is None


async def test_shrunken_roster_skips_removals_and_is_partial(app: Any) -> None:
    guild = [member(100 + i, f"Char{chr(97 + i)}") for i in range(12)]
    await apply(app, guild)
    result = await apply(app, [replace(c, level=81) for c in guild[:3]], now=LATER)
    assert result.status == "partial"
    assert result.error_message == "roster shrank from 12 to 3; removals skipped"
    assert (result.updated, result.removed, result.removals_skipped) == (3, 0, True)
    found = await rows(app)
    assert all(c.removed_at is None for c in found.values())
    assert found["Chara"].level == 81  # upserts still happen


async def test_force_removals_overrides_the_shrink_rule(app: Any) -> None:
    guild = [member(100 + i, f"Char{chr(97 + i)}") for i in range(12)]
    await apply(app, guild)
    result = await apply(app, guild[:3], now=LATER, force_removals=True)
    assert (result.status, result.removed) == ("success", 9)
    assert sum(c.removed_at == LATER for c in (await rows(app)).values()) == 9


async def test_small_guild_is_not_protected_by_the_ratio(app: Any) -> None:
    guild = [member(100 + i, f"Char{chr(97 + i)}") for i in range(9)]
    await apply(app, guild)
    result = await apply(app, guild[:1], now=LATER)
    assert (result.status, result.removed) == ("success", 8)


async def test_empty_snapshot_writes_nothing(app: Any) -> None:
    await apply(app, [member(1, "Aldrameth")])
    before = await rows(app)
    result = await apply(app, [], now=LATER)
    assert (result.status, result.error_message) == ("error", "empty roster")
    after = await rows(app)
    assert after["Aldrameth"].blizzard_last_sync == before["Aldrameth"].blizzard_last_sync == NOW
    assert after["Aldrameth"].removed_at is None


# ------------------------------------------------------------------------- field ownership
async def test_player_spec_and_role_are_never_overwritten(app: Any, factory: Factory) -> None:
    await linked_character(app, factory, "Aldrameth", spec="Feral")
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(update(Character).values(role="tank"))
    await apply(app, [member(1, "Aldrameth", spec="Balance")])
    row = (await rows(app))["Aldrameth"]
    assert (row.spec, row.role, row.active_spec) == ("Feral", "tank", "Balance")


async def test_empty_spec_and_role_are_filled(app: Any) -> None:
    await add_row(app, name="Frostbolt", origin="manual", character_class="Mage")
    await apply(app, [member(1, "Frostbolt", class_name="Mage", spec="Frost")])
    row = (await rows(app))["Frostbolt"]
    assert (row.spec, row.role) == ("Frost", "ranged_dps")  # Frost Mage, not Frost DK


async def test_failed_profile_keeps_profile_data(app: Any) -> None:
    await apply(app, [member(1, "Aldrameth", item_level=630)])
    result = await apply(
        app,
        [member(1, "Aldrameth", level=81, status=ProfileStatus.FAILED)],
        now=LATER,
    )
    assert result.status == "partial"
    assert result.error_message == "1 profile request(s) failed"
    row = (await rows(app))["Aldrameth"]
    assert (row.item_level, row.active_spec, row.last_login_at) == (630, "Balance", LOGIN)
    assert row.level == 81  # the roster still updates what it knows
    assert row.blizzard_last_sync == LATER


async def test_missing_values_never_blank_stored_ones(app: Any) -> None:
    await apply(app, [member(1, "Aldrameth")])
    await apply(
        app,
        [member(1, "Aldrameth", class_name=None, level=None, realm_name=None, rank=None)],
        now=LATER,
    )
    row = (await rows(app))["Aldrameth"]
    assert (row.character_class, row.level, row.realm_name) == ("Druid", 80, "Sen'jin")
    assert (row.game_rank, row.game_rank_name) == (3, "Member")


async def test_armory_url_kept_unless_name_or_realm_changes(app: Any) -> None:
    await apply(app, [member(1, "Aldrameth")])
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(update(Character).values(armory_url="https://example.test/custom"))
    await apply(app, [member(1, "Aldrameth", level=81)], now=LATER)
    assert (await rows(app))["Aldrameth"].armory_url == "https://example.test/custom"


# ------------------------------------------------------------------------ rank_change issues
async def open_issues(session: AsyncSession) -> list[AuditIssue]:
    return list(
        (
            await session.scalars(
                select(AuditIssue).where(AuditIssue.resolved_at.is_(None)).order_by(AuditIssue.id)
            )
        ).all()
    )


async def test_rank_change_issue_created_once(app: Any, factory: Factory) -> None:
    member_id, character_id = await linked_character(app, factory, "Aldrameth")
    await apply(app, [member(1, "Aldrameth", rank=3)])
    promoted = await apply(app, [member(1, "Aldrameth", rank=1)], now=LATER)
    assert promoted.rank_changes == 1
    async with app.state.sessionmaker() as session:
        (issue,) = await open_issues(session)
    assert (issue.issue_type, issue.severity) == ("rank_change", "info")
    assert issue.summary == "'Aldrameth' changed rank in game: Member → Officer"
    assert issue.issue_hash == rank_change_hash(character_id, 3, 1)
    assert (issue.character_id, issue.member_id) == (character_id, member_id)
    assert issue.details["old_rank"] == 3 and issue.details["new_rank_name"] == "Officer"
    # The same change seen again (rank flipped back by hand, then promoted again) refreshes the
    # open issue instead of opening a second one.
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(update(Character).values(game_rank=3, game_rank_name="Member"))
    again = await apply(app, [member(1, "Aldrameth", rank=1)], now=LATER + timedelta(hours=1))
    assert again.rank_changes == 0
    async with app.state.sessionmaker() as session:
        (refreshed,) = await open_issues(session)
    assert refreshed.id == issue.id
    assert refreshed.last_detected == LATER + timedelta(hours=1)
    assert refreshed.first_detected == LATER


async def test_ignored_rank_change_is_not_reopened(app: Any) -> None:
    await apply(app, [member(1, "Aldrameth", rank=3)])
    await apply(app, [member(1, "Aldrameth", rank=1)], now=LATER)
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(
            update(AuditIssue).values(resolved_at=LATER, resolved_by="officer", ignored=True)
        )
        await session.execute(update(Character).values(game_rank=3))
    result = await apply(app, [member(1, "Aldrameth", rank=1)], now=LATER + timedelta(hours=1))
    assert result.rank_changes == 0
    async with app.state.sessionmaker() as session:
        assert await open_issues(session) == []
        assert await count_rows(session, "guild_identity.audit_issues") == 1


async def test_no_rank_change_for_rows_not_tracked_by_the_sync(app: Any) -> None:
    await add_row(app, name="Addonly", origin="addon", game_rank=4, game_rank_name="Initiate")
    result = await apply(app, [member(1, "Addonly", rank=2)])
    assert result.rank_changes == 0
    assert (await rows(app))["Addonly"].game_rank == 2


# ------------------------------------------------------------------------------ set-based
async def test_write_uses_a_fixed_number_of_statements(app: Any) -> None:
    guild = [member(1000 + i, f"Member{_letters(i)}", rank=i % 5) for i in range(300)]
    await apply(app, guild)
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        changed = [
            member(1000 + i, f"Member{_letters(i)}", rank=(i + 1) % 5 if i % 3 == 0 else i % 5)
            for i in range(300)
        ]
        changed = changed[:250] + [member(5000 + i, f"Newbie{_letters(i)}") for i in range(40)]
        result = await apply(app, changed, now=LATER)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert (result.new, result.removed) == (40, 50)
    assert result.rank_changes == 84
    data_statements = [
        s for s in statements if not s.lstrip().upper().startswith(("BEGIN", "COMMIT"))
    ]
    assert len(data_statements) <= 8, data_statements


def _letters(number: int) -> str:
    text_value = ""
    for _ in range(3):
        number, digit = divmod(number, 26)
        text_value = "abcdefghijklmnopqrstuvwxyz"[digit] + text_value
    return text_value


# ------------------------------------------------------------------------ the whole flow
def fake_config(fake: FakeBlizzard) -> BlizzardConfig:
    return BlizzardConfig(client_id=fake.client_id, client_secret=fake.client_secret)


async def test_full_sync_against_the_fake(app: Any) -> None:
    fake = FakeBlizzard()
    async with BlizzardClient(fake_config(fake), transport=fake.transport()) as client:
        result = await run_blizzard_sync(
            app.state.sessionmaker, client, engine=app.state.engine, triggered_by="cli"
        )
    assert (result.status, result.new) == ("success", 2)
    found = await rows(app)
    assert found["Zoëlle"].realm_name == "Bleeding Hollow"  # from the profile
    assert found["Aldrameth"].active_spec == "Balance"
    async with app.state.sessionmaker() as session:
        log_row = (
            await session.execute(
                text(
                    "SELECT source, status, characters_found, characters_new, details, "
                    "triggered_by, duration_seconds FROM guild_identity.sync_log"
                )
            )
        ).one()
    assert log_row[:4] == ("blizzard_api", "success", 2, 2)
    assert log_row.details["profiles_ok"] == 2 and log_row.details["requests"] == 3
    assert log_row.triggered_by == "cli" and log_row.duration_seconds is not None


@pytest.mark.parametrize("mode", [RosterMode.SERVER_ERROR, RosterMode.NOT_FOUND, RosterMode.EMPTY])
async def test_failed_or_empty_roster_writes_nothing(app: Any, mode: RosterMode) -> None:
    await apply(app, [member(200000001, "Aldrameth")])
    fake = FakeBlizzard(roster_mode=mode)
    async with BlizzardClient(
        fake_config(fake), transport=fake.transport(), sleep=_no_sleep
    ) as client:
        result = await run_blizzard_sync(
            app.state.sessionmaker, client, engine=app.state.engine, triggered_by="schedule"
        )
    assert result.status == "error"
    row = (await rows(app))["Aldrameth"]
    assert row.removed_at is None and row.blizzard_last_sync == NOW
    async with app.state.sessionmaker() as session:
        status, message = (
            await session.execute(text("SELECT status, error_message FROM guild_identity.sync_log"))
        ).one()
    assert status == "error" and message


async def _no_sleep(seconds: float) -> None:
    return None


async def test_merge_keeps_the_renamed_rows_own_member(app: Any, factory: Factory) -> None:
    owner_id, original_id = await linked_character(app, factory, "Aldrameth")
    await apply(app, [member(1, "Aldrameth")])
    other_id, duplicate_id = await linked_character(app, factory, "Newname", guild_note="hi")
    result = await apply(app, [member(1, "Newname")], now=LATER)
    assert result.merged == 1
    kept = (await rows(app))["Newname"]
    assert (kept.id, kept.member_id, kept.guild_note) == (original_id, owner_id, "hi")
    assert await links_of(app, owner_id) == [original_id]
    assert await links_of(app, other_id) == []  # the duplicate's link went with it
