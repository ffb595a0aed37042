"""Officers' link services (link, confirm, remove) and the identity read queries."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from tests.conftest import count_rows
from tests.identity_invariants import check_identity_invariants  # noqa: F401 (autouse)
from tests.identity_support import Actor, World

from sv_common import clock
from sv_common.db.models import LinkRejection
from sv_common.errors import Conflict, Invalid, NotFound
from sv_common.identity import views
from sv_common.identity.integrity.issues import resolve_issue
from sv_common.identity.links import confirm_link, link_manually, remove_link

LINK_KEYS = {
    "id",
    "member_id",
    "member_display_name",
    "character_id",
    "character_name",
    "discord_member_id",
    "discord_display_name",
    "source",
    "confidence",
    "confirmed",
    "confirmed_by",
    "confirmed_at",
    "created_at",
}


@pytest.fixture
def world(app: Any) -> World:
    return World(app)


@pytest.fixture
async def actor(world: World) -> Actor:
    member_id = await world.member("Officer Olga", discord_username="olga", level=4)
    return Actor(id=member_id, display_name="Officer Olga")


async def link(world: World, actor: Actor, **body: Any) -> dict[str, Any]:
    async with world.session() as session, session.begin():
        return await link_manually(session, officer=actor, **body)


async def rejections(world: World) -> set[tuple[int | None, int | None, int | None]]:
    async with world.session() as session:
        rows = await session.execute(
            select(
                LinkRejection.character_id, LinkRejection.discord_member_id, LinkRejection.member_id
            )
        )
        return {tuple(row) for row in rows.all()}  # type: ignore[misc]


# ------------------------------------------------------------------------- link_manually
async def test_character_and_account_create_a_member(world: World, actor: Actor) -> None:
    account_id = await world.account("aldrameth", nickname="Aldra", role="Veteran")
    character_id = await world.character("Aldrameth")

    result = await link(world, actor, character_id=character_id, discord_member_id=account_id)

    assert result["created_member"] is True
    member_id = result["member_id"]
    assert (await world.member_row(member_id)).display_name == "Aldra"
    assert await world.member_level(member_id) == (3, "discord_sync")
    assert (await world.member_row(member_id)).discord_id == (
        await world.account_row(account_id)
    ).discord_id
    links = result["links"]
    assert [(item["character_id"], item["discord_member_id"]) for item in links] == [
        (character_id, None),
        (None, account_id),
    ]
    for item in links:
        assert set(item) == LINK_KEYS
        assert (item["source"], item["confidence"], item["confirmed"]) == ("manual", "high", True)
        assert item["confirmed_by"] == "Officer Olga" and item["member_id"] == member_id
    assert links[0]["character_name"] == "Aldrameth"
    assert links[1]["discord_display_name"] == "Aldra"
    async with world.session() as session:
        created_by = await session.scalar(
            text("SELECT created_by FROM guild_identity.identity_links WHERE id = :i"),
            {"i": links[0]["id"]},
        )
    assert created_by == actor.id


async def test_character_joins_the_accounts_member(world: World, actor: Actor) -> None:
    member_id = await world.member("Stoney", discord_username="stoney")
    account_id = await world.account("stonehoof")
    await link(world, actor, discord_member_id=account_id, member_id=member_id)
    character_id = await world.character("Aldrameth")

    result = await link(world, actor, character_id=character_id, discord_member_id=account_id)

    assert result["member_id"] == member_id and result["created_member"] is False
    assert (await world.character_row(character_id)).member_id == member_id


async def test_account_joins_the_characters_member(world: World, actor: Actor) -> None:
    member_id = await world.member("Stoney", discord_username="stoney")
    character_id = await world.character("Aldrameth")
    await link(world, actor, character_id=character_id, member_id=member_id)
    account_id = await world.account("stonehoof")

    result = await link(world, actor, character_id=character_id, discord_member_id=account_id)

    assert result["member_id"] == member_id
    assert (await world.account_row(account_id)).member_id == member_id
    assert (await world.member_row(member_id)).discord_id == (
        await world.account_row(account_id)
    ).discord_id


async def test_different_members_are_always_a_conflict(world: World, actor: Actor) -> None:
    first = await world.member("First", discord_username="first")
    second = await world.member("Second", discord_username="second")
    character_id = await world.character("Aldrameth")
    account_id = await world.account("stonehoof")
    await link(world, actor, character_id=character_id, member_id=first)
    await link(world, actor, discord_member_id=account_id, member_id=second)

    for move in (False, True):
        with pytest.raises(Conflict, match="linked to different members"):
            await link(
                world, actor, character_id=character_id, discord_member_id=account_id, move=move
            )


async def test_linked_elsewhere_needs_move(world: World, actor: Actor) -> None:
    first = await world.member("First", discord_username="first")
    second = await world.member("Second", discord_username="second")
    account_id = await world.account("firstdc")
    await link(world, actor, discord_member_id=account_id, member_id=first)
    character_id = await world.character("Aldrameth", main_alt="main")
    await link(world, actor, character_id=character_id, member_id=first)
    main_of_second = await world.character("Secondmain", main_alt="main")
    await link(world, actor, character_id=main_of_second, member_id=second)

    with pytest.raises(Conflict, match="already linked to another member"):
        await link(world, actor, character_id=character_id, member_id=second)

    result = await link(world, actor, character_id=character_id, member_id=second, move=True)

    assert result["member_id"] == second
    character = await world.character_row(character_id)
    assert character.member_id == second
    assert character.main_alt == "alt"  # the second member already has a main
    assert await count_rows_links(world, character_id) == 1
    # the old pairing is remembered so the engine never puts it back
    assert {(character_id, None, first), (character_id, account_id, None)} <= await rejections(
        world
    )


async def count_rows_links(world: World, character_id: int) -> int:
    async with world.session() as session:
        return await count_rows(
            session, "guild_identity.identity_links", "character_id = :c", c=character_id
        )


async def test_account_moves_and_the_old_member_forgets_the_snowflake(
    world: World, actor: Actor
) -> None:
    first = await world.member("First", discord_username="first")
    second = await world.member("Second", discord_username="second")
    account_id = await world.account("stonehoof")
    await link(world, actor, discord_member_id=account_id, member_id=first)
    snowflake = (await world.account_row(account_id)).discord_id
    assert (await world.member_row(first)).discord_id == snowflake

    await link(world, actor, discord_member_id=account_id, member_id=second, move=True)

    assert (await world.member_row(first)).discord_id is None
    assert (await world.member_row(second)).discord_id == snowflake


async def test_snowflake_not_copied_when_taken(world: World, actor: Actor) -> None:
    account_id = await world.account("stonehoof", discord_id="100000000000000077")
    await world.member("Holder", discord_username="holder", discord_id="100000000000000077")
    # the holder's own link to the account happened at creation; unlink it by hand
    async with world.session() as session, session.begin():
        await session.execute(text("DELETE FROM guild_identity.identity_links"))
        await session.execute(text("UPDATE guild_identity.discord_members SET member_id = NULL"))
    other = await world.member("Other", discord_username="other")

    await link(world, actor, discord_member_id=account_id, member_id=other)

    assert (await world.member_row(other)).discord_id is None


async def test_repeating_a_link_is_idempotent(world: World, actor: Actor) -> None:
    account_id = await world.account("aldrameth")
    character_id = await world.character("Aldrameth")
    first = await link(world, actor, character_id=character_id, discord_member_id=account_id)
    before = await world.state()

    again = await link(world, actor, character_id=character_id, discord_member_id=account_id)

    assert again["member_id"] == first["member_id"]
    assert again["links"] == first["links"]
    assert await world.state() == before


async def test_manual_link_confirms_an_automatic_link_it_repeats(
    world: World, actor: Actor
) -> None:
    account_id = await world.account("aldrameth")
    character_id = await world.character("Aldramethh")
    await world.match()  # fuzzy: unconfirmed
    member_id = (await world.account_row(account_id)).member_id
    assert member_id is not None

    result = await link(world, actor, character_id=character_id, member_id=member_id)

    (item,) = result["links"]
    assert (item["source"], item["confirmed"], item["confirmed_by"]) == (
        "fuzzy_match",
        True,
        "Officer Olga",
    )


async def test_manual_link_clears_rejections_and_resolves_issues(
    world: World, actor: Actor
) -> None:
    account_id = await world.account("aldrameth")
    character_id = await world.character("Aldrameth")
    result = await link(world, actor, character_id=character_id, discord_member_id=account_id)
    async with world.session() as session, session.begin():
        await remove_link(session, link_id=result["links"][0]["id"], officer=actor)
    assert await rejections(world)
    await world.check()
    assert len(await world.issues("orphan_wow")) == 1

    await link(world, actor, character_id=character_id, member_id=result["member_id"])

    assert await rejections(world) == set()
    assert await world.issues("orphan_wow") == []
    (resolved,) = await world.issues("orphan_wow", open_only=False)
    assert (resolved.resolved_by, resolved.resolution_note) == ("Officer Olga", "linked manually")


@pytest.mark.parametrize(
    "body",
    [
        {"character_id": 1},
        {"character_id": 1, "discord_member_id": 1, "member_id": 1},
        {},
        {"character_id": 0, "member_id": 1},
        {"character_id": True, "member_id": 1},
        {"character_id": "1", "member_id": 1},
    ],
)
async def test_bad_bodies_are_invalid(world: World, actor: Actor, body: dict[str, Any]) -> None:
    with pytest.raises(Invalid):
        await link(world, actor, **body)


async def test_unknown_ids_are_not_found(world: World, actor: Actor) -> None:
    character_id = await world.character("Aldrameth")
    account_id = await world.account("aldrameth")
    for body in (
        {"character_id": 9999, "member_id": actor.id},
        {"discord_member_id": 9999, "member_id": actor.id},
        {"character_id": character_id, "member_id": 9999},
        {"character_id": character_id, "discord_member_id": 9999},
        {"character_id": 9999, "discord_member_id": account_id},
    ):
        with pytest.raises(NotFound):
            await link(world, actor, **body)


# ----------------------------------------------------------------------------- confirm
async def test_confirm_link(world: World, actor: Actor) -> None:
    await world.account("stonehoof", nickname="Stonehoof (Aldrameth)")
    character_id = await world.character("Aldrameth")
    await world.match()  # nickname token: unconfirmed
    pending = await world.link_of(character_id=character_id)
    assert pending is not None and pending.confirmed is False

    async with world.session() as session, session.begin():
        confirmed = await confirm_link(session, link_id=pending.id, officer=actor)
    assert confirmed["confirmed"] is True and confirmed["confirmed_by"] == "Officer Olga"
    assert confirmed["confirmed_at"] is not None

    clock.advance(timedelta(minutes=1))
    other = Actor(id=actor.id, display_name="Someone Else")
    async with world.session() as session, session.begin():
        again = await confirm_link(session, link_id=pending.id, officer=other)
    assert again == confirmed  # unchanged

    async with world.session() as session, session.begin():
        with pytest.raises(NotFound):
            await confirm_link(session, link_id=99999, officer=actor)


# ------------------------------------------------------------------------------ remove
async def test_remove_character_link_records_rejections(world: World, actor: Actor) -> None:
    member_id = await world.member("Stoney", discord_username="stoney")
    account_id = await world.account("stonehoof")
    await link(world, actor, discord_member_id=account_id, member_id=member_id)
    character_id = await world.character("Aldrameth")
    result = await link(world, actor, character_id=character_id, member_id=member_id)

    async with world.session() as session, session.begin():
        removed = await remove_link(session, link_id=result["links"][0]["id"], officer=actor)

    assert removed == {"removed": result["links"][0]["id"]}
    assert (await world.character_row(character_id)).member_id is None
    assert await world.link_of(character_id=character_id) is None
    assert await rejections(world) == {
        (character_id, None, member_id),
        (character_id, account_id, None),
    }
    assert (await world.member_row(member_id)).display_name == "Stoney"  # member kept


async def test_remove_account_link_clears_the_members_snowflake(world: World, actor: Actor) -> None:
    member_id = await world.member("Stoney", discord_username="stoney")
    account_id = await world.account("stonehoof")
    result = await link(world, actor, discord_member_id=account_id, member_id=member_id)
    assert (await world.member_row(member_id)).discord_id is not None

    async with world.session() as session, session.begin():
        await remove_link(session, link_id=result["links"][0]["id"], officer=actor)

    assert (await world.account_row(account_id)).member_id is None
    assert (await world.member_row(member_id)).discord_id is None
    assert await rejections(world) == {(None, account_id, member_id)}

    async with world.session() as session, session.begin():
        with pytest.raises(NotFound):
            await remove_link(session, link_id=result["links"][0]["id"], officer=actor)


# ------------------------------------------------------------------------------- views
async def test_persons_with_search_paging_and_removed_rows(world: World, actor: Actor) -> None:
    member_id = await world.member("Stoney", discord_username="stonehoof", level=3)
    account_id = await world.account(
        "stonehoof_dc", nickname="Stonehoof (Aldrameth)", role="Veteran"
    )
    gone_account = await world.account("oldaccount", present=False)
    main = await world.character("Aldrameth", main_alt="main", game_rank=2)
    gone = await world.character("Retired", removed_at=clock.now())
    for body in (
        {"discord_member_id": account_id},
        {"discord_member_id": gone_account},
        {"character_id": main},
        {"character_id": gone},
    ):
        await link(world, actor, member_id=member_id, **body)
    await world.character("Orphan")
    await world.check()

    async with world.session() as session:
        everyone = await views.list_persons(session)
        found = await views.list_persons(session, q="ALDRA")
        by_account = await views.list_persons(session, q="stonehoof_")
        hidden = await views.list_persons(session, q="retired")
        shown = await views.list_persons(session, q="retired", include_removed=True)
        paged = await views.list_persons(session, limit=1, offset=1)
        with pytest.raises(Invalid):
            await views.list_persons(session, limit=0)
        with pytest.raises(Invalid):
            await views.list_persons(session, limit=1001)

    assert everyone["total"] == 2 and [p["display_name"] for p in everyone["persons"]] == [
        "Officer Olga",
        "Stoney",
    ]
    (person,) = found["persons"]
    assert by_account["total"] == 1 and hidden["total"] == 0 and shown["total"] == 1
    assert paged["total"] == 2 and [p["id"] for p in paged["persons"]] == [member_id]
    assert set(person) == {
        "id",
        "display_name",
        "discord_username",
        "discord_id",
        "rank",
        "rank_source",
        "registered",
        "characters",
        "discord_accounts",
        "open_issues",
    }
    assert person["rank"] == {"id": person["rank"]["id"], "name": "Veteran", "level": 3}
    assert person["registered"] is False
    (character,) = person["characters"]
    assert set(character) == {
        "id",
        "name",
        "realm_slug",
        "class",
        "spec",
        "role",
        "main_alt",
        "level",
        "item_level",
        "game_rank_name",
        "in_guild",
        "link",
    }
    assert character["name"] == "Aldrameth" and character["in_guild"] is True
    assert character["link"]["source"] == "manual" and character["link"]["confirmed"] is True
    (account,) = person["discord_accounts"]
    assert account["display_name"] == "Stonehoof (Aldrameth)" and account["is_present"] is True
    assert set(account) == {
        "id",
        "discord_id",
        "username",
        "display_name",
        "highest_guild_role",
        "is_present",
        "link",
    }
    assert len(shown["persons"][0]["characters"]) == 2
    assert len(shown["persons"][0]["discord_accounts"]) == 2
    assert person["open_issues"] == 0


async def test_persons_count_open_issues_about_their_rows(world: World, actor: Actor) -> None:
    member_id = await world.member("Stoney", discord_username="stoney")
    character_id = await world.character(
        "Sleepy", last_login_at=clock.now() - timedelta(days=60), game_rank=3
    )
    await link(world, actor, character_id=character_id, member_id=member_id)
    account_id = await world.account("stoneydc")
    await link(world, actor, discord_member_id=account_id, member_id=member_id)
    await world.check()  # stale character + no guild role

    async with world.session() as session:
        result = await views.list_persons(session, q="stoney")

    assert result["persons"][0]["open_issues"] == 2


async def test_wow_orphans_with_suggestions(world: World) -> None:
    account_id = await world.account("zoelie", nickname="Zoe")
    await world.character("Zoëlle", game_rank=3)
    await world.character("Leader", game_rank=0)
    await world.character("Unranked", game_rank=None)
    await world.match()

    async with world.session() as session:
        result = await views.list_wow_orphans(session)

    names = [c["name"] for c in result["characters"]]
    assert names == ["Leader", "Zoëlle", "Unranked"]
    zoelle = result["characters"][1]
    (suggestion,) = zoelle["suggestions"]
    assert suggestion["discord_member_id"] == account_id and suggestion["display_name"] == "Zoe"
    assert suggestion["score"] == pytest.approx(10 / 12, abs=1e-4)
    assert set(zoelle) == {
        "id",
        "name",
        "realm_slug",
        "class",
        "active_spec",
        "level",
        "item_level",
        "game_rank",
        "game_rank_name",
        "guild_note",
        "officer_note",
        "last_login_at",
        "suggestions",
    }


async def test_discord_orphans_highest_rank_first(world: World, actor: Actor) -> None:
    await world.account("bravo", role="Member")
    await world.account("alpha", role="Member")
    await world.account("zulu", role="Officer")
    await world.account("guest")
    with_character = await world.account("charlie", role="Veteran")
    member_id = await world.member("Charlie", discord_username="charlie")
    await link(world, actor, discord_member_id=with_character, member_id=member_id)
    character_id = await world.character("Charlie")
    await link(world, actor, character_id=character_id, member_id=member_id)

    async with world.session() as session:
        result = await views.list_discord_orphans(session)

    assert [a["username"] for a in result["accounts"]] == ["zulu", "alpha", "bravo"]
    assert set(result["accounts"][0]) == {
        "id",
        "discord_id",
        "username",
        "display_name",
        "highest_guild_role",
        "joined_server_at",
        "member_id",
    }


async def test_mismatches_critical_first(world: World, actor: Actor) -> None:
    for name, game_rank, role in (("Warn", 2, "Member"), ("Crit", 1, "Member"), ("None", 3, None)):
        member_id = await world.member(name, discord_username=name.lower())
        account_id = await world.account(name.lower() + "dc", role=role)
        await link(world, actor, discord_member_id=account_id, member_id=member_id)
        character_id = await world.character(name + "char", game_rank=game_rank)
        await link(world, actor, character_id=character_id, member_id=member_id)
    await world.check()

    async with world.session() as session:
        result = await views.list_mismatches(session)

    assert [(i["severity"], i["issue_type"]) for i in result["issues"]] == [
        ("critical", "role_mismatch"),
        ("warning", "role_mismatch"),
        ("warning", "no_guild_role"),
    ]


async def test_issue_and_link_filters(world: World, actor: Actor) -> None:
    await world.account("stonehoof", nickname="Stonehoof (Aldrameth)", role="Member")
    await world.character("Aldrameth")
    await world.character("Orphan")
    await world.match()
    await world.check()
    (orphan,) = await world.issues("orphan_wow")
    async with world.session() as session, session.begin():
        await resolve_issue(session, issue_id=orphan.id, officer_name="Olga")

    async with world.session() as session:
        open_issues = await views.list_issues(session)
        resolved = await views.list_issues(session, status="resolved")
        everything = await views.list_issues(session, status="all", issue_type="orphan_wow")
        review = await views.list_links(session, confirmed=False)
        manual = await views.list_links(session, source="manual")
        for bad in ({"status": "closed"}, {"issue_type": "nope"}, {"limit": 0}):
            with pytest.raises(Invalid):
                await views.list_issues(session, **bad)
        with pytest.raises(Invalid):
            await views.list_links(session, source="guessed")

    assert open_issues["total"] == 0  # everything got linked or resolved
    assert [i["id"] for i in resolved["issues"]] == [orphan.id]
    assert everything["total"] == 1 and everything["issues"][0]["resolved_by"] == "Olga"
    assert review["total"] == 2  # character and account via the nickname token
    assert {link["source"] for link in review["links"]} == {"exact_name_match"}
    assert all(set(link) == LINK_KEYS for link in review["links"])
    assert manual["total"] == 0
