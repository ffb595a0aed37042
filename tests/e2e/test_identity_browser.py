"""The identity and guild-sync pages in a real browser (decision 2; 50 §10–11): an officer
confirms a link, unlinks one, links an orphan to its suggested account and resolves an issue,
all by clicking; and every page fits a phone screen without sideways scrolling."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from sv_common import clock
from sv_common.db.models import AuditIssue, Character, DiscordMember, IdentityLink, SyncLog
from sv_common.identity.integrity.checker import run_integrity_check
from sv_common.identity.matching.engine import run_matching
from tests.conftest import DEFAULT_PASSWORD
from tests.e2e.conftest import LiveServer, has_horizontal_scroll

SCRIPT_NAME = "<script>alert(1)</script>"
LONG_NOTE = "Raids Tuesdays and Thursdays, prefers healing, ask before any spec swap. " * 4


@dataclass
class Seeded:
    """Ids of the rows the tests click on."""

    aldrameth: int  # linked to Stonehoof by a nickname token: unconfirmed
    stonehoof_character: int  # linked by exact name: confirmed
    zoelle: int  # orphan with a suggestion → zoelie
    zoelie: int
    scripted: int  # orphan named like markup


def seed(live_server: LiveServer) -> Seeded:
    """An officer, a member with an account and two characters, orphans, one matching run and
    one integrity check, plus a few sync log rows."""
    live_server.create_member("olga", level=4, display_name="Olga")
    live_server.create_member("stonehoof", level=2, display_name="Stonehoof", password=None)

    async def work(session: Any) -> Seeded:
        def character(name: str, **values: Any) -> Character:
            row = Character(
                name=name,
                realm_slug="senjin",
                character_class="Druid",
                origin="blizzard_sync",
                game_rank=3,
                level=80,
                item_level=624,
                **values,
            )
            session.add(row)
            return row

        session.add(
            DiscordMember(
                discord_id="400000000000000001",
                username="stonehoof",
                nickname="Stonehoof (Aldrameth)",
                display_name="Stonehoof (Aldrameth)",
                highest_guild_role="Member",
                all_guild_roles=["Member"],
                is_present=True,
            )
        )
        zoelie = DiscordMember(
            discord_id="400000000000000002",
            username="zoelie",
            display_name="zoelie",
            highest_guild_role="Member",
            all_guild_roles=["Member"],
            is_present=True,
        )
        session.add(zoelie)
        stone = character("Stonehoof", main_alt="main")
        aldrameth = character("Aldrameth", guild_note=LONG_NOTE)
        zoelle = character("Zoëlle", officer_note=LONG_NOTE)
        scripted = character(SCRIPT_NAME)
        now = clock.now()
        session.add(
            SyncLog(
                source="blizzard_api",
                status="partial",
                characters_found=812,
                characters_new=2,
                characters_updated=37,
                characters_removed=1,
                duration_seconds=13.9,
                error_message="3 character profiles could not be fetched (HTTP 404) " * 3,
                triggered_by="schedule",
                started_at=now - timedelta(hours=1),
                completed_at=now - timedelta(minutes=59),
            )
        )
        await session.flush()
        await run_matching(session)
        await run_integrity_check(session)
        return Seeded(
            aldrameth=aldrameth.id,
            stonehoof_character=stone.id,
            zoelle=zoelle.id,
            zoelie=zoelie.id,
            scripted=scripted.id,
        )

    seeded: Seeded = live_server.in_session(work)
    return seeded


def log_in(page: Any, next_path: str) -> None:
    """Log in as Olga through the login form and land on `next_path`."""
    page.goto(f"/login?next={next_path}")
    form = page.locator("form[action^='/login']")
    form.locator("input[name=discord_username]").fill("olga")
    form.locator("input[name=password]").fill(DEFAULT_PASSWORD)
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    assert page.url.endswith(next_path), page.url


def flash_text(page: Any) -> str:
    return " ".join(str(page.locator("#flash-area").inner_text()).split())


def accept_dialogs(page: Any) -> list[str]:
    """Accept every confirm() and remember its question; an alert would be a failure."""
    seen: list[str] = []

    def handle(dialog: Any) -> None:
        seen.append(f"{dialog.type}: {dialog.message}")
        dialog.accept()

    page.on("dialog", handle)
    return seen


def click_and_wait(page: Any, locator: Any) -> None:
    with page.expect_navigation():
        locator.click()


def query(live_server: LiveServer, statement: Any) -> list[Any]:
    async def work(session: Any) -> list[Any]:
        return list((await session.execute(statement)).all())

    return list(live_server.in_session(work))


def settle(live_server: LiveServer) -> None:
    """Wait for the matching run the link pages request after a change."""
    live_server.run(live_server.app.state.guild_sync.wait_idle())


def test_officer_confirms_unlinks_links_and_resolves(
    live_server: LiveServer, page: Any, screenshot: Any
) -> None:
    seeded = seed(live_server)
    dialogs = accept_dialogs(page)

    # --- the confirmation queue: confirm Aldrameth → Stonehoof
    log_in(page, "/admin/identity/queue")
    entry = page.locator(".identity-item", has_text="Aldrameth")
    assert "unconfirmed" in entry.inner_text().lower()
    screenshot(page, "queue")
    click_and_wait(page, entry.get_by_role("button", name="Confirm"))
    assert "Confirmed: Aldrameth belongs to Stonehoof." in flash_text(page)
    assert page.get_by_text("Nothing to confirm").is_visible()
    (confirmed,) = query(
        live_server,
        select(IdentityLink.confirmed, IdentityLink.confirmed_by).where(
            IdentityLink.character_id == seeded.aldrameth
        ),
    )
    assert tuple(confirmed) == (True, "Olga")

    # --- people: search, then unlink Stonehoof's main character (confirm dialog first)
    page.goto("/admin/identity")
    page.get_by_label("Search members, Discord names and characters").fill("stone")
    click_and_wait(page, page.get_by_role("button", name="Search"))
    assert "q=stone" in page.url
    character = page.locator(f"#character-{seeded.stonehoof_character}")
    assert "exact name match" in character.inner_text().lower()
    screenshot(page, "people")
    click_and_wait(page, character.get_by_role("button", name="Unlink"))
    assert dialogs and dialogs[-1].startswith("confirm: Unlink Stonehoof?"), dialogs
    assert "Unlinked Stonehoof from Stonehoof." in flash_text(page)
    assert "q=stone" in page.url  # back on the same search
    assert page.locator(f"#character-{seeded.stonehoof_character}").count() == 0
    settle(live_server)
    (owner,) = query(
        live_server,
        select(Character.member_id).where(Character.id == seeded.stonehoof_character),
    )
    assert owner[0] is None

    # --- orphans: link Zoëlle to the suggested account zoelie
    page.goto("/admin/identity/orphans")
    orphan = page.locator(f"#orphan-character-{seeded.zoelle}")
    assert "zoelie" in orphan.inner_text()
    assert (
        page.locator(f"#orphan-character-{seeded.scripted}").inner_text().startswith(SCRIPT_NAME)
    )  # shown as text, not run
    screenshot(page, "orphans")
    click_and_wait(page, orphan.get_by_role("button", name="Link Zoëlle to zoelie"))
    assert "Linked Zoëlle and Discord account zoelie to zoelie (new member created)." in (
        flash_text(page)
    )
    assert page.locator(f"#orphan-character-{seeded.zoelle}").count() == 0
    settle(live_server)
    ((character_owner,),) = query(
        live_server, select(Character.member_id).where(Character.id == seeded.zoelle)
    )
    ((account_owner,),) = query(
        live_server, select(DiscordMember.member_id).where(DiscordMember.id == seeded.zoelie)
    )
    assert character_owner is not None and character_owner == account_owner

    # --- issues: resolve the markup-named orphan with a note
    page.goto("/admin/identity/issues?type=orphan_wow")
    issue = page.locator(".issue", has_text=SCRIPT_NAME)
    issue.get_by_placeholder("Note (optional)").fill("an old bank alt")
    screenshot(page, "issues")
    click_and_wait(page, issue.get_by_role("button", name="Resolve"))
    assert "Issue resolved." in flash_text(page)
    assert page.locator(".issue", has_text=SCRIPT_NAME).count() == 0
    (resolved,) = query(
        live_server,
        select(AuditIssue.resolved_by, AuditIssue.resolution_note).where(
            AuditIssue.character_id == seeded.scripted, AuditIssue.issue_type == "orphan_wow"
        ),
    )
    assert tuple(resolved) == ("Olga", "an old bank alt")
    assert not [d for d in dialogs if d.startswith("alert")], dialogs


def test_run_matching_from_the_sync_page(live_server: LiveServer, page: Any) -> None:
    seed(live_server)
    log_in(page, "/admin/sync")
    assert "Blizzard roster" in page.locator("#source-blizzard_api").inner_text()
    click_and_wait(page, page.get_by_role("button", name="Run matching now"))
    assert "Matching done:" in flash_text(page)
    assert page.locator("#sync-log-1").is_visible()


@pytest.mark.parametrize(
    "path",
    [
        "/admin/sync",
        "/admin/identity",
        "/admin/identity/orphans",
        "/admin/identity/queue",
        "/admin/identity/issues?resolved=1",
        "/admin/roster",
    ],
)
def test_pages_fit_a_phone_screen(
    live_server: LiveServer, phone_page: Any, screenshot: Any, path: str
) -> None:
    seed(live_server)
    log_in(phone_page, path)
    if path == "/admin/roster":  # open the character rows so the notes are on screen
        for toggle in phone_page.locator("[data-toggle-chars]").all():
            toggle.click()
    screenshot(phone_page, path)
    assert not has_horizontal_scroll(phone_page), path
