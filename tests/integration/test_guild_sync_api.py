"""The guild-sync HTTP API (80 §6, 85 §11.1–11.3): the addon upload and its status, the Blizzard
and match triggers, the status and log endpoints, and the removal safety rules of 80 §4.4 seen
through the trigger against the fake Blizzard API."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import Factory, MemberHandle, count_rows, make_settings

from patt.config import Settings
from patt.guild_sync.runtime import blizzard_config
from sv_common.db import locks
from sv_common.db.enums import IssueType
from sv_common.db.models import Character, IdentityLink, SyncLog
from sv_common.guild_sync import addon_ingest
from sv_common.guild_sync.blizzard_client import BlizzardClient
from sv_common.guild_sync.fake_blizzard import FakeBlizzard, RosterMode, generate_guild
from sv_common.identity import characters as character_service

KEY = "addon-upload-key-0123456789abcdefghijklmnop"
UPLOAD = "/api/guild-sync/addon-upload"
STATUS = "/api/guild-sync/addon-upload/status"
BLIZZARD = "/api/guild-sync/blizzard/trigger"
MATCH = "/api/guild-sync/match/trigger"
EXPORT = 1771699200  # 2026-02-21T18:40:00Z
CSRF = "guild-sync-csrf-token"
# Everything a refused request must leave untouched.
TABLES = (
    "common.characters",
    "guild_identity.sync_log",
    "guild_identity.identity_links",
    "guild_identity.audit_issues",
)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The upload key is configured for every test here (tests without it clear it)."""
    return make_settings(tmp_path, patt_api_key=KEY)


@pytest.fixture(autouse=True)
async def _background_work_done(app: Any) -> AsyncIterator[None]:
    """Uploads and triggers leave work in the background: let it finish before the app's
    engine is disposed, so no test ends with a half-done pipeline."""
    yield
    await app.state.guild_sync.wait_idle()


def key_headers(key: str = KEY) -> dict[str, str]:
    return {"X-API-Key": key}


def upload(*characters: dict[str, Any], **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "addon_version": "1.0.0",
        "uploaded_by": "companion_app",
        "export_time": EXPORT,
        "guild_name": "Pull All The Things",
        "can_view_officer_note": True,
        "characters": list(characters),
    }
    body.update(fields)
    return body


def row(name: str, realm: str | None = "Sen'jin", **fields: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"name": name, "class_file": "DRUID", "level": 80, "rank": 3}
    if realm is not None:
        values["realm"] = realm
    values.update(fields)
    return values


async def post_upload(
    client: httpx.AsyncClient, body: Any, *, headers: dict[str, str] | None = None
) -> httpx.Response:
    raw = body if isinstance(body, bytes | str) else json.dumps(body)
    return await client.post(
        UPLOAD,
        content=raw,
        headers={
            "Content-Type": "application/json",
            **(key_headers() if headers is None else headers),
        },
    )


async def snapshot_counts(db: AsyncSession) -> dict[str, int]:
    return {table: await count_rows(db, table) for table in TABLES}


async def linked_character(app: Any, member_id: int, name: str, realm: str = "Sen'jin") -> int:
    """A character of a member, added as an officer would (manual link)."""
    async with app.state.sessionmaker() as session, session.begin():
        character = await character_service.add_character(
            session, actor=None, member_id=member_id, name=name, realm=realm, wow_class="Druid"
        )
        return int(character.id)


async def add_character_row(app: Any, name: str, realm_slug: str = "senjin", **values: Any) -> int:
    """An unlinked character as the Blizzard sync would have left it."""
    async with app.state.sessionmaker() as session, session.begin():
        character = Character(name=name, realm_slug=realm_slug, origin="blizzard_sync", **values)
        session.add(character)
        await session.flush()
        return int(character.id)


async def character_by_name(app: Any, name: str) -> Character:
    async with app.state.sessionmaker() as session:
        return (await session.execute(select(Character).where(Character.name == name))).scalar_one()


async def member_characters(
    client: httpx.AsyncClient, officer: MemberHandle, member_id: int
) -> dict[str, dict[str, Any]]:
    response = await client.get(f"/api/v1/admin/members/{member_id}", headers=officer.headers)
    assert response.status_code == 200, response.text
    return {c["name"]: c for c in response.json()["data"]["characters"]}


# ======================================================================== addon upload: refusals
async def test_upload_without_a_configured_key_is_503_and_writes_nothing(
    app: Any, client: httpx.AsyncClient, db: AsyncSession
) -> None:
    app.state.settings = app.state.settings.model_copy(update={"patt_api_key": ""})
    before = await snapshot_counts(db)
    for headers in (key_headers(), key_headers(""), {}):
        response = await post_upload(client, upload(row("Aldrameth")), headers=headers)
        assert response.status_code == 503
        assert response.json() == {"ok": False, "error": "addon upload is not configured"}
    assert await snapshot_counts(db) == before


async def test_upload_with_a_missing_or_wrong_key_is_401_even_for_an_officer(
    client: httpx.AsyncClient, factory: Factory, db: AsyncSession
) -> None:
    officer = await factory.officer()
    before = await snapshot_counts(db)
    for headers in (
        {},
        key_headers("not-the-key"),
        key_headers(KEY[:-1]),  # a prefix of the key is still wrong
        key_headers(KEY + "x"),
        officer.headers,  # a session is not the upload key
        {**officer.headers, **key_headers("wrong")},
    ):
        response = await post_upload(client, upload(row("Aldrameth")), headers=headers)
        assert response.status_code == 401, headers
        assert response.json() == {"ok": False, "error": "invalid API key"}
    assert await snapshot_counts(db) == before


async def test_eleventh_wrong_key_from_one_client_is_429_with_retry_after(
    app: Any, client: httpx.AsyncClient, db: AsyncSession
) -> None:
    before = await snapshot_counts(db)
    for _ in range(10):
        response = await post_upload(client, upload(row("Aldrameth")), headers=key_headers("bad"))
        assert response.status_code == 401
    refused = await post_upload(client, upload(row("Aldrameth")), headers=key_headers("bad"))
    assert refused.status_code == 429
    assert refused.json()["ok"] is False
    retry_after = int(refused.headers["Retry-After"])
    assert 0 < retry_after <= 15 * 60
    # the block is per client, and while it lasts even the right key is refused from there
    blocked = await post_upload(client, upload(row("Aldrameth")))
    assert blocked.status_code == 429
    assert await snapshot_counts(db) == before

    other = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("192.0.2.7", 4000)),
        base_url="http://testserver",
    )
    async with other:
        accepted = await post_upload(other, upload(row("Aldrameth")))
    assert accepted.status_code == 200, accepted.text


async def test_upload_over_five_megabytes_is_413_and_writes_nothing(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    before = await snapshot_counts(db)
    padding = "x" * (5 * 1024 * 1024)
    body = json.dumps(upload(row("Aldrameth", guild_note="GM"), padding=padding))
    assert len(body.encode()) > 5 * 1024 * 1024
    response = await post_upload(client, body)
    assert response.status_code == 413
    assert response.json()["ok"] is False
    assert await snapshot_counts(db) == before


async def test_streamed_upload_over_five_megabytes_is_413_and_writes_nothing(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    """Without a Content-Length (chunked), the limit applies to the bytes as they arrive."""
    before = await snapshot_counts(db)

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"characters": [{"name": "Aldrameth"}], "padding": "'
        for _ in range(6):
            yield b"x" * (1024 * 1024)
        yield b'"}'

    response = await client.post(
        UPLOAD, content=chunks(), headers={"Content-Type": "application/json", **key_headers()}
    )
    assert response.status_code == 413
    assert response.json()["ok"] is False
    assert await snapshot_counts(db) == before


async def test_upload_just_under_the_limit_is_accepted(client: httpx.AsyncClient) -> None:
    # unknown keys are ignored, so padding makes a big but valid upload
    body = upload(row("Aldrameth"), padding="")
    room = 5 * 1024 * 1024 - len(json.dumps(body).encode())
    body["padding"] = "x" * (room - 10)
    response = await post_upload(client, json.dumps(body))
    assert response.status_code == 200, response.text[:200]


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b'{"characters": [',
        b"[" * 100_000,  # deeper than any JSON decoder recurses: still a plain 400
        b'{"characters": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b"\xff\xfe garbage",
        b"",
        b'"a string"',
        b"[1, 2]",
    ],
    ids=[
        "broken",
        "truncated",
        "deep-array",
        "deep-inside-object",
        "not-utf8",
        "empty",
        "string",
        "array",
    ],
)
async def test_malformed_or_non_object_json_is_400(
    client: httpx.AsyncClient, db: AsyncSession, raw: bytes
) -> None:
    before = await snapshot_counts(db)
    response = await post_upload(client, raw)
    assert response.status_code == 400, response.text[:200]
    assert response.json()["ok"] is False
    assert await snapshot_counts(db) == before


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (upload(), "no characters in upload"),
        ({"characters": []}, "no characters in upload"),
        ({"addon_version": "1.0.0"}, "no characters in upload"),
        (upload(row("Aldrameth"), guild_name="Another Guild"), "upload is for another guild"),
        ({"characters": "Aldrameth"}, "characters: Input should be a valid list"),
        (upload(row("Aldrameth", level=500)), "characters.0.level: Input should be less than or equal to 200"),
        (upload(row("Aldrameth"), row("Zoëlle", rank=True)), "characters.1.rank: must be a number, not true/false"),
        (upload(row("Aldrameth", guild_note="n" * 501)), "characters.0.guild_note: String should have at most 500 characters"),
        (upload(row("Aldrameth"), export_time="yesterday"), "export_time: Input should be a valid number, unable to parse string as a number"),
        (upload(row("Aldrameth"), can_view_officer_note="maybe"), "can_view_officer_note: Input should be a valid boolean, unable to interpret input"),
        # PostgreSQL text cannot hold these: refused up front, never logged as a failed upload
        (upload(row("Zo\u0000e")), "characters.0.name: must not contain NUL characters"),
        (upload(row("Aldrameth", officer_note="a\u0000b")), "characters.0.officer_note: must not contain NUL characters"),
        (upload(row("Aldrameth"), addon_version="1\u0000"), "addon_version: must not contain NUL characters"),
        (upload(row("\ud800bc")), "characters.0.name: must be valid Unicode text"),
    ],
    ids=[
        "empty-list", "only-empty-list", "no-characters-key", "other-guild", "characters-not-list",
        "level-too-high", "boolean-rank", "note-too-long", "export-time-text", "flag-not-bool",
        "nul-in-name", "nul-in-note", "nul-in-version", "lone-surrogate",
    ],
)  # fmt: skip
async def test_invalid_uploads_are_422_with_the_first_problem(
    client: httpx.AsyncClient, db: AsyncSession, body: dict[str, Any], message: str
) -> None:
    before = await snapshot_counts(db)
    response = await post_upload(client, body)
    assert response.status_code == 422
    assert response.json() == {"ok": False, "error": message}
    assert await snapshot_counts(db) == before


async def test_upload_while_the_roster_is_being_written_is_503_busy(
    app: Any, client: httpx.AsyncClient, db: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(addon_ingest, "LOCK_WAIT_SECONDS", 0.2)  # instead of 30 s
    before = await snapshot_counts(db)
    held = await locks.try_acquire(app.state.engine, locks.ROSTER_WRITE)  # a Blizzard write
    assert held is not None
    try:
        response = await post_upload(client, upload(row("Aldrameth")))
    finally:
        await held.release()
    assert response.status_code == 503
    assert response.json() == {"ok": False, "error": "busy, retry later"}
    assert await snapshot_counts(db) == before
    assert (await post_upload(client, upload(row("Aldrameth")))).status_code == 200


async def test_other_guild_name_is_compared_case_insensitively(client: httpx.AsyncClient) -> None:
    response = await post_upload(client, upload(row("Aldrameth"), guild_name="pull all the THINGS"))
    assert response.status_code == 200, response.text


# ======================================================================= addon upload: accepted
async def test_upload_writes_notes_and_answers_with_the_counts(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: AsyncSession
) -> None:
    officer = await factory.officer()
    stonehoof = await factory.member(username="stonehoof", registered=False)
    await linked_character(app, stonehoof.id, "Aldrameth")
    # two in-guild characters called Twin: a row without a realm cannot choose between them
    await add_character_row(app, "Twin", "senjin")
    await add_character_row(app, "Twin", "area-52")
    body = upload(
        row("Aldrameth", "Senjin", guild_note="GM", officer_note="Discord: stonehoof"),
        row("Zoëlle", "BleedingHollow", class_file="MAGE", guild_note="alt of Brañix"),
        row("Twin", None, guild_note="which one?"),
        row("   ", guild_note="no name"),
    )
    response = await post_upload(client, body)
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["ok"] is True
    data = payload["data"]
    log_id = data.pop("sync_log_id")
    assert data == {
        "received": 4,
        "updated": 1,
        "new": 1,
        "not_found": 0,
        "ambiguous": 1,
        "skipped": 1,
        "export_time": "2026-02-21T18:40:00+00:00",
    }
    log_row = await db.get(SyncLog, log_id)
    assert log_row is not None
    assert (log_row.source, log_row.status, log_row.characters_found) == (
        "addon_upload",
        "success",
        4,
    )
    assert (log_row.characters_new, log_row.characters_updated) == (1, 1)

    mine = await member_characters(client, officer, stonehoof.id)
    assert mine["Aldrameth"]["guild_note"] == "GM"
    assert mine["Aldrameth"]["officer_note"] == "Discord: stonehoof"
    zoelle = await character_by_name(app, "Zoëlle")
    assert (zoelle.realm_slug, zoelle.guild_note, zoelle.origin) == (
        "bleeding-hollow",
        "alt of Brañix",
        "addon",
    )
    assert zoelle.character_class == "Mage" and zoelle.member_id is None
    twins = (await db.scalars(select(Character.guild_note).where(Character.name == "Twin"))).all()
    assert twins == [None, None]


async def test_officer_note_kept_when_the_uploader_cannot_see_officer_notes(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    officer = await factory.officer()
    owner = await factory.member(registered=False)
    await linked_character(app, owner.id, "Aldrameth")
    first = await post_upload(
        client, upload(row("Aldrameth", guild_note="GM", officer_note="Discord: stonehoof"))
    )
    assert first.status_code == 200
    hidden = upload(
        row("Aldrameth", guild_note="Guild Master", officer_note=""), can_view_officer_note=False
    )
    second = await post_upload(client, hidden)
    assert second.status_code == 200 and second.json()["data"]["updated"] == 1
    character = (await member_characters(client, officer, owner.id))["Aldrameth"]
    assert character["guild_note"] == "Guild Master"
    assert character["officer_note"] == "Discord: stonehoof"  # not wiped by a blind uploader


async def test_reupload_of_the_same_export_is_idempotent(
    app: Any, client: httpx.AsyncClient, db: AsyncSession
) -> None:
    await add_character_row(app, "Aldrameth")
    body = upload(
        row("Aldrameth", guild_note="GM", officer_note="Discord: stonehoof"),
        row("Zoëlle", "BleedingHollow", guild_note="alt of Brañix"),
    )
    columns = "name, realm_slug, guild_note, officer_note, class, level, game_rank, addon_last_seen, member_id"

    async def state() -> list[tuple[Any, ...]]:
        rows = await db.execute(select(Character).order_by(Character.id))
        return [
            tuple(
                getattr(c, field.strip().replace("class", "character_class"))
                for field in columns.split(",")
            )
            for c in rows.scalars()
        ]

    first = await post_upload(client, body)
    assert first.status_code == 200
    after_first = await state()
    db.expire_all()
    second = await post_upload(client, body)
    assert second.status_code == 200
    assert (second.json()["data"]["new"], second.json()["data"]["updated"]) == (0, 2)
    assert await state() == after_first
    assert await count_rows(db, "common.characters") == 2
    assert await count_rows(db, "guild_identity.sync_log", "source = 'addon_upload'") == 2


async def test_upload_requests_the_pipeline_which_links_by_the_note(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: AsyncSession
) -> None:
    stonehoof = await factory.member(username="stonehoof", registered=False)
    response = await post_upload(
        client, upload(row("Aldrameth", guild_note="GM", officer_note="Discord: stonehoof"))
    )
    assert response.status_code == 200
    await app.state.guild_sync.wait_idle()
    character = await character_by_name(app, "Aldrameth")
    assert character.member_id == stonehoof.id
    link = (
        await db.execute(select(IdentityLink).where(IdentityLink.character_id == character.id))
    ).scalar_one()
    # an officer-note hint is a confirmed automatic link (85 §7)
    assert (link.member_id, link.source, link.confirmed, link.confirmed_by) == (
        stonehoof.id,
        "officer_note",
        True,
        "auto",
    )


# ==================================================================== addon upload: status
async def test_upload_status_auth(client: httpx.AsyncClient, factory: Factory) -> None:
    officer = await factory.officer()
    member = await factory.member(level=3)
    empty = dict.fromkeys(
        ("last_upload", "last_export_time", "status", "received", "addon_version")
    )
    with_key = await client.get(STATUS, headers=key_headers())
    assert with_key.status_code == 200
    assert with_key.json() == {"ok": True, "data": empty}
    as_officer = await client.get(STATUS, headers=officer.headers)
    assert as_officer.status_code == 200 and as_officer.json()["data"] == empty
    assert (await client.get(STATUS)).status_code == 401
    assert (await client.get(STATUS, headers=member.headers)).status_code == 403
    wrong = await client.get(STATUS, headers=key_headers("wrong"))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid API key"
    # a wrong key is refused even next to an officer's token: the key decides
    both = await client.get(STATUS, headers={**officer.headers, **key_headers("wrong")})
    assert both.status_code == 401


async def test_upload_status_describes_the_last_upload(client: httpx.AsyncClient) -> None:
    response = await post_upload(client, upload(row("Aldrameth"), row("Zoëlle", "BleedingHollow")))
    assert response.status_code == 200
    data = (await client.get(STATUS, headers=key_headers())).json()["data"]
    assert data["status"] == "success" and data["received"] == 2
    assert data["addon_version"] == "1.0.0"
    assert data["last_export_time"] == "2026-02-21T18:40:00+00:00"
    assert datetime.fromisoformat(data["last_upload"]).tzinfo is not None


# ============================================================================ Blizzard trigger
BlizzardSetup = Callable[..., FakeBlizzard]


@pytest.fixture
async def blizzard(app: Any) -> AsyncIterator[BlizzardSetup]:
    """Configures the app's Blizzard sync against a FakeBlizzard (in-process transport)."""
    clients: list[BlizzardClient] = []

    def configure(fake: FakeBlizzard | None = None) -> FakeBlizzard:
        fake = fake or FakeBlizzard()
        settings = app.state.settings.model_copy(
            update={
                "blizzard_client_id": fake.client_id,
                "blizzard_client_secret": fake.client_secret,
            }
        )
        app.state.settings = settings
        guild_sync = app.state.guild_sync
        guild_sync.settings = settings
        # jitter 0: retries of a failing fake need no backoff wait (the backoff itself is
        # tested in tests/unit); sleeps and the sync deadline stay on the real clock
        client = BlizzardClient(
            blizzard_config(settings), transport=fake.transport(), rng=lambda: 0.0
        )
        guild_sync._blizzard = client
        clients.append(client)
        return fake

    yield configure
    await app.state.guild_sync.wait_idle()
    for client in clients:
        await client.aclose()


async def trigger_sync(
    app: Any, client: httpx.AsyncClient, officer: MemberHandle, body: Any = None
) -> SyncLog:
    """Trigger a sync, wait for it and return its log row."""
    response = await client.post(BLIZZARD, headers=officer.headers, json=body)
    assert response.status_code == 202, response.text
    data = response.json()["data"]
    assert data["status"] == "started" and isinstance(data["sync_log_id"], int)
    await app.state.guild_sync.wait_idle()
    async with app.state.sessionmaker() as session:
        row = await session.get(SyncLog, data["sync_log_id"])
    assert row is not None
    return row


async def characters_now(app: Any) -> dict[str, Character]:
    async with app.state.sessionmaker() as session:
        return {c.name: c for c in (await session.scalars(select(Character))).all()}


async def test_blizzard_trigger_auth_and_not_configured(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: AsyncSession
) -> None:
    officer = await factory.officer()
    member = await factory.member(level=3)
    assert (await client.post(BLIZZARD)).status_code == 401
    assert (await client.post(BLIZZARD, headers=member.headers)).status_code == 403
    response = await client.post(BLIZZARD, headers=officer.headers)
    assert response.status_code == 503
    assert response.json() == {"ok": False, "error": "Blizzard sync is not configured."}
    # a cookie session without the CSRF header cannot trigger either
    client.cookies.set("patt_token", officer.token or "")
    client.cookies.set("patt_csrf", CSRF)
    assert (await client.post(BLIZZARD)).status_code == 403
    assert await count_rows(db, "guild_identity.sync_log") == 0


async def test_blizzard_trigger_runs_the_sync_in_the_background(
    app: Any, client: httpx.AsyncClient, factory: Factory, blizzard: BlizzardSetup
) -> None:
    officer = await factory.officer()
    blizzard()
    row = await trigger_sync(app, client, officer)
    assert row.status == "success" and row.source == "blizzard_api"
    assert (row.characters_found, row.characters_new, row.characters_removed) == (2, 2, 0)
    assert row.triggered_by == f"manual:{officer.id}"
    assert row.details is not None and row.details["profiles_ok"] == 2
    found = await characters_now(app)
    assert set(found) == {"Aldrameth", "Zoëlle"}
    assert found["Aldrameth"].active_spec == "Balance" and found["Aldrameth"].game_rank == 0


async def test_blizzard_trigger_with_a_cookie_session_needs_csrf(
    app: Any, client: httpx.AsyncClient, factory: Factory, blizzard: BlizzardSetup
) -> None:
    officer = await factory.officer()
    blizzard()
    client.cookies.set("patt_token", officer.token or "")
    client.cookies.set("patt_csrf", CSRF)
    assert (await client.post(BLIZZARD)).status_code == 403
    response = await client.post(BLIZZARD, headers={"X-CSRF-Token": CSRF})
    assert response.status_code == 202, response.text


async def test_blizzard_trigger_is_409_while_a_sync_holds_the_lock(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: AsyncSession, blizzard: BlizzardSetup
) -> None:
    officer = await factory.officer()
    fake = blizzard()
    held = await locks.try_acquire(app.state.engine, locks.BLIZZARD_SYNC)
    assert held is not None
    try:
        response = await client.post(BLIZZARD, headers=officer.headers)
        assert response.status_code == 409
        assert response.json() == {"ok": False, "error": "A Blizzard sync is already running."}
    finally:
        await held.release()
    assert await count_rows(db, "guild_identity.sync_log") == 0
    assert fake.requests == 0 and fake.token_requests == 0
    # once the other run is over, a trigger works again
    assert (await trigger_sync(app, client, officer)).status == "success"


async def test_a_running_sync_shows_in_status_and_refuses_a_second_trigger(
    app: Any, client: httpx.AsyncClient, factory: Factory, blizzard: BlizzardSetup
) -> None:
    officer = await factory.officer()
    answer = asyncio.Event()

    async def blizzard_is_slow(seconds: float) -> None:
        await answer.wait()  # the fake's latency lasts until the test lets it answer

    blizzard(FakeBlizzard(latency=1.0, sleep=blizzard_is_slow))
    first = await client.post(BLIZZARD, headers=officer.headers)
    assert first.status_code == 202
    source = (await client.get("/api/guild-sync/status", headers=officer.headers)).json()["data"][
        "sources"
    ]["blizzard_api"]
    assert source["running"] is True and source["last_run"]["status"] == "running"
    assert source["last_run"]["id"] == first.json()["data"]["sync_log_id"]
    second = await client.post(BLIZZARD, headers=officer.headers)
    assert second.status_code == 409

    answer.set()
    await app.state.guild_sync.wait_idle()
    source = (await client.get("/api/guild-sync/status", headers=officer.headers)).json()["data"][
        "sources"
    ]["blizzard_api"]
    assert source["running"] is False and source["last_run"]["status"] == "success"


async def test_blizzard_trigger_rejects_a_bad_body(
    client: httpx.AsyncClient, factory: Factory, db: AsyncSession, blizzard: BlizzardSetup
) -> None:
    officer = await factory.officer()
    blizzard()
    for body in ({"force_removals": "yes"}, {"force_removals": 1}, {"force_removals": None}):
        response = await client.post(BLIZZARD, headers=officer.headers, json=body)
        assert response.status_code == 422, body
        assert response.json()["ok"] is False
    broken = await client.post(
        BLIZZARD,
        headers={**officer.headers, "Content-Type": "application/json"},
        content=b"{force",
    )
    assert broken.status_code == 400
    assert await count_rows(db, "guild_identity.sync_log") == 0


# ------------------------------------------------------------- safety rules through the trigger
@pytest.mark.parametrize(
    ("mode", "message"),
    [
        (RosterMode.NOT_FOUND, "guild not found"),
        (RosterMode.SERVER_ERROR, "500"),
        (RosterMode.EMPTY, "empty roster"),
    ],
)
async def test_failed_or_empty_roster_removes_nobody(
    app: Any,
    client: httpx.AsyncClient,
    factory: Factory,
    blizzard: BlizzardSetup,
    mode: RosterMode,
    message: str,
) -> None:
    officer = await factory.officer()
    fake = blizzard()
    assert (await trigger_sync(app, client, officer)).status == "success"
    before = await characters_now(app)
    fake.roster_mode = mode
    row = await trigger_sync(app, client, officer)
    assert row.status == "error"
    assert row.error_message is not None and message in row.error_message
    after = await characters_now(app)
    assert set(after) == set(before)
    assert all(c.removed_at is None for c in after.values())
    assert {n: c.blizzard_last_sync for n, c in after.items()} == {
        n: c.blizzard_last_sync for n, c in before.items()
    }


async def test_shrunken_roster_is_partial_and_force_removals_removes(
    app: Any, client: httpx.AsyncClient, factory: Factory, blizzard: BlizzardSetup
) -> None:
    officer = await factory.officer()
    guild = generate_guild(12, seed=3, not_found_fraction=0)
    fake = blizzard(FakeBlizzard(roster=guild.roster, profiles=guild.profiles))
    assert (await trigger_sync(app, client, officer)).characters_new == 12
    fake.roster_mode, fake.shrink_to = RosterMode.SHRUNK, 3
    partial = await trigger_sync(app, client, officer)
    assert partial.status == "partial"
    assert partial.error_message == "roster shrank from 12 to 3; removals skipped"
    assert partial.characters_removed == 0
    assert all(c.removed_at is None for c in (await characters_now(app)).values())

    forced = await trigger_sync(app, client, officer, {"force_removals": True})
    assert (forced.status, forced.characters_removed) == ("success", 9)
    removed = [c for c in (await characters_now(app)).values() if c.removed_at is not None]
    assert len(removed) == 9


async def test_member_leaving_is_removed_and_rejoining_clears_it(
    app: Any, client: httpx.AsyncClient, factory: Factory, blizzard: BlizzardSetup
) -> None:
    officer = await factory.officer()
    fake = blizzard()
    await trigger_sync(app, client, officer)
    everyone = list(fake.roster["members"])
    fake.roster = {**fake.roster, "members": everyone[:1]}  # Zoëlle left the guild
    left = await trigger_sync(app, client, officer)
    assert (left.status, left.characters_removed) == ("success", 1)
    assert (await characters_now(app))["Zoëlle"].removed_at is not None
    fake.roster = {**fake.roster, "members": everyone}
    back = await trigger_sync(app, client, officer)
    assert back.status == "success" and back.details is not None
    assert back.details["rejoined"] == 1 and back.characters_removed == 0
    assert (await characters_now(app))["Zoëlle"].removed_at is None


async def test_missing_profile_removes_nobody_and_keeps_roster_data(
    app: Any, client: httpx.AsyncClient, factory: Factory, blizzard: BlizzardSetup
) -> None:
    officer = await factory.officer()
    fake = blizzard()
    await trigger_sync(app, client, officer)
    del fake.profiles[("bleeding-hollow", "zoëlle")]  # hidden or transferred: answers 404
    row = await trigger_sync(app, client, officer)
    assert row.status == "success" and row.characters_removed == 0
    assert row.details is not None and row.details["profiles_missing"] == 1
    zoelle = (await characters_now(app))["Zoëlle"]
    assert zoelle.removed_at is None
    assert (zoelle.item_level, zoelle.active_spec, zoelle.level) == (618, "Fire", 80)


async def test_rank_change_in_the_roster_raises_an_issue(
    app: Any, client: httpx.AsyncClient, factory: Factory, blizzard: BlizzardSetup
) -> None:
    officer = await factory.officer()
    fake = blizzard()
    await trigger_sync(app, client, officer)
    members = json.loads(json.dumps(fake.roster["members"]))
    members[1]["rank"] = 2  # Zoëlle promoted from Member to Veteran in game
    fake.roster = {**fake.roster, "members": members}
    row = await trigger_sync(app, client, officer)
    assert row.status == "success" and row.details is not None
    assert row.details["rank_changes"] == 1
    issues = await client.get(
        "/api/identity/issues", params={"type": "rank_change"}, headers=officer.headers
    )
    assert issues.status_code == 200
    [issue] = issues.json()["data"]["issues"]
    assert "Zoëlle" in issue["summary"]
    assert issue["details"]["old_rank"] == 3 and issue["details"]["new_rank"] == 2


# ================================================================================ match trigger
async def test_match_trigger_runs_the_pipeline_now(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    officer = await factory.officer()
    member = await factory.member(level=3)
    stonehoof = await factory.member(username="stonehoof", registered=False)
    await add_character_row(app, "Aldrameth", officer_note="Discord: stonehoof", game_rank=0)
    assert (await client.post(MATCH)).status_code == 401
    assert (await client.post(MATCH, headers=member.headers)).status_code == 403
    response = await client.post(MATCH, headers=officer.headers)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["matching"]["officer_note"] == 1
    assert set(data["integrity"]) >= {str(t) for t in IssueType} - {"auto_link_suggestion"}
    assert data["reported"] == 0 and data["report_skipped"]
    assert (await character_by_name(app, "Aldrameth")).member_id == stonehoof.id


async def test_match_trigger_is_409_while_a_pipeline_runs(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    officer = await factory.officer()
    held = await locks.try_acquire(app.state.engine, locks.PIPELINE)
    assert held is not None
    try:
        response = await client.post(MATCH, headers=officer.headers)
        assert response.status_code == 409
        assert response.json() == {"ok": False, "error": "The pipeline is already running."}
    finally:
        await held.release()
    assert (await client.post(MATCH, headers=officer.headers)).status_code == 200


# ================================================================================ status and log
async def test_status_shape_and_auth(
    app: Any, client: httpx.AsyncClient, factory: Factory, blizzard: BlizzardSetup
) -> None:
    officer = await factory.officer()
    member = await factory.member(level=3)
    assert (await client.get("/api/guild-sync/status")).status_code == 401
    assert (await client.get("/api/guild-sync/status", headers=member.headers)).status_code == 403
    # a valid upload key is not an officer
    assert (await client.get("/api/guild-sync/status", headers=key_headers())).status_code == 401

    response = await client.get("/api/guild-sync/status", headers=officer.headers)
    assert response.status_code == 200
    data = response.json()["data"]
    assert set(data["sources"]) == {"blizzard_api", "discord_bot", "addon_upload"}
    assert data["sources"]["blizzard_api"]["configured"] is False
    assert data["sources"]["blizzard_api"]["next_run_at"] is None
    assert data["sources"]["addon_upload"]["configured"] is True
    assert data["sources"]["addon_upload"]["last_run"] is None
    assert data["audit_channel_configured"] is False
    assert data["open_issues"] == {str(t): 0 for t in IssueType}

    blizzard()
    # next_run_at comes from the schedule, valid in any process (the scheduler is not started)
    app.state.guild_sync.settings = app.state.guild_sync.settings.model_copy(
        update={"scheduler_enabled": True}
    )
    await trigger_sync(app, client, officer)
    await post_upload(client, upload(row("Aldrameth")))
    data = (await client.get("/api/guild-sync/status", headers=officer.headers)).json()["data"]
    blizzard_source = data["sources"]["blizzard_api"]
    assert blizzard_source["configured"] is True and blizzard_source["running"] is False
    next_run = datetime.fromisoformat(blizzard_source["next_run_at"])
    assert next_run > datetime.now(UTC) and next_run.hour in (1, 7, 13, 19)
    assert (next_run.minute, next_run.second) == (0, 0)
    last = blizzard_source["last_run"]
    assert last["status"] == "success" and (last["found"], last["new"]) == (2, 2)
    assert blizzard_source["last_success_at"] == last["completed_at"]
    addon = data["sources"]["addon_upload"]["last_run"]
    assert addon["status"] == "success" and addon["found"] == 1
    discord = data["sources"]["discord_bot"]
    assert (discord["configured"], discord["state"], discord["next_run_at"]) == (
        False,
        "disabled",
        None,
    )
    # the pipeline after the sync found the unlinked characters
    assert data["open_issues"]["orphan_wow"] == 2
    assert set(data["open_issues"]) == {str(t) for t in IssueType}


async def test_log_is_newest_first_filterable_and_limited(
    app: Any, client: httpx.AsyncClient, factory: Factory, blizzard: BlizzardSetup
) -> None:
    officer = await factory.officer()
    member = await factory.member(level=3)
    blizzard()
    await trigger_sync(app, client, officer)
    for _ in range(2):
        assert (await post_upload(client, upload(row("Aldrameth")))).status_code == 200
    await trigger_sync(app, client, officer)

    assert (await client.get("/api/guild-sync/log")).status_code == 401
    assert (await client.get("/api/guild-sync/log", headers=member.headers)).status_code == 403
    everything = await client.get("/api/guild-sync/log", headers=officer.headers)
    assert everything.status_code == 200
    rows = everything.json()["data"]
    assert [r["source"] for r in rows] == [
        "blizzard_api",
        "addon_upload",
        "addon_upload",
        "blizzard_api",
    ]
    assert [r["id"] for r in rows] == sorted((r["id"] for r in rows), reverse=True)
    assert set(rows[0]) >= {
        "id", "source", "status", "characters_found", "characters_new", "characters_updated",
        "characters_removed", "error_message", "duration_seconds", "started_at", "completed_at",
        "details", "triggered_by",
    }  # fmt: skip
    only = await client.get(
        "/api/guild-sync/log", params={"source": "addon_upload"}, headers=officer.headers
    )
    assert [r["source"] for r in only.json()["data"]] == ["addon_upload", "addon_upload"]
    page = await client.get(
        "/api/guild-sync/log", params={"limit": 1, "offset": 1}, headers=officer.headers
    )
    assert [r["id"] for r in page.json()["data"]] == [rows[1]["id"]]
    top = await client.get("/api/guild-sync/log", params={"limit": 200}, headers=officer.headers)
    assert top.status_code == 200
    for params in ({"limit": 0}, {"limit": 201}, {"offset": -1}, {"source": "carrier_pigeon"}):
        bad = await client.get("/api/guild-sync/log", params=params, headers=officer.headers)
        assert bad.status_code == 422, params
        assert bad.json()["ok"] is False
