"""Mito's Corner over HTTP (60 §7, §9.8): public read, Officer+ writes, validation and limits,
404s, text kept verbatim and rendered escaped, and the page's gates."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import Factory

from patt.mito import service as mito

API = "/api/v1/guild/mito"
SCRIPT = "<script>alert(1)</script> & <img src=x onerror=alert(2)>"


async def rows(db: AsyncSession) -> list[Any]:
    """Both tables' contents, for 'nothing changed' checks."""
    db.expire_all()
    quotes = (await db.execute(text("SELECT id, quote FROM patt.mito_quotes ORDER BY id"))).all()
    titles = (await db.execute(text("SELECT id, title FROM patt.mito_titles ORDER BY id"))).all()
    return [quotes, titles]


@pytest.fixture
async def officer(factory: Factory) -> dict[str, str]:
    return (await factory.officer(username="mito")).headers


# ------------------------------------------------------------------------------ read
async def test_anyone_can_read_quotes_and_titles_in_creation_order(
    client: httpx.AsyncClient, officer: dict[str, str]
) -> None:
    for quote in ("Bubble first, ask questions never.", "Stand in the good stuff."):
        assert (
            await client.post(f"{API}/quotes", json={"quote": quote}, headers=officer)
        ).status_code == 201
    await client.post(f"{API}/titles", json={"title": "Master of the Hearthstone"}, headers=officer)
    response = await client.get(API)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == {
        "ok": True,
        "data": {
            "quotes": [
                {"id": 1, "quote": "Bubble first, ask questions never."},
                {"id": 2, "quote": "Stand in the good stuff."},
            ],
            "titles": [{"id": 1, "title": "Master of the Hearthstone"}],
        },
    }


async def test_empty_lists(client: httpx.AsyncClient) -> None:
    assert (await client.get(API)).json() == {"ok": True, "data": {"quotes": [], "titles": []}}


# ------------------------------------------------------------------------------ CRUD
async def test_quote_add_edit_delete(
    client: httpx.AsyncClient, officer: dict[str, str], db: AsyncSession
) -> None:
    created = await client.post(f"{API}/quotes", json={"quote": "  Heal me!  "}, headers=officer)
    assert created.status_code == 201
    assert created.json() == {"ok": True, "data": {"id": 1, "quote": "Heal me!"}}
    edited = await client.put(
        f"{API}/quotes/1", json={"quote": "Heal me, please!"}, headers=officer
    )
    assert edited.status_code == 200
    assert edited.json() == {"ok": True, "data": {"id": 1, "quote": "Heal me, please!"}}
    assert (await rows(db))[0] == [(1, "Heal me, please!")]
    deleted = await client.delete(f"{API}/quotes/1", headers=officer)
    assert deleted.json() == {"ok": True, "data": {"deleted": True}}
    assert (await rows(db))[0] == []


async def test_title_add_edit_delete(
    client: httpx.AsyncClient, officer: dict[str, str], db: AsyncSession
) -> None:
    created = await client.post(f"{API}/titles", json={"title": "Healer Supreme"}, headers=officer)
    assert created.status_code == 201
    assert created.json()["data"] == {"id": 1, "title": "Healer Supreme"}
    edited = await client.put(
        f"{API}/titles/1", json={"title": "Keeper of the\nHoly Light Switch"}, headers=officer
    )
    assert edited.json()["data"] == {"id": 1, "title": "Keeper of the Holy Light Switch"}
    assert (await client.delete(f"{API}/titles/1", headers=officer)).status_code == 200
    assert (await rows(db))[1] == []


async def test_markup_is_stored_and_returned_as_text(
    client: httpx.AsyncClient, officer: dict[str, str], db: AsyncSession
) -> None:
    created = await client.post(f"{API}/quotes", json={"quote": SCRIPT}, headers=officer)
    assert created.json()["data"]["quote"] == SCRIPT
    assert (await rows(db))[0] == [(1, SCRIPT)]
    assert (await client.get(API)).json()["data"]["quotes"][0]["quote"] == SCRIPT


@pytest.mark.parametrize(
    ("method", "path", "message"),
    [
        ("PUT", "/quotes/99", "Quote not found"),
        ("DELETE", "/quotes/99", "Quote not found"),
        ("PUT", "/titles/99", "Title not found"),
        ("DELETE", "/titles/99", "Title not found"),
        ("DELETE", "/titles/99999999999999", "Title not found"),
        ("PUT", "/quotes/0", "Quote not found"),
    ],
)
async def test_unknown_ids_are_404(
    client: httpx.AsyncClient,
    officer: dict[str, str],
    db: AsyncSession,
    method: str,
    path: str,
    message: str,
) -> None:
    await client.post(f"{API}/quotes", json={"quote": "keep me"}, headers=officer)
    before = await rows(db)
    body = {"quote": "x", "title": "x"} if method == "PUT" else None
    response = await client.request(method, API + path, json=body, headers=officer)
    assert response.status_code == 404
    assert response.json() == {"ok": False, "error": message}
    assert await rows(db) == before


@pytest.mark.parametrize("path", ["/quotes/abc", "/titles/1.5"])
async def test_non_integer_ids_are_422(
    client: httpx.AsyncClient, officer: dict[str, str], path: str
) -> None:
    response = await client.delete(API + path, headers=officer)
    assert response.status_code == 422


# ------------------------------------------------------------------------ validation
@pytest.mark.parametrize(
    ("path", "body", "error"),
    [
        ("/quotes", {}, "Quote is required."),
        ("/quotes", {"quote": "   "}, "Quote cannot be empty!"),
        ("/quotes", {"quote": 42}, "Quote is required."),
        ("/quotes", {"quote": "q" * 501}, "Quote is too long (501 characters, at most 500)."),
        ("/titles", {"title": ""}, "Title cannot be empty!"),
        ("/titles", {"title": None}, "Title is required."),
        ("/titles", {"title": "t" * 201}, "Title is too long (201 characters, at most 200)."),
    ],
)
async def test_invalid_text_is_422_and_nothing_is_saved(
    client: httpx.AsyncClient,
    officer: dict[str, str],
    db: AsyncSession,
    path: str,
    body: dict[str, Any],
    error: str,
) -> None:
    response = await client.post(API + path, json=body, headers=officer)
    assert response.status_code == 422
    assert response.json()["error"] == error
    assert await rows(db) == [[], []]


async def test_limits_are_inclusive(client: httpx.AsyncClient, officer: dict[str, str]) -> None:
    assert (
        await client.post(f"{API}/quotes", json={"quote": "q" * 500}, headers=officer)
    ).status_code == 201
    assert (
        await client.post(f"{API}/titles", json={"title": "t" * 200}, headers=officer)
    ).status_code == 201


async def test_invalid_edit_keeps_the_old_text(
    client: httpx.AsyncClient, officer: dict[str, str], db: AsyncSession
) -> None:
    await client.post(f"{API}/quotes", json={"quote": "original"}, headers=officer)
    response = await client.put(f"{API}/quotes/1", json={"quote": " "}, headers=officer)
    assert response.status_code == 422
    assert (await rows(db))[0] == [(1, "original")]


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b'{"quote": "' + b"q" * 4100 + b'"}', "application/json", 413),
        (b"quote=hello", "application/x-www-form-urlencoded", 415),
        (b'{"quote": ', "application/json", 400),
        (b'"just a string"', "application/json", 400),
    ],
)
async def test_bad_bodies_are_refused(
    client: httpx.AsyncClient,
    officer: dict[str, str],
    db: AsyncSession,
    content: bytes,
    content_type: str,
    status: int,
) -> None:
    headers = {**officer, "Content-Type": content_type}
    response = await client.post(f"{API}/quotes", content=content, headers=headers)
    assert response.status_code == status
    assert response.json()["ok"] is False
    assert await rows(db) == [[], []]


# ------------------------------------------------------------------------------ auth
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/quotes"),
        ("PUT", "/quotes/1"),
        ("DELETE", "/quotes/1"),
        ("POST", "/titles"),
        ("PUT", "/titles/1"),
        ("DELETE", "/titles/1"),
    ],
)
async def test_writes_are_officer_only(
    client: httpx.AsyncClient,
    factory: Factory,
    officer: dict[str, str],
    db: AsyncSession,
    method: str,
    path: str,
) -> None:
    await client.post(f"{API}/quotes", json={"quote": "q"}, headers=officer)
    await client.post(f"{API}/titles", json={"title": "t"}, headers=officer)
    veteran = await factory.member(level=3)
    before = await rows(db)
    body = {"quote": "changed", "title": "changed"} if method != "DELETE" else None
    assert (await client.request(method, API + path, json=body)).status_code == 401
    forbidden = await client.request(method, API + path, json=body, headers=veteran.headers)
    assert forbidden.status_code == 403
    assert await rows(db) == before


async def test_cookie_writes_need_the_csrf_header(
    client: httpx.AsyncClient, factory: Factory, db: AsyncSession
) -> None:
    officer = await factory.officer()
    client.cookies.set("patt_token", officer.token or "")
    client.cookies.set("patt_csrf", "the-csrf-token")
    refused = await client.post(f"{API}/quotes", json={"quote": "no header"})
    assert refused.status_code == 403
    assert await rows(db) == [[], []]
    accepted = await client.post(
        f"{API}/quotes", json={"quote": "with header"}, headers={"X-CSRF-Token": "the-csrf-token"}
    )
    assert accepted.status_code == 201


# ------------------------------------------------------------------------------ page
async def test_page_sends_anonymous_visitors_to_login(client: httpx.AsyncClient) -> None:
    response = await client.get("/mitos-corner")
    assert response.status_code == 302
    assert response.headers["location"] == "/login?next=/mitos-corner"


async def test_page_is_forbidden_below_officer(client: httpx.AsyncClient, factory: Factory) -> None:
    member = await factory.member(level=2)
    client.cookies.set("patt_token", member.token or "")
    response = await client.get("/mitos-corner")
    assert response.status_code == 403
    assert "Add Quote" not in response.text


async def test_page_lists_quotes_escaped_for_officers(
    client: httpx.AsyncClient, factory: Factory, officer: dict[str, str]
) -> None:
    await client.post(f"{API}/quotes", json={"quote": SCRIPT}, headers=officer)
    await client.post(f"{API}/titles", json={"title": "Queen <b>of</b> Heals"}, headers=officer)
    viewer = await factory.officer(username="viewer")
    client.cookies.set("patt_token", viewer.token or "")
    response = await client.get("/mitos-corner")
    assert response.status_code == 200
    page = response.text
    assert '<meta name="robots" content="noindex">' in page
    assert "💚 Mito&#39;s Corner" in page or "💚 Mito's Corner" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;img src=x onerror=alert(2)&gt;" in page
    assert "<script>alert(1)" not in page and "<img src=x" not in page
    assert "Queen &lt;b&gt;of&lt;/b&gt; Heals" in page
    assert "/static/legacy/mitos-corner.js" in page


# ---------------------------------------------------------------- quote of the day
async def test_quote_of_the_day_uses_the_fallback_title(
    client: httpx.AsyncClient, officer: dict[str, str], db: AsyncSession
) -> None:
    assert await mito.quote_of_the_day(db) is None
    await client.post(f"{API}/quotes", json={"quote": "Only one"}, headers=officer)
    db.expire_all()
    assert await mito.quote_of_the_day(db) == {
        "quote": "Only one",
        "title": "Healer Extraordinaire",
    }
