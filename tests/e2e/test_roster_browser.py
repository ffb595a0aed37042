"""The roster sign-up form and the roster view in a real browser (60 §4, §5, §11): the class →
spec → role cascade, blocked empty submits, sign-up → roster view, escaping of notes, the three
views on the §10.9 fixture with the clock frozen, error/empty states, and phone screens."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text

from sv_common import clock
from sv_common.guild_sync import sheet_import
from tests.e2e.conftest import LiveServer, has_horizontal_scroll

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "sheet_export.json"
SCRIPT_NOTE = "<img src=x onerror=alert(1)>"
WOWHEAD_URL = (
    "https://www.wowhead.com/raid-composition#0ryFm;Leafybug;Arrowmancer;Shivvy;Shieldwall"
)


def load_fixture(live_server: LiveServer) -> None:
    export = sheet_import.load_json_export(FIXTURE.read_bytes(), source=FIXTURE.name)
    plan = sheet_import.plan_import(export)

    async def work(session: Any) -> None:
        await sheet_import.apply_plan(session, plan, sheet_import.ImportOptions())

    live_server.in_session(work)


def query(live_server: LiveServer, sql: str) -> list[tuple[Any, ...]]:
    async def work(session: Any) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in (await session.execute(text(sql))).all()]

    return list(live_server.in_session(work))


def fail_on_dialog(page: Any) -> list[str]:
    """Collect every dialog (an injected script would open one)."""
    seen: list[str] = []

    def handle(dialog: Any) -> None:
        seen.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", handle)
    return seen


def spec_options(page: Any) -> list[str]:
    return [o for o in page.locator("#spec option").all_inner_texts() if o != "Select spec…"]


def checked_role(page: Any) -> str | None:
    return page.evaluate(
        "() => { const r = document.querySelector('input[name=role]:checked'); "
        "return r ? r.value : null; }"
    )


def fill_character(page: Any, name: str, wow_class: str, spec: str, main_alt: str) -> None:
    page.fill("#characterName", name)
    page.select_option("#class", wow_class)
    page.select_option("#spec", spec)
    page.locator(f".rf-tile:has(input[name=mainAlt][value={main_alt}])").click()


def test_class_spec_role_cascade_and_blocked_empty_submit(
    live_server: LiveServer, page: Any
) -> None:
    page.goto("/roster")
    page.select_option("#class", "Evoker")
    assert spec_options(page) == ["Devastation", "Preservation", "Augmentation"]
    for wow_class, spec, role in [
        ("Mage", "Frost", "Ranged"),
        ("Death Knight", "Frost", "Melee"),
        ("Priest", "Holy", "Healer"),
        ("Paladin", "Protection", "Tank"),
        ("Hunter", "Survival", "Melee"),
    ]:
        page.select_option("#class", wow_class)
        assert page.input_value("#spec") == ""  # a class change clears the spec
        page.select_option("#spec", spec)
        assert checked_role(page) == role, (wow_class, spec)
    assert page.locator(".rf-tile--melee").get_attribute("class").count("is-checked") == 1

    sent: list[str] = []
    page.on(
        "request",
        lambda request: sent.append(request.url) if "roster-submit" in request.url else None,
    )
    page.fill("#characterName", "")
    page.click("#submit-btn")
    assert page.locator("#form-status").inner_text().startswith("✗")
    assert page.locator("#discordName.is-invalid").count() == 1
    page.wait_for_timeout(200)
    assert sent == []


def test_sign_up_then_see_yourself_on_the_roster_view(
    live_server: LiveServer, page: Any, screenshot: Any
) -> None:
    dialogs = fail_on_dialog(page)
    page.goto("/roster")
    page.fill("#discordName", "stabbyrae")
    fill_character(page, "shivvy", "Rogue", "Outlaw", "Main")
    assert checked_role(page) == "Melee"
    page.locator(".rf-day:has(input[value=thursday])").click()
    page.locator(".rf-day:has(input[value=friday])").click()
    page.locator(".rf-pref:has(#wantsReminders)").click()
    page.fill("#notes", SCRIPT_NOTE)
    page.click("#submit-btn")
    status = page.locator("#form-status.rf-status--success")
    status.wait_for()
    assert status.inner_text() == (
        "✓ Saved! Shivvy is on the roster. Submit the form again to add an alt."
    )
    screenshot(page, "signed-up")

    # name, week, preferences and notes kept; character fields cleared
    assert page.input_value("#discordName") == "stabbyrae"
    assert page.input_value("#characterName") == ""
    assert page.input_value("#class") == "" and page.input_value("#spec") == ""
    assert checked_role(page) is None
    assert page.is_checked("input[value=thursday]") and page.is_checked("#wantsReminders")
    assert page.input_value("#notes") == SCRIPT_NOTE
    assert page.locator(".rf-tile.is-checked").count() == 0

    assert query(
        live_server,
        "SELECT m.discord_username, r.name, c.name, c.realm_name, c.origin, c.role, c.main_alt "
        "FROM common.characters c JOIN common.guild_members m ON m.id = c.member_id "
        "JOIN common.guild_ranks r ON r.id = m.rank_id",
    ) == [("stabbyrae", "Initiate", "Shivvy", "Sen'jin", "roster_form", "melee_dps", "main")]
    assert query(
        live_server,
        "SELECT count(*), count(*) FILTER (WHERE available) FROM common.member_availability",
    ) == [(7, 2)]

    # an alt keeps the main
    fill_character(page, "Glowbert", "Paladin", "Holy", "Alt")
    page.click("#submit-btn")
    page.locator("#form-status.rf-status--success").wait_for()
    assert query(live_server, "SELECT name, main_alt FROM common.characters ORDER BY name") == [
        ("Glowbert", "alt"),
        ("Shivvy", "main"),
    ]

    page.click("text=📊 View the roster")
    page.wait_for_url("**/roster-view")
    page.locator("#day-bars .rv-bar").first.wait_for()
    thursday = page.locator(".rv-bar[data-day=thursday]")
    assert "1/1" in thursday.inner_text() and thursday.get_attribute("data-percent") == "100"
    page.click(".rv-bar[data-day=monday]")
    detail = page.locator("#day-detail")
    assert "Monday — Who's Out?" in detail.inner_text()
    assert page.locator(".rv-out__reason").inner_text() == SCRIPT_NOTE  # literal text
    assert page.locator("#day-detail img").count() == 0

    page.click("button[data-view=roster]")
    assert "view=roster" in page.url
    assert page.locator("#roster-rows tr").count() == 1
    page.uncheck("#mains-only")
    rows = page.locator("#roster-rows tr")
    assert rows.count() == 2
    assert "Shivvy" in rows.nth(0).inner_text() and "Glowbert" in rows.nth(1).inner_text()
    assert dialogs == []


def test_a_known_name_prefills_the_week(live_server: LiveServer, page: Any) -> None:
    load_fixture(live_server)
    page.goto("/roster")
    page.fill("#discordName", "LeafyBug")
    page.locator("#characterName").focus()  # blur the name field
    page.locator("#form-status.rf-status--info").wait_for()
    days = [
        d
        for d in ("monday", "thursday", "friday", "saturday")
        if page.is_checked(f"input[value={d}]")
    ]
    assert days == ["monday", "thursday", "friday"]
    assert page.is_checked("#wantsReminders") and not page.is_checked("#autoSignup")
    assert page.input_value("#notes") == "Saturdays I coach little league"


def test_server_errors_highlight_fields_and_write_nothing(
    live_server: LiveServer, page: Any
) -> None:
    load_fixture(live_server)
    page.goto("/roster")
    page.fill("#discordName", "newbie")
    fill_character(page, "Shieldwall", "Warrior", "Protection", "Main")  # tankyhank's
    page.click("#submit-btn")
    page.locator("#form-status.rf-status--error").wait_for()
    assert page.locator("#form-status").inner_text() == (
        "✗ That character is already claimed by another member."
    )
    assert not page.is_disabled("#submit-btn")
    assert page.input_value("#characterName") == "Shieldwall"  # input kept
    assert query(live_server, "SELECT count(*) FROM common.guild_members") == [(4,)]

    page.fill("#discordName", "Leafy Bug")
    page.click("#submit-btn")
    assert page.locator("#discordName.is-invalid").count() == 1
    assert query(live_server, "SELECT count(*) FROM common.guild_members") == [(4,)]


def test_the_three_views_on_the_fixture(
    live_server: LiveServer, page: Any, screenshot: Any
) -> None:
    load_fixture(live_server)
    clock.set_now(datetime(2025, 3, 5, 17, 0, tzinfo=UTC))  # Wednesday noon Eastern
    page.goto("/roster-view")
    page.locator("#day-bars .rv-bar").first.wait_for()
    assert page.locator("#availability-title").inner_text() == (
        "Team Availability by Day (9:00 pm–11:00 pm Eastern)"
    )
    bars = {
        bar.get_attribute("data-day"): (
            bar.locator(".rv-bar__count").inner_text(),
            bar.get_attribute("data-percent"),
            bar.get_attribute("class"),
        )
        for bar in page.locator(".rv-bar").all()
    }
    assert list(bars) == [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ]
    assert bars["monday"][:2] == ("1/3", "33") and "rv-bar--poor" in bars["monday"][2]
    assert bars["tuesday"][:2] == ("0/3", "0")
    assert bars["thursday"][:2] == ("2/3", "67") and "rv-bar--fair" in bars["thursday"][2]
    assert bars["friday"][:2] == ("3/3", "100") and "rv-bar--good" in bars["friday"][2]
    assert bars["saturday"][:2] == ("2/3", "67") and bars["sunday"][:2] == ("1/3", "33")
    assert page.locator("#best-days-list").inner_text() == "Friday, Thursday, Saturday"

    page.click(".rv-bar[data-day=saturday]")
    items = page.locator(".rv-out__item")
    assert items.count() == 1
    assert items.inner_text().split("\n") == ["leafybug", "Saturdays I coach little league"]
    page.click(".rv-bar[data-day=saturday]")
    assert page.locator("#day-detail").is_hidden()
    page.click(".rv-bar[data-day=friday]")
    assert "Everyone is available on Friday" in page.locator("#day-detail").inner_text()
    screenshot(page, "availability")

    page.goto("/roster-view?view=roster")
    page.locator("#roster-rows tr").first.wait_for()
    assert page.is_checked("#mains-only")
    assert page.locator("#roster-rows tr").count() == 4
    page.uncheck("#mains-only")
    assert page.locator("#roster-rows tr").count() == 5
    first = page.locator("#roster-rows tr").first
    assert first.locator("td").nth(1).get_attribute("class") == "rv-char class-druid"
    assert first.locator(".role-chip--healer").inner_text() == "Healer"
    assert "Druid - Restoration" in first.inner_text() and "⭐ Main" in first.inner_text()
    screenshot(page, "full-roster")

    page.goto("/roster-view?view=composition")
    page.locator("#count-tank").wait_for()
    counts = [
        page.locator(f"#count-{r}").inner_text() for r in ("tank", "healer", "melee", "ranged")
    ]
    assert counts == ["1", "1", "2", "0"]
    assert page.locator("#need-healer").inner_text() == "Need: 4-5"
    assert page.locator(".rv-class--none").count() == 9
    gaps = page.locator("#gap-list li").all_inner_texts()
    assert len(gaps) == 4 and gaps[0].startswith("Missing classes: Death Knight, Demon Hunter")
    assert gaps[1:] == [
        "Tanks: need 1 more tank",
        "Healers: need 3 more healers",
        "DPS: need 11 more DPS for a full roster",
    ]
    assert (
        page.locator("#wowhead-summary").inner_text()
        == "Ready to export 4 mains: 1T / 1H / 2M / 0R"
    )
    page.context.route("https://www.wowhead.com/**", lambda route: route.fulfill(body="ok"))
    with page.context.expect_page() as opened:
        page.click("#wowhead-btn")
    assert opened.value.url == WOWHEAD_URL
    assert page.locator("#wowhead-result").inner_text() == "✓ Exported 4 characters"
    screenshot(page, "composition")


def test_empty_and_failing_roster_view(live_server: LiveServer, page: Any) -> None:
    page.goto("/roster-view")
    page.locator("#availability-empty").wait_for()
    assert page.locator("#availability-empty").inner_text() == "No availability data yet."
    assert page.locator("#best-days").is_hidden()
    page.click("button[data-view=roster]")
    assert page.locator("#roster-rows").inner_text() == "No characters registered yet"

    page.route("**/api/v1/guild/roster-data", lambda route: route.fulfill(status=500, body="{}"))
    page.reload()
    page.locator("#rv-error").wait_for()
    assert "couldn't load roster data" in page.locator("#rv-error").inner_text()
    page.unroute("**/api/v1/guild/roster-data")
    page.click("#rv-retry")
    page.locator("#roster-rows tr").first.wait_for()
    assert page.locator("#rv-error").is_hidden()
    assert page.locator("#roster-rows").inner_text() == "No characters registered yet"


def test_phone_screens_do_not_scroll_sideways(
    live_server: LiveServer, phone_page: Any, screenshot: Any
) -> None:
    load_fixture(live_server)
    phone_page.goto("/roster")
    assert not has_horizontal_scroll(phone_page)
    screenshot(phone_page, "phone-form")
    tops = {
        round(box["y"]) for box in (d.bounding_box() for d in phone_page.locator(".rf-day").all())
    }
    assert len(tops) == 2  # seven day tiles wrap to two rows (four per row)
    for view in ("availability", "roster", "composition"):
        phone_page.goto(f"/roster-view?view={view}")
        phone_page.locator(f"#view-{view}").wait_for()
        assert not has_horizontal_scroll(phone_page), view
        screenshot(phone_page, f"phone-{view}")
