"""Identity pages (decision 2; 85 §11): people, orphans, confirmation queue and issues — gates,
what each shows, and every action (link, confirm, unlink, move, resolve, ignore, re-open)
writing through the services, refusing a missing CSRF token and flashing domain errors."""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from tests.conftest import Factory, MemberHandle
from tests.identity_invariants import check_identity_invariants  # noqa: F401 (autouse)
from tests.identity_support import World

from sv_common.db.models import AuditIssue, Character, IdentityLink, LinkRejection

PEOPLE = "/admin/identity"
ORPHANS = "/admin/identity/orphans"
QUEUE = "/admin/identity/queue"
ISSUES = "/admin/identity/issues"
CSRF = "identity-pages-csrf-token"
SCRIPT_NAME = "<script>alert(1)</script>"


@dataclass
class Guild:
    """A small guild after one matching run and one integrity check."""

    world: World
    officer: MemberHandle
    stonehoof: int  # member: account + two characters
    branix: int  # member without characters or accounts
    stone_account: int
    stone_character: int  # linked by exact name: confirmed
    aldrameth: int  # linked by a nickname token: unconfirmed
    zoelle: int  # unlinked, suggestion → zoelie
    zoelie: int  # unlinked account with a guild role
    scripted: int  # unlinked character named like markup
    loner: int  # unlinked account with a guild role, no suggestion

    async def link(self, **target: int) -> IdentityLink:
        found = await self.world.link_of(**target)
        assert found is not None, f"no link for {target}"
        return found

    async def issue(self, issue_type: str, **where: int) -> AuditIssue:
        for issue in await self.world.issues(issue_type):
            if all(getattr(issue, key) == value for key, value in where.items()):
                return issue
        raise AssertionError(f"no open {issue_type} issue for {where}")


@pytest.fixture
async def guild(app: Any, factory: Factory, client: httpx.AsyncClient) -> Guild:
    world = World(app)
    officer = await factory.officer(username="olga", display_name="Olga")
    stonehoof = await factory.member(
        username="stonehoof", display_name="Stonehoof", registered=False
    )
    branix = await factory.member(username="branix", display_name="Branix", registered=False)
    stone_account = await world.account(
        "stonehoof", nickname="Stonehoof (Aldrameth)", role="Member"
    )
    stone_character = await world.character("Stonehoof", main_alt="main")
    aldrameth = await world.character("Aldrameth")
    zoelle = await world.character("Zoëlle")
    zoelie = await world.account("zoelie", role="Member")
    scripted = await world.character(SCRIPT_NAME)
    loner = await world.account("loner", role="Veteran")
    await world.match()
    await world.check()
    client.cookies.set("patt_token", officer.token or "")
    client.cookies.set("patt_csrf", CSRF)
    return Guild(
        world=world,
        officer=officer,
        stonehoof=stonehoof.id,
        branix=branix.id,
        stone_account=stone_account,
        stone_character=stone_character,
        aldrameth=aldrameth,
        zoelle=zoelle,
        zoelie=zoelie,
        scripted=scripted,
        loner=loner,
    )


async def post(
    client: httpx.AsyncClient, url: str, *, csrf: str | None = CSRF, **fields: Any
) -> httpx.Response:
    data = {key: str(value) for key, value in fields.items()}
    if csrf is not None:
        data["csrf_token"] = csrf
    return await client.post(url, data=data)


async def landing(app: Any, client: httpx.AsyncClient, response: httpx.Response) -> tuple[str, str]:
    """(where the POST redirected, the flash shown there) once background matching is done."""
    assert response.status_code == 302, response.text
    await app.state.guild_sync.wait_idle()
    location = response.headers["location"]
    page = await client.get(location)
    assert page.status_code == 200, page.text
    assert SCRIPT_NAME not in page.text  # names in flashes are escaped too
    found = re.search(
        r'<div class="flash flash--(\w+)">.*?<span class="flash__text">(.*?)</span>',
        page.text,
        re.S,
    )
    assert found, "no flash message on the page"
    return location, f"{found.group(1)}: {html_lib.unescape(found.group(2)).strip()}"


def item(html: str, element_id: str) -> str:
    """From the element with this id to the next element of the same kind ("person-3" → up to
    the next "person-<n>")."""
    start = html.index(f'id="{element_id}"')
    kind = element_id.rsplit("-", 1)[0]
    following = re.compile(f'id="{re.escape(kind)}-[0-9]+"').search(html, start + 1)
    return html[start : following.start() if following else len(html)]


def text_of(html: str) -> str:
    """What a reader sees: tags dropped, entities decoded, whitespace collapsed."""
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", html)).split())


# -------------------------------------------------------------------------------- gates
@pytest.mark.parametrize("path", [PEOPLE, ORPHANS, QUEUE, ISSUES])
async def test_pages_need_an_officer(
    client: httpx.AsyncClient, factory: Factory, path: str
) -> None:
    anonymous = await client.get(path)
    assert anonymous.status_code == 302
    assert anonymous.headers["location"] == f"/login?next={path}"
    member = await factory.member(level=2)
    client.cookies.set("patt_token", member.token or "")
    refused = await client.get(path)
    assert refused.status_code == 403 and "Access Denied" in refused.text
    officer = await factory.officer()
    client.cookies.set("patt_token", officer.token or "")
    allowed = await client.get(path)
    assert allowed.status_code == 200
    assert 'href="/admin/identity"' in allowed.text  # the admin navigation links here


ACTIONS = [
    "/admin/identity/link",
    "/admin/identity/links/{link}/confirm",
    "/admin/identity/links/{link}/unlink",
    "/admin/identity/links/{link}/relink",
    "/admin/identity/issues/{issue}/resolve",
    "/admin/identity/issues/{issue}/reopen",
]


@pytest.mark.parametrize("action", ACTIONS)
async def test_actions_refuse_a_missing_csrf_token_and_lower_ranks(
    app: Any, client: httpx.AsyncClient, factory: Factory, guild: Guild, action: str
) -> None:
    link = await guild.link(character_id=guild.aldrameth)
    issue = await guild.issue("orphan_wow", character_id=guild.zoelle)
    url = action.format(link=link.id, issue=issue.id)
    fields = {
        "character_id": guild.zoelle,
        "discord_member_id": guild.zoelie,
        "member": f"Branix #{guild.branix}",
    }
    veteran = await factory.member(level=3)
    before = await guild.world.state()
    assert (await post(client, url, csrf=None, **fields)).status_code == 403
    assert (await post(client, url, csrf="forged", **fields)).status_code == 403
    client.cookies.set("patt_token", veteran.token or "")
    assert (await post(client, url, **fields)).status_code == 403
    client.cookies.delete("patt_token")
    anonymous = await post(client, url, **fields)
    assert anonymous.status_code == 302 and anonymous.headers["location"].startswith("/login")
    await app.state.guild_sync.wait_idle()
    assert await guild.world.state() == before


# --------------------------------------------------------------------------- the pages
async def test_people_shows_characters_accounts_and_why_they_are_linked(
    client: httpx.AsyncClient, guild: Guild
) -> None:
    html = (await client.get(PEOPLE)).text
    assert "3 members" in html
    # ordered by name: Branix, Olga, Stonehoof
    assert html.index('id="person-' + str(guild.branix)) < html.index(
        'id="person-' + str(guild.stonehoof)
    )
    person = item(html, f"person-{guild.stonehoof}")
    assert "Member" in person and "@stonehoof" in person
    stone = item(person, f"character-{guild.stone_character}")
    assert "Stonehoof-senjin" in stone and "main" in stone and "Druid" in stone
    assert "in guild" in stone
    assert "exact name match" in stone and "confirmed" in stone
    assert "Confirm</button>" not in stone and "Unlink</button>" in stone
    aldra = item(person, f"character-{guild.aldrameth}")
    assert "medium" in aldra and "unconfirmed" in aldra and "Confirm</button>" in aldra
    account = item(person, f"account-{guild.stone_account}")
    assert "Stonehoof (Aldrameth)" in account and "on the server" in account
    assert "Unlink</button>" in account
    # Branix has nothing yet
    assert "No characters." in item(html, f"person-{guild.branix}")


async def test_people_shows_level_item_level_and_left_characters(
    app: Any, client: httpx.AsyncClient, guild: Guild
) -> None:
    async with app.state.sessionmaker() as session, session.begin():
        character = await session.get(Character, guild.aldrameth)
        assert character is not None
        character.level, character.item_level = 80, 624
        character.removed_at = character.first_seen
    html = (await client.get(PEOPLE)).text
    assert f'id="character-{guild.aldrameth}"' not in html  # left: hidden by default
    html = (await client.get(PEOPLE, params={"removed": "1"})).text
    aldra = item(html, f"character-{guild.aldrameth}")
    assert ">80<" in aldra and ">624<" in aldra and "left the guild" in aldra


async def test_people_search_and_paging(
    app: Any, client: httpx.AsyncClient, factory: Factory, guild: Guild
) -> None:
    html = (await client.get(PEOPLE, params={"q": "aldra"})).text
    assert "1 member matching “aldra”" in html
    assert f'id="person-{guild.stonehoof}"' in html and f'id="person-{guild.branix}"' not in html
    nobody = (await client.get(PEOPLE, params={"q": "nobody-here"})).text
    assert "No member matches the search." in nobody
    for n in range(30):
        await guild.world.member(f"Zz Recruit {n:02d}")
    first = (await client.get(PEOPLE)).text
    assert "Page 1 of 2" in first and 'href="/admin/identity?page=2"' in first
    assert first.count('class="card person-card"') == 25
    second = (await client.get(PEOPLE, params={"page": "2"})).text
    assert second.count('class="card person-card"') == 8
    assert "Zz Recruit 29" in second
    # nonsense page numbers and oversized searches show a page, never an error
    assert (await client.get(PEOPLE, params={"page": "-3"})).status_code == 200
    assert (await client.get(PEOPLE, params={"page": "x"})).status_code == 200
    assert (await client.get(PEOPLE, params={"q": "a" * 500})).status_code == 200


async def test_orphans_show_suggestions_and_escape_names(
    client: httpx.AsyncClient, guild: Guild
) -> None:
    html = (await client.get(ORPHANS)).text
    zoelle = item(html, f"orphan-character-{guild.zoelle}")
    assert "Zoëlle-senjin" in zoelle
    assert "zoelie" in zoelle and "83% alike" in zoelle
    assert f'name="discord_member_id" value="{guild.zoelie}"' in zoelle
    assert ">Link</button>" in zoelle and "Not them" in zoelle
    # the character named like markup is text, never markup
    assert SCRIPT_NAME not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    loner = item(html, f"orphan-account-{guild.loner}")
    assert "@loner" in loner and "Veteran" in loner and "no member" in loner
    # linked characters are not orphans; the member list offers "Name #id"
    assert f'id="orphan-character-{guild.aldrameth}"' not in html
    assert f'<option value="Branix #{guild.branix}">' in html


async def test_queue_lists_unconfirmed_links_only(client: httpx.AsyncClient, guild: Guild) -> None:
    link = await guild.link(character_id=guild.aldrameth)
    confirmed = await guild.link(character_id=guild.stone_character)
    html = (await client.get(QUEUE)).text
    assert "Confirmation queue (1)" in html
    entry = item(html, f"queue-link-{link.id}")
    assert "Aldrameth" in entry and "Stonehoof" in entry and "unconfirmed" in entry
    assert f'id="queue-link-{confirmed.id}"' not in html


async def test_issues_filter_and_show_resolved(
    app: Any, client: httpx.AsyncClient, guild: Guild
) -> None:
    html = (await client.get(ISSUES)).text
    orphan = await guild.issue("orphan_wow", character_id=guild.zoelle)
    assert f'id="issue-{orphan.id}"' in html
    assert "Character &#39;Zoëlle&#39;" in html
    assert SCRIPT_NAME not in html and "&lt;script&gt;" in html
    suggestions = (await client.get(ISSUES, params={"type": "auto_link_suggestion"})).text
    assert "Possible match: Zoëlle" in suggestions
    assert f'id="issue-{orphan.id}"' not in suggestions
    # resolved issues only with the toggle
    async with app.state.sessionmaker() as session, session.begin():
        row = await session.get(AuditIssue, orphan.id)
        assert row is not None
        row.resolved_at, row.resolved_by, row.resolution_note = row.first_detected, "Olga", "done"
    assert f'id="issue-{orphan.id}"' not in (await client.get(ISSUES)).text
    shown = (await client.get(ISSUES, params={"resolved": "1"})).text
    assert "by Olga: done" in text_of(item(shown, f"issue-{orphan.id}"))
    # an unknown type is ignored rather than an error
    assert (await client.get(ISSUES, params={"type": "bogus"})).status_code == 200


async def test_critical_issues_come_first(
    app: Any, client: httpx.AsyncClient, guild: Guild
) -> None:
    orphan = await guild.issue("orphan_wow", character_id=guild.zoelle)
    oldest = orphan.first_detected - timedelta(days=3)
    async with app.state.sessionmaker() as session, session.begin():
        session.add(
            AuditIssue(
                issue_type="role_mismatch",
                severity="critical",
                member_id=guild.stonehoof,
                summary="'Stonehoof' is Officer in game but Member on Discord",
                issue_hash="c" * 64,
                first_detected=oldest,
            )
        )
    html = (await client.get(ISSUES)).text
    severities = re.findall(r'data-severity="(\w+)"', html)
    # the critical one is the oldest, yet it comes first
    assert severities[0] == "critical" and severities.count("warning") >= 2


# ----------------------------------------------------------------------------- actions
async def test_confirm_a_link(app: Any, client: httpx.AsyncClient, guild: Guild) -> None:
    link = await guild.link(character_id=guild.aldrameth)
    response = await post(client, f"/admin/identity/links/{link.id}/confirm", back=QUEUE)
    assert await landing(app, client, response) == (
        QUEUE,
        "success: Confirmed: Aldrameth belongs to Stonehoof.",
    )
    after = await guild.link(character_id=guild.aldrameth)
    assert after.confirmed and after.confirmed_by == "Olga"
    assert "Nothing to confirm" in (await client.get(QUEUE)).text


async def test_unlink_from_the_people_page_returns_to_the_search(
    app: Any, client: httpx.AsyncClient, guild: Guild
) -> None:
    link = await guild.link(character_id=guild.aldrameth)
    back = "/admin/identity?q=stone&page=1"
    response = await post(client, f"/admin/identity/links/{link.id}/unlink", back=back)
    assert await landing(app, client, response) == (
        back,
        "success: Unlinked Aldrameth from Stonehoof.",
    )
    assert (await guild.world.character_row(guild.aldrameth)).member_id is None
    assert await guild.world.link_of(character_id=guild.aldrameth) is None
    # remembered as rejected, and the next matching run (requested by the page) kept it apart
    async with app.state.sessionmaker() as session:
        rejected = (
            await session.scalars(
                select(LinkRejection).where(LinkRejection.character_id == guild.aldrameth)
            )
        ).all()
    assert {r.member_id for r in rejected} >= {guild.stonehoof}
    assert app.state.guild_sync.pipeline.runs_done >= 1


async def test_reject_an_account_link_clears_the_members_discord_id(
    app: Any, client: httpx.AsyncClient, guild: Guild
) -> None:
    link = await guild.link(account_id=guild.stone_account)
    response = await post(client, f"/admin/identity/links/{link.id}/unlink", back=QUEUE)
    location, flash = await landing(app, client, response)
    assert (location, flash) == (
        QUEUE,
        "success: Unlinked Discord account Stonehoof (Aldrameth) from Stonehoof.",
    )
    assert (await guild.world.account_row(guild.stone_account)).member_id is None
    assert (await guild.world.member_row(guild.stonehoof)).discord_id is None


async def test_link_an_orphan_to_a_suggested_account(
    app: Any, client: httpx.AsyncClient, guild: Guild
) -> None:
    suggestion = await guild.issue("auto_link_suggestion", character_id=guild.zoelle)
    response = await post(
        client,
        "/admin/identity/link",
        character_id=guild.zoelle,
        discord_member_id=guild.zoelie,
        back=ORPHANS,
    )
    location, flash = await landing(app, client, response)
    assert location == ORPHANS
    assert flash == (
        "success: Linked Zoëlle and Discord account zoelie to zoelie (new member created)."
    )
    character = await guild.world.character_row(guild.zoelle)
    account = await guild.world.account_row(guild.zoelie)
    assert character.member_id is not None and character.member_id == account.member_id
    link = await guild.link(character_id=guild.zoelle)
    assert (link.source, link.confirmed, link.confirmed_by) == ("manual", True, "Olga")
    assert suggestion.id not in {i.id for i in await guild.world.issues("auto_link_suggestion")}
    assert f'id="orphan-character-{guild.zoelle}"' not in (await client.get(ORPHANS)).text


@pytest.mark.parametrize(
    "typed", ["Branix #{id}", "{id}", "branix", "  BRANIX  "], ids=["label", "id", "name", "case"]
)
async def test_link_an_orphan_to_a_typed_member(
    app: Any, client: httpx.AsyncClient, guild: Guild, typed: str
) -> None:
    response = await post(
        client,
        "/admin/identity/link",
        character_id=guild.scripted,
        member=typed.format(id=guild.branix),
        back=ORPHANS,
    )
    assert await landing(app, client, response) == (
        ORPHANS,
        f"success: Linked {SCRIPT_NAME} to Branix.",
    )
    assert (await guild.world.character_row(guild.scripted)).member_id == guild.branix


async def test_move_a_queued_link_to_another_member(
    app: Any, client: httpx.AsyncClient, guild: Guild
) -> None:
    link = await guild.link(character_id=guild.aldrameth)
    response = await post(
        client,
        f"/admin/identity/links/{link.id}/relink",
        member=f"Branix #{guild.branix}",
        back=QUEUE,
    )
    assert await landing(app, client, response) == (QUEUE, "success: Moved Aldrameth to Branix.")
    moved = await guild.link(character_id=guild.aldrameth)
    assert (moved.member_id, moved.source, moved.confirmed) == (guild.branix, "manual", True)
    assert (await guild.world.character_row(guild.aldrameth)).member_id == guild.branix


async def test_move_an_orphan_account_that_has_a_member(
    app: Any, client: httpx.AsyncClient, guild: Guild
) -> None:
    # moving Stonehoof's account to Branix needs `move`; without it the page says how
    first = await post(
        client,
        "/admin/identity/link",
        discord_member_id=guild.stone_account,
        member="Branix",
        back=PEOPLE,
    )
    _, flash = await landing(app, client, first)
    assert flash == "error: It is already linked to another member. Tick “move” to move it."
    assert (await guild.world.account_row(guild.stone_account)).member_id == guild.stonehoof
    second = await post(
        client,
        "/admin/identity/link",
        discord_member_id=guild.stone_account,
        member="Branix",
        move="1",
        back=PEOPLE,
    )
    _, flash = await landing(app, client, second)
    assert flash == "success: Linked Discord account Stonehoof (Aldrameth) to Branix."
    assert (await guild.world.account_row(guild.stone_account)).member_id == guild.branix


async def test_resolve_ignore_and_reopen_issues(
    app: Any, client: httpx.AsyncClient, guild: Guild
) -> None:
    orphan = await guild.issue("orphan_wow", character_id=guild.scripted)
    back = "/admin/identity/issues?type=orphan_wow"
    response = await post(
        client,
        f"/admin/identity/issues/{orphan.id}/resolve",
        note="  an old bank alt  ",
        back=back,
    )
    assert await landing(app, client, response) == (
        back,
        "success: Issue resolved. If the problem is still there, the next check opens it again.",
    )
    async with app.state.sessionmaker() as session:
        row = await session.get(AuditIssue, orphan.id)
        assert row is not None
        assert (row.resolved_by, row.resolution_note, row.ignored) == (
            "Olga",
            "an old bank alt",
            False,
        )
    loner = await guild.issue("orphan_discord", discord_member_id=guild.loner)
    response = await post(
        client, f"/admin/identity/issues/{loner.id}/resolve", ignore="1", back=ISSUES
    )
    _, flash = await landing(app, client, response)
    assert flash.startswith("success: Issue ignored")
    shown = (await client.get(ISSUES, params={"resolved": "1"})).text
    assert "Re-open</button>" in item(shown, f"issue-{loner.id}")
    assert "Re-open</button>" not in item(shown, f"issue-{orphan.id}")
    response = await post(client, f"/admin/identity/issues/{loner.id}/reopen", back=ISSUES)
    _, flash = await landing(app, client, response)
    assert flash == "success: Issue re-opened: the next check looks at it again."
    async with app.state.sessionmaker() as session:
        row = await session.get(AuditIssue, loner.id)
        assert row is not None and row.ignored is False and row.resolved_at is not None


# ---------------------------------------------------------------------- refusals → flash
async def test_refusals_come_back_as_error_flashes(
    app: Any, client: httpx.AsyncClient, guild: Guild
) -> None:
    orphan = await guild.issue("orphan_wow", character_id=guild.zoelle)
    link = await guild.link(character_id=guild.aldrameth)
    before = await guild.world.state()
    cases = [
        ("/admin/identity/links/999999/confirm", {"back": QUEUE}, "error: Link not found."),
        ("/admin/identity/links/999999/unlink", {"back": PEOPLE}, "error: Link not found."),
        (
            "/admin/identity/links/999999/relink",
            {"member": "Branix", "back": QUEUE},
            "error: Link not found.",
        ),
        (
            f"/admin/identity/links/{link.id}/relink",
            {"member": "Nobody At All", "back": QUEUE},
            "error: No member named 'Nobody At All'. Pick one from the list.",
        ),
        (
            f"/admin/identity/links/{link.id}/relink",
            {"member": "#999999", "back": QUEUE},
            "error: Member not found.",
        ),
        ("/admin/identity/issues/999999/resolve", {"back": ISSUES}, "error: Issue not found."),
        (
            f"/admin/identity/issues/{orphan.id}/reopen",
            {"back": ISSUES},
            "error: Issue is not ignored.",
        ),
        (
            f"/admin/identity/issues/{orphan.id}/resolve",
            {"note": "x" * 2001, "back": ISSUES},
            "error: Note must be at most 2000 characters.",
        ),
        (
            "/admin/identity/link",
            {"character_id": 999999, "member": "Branix", "back": ORPHANS},
            "error: Character not found.",
        ),
        (
            "/admin/identity/link",
            {"character_id": "abc", "member": "Branix", "back": ORPHANS},
            "error: Character: choose one from the list.",
        ),
        (
            "/admin/identity/link",
            {"character_id": guild.zoelle, "back": ORPHANS},
            "error: Choose two of: a character, a Discord account, a member.",
        ),
        (
            "/admin/identity/link",
            {"discord_member_id": 999999, "member": "Branix", "back": ORPHANS},
            "error: Discord account not found.",
        ),
    ]
    for url, fields, expected in cases:
        response = await post(client, url, **fields)
        assert await landing(app, client, response) == (fields["back"], expected), url
    assert await guild.world.state() == before


async def test_resolving_twice_and_foreign_back_urls(
    app: Any, client: httpx.AsyncClient, guild: Guild
) -> None:
    orphan = await guild.issue("orphan_wow", character_id=guild.zoelle)
    first = await post(
        client, f"/admin/identity/issues/{orphan.id}/resolve", back="https://evil.example/"
    )
    location, flash = await landing(app, client, first)
    assert location == ISSUES and flash.startswith("success: Issue resolved")
    again = await post(client, f"/admin/identity/issues/{orphan.id}/resolve", back="//evil")
    assert await landing(app, client, again) == (ISSUES, "error: Issue is already resolved.")


async def test_a_non_numeric_id_is_a_404_page(client: httpx.AsyncClient, guild: Guild) -> None:
    before = await guild.world.state()
    response = await post(client, "/admin/identity/links/abc/confirm")
    assert response.status_code == 404 and "Page Not Found" in response.text
    assert await guild.world.state() == before
