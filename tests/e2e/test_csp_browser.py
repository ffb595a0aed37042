"""The strict Content-Security-Policy in a real browser (20 §8): the main pages of the demo guild
— public pages, the vote and results pages, every admin page and the raid tools — load, run
their scripts and draw their data without a single CSP violation; a violation provoked on
purpose is caught, so the silence means something."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from patt.core import middleware
from patt.demo import loader as demo
from sv_common.db.models import Campaign
from sv_common.identity.integrity.checker import run_integrity_check
from sv_common.identity.matching.engine import run_matching
from tests.e2e.conftest import CSP_MARK, LiveServer


def load_demo_guild(live_server: LiveServer) -> dict[str, int]:
    """The demo guild plus one matching run and integrity check; campaign ids by status."""

    async def work(session: Any) -> dict[str, int]:
        await demo.load_into(session)
        await run_matching(session)
        await run_integrity_check(session)
        rows = (await session.execute(select(Campaign.status, Campaign.id))).all()
        return {str(status): int(campaign_id) for status, campaign_id in rows}

    result: dict[str, int] = live_server.in_session(work)
    return result


def visit(page: Any, url: str) -> None:
    """Open a page with the strict policy and wait until its scripts have fetched their data."""
    response = page.goto(url)
    assert response is not None and response.status == 200, url
    assert response.headers["content-security-policy"] == middleware.CSP, url
    page.wait_for_load_state("networkidle")


def log_in(page: Any, username: str, password: str) -> None:
    page.goto("/login?next=/")
    page.fill("#discord_username", username)
    page.fill("#password", password)
    page.locator("form[action='/login'] button[type=submit]").click()
    page.wait_for_url("**/")


def test_main_pages_run_without_a_csp_violation(
    live_server: LiveServer, page: Any, csp_log: list[str]
) -> None:
    campaigns = load_demo_guild(live_server)
    public = ["/", "/login", "/register", "/roster", "/roster-view"]
    public += [f"/vote/{campaigns['live']}", f"/vote/{campaigns['closed']}"]
    for url in public:
        visit(page, url)
    # the roster dashboard draws each view from its data with script
    visit(page, "/roster-view")
    for view in ("roster", "composition", "availability"):
        page.locator(f"button[data-view='{view}']").click()
        page.locator(f"[data-view-panel='{view}']").wait_for(state="visible")

    username, password = demo.DEMO_ACCOUNTS[5]
    log_in(page, username, password)
    signed_in = [
        "/",
        f"/vote/{campaigns['live']}",
        f"/vote/{campaigns['closed']}",
        "/admin/campaigns",
        "/admin/campaigns/new",
        f"/admin/campaigns/{campaigns['draft']}/edit",
        f"/admin/campaigns/{campaigns['live']}/edit",
        "/admin/roster",
        "/admin/ranks",
        "/admin/discord",
        "/admin/sync",
        "/admin/identity",
        "/admin/identity/orphans",
        "/admin/identity/queue",
        "/admin/identity/issues",
        "/raid-admin",
        "/mitos-corner",
        "/roster",
        "/roster-view",
        "/logout",
    ]
    for url in signed_in:
        visit(page, url)
    # the vote page's picking script and the campaign editor's image preview run too
    visit(page, f"/vote/{campaigns['live']}")
    page.locator(".entry-card").first.click()
    visit(page, f"/admin/campaigns/{campaigns['draft']}/edit")
    page.fill("#add-image", "/static/img/demo/wolf-sigil.svg")
    page.locator("img[data-image-preview-for='add-image']").wait_for(state="visible")
    assert csp_log == []


def test_a_violation_is_caught_and_inline_code_does_not_run(
    live_server: LiveServer, page: Any, csp_log: list[str]
) -> None:
    visit(page, "/login")
    with page.expect_console_message(lambda message: CSP_MARK in message.text):
        page.evaluate(
            """() => {
              const script = document.createElement("script");
              script.textContent = "window.inlineRan = true;";
              document.body.appendChild(script);
            }"""
        )
    with page.expect_console_message(lambda message: CSP_MARK in message.text):
        page.evaluate(
            """() => {
              const box = document.createElement("div");
              box.id = "styled";
              box.setAttribute("style", "width: 123px");
              document.body.appendChild(box);
            }"""
        )
    assert page.evaluate("() => window.inlineRan === undefined")
    assert page.evaluate("() => document.getElementById('styled').offsetWidth") != 123
    assert any("script" in line for line in csp_log), csp_log
    assert any("style" in line for line in csp_log), csp_log
    csp_log.clear()  # provoked on purpose


def test_api_docs_starts_from_a_static_file_without_a_violation(
    live_server: LiveServer, page: Any, csp_log: list[str]
) -> None:
    # Swagger UI's CDN is cut off so the test never leaves the machine; the page's own
    # start-up script then explains where the schema is.
    page.route(f"{middleware.SWAGGER_CDN}/**", lambda route: route.abort())
    response = page.goto("/api/docs")
    assert response is not None and response.status == 200
    assert response.headers["content-security-policy"] == middleware.DOCS_CSP
    link = page.locator("#swagger-ui a[href='/api/openapi.json']")
    assert link.is_visible()
    assert "could not load Swagger UI" in page.locator("#swagger-ui").inner_text()
    assert csp_log == []
