"""The browser harness itself: live server, clean state per test, error pages at both widths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from sv_common.auth import setup_token
from sv_common.db.models import GuildMember, GuildRank
from tests.e2e import conftest as e2e_conftest
from tests.e2e.conftest import LiveServer, has_horizontal_scroll


def test_live_server_serves_health_and_static_files(page: Any, live_server: LiveServer) -> None:
    response = page.goto("/api/health")
    assert response is not None and response.status == 200
    body = response.json()
    assert body["ok"] is True and body["data"]["db"] == "connected"
    if live_server.settings.discord_backend == "fake":
        assert body["data"]["discord"] == "fake"
    css = page.request.get(f"{live_server.url}/static/css/main.css")
    assert css.status == 200


def test_each_test_starts_on_clean_tables_with_default_ranks(live_server: LiveServer) -> None:
    async def counts(session: Any) -> tuple[int, int]:
        ranks = await session.scalar(select(func.count()).select_from(GuildRank))
        members = await session.scalar(select(func.count()).select_from(GuildMember))
        return int(ranks), int(members)

    assert live_server.in_session(counts) == (5, 0)
    live_server.create_member("leftover", level=2)
    assert live_server.in_session(counts) == (5, 1)


def test_the_member_from_the_previous_test_is_gone(live_server: LiveServer) -> None:
    async def count(session: Any) -> int:
        return int(await session.scalar(select(func.count()).select_from(GuildMember)))

    assert live_server.in_session(count) == 0
    assert not live_server.in_session(setup_token.is_armed)


def test_unknown_page_is_the_404_page_without_sideways_scroll_on_a_phone(
    phone_page: Any, screenshot: Any
) -> None:
    response = phone_page.goto("/no-such-page")
    assert response is not None and response.status == 404
    assert phone_page.get_by_role("heading", name="Page Not Found").is_visible()
    assert not has_horizontal_scroll(phone_page)
    screenshot(phone_page, "404-phone")


def test_missing_chromium_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(e2e_conftest, "CHROMIUM", Path("/nonexistent/chromium"))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="install Debian's chromium"):
        e2e_conftest._chromium_or_skip()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="required in CI"):
        e2e_conftest._chromium_or_skip()
