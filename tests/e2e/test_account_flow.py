"""The account life cycle in a real browser (50 §4, §6.3; 20 §7): first-run setup → Guild
Leader on the roster page → add a member → Send Invite → the member registers with the code in
another browser → logs in and sees their name and rank. Plus: auth pages fit a phone screen."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e.conftest import LiveServer, has_horizontal_scroll

SETUP_TOKEN = "e2e-first-run-setup-token-0123456789"
LEADER = {"username": "stonehoof", "display": "Stonehoof", "password": "leader-pass-123"}
RECRUIT = {
    "username": "branix",
    "display": "Branix",
    "discord_id": "100000000000000002",
    "password": "recruit-pass-456",
}
INVITE_FLASH = re.compile(r"Invite code ([A-HJ-NP-Z2-9]{8}) created")


def flash_text(page: Any) -> str:
    """The text of the flash area (empty when no message)."""
    return str(page.locator("#flash-area").inner_text()).strip()


def nav_user(page: Any) -> tuple[str, str]:
    """(display name, rank name) shown in the navigation."""
    nav = page.locator("header .nav-user")
    return (
        str(nav.locator(".nav-user__name").inner_text()).strip(),
        str(nav.locator(".nav-user__rank").inner_text()).strip(),
    )


def row_text(row: Any) -> str:
    """The DOM text of a table row (badges are upper-cased by CSS only)."""
    return " ".join(str(row.first.text_content()).split())


def submit(form: Any) -> None:
    """Click the form's submit button (waits for the navigation it starts)."""
    form.locator("button[type=submit], input[type=submit]").first.click()


def test_setup_invite_register_and_login(
    live_server: LiveServer, new_context: Any, screenshot: Any
) -> None:
    live_server.set_setup_token(SETUP_TOKEN)
    # The recruit is on the fake Discord server, so the invite DM is delivered to the outbox.
    live_server.write_discord_members(
        [{"id": RECRUIT["discord_id"], "username": RECRUIT["username"], "roles": []}]
    )

    # --- first-run setup: the Guild Leader account
    leader = new_context().new_page()
    response = leader.goto(f"/setup?token={SETUP_TOKEN}")
    assert response is not None and response.status == 200
    form = leader.locator("form[action^='/setup']")
    form.locator("input[name=discord_username]").fill(LEADER["username"])
    form.locator("input[name=display_name]").fill(LEADER["display"])
    form.locator("input[name=password]").fill(LEADER["password"])
    form.locator("input[name=password2]").fill(LEADER["password"])
    with leader.expect_navigation():
        submit(form)
    assert leader.url.endswith("/admin/roster"), leader.url
    assert "Welcome! Your Guild Leader account is ready." in flash_text(leader)
    assert nav_user(leader) == (LEADER["display"], "Guild Leader")
    screenshot(leader, "roster-after-setup")

    # the setup link is spent
    again = new_context().new_page().goto(f"/setup?token={SETUP_TOKEN}")
    assert again is not None and again.status == 404

    # --- the roster page: add the recruit with a Discord ID
    add = leader.locator("form[action='/admin/roster/add']")
    add.locator("input[name=discord_username]").fill(RECRUIT["username"])
    add.locator("input[name=discord_id]").fill(RECRUIT["discord_id"])
    add.locator("input[name=display_name]").fill(RECRUIT["display"])
    rank_select = add.locator("select[name=rank_id]")
    member_rank = rank_select.locator("option", has_text=re.compile(r"^\s*Member\b"))
    rank_select.select_option(value=member_rank.get_attribute("value"))
    with leader.expect_navigation():
        submit(add)
    assert "Member added." in flash_text(leader)
    row = leader.locator("tr", has_text=f"@{RECRUIT['username']}").or_(
        leader.locator("tr", has_text=RECRUIT["display"])
    )
    assert "Not invited" in row_text(row)

    # --- Send Invite (accept the confirm dialog); the code arrives in the flash
    dialogs: list[str] = []

    def accept(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    leader.on("dialog", accept)
    invite = row.first.locator("form[action$='/invite'] button[type=submit]")
    with leader.expect_navigation():
        invite.click()
    assert dialogs and RECRUIT["username"] in dialogs[0], dialogs
    flash = flash_text(leader)
    match = INVITE_FLASH.search(flash)
    assert match, f"no invite code in the flash: {flash!r}"
    code = match.group(1)
    screenshot(leader, "invite-sent")
    if live_server.settings.discord_backend == "fake":
        assert "sent via Discord" in flash, flash
        dms = [m for m in live_server.outbox_messages() if m["kind"] == "dm"]
        assert len(dms) == 1 and dms[0]["to"] == RECRUIT["discord_id"], dms
        assert f"**{code}**" in dms[0]["content"]
        assert f"/register?code={code}" in dms[0]["content"]
    assert "Invite sent" in row_text(row)

    # --- the recruit registers in a second browser (own cookies)
    recruit = new_context().new_page()
    response = recruit.goto(f"/register?code={code}")
    assert response is not None and response.status == 200
    form = recruit.locator("form[action^='/register']")
    assert form.locator("input[name=code]").input_value() == code
    form.locator("input[name=discord_username]").fill(RECRUIT["username"])
    form.locator("input[name=password]").fill(RECRUIT["password"])
    form.locator("input[name=password2]").fill(RECRUIT["password"] + "x")
    mismatch = recruit.get_by_text("Passwords do not match")
    mismatch.wait_for()
    form.locator("input[name=password2]").fill(RECRUIT["password"])
    recruit.get_by_text("Passwords match").wait_for()
    with recruit.expect_navigation():
        submit(form)
    assert recruit.url.rstrip("/") == live_server.url, recruit.url
    assert nav_user(recruit) == (RECRUIT["display"], "Member")

    # --- log out, then log in as the recruit
    with recruit.expect_navigation():
        recruit.locator("header form[action='/logout'] button[type=submit]").click()
    assert recruit.locator("header .nav-user").count() == 0
    response = recruit.goto("/login")
    assert response is not None and response.status == 200
    form = recruit.locator("form[action^='/login']")
    form.locator("input[name=discord_username]").fill(RECRUIT["username"])
    form.locator("input[name=password]").fill(RECRUIT["password"])
    with recruit.expect_navigation():
        submit(form)
    assert recruit.url.rstrip("/") == live_server.url, recruit.url
    assert nav_user(recruit) == (RECRUIT["display"], "Member")
    assert recruit.locator("header a[href='/admin']").count() == 0
    screenshot(recruit, "recruit-logged-in")

    # the officer's roster now shows the recruit as registered
    leader.reload()
    assert "Registered" in row_text(row)


@pytest.mark.parametrize("path", ["/", "/login", "/register"])
def test_auth_pages_fit_a_phone_screen(
    live_server: LiveServer, phone_page: Any, screenshot: Any, path: str
) -> None:
    response = phone_page.goto(path)
    assert response is not None and response.status == 200
    assert not has_horizontal_scroll(phone_page), f"{path} scrolls sideways at 390 px"
    screenshot(phone_page, f"phone{path.replace('/', '-') or '-home'}")
