"""Approval voting in a real browser (40 §9.4): cards toggle a check mark by click and keyboard,
the submit button needs one tick, the form posts the ticks and the standings read
"X approvals (Y% of ballots)"; the vote page fits a 390 px phone without sideways scrolling."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import LiveServer, has_horizontal_scroll
from tests.e2e.test_vote_browser import badge, card, create_campaign, log_in, slot


def test_approve_by_clicking_and_keyboard_then_standings(
    live_server: LiveServer, page: Any, screenshot: Any
) -> None:
    officer = live_server.create_member("stonehoof", level=4)
    voter = live_server.create_member("moonbeard", level=2)
    live_server.create_member("quietone", level=2)  # keeps the campaign open after one vote
    campaign_id, _ = create_campaign(live_server, officer, entries=5, type="approval")
    log_in(page, voter, f"/vote/{campaign_id}")

    submit = page.locator("#vote-submit-btn")
    assert "Pick up to 3 entries you approve of" in page.locator(".vote-instructions").inner_text()
    assert "Counting: Approval" in page.locator(".vote-header__meta").inner_text()
    assert submit.is_disabled()

    card(page, "Phoenix").click()
    assert badge(page, "Phoenix") == "✓"
    assert card(page, "Phoenix").get_attribute("aria-pressed") == "true"
    assert "approved" in (card(page, "Phoenix").get_attribute("class") or "")
    assert submit.is_enabled()  # one tick is enough

    card(page, "Gryphon").focus()  # keyboard: Space ticks, Enter ticks
    page.keyboard.press(" ")
    card(page, "Kraken").focus()
    page.keyboard.press("Enter")
    assert [badge(page, n) for n in ("Gryphon", "Kraken")] == ["✓", "✓"]
    card(page, "Dragon").click()  # a fourth tick is refused with a hint
    assert "You've ticked 3" in page.locator("#vote-hint").inner_text()
    assert card(page, "Dragon").get_attribute("aria-pressed") == "false"

    card(page, "Kraken").focus()  # untick by keyboard
    page.keyboard.press("Enter")
    assert card(page, "Kraken").get_attribute("aria-pressed") == "false"
    assert not card(page, "Kraken").locator(".pick-badge").is_visible()
    assert [slot(page, r) for r in (1, 2, 3)] == ["Phoenix", "Gryphon", "—"]
    screenshot(page, "ticked")

    card(page, "Phoenix").click()
    card(page, "Gryphon").click()
    assert submit.is_disabled()  # nothing ticked
    card(page, "Gryphon").click()
    card(page, "Phoenix").click()

    page.once("dialog", lambda dialog: dialog.accept())
    submit.click()
    page.wait_for_selector("#state-voted")
    assert "Your vote is in!" in page.locator("#flash-area").inner_text()
    items = page.locator(".results-list .result-item")
    top = [items.nth(i).locator(".result-item__name").inner_text().strip() for i in range(2)]
    assert top == ["Phoenix", "Gryphon"]
    assert [items.nth(i).locator(".result-item__rank").inner_text() for i in range(3)] == [
        "#1",
        "#1",
        "#3",
    ]
    assert "1 approval (100% of ballots)" in items.nth(0).inner_text()
    assert "0 approvals (0% of ballots)" in items.nth(2).inner_text()
    picks = page.locator("#my-picks").inner_text()
    assert "Phoenix" in picks and "Gryphon" in picks and "1st" not in picks
    screenshot(page, "standings")


def test_approval_vote_page_fits_a_phone(
    live_server: LiveServer, phone_page: Any, screenshot: Any
) -> None:
    officer = live_server.create_member("stonehoof", level=4)
    voter = live_server.create_member("moonbeard", level=2)
    campaign_id, _ = create_campaign(
        live_server, officer, entries=8, type="approval", picks_per_voter=4
    )
    log_in(phone_page, voter, f"/vote/{campaign_id}")
    assert phone_page.viewport_size["width"] == 390
    assert not has_horizontal_scroll(phone_page)
    card(phone_page, "Dragon").tap()
    card(phone_page, "Chimera").scroll_into_view_if_needed()
    card(phone_page, "Chimera").tap()
    assert badge(phone_page, "Chimera") == "✓"
    assert not has_horizontal_scroll(phone_page)
    bar = phone_page.locator("#picks-bar").bounding_box()
    assert bar is not None and bar["y"] >= 0
    assert bar["y"] + bar["height"] <= phone_page.viewport_size["height"] + 1
    assert phone_page.locator("#vote-submit-btn").is_enabled()
    screenshot(phone_page, "phone-approval")
    phone_page.once("dialog", lambda dialog: dialog.accept())
    phone_page.locator("#vote-submit-btn").click()
    phone_page.wait_for_selector("#state-voted")
    assert not has_horizontal_scroll(phone_page)
    assert "1 approval (100% of ballots)" in phone_page.locator("#results-panel").inner_text()


def test_officer_creates_an_approval_campaign_in_the_form(
    live_server: LiveServer, page: Any
) -> None:
    officer = live_server.create_member("stonehoof", level=4)
    log_in(page, officer, "/admin/campaigns/new")
    method = page.locator("#counting_method")
    note = page.locator("#approval-note")
    assert method.is_enabled() and not note.is_visible()
    page.select_option("#type", "approval")
    assert method.is_disabled() and note.is_visible()
    assert "each pick is one approval" in note.inner_text()
    page.select_option("#type", "ranked_choice")
    assert method.is_enabled() and not note.is_visible()
    page.select_option("#type", "approval")
    page.fill("#title", "Raid Night")
    page.select_option("#min_rank_to_vote", "2")
    page.fill("#picks_per_voter", "2")
    page.locator("#campaign-form button[type=submit]").click()
    page.wait_for_selector("#actions-card")
    assert "Campaign created." in page.locator("#flash-area").inner_text()
    assert page.locator("#type").input_value() == "approval"
    assert page.locator("#counting_method").is_disabled()
    assert page.locator("#approval-note").is_visible()
