"""A voter's trust check in a real browser (40 §9.1–9.2, §9.5): vote by clicking, see the
receipt, change the vote (new receipt), and after close read the audit on the results page and
find the receipt in the published ballot list — also at phone width."""

from __future__ import annotations

import hashlib
import urllib.request
from typing import Any

from patt.campaigns import service as campaign_service
from tests.e2e.conftest import LiveServer, has_horizontal_scroll
from tests.e2e.test_vote_browser import card, create_campaign, log_in


def test_receipt_after_voting_and_audit_on_the_results_page(
    live_server: LiveServer, page: Any, new_context: Any, screenshot: Any
) -> None:
    officer = live_server.create_member("trustofficer", level=4)
    voter = live_server.create_member("trustvoter", level=2)
    live_server.create_member("trustother", level=2)  # keeps the campaign open after one vote
    campaign_id, _ = create_campaign(
        live_server, officer, entries=4, allow_vote_change=True, early_close_if_all_voted=False
    )
    log_in(page, voter, f"/vote/{campaign_id}")

    messages: list[str] = []

    def accept(dialog: Any) -> None:
        messages.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    for name in ("Phoenix", "Dragon", "Gryphon"):
        card(page, name).click()
    page.locator("#vote-submit-btn").click()
    page.wait_for_selector("#state-voted")
    assert messages == ["Submit your vote? You can change it until the campaign closes."]
    first = page.locator("#my-receipt-code").inner_text().strip()
    assert len(first) == 9 and first[4] == "-"
    assert f"Your receipt is {first}" in page.locator("#flash-area").inner_text()
    screenshot(page, "receipt")

    # change the vote: the form comes back with the current picks, the new ballot gets a new code
    page.locator("#change-vote-link").click()
    page.wait_for_selector("#change-vote-title")
    assert card(page, "Phoenix").get_attribute("aria-pressed") == "true"
    card(page, "Gryphon").click()  # drop the third pick
    card(page, "Wyvern").click()
    page.locator("#vote-submit-btn").click()
    page.wait_for_selector("#state-voted")
    second = page.locator("#my-receipt-code").inner_text().strip()
    assert second != first
    assert "Your vote has been changed!" in page.locator("#flash-area").inner_text()

    async def close(session: Any) -> None:
        await campaign_service.close(session, campaign_id=campaign_id)

    live_server.in_session(close)
    page.goto(f"/vote/{campaign_id}")
    page.wait_for_selector("#audit-panel")
    assert page.locator("#state-closed").is_visible()
    digest = page.locator("#audit-digest").inner_text().strip()
    assert len(digest) == 64
    assert page.locator("#audit-ballots").inner_text().strip() == "1"
    assert "How to verify" in page.locator("#how-to-verify").inner_text()
    with urllib.request.urlopen(
        f"{live_server.url}/api/v1/campaigns/{campaign_id}/ballots?format=text"
    ) as answer:
        assert hashlib.sha256(answer.read()).hexdigest() == digest
    page.locator("#audit-panel").scroll_into_view_if_needed()
    screenshot(page, "audit")

    page.locator("#how-to-verify a", has_text="published ballot list").click()
    page.wait_for_selector("#ballot-list")
    page.fill("#receipt", second.lower())
    page.locator(".receipt-lookup button[type=submit]").click()
    page.wait_for_selector("#receipt-found")
    found = page.locator(f"tr[data-receipt='{second}']")
    assert "ballot-row--found" in (found.get_attribute("class") or "")
    assert [c.strip() for c in found.locator("td").all_inner_texts()] == [
        second,
        "Phoenix",
        "Dragon",
        "Wyvern",
    ]
    assert page.locator("#digest-matches").is_visible()
    page.fill("#receipt", first)
    page.locator(".receipt-lookup button[type=submit]").click()
    page.wait_for_selector("#receipt-missing")  # the replaced ballot is gone
    screenshot(page, "ballot-list")

    phone = new_context(phone=True).new_page()
    phone.goto(f"/vote/{campaign_id}")
    phone.wait_for_selector("#audit-panel")
    assert not has_horizontal_scroll(phone)
    phone.goto(f"/vote/{campaign_id}/ballots")
    assert not has_horizontal_scroll(phone)
    screenshot(phone, "ballot-list-phone")
