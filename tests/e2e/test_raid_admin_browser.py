"""The raid admin dashboard and Mito's Corner in a real browser (60 §6, §7, §11): copy a
generated command, create the Thursday raid against the fake Raid-Helper, create an ad hoc event
in Pacific time, edit a quote inline — and the Raid-Helper key never reaches the browser."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from patt.raid.raid_helper import FakeRaidHelper
from patt.roster.availability import WeekFields, save_availability
from sv_common import clock
from sv_common.db.models import GuildRank, MitoQuote
from sv_common.identity import characters, classes, members
from tests.conftest import DEFAULT_PASSWORD
from tests.e2e.conftest import LiveServer, has_horizontal_scroll

SECRET_KEY = "rh-e2e-secret-key-0123456789"
SERVER_ID = "200000000000000000"
SIGNUP_CHANNEL = "300000000000000001"
EVENT_CHANNEL = "300000000000000002"
NOON_EASTERN = datetime(2025, 3, 5, 17, 0, tzinfo=UTC)
THURSDAY_CREATE = (
    "/create title:Heroic Raid date:2025-03-06 time:21:00 duration:120 template:wowretail2"
)
THURSDAY_SIGNUPS = (
    "# Auto-signed up (1):\n"
    "/adduser [EVENT_ID] @tankyhank class:Warrior spec:Tank\n"
    "\n"
    "# Tentative (1):\n"
    "/adduser [EVENT_ID] @leafybug class:Druid spec:Tentative\n"
    "\n"
    "# Marked absent (1):\n"
    "/adduser [EVENT_ID] @pewpewpat status:Absence\n"
    "\n"
    "# Wants 5pm reminder (1): leafybug"
)
ROSTER = [
    (
        "tankyhank",
        "100000000000000001",
        {"thursday", "friday", "saturday"},
        True,
        False,
        "",
        [("Shieldwall", "Warrior", "Protection", "tank", "main")],
    ),
    (
        "leafybug",
        "100000000000000002",
        {"monday", "thursday", "friday"},
        False,
        True,
        "Saturdays I coach little league",
        [("Leafybug", "Druid", "Restoration", "healer", "main")],
    ),
    (
        "pewpewpat",
        None,
        {"friday", "saturday", "sunday"},
        False,
        False,
        "<img src=x onerror=alert(1)>",
        [("Arrowmancer", "Hunter", "Survival", "melee_dps", "main")],
    ),
]


@pytest.fixture
def raid_tools(live_server: LiveServer) -> Iterator[FakeRaidHelper]:
    """Raid-Helper configured (key, server, channels) but answered by the fake; the spec's
    roster; the clock frozen at Wednesday 2025-03-05 12:00 Eastern. Restored afterwards."""
    app = live_server.app
    saved_settings, saved_helper = app.state.settings, app.state.raid_helper
    app.state.settings = saved_settings.model_copy(
        update={
            "raid_helper_api_key": SECRET_KEY,
            "discord_guild_id": SERVER_ID,
            "discord_channel_raid_signup": SIGNUP_CHANNEL,
            "discord_channel_event_signup": EVENT_CHANNEL,
        }
    )
    fake = FakeRaidHelper()
    app.state.raid_helper = fake
    clock.set_now(NOON_EASTERN)

    async def seed(session: Any) -> None:
        rank_id = await session.scalar(select(GuildRank.id).where(GuildRank.level == 2))
        for discord, snowflake, days, auto, reminders, notes, chars in ROSTER:
            member = await members.create_member(
                session,
                actor=None,
                discord_username=discord,
                rank_id=rank_id,
                discord_id=snowflake,
                on_raid_roster=True,
            )
            for name, cls, spec, role, main_alt in chars:
                await characters.add_character(
                    session,
                    actor=None,
                    member_id=member.id,
                    name=name,
                    realm="Sen'jin",
                    wow_class=cls,
                    spec=spec,
                    role=role,
                    main_alt=main_alt,
                )
            await save_availability(
                session,
                member_id=member.id,
                week=WeekFields(
                    days={day: day in days for day in classes.DAYS},
                    auto_signup=auto,
                    wants_reminders=reminders,
                    notes=notes,
                ),
            )

    live_server.in_session(seed)
    live_server.create_member("officerbob", level=4, discord_id="100000000000000099")
    yield fake
    app.state.settings, app.state.raid_helper = saved_settings, saved_helper
    clock.reset()


def login(page: Any, next_path: str) -> None:
    """Log in as the officer through the login form and land on `next_path`."""
    page.goto(f"/login?next={next_path}")
    form = page.locator("form[action^='/login']")
    form.locator("input[name=discord_username]").fill("officerbob")
    form.locator("input[name=password]").fill(DEFAULT_PASSWORD)
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    assert page.url.endswith(next_path), page.url


def watch_traffic(page: Any) -> list[str]:
    """Every request body, header set and API response text the page exchanges."""
    seen: list[str] = []
    page.on("request", lambda r: seen.append(f"{r.url} {r.headers} {r.post_data or ''}"))

    def on_response(response: Any) -> None:
        try:
            seen.append(response.text())
        except Exception:  # redirects and aborted requests have no body
            pass

    page.on("response", on_response)
    return seen


def test_copy_commands_and_create_the_thursday_raid(
    raid_tools: FakeRaidHelper, new_context: Any, screenshot: Any
) -> None:
    context = new_context(permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    traffic = watch_traffic(page)
    login(page, "/raid-admin")

    days = page.locator("#ra-days .ra-day")
    days.first.wait_for()
    assert days.count() == 7
    assert [days.nth(i).locator(".ra-day__date").inner_text() for i in range(7)] == [
        "Mar 9",
        "Mar 10",
        "Mar 11",
        "Mar 12",
        "Mar 6",
        "Mar 7",
        "Mar 8",
    ]
    badges = {
        page.locator(f'.ra-day[data-day="{d}"] .ra-day__badge').inner_text(): d
        for d in ("friday", "thursday", "saturday")
    }
    assert badges == {"1": "friday", "2": "thursday", "3": "saturday"}
    page.locator("#ra-conn-text", has_text="Roster connected").wait_for()

    page.locator('.ra-day[data-day="thursday"]').click()
    assert page.locator("#ra-day-title").inner_text() == "Thursday Raid — Mar 6"
    tiles = [
        page.locator(f"#ra-count-{r}").inner_text() for r in ("tank", "healer", "melee", "ranged")
    ]
    assert tiles == ["1", "1", "0", "0"]
    available = page.locator("#ra-available-body")
    assert "✓ Auto" in available.locator("tr", has_text="tankyhank").inner_text()
    assert "Tentative" in available.locator("tr", has_text="leafybug").inner_text()
    page.locator("#ra-tab-unavailable").click()
    reason = page.locator("#ra-unavailable-body tr", has_text="pewpewpat").locator(".ra-reason")
    assert reason.inner_text() == "<img src=x onerror=alert(1)>"  # literal text, no dialog

    # Manual fallback: the exact texts, copied to the clipboard on click.
    page.locator("#ra-fallback summary").click()
    create_box = page.locator("#ra-cmd-create")
    assert create_box.locator(".cmd-box__text").inner_text() == THURSDAY_CREATE
    assert page.locator("#ra-cmd-signups .cmd-box__text").inner_text() == THURSDAY_SIGNUPS
    create_box.click()
    create_box.locator(".cmd-box__hint", has_text="✓ Copied!").wait_for()
    assert page.evaluate("() => navigator.clipboard.readText()") == THURSDAY_CREATE
    page.locator("#ra-cmd-signups").click()
    page.locator("#ra-cmd-signups .cmd-box__hint", has_text="✓ Copied!").wait_for()
    assert page.evaluate("() => navigator.clipboard.readText()") == THURSDAY_SIGNUPS

    quick = page.locator("#ra-quick .ra-quick__item")
    assert quick.count() == 3
    assert "Friday" in quick.nth(0).inner_text() and "(3: 1T/1H/1M/0R)" in quick.nth(0).inner_text()

    # One click: the server creates the event and the signups through the fake.
    button = page.locator("#ra-create-btn")
    assert button.inner_text() == "🚀 Create Event in Discord"
    button.click()
    status = page.locator("#ra-create-status")
    status.get_by_text("✅ Event created! ID: 1234567890").wait_for()
    assert "Added 2/2 signups." in status.inner_text()
    assert "Skipped (no Discord ID): pewpewpat" in status.inner_text()
    assert len(raid_tools.creates) == 1
    assert raid_tools.creates[0]["payload"]["description"] == "Roster auto-generated. 2 available."
    assert [c["payload"] for c in raid_tools.signups] == [
        {"userId": "100000000000000001", "className": "Tank", "specName": "Protection"},
        {"userId": "100000000000000002", "className": "Tentative"},
    ]
    screenshot(page, "thursday-created")
    assert dialogs == []
    assert not any(SECRET_KEY in entry for entry in traffic)
    assert SECRET_KEY not in page.content()


def test_create_button_explains_what_is_missing(
    raid_tools: FakeRaidHelper, live_server: LiveServer, page: Any
) -> None:
    live_server.app.state.settings = live_server.app.state.settings.model_copy(
        update={"discord_channel_raid_signup": ""}
    )
    login(page, "/raid-admin")
    page.locator('.ra-day[data-day="friday"]').click()
    button = page.locator("#ra-create-btn")
    assert button.is_disabled()
    assert button.inner_text() == "⚠️ Configure: Signup Channel ID"
    assert page.locator("#ra-pv-channel").inner_text() == "⚠️ Not set"
    assert raid_tools.calls == []


def test_pacific_event_is_created_in_eastern_time(raid_tools: FakeRaidHelper, page: Any) -> None:
    login(page, "/raid-admin")
    page.locator('.ra-nav__link[data-page="create"]').click()
    page.locator(".ra-type-tile", has_text="Social").click()
    assert page.locator("#ev-title").input_value() == "Social Night"
    page.locator("#ev-date").fill("2025-03-07")
    page.locator("#ev-time").fill("22:30")
    page.locator("#ev-tz").select_option("PST")
    page.locator("#ev-submit").click()
    page.locator("#ev-status", has_text="✅ Event created! Event ID: 1234567890").wait_for()
    payload = raid_tools.creates[0]["payload"]
    assert (payload["date"], payload["time"]) == ("2025-03-08", "01:30")
    assert raid_tools.creates[0]["channel_id"] == EVENT_CHANNEL
    assert payload["title"] == "Social Night"


def test_sidebar_stays_reachable_on_a_phone(
    raid_tools: FakeRaidHelper, new_context: Any, screenshot: Any
) -> None:
    page = new_context(phone=True).new_page()
    login(page, "/raid-admin")
    page.locator("#ra-days .ra-day").first.wait_for()
    screenshot(page, "phone-schedule")
    link = page.locator('.ra-nav__link[data-page="discord"]')
    assert link.is_visible()
    link.click()
    page.get_by_role("heading", name="🔗 Discord IDs").wait_for()
    assert not has_horizontal_scroll(page)


def test_edit_a_quote_inline(
    raid_tools: FakeRaidHelper, live_server: LiveServer, page: Any, screenshot: Any
) -> None:
    async def seed(session: Any) -> None:
        session.add(MitoQuote(quote="Bubble first, ask questions never."))
        session.add(MitoQuote(quote="<script>alert('x')</script>"))

    live_server.in_session(seed)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    login(page, "/mitos-corner")
    items = page.locator("#mito-quotes .mito-item")
    assert items.nth(1).locator(".mito-item__text").inner_text() == "<script>alert('x')</script>"

    first = items.nth(0)
    first.get_by_role("button", name="✏️ Edit").click()
    editor = first.locator(".mito-item__editor")
    assert editor.input_value() == "Bubble first, ask questions never."
    editor.fill("Changed my mind")
    first.get_by_role("button", name="❌ Cancel").click()
    assert first.locator(".mito-item__text").inner_text() == "Bubble first, ask questions never."

    first.get_by_role("button", name="✏️ Edit").click()
    first.locator(".mito-item__editor").fill("Bubble first, apologise later.")
    first.get_by_role("button", name="💾 Save").click()
    page.locator("#mito-banner", has_text="Quote updated").wait_for()
    assert first.locator(".mito-item__text").inner_text() == "Bubble first, apologise later."

    page.reload()
    texts = page.locator("#mito-quotes .mito-item__text").all_inner_texts()
    assert texts[0] == "Bubble first, apologise later."
    assert dialogs == []
    screenshot(page, "mitos-corner")


def test_every_panel_shows_the_roster_and_settings(
    raid_tools: FakeRaidHelper, page: Any, screenshot: Any
) -> None:
    login(page, "/raid-admin")
    page.locator("#ra-conn-text", has_text="Roster connected").wait_for()

    page.locator('.ra-nav__link[data-page="roster"]').click()
    rows = page.locator("#ra-roster-body tr")
    assert rows.count() == 3
    pew = page.locator("#ra-roster-body tr", has_text="pewpewpat")
    tank = page.locator("#ra-roster-body tr", has_text="tankyhank")
    assert "⚠ No ID" in pew.inner_text() and "✓ ID Set" in tank.inner_text()
    assert "✓ Yes" in tank.inner_text()  # auto-signup
    screenshot(page, "roster-status")

    page.locator('.ra-nav__link[data-page="settings"]').click()
    assert page.locator("#set-title").input_value() == "Heroic Raid"
    assert page.locator("#set-duration").input_value() == "120"
    assert page.locator("#set-leader").input_value() == "100000000000000099"
    assert page.locator("#set-key-status").inner_text() == "✓ configured"
    screenshot(page, "settings")

    page.locator('.ra-nav__link[data-page="templates"]').click()
    assert page.locator("#ra-templates .ra-template").count() == 7
    screenshot(page, "templates")

    page.locator('.ra-nav__link[data-page="discord"]').click()
    assert "pewpewpat" in page.locator("#ids-flagged").inner_text()
    assert page.locator("#ids-rows input").count() == 3
    screenshot(page, "discord-ids")

    page.locator('.ra-nav__link[data-page="create"]').click()
    assert page.locator("#ev-date").input_value() == "2025-03-05"
    assert page.locator("#ev-title").input_value() == "Old Raid Night"
    assert page.locator(".ra-type-tile__name").all_inner_texts() == [
        "Old Raids",
        "Achievements",
        "Mythic+",
        "PvP",
        "Farming",
        "Social",
        "Other",
    ]
    screenshot(page, "create-event")


def test_settings_are_kept_per_browser_and_feed_the_commands(
    raid_tools: FakeRaidHelper, page: Any
) -> None:
    page.goto("/login")
    page.evaluate(
        """() => localStorage.setItem("patt_admin_config",
             JSON.stringify({apiKey: "old-browser-key", defaultTemplate: "wowretail2"}))"""
    )
    login(page, "/raid-admin")
    page.locator(
        "#flash-area", has_text="The Raid-Helper key is now stored on the server."
    ).wait_for()
    stored = page.evaluate("() => JSON.parse(localStorage.getItem('patt_admin_config'))")
    assert "apiKey" not in stored

    page.locator('.ra-nav__link[data-page="settings"]').click()
    page.locator("#set-title").fill("Mythic Prog")
    page.get_by_role("button", name="Save Settings").click()
    page.locator("#flash-area", has_text="Settings saved").wait_for()
    page.reload()
    page.locator('.ra-nav__link[data-page="settings"]').click()
    assert page.locator("#set-title").input_value() == "Mythic Prog"
    page.locator('.ra-nav__link[data-page="schedule"]').click()
    page.locator('.ra-day[data-day="friday"]').click()
    assert page.locator("#ra-cmd-create .cmd-box__text").text_content() == (
        "/create title:Mythic Prog date:2025-03-07 time:21:00 duration:120 template:wowretail2"
    )

    page.locator('.ra-nav__link[data-page="settings"]').click()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Reset to Config File Defaults").click()
    page.locator("#flash-area", has_text="config file defaults").wait_for()
    assert page.locator("#set-title").input_value() == "Heroic Raid"


def test_add_delete_and_preview_quotes_and_titles(raid_tools: FakeRaidHelper, page: Any) -> None:
    login(page, "/mitos-corner")
    banner = page.locator("#mito-banner")
    quote_input = page.locator("#mito-quote-input")

    page.get_by_role("button", name="➕ Add Quote").click()
    assert banner.inner_text() == "Type something first!"
    quote_input.fill("x" * 600)
    page.get_by_role("button", name="➕ Add Quote").click()
    page.locator(
        "#mito-banner", has_text="Quote is too long (600 characters, at most 500)."
    ).wait_for()

    quote_input.fill("Bubble first, ask questions never.")
    page.get_by_role("button", name="➕ Add Quote").click()
    page.locator("#mito-banner", has_text="Quote added!").wait_for()
    quote_input.fill("Stand in the good stuff.")
    quote_input.press("Control+Enter")
    page.locator("#mito-quotes .mito-item").nth(1).wait_for()
    assert page.locator("#mito-quotes .mito-item__num").all_inner_texts() == ["1.", "2."]
    assert quote_input.input_value() == ""

    page.get_by_role("tab", name="🏆 Titles").click()
    page.locator("#mito-title-input").fill("Keeper of the Holy Light Switch")
    page.locator("#mito-title-input").press("Enter")
    page.locator("#mito-titles .mito-item").first.wait_for()

    page.get_by_role("tab", name="📜 Quotes").click()
    second = page.locator("#mito-quotes .mito-item").nth(1)
    page.once("dialog", lambda dialog: dialog.dismiss())
    second.get_by_role("button", name="🗑️ Delete").click()
    assert page.locator("#mito-quotes .mito-item").count() == 2
    page.once("dialog", lambda dialog: dialog.accept())
    second.get_by_role("button", name="🗑️ Delete").click()
    page.locator("#mito-banner", has_text="Quote deleted!").wait_for()
    assert page.locator("#mito-quotes .mito-item").count() == 1

    page.get_by_role("tab", name="👀 Preview").click()
    assert page.locator("#mito-preview-quote").inner_text() == (
        "“Bubble first, ask questions never.”"
    )
    assert (
        page.locator("#mito-preview-by").inner_text() == "— Mito, Keeper of the Holy Light Switch"
    )

    page.reload()
    assert page.locator("#mito-quotes .mito-item__text").all_inner_texts() == [
        "Bubble first, ask questions never."
    ]
