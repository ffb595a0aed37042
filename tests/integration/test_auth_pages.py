"""Sign-in pages (50 §4.2–4.4, 20 §3/§6/§8): /login, /register, /logout over HTTP."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import jwt as pyjwt
import pytest
from sqlalchemy import text
from tests.conftest import DEFAULT_PASSWORD, Factory, count_rows, make_settings

from patt.app import create_app
from sv_common import clock
from sv_common.auth import invite_codes

NEW_PASSWORD = "a-brand-new-password"


async def csrf(client: httpx.AsyncClient, path: str = "/login") -> str:
    """Visit a page so the browser holds `patt_csrf`; return its value."""
    response = await client.get(path)
    assert response.status_code in (200, 302)
    return client.cookies["patt_csrf"]


def set_cookie(response: httpx.Response, name: str) -> str | None:
    """The raw Set-Cookie header for `name`, if any."""
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{name}="):
            return header
    return None


async def make_invite(app: Any, member_id: int) -> str:
    async with app.state.sessionmaker() as session, session.begin():
        invite = await invite_codes.generate_invite_code(
            session, member_id=member_id, created_by_id=None
        )
        return invite.code


async def execute(app: Any, sql: str, **params: Any) -> None:
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(text(sql), params)


async def last_login(app: Any, user_id: int | None) -> Any:
    async with app.state.sessionmaker() as session:
        return (
            await session.execute(
                text("SELECT last_login_at FROM common.users WHERE id = :id"), {"id": user_id}
            )
        ).scalar()


async def user_count(app: Any) -> int:
    async with app.state.sessionmaker() as session:
        return await count_rows(session, "common.users")


# ------------------------------------------------------------------------------------ login
async def test_login_page_shows_the_form_and_sets_csrf_cookie(client: httpx.AsyncClient):
    response = await client.get("/login")
    assert response.status_code == 200
    assert "Welcome Back" in response.text
    assert "Sign in to your guild account" in response.text
    assert 'name="discord_username"' in response.text and 'autocomplete="username"' in response.text
    assert 'name="password"' in response.text
    assert "Register with an invite code" in response.text
    assert "<title>Sign In — Pull All The Things</title>" in response.text
    cookie = set_cookie(response, "patt_csrf")
    assert cookie is not None and "HttpOnly" not in cookie and "samesite=lax" in cookie.lower()
    assert f'name="csrf_token" value="{client.cookies["patt_csrf"]}"' in response.text


async def test_login_success_sets_httponly_cookie_and_goes_to_next(
    app: Any, client: httpx.AsyncClient, factory: Factory
):
    member = await factory.member(username="moonbeard", display_name="Moon")
    token = await csrf(client)
    response = await client.post(
        "/login?next=/vote/3",
        data={"discord_username": "MoonBeard", "password": DEFAULT_PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 302
    assert response.headers["location"] == "/vote/3"
    cookie = set_cookie(response, "patt_token")
    assert cookie is not None
    lowered = cookie.lower()
    assert "httponly" in lowered and "max-age=2592000" in lowered
    assert "path=/" in lowered and "samesite=lax" in lowered and "secure" not in lowered
    claims = pyjwt.decode(client.cookies["patt_token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 30 * 86400  # the token lives as long as the cookie
    assert claims["member_id"] == member.id
    assert await last_login(app, member.user_id) is not None
    home = await client.get("/")
    assert "Moon" in home.text and "Logout" in home.text


async def test_login_next_from_hidden_field(client: httpx.AsyncClient, factory: Factory):
    await factory.member(username="hidden")
    token = await csrf(client, "/login?next=/admin/roster")
    page = await client.get("/login?next=/admin/roster")
    assert 'name="next" value="/admin/roster"' in page.text
    response = await client.post(
        "/login",
        data={
            "discord_username": "hidden",
            "password": DEFAULT_PASSWORD,
            "csrf_token": token,
            "next": "/admin/roster",
        },
    )
    assert response.headers["location"] == "/admin/roster"


@pytest.mark.parametrize(
    "evil",
    ["//evil.example", "https://evil.example", "/\\evil.example", "/\t/evil.example", "evil"],
)
async def test_login_next_to_another_site_lands_on_home(
    client: httpx.AsyncClient, factory: Factory, evil: str
):
    await factory.member(username="careful")
    token = await csrf(client)
    response = await client.post(
        "/login",
        params={"next": evil},
        data={"discord_username": "careful", "password": DEFAULT_PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 302
    assert response.headers["location"] == "/"


async def test_secure_cookie_flag_follows_settings(
    database_url: str, tmp_path: Any, factory: Factory
):
    await factory.member(username="secure")
    secure_app = create_app(make_settings(tmp_path, cookie_secure=True), database_url=database_url)
    transport = httpx.ASGITransport(app=secure_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
        token = await csrf(http)
        response = await http.post(
            "/login",
            data={"discord_username": "secure", "password": DEFAULT_PASSWORD, "csrf_token": token},
        )
    cookie = set_cookie(response, "patt_token")
    assert cookie is not None and "secure" in cookie.lower()
    await secure_app.state.engine.dispose()


async def test_wrong_password_re_renders_with_generic_error_and_keeps_username(
    app: Any, client: httpx.AsyncClient, factory: Factory
):
    member = await factory.member(username="moonbeard")
    token = await csrf(client)
    response = await client.post(
        "/login",
        data={"discord_username": "moonbeard", "password": "Secret-Wrong-1", "csrf_token": token},
    )
    assert response.status_code == 400
    assert "Invalid username or password." in response.text
    assert 'value="moonbeard"' in response.text
    assert "Secret-Wrong-1" not in response.text
    assert set_cookie(response, "patt_token") is None
    assert await last_login(app, member.user_id) is None


@pytest.mark.parametrize(
    "form",
    [
        {"discord_username": "stranger", "password": DEFAULT_PASSWORD},
        {"discord_username": "", "password": DEFAULT_PASSWORD},
        {"discord_username": "moonbeard", "password": ""},
        {"password": DEFAULT_PASSWORD},
        {"discord_username": "m" * 500, "password": DEFAULT_PASSWORD},
    ],
)
async def test_login_bad_input_is_400_with_the_same_message(
    client: httpx.AsyncClient, factory: Factory, form: dict[str, str]
):
    await factory.member(username="moonbeard")
    token = await csrf(client)
    response = await client.post("/login", data={**form, "csrf_token": token})
    assert response.status_code == 400
    assert "Invalid username or password." in response.text
    assert set_cookie(response, "patt_token") is None


async def test_inactive_account_message_only_after_correct_password(
    app: Any, client: httpx.AsyncClient, factory: Factory
):
    member = await factory.member(username="sleepy")
    await execute(
        app, "UPDATE common.users SET is_active = false WHERE id = :id", id=member.user_id
    )
    token = await csrf(client)
    wrong = await client.post(
        "/login", data={"discord_username": "sleepy", "password": "nope-nope", "csrf_token": token}
    )
    assert "Invalid username or password." in wrong.text
    right = await client.post(
        "/login",
        data={"discord_username": "sleepy", "password": DEFAULT_PASSWORD, "csrf_token": token},
    )
    assert right.status_code == 400
    assert "Account is inactive. Contact an officer." in right.text
    assert set_cookie(right, "patt_token") is None


async def test_login_page_throttle_shows_minutes_and_retry_after(
    client: httpx.AsyncClient, factory: Factory
):
    await factory.member(username="hammered")
    token = await csrf(client)
    for _ in range(5):
        failed = await client.post(
            "/login",
            data={"discord_username": "hammered", "password": "wrong-wrong", "csrf_token": token},
        )
        assert failed.status_code == 400
    throttled = await client.post(
        "/login",
        data={"discord_username": "hammered", "password": DEFAULT_PASSWORD, "csrf_token": token},
    )
    assert throttled.status_code == 429
    assert "Too many attempts. Try again in 15 minutes." in throttled.text
    assert 0 < int(throttled.headers["Retry-After"]) <= 900
    assert set_cookie(throttled, "patt_token") is None


@pytest.mark.parametrize("csrf_value", [None, "", "forged-token"])
async def test_login_without_csrf_is_403_and_logs_nobody_in(
    app: Any, client: httpx.AsyncClient, factory: Factory, csrf_value: str | None
):
    member = await factory.member(username="moonbeard")
    await csrf(client)
    form = {"discord_username": "moonbeard", "password": DEFAULT_PASSWORD}
    if csrf_value is not None:
        form["csrf_token"] = csrf_value
    response = await client.post("/login", data=form)
    assert response.status_code == 403
    assert "Your form expired. Reload the page and try again." in response.text
    assert set_cookie(response, "patt_token") is None
    assert await last_login(app, member.user_id) is None


async def test_login_without_csrf_cookie_is_403(client: httpx.AsyncClient, factory: Factory):
    await factory.member(username="moonbeard")
    response = await client.post(
        "/login",
        data={"discord_username": "moonbeard", "password": DEFAULT_PASSWORD, "csrf_token": "x"},
    )
    assert response.status_code == 403
    assert set_cookie(response, "patt_token") is None


async def test_logged_in_visitors_are_sent_on_from_login_and_register(
    client: httpx.AsyncClient, factory: Factory
):
    member = await factory.member(username="already")
    client.cookies.set("patt_token", member.token or "")
    assert (await client.get("/login?next=/vote/9")).headers["location"] == "/vote/9"
    assert (await client.get("/login?next=//evil.example")).headers["location"] == "/"
    assert (await client.get("/login")).status_code == 302
    register = await client.get("/register?code=ABCD2345")
    assert register.status_code == 302 and register.headers["location"] == "/"


async def test_invalid_cookie_is_treated_as_anonymous_and_dropped(client: httpx.AsyncClient):
    client.cookies.set("patt_token", "not-a-token")
    response = await client.get("/login")
    assert response.status_code == 200
    assert "Welcome Back" in response.text
    dropped = set_cookie(response, "patt_token")
    assert dropped is not None and ("max-age=0" in dropped.lower() or "expires=" in dropped.lower())


async def test_expired_cookie_token_is_anonymous(client: httpx.AsyncClient, factory: Factory):
    member = await factory.member(username="stale")
    client.cookies.set("patt_token", member.token or "")
    clock.advance(timedelta(hours=2))
    response = await client.get("/login")
    assert response.status_code == 200
    assert set_cookie(response, "patt_token") is not None


async def test_login_unreadable_or_huge_form_is_a_clear_4xx(client: httpx.AsyncClient):
    token = await csrf(client)
    huge = await client.post(
        "/login", data={"discord_username": "x" * 20000, "password": "y", "csrf_token": token}
    )
    assert huge.status_code == 413
    broken = await client.post(
        "/login",
        content=b'--boundary\r\nContent-Disposition: form-data; name="a"\r\n\r\nunterminated',
        headers={"Content-Type": "multipart/form-data; boundary=boundary"},
    )
    assert broken.status_code in (400, 403)


# --------------------------------------------------------------------------------- register
async def test_register_page_prefills_code_and_has_hints(client: httpx.AsyncClient):
    response = await client.get("/register?code=ABCD-2345")
    assert response.status_code == 200
    assert "Join the Guild" in response.text
    assert 'value="ABCD-2345"' in response.text
    assert "Check your Discord DMs for your invite code" in response.text
    assert "Must match the username your invite was sent to" in response.text
    assert "At least 8 characters" in response.text
    assert 'id="password2"' in response.text and 'id="password-match"' in response.text


async def test_register_page_escapes_the_code(client: httpx.AsyncClient):
    response = await client.get('/register?code="><script>alert(1)</script>')
    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;" in response.text or "&#34;&gt;&lt;script" in response.text


async def test_register_success_logs_in_and_goes_home(
    app: Any, client: httpx.AsyncClient, factory: Factory
):
    member = await factory.member(username="newbie", display_name="Newbie", registered=False)
    code = await make_invite(app, member.id)
    token = await csrf(client, "/register")
    response = await client.post(
        "/register",
        data={
            "code": code.lower(),
            "discord_username": "NEWBIE",
            "password": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
            "csrf_token": token,
        },
    )
    assert response.status_code == 302
    assert response.headers["location"] == "/"
    cookie = set_cookie(response, "patt_token")
    assert (
        cookie is not None and "httponly" in cookie.lower() and "max-age=2592000" in cookie.lower()
    )
    assert await user_count(app) == 1
    home = await client.get("/")
    assert "Welcome to the guild, Newbie!" in home.text
    assert "Logout" in home.text


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("mismatch_passwords", "Passwords do not match."),
        ("short", "Password must be at least 8 characters."),
        ("long", "Password is too long."),
        ("invalid", "Invalid invite code."),
        ("used", "This invite code has already been used."),
        ("revoked", "This invite code is no longer valid."),
        ("expired", "This invite code has expired."),
        ("wrong_user", "Discord username does not match the invite code."),
        ("empty_user", "Discord username does not match the invite code."),
        ("registered", "This account is already registered."),
    ],
)
async def test_register_failures_re_render_with_message_and_values(
    app: Any, client: httpx.AsyncClient, factory: Factory, case: str, message: str
):
    member = await factory.member(username="hopeful", registered=(case == "registered"))
    code = await make_invite(app, member.id)
    users_before = await user_count(app)
    form = {
        "code": code,
        "discord_username": "hopeful",
        "password": NEW_PASSWORD,
        "password2": NEW_PASSWORD,
    }
    if case == "mismatch_passwords":
        form["password2"] = NEW_PASSWORD + "!"
    elif case == "short":
        form["password"] = form["password2"] = "short"
    elif case == "long":
        form["password"] = form["password2"] = "p" * 73
    elif case == "invalid":
        form["code"] = "QQQQ-9999" if code != "QQQQ9999" else "RRRR-9999"
    elif case == "used":
        await execute(app, "UPDATE common.invite_codes SET used_at = now() WHERE code = :c", c=code)
    elif case == "revoked":
        await execute(
            app, "UPDATE common.invite_codes SET revoked_at = now() WHERE code = :c", c=code
        )
    elif case == "expired":
        clock.advance(timedelta(hours=73))
    elif case == "wrong_user":
        form["discord_username"] = "impostor"
    elif case == "empty_user":
        form["discord_username"] = "   "
    token = await csrf(client, "/register")
    response = await client.post("/register", data={**form, "csrf_token": token})
    assert response.status_code == 400
    assert message in response.text
    assert f'value="{form["code"]}"' in response.text
    if form["discord_username"].strip():
        assert f'value="{form["discord_username"]}"' in response.text
    assert NEW_PASSWORD not in response.text and "p" * 73 not in response.text
    assert set_cookie(response, "patt_token") is None
    assert await user_count(app) == users_before


async def test_register_without_csrf_is_403_and_creates_nothing(
    app: Any, client: httpx.AsyncClient, factory: Factory
):
    member = await factory.member(username="hopeful", registered=False)
    code = await make_invite(app, member.id)
    await csrf(client, "/register")
    response = await client.post(
        "/register",
        data={
            "code": code,
            "discord_username": "hopeful",
            "password": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
        },
    )
    assert response.status_code == 403
    assert "Your form expired. Reload the page and try again." in response.text
    assert await user_count(app) == 0


async def test_register_page_throttle(client: httpx.AsyncClient):
    token = await csrf(client, "/register")
    form = {
        "code": "QQQQ9999",
        "discord_username": "nobody",
        "password": NEW_PASSWORD,
        "password2": NEW_PASSWORD,
        "csrf_token": token,
    }
    for _ in range(10):
        assert (await client.post("/register", data=form)).status_code == 400
    throttled = await client.post("/register", data=form)
    assert throttled.status_code == 429
    assert "Too many attempts. Try again in 15 minutes." in throttled.text
    assert "Retry-After" in throttled.headers


# ----------------------------------------------------------------------------------- logout
async def _logged_in(client: httpx.AsyncClient, factory: Factory) -> str:
    await factory.member(username="leaving", display_name="Leaving")
    token = await csrf(client)
    response = await client.post(
        "/login",
        data={"discord_username": "leaving", "password": DEFAULT_PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 302
    return token


async def test_logout_post_clears_cookie_and_nav_shows_login(
    client: httpx.AsyncClient, factory: Factory
):
    token = await _logged_in(client, factory)
    response = await client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 302
    assert response.headers["location"] == "/"
    cleared = (set_cookie(response, "patt_token") or "").lower()
    assert "max-age=0" in cleared and "httponly" in cleared and "path=/" in cleared
    assert "samesite=lax" in cleared
    assert "patt_token" not in client.cookies
    home = await client.get("/")
    assert "Logout" not in home.text and 'href="/login"' in home.text
    assert "You have been logged out." in home.text


async def test_logout_post_without_csrf_is_403_and_keeps_the_session(
    client: httpx.AsyncClient, factory: Factory
):
    await _logged_in(client, factory)
    response = await client.post("/logout", data={})
    assert response.status_code == 403
    assert set_cookie(response, "patt_token") is None
    assert "patt_token" in client.cookies
    assert "Logout" in (await client.get("/")).text


async def test_logout_get_only_asks_for_confirmation(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    # a GET can be forged by any page (an image tag), so it never logs anyone out
    token = await _logged_in(client, factory)
    response = await client.get("/logout")
    assert response.status_code == 200 and "Sign out?" in response.text
    assert 'action="/logout"' in response.text and 'method="post"' in response.text
    assert "patt_token" in client.cookies
    assert (await client.get("/api/v1/auth/me")).status_code == 200
    confirmed = await client.post("/logout", data={"csrf_token": token})
    assert confirmed.status_code == 302 and "patt_token" not in client.cookies


async def test_logout_ends_every_session_of_the_account(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    token = await _logged_in(client, factory)
    old_cookie = client.cookies["patt_token"]
    await client.post("/logout", data={"csrf_token": token})
    client.cookies.set("patt_token", old_cookie)  # a copy kept on another device
    assert (await client.get("/api/v1/auth/me")).status_code == 401


async def test_logout_get_when_anonymous_goes_home(client: httpx.AsyncClient) -> None:
    response = await client.get("/logout")
    assert response.status_code == 302 and response.headers["location"] == "/"


async def test_logout_when_anonymous_is_harmless(client: httpx.AsyncClient):
    token = await csrf(client)
    response = await client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["location"] == "/"
