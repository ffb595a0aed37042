"""Admin roster and ranks pages (50 §6.3, decisions 1, 2, 22): gates, CSRF, forms and flashes."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from tests.conftest import Factory, MemberHandle, count_rows

from sv_common import clock
from sv_common.db.models import Character, GuildMember, GuildRank
from sv_common.discord.fake import FakeDiscordService
from sv_common.discord.interface import DiscordMemberInfo
from sv_common.identity import characters

ROSTER = "/admin/roster"
RANKS = "/admin/ranks"
BRANIX = "100000000000000002"
SHY = "100000000000000005"


async def login(client: httpx.AsyncClient, handle: MemberHandle) -> str:
    """Use the member's token as the page cookie; returns the CSRF token of this browser."""
    client.cookies.set("patt_token", handle.token or "")
    page = await client.get(ROSTER)
    return client.cookies.get("patt_csrf") or _csrf_in(page.text)


def _csrf_in(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no csrf field on the page"
    return found.group(1)


async def post(
    client: httpx.AsyncClient, url: str, csrf: str | None, **fields: str
) -> httpx.Response:
    data = dict(fields)
    if csrf is not None:
        data["csrf_token"] = csrf
    return await client.post(url, data=data)


async def follow(client: httpx.AsyncClient, response: httpx.Response) -> str:
    """The page a POST → 302 lands on (with its flash message)."""
    assert response.status_code == 302, response.text
    return (await client.get(response.headers["location"])).text


def row_html(html: str, member_id: int) -> str:
    start = html.index(f'id="member-{member_id}"')
    return html[start : html.index("</tr>", start)]


@pytest.fixture
def fake(app: Any) -> FakeDiscordService:
    service = FakeDiscordService(
        members=[
            DiscordMemberInfo(id=BRANIX, username="branix"),
            DiscordMemberInfo(id=SHY, username="shy"),
        ],
        dms_closed={SHY},
    )
    app.state.discord = service
    return service


# -------------------------------------------------------------------------------- gates
async def test_admin_redirects_to_campaigns(client: httpx.AsyncClient, factory: Factory) -> None:
    anonymous = await client.get("/admin")
    assert anonymous.status_code == 302
    assert anonymous.headers["location"] == "/login?next=/admin"
    officer = await factory.officer()
    client.cookies.set("patt_token", officer.token or "")
    response = await client.get("/admin")
    assert response.status_code == 302 and response.headers["location"] == "/admin/campaigns"


@pytest.mark.parametrize("path", [ROSTER, RANKS, "/admin"])
async def test_pages_need_officer(client: httpx.AsyncClient, factory: Factory, path: str) -> None:
    anonymous = await client.get(path)
    assert anonymous.status_code == 302
    assert anonymous.headers["location"].startswith("/login?next=")
    veteran = await factory.member(level=3)
    client.cookies.set("patt_token", veteran.token or "")
    refused = await client.get(path)
    assert refused.status_code == 403
    assert "Access Denied" in refused.text


async def test_anonymous_post_goes_to_login_and_changes_nothing(
    client: httpx.AsyncClient, db: Any
) -> None:
    response = await post(client, f"{ROSTER}/add", "x", discord_username="sneaky")
    assert response.status_code == 302 and response.headers["location"].startswith("/login")
    assert await count_rows(db, "common.guild_members") == 0


# ------------------------------------------------------------------------------- roster
async def test_roster_lists_members(client: httpx.AsyncClient, factory: Factory, app: Any) -> None:
    officer = await factory.officer(username="olaf", display_name="Olaf")
    moon = await factory.member(
        username="moonbeard", display_name="Moon", registered=False, discord_id=BRANIX
    )
    async with app.state.sessionmaker() as session, session.begin():
        await characters.add_character(
            session,
            actor=None,
            member_id=moon.id,
            name="Moonbeard",
            realm="Sen'jin",
            wow_class="Druid",
            spec="Balance",
        )
    await login(client, officer)
    response = await client.get(ROSTER)
    assert response.status_code == 200
    html = response.text
    assert "Roster (2)" in html
    assert "Moon" in html and "@moonbeard" in html and BRANIX in html
    assert "Moonbeard-Sen&#39;jin" in html and "Balance" in html
    assert 'class="char-chip__main"' in html
    assert "Not invited" in html and "Registered" in html
    assert '<script src="/static/js/admin-forms.js" defer>' in html


async def test_rank_select_disables_ranks_the_officer_may_not_assign(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    officer = await factory.officer()
    other = await factory.officer(username="peer", display_name="Peer")
    grunt = await factory.member(username="grunt", registered=False)
    await login(client, officer)
    html = (await client.get(ROSTER)).text
    grunt_row = row_html(html, grunt.id)
    officer_rank = await factory.rank_id(4)
    leader_rank = await factory.rank_id(5)
    assert f'<option value="{officer_rank}" disabled>Officer (4)</option>' in grunt_row
    assert f'<option value="{leader_rank}" disabled>Guild Leader (5)</option>' in grunt_row
    assert "Veteran (3)</option>" in grunt_row and "data-autosubmit" in grunt_row
    # another officer's row and the officer's own rank are read-only
    assert "<select" not in row_html(html, other.id)
    assert "<select" not in row_html(html, officer.id)
    assert 'data-edit-discord="' + str(other.id) + '"' not in html
    assert 'data-edit-discord="' + str(officer.id) + '"' in html  # own non-rank fields


async def test_add_member_with_csrf(client: httpx.AsyncClient, factory: Factory, db: Any) -> None:
    officer = await factory.officer()
    csrf = await login(client, officer)
    response = await post(
        client,
        f"{ROSTER}/add",
        csrf,
        discord_username=" newbie ",
        discord_id="123456789012345678",
        display_name="",
        rank_id=str(await factory.rank_id(3)),
    )
    html = await follow(client, response)
    assert "Member added." in html
    row = (
        await db.execute(select(GuildMember).where(GuildMember.discord_username == "newbie"))
    ).scalar_one()
    assert row.display_name == "newbie" and row.discord_id == "123456789012345678"
    assert row.rank_id == await factory.rank_id(3)
    again = await client.get(ROSTER)
    assert "Member added." not in again.text  # shown once


@pytest.mark.parametrize("csrf", [None, "wrong-token"])
async def test_add_member_without_valid_csrf_is_403(
    client: httpx.AsyncClient, factory: Factory, db: Any, csrf: str | None
) -> None:
    officer = await factory.officer()
    await login(client, officer)
    response = await post(client, f"{ROSTER}/add", csrf, discord_username="newbie")
    assert response.status_code == 403
    assert "Your form expired" in response.text
    assert await count_rows(db, "common.guild_members", "discord_username = 'newbie'") == 0


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"discord_username": ""}, "Discord username is required."),
        (
            {"discord_username": "newbie", "discord_id": "1234"},
            "Discord ID: must be a Discord ID of 17–20 digits.",
        ),
        ({"discord_username": "newbie", "rank_id": "abc"}, "Rank: enter a whole number."),
        ({"discord_username": "newbie", "rank_id": "999"}, "Unknown rank_id 999."),
        ({"discord_username": "newbie", "rank_id": "LEVEL4"}, "You can only assign ranks"),
        ({"discord_username": "TAKEN"}, "A member with that Discord username already exists."),
        (
            {"discord_username": "x" * 101},
            "Discord username: String should have at most 100 characters.",
        ),
    ],
)
async def test_add_member_errors_rerender_with_values(
    client: httpx.AsyncClient,
    factory: Factory,
    db: Any,
    fields: dict[str, str],
    message: str,
) -> None:
    officer = await factory.officer()
    await factory.member(username="taken", registered=False)
    csrf = await login(client, officer)
    if fields.get("rank_id") == "LEVEL4":
        fields = {**fields, "rank_id": str(await factory.rank_id(4))}
    before = await count_rows(db, "common.guild_members")
    response = await post(client, f"{ROSTER}/add", csrf, **fields)
    assert response.status_code == 400
    assert message.replace("'", "&#39;") in response.text
    assert 'class="flash flash--error"' in response.text
    if fields.get("discord_username") and len(fields["discord_username"]) < 100:
        assert f'value="{fields["discord_username"]}"' in response.text
    assert await count_rows(db, "common.guild_members") == before


async def test_update_member_rank_and_discord_id(
    client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    officer = await factory.officer()
    grunt = await factory.member(username="grunt", registered=False, discord_id=BRANIX)
    csrf = await login(client, officer)
    promoted = await post(
        client, f"{ROSTER}/{grunt.id}/update", csrf, rank_id=str(await factory.rank_id(3))
    )
    assert "Member updated." in await follow(client, promoted)
    cleared = await post(client, f"{ROSTER}/{grunt.id}/update", csrf, discord_id="")
    assert "Member updated." in await follow(client, cleared)
    db.expire_all()
    row = (await db.execute(select(GuildMember).where(GuildMember.id == grunt.id))).scalar_one()
    assert row.rank_id == await factory.rank_id(3) and row.discord_id is None
    assert row.display_name == "Grunt"  # absent fields unchanged
    renamed = await post(
        client, f"{ROSTER}/{grunt.id}/update", csrf, display_name="Grunty", discord_username=""
    )
    assert "Member updated." in await follow(client, renamed)
    db.expire_all()
    row = (await db.execute(select(GuildMember).where(GuildMember.id == grunt.id))).scalar_one()
    assert (row.display_name, row.discord_username) == ("Grunty", None)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"discord_id": "12345"}, "Discord ID: must be a Discord ID of 17–20 digits."),
        ({"display_name": "  "}, "Display name cannot be empty."),
        ({"rank_id": ""}, "Choose a rank."),
        ({"rank_id": "LEVEL4"}, "You can only assign ranks below your own."),
        ({"discord_username": "TAKEN"}, "A member with that Discord username already exists."),
        ({}, "Nothing to update."),
    ],
)
async def test_update_member_errors_are_flashed(
    client: httpx.AsyncClient,
    factory: Factory,
    db: Any,
    fields: dict[str, str],
    message: str,
) -> None:
    officer = await factory.officer()
    await factory.member(username="taken", registered=False)
    grunt = await factory.member(username="grunt", registered=False, discord_id=BRANIX)
    csrf = await login(client, officer)
    if fields.get("rank_id") == "LEVEL4":
        fields = {"rank_id": str(await factory.rank_id(4))}
    response = await post(client, f"{ROSTER}/{grunt.id}/update", csrf, **fields)
    html = await follow(client, response)
    assert message in html and 'class="flash flash--error"' in html
    row = (await db.execute(select(GuildMember).where(GuildMember.id == grunt.id))).scalar_one()
    assert (row.discord_id, row.display_name, row.discord_username) == (BRANIX, "Grunt", "grunt")
    assert row.rank_id == await factory.rank_id(2)


async def test_update_guard_on_other_officer_and_missing_csrf(
    client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    officer = await factory.officer()
    peer = await factory.officer(username="peer", display_name="Peer")
    csrf = await login(client, officer)
    refused = await post(client, f"{ROSTER}/{peer.id}/update", csrf, display_name="Hacked")
    assert "at or above your own" in await follow(client, refused)
    no_csrf = await post(client, f"{ROSTER}/{peer.id}/update", None, display_name="Hacked")
    assert no_csrf.status_code == 403
    unknown = await post(client, f"{ROSTER}/9999/update", csrf, display_name="X")
    assert "Member not found." in await follow(client, unknown)
    for bad in ("abc", "0", "99999999999"):
        bad_id = await post(client, f"{ROSTER}/{bad}/update", csrf, display_name="X")
        assert bad_id.status_code == 404
    row = (await db.execute(select(GuildMember).where(GuildMember.id == peer.id))).scalar_one()
    assert row.display_name == "Peer"


# ------------------------------------------------------------------------------ invites
async def test_send_invite_button_only_when_the_api_would_accept(
    client: httpx.AsyncClient, factory: Factory, fake: FakeDiscordService
) -> None:
    officer = await factory.officer()
    ready = await factory.member(username="branix", registered=False, discord_id=BRANIX)
    registered = await factory.member(username="done", registered=True, discord_id=SHY)
    no_id = await factory.member(username="noid", registered=False)
    peer = await factory.member(
        level=4, username="peer", registered=False, discord_id="100000000000000010"
    )
    await login(client, officer)
    html = (await client.get(ROSTER)).text

    def has_button(member_id: int) -> bool:
        return f'action="/admin/roster/{member_id}/invite"' in html

    assert has_button(ready.id)
    assert "Send a new invite code to branix via Discord DM?" in html
    assert not has_button(registered.id) and not has_button(no_id.id)
    assert not has_button(peer.id) and not has_button(officer.id)
    assert "Need Discord ID" in row_html(html, no_id.id)


async def test_send_invite_flashes_the_code(
    client: httpx.AsyncClient, factory: Factory, fake: FakeDiscordService, db: Any
) -> None:
    officer = await factory.officer()
    ready = await factory.member(username="branix", registered=False, discord_id=BRANIX)
    csrf = await login(client, officer)
    response = await post(client, f"{ROSTER}/{ready.id}/invite", csrf)
    html = await follow(client, response)
    assert await count_rows(db, "common.invite_codes", f"member_id = {ready.id}") == 1
    found = re.search(r"Invite code ([A-Z0-9]{8}) created and sent via Discord\.", html)
    assert found, html
    assert fake.sent_dms and found.group(1) in fake.sent_dms[0][1]
    assert "Invite sent" in row_html(html, ready.id)
    again = await post(client, f"{ROSTER}/{ready.id}/invite", csrf)
    assert "An invite was just sent; wait a minute." in await follow(client, again)
    assert await count_rows(db, "common.invite_codes", f"member_id = {ready.id}") == 1


async def test_send_invite_dm_closed_still_shows_code(
    client: httpx.AsyncClient, factory: Factory, fake: FakeDiscordService
) -> None:
    officer = await factory.officer()
    shy = await factory.member(username="shy", registered=False, discord_id=SHY)
    csrf = await login(client, officer)
    html = await follow(client, await post(client, f"{ROSTER}/{shy.id}/invite", csrf))
    assert re.search(
        r"Invite code [A-Z0-9]{8} created\. The user blocks DMs from server members", html
    )
    assert 'class="flash flash--warning"' in html


async def test_send_invite_errors_are_flashed(
    client: httpx.AsyncClient, factory: Factory, fake: FakeDiscordService, db: Any
) -> None:
    officer = await factory.officer()
    registered = await factory.member(username="done", registered=True, discord_id=BRANIX)
    no_id = await factory.member(username="noid", registered=False)
    csrf = await login(client, officer)
    html = await follow(client, await post(client, f"{ROSTER}/{registered.id}/invite", csrf))
    assert "Member is already registered." in html
    html = await follow(client, await post(client, f"{ROSTER}/{no_id.id}/invite", csrf))
    assert "No Discord account is known for this member." in html
    refused = await post(client, f"{ROSTER}/{no_id.id}/invite", None)
    assert refused.status_code == 403
    assert await count_rows(db, "common.invite_codes") == 0


async def test_expired_invite_status(
    client: httpx.AsyncClient, factory: Factory, fake: FakeDiscordService
) -> None:
    officer = await factory.officer()
    ready = await factory.member(username="branix", registered=False, discord_id=BRANIX)
    csrf = await login(client, officer)
    await post(client, f"{ROSTER}/{ready.id}/invite", csrf)
    clock.advance(timedelta(hours=73))
    officer = await factory.officer()  # a token valid at the moved clock
    await login(client, officer)
    html = (await client.get(ROSTER)).text
    assert "Expired invite" in row_html(html, ready.id)


# --------------------------------------------------------------------------- characters
async def test_character_add_edit_delete(
    client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    officer = await factory.officer()
    grunt = await factory.member(username="grunt", registered=False)
    csrf = await login(client, officer)
    added = await post(
        client,
        f"{ROSTER}/{grunt.id}/characters",
        csrf,
        name="Zatañña",
        realm="Sen'jin",
        wow_class="Priest",
        spec="",
        role="healer",
        main_alt="main",
    )
    assert "Character Zatañña added." in await follow(client, added)
    character = (await db.execute(select(Character))).scalar_one()
    assert character.member_id == grunt.id and character.role == "healer"
    assert character.armory_url.endswith("/us/senjin/zata%C3%B1%C3%B1a")
    edited = await post(
        client,
        f"{ROSTER}/characters/{character.id}/update",
        csrf,
        name="Zatanna",
        realm="Sen'jin",
        wow_class="Priest",
        spec="Shadow",
        role="",
        main_alt="alt",
    )
    assert "Character Zatanna updated." in await follow(client, edited)
    db.expire_all()
    character = (await db.execute(select(Character))).scalar_one()
    assert (character.name, character.spec, character.role, character.main_alt) == (
        "Zatanna",
        "Shadow",
        "ranged_dps",
        "alt",
    )
    deleted = await post(client, f"{ROSTER}/characters/{character.id}/delete", csrf)
    assert "Character Zatanna deleted." in await follow(client, deleted)
    assert await count_rows(db, "common.characters") == 0


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"name": "", "realm": "Sen'jin", "wow_class": "Mage"},
            "Name is required.",
        ),
        ({"name": "Abc", "realm": "Sen'jin", "wow_class": "Bard"}, "Unknown class 'Bard'."),
        (
            {"name": "Abc", "realm": "Sen'jin", "wow_class": "Mage", "role": "dps"},
            "Invalid role 'dps'.",
        ),
        (
            {"name": "Abc", "realm": "Sen'jin", "wow_class": "Mage", "spec": "Holy"},
            "Spec 'Holy' does not belong to Mage.",
        ),
        (
            {"name": "Taken", "realm": "Sen'jin", "wow_class": "Mage"},
            "Character 'Taken' on 'Sen'jin' already exists.",
        ),
    ],
)
async def test_character_add_errors_are_flashed(
    client: httpx.AsyncClient,
    factory: Factory,
    app: Any,
    db: Any,
    fields: dict[str, str],
    message: str,
) -> None:
    officer = await factory.officer()
    owner = await factory.member(registered=False)
    grunt = await factory.member(registered=False)
    async with app.state.sessionmaker() as session, session.begin():
        await characters.add_character(
            session, actor=None, member_id=owner.id, name="Taken", realm="Sen'jin", wow_class="Mage"
        )
    csrf = await login(client, officer)
    html = await follow(
        client, await post(client, f"{ROSTER}/{grunt.id}/characters", csrf, **fields)
    )
    assert message in html.replace("&#39;", "'") and 'class="flash flash--error"' in html
    assert await count_rows(db, "common.characters") == 1
    no_csrf = await post(client, f"{ROSTER}/{grunt.id}/characters", None, **fields)
    assert no_csrf.status_code == 403


async def test_character_of_higher_rank_cannot_be_deleted(
    client: httpx.AsyncClient, factory: Factory, app: Any, db: Any
) -> None:
    officer = await factory.officer()
    leader = await factory.leader()
    async with app.state.sessionmaker() as session, session.begin():
        character = await characters.add_character(
            session,
            actor=None,
            member_id=leader.id,
            name="Bossman",
            realm="Sen'jin",
            wow_class="Mage",
        )
    csrf = await login(client, officer)
    html = (await client.get(ROSTER)).text
    assert f"/admin/roster/characters/{character.id}/delete" not in html
    refused = await post(client, f"{ROSTER}/characters/{character.id}/delete", csrf)
    assert "at or above your own" in await follow(client, refused)
    assert await count_rows(db, "common.characters") == 1


# -------------------------------------------------------------------------------- ranks
async def test_ranks_page_read_only_for_officers(
    client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    officer = await factory.officer()
    csrf = await login(client, officer)
    html = (await client.get(RANKS)).text
    assert "Ranks (5)" in html and "Guild leadership team" in html
    assert "Only the Guild Leader can change ranks." in html
    assert 'action="/admin/ranks/add"' not in html and "/update" not in html
    refused = await post(client, f"{RANKS}/add", csrf, name="Raider", level="9")
    assert "Requires rank level 5 or higher." in await follow(client, refused)
    rank_id = await factory.rank_id(1)
    refused = await post(client, f"{RANKS}/{rank_id}/delete", csrf)
    assert "Requires rank level 5 or higher." in await follow(client, refused)
    assert await count_rows(db, "common.guild_ranks") == 5


async def test_leader_manages_ranks(client: httpx.AsyncClient, factory: Factory, db: Any) -> None:
    leader = await factory.leader()
    csrf = await login(client, leader)
    html = (await client.get(RANKS)).text
    assert 'action="/admin/ranks/add"' in html
    gl_rank = await factory.rank_id(5)
    moved = await post(
        client,
        f"{RANKS}/{gl_rank}/update",
        csrf,
        name="Guild Master",
        level="10",
        description="Boss",
        discord_role_id="200000000000000001",
    )
    assert "Rank Guild Master updated." in await follow(client, moved)
    created = await post(
        client, f"{RANKS}/add", csrf, name="Raider", level="6", description="", discord_role_id=""
    )
    assert "Rank Raider created." in await follow(client, created)
    raider = (await db.execute(select(GuildRank).where(GuildRank.name == "Raider"))).scalar_one()
    assert raider.level == 6 and raider.description is None and raider.discord_role_id is None
    deleted = await post(client, f"{RANKS}/{raider.id}/delete", csrf)
    assert "Rank Raider deleted." in await follow(client, deleted)
    db.expire_all()
    top = (await db.execute(select(GuildRank).where(GuildRank.id == gl_rank))).scalar_one()
    assert (top.name, top.level, top.discord_role_id) == (
        "Guild Master",
        10,
        "200000000000000001",
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "", "level": "9"}, "Name: String should have at least 1 character."),
        ({"name": "Raider", "level": ""}, "Level is required."),
        ({"name": "Raider", "level": "nine"}, "Level: enter a whole number."),
        (
            {"name": "Raider", "level": "0"},
            "Level: Input should be greater than or equal to 1.",
        ),
        ({"name": "Member", "level": "9"}, "A rank with that name or level already exists."),
        (
            {"name": "Raider", "level": "9", "discord_role_id": "12"},
            "Discord role ID: must be a Discord ID of 17–20 digits.",
        ),
        ({"name": "Emperor", "level": "99"}, "below the top rank"),
    ],
)
async def test_rank_form_errors_are_flashed(
    client: httpx.AsyncClient, factory: Factory, db: Any, fields: dict[str, str], message: str
) -> None:
    leader = await factory.leader()
    csrf = await login(client, leader)
    html = await follow(client, await post(client, f"{RANKS}/add", csrf, **fields))
    assert message in html and 'class="flash flash--error"' in html
    assert await count_rows(db, "common.guild_ranks") == 5
    in_use = await post(client, f"{RANKS}/{await factory.rank_id(5)}/delete", csrf)
    assert "Rank is in use by members or campaigns." in await follow(client, in_use)
    no_csrf = await post(client, f"{RANKS}/add", None, name="Raider", level="9")
    assert no_csrf.status_code == 403
    assert await count_rows(db, "common.guild_ranks") == 5
