"""The matching engine against the real database: every strategy, the never-touch rules,
member creation and provenance. The identity invariants are scanned after every test."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from tests.conftest import count_rows
from tests.identity_invariants import check_identity_invariants  # noqa: F401 (autouse)
from tests.identity_support import Actor, World

from sv_common import clock
from sv_common.identity.integrity.issues import resolve_issue
from sv_common.identity.links import link_manually, remove_link
from sv_common.identity.matching.engine import apply_plan, load_snapshot
from sv_common.identity.matching.planner import plan_matching
from sv_common.identity.matching.similarity import similarity


@pytest.fixture
def world(app: Any) -> World:
    return World(app)


async def officer(world: World) -> Actor:
    member_id = await world.member("Officer Olga", discord_username="olga", level=4)
    return Actor(id=member_id, display_name="Officer Olga")


def provenance(link: Any) -> tuple[str, str, bool, str | None]:
    return (link.source, link.confidence, link.confirmed, link.confirmed_by)


# ----------------------------------------------------------------------------- step A
async def test_step_a_links_account_by_snowflake(world: World) -> None:
    member_id = await world.member("Stonehoof", discord_id="100000000000000001")
    # the member service links an existing account itself, so the account arrives afterwards
    account_id = await world.account("somebody", discord_id="100000000000000001")

    stats = await world.match()

    assert (await world.account_row(account_id)).member_id == member_id
    link = await world.link_of(account_id=account_id)
    assert link is not None and provenance(link) == ("discord_sync", "high", True, "auto")
    assert stats.accounts_linked == 1


async def test_step_a_links_account_by_username_and_copies_the_snowflake(world: World) -> None:
    member_id = await world.member("Stoney", discord_username="Stone.Hoof")
    account_id = await world.account("stonehoof", discord_id="100000000000000002")

    await world.match()

    assert (await world.account_row(account_id)).member_id == member_id
    link = await world.link_of(account_id=account_id)
    assert link is not None
    assert provenance(link) == ("exact_name_match", "high", True, "auto")
    assert (await world.member_row(member_id)).discord_id == "100000000000000002"


async def test_step_a_username_needs_a_member_without_snowflake_or_account(world: World) -> None:
    taken = await world.member(
        "Taken", discord_username="stonehoof", discord_id="100000000000000009"
    )
    account_id = await world.account("stonehoof")

    await world.match()

    # the member already has another Discord account's snowflake
    assert (await world.account_row(account_id)).member_id is None
    assert (await world.member_row(taken)).discord_id == "100000000000000009"


async def test_step_a_username_shared_by_two_members_links_nothing(world: World) -> None:
    await world.member("One", discord_username="stone.hoof")
    await world.member("Two", discord_username="stonehoof")
    account_id = await world.account("stonehoof")

    await world.match()

    assert (await world.account_row(account_id)).member_id is None


# ----------------------------------------------------------------------------- B1
@pytest.mark.parametrize(
    ("account", "character"),
    [
        ({"username": "aldrameth"}, "Aldrameth"),
        ({"username": "xyz123", "nickname": "Aldrameth"}, "Aldrameth"),
        ({"username": "xyz123", "global_name": "ALDRAMETH"}, "Aldrameth"),
        ({"username": "zoelle"}, "Zoëlle"),
        ({"username": "branix"}, "Brañix"),
    ],
)
async def test_b1_exact_name_on_account_names(
    world: World, account: dict[str, str], character: str
) -> None:
    account_id = await world.account(**account)
    character_id = await world.character(character)

    stats = await world.match()

    linked = await world.character_row(character_id)
    assert linked.member_id is not None
    assert (await world.account_row(account_id)).member_id == linked.member_id
    assert stats.exact == 1 and stats.members_created == 1
    link = await world.link_of(character_id=character_id)
    assert link is not None and provenance(link) == ("exact_name_match", "high", True, "auto")
    account_link = await world.link_of(account_id=account_id)
    assert account_link is not None
    assert provenance(account_link) == ("exact_name_match", "high", True, "auto")


async def test_b1_member_discord_username(world: World) -> None:
    member_id = await world.member("Stoney", discord_username="Aldrameth")
    character_id = await world.character("Aldrameth")

    stats = await world.match()

    assert (await world.character_row(character_id)).member_id == member_id
    assert stats.exact == 1 and stats.members_created == 0


async def test_b1_account_and_member_of_the_same_person_count_once(world: World) -> None:
    member_id = await world.member("Stoney", discord_username="aldrameth")
    account_id = await world.account("aldrameth")
    character_id = await world.character("Aldrameth")

    await world.match()  # step A links the account to the member first

    assert (await world.account_row(account_id)).member_id == member_id
    assert (await world.character_row(character_id)).member_id == member_id


async def test_ambiguous_exact_name_links_nothing(world: World) -> None:
    await world.account("stonehoof")
    await world.account("other", nickname="Stonehoof")
    character_id = await world.character("Stonehoof")

    stats = await world.match()

    assert (await world.character_row(character_id)).member_id is None
    assert stats.ambiguous == 1 and stats.exact == 0 and stats.members_created == 0


# ----------------------------------------------------------------------------- B2 / B3
async def test_b2_guild_note_discord_hint(world: World) -> None:
    account_id = await world.account("stonehoof")
    character_id = await world.character("Bankalt", note="Discord: Stonehoof")

    stats = await world.match()

    character = await world.character_row(character_id)
    assert character.member_id == (await world.account_row(account_id)).member_id
    assert character.member_id is not None
    link = await world.link_of(character_id=character_id)
    assert link is not None and provenance(link) == ("guild_note", "high", True, "auto")
    assert stats.guild_note == 1


async def test_b3_officer_note_discord_hint(world: World) -> None:
    account_id = await world.account("stonehoof")
    character_id = await world.character("Bankalt", note="raider", officer_note="DC=@StoneHoof")

    stats = await world.match()

    assert (await world.character_row(character_id)).member_id == (
        await world.account_row(account_id)
    ).member_id
    link = await world.link_of(character_id=character_id)
    assert link is not None and provenance(link) == ("officer_note", "high", True, "auto")
    assert stats.officer_note == 1


async def test_b3_officer_note_character_hint_makes_an_alt_and_names_the_main(
    world: World,
) -> None:
    member_id = await world.member("Stoney", discord_username="stonehoof")
    main_id = await world.character("Aldrameth", main_alt="alt")
    alt_id = await world.character("Bankalt", officer_note="Aldrameth’s alt", main_alt="main")
    actor = await officer(world)
    async with world.session() as session, session.begin():
        await link_manually(session, officer=actor, character_id=main_id, member_id=member_id)

    stats = await world.match()

    alt = await world.character_row(alt_id)
    assert alt.member_id == member_id
    assert alt.main_alt == "alt"
    assert (await world.character_row(main_id)).main_alt == "main"  # the member had no main
    link = await world.link_of(character_id=alt_id)
    assert link is not None and provenance(link) == ("officer_note", "high", True, "auto")
    assert stats.officer_note == 1


async def test_character_hint_falls_back_to_a_discord_name(world: World) -> None:
    account_id = await world.account("stonehoof")
    character_id = await world.character("Bankalt", note="alt of stonehoof")

    await world.match()

    assert (await world.character_row(character_id)).member_id == (
        await world.account_row(account_id)
    ).member_id


async def test_note_hints_pointing_at_two_people_are_ambiguous(world: World) -> None:
    await world.account("stonehoof")
    await world.account("aldrameth")
    character_id = await world.character("Bankalt", note="DC: stonehoof, @aldrameth")

    stats = await world.match()

    assert (await world.character_row(character_id)).member_id is None
    assert stats.ambiguous == 1


async def test_a_bare_word_in_a_note_is_no_hint(world: World) -> None:
    await world.account("stonehoof")
    character_id = await world.character("Bankalt", note="stonehoof")

    await world.match()

    assert (await world.character_row(character_id)).member_id is None


async def test_alt_chain_resolves_in_one_run(world: World) -> None:
    # created in the worst order: each alt is processed before the character it names
    second_alt = await world.character("Thirdone", note="alt of Secondone")
    first_alt = await world.character("Secondone", note="Firstmain's alt")
    main = await world.character("Firstmain", main_alt="alt")
    account_id = await world.account("firstmain")

    stats = await world.match()

    member_id = (await world.account_row(account_id)).member_id
    assert member_id is not None
    for character_id in (second_alt, first_alt, main):
        assert (await world.character_row(character_id)).member_id == member_id
    assert stats.exact == 1 and stats.guild_note == 2
    assert (await world.character_row(main)).main_alt == "main"


async def test_alt_of_a_main_linked_by_a_near_miss_joins_in_the_same_run(world: World) -> None:
    account_id = await world.account("aldrameth")
    alt_id = await world.character("Bankalt", note="alt of Aldramethh")
    main_id = await world.character("Aldramethh")  # only the fuzzy step can link it

    stats = await world.match()

    member_id = (await world.account_row(account_id)).member_id
    assert member_id is not None
    assert (await world.character_row(main_id)).member_id == member_id
    assert (await world.character_row(alt_id)).member_id == member_id
    assert stats.fuzzy == 1 and stats.guild_note == 1
    assert (await world.character_row(main_id)).main_alt == "main"


# ----------------------------------------------------------------------------- B4
async def test_b4_nickname_token(world: World) -> None:
    account_id = await world.account("stonehoof", nickname="Stonehoof (Aldrameth)")
    character_id = await world.character("Aldrameth")

    stats = await world.match()

    assert (await world.character_row(character_id)).member_id == (
        await world.account_row(account_id)
    ).member_id
    link = await world.link_of(character_id=character_id)
    assert link is not None and provenance(link) == ("exact_name_match", "medium", False, None)
    account_link = await world.link_of(account_id=account_id)
    assert account_link is not None
    assert provenance(account_link) == ("exact_name_match", "medium", False, None)
    assert stats.token == 1


# ----------------------------------------------------------------------------- B5
async def test_b5_fuzzy_auto_link(world: World) -> None:
    assert similarity("Aldramethh", "aldrameth") >= 0.85
    account_id = await world.account("aldrameth")
    character_id = await world.character("Aldramethh")

    stats = await world.match()

    assert (await world.character_row(character_id)).member_id == (
        await world.account_row(account_id)
    ).member_id
    link = await world.link_of(character_id=character_id)
    assert link is not None and provenance(link) == ("fuzzy_match", "medium", False, None)
    assert stats.fuzzy == 1


async def test_b5_fuzzy_reaches_a_role_sync_member_without_characters(world: World) -> None:
    member_id = await world.member("Aldra", discord_id="100000000000000003")
    account_id = await world.account("aldrameth", discord_id="100000000000000003", role="Member")
    character_id = await world.character("Aldramethh")

    await world.match()

    assert (await world.account_row(account_id)).member_id == member_id
    assert (await world.character_row(character_id)).member_id == member_id


async def test_b5_suggestion_below_auto_link(world: World) -> None:
    assert 0.70 <= similarity("Zoëlle", "zoelie") < 0.85
    account_id = await world.account("zoelie")
    character_id = await world.character("Zoëlle")

    stats = await world.match()

    assert (await world.character_row(character_id)).member_id is None
    suggestions = await world.issues("auto_link_suggestion")
    assert [(s.character_id, s.discord_member_id) for s in suggestions] == [
        (character_id, account_id)
    ]
    assert suggestions[0].summary == "Possible match: Zoëlle ↔ zoelie (83%)"
    assert suggestions[0].severity == "info"
    assert stats.suggestions == 1 and stats.fuzzy == 0


async def test_b5_tie_gives_suggestions_only(world: World) -> None:
    first = await world.account("aldramethx")
    second = await world.account("aldramethy")
    character_id = await world.character("Aldrameth")

    stats = await world.match()

    assert (await world.character_row(character_id)).member_id is None
    suggested = {s.discord_member_id for s in await world.issues("auto_link_suggestion")}
    assert suggested == {first, second}
    assert stats.ambiguous == 1 and stats.suggestions == 2


async def test_b5_global_greedy_gives_the_account_to_the_best_character(world: World) -> None:
    weaker, stronger = "Thunderhoovy", "Thunderhooff"
    assert similarity(stronger, "thunderhoof") > similarity(weaker, "thunderhoof") >= 0.85
    account_id = await world.account("thunderhoof")
    weaker_id = await world.character(weaker)  # processed first when going by id
    stronger_id = await world.character(stronger)

    await world.match()

    account_member = (await world.account_row(account_id)).member_id
    assert (await world.character_row(stronger_id)).member_id == account_member
    assert (await world.character_row(weaker_id)).member_id is None


async def test_unrelated_names_do_nothing(world: World) -> None:
    await world.account("stonehoof")
    character_id = await world.character("Aldrameth")

    stats = await world.match()

    assert (await world.character_row(character_id)).member_id is None
    assert stats.unmatched == 1
    assert await world.issues("auto_link_suggestion") == []


# --------------------------------------------------------------------- what is ignored
async def test_removed_characters_and_departed_accounts_are_ignored(world: World) -> None:
    gone_character = await world.character("Aldrameth", removed_at=clock.now())
    await world.account("aldrameth")
    await world.account("stonehoof", present=False)
    character_id = await world.character("Stonehoof")

    await world.match()

    assert (await world.character_row(gone_character)).member_id is None
    assert (await world.character_row(character_id)).member_id is None


async def test_linked_rows_are_never_changed(world: World) -> None:
    actor = await officer(world)
    first = await world.member("First", discord_username="firstperson")
    second_account = await world.account("aldrameth")
    character_id = await world.character("Aldrameth")
    async with world.session() as session, session.begin():
        await link_manually(session, officer=actor, character_id=character_id, member_id=first)
    before = await world.state()

    await world.match()

    assert (await world.character_row(character_id)).member_id == first
    link = await world.link_of(character_id=character_id)
    assert link is not None and link.source == "manual"
    after = await world.state()
    assert after["links"][: len(before["links"])] == before["links"]
    assert (await world.account_row(second_account)).member_id is None  # nothing else matched


async def test_rejected_pairs_are_never_linked_again(world: World) -> None:
    actor = await officer(world)
    account_id = await world.account("aldrameth")
    character_id = await world.character("Aldrameth")
    await world.match()
    link = await world.link_of(character_id=character_id)
    assert link is not None

    async with world.session() as session, session.begin():
        await remove_link(session, link_id=link.id, officer=actor)
    stats = await world.match()

    assert (await world.character_row(character_id)).member_id is None
    assert stats.exact == 0 and stats.fuzzy == 0
    # the account stays with the member created for it
    assert (await world.account_row(account_id)).member_id is not None


async def test_rejected_account_is_not_relinked_by_snowflake(world: World) -> None:
    actor = await officer(world)
    member_id = await world.member("Stoney", discord_id="100000000000000004")
    account_id = await world.account("stonehoof", discord_id="100000000000000004")
    await world.match()
    link = await world.link_of(account_id=account_id)
    assert link is not None and link.member_id == member_id

    async with world.session() as session, session.begin():
        await remove_link(session, link_id=link.id, officer=actor)
    await world.match()

    assert (await world.account_row(account_id)).member_id is None
    assert (await world.member_row(member_id)).discord_id is None


async def test_ignored_suggestions_are_not_created_again(world: World) -> None:
    actor = await officer(world)
    await world.account("zoelie")
    await world.character("Zoëlle")
    await world.match()
    (suggestion,) = await world.issues("auto_link_suggestion")
    async with world.session() as session, session.begin():
        await resolve_issue(
            session, issue_id=suggestion.id, officer_name=actor.display_name, ignore=True
        )

    stats = await world.match()

    assert stats.suggestions == 0
    assert await world.issues("auto_link_suggestion") == []
    assert len(await world.issues("auto_link_suggestion", open_only=False)) == 1


# ------------------------------------------------------------------- member creation
async def test_created_member_takes_the_guild_role_rank(world: World) -> None:
    account_id = await world.account(
        "aldrameth", nickname="Aldra the Bold", global_name="Aldra", role="Veteran"
    )
    await world.character("Aldrameth", game_rank=0)  # Guild Leader in game: never copied

    await world.match()

    member_id = (await world.account_row(account_id)).member_id
    assert member_id is not None
    member = await world.member_row(member_id)
    assert member.display_name == "Aldra the Bold"
    assert member.discord_username == "aldrameth"
    assert await world.member_level(member_id) == (3, "discord_sync")


async def test_created_member_without_guild_role_gets_the_lowest_rank(world: World) -> None:
    await world.member("Holder", discord_username="ALDRAMETH", discord_id="100000000000000005")
    account_id = await world.account("aldrameth", global_name="Aldra")
    await world.character("Aldra", game_rank=1)

    await world.match()

    member_id = (await world.account_row(account_id)).member_id
    assert member_id is not None
    member = await world.member_row(member_id)
    assert member.display_name == "Aldra"
    assert member.discord_username is None  # another member already uses that name
    assert await world.member_level(member_id) == (1, "manual")


async def test_one_main_per_member(world: World) -> None:
    account_id = await world.account("aldrameth", nickname="Aldrameth (Bankalt)")
    first = await world.character("Aldrameth", main_alt="main")
    second = await world.character("Bankalt", main_alt="main")

    await world.match()

    member_id = (await world.account_row(account_id)).member_id
    assert (await world.character_row(first)).member_id == member_id
    assert (await world.character_row(second)).member_id == member_id
    assert (await world.character_row(first)).main_alt == "main"
    assert (await world.character_row(second)).main_alt == "alt"


async def test_rows_linked_meanwhile_are_left_alone(world: World) -> None:
    other = await world.member("Other", discord_username="other")
    taken_account = await world.account("aldrameth")
    await world.character("Aldrameth")
    await world.account("stonehoof")
    taken_character = await world.character("Stonehoof")
    async with world.session() as session, session.begin():
        snapshot, _ = await load_snapshot(session)
        plan = plan_matching(snapshot)
        assert len(plan.new_members) == 2 and len(plan.character_links) == 2
        # another writer links an account and a character after the snapshot was read
        for table, column, row_id in (
            ("guild_identity.discord_members", "discord_member_id", taken_account),
            ("common.characters", "character_id", taken_character),
        ):
            await session.execute(
                text(f"UPDATE {table} SET member_id = :m WHERE id = :i"),
                {"m": other, "i": row_id},
            )
            await session.execute(
                text(
                    f"INSERT INTO guild_identity.identity_links (member_id, {column}, source) "
                    "VALUES (:m, :i, 'manual')"
                ),
                {"m": other, "i": row_id},
            )
        applied = await apply_plan(session, plan, now=clock.now())

    # the member planned for the taken account was not kept; the other one was, with its
    # account but without the character someone else linked first
    assert (applied.members, applied.accounts, sum(applied.characters.values())) == (1, 1, 0)
    assert (await world.account_row(taken_account)).member_id == other
    assert (await world.character_row(taken_character)).member_id == other
    async with world.session() as session:
        assert await count_rows(session, "common.guild_members") == 2


# ------------------------------------------------------------------------ idempotence
async def test_a_second_run_changes_nothing(world: World) -> None:
    await world.member("Stoney", discord_username="stonehoof")
    await world.account("stonehoof")
    await world.account("aldrameth", nickname="Aldrameth (Bankalt)", role="Member")
    await world.account("zoelie")
    await world.character("Aldrameth")
    await world.character("Bankalt")
    await world.character("Zoëlle")
    await world.character("Nobody")
    await world.character("Altie", note="alt of Aldrameth")
    first = await world.match()
    assert first.accounts_linked >= 2 and first.suggestions == 1
    before = await world.state()

    clock.advance(timedelta(minutes=5))
    second = await world.match()

    assert await world.state() == before
    assert second.as_dict() == {
        "accounts_linked": 0,
        "exact": 0,
        "guild_note": 0,
        "officer_note": 0,
        "token": 0,
        "fuzzy": 0,
        "suggestions": 0,
        "members_created": 0,
        "ambiguous": 0,
        "unmatched": 2,
    }
