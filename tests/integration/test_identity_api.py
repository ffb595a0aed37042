"""The identity HTTP API (85 §11.4–11.10) over real HTTP and PostgreSQL: Officer+ on every
endpoint (401 / 403, CSRF for cookie writes), the envelope, the 404 / 409 / 422 cases of link,
confirm, unlink, resolve and reopen, names taken from the session, idempotent links, rejections
that outlive a matching run, the issue lifecycle, search and paging."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import Factory, MemberHandle, count_rows
from tests.identity_invariants import check_identity_invariants  # noqa: F401 (autouse)
from tests.identity_support import World

from sv_common.db.models import AuditIssue, Character, DiscordMember, GuildMember, IdentityLink
from sv_common.discord.role_sync import issue_hash

API = "/api/identity"
CSRF = "identity-api-csrf-token"
READS = [
    f"{API}/persons",
    f"{API}/orphans/wow",
    f"{API}/orphans/discord",
    f"{API}/mismatches",
    f"{API}/issues",
    f"{API}/links",
]
INT32_MAX = 2**31 - 1


@pytest.fixture(autouse=True)
async def _background_work_done(
    app: Any,
    check_identity_invariants: None,  # noqa: F811 (the invariant scan runs after this fixture)
) -> AsyncIterator[None]:
    """Link changes request a pipeline run in the background: finish it before the invariant
    scan and before the app's engine goes away."""
    yield
    await app.state.guild_sync.wait_idle()


@pytest.fixture
def world(app: Any) -> World:
    return World(app)


@pytest.fixture
async def officer(factory: Factory) -> MemberHandle:
    return await factory.officer(username="olga", display_name="Officer Olga")


async def settle(app: Any) -> None:
    """Wait for the pipeline a link change requested (so a later match trigger is not 409)."""
    await app.state.guild_sync.wait_idle()


def assert_error(response: httpx.Response, status: int, message: str | None = None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["ok"] is False and isinstance(body["error"], str) and body["error"]
    assert set(body) <= {"ok", "error", "details"}
    if message is not None:
        assert body["error"] == message, body


def data_of(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"ok", "data"} and body["ok"] is True
    return body["data"]


async def post_link(client: httpx.AsyncClient, who: MemberHandle, **body: Any) -> httpx.Response:
    return await client.post(f"{API}/link", json=body, headers=who.headers)


async def add_issue(
    app: Any, issue_type: str = "orphan_wow", severity: str = "warning", **values: Any
) -> int:
    async with app.state.sessionmaker() as session, session.begin():
        issue = AuditIssue(
            issue_type=issue_type,
            severity=severity,
            summary=values.pop("summary", f"{issue_type} found by a test"),
            issue_hash=issue_hash("identity-api", issue_type, severity, sorted(values.items())),
            **values,
        )
        session.add(issue)
        await session.flush()
        return int(issue.id)


async def link_row(db: AsyncSession, link_id: int) -> IdentityLink | None:
    db.expire_all()
    return await db.get(IdentityLink, link_id)


# ============================================================================ authentication
async def test_every_read_needs_an_officer(
    client: httpx.AsyncClient, factory: Factory, officer: MemberHandle
) -> None:
    member = await factory.member(level=3)
    leader = await factory.leader()
    for path in READS:
        assert_error(await client.get(path), 401)
        assert_error(await client.get(path, headers={"Authorization": "Bearer nonsense"}), 401)
        assert_error(await client.get(path, headers=member.headers), 403)
        data_of(await client.get(path, headers=officer.headers))
        data_of(await client.get(path, headers=leader.headers))


async def test_every_write_needs_an_officer_before_anything_else(
    app: Any, client: httpx.AsyncClient, factory: Factory, world: World, db: AsyncSession
) -> None:
    member = await factory.member(level=3)
    target = await factory.member(registered=False)
    character_id = await world.character("Aldrameth")
    issue_id = await add_issue(app)
    writes = [
        ("POST", f"{API}/link", {"character_id": character_id, "member_id": target.id}),
        ("POST", f"{API}/confirm", {"link_id": 1}),
        ("DELETE", f"{API}/link/1", None),
        ("POST", f"{API}/issues/{issue_id}/resolve", {"note": "done"}),
        ("POST", f"{API}/issues/{issue_id}/reopen", None),
    ]
    for method, path, body in writes:
        for headers, status in (({}, 401), (member.headers, 403)):
            response = await client.request(method, path, json=body, headers=headers)
            assert_error(response, status)
    # nothing moved: no link, the issue still open
    assert await count_rows(db, "guild_identity.identity_links") == 0
    assert await count_rows(db, "guild_identity.audit_issues", "resolved_at IS NULL") == 1


async def test_an_upload_key_is_not_an_officer(
    app: Any, client: httpx.AsyncClient, world: World
) -> None:
    app.state.settings = app.state.settings.model_copy(
        update={"patt_api_key": "identity-upload-key-0123456789abcdefgh"}
    )
    key = {"X-API-Key": "identity-upload-key-0123456789abcdefgh"}
    assert_error(await client.get(f"{API}/persons", headers=key), 401)
    character_id = await world.character("Aldrameth")
    account_id = await world.account("stonehoof")
    body = {"character_id": character_id, "discord_member_id": account_id}
    assert_error(await client.post(f"{API}/link", json=body, headers=key), 401)


async def test_cookie_writes_need_the_csrf_header_but_reads_do_not(
    app: Any, client: httpx.AsyncClient, officer: MemberHandle, world: World, db: AsyncSession
) -> None:
    character_id = await world.character("Aldrameth")
    account_id = await world.account("stonehoof")
    issue_id = await add_issue(app)
    client.cookies.set("patt_token", officer.token or "")
    client.cookies.set("patt_csrf", CSRF)
    data_of(await client.get(f"{API}/persons"))
    body = {"character_id": character_id, "discord_member_id": account_id}
    for headers in ({}, {"X-CSRF-Token": "wrong"}):
        assert_error(await client.post(f"{API}/link", json=body, headers=headers), 403)
        assert_error(
            await client.post(f"{API}/issues/{issue_id}/resolve", json={}, headers=headers), 403
        )
        assert_error(await client.delete(f"{API}/link/1", headers=headers), 403)
    assert await count_rows(db, "guild_identity.identity_links") == 0
    linked = data_of(await client.post(f"{API}/link", json=body, headers={"X-CSRF-Token": CSRF}))
    assert linked["created_member"] is True and len(linked["links"]) == 2


# ======================================================================================= link
@pytest.mark.parametrize(
    "body",
    [
        {},
        {"character_id": 1},
        {"member_id": 1},
        {"character_id": 1, "discord_member_id": 1, "member_id": 1},
        {"character_id": 0, "member_id": 1},
        {"character_id": -3, "member_id": 1},
        {"character_id": "1", "member_id": 1},
        {"character_id": 1.5, "member_id": 1},
        {"character_id": True, "member_id": 1},
        {"character_id": INT32_MAX + 1, "member_id": 1},
        {"character_id": 1, "member_id": 1, "move": "yes"},
        {"character_id": 1, "member_id": None, "discord_member_id": None},
    ],
    ids=[
        "none", "only-character", "only-member", "all-three", "zero", "negative", "string",
        "float", "boolean", "beyond-int4", "move-not-bool", "nulls-count-as-missing",
    ],
)  # fmt: skip
async def test_link_with_a_bad_body_is_422(
    client: httpx.AsyncClient, officer: MemberHandle, db: AsyncSession, body: dict[str, Any]
) -> None:
    assert_error(await post_link(client, officer, **body), 422)
    assert await count_rows(db, "guild_identity.identity_links") == 0


async def test_link_with_malformed_json_is_400(
    client: httpx.AsyncClient, officer: MemberHandle
) -> None:
    response = await client.post(
        f"{API}/link",
        content=b'{"character_id": 1,',
        headers={**officer.headers, "Content-Type": "application/json"},
    )
    assert_error(response, 400)


async def test_link_to_unknown_ids_is_404(
    client: httpx.AsyncClient, officer: MemberHandle, world: World, db: AsyncSession
) -> None:
    character_id = await world.character("Aldrameth")
    account_id = await world.account("stonehoof")
    member_id = await world.member("Stonehoof")
    cases = [
        ({"character_id": 9999, "member_id": member_id}, "character not found"),
        ({"discord_member_id": 9999, "member_id": member_id}, "Discord account not found"),
        ({"character_id": character_id, "member_id": 9999}, "member not found"),
        ({"character_id": character_id, "discord_member_id": 9999}, "Discord account not found"),
        ({"character_id": INT32_MAX, "discord_member_id": account_id}, "character not found"),
    ]
    for body, message in cases:
        assert_error(await post_link(client, officer, **body), 404, message)
    assert await count_rows(db, "guild_identity.identity_links") == 0


async def test_link_character_and_account_creates_the_member_with_names_from_the_session(
    app: Any, client: httpx.AsyncClient, officer: MemberHandle, world: World, db: AsyncSession
) -> None:
    character_id = await world.character("Aldrameth", game_rank=0)
    account_id = await world.account("stonehoof", discord_id="100000000000000001", role="Member")
    await world.check()  # opens orphan issues for both, which the link settles
    assert await count_rows(db, "guild_identity.audit_issues", "resolved_at IS NULL") == 2
    body = {
        "character_id": character_id,
        "discord_member_id": account_id,
        "confirmed_by": "Mallory",  # ignored: the session says who acted
        "created_by": 1,
    }
    data = data_of(await post_link(client, officer, **body))
    assert data["created_member"] is True
    member_id = data["member_id"]
    character_link, account_link = data["links"]
    assert (character_link["character_id"], account_link["discord_member_id"]) == (
        character_id,
        account_id,
    )
    for link in data["links"]:
        assert link["member_id"] == member_id
        assert (link["source"], link["confidence"], link["confirmed"]) == ("manual", "high", True)
        assert link["confirmed_by"] == "Officer Olga"
        assert link["confirmed_at"] and link["created_at"]
    assert character_link["character_name"] == "Aldrameth"
    stored = await db.scalars(select(IdentityLink.created_by))
    assert set(stored.all()) == {officer.id}
    created = await db.get(GuildMember, member_id)
    assert created is not None and created.discord_id == "100000000000000001"
    issues = (await db.scalars(select(AuditIssue))).all()
    assert {(i.resolved_by, i.resolution_note) for i in issues} == {
        ("Officer Olga", "linked manually")
    }


async def test_repeating_a_link_changes_nothing(
    client: httpx.AsyncClient, officer: MemberHandle, world: World, db: AsyncSession
) -> None:
    character_id = await world.character("Aldrameth")
    account_id = await world.account("stonehoof")
    body = {"character_id": character_id, "discord_member_id": account_id}
    first = data_of(await post_link(client, officer, **body))
    members_before = await count_rows(db, "common.guild_members")
    again = data_of(await post_link(client, officer, **body))
    assert again["member_id"] == first["member_id"] and again["created_member"] is False
    assert [link["id"] for link in again["links"]] == [link["id"] for link in first["links"]]
    assert again["links"] == first["links"]
    assert await count_rows(db, "common.guild_members") == members_before
    assert await count_rows(db, "guild_identity.identity_links") == 2
    # the same pair given as character + member is the same link too
    same = data_of(
        await post_link(client, officer, character_id=character_id, member_id=first["member_id"])
    )
    assert same["links"] == first["links"][:1]


async def test_linking_elsewhere_is_409_unless_moved(
    app: Any, client: httpx.AsyncClient, officer: MemberHandle, world: World, db: AsyncSession
) -> None:
    character_id = await world.character("Aldrameth", main_alt="main")
    first_owner = await world.member("First")
    second_owner = await world.member("Second")
    await world.character("Secondmain", main_alt="main")
    second_main = (
        await db.execute(select(Character.id).where(Character.name == "Secondmain"))
    ).scalar_one()
    data_of(await post_link(client, officer, character_id=second_main, member_id=second_owner))
    original = data_of(
        await post_link(client, officer, character_id=character_id, member_id=first_owner)
    )
    assert_error(
        await post_link(client, officer, character_id=character_id, member_id=second_owner),
        409,
        "already linked to another member",
    )
    assert (await world.character_row(character_id)).member_id == first_owner

    moved = data_of(
        await post_link(
            client, officer, character_id=character_id, member_id=second_owner, move=True
        )
    )
    [link] = moved["links"]
    assert link["member_id"] == second_owner and link["id"] != original["links"][0]["id"]
    assert await link_row(db, original["links"][0]["id"]) is None  # the old row was replaced
    row = await world.character_row(character_id)
    assert row.member_id == second_owner
    assert row.main_alt == "alt"  # Second already has a main: one main per member
    # the old pairing is remembered as rejected, so matching will not put it back
    await settle(app)
    data_of(await client.post("/api/guild-sync/match/trigger", headers=officer.headers))
    assert (await world.character_row(character_id)).member_id == second_owner


async def test_a_manual_link_requests_the_pipeline(
    app: Any, client: httpx.AsyncClient, officer: MemberHandle, world: World
) -> None:
    main_id = await world.character("Aldrameth", main_alt="main")
    alt_id = await world.character("Aldrabank", note="alt of Aldrameth")
    member_id = await world.member("Stonehoof")
    await world.match()  # the note names a main nobody owns yet: nothing to link
    assert (await world.character_row(alt_id)).member_id is None
    data_of(await post_link(client, officer, character_id=main_id, member_id=member_id))
    await settle(app)
    # the pipeline that followed the link resolved the alt's note to the new owner
    assert (await world.character_row(alt_id)).member_id == member_id
    link = await world.link_of(character_id=alt_id)
    assert link is not None and link.source == "guild_note"


async def test_character_and_account_of_different_members_is_always_409(
    client: httpx.AsyncClient, officer: MemberHandle, world: World
) -> None:
    character_id = await world.character("Aldrameth")
    account_id = await world.account("stonehoof")
    one, other = await world.member("One"), await world.member("Other")
    data_of(await post_link(client, officer, character_id=character_id, member_id=one))
    data_of(await post_link(client, officer, discord_member_id=account_id, member_id=other))
    for move in (False, True):
        assert_error(
            await post_link(
                client, officer, character_id=character_id, discord_member_id=account_id, move=move
            ),
            409,
            "linked to different members",
        )
    assert (await world.character_row(character_id)).member_id == one
    assert (await world.account_row(account_id)).member_id == other


# ==================================================================================== confirm
async def test_confirm_uses_the_session_name_and_is_idempotent(
    app: Any, client: httpx.AsyncClient, officer: MemberHandle, world: World, db: AsyncSession
) -> None:
    # a nickname token (B4) gives an unconfirmed medium link: the review queue
    account_id = await world.account("stonehoof", nickname="Stonehoof (Aldrameth)")
    character_id = await world.character("Aldrameth")
    await world.match()
    link = await world.link_of(character_id=character_id)
    account_link = await world.link_of(account_id=account_id)
    assert link is not None and link.confirmed is False
    # the account joined the member created for it with the same, unconfirmed, link (85 §6)
    assert account_link is not None and account_link.confirmed is False

    async def queue() -> list[int]:
        data = data_of(
            await client.get(f"{API}/links", params={"confirmed": "false"}, headers=officer.headers)
        )
        assert data["total"] == len(data["links"])
        return sorted(item["id"] for item in data["links"])

    assert await queue() == sorted([link.id, account_link.id])

    data = data_of(
        await client.post(
            f"{API}/confirm",
            json={"link_id": link.id, "confirmed_by": "Mallory"},
            headers=officer.headers,
        )
    )
    assert (data["id"], data["confirmed"], data["confirmed_by"]) == (link.id, True, "Officer Olga")
    assert data["source"] == "exact_name_match" and data["confidence"] == "medium"
    again = data_of(
        await client.post(f"{API}/confirm", json={"link_id": link.id}, headers=officer.headers)
    )
    assert again == data  # already confirmed: unchanged, confirmed_at included
    assert await queue() == [account_link.id]


async def test_confirm_errors(client: httpx.AsyncClient, officer: MemberHandle) -> None:
    assert_error(
        await client.post(f"{API}/confirm", json={"link_id": 4242}, headers=officer.headers),
        404,
        "link not found",
    )
    for body in ({}, {"link_id": 0}, {"link_id": "1"}, {"link_id": None}, {"link_id": 2**31}):
        assert_error(await client.post(f"{API}/confirm", json=body, headers=officer.headers), 422)


# ===================================================================================== unlink
async def test_unlink_records_the_rejection_and_matching_does_not_undo_it(
    app: Any, client: httpx.AsyncClient, officer: MemberHandle, world: World, db: AsyncSession
) -> None:
    # the account's username equals the character name: matching links them on its own (B1)
    account_id = await world.account("aldrameth", discord_id="100000000000000001")
    character_id = await world.character("Aldrameth")
    data_of(await client.post("/api/guild-sync/match/trigger", headers=officer.headers))
    link = await world.link_of(character_id=character_id)
    assert link is not None and link.source == "exact_name_match"
    member_id = link.member_id
    assert (await world.member_row(member_id)).discord_id == "100000000000000001"

    removed = data_of(await client.delete(f"{API}/link/{link.id}", headers=officer.headers))
    assert removed == {"removed": link.id}
    assert (await world.character_row(character_id)).member_id is None
    rejected = await count_rows(
        db,
        "guild_identity.link_rejections",
        "character_id = :c AND member_id = :m AND rejected_by = 'Officer Olga'",
        c=character_id,
        m=member_id,
    )
    assert rejected == 1
    assert await db.get(GuildMember, member_id) is not None  # the member is kept

    await settle(app)  # the pipeline the unlink requested has run
    data_of(await client.post("/api/guild-sync/match/trigger", headers=officer.headers))
    assert (await world.character_row(character_id)).member_id is None
    assert await world.link_of(character_id=character_id) is None

    # removing the account's link also clears the member's Discord ID (it was that account's)
    account_link = await world.link_of(account_id=account_id)
    assert account_link is not None
    data_of(await client.delete(f"{API}/link/{account_link.id}", headers=officer.headers))
    assert (await world.member_row(member_id)).discord_id is None
    assert (await world.account_row(account_id)).member_id is None
    assert_error(
        await client.delete(f"{API}/link/{account_link.id}", headers=officer.headers),
        404,
        "link not found",
    )


@pytest.mark.parametrize("path_id", ["0", "-1", "abc", "1.0", "+1", str(2**31)])
async def test_unlink_with_a_bad_id_is_422(
    client: httpx.AsyncClient, officer: MemberHandle, path_id: str
) -> None:
    assert_error(await client.delete(f"{API}/link/{path_id}", headers=officer.headers), 422)


# ===================================================================== resolve / ignore / reopen
async def test_resolve_ignore_reopen_lifecycle(
    app: Any, client: httpx.AsyncClient, officer: MemberHandle, world: World, db: AsyncSession
) -> None:
    await world.character("Aldrameth", game_rank=3)
    await world.check()
    [issue] = await world.issues("orphan_wow")
    base = f"{API}/issues/{issue.id}"

    assert_error(await client.post(f"{base}/reopen", headers=officer.headers), 409)
    resolved = data_of(
        await client.post(
            f"{base}/resolve",
            json={"note": "  left for a break  ", "resolved_by": "Mallory"},
            headers=officer.headers,
        )
    )
    assert resolved["id"] == issue.id and resolved["resolved_at"]
    assert resolved["resolved_by"] == "Officer Olga"
    assert resolved["resolution_note"] == "left for a break" and resolved["ignored"] is False
    assert_error(
        await client.post(f"{base}/resolve", json={}, headers=officer.headers),
        409,
        "issue is already resolved",
    )
    assert_error(
        await client.post(f"{base}/reopen", headers=officer.headers), 409, "issue is not ignored"
    )
    # a manually resolved problem that is still there comes back as a new issue
    await world.check()
    [second] = await world.issues("orphan_wow")
    assert second.id != issue.id

    ignored = data_of(
        await client.post(
            f"{API}/issues/{second.id}/resolve", json={"ignore": True}, headers=officer.headers
        )
    )
    assert ignored["ignored"] is True and ignored["resolution_note"] is None
    await world.check()
    assert await world.issues("orphan_wow") == []  # ignored: not opened again

    reopened = data_of(
        await client.post(f"{API}/issues/{second.id}/reopen", headers=officer.headers)
    )
    assert reopened["ignored"] is False and reopened["resolved_at"] == ignored["resolved_at"]
    await world.check()  # the next run re-evaluates: the problem is still there
    assert len(await world.issues("orphan_wow")) == 1


async def test_resolve_and_reopen_errors(
    app: Any, client: httpx.AsyncClient, officer: MemberHandle, db: AsyncSession
) -> None:
    issue_id = await add_issue(app)
    for path in (f"{API}/issues/4242/resolve", f"{API}/issues/4242/reopen"):
        assert_error(
            await client.post(path, json={}, headers=officer.headers), 404, "issue not found"
        )
    for body in ({"ignore": "yes"}, {"note": "x" * 2001}, {"note": "a\u0000b"}, {"note": 5}):
        response = await client.post(
            f"{API}/issues/{issue_id}/resolve", json=body, headers=officer.headers
        )
        assert_error(response, 422)
    for path_id in ("0", "x", str(2**31)):
        response = await client.post(f"{API}/issues/{path_id}/resolve", headers=officer.headers)
        assert_error(response, 422)
    assert await count_rows(db, "guild_identity.audit_issues", "resolved_at IS NULL") == 1
    # no body at all is a plain resolve
    data = data_of(await client.post(f"{API}/issues/{issue_id}/resolve", headers=officer.headers))
    assert data["ignored"] is False and data["resolution_note"] is None


# ============================================================================ lists and search
async def test_persons_search_and_paging(
    client: httpx.AsyncClient, officer: MemberHandle, factory: Factory, world: World
) -> None:
    stonehoof = await world.member("Stonehoof", discord_username="stonehoof")
    branix = await world.member("Brañix", discord_username="branix_dc")
    account_id = await world.account("hoofmaster", nickname="Hoofy")
    character_id = await world.character("Zoëlle", game_rank=3)
    gone_id = await world.character("Oldtimer", removed_at=await _long_ago())
    for body in (
        {"discord_member_id": account_id, "member_id": stonehoof},
        {"character_id": character_id, "member_id": branix},
        {"character_id": gone_id, "member_id": branix},
    ):
        data_of(await post_link(client, officer, **body))

    async def names(**params: Any) -> tuple[int, list[str]]:
        data = data_of(await client.get(f"{API}/persons", params=params, headers=officer.headers))
        return data["total"], [p["display_name"] for p in data["persons"]]

    everyone = await names()
    assert everyone[0] == 3 and set(everyone[1]) == {"Brañix", "Officer Olga", "Stonehoof"}
    assert await names(q="STONE") == (1, ["Stonehoof"])  # display name, case-insensitive
    assert await names(q="branix_") == (1, ["Brañix"])  # Discord username; _ is literal
    assert await names(q="hoofmas") == (1, ["Stonehoof"])  # an account's username
    assert await names(q="zoëll") == (1, ["Brañix"])  # a character's name
    assert await names(q="oldtimer") == (0, [])  # removed characters are hidden…
    assert await names(q="oldtimer", include_removed="true") == (1, ["Brañix"])  # …unless asked
    assert await names(q="%") == (0, [])  # LIKE wildcards are literal
    assert await names(q="   ") == everyone  # a blank search is no search

    page = await names(limit=1, offset=1)
    assert page == (3, [everyone[1][1]])
    assert (await names(limit=1000))[0] == 3
    data = data_of(
        await client.get(f"{API}/persons", params={"q": "Brañix"}, headers=officer.headers)
    )
    [person] = data["persons"]
    [zoelle] = person["characters"]
    assert (zoelle["name"], zoelle["class"], zoelle["in_guild"]) == ("Zoëlle", "Druid", True)
    assert zoelle["link"]["source"] == "manual"
    assert person["rank"]["name"] == "Member" and person["registered"] is False

    for params in (
        {"limit": 1001},
        {"limit": 0},
        {"offset": -1},
        {"q": "x" * 101},
        {"include_removed": "maybe"},
    ):
        response = await client.get(f"{API}/persons", params=params, headers=officer.headers)
        assert_error(response, 422)


async def _long_ago() -> Any:
    from datetime import UTC, datetime

    return datetime(2025, 1, 1, tzinfo=UTC)


async def test_issue_and_link_filters(
    app: Any, client: httpx.AsyncClient, officer: MemberHandle, world: World
) -> None:
    open_id = await add_issue(app, "orphan_wow")
    done_id = await add_issue(app, "rank_change", "info")
    data_of(await client.post(f"{API}/issues/{done_id}/resolve", json={}, headers=officer.headers))

    async def issue_ids(**params: Any) -> list[int]:
        data = data_of(await client.get(f"{API}/issues", params=params, headers=officer.headers))
        return [i["id"] for i in data["issues"]]

    page = data_of(
        await client.get(
            f"{API}/issues", params={"status": "all", "limit": 1}, headers=officer.headers
        )
    )
    assert page["total"] == 2 and len(page["issues"]) == 1  # total counts every match

    assert await issue_ids() == [open_id]
    assert await issue_ids(status="resolved") == [done_id]
    assert await issue_ids(status="all") == [done_id, open_id]  # newest first
    assert await issue_ids(status="all", type="rank_change") == [done_id]
    assert await issue_ids(type="no_guild_role") == []
    assert await issue_ids(status="all", limit=1, offset=1) == [open_id]
    for params in ({"status": "closed"}, {"type": "typo"}, {"limit": 1001}, {"limit": 0}):
        response = await client.get(f"{API}/issues", params=params, headers=officer.headers)
        assert_error(response, 422)

    character_id = await world.character("Aldrameth")
    member_id = await world.member("Stonehoof")
    data_of(await post_link(client, officer, character_id=character_id, member_id=member_id))

    async def link_count(**params: Any) -> int:
        data = data_of(await client.get(f"{API}/links", params=params, headers=officer.headers))
        return int(data["total"])

    assert await link_count() == 1
    assert await link_count(source="manual", member_id=member_id, confirmed="true") == 1
    assert await link_count(source="fuzzy_match") == 0
    assert await link_count(member_id=member_id + 100) == 0
    for params in ({"source": "carrier_pigeon"}, {"member_id": 0}, {"confirmed": "perhaps"}):
        response = await client.get(f"{API}/links", params=params, headers=officer.headers)
        assert_error(response, 422)


async def test_orphans_and_mismatches_through_the_api(
    app: Any, client: httpx.AsyncClient, officer: MemberHandle, world: World
) -> None:
    await world.account("zoelie", nickname="Zoe")
    await world.account("guardian", role="Officer")
    await world.character("Zoëlle", game_rank=3)
    await world.character("Leader", game_rank=0)
    await world.match()
    wow = data_of(await client.get(f"{API}/orphans/wow", headers=officer.headers))
    assert [c["name"] for c in wow["characters"]] == ["Leader", "Zoëlle"]
    assert [s["display_name"] for s in wow["characters"][1]["suggestions"]] == ["Zoe"]
    discord = data_of(await client.get(f"{API}/orphans/discord", headers=officer.headers))
    assert [a["username"] for a in discord["accounts"]] == ["guardian"]

    await add_issue(app, "role_mismatch", "warning", summary="warning one")
    await add_issue(app, "no_guild_role", "critical", summary="critical one")
    await add_issue(app, "orphan_wow", "critical", summary="not a mismatch")
    mismatches = data_of(await client.get(f"{API}/mismatches", headers=officer.headers))
    assert [i["summary"] for i in mismatches["issues"]] == ["critical one", "warning one"]


async def test_unlinked_account_stays_out_of_persons_until_linked(
    client: httpx.AsyncClient, officer: MemberHandle, world: World, db: AsyncSession
) -> None:
    account_id = await world.account("lonely")
    before = data_of(await client.get(f"{API}/persons", headers=officer.headers))["total"]
    character_id = await world.character("Lonelychar")
    data = data_of(
        await post_link(client, officer, character_id=character_id, discord_member_id=account_id)
    )
    after = data_of(await client.get(f"{API}/persons", headers=officer.headers))["total"]
    assert after == before + 1 and data["created_member"] is True
    account = await db.get(DiscordMember, account_id)
    assert account is not None and account.member_id == data["member_id"]
