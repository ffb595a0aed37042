"""Campaigns in Discord in a real browser: the edit page's Discord card (announcements, reminder
counts, members a reminder missed) fits a 390 px phone, and the create form's
"Announce in Discord" box is on by default and can be turned off."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from patt.campaigns import announcer, reminders
from sv_common import clock
from sv_common.db.models import Campaign
from tests.e2e.conftest import LiveServer, has_horizontal_scroll
from tests.e2e.test_vote_browser import create_campaign, log_in

REACHED = "100000000000000201"
CLOSED_DMS = "100000000000000202"
LONG_NAME = "Thunderhoof" * 8  # no spaces: has to wrap anywhere


def test_discord_card_fits_a_phone(
    live_server: LiveServer, phone_page: Any, screenshot: Any
) -> None:
    officer = live_server.create_member("stonehoof", level=4, discord_id=REACHED)
    live_server.create_member("shytauren", level=2, display_name=LONG_NAME, discord_id=CLOSED_DMS)
    live_server.create_member("unlinked", level=2, display_name="Unlinked " + LONG_NAME)
    live_server.write_discord_members(
        [{"id": REACHED, "username": "stonehoof"}, {"id": CLOSED_DMS, "username": "shytauren"}]
    )
    app = live_server.app
    app.state.discord.dms_closed.add(CLOSED_DMS)
    campaign_id, _ = create_campaign(
        live_server, officer, title="Banner " * 20, discord_channel_id="300000000000000001"
    )
    factory, service, settings = app.state.sessionmaker, app.state.discord, app.state.settings
    live_server.run(announcer.run_announcement_pass(factory, service, settings))
    counts = live_server.run(
        reminders.run_reminder_pass(
            factory, service, settings, now=clock.now() + timedelta(hours=150)
        )
    )
    assert counts == {campaign_id: {"sent": 1, "dms_closed": 1, "no_discord": 1}}

    log_in(phone_page, officer, f"/admin/campaigns/{campaign_id}/edit")
    card = phone_page.locator("#discord-card")
    text = card.inner_text()
    assert "launch · posted" in text
    assert "1 sent · 1 failed · 1 without Discord" in text
    assert LONG_NAME in phone_page.locator("#discord-dm-failures").inner_text()
    assert "Unlinked" in phone_page.locator("#discord-no-account").inner_text()
    assert not has_horizontal_scroll(phone_page), "the edit page scrolls sideways at 390 px"
    screenshot(phone_page, "phone-discord-card")

    # the switch silences the running campaign
    phone_page.locator("#discord-switch-box").uncheck()
    phone_page.locator("#discord-switch button[type=submit]").click()
    phone_page.wait_for_selector("#discord-off")
    assert "Discord announcements off." in phone_page.locator("#flash-area").inner_text()
    assert not phone_page.locator("#discord-switch-box").is_checked()
    assert not has_horizontal_scroll(phone_page)


def test_create_form_turns_announcements_off(
    live_server: LiveServer, page: Any, phone_page: Any
) -> None:
    officer = live_server.create_member("stonehoof", level=4)
    log_in(page, officer, "/admin/campaigns/new")
    box = page.locator("#announce_in_discord")
    assert box.is_checked()
    page.fill("#title", "Quiet poll")
    page.select_option("#min_rank_to_vote", "2")
    box.uncheck()
    page.locator("#campaign-form button[type=submit]").click()
    page.wait_for_selector("#actions-card")
    assert not page.locator("#announce_in_discord").is_checked()

    async def stored(session: Any) -> list[bool]:
        return list((await session.scalars(select(Campaign.announce_in_discord))).all())

    assert live_server.in_session(stored) == [False]
    log_in(phone_page, officer, "/admin/campaigns/new")
    assert not has_horizontal_scroll(phone_page)
