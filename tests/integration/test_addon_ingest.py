"""Addon uploads written into common.characters (real PostgreSQL): notes, officer-note
visibility, realm-key and name-only matching, creation on/off, idempotency, validation
messages, the sync_log row, the status summary and a 1,000-row upload."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from tests.conftest import count_rows

from sv_common.db import locks
from sv_common.db.models import Character
from sv_common.errors import Invalid
from sv_common.guild_sync.addon_ingest import (
    AddonIngestResult,
    ingest_addon_upload,
    last_upload_status,
    name_key,
    parse_upload,
    run_addon_upload,
)

NOW = datetime(2026, 2, 21, 18, 43, 11, tzinfo=UTC)
EXPORT = 1771699200  # 2026-02-21T18:40:00Z
GUILD = {
    "guild_name": "Pull All The Things",
    "home_realm_slug": "senjin",
    "home_realm_name": "Sen'jin",
}


def upload(*characters: dict[str, Any], **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "addon_version": "1.0.0",
        "uploaded_by": "companion_app",
        "export_time": EXPORT,
        "guild_name": "Pull All The Things",
        "characters": list(characters),
    }
    body.update(fields)
    return body


def row(name: str, realm: str | None = "Sen'jin", **fields: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"name": name, "is_online": False, "zone": "Dornogal"}
    if realm is not None:
        values["realm"] = realm
    values.update(fields)
    return values


async def ingest(
    app: Any, body: dict[str, Any], *, creates: bool = True, now: datetime = NOW
) -> AddonIngestResult:
    async with app.state.sessionmaker() as session, session.begin():
        return await ingest_addon_upload(
            session, body, creates_characters=creates, now=now, **GUILD
        )


async def add(app: Any, name: str, realm_slug: str = "senjin", **values: Any) -> int:
    async with app.state.sessionmaker() as session, session.begin():
        character = Character(name=name, realm_slug=realm_slug, **values)
        session.add(character)
        await session.flush()
        return character.id


async def characters(app: Any) -> dict[tuple[str, str], Character]:
    async with app.state.sessionmaker() as session:
        found = (await session.scalars(select(Character).order_by(Character.id))).all()
    return {(c.name, c.realm_slug): c for c in found}


async def test_notes_and_addon_fields_updated(app: Any) -> None:
    character_id = await add(
        app, "Aldrameth", realm_name="Sen'jin", origin="blizzard_sync", character_class="Druid",
        level=80, game_rank=0, game_rank_name="Guild Leader", guild_note="old",
    )  # fmt: skip
    result = await ingest(
        app,
        upload(
            row(
                "Aldrameth", class_name="Druid", class_file="DRUID", level=79, rank=2,
                rank_name="Veteran", guild_note="GM", officer_note="Discord: stonehoof",
            )
        ),
    )  # fmt: skip
    assert (result.received, result.updated, result.new) == (1, 1, 0)
    stored = (await characters(app))[("Aldrameth", "senjin")]
    assert stored.id == character_id
    assert (stored.guild_note, stored.officer_note) == ("GM", "Discord: stonehoof")
    assert stored.addon_last_seen == datetime(2026, 2, 21, 18, 40, tzinfo=UTC)
    assert stored.addon_last_sync == NOW
    # Known Blizzard values stay; the addon only fills gaps.
    assert (stored.level, stored.game_rank, stored.game_rank_name) == (80, 0, "Guild Leader")
    assert stored.removed_at is None


async def test_empty_note_clears_and_absent_note_is_left_alone(app: Any) -> None:
    await add(app, "Aldrameth", guild_note="GM", officer_note="keep me")
    await ingest(app, upload(row("Aldrameth", guild_note="")))
    stored = (await characters(app))[("Aldrameth", "senjin")]
    assert (stored.guild_note, stored.officer_note) == (None, "keep me")


async def test_officer_notes_kept_when_uploader_cannot_see_them(app: Any) -> None:
    await add(app, "Aldrameth", officer_note="Discord: stonehoof")
    await ingest(
        app,
        upload(row("Aldrameth", guild_note="new", officer_note=""), can_view_officer_note=False),
    )
    stored = (await characters(app))[("Aldrameth", "senjin")]
    assert (stored.guild_note, stored.officer_note) == ("new", "Discord: stonehoof")


async def test_missing_flag_means_officer_notes_are_visible(app: Any) -> None:
    await add(app, "Aldrameth", officer_note="old")
    body = upload(row("Aldrameth", officer_note="new"))
    assert "can_view_officer_note" not in body  # an older export without the flag
    await ingest(app, body)
    assert (await characters(app))[("Aldrameth", "senjin")].officer_note == "new"


async def test_gaps_filled_from_the_addon(app: Any) -> None:
    await add(app, "Zoëlle", "bleeding-hollow", origin="manual")
    await ingest(
        app,
        upload(
            row(
                "Zoëlle",
                "BleedingHollow",
                class_file="DEATHKNIGHT",
                level=80,
                rank=3,
                rank_name="Member",
            )
        ),
    )
    stored = (await characters(app))[("Zoëlle", "bleeding-hollow")]
    assert (stored.character_class, stored.level) == ("Death Knight", 80)
    assert (stored.game_rank, stored.game_rank_name) == (3, "Member")


async def test_realm_key_matching(app: Any) -> None:
    bleeding = await add(app, "Zoëlle", "bleeding-hollow", realm_name="Bleeding Hollow")
    home = await add(app, "Zoëlle", "senjin", realm_name="Sen'jin")
    result = await ingest(
        app,
        upload(
            row("ZOELLE", "BleedingHollow", guild_note="bh"),  # case and accent folded too
            row("Zoëlle", "Senjin", guild_note="home"),
        ),
    )
    assert (result.updated, result.new, result.ambiguous) == (2, 0, 0)
    stored = await characters(app)
    assert stored[("Zoëlle", "bleeding-hollow")].id == bleeding
    assert stored[("Zoëlle", "bleeding-hollow")].guild_note == "bh"
    assert stored[("Zoëlle", "senjin")].id == home
    assert stored[("Zoëlle", "senjin")].guild_note == "home"


async def test_name_only_matches_a_single_in_guild_character(app: Any) -> None:
    await add(app, "Brañix", "senjin")
    await add(app, "Branix", "area-52", removed_at=NOW - timedelta(days=3))  # left the guild
    await add(app, "Twin", "senjin")
    await add(app, "Twin", "area-52")
    result = await ingest(
        app,
        upload(
            row("Branix", realm=None, guild_note="unique"),
            row("Twin", realm=None, guild_note="which one?"),
            row("Nobody", realm=None),
        ),
    )
    assert (result.updated, result.ambiguous, result.new, result.not_found) == (1, 2, 0, 0)
    stored = await characters(app)
    assert stored[("Brañix", "senjin")].guild_note == "unique"
    assert stored[("Twin", "senjin")].guild_note is None
    assert stored[("Twin", "area-52")].guild_note is None


async def test_no_match_across_realms_by_name_alone(app: Any) -> None:
    await add(app, "Aldrameth", "senjin")
    result = await ingest(app, upload(row("Aldrameth", "Area52")), creates=False)
    assert (result.updated, result.not_found) == (0, 1)


async def test_unknown_characters_created_when_allowed(app: Any) -> None:
    await add(app, "Someone", "aerie-peak", realm_name="Aerie Peak")
    result = await ingest(
        app,
        upload(
            row(
                "Newbie",
                "AeriePeak",
                class_file="DEMONHUNTER",
                level=70,
                rank=4,
                rank_name="Initiate",
                guild_note="alt of X",
                officer_note="trial",
            ),
            row("Homeboy", "Sen'jin", class_file="UNKNOWN", level=0),
            row("Faraway", "Area52"),
            row("Spaced", "Bleeding Hollow"),
        ),  # fmt: skip
    )
    assert (result.new, result.updated, result.skipped) == (4, 0, 0)
    stored = await characters(app)
    newbie = stored[("Newbie", "aerie-peak")]
    assert newbie.origin == "addon" and newbie.member_id is None
    assert (newbie.realm_name, newbie.character_class, newbie.level) == (
        "Aerie Peak",
        "Demon Hunter",
        70,
    )
    assert (newbie.game_rank, newbie.game_rank_name) == (4, "Initiate")
    assert (newbie.guild_note, newbie.officer_note) == ("alt of X", "trial")
    assert (newbie.main_alt, newbie.role, newbie.removed_at) == ("alt", None, None)
    assert newbie.addon_last_seen == datetime.fromtimestamp(EXPORT, tz=UTC)
    assert newbie.blizzard_last_sync is None
    assert newbie.armory_url.endswith("/us/aerie-peak/newbie")
    homeboy = stored[("Homeboy", "senjin")]
    assert (homeboy.realm_name, homeboy.character_class, homeboy.level) == ("Sen'jin", None, None)
    assert stored[("Faraway", "area-52")].realm_name is None  # "Area52" is no display name
    assert stored[("Spaced", "bleeding-hollow")].realm_name == "Bleeding Hollow"


async def test_unknown_characters_counted_when_creation_is_off(app: Any) -> None:
    result = await ingest(app, upload(row("Newbie"), row("Other")), creates=False)
    assert (result.new, result.not_found) == (0, 2)
    async with app.state.sessionmaker() as session:
        assert await count_rows(session, "common.characters") == 0


async def test_reupload_is_idempotent(app: Any) -> None:
    await add(app, "Aldrameth", origin="blizzard_sync")
    body = upload(
        row("Aldrameth", guild_note="GM", officer_note="o"),
        row("Newbie", "AeriePeak", guild_note="n"),
        row("", guild_note="blank name"),
    )
    first = await ingest(app, body)
    before = await characters(app)
    second = await ingest(app, body, now=NOW + timedelta(minutes=5))
    after = await characters(app)
    assert (first.updated, first.new, first.skipped) == (1, 1, 1)
    assert (second.updated, second.new, second.skipped) == (2, 0, 1)
    assert set(after) == set(before)
    for key, character in after.items():
        earlier = before[key]
        assert character.id == earlier.id
        assert (character.guild_note, character.officer_note, character.addon_last_seen) == (
            earlier.guild_note,
            earlier.officer_note,
            earlier.addon_last_seen,
        )
        assert character.addon_last_sync == NOW + timedelta(minutes=5)


async def test_addon_never_changes_membership(app: Any) -> None:
    gone = NOW - timedelta(days=10)
    await add(app, "Leaver", removed_at=gone)
    await ingest(app, upload(row("Leaver", guild_note="still listed")))
    stored = (await characters(app))[("Leaver", "senjin")]
    assert stored.guild_note == "still listed" and stored.removed_at == gone


async def test_rows_with_bad_names_and_duplicates_are_skipped(app: Any) -> None:
    await add(app, "Aldrameth")
    result = await ingest(
        app,
        upload(
            row("   "),
            row("x" * 51),
            row("Aldrameth", guild_note="first"),
            row("aldrameth", guild_note="second"),
            row("Newbie", "AeriePeak"),
            row("NEWBIE", "AeriePeak"),
        ),
    )
    assert (result.received, result.updated, result.new, result.skipped) == (6, 1, 1, 4)
    assert (await characters(app))[("Aldrameth", "senjin")].guild_note == "first"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (upload(), "no characters in upload"),
        ({"guild_name": "Pull All The Things"}, "no characters in upload"),
        (upload(row("A"), guild_name="Other Guild"), "upload is for another guild"),
        (upload(row("A", level=201)), "characters.0.level: Input should be less than or equal to 200"),
        (upload(row("A"), row("B", rank=-1)), "characters.1.rank: Input should be greater than or equal to 0"),
        (upload(row("A", guild_note="x" * 501)), "characters.0.guild_note: String should have at most 500 characters"),
        (upload(row("A", level=True)), "characters.0.level: must be a number, not true/false"),
        (upload(*[row("A")] * 10_001), "characters: List should have at most 10000 items after validation, not 10001"),
        (upload(row("A"), export_time="yesterday"), "export_time: Input should be a valid number, unable to parse string as a number"),
        (upload(row("A"), export_time=EXPORT + 30 * 86400), "export_time is in the future"),
        (["not", "an", "object"], "upload must be a JSON object"),
    ],
)  # fmt: skip
async def test_validation_messages(app: Any, body: Any, message: str) -> None:
    with pytest.raises(Invalid) as caught:
        await ingest(app, body)
    assert caught.value.message == message
    assert caught.value.status_code == 422


def test_guild_name_compared_case_insensitively_and_unknown_keys_ignored() -> None:
    parsed = parse_upload(upload(row("A", mystery=1), guild_name="pull all the THINGS", extra=True))
    assert parsed.guild_name == "pull all the THINGS"
    assert parsed.can_view_officer_note is True


def test_name_key() -> None:
    assert name_key("Zoëlle") == name_key("ZOELLE") == "zoelle"
    assert name_key("Brañix") == "branix"
    assert name_key("stone.hoof_") == "stonehoof"
    assert name_key("Æsir") == "aesir"
    assert name_key(None) == ""


async def test_run_addon_upload_logs_and_reports_status(app: Any) -> None:
    sessionmaker, engine = app.state.sessionmaker, app.state.engine
    async with sessionmaker() as session:
        assert await last_upload_status(session) == dict.fromkeys(
            ("last_upload", "last_export_time", "status", "received", "addon_version")
        )
    result = await run_addon_upload(
        sessionmaker,
        engine,
        upload(row("Aldrameth"), row("Newbie")),
        creates_characters=True,
        **GUILD,
    )
    assert result.sync_log_id is not None
    assert result.as_response() == {
        "received": 2,
        "updated": 0,
        "new": 2,
        "not_found": 0,
        "ambiguous": 0,
        "skipped": 0,
        "sync_log_id": result.sync_log_id,
        "export_time": "2026-02-21T18:40:00+00:00",
    }
    async with sessionmaker() as session:
        logged = (
            await session.execute(
                text(
                    "SELECT source, status, characters_found, characters_new, triggered_by "
                    "FROM guild_identity.sync_log WHERE id = :id"
                ),
                {"id": result.sync_log_id},
            )
        ).one()
        status = await last_upload_status(session)
    assert tuple(logged) == ("addon_upload", "success", 2, 2, "companion")
    assert status["status"] == "success" and status["received"] == 2
    assert status["addon_version"] == "1.0.0"
    assert status["last_export_time"] == "2026-02-21T18:40:00+00:00"


async def test_run_addon_upload_rejects_before_logging(app: Any) -> None:
    with pytest.raises(Invalid):
        await run_addon_upload(
            app.state.sessionmaker, app.state.engine, upload(), creates_characters=True, **GUILD
        )
    async with app.state.sessionmaker() as session:
        assert await count_rows(session, "guild_identity.sync_log") == 0


async def test_run_addon_upload_busy_when_the_roster_is_locked(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sv_common.errors import Unavailable
    from sv_common.guild_sync import addon_ingest

    monkeypatch.setattr(addon_ingest, "LOCK_WAIT_SECONDS", 0.3)
    held = await locks.try_acquire(app.state.engine, locks.ROSTER_WRITE)
    assert held is not None
    try:
        with pytest.raises(Unavailable, match="busy, retry later"):
            await run_addon_upload(
                app.state.sessionmaker,
                app.state.engine,
                upload(row("Aldrameth")),
                creates_characters=True,
                **GUILD,
            )
    finally:
        await held.release()


async def test_thousand_rows_well_under_a_second(app: Any) -> None:
    letters = "abcdefghijklmnopqrstuvwxyz"
    names = [
        f"Char{letters[i // 26 % 26]}{letters[i % 26]}{letters[i // 676]}" for i in range(1000)
    ]
    first = upload(*(row(n, "Sen'jin", guild_note="n", class_file="MAGE", level=80) for n in names))
    created = await ingest(app, first)
    assert created.new == 1000
    second = upload(*(row(n, "Senjin", guild_note="changed") for n in names))
    started = time.perf_counter()
    result = await ingest(app, second)
    elapsed = time.perf_counter() - started
    assert result.updated == 1000
    assert elapsed < 1.0, f"1,000-row upload took {elapsed:.2f} s"
