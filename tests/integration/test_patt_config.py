"""`/patt-config.json` (60 §8) and the guild-tool addresses (60 §1.1): old `.html` forms and
trailing slashes answer 301 to the clean path with the query kept; officer pages gate access."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import Factory, make_settings

CONFIG = "/patt-config.json"
PUBLIC_KEYS = {"raidDefaults", "timezone", "raidScheduleText", "compositionTargets"}
OFFICER_KEYS = {"channels", "serverId", "leaderId", "raidHelperConfigured"}


async def test_anonymous_config_has_only_the_public_keys(client: httpx.AsyncClient) -> None:
    response = await client.get(CONFIG)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == {
        "raidDefaults": {"title": "Heroic Raid", "time": "21:00", "duration": 120, "template": "wowretail2"},
        "timezone": "America/New_York",
        "raidScheduleText": "Raids are Thursday, Friday and Saturday at 9 pm Eastern for two hours.",
        "compositionTargets": {
            "tank": {"min": 2, "max": 2},
            "healer": {"min": 4, "max": 5},
            "melee": {"min": 6, "max": 7},
            "ranged": {"min": 6, "max": 7},
            "dpsMin": 13,
        },
    }  # fmt: skip


@pytest.fixture
def configured(settings: Any, app: Any) -> Any:
    """Raid-Helper, server, leader and channels configured (the key is a secret)."""
    updated = settings.model_copy(
        update={
            "raid_helper_api_key": "rh-secret-key-never-shown",
            "discord_guild_id": "100000000000000900",
            "raid_leader_discord_id": "100000000000000901",
            "discord_channel_raid_signup": "100000000000000902",
            "discord_channel_voice": "100000000000000903",
            "raid_default_title": "Mythic Prog",
            "raid_default_duration": 90,
        }
    )
    app.state.settings = updated
    return updated


async def test_members_below_officer_get_the_public_subset(
    configured: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    member = await factory.member(level=3, username="veteran")
    client.cookies.set("patt_token", member.token or "")
    data = (await client.get(CONFIG)).json()
    assert set(data) == PUBLIC_KEYS
    assert data["raidDefaults"]["title"] == "Mythic Prog"
    assert data["raidDefaults"]["duration"] == 90
    assert "100000000000000901" not in str(data)


async def test_officers_get_channels_ids_and_readiness_but_never_the_key(
    configured: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    officer = await factory.officer(username="mito")
    client.cookies.set("patt_token", officer.token or "")
    response = await client.get(CONFIG)
    data = response.json()
    assert set(data) == PUBLIC_KEYS | OFFICER_KEYS
    assert data["channels"] == {
        "signup": "100000000000000902",
        "eventSignup": "",
        "voice": "100000000000000903",
        "announcement": "",
        "pug": "",
        "notification": "",
    }
    assert data["serverId"] == "100000000000000900"
    assert data["leaderId"] == "100000000000000901"
    assert data["raidHelperConfigured"] is True
    assert "rh-secret-key-never-shown" not in response.text
    assert "scriptUrl" not in response.text and "apiKey" not in response.text
    # the same with a bearer token
    client.cookies.clear()
    assert (
        set((await client.get(CONFIG, headers=officer.headers)).json())
        == PUBLIC_KEYS | OFFICER_KEYS
    )


async def test_unconfigured_raid_helper_reads_false(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    officer = await factory.officer(username="mito")
    data = (await client.get(CONFIG, headers=officer.headers)).json()
    assert data["raidHelperConfigured"] is False
    assert data["serverId"] == "" and data["leaderId"] == ""


async def test_a_stale_cookie_still_gets_the_public_config(client: httpx.AsyncClient) -> None:
    client.cookies.set("patt_token", "expired-or-forged")
    response = await client.get(CONFIG)
    assert response.status_code == 200
    assert set(response.json()) == PUBLIC_KEYS


async def test_config_follows_settings(database_url: str, tmp_path: Path) -> None:
    from patt.app import create_app

    settings = make_settings(
        tmp_path, guild_timezone="America/Chicago", raid_schedule_text="Tuesdays only."
    )
    app = create_app(settings, database_url=database_url)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        data = (await http.get(CONFIG)).json()
    await app.state.engine.dispose()
    assert data["timezone"] == "America/Chicago"
    assert data["raidScheduleText"] == "Tuesdays only."


# -------------------------------------------------------------------- old addresses
@pytest.mark.parametrize(
    "old, new",
    [
        ("/roster.html", "/roster"),
        ("/roster-view.html", "/roster-view"),
        ("/roster-view.html?view=roster", "/roster-view?view=roster"),
        ("/raid-admin.html", "/raid-admin"),
        ("/mitos-corner.html?tab=titles&x=1", "/mitos-corner?tab=titles&x=1"),
        ("/roster/", "/roster"),
        ("/roster-view/?view=composition", "/roster-view?view=composition"),
        ("/raid-admin/", "/raid-admin"),
        ("/mitos-corner/", "/mitos-corner"),
        ("/index.html", "/"),
    ],
)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_old_urls_redirect_permanently(
    client: httpx.AsyncClient, old: str, new: str, method: str
) -> None:
    response = await client.request(method, old)
    assert response.status_code == 301, old
    assert response.headers["location"] == new


@pytest.mark.parametrize("path", ["/roster", "/roster-view"])
async def test_tool_pages_are_public_and_answer_head(client: httpx.AsyncClient, path: str) -> None:
    assert (await client.get(path)).status_code == 200
    assert (await client.head(path)).status_code == 200


@pytest.mark.parametrize("path", ["/raid-admin", "/mitos-corner"])
async def test_officer_pages_gate_access_after_the_redirect(
    client: httpx.AsyncClient, factory: Factory, path: str
) -> None:
    first = await client.get(f"{path}.html")
    assert first.headers["location"] == path
    anonymous = await client.get(first.headers["location"])
    assert anonymous.status_code == 302
    assert anonymous.headers["location"] == f"/login?next={path}"
    member = await factory.member(level=2, username="member")
    client.cookies.set("patt_token", member.token or "")
    assert (await client.get(path)).status_code == 403
    officer = await factory.officer(username="mito")
    client.cookies.set("patt_token", officer.token or "")
    page = await client.get(path)
    assert page.status_code == 200
    assert '<meta name="robots" content="noindex">' in page.text
