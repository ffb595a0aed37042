"""Inputs PostgreSQL would refuse (NUL characters, over-long values) and other edge cases found
in review: always a clear 4xx, nothing written, and no secret or session leaks."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from tests.conftest import Factory, count_rows

API = "/api/v1/admin"


async def page_csrf(client: httpx.AsyncClient, path: str) -> str:
    page = await client.get(path)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, f"no csrf field on {path}"
    return found.group(1)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/auth/login", {"discord_username": "g\u0000l", "password": "aaaaaaaaa"}),
        (
            "/api/v1/auth/register",
            {"code": "AB\u0000CD234", "discord_username": "someone", "password": "aaaaaaaaa"},
        ),
    ],
)
async def test_nul_characters_in_auth_api_are_client_errors(
    client: httpx.AsyncClient, db: Any, path: str, body: dict[str, str]
) -> None:
    response = await client.post(path, json=body)
    assert 400 <= response.status_code < 500
    assert response.json()["ok"] is False
    assert await count_rows(db, "common.users") == 0


async def test_nul_character_in_login_form_re_renders_without_500(
    client: httpx.AsyncClient,
) -> None:
    csrf = await page_csrf(client, "/login")
    response = await client.post(
        "/login", data={"csrf_token": csrf, "discord_username": "g\u0000l", "password": "aaaaaaaaa"}
    )
    assert 400 <= response.status_code < 500
    assert "Something went wrong" not in response.text


async def test_realm_too_long_for_its_column_is_422_and_nothing_is_written(
    client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    officer = await factory.officer()
    target = await factory.member(level=1, registered=False)
    for realm in ("a" * 60, "\ufdfa" * 10):  # one character that slugs to many
        response = await client.post(
            f"{API}/members/{target.id}/characters",
            json={"name": "Longrealm", "realm": realm, "wow_class": "Mage"},
            headers=officer.headers,
        )
        assert response.status_code == 422, response.text
        assert response.json()["ok"] is False
    assert await count_rows(db, "common.characters") == 0


async def test_any_x_api_key_does_not_bypass_csrf_for_cookie_requests(
    client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    officer = await factory.officer()
    client.cookies.set("patt_token", officer.token or "")
    for key in ("junk", ""):
        response = await client.post(
            f"{API}/members", json={"discord_username": "sneaky"}, headers={"X-API-Key": key}
        )
        assert response.status_code == 403, response.text
    assert await count_rows(db, "common.guild_members", "discord_username = 'sneaky'") == 0


async def test_send_invite_to_registered_higher_rank_is_409_first(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    officer = await factory.officer()
    leader = await factory.leader(discord_id="100000000000000077")
    response = await client.post(f"{API}/members/{leader.id}/send-invite", headers=officer.headers)
    assert response.status_code == 409
    assert response.json()["error"] == "member is already registered"


async def test_invalid_session_cookie_is_dropped_on_the_login_redirect(
    client: httpx.AsyncClient,
) -> None:
    client.cookies.set("patt_token", "garbage")
    response = await client.get("/admin/roster")
    assert response.status_code == 302
    assert response.headers["location"].startswith("/login?next=")
    assert 'patt_token=""' in response.headers.get("set-cookie", "") or "patt_token=;" in (
        response.headers.get("set-cookie", "")
    )


async def test_broken_multipart_form_gets_the_error_page(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    officer = await factory.officer()
    client.cookies.set("patt_token", officer.token or "")
    response = await client.post(
        "/admin/roster/add", content=b"x", headers={"Content-Type": "multipart/form-data"}
    )
    assert 400 <= response.status_code < 500
    assert "<html" in response.text.lower()


@pytest.mark.parametrize("raw", ["1.0", "+1", "%201", "1_0", "01x", "-1", "0", "99999999999"])
async def test_non_integer_path_ids_are_422(
    client: httpx.AsyncClient, factory: Factory, raw: str
) -> None:
    officer = await factory.officer()
    response = await client.get(f"{API}/members/{raw}", headers=officer.headers)
    assert response.status_code == 422, (raw, response.status_code)
    assert response.json()["ok"] is False


async def test_plain_path_id_still_works(client: httpx.AsyncClient, factory: Factory) -> None:
    officer = await factory.officer()
    response = await client.get(f"{API}/members/{officer.id}", headers=officer.headers)
    assert response.status_code == 200
    assert response.json()["data"]["id"] == officer.id


@pytest.mark.parametrize("raw", ["1.0", "+1", "1_0"])
async def test_non_integer_campaign_ids_are_422(client: httpx.AsyncClient, raw: str) -> None:
    response = await client.get(f"/api/v1/campaigns/{raw}")
    assert response.status_code == 422
    assert response.json()["ok"] is False
