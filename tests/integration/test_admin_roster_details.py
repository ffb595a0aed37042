"""The admin roster's character rows show what the syncs know about each character: level,
item level, last login, the guild note and the officer note (the page is Officer+)."""

from __future__ import annotations

import html as html_lib
import re
from datetime import UTC, datetime
from typing import Any

import httpx
from tests.conftest import Factory

from sv_common.db.models import Character
from sv_common.identity import characters

ROSTER = "/admin/roster"


def character_entry(html: str, character_id: int) -> str:
    """What a reader sees of one character entry (tags dropped, whitespace collapsed)."""
    start = html.index(f'id="char-{character_id}"')
    chunk = html[start : html.index("</li>", start)]
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", chunk)).split())


async def test_character_rows_show_level_item_level_login_and_notes(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    officer = await factory.officer(username="olga", display_name="Olga")
    moon = await factory.member(username="moonbeard", display_name="Moon", registered=False)
    async with app.state.sessionmaker() as session, session.begin():
        synced = await characters.add_character(
            session,
            actor=None,
            member_id=moon.id,
            name="Moonbeard",
            realm="Sen'jin",
            wow_class="Druid",
            spec="Balance",
        )
        bare = await characters.add_character(
            session,
            actor=None,
            member_id=moon.id,
            name="Moonalt",
            realm="Sen'jin",
            wow_class="Mage",
        )
        row = await session.get(Character, synced.id)
        assert row is not None
        row.level, row.item_level = 80, 624
        row.last_login_at = datetime(2026, 3, 1, 18, 5, tzinfo=UTC)
        row.guild_note = "Main: Moonbeard <raider>"
        row.officer_note = "<script>alert('on trial')</script> until March"
        synced_id, bare_id = synced.id, bare.id
    client.cookies.set("patt_token", officer.token or "")
    response = await client.get(ROSTER)
    assert response.status_code == 200
    html = response.text

    seen = character_entry(html, synced_id)
    assert "Level 80" in seen and "Item level 624" in seen
    assert "Last login 2026-03-01 18:05 UTC" in seen
    assert "Guild note: Main: Moonbeard <raider>" in seen
    assert "Officer note: <script>alert('on trial')</script> until March" in seen
    # notes are text, never markup
    assert "<script>alert" not in html and "&lt;raider&gt;" in html

    # a character the syncs never saw says so instead of showing blanks
    unseen = character_entry(html, bare_id)
    assert "Level — Item level — Last login unknown" in unseen
    assert "Guild note" not in unseen and "Officer note" not in unseen
