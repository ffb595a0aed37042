"""Voting in a real browser (50 §5, §9, §11): pick by clicking images (order, deselect, extra
click, keyboard, magnifier), submit → standings; the countdown reaching zero reloads once into
the closed view; phone layout; and the officer flow create → entries → activate → close."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from patt.campaigns import service as campaign_service
from sv_common import clock
from sv_common.db.models import GuildMember
from tests.conftest import DEFAULT_PASSWORD
from tests.e2e.conftest import CreatedMember, LiveServer, has_horizontal_scroll

NAMES = ["Dragon", "Phoenix", "Gryphon", "Wyvern", "Kraken", "Hydra", "Basilisk", "Chimera"]


def create_campaign(
    live_server: LiveServer,
    officer: CreatedMember,
    *,
    entries: int = 4,
    live: bool = True,
    **fields: Any,
) -> tuple[int, list[int]]:
    """A campaign made through the services; live (activated now) unless `live=False`."""

    async def work(session: Any) -> tuple[int, list[int]]:
        actor = await session.get(GuildMember, officer.id)
        await session.refresh(actor, ["rank"])
        values = {
            "title": "Guild Banner Vote",
            "description": "Pick the art for the new guild banner.",
            "min_rank_to_vote": 2,
            "start_at": clock.now() + timedelta(hours=1),
            "duration_hours": 168,
        }
        values.update(fields)
        campaign = await campaign_service.create_campaign(session, actor=actor, fields=values)
        ids = []
        for name in NAMES[:entries]:
            entry = await campaign_service.add_entry(
                session,
                campaign_id=campaign.id,
                fields={"name": name, "image_url": "/static/img/no-such-art.png"},
            )
            ids.append(entry.id)
        if live:
            await campaign_service.activate(session, campaign_id=campaign.id)
        return campaign.id, ids

    result: tuple[int, list[int]] = live_server.in_session(work)
    return result


def log_in(page: Any, member: CreatedMember, next_path: str) -> None:
    page.goto(f"/login?next={next_path}")
    page.fill("#discord_username", member.discord_username)
    page.fill("#password", member.password or DEFAULT_PASSWORD)
    page.locator("form[action='/login'] button[type=submit]").click()
    page.wait_for_url(f"**{next_path}")


def card(page: Any, name: str) -> Any:
    return page.locator(f".entry-card[data-entry-name='{name}']")


def badge(page: Any, name: str) -> str:
    return str(card(page, name).locator(".pick-badge").text_content() or "").strip()


def slot(page: Any, rank: int) -> str:
    return str(page.locator(f"#pick-slot-{rank} .pick-slot__name").inner_text()).strip()


def test_vote_by_clicking_images_then_standings(
    live_server: LiveServer, page: Any, screenshot: Any
) -> None:
    officer = live_server.create_member("stonehoof", level=4)
    voter = live_server.create_member("moonbeard", level=2, display_name="Moon")
    live_server.create_member("quietone", level=2)  # keeps the campaign open after one vote
    campaign_id, _ = create_campaign(live_server, officer, entries=5)
    log_in(page, voter, f"/vote/{campaign_id}")

    submit = page.locator("#vote-submit-btn")
    assert page.locator("#vote-form").is_visible()
    assert not page.locator("#vote-fallback").is_visible()  # JS drives the selects
    assert submit.is_disabled()
    assert card(page, "Dragon").get_attribute("role") == "button"

    card(page, "Phoenix").click()
    card(page, "Dragon").click()
    card(page, "Gryphon").click()
    assert [badge(page, n) for n in ("Phoenix", "Dragon", "Gryphon")] == ["1", "2", "3"]
    assert "selected-1" in (card(page, "Phoenix").get_attribute("class") or "")
    assert [slot(page, r) for r in (1, 2, 3)] == ["Phoenix", "Dragon", "Gryphon"]
    assert submit.is_enabled()

    card(page, "Wyvern").click()  # a fourth pick is ignored, with a hint
    assert "You've picked 3 — click a pick to remove it." in page.locator("#vote-hint").inner_text()
    assert not card(page, "Wyvern").locator(".pick-badge").is_visible()

    card(page, "Phoenix").click()  # deselect: later picks move up
    assert [badge(page, n) for n in ("Dragon", "Gryphon")] == ["1", "2"]
    assert slot(page, 3) == "—"
    assert submit.is_disabled()

    card(page, "Kraken").focus()  # keyboard selection
    page.keyboard.press("Enter")
    assert badge(page, "Kraken") == "3"
    assert card(page, "Kraken").get_attribute("aria-pressed") == "true"

    card(page, "Wyvern").locator(".entry-card__zoom").click()  # magnifier: no selection
    assert page.locator(".image-overlay").is_visible()
    page.keyboard.press("Escape")
    assert page.locator(".image-overlay").count() == 0
    assert card(page, "Wyvern").get_attribute("aria-pressed") == "false"
    screenshot(page, "picked")

    messages: list[str] = []

    def accept(dialog: Any) -> None:
        messages.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    submit.click()
    page.wait_for_selector("#state-voted")
    assert messages == ["Submit your vote? Votes can't be changed afterwards."]
    assert "Your vote is in!" in page.locator("#flash-area").inner_text()
    assert page.locator("#results-panel .card__title").inner_text().strip() == "Live Standings"
    names = page.locator(".results-list .result-item__name").all_inner_texts()
    assert [n.strip() for n in names[:3]] == ["Dragon", "Gryphon", "Kraken"]
    assert "1 of 3 eligible members voted" in page.locator(".results-progress").inner_text()
    assert page.locator("#vote-form").count() == 0
    screenshot(page, "standings")


def test_countdown_reaching_zero_reloads_into_the_closed_view(
    live_server: LiveServer, page: Any
) -> None:
    officer = live_server.create_member("stonehoof", level=4)
    campaign_id, _ = create_campaign(live_server, officer, duration_hours=1)

    async def ends_soon(session: Any) -> None:
        from sqlalchemy import text

        await session.execute(
            text(
                "UPDATE patt.campaigns SET start_at = now() - interval '1 hour' + interval '3 seconds'"
                " WHERE id = :c"
            ),
            {"c": campaign_id},
        )

    live_server.in_session(ends_soon)
    page.goto(f"/vote/{campaign_id}")
    assert page.locator("#state-public").is_visible()
    page.wait_for_selector("#state-closed", timeout=15_000)
    assert "Final Results" in page.locator("#results-panel").inner_text()
    assert "CLOSED" in page.locator(".vote-header__title").inner_text().upper()


def test_vote_page_on_a_phone(live_server: LiveServer, phone_page: Any, screenshot: Any) -> None:
    officer = live_server.create_member("stonehoof", level=4)
    voter = live_server.create_member("moonbeard", level=2)
    campaign_id, _ = create_campaign(live_server, officer, entries=8)
    log_in(phone_page, voter, f"/vote/{campaign_id}")
    assert not has_horizontal_scroll(phone_page)
    card(phone_page, "Dragon").tap()
    card(phone_page, "Hydra").scroll_into_view_if_needed()
    bar = phone_page.locator("#picks-bar").bounding_box()
    viewport = phone_page.viewport_size
    assert bar is not None and bar["y"] + bar["height"] <= viewport["height"] + 1
    assert bar["y"] >= 0  # the sticky picks bar stays on screen while scrolling the grid
    assert slot(phone_page, 1) == "Dragon"
    screenshot(phone_page, "phone-vote")


def test_admin_create_entries_activate_close(
    live_server: LiveServer, page: Any, screenshot: Any
) -> None:
    officer = live_server.create_member("stonehoof", level=4)
    log_in(page, officer, "/admin/campaigns")
    assert "No campaigns yet" in page.locator(".admin-content").inner_text()
    page.get_by_role("link", name="+ New Campaign").first.click()
    page.wait_for_url("**/admin/campaigns/new")
    page.fill("#title", "Mount of the Month")
    page.fill("#description", "Which mount should we farm next?")
    page.select_option("#min_rank_to_vote", "2")
    page.locator(".preset-btn[data-hours='48']").click()
    assert page.locator("#duration_hours").input_value() == "48"
    page.locator("#early_close_if_all_voted").uncheck()
    page.locator("#campaign-form button[type=submit]").click()
    page.wait_for_selector("#actions-card")
    assert "Campaign created." in page.locator("#flash-area").inner_text()
    assert page.locator("#activate-btn").is_disabled()
    assert "Add at least 3 entries before activating" in page.locator("#actions-card").inner_text()

    for name in ("Swift Spectral Tiger", "Invincible", "Ashes of Al'ar"):
        page.fill("#add-name", name)
        page.fill("#add-image", "https://art.example/mount.png")
        page.locator("#add-entry-form button[type=submit]").click()
        page.wait_for_selector("#entries-card")
        assert "Entry added." in page.locator("#flash-area").inner_text()
    assert "Entries (3)" in page.locator("#entries-card .card__title").inner_text()

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#activate-btn").click()
    page.wait_for_selector("#close-btn")
    assert "Campaign is now live!" in page.locator("#flash-area").inner_text()
    assert "Settings locked while live" in page.locator("#settings-card").inner_text()
    screenshot(page, "live")

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#close-btn").click()
    page.wait_for_selector("#archive-btn")
    assert "Campaign closed. Results calculated." in page.locator("#flash-area").inner_text()

    page.goto("/admin/campaigns")
    row = page.locator("#campaign-table tbody tr").first
    assert "Mount of the Month" in row.inner_text() and row.get_attribute("data-status") == "closed"
    assert "48h" in row.inner_text()
    screenshot(page, "list")


def test_admin_pages_fit_a_phone(live_server: LiveServer, phone_page: Any, screenshot: Any) -> None:
    officer = live_server.create_member("stonehoof", level=4)
    campaign_id, _ = create_campaign(live_server, officer, live=False, description="x" * 300)
    log_in(phone_page, officer, f"/admin/campaigns/{campaign_id}/edit")
    assert not has_horizontal_scroll(phone_page)
    screenshot(phone_page, "phone-edit")
    phone_page.goto("/admin/campaigns")
    assert not has_horizontal_scroll(phone_page)


def slots_fit(page: Any) -> bool:
    """Every pick slot lies inside the picks bar and the viewport; nothing scrolls sideways."""
    return bool(
        page.evaluate(
            """() => {
                const bar = document.getElementById("picks-bar").getBoundingClientRect();
                const row = document.getElementById("pick-summary");
                if (row.scrollWidth > row.clientWidth + 1) return false;
                return [...row.querySelectorAll(".pick-slot")].every((slot) => {
                    const box = slot.getBoundingClientRect();
                    return box.left >= bar.left - 1 && box.right <= bar.right + 1
                        && box.right <= window.innerWidth + 1 && box.width > 40;
                });
            }"""
        )
    )


def test_picks_bar_fits_a_375px_phone(
    live_server: LiveServer, new_context: Any, screenshot: Any
) -> None:
    officer = live_server.create_member("stonehoof", level=4)
    voter = live_server.create_member("moonbeard", level=2)
    campaign_id, entry_ids = create_campaign(live_server, officer, entries=8)
    long_names = ["Swift Spectral Tiger", "Reins of the Invincible", "Ashes of Alar"]

    async def rename(session: Any) -> None:
        from sqlalchemy import text

        for entry_id, name in zip(entry_ids, long_names, strict=False):
            await session.execute(
                text("UPDATE patt.campaign_entries SET name = :n WHERE id = :e"),
                {"n": name, "e": entry_id},
            )

    live_server.in_session(rename)
    small = new_context(phone=True, viewport={"width": 375, "height": 667}).new_page()
    log_in(small, voter, f"/vote/{campaign_id}")
    for name in long_names:
        card(small, name).tap()
    assert [slot(small, r) for r in (1, 2, 3)] == long_names
    assert small.locator("#pick-slot-1").get_attribute("title") == long_names[0]
    small.evaluate("() => window.scrollTo(0, 0)")
    assert slots_fit(small)
    assert not has_horizontal_scroll(small)
    for rank in (1, 2, 3):  # each name is on screen (whole, or cut with an ellipsis)
        name = small.locator(f"#pick-slot-{rank} .pick-slot__name").bounding_box()
        assert name is not None and name["width"] > 20 and name["x"] + name["width"] <= 375
    screenshot(small, "picks-bar-375")

    ten = create_campaign(live_server, officer, entries=8, picks_per_voter=8)[0]
    small.goto(f"/vote/{ten}")
    for name in NAMES:
        card(small, name).tap()
    small.evaluate("() => window.scrollTo(0, 0)")
    assert slots_fit(small)  # eight slots wrap instead of scrolling sideways
    assert not has_horizontal_scroll(small)
    bar = small.locator("#picks-bar").bounding_box()
    assert bar is not None and bar["y"] + bar["height"] <= 667 + 1
    screenshot(small, "picks-bar-375-eight")


def test_entry_forms_preview_the_typed_image_url(
    live_server: LiveServer, page: Any, screenshot: Any
) -> None:
    officer = live_server.create_member("stonehoof", level=4)
    campaign_id, entry_ids = create_campaign(live_server, officer, entries=1, live=False)
    csp_errors: list[str] = []
    page.on(
        "console",
        lambda message: (
            csp_errors.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    log_in(page, officer, f"/admin/campaigns/{campaign_id}/edit")
    field = page.locator("#add-image")
    preview = page.locator("img.image-preview[data-image-preview-for='add-image']")
    status = page.locator("[data-image-preview-status-for='add-image']")
    assert preview.is_hidden()

    art = "/static/img/demo/dragon-banner.svg"
    field.fill(art)
    preview.wait_for(state="visible")
    assert preview.get_attribute("src") == art
    assert page.evaluate(
        "() => document.querySelector(\"img.image-preview[data-image-preview-for='add-image']\")"
        ".naturalWidth > 0"
    )
    screenshot(page, "preview-shown")

    for refused in ("http://art.example/a.png", "/static/../app.py", "javascript:alert(1)"):
        field.fill(refused)
        preview.wait_for(state="hidden")
        assert "must start with https:// or /static/" in status.inner_text()
        assert preview.get_attribute("src") is None

    field.fill("/static/img/no-such-art-here.png")  # allowed but missing: hidden again
    page.wait_for_function(
        "() => document.querySelector(\"[data-image-preview-status-for='add-image']\")"
        ".textContent.includes('could not be loaded')"
    )
    assert preview.is_hidden()

    field.fill(art)
    preview.wait_for(state="visible")
    field.fill("")
    preview.wait_for(state="hidden")
    assert status.inner_text().strip() == ""

    # Edit Entry: the preview follows the field too (the stored image is missing here)
    page.locator(f".entry-row[data-entry-id='{entry_ids[0]}'] summary").click()
    edit_field = page.locator(f"#edit-{entry_ids[0]}-image")
    edit_preview = page.locator(
        f"img.image-preview[data-image-preview-for='edit-{entry_ids[0]}-image']"
    )
    assert edit_preview.is_hidden()
    edit_field.fill(art)
    edit_preview.wait_for(state="visible")
    screenshot(page, "edit-preview-shown")
    assert csp_errors == []
