"""Account API (30 §3, 20 §2/§6/§8): register, login, /me, token checks and throttling."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import timedelta
from typing import Any

import httpx
import jwt as pyjwt
import pytest
from fastapi import Depends
from sqlalchemy import text
from tests.conftest import DEFAULT_PASSWORD, Factory, count_rows

from patt.deps import require_rank
from sv_common import clock
from sv_common.auth import invite_codes
from sv_common.auth.jwt import create_access_token
from sv_common.identity import characters

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
ME = "/api/v1/auth/me"
NEW_PASSWORD = "a-brand-new-password"


async def make_invite(app: Any, member_id: int, *, hours: int = 72) -> str:
    """An invite code for the member, issued through the invite service."""
    async with app.state.sessionmaker() as session, session.begin():
        invite = await invite_codes.generate_invite_code(
            session, member_id=member_id, created_by_id=None, expires_hours=hours
        )
        return invite.code


async def scalar(app: Any, sql: str, **params: Any) -> Any:
    async with app.state.sessionmaker() as session:
        return (await session.execute(text(sql), params)).scalar()


async def execute(app: Any, sql: str, **params: Any) -> None:
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(text(sql), params)


async def users(app: Any) -> int:
    async with app.state.sessionmaker() as session:
        return await count_rows(session, "common.users")


def claims(token: str) -> dict[str, Any]:
    return pyjwt.decode(token, options={"verify_signature": False})


# ------------------------------------------------------------------------------ round trip
async def test_register_login_me_round_trip(app: Any, client: httpx.AsyncClient, factory: Factory):
    member = await factory.member(
        level=2, username="moonbeard", display_name="Moon", registered=False
    )
    await execute(
        app,
        "UPDATE common.guild_members SET discord_id = '123456789012345678' WHERE id = :id",
        id=member.id,
    )
    async with app.state.sessionmaker() as session, session.begin():
        await characters.add_character(
            session,
            actor=None,
            member_id=member.id,
            name="Zephyr",
            realm="Sen'jin",
            wow_class="Mage",
            spec="Frost",
            main_alt="alt",
        )
        await characters.add_character(
            session,
            actor=None,
            member_id=member.id,
            name="Moonbeard",
            realm="Sen'jin",
            wow_class="Druid",
            spec="Balance",
            main_alt="main",
        )
        gone = await characters.add_character(
            session,
            actor=None,
            member_id=member.id,
            name="Abandoned",
            realm="Sen'jin",
            wow_class="Rogue",
            main_alt="alt",
        )
        gone.removed_at = clock.now()
    code = await make_invite(app, member.id)

    registered = await client.post(
        REGISTER, json={"code": code, "discord_username": "MoonBeard", "password": NEW_PASSWORD}
    )
    assert registered.status_code == 201, registered.text
    assert registered.json()["ok"] is True
    assert set(registered.json()["data"]) == {"token"}

    login = await client.post(
        LOGIN, json={"discord_username": "moonbeard", "password": NEW_PASSWORD}
    )
    assert login.status_code == 200
    token = login.json()["data"]["token"]

    me = await client.get(ME, headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    data = me.json()["data"]
    assert data["id"] == member.id
    assert data["discord_username"] == "moonbeard"
    assert data["display_name"] == "Moon"
    assert data["discord_id"] == "123456789012345678"
    assert data["rank"] == {"id": await factory.rank_id(2), "name": "Member", "level": 2}
    assert data["registered_at"] is not None and data["registered_at"].endswith("+00:00")
    assert [c["name"] for c in data["characters"]] == ["Moonbeard", "Zephyr"]
    assert data["characters"][0] == {
        "id": data["characters"][0]["id"],
        "name": "Moonbeard",
        "realm": "Sen'jin",
        "class": "Druid",
        "spec": "Balance",
        "role": "ranged_dps",
        "main_alt": "main",
    }
    # the code is consumed and the user is linked
    assert await scalar(
        app, "SELECT used_at IS NOT NULL FROM common.invite_codes WHERE code = :c", c=code
    )
    assert await scalar(
        app, "SELECT user_id IS NOT NULL FROM common.guild_members WHERE id = :id", id=member.id
    )
    assert await scalar(
        app,
        "SELECT u.last_login_at IS NOT NULL FROM common.users u "
        "JOIN common.guild_members m ON m.user_id = u.id WHERE m.id = :id",
        id=member.id,
    )


async def test_api_tokens_live_jwt_expire_minutes(
    app: Any, client: httpx.AsyncClient, factory: Factory
):
    member = await factory.member(username="tokenlife")
    response = await client.post(
        LOGIN, json={"discord_username": "tokenlife", "password": DEFAULT_PASSWORD}
    )
    data = claims(response.json()["data"]["token"])
    assert data["exp"] - data["iat"] == 1440 * 60
    assert data["member_id"] == member.id and data["user_id"] == member.user_id
    assert data["rank_level"] == 2


async def test_register_accepts_lower_case_code_with_hyphen_and_spaces(
    app: Any, client: httpx.AsyncClient, factory: Factory
):
    member = await factory.member(username="typist", registered=False)
    code = await make_invite(app, member.id)
    typed = f" {code[:4].lower()}-{code[4:].lower()} "
    response = await client.post(
        REGISTER, json={"code": typed, "discord_username": "typist", "password": NEW_PASSWORD}
    )
    assert response.status_code == 201


# ------------------------------------------------------------------------ register failures
@pytest.mark.parametrize(
    ("case", "status", "message"),
    [
        ("unknown", 400, "Invalid invite code."),
        ("used", 400, "This invite code has already been used."),
        ("revoked", 400, "This invite code is no longer valid."),
        ("expired", 400, "This invite code has expired."),
        ("mismatch", 400, "Discord username does not match the invite code."),
        ("registered", 409, "This account is already registered."),
        ("short", 422, "Password must be at least 8 characters."),
        ("long", 422, "Password is too long."),
    ],
)
async def test_register_failures_have_the_spec_message_and_change_nothing(
    app: Any, client: httpx.AsyncClient, factory: Factory, case: str, status: int, message: str
):
    member = await factory.member(username="victim", registered=(case == "registered"))
    code = await make_invite(app, member.id)
    username, password = "victim", NEW_PASSWORD
    if case == "unknown":
        code = "ZZZZ2222" if code != "ZZZZ2222" else "YYYY2222"
    elif case == "used":
        await execute(app, "UPDATE common.invite_codes SET used_at = now() WHERE code = :c", c=code)
    elif case == "revoked":
        await execute(
            app, "UPDATE common.invite_codes SET revoked_at = now() WHERE code = :c", c=code
        )
    elif case == "expired":
        clock.set_now(clock.now() + timedelta(hours=72, seconds=1))
    elif case == "mismatch":
        username = "someone-else"
    elif case == "short":
        password = "seven77"
    elif case == "long":
        password = "é" * 37  # 37 characters, 74 bytes in UTF-8
    users_before = await users(app)
    response = await client.post(
        REGISTER, json={"code": code, "discord_username": username, "password": password}
    )
    assert response.status_code == status
    assert response.json() == {"ok": False, "error": message}
    assert await users(app) == users_before
    if case in ("unknown", "mismatch", "short", "long", "expired", "revoked", "registered"):
        assert await count_rows_where_used(app) == 0


async def count_rows_where_used(app: Any) -> int:
    async with app.state.sessionmaker() as session:
        return await count_rows(session, "common.invite_codes", "used_at IS NOT NULL")


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"discord_username": "victim", "password": NEW_PASSWORD}, 422),
        ({"code": "ABCD2345", "password": NEW_PASSWORD}, 422),
        ({"code": "ABCD2345", "discord_username": "victim"}, 422),
        ({"code": "   ", "discord_username": "victim", "password": NEW_PASSWORD}, 422),
        ({"code": 12345678, "discord_username": "victim", "password": NEW_PASSWORD}, 422),
        ({"code": "ABCD2345", "discord_username": ["victim"], "password": NEW_PASSWORD}, 422),
        ({"code": "ABCD2345", "discord_username": "victim", "password": None}, 422),
        ({"code": "ABCD2345", "discord_username": "v" * 101, "password": NEW_PASSWORD}, 422),
        ({"code": "A" * 51, "discord_username": "victim", "password": NEW_PASSWORD}, 422),
        ({"code": "ABCD2345", "discord_username": "victim", "password": "x" * 1001}, 422),
        ([1, 2, 3], 422),
    ],
)
async def test_register_bad_bodies_are_422_envelopes(
    app: Any, client: httpx.AsyncClient, factory: Factory, body: Any, status: int
):
    await factory.member(username="victim", registered=False)
    response = await client.post(REGISTER, json=body)
    assert response.status_code == status
    assert response.json()["ok"] is False and isinstance(response.json()["error"], str)
    assert await users(app) == 0


async def test_register_malformed_json_and_wrong_content_type(app: Any, client: httpx.AsyncClient):
    malformed = await client.post(
        REGISTER, content=b'{"code": "ABCD', headers={"Content-Type": "application/json"}
    )
    assert malformed.status_code == 400
    assert malformed.json() == {"ok": False, "error": "Malformed JSON body."}
    form = await client.post(
        REGISTER, data={"code": "ABCD2345", "discord_username": "x", "password": NEW_PASSWORD}
    )
    assert form.status_code == 415
    assert form.json()["ok"] is False
    assert await users(app) == 0


async def test_code_is_single_use(app: Any, client: httpx.AsyncClient, factory: Factory):
    member = await factory.member(username="once", registered=False)
    code = await make_invite(app, member.id)
    body = {"code": code, "discord_username": "once", "password": NEW_PASSWORD}
    first = await client.post(REGISTER, json=body)
    assert first.status_code == 201
    second = await client.post(REGISTER, json=body)
    assert second.status_code == 400
    assert second.json()["error"] == "This invite code has already been used."
    assert await users(app) == 1


async def test_reissued_code_revokes_the_old_one(
    app: Any, client: httpx.AsyncClient, factory: Factory
):
    member = await factory.member(username="reissue", registered=False)
    old = await make_invite(app, member.id)
    new = await make_invite(app, member.id)
    stale = await client.post(
        REGISTER, json={"code": old, "discord_username": "reissue", "password": NEW_PASSWORD}
    )
    assert stale.status_code == 400
    assert stale.json()["error"] == "This invite code is no longer valid."
    fresh = await client.post(
        REGISTER, json={"code": new, "discord_username": "reissue", "password": NEW_PASSWORD}
    )
    assert fresh.status_code == 201


async def test_concurrent_double_registration_with_one_code_gives_one_account(
    app: Any, client: httpx.AsyncClient, factory: Factory
):
    member = await factory.member(username="racer", registered=False)
    code = await make_invite(app, member.id)
    body = {"code": code, "discord_username": "racer", "password": NEW_PASSWORD}
    responses = await asyncio.gather(
        client.post(REGISTER, json=body), client.post(REGISTER, json=body)
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 400]
    loser = next(r for r in responses if r.status_code == 400)
    assert loser.json()["error"] == "This invite code has already been used."
    assert await users(app) == 1


async def test_expired_code_with_moved_clock(app: Any, client: httpx.AsyncClient, factory: Factory):
    member = await factory.member(username="late", registered=False)
    start = clock.now()
    clock.set_now(start)
    code = await make_invite(app, member.id, hours=72)
    clock.set_now(start + timedelta(hours=71, minutes=59))
    assert (
        await client.post(
            REGISTER, json={"code": code, "discord_username": "late", "password": "x"}
        )
    ).status_code == 422  # still valid: only the password rule fails
    clock.set_now(start + timedelta(hours=72))
    response = await client.post(
        REGISTER, json={"code": code, "discord_username": "late", "password": NEW_PASSWORD}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "This invite code has expired."
    assert await users(app) == 0


async def test_register_throttle_after_ten_failures_per_ip(app: Any, client: httpx.AsyncClient):
    headers = {"X-Forwarded-For": "203.0.113.9"}
    body = {"code": "ZZZZ2222", "discord_username": "nobody", "password": NEW_PASSWORD}
    for _ in range(10):
        assert (await client.post(REGISTER, json=body, headers=headers)).status_code == 400
    throttled = await client.post(REGISTER, json=body, headers=headers)
    assert throttled.status_code == 429
    assert throttled.json()["ok"] is False
    assert 0 < int(throttled.headers["Retry-After"]) <= 900
    other_ip = await client.post(REGISTER, json=body, headers={"X-Forwarded-For": "203.0.113.10"})
    assert other_ip.status_code == 400


# ----------------------------------------------------------------------------------- login
@pytest.mark.parametrize(
    "case", ["unknown", "unregistered", "wrong_password", "case_wrong_password"]
)
async def test_login_failures_are_generic_401(
    app: Any, client: httpx.AsyncClient, factory: Factory, case: str
):
    await factory.member(username="known")
    await factory.member(username="ghost", registered=False)
    username, password = {
        "unknown": ("stranger", DEFAULT_PASSWORD),
        "unregistered": ("ghost", DEFAULT_PASSWORD),
        "wrong_password": ("known", "not-the-password"),
        "case_wrong_password": ("KNOWN", DEFAULT_PASSWORD.upper()),
    }[case]
    response = await client.post(LOGIN, json={"discord_username": username, "password": password})
    assert response.status_code == 401
    assert response.json() == {"ok": False, "error": "Invalid credentials."}
    assert (
        await scalar(app, "SELECT count(*) FROM common.users WHERE last_login_at IS NOT NULL") == 0
    )


async def test_login_username_is_case_insensitive(client: httpx.AsyncClient, factory: Factory):
    await factory.member(username="mixedcase")
    response = await client.post(
        LOGIN, json={"discord_username": "  MixedCase ", "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"password": DEFAULT_PASSWORD},
        {"discord_username": "known"},
        {"discord_username": "", "password": DEFAULT_PASSWORD},
        {"discord_username": 5, "password": DEFAULT_PASSWORD},
        {"discord_username": "known", "password": 12345678},
        "just a string",
    ],
)
async def test_login_bad_bodies_are_422(client: httpx.AsyncClient, factory: Factory, body: Any):
    await factory.member(username="known")
    response = await client.post(LOGIN, json=body)
    assert response.status_code == 422
    assert response.json()["ok"] is False


async def test_inactive_user_403_after_correct_password_and_401_with_token(
    app: Any, client: httpx.AsyncClient, factory: Factory
):
    member = await factory.member(username="sleepy")
    await execute(
        app, "UPDATE common.users SET is_active = false WHERE id = :id", id=member.user_id
    )
    wrong = await client.post(
        LOGIN, json={"discord_username": "sleepy", "password": "wrong-password"}
    )
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "Invalid credentials."
    right = await client.post(
        LOGIN, json={"discord_username": "sleepy", "password": DEFAULT_PASSWORD}
    )
    assert right.status_code == 403
    assert right.json() == {"ok": False, "error": "Account is inactive."}
    me = await client.get(ME, headers=member.headers)
    assert me.status_code == 401
    assert me.json() == {"ok": False, "error": "Invalid token."}


# ------------------------------------------------------------------------------ token checks
async def test_me_without_token_is_401(client: httpx.AsyncClient):
    response = await client.get(ME)
    assert response.status_code == 401
    assert response.json() == {"ok": False, "error": "Not authenticated."}


async def test_forged_token_with_wrong_secret_is_401(client: httpx.AsyncClient, factory: Factory):
    member = await factory.member()
    forged = create_access_token(
        "some-other-secret-that-is-long-enough-000000",
        user_id=member.user_id or 0,
        member_id=member.id,
        rank_level=5,
        expires_minutes=60,
    )
    response = await client.get(ME, headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    assert response.json() == {"ok": False, "error": "Invalid token."}


async def test_alg_none_token_is_401(client: httpx.AsyncClient, factory: Factory):
    member = await factory.member()

    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    now = int(clock.now().timestamp())
    payload = {
        "user_id": member.user_id,
        "member_id": member.id,
        "rank_level": 5,
        "iat": now,
        "exp": now + 3600,
    }
    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(payload)}."
    response = await client.get(ME, headers={"Authorization": f"Bearer {unsigned}"})
    assert response.status_code == 401
    assert response.json() == {"ok": False, "error": "Invalid token."}


async def test_expired_token_is_401_token_has_expired(client: httpx.AsyncClient, factory: Factory):
    member = await factory.member()
    clock.advance(timedelta(minutes=61))  # the factory's tokens live 60 minutes
    response = await client.get(ME, headers=member.headers)
    assert response.status_code == 401
    assert response.json() == {"ok": False, "error": "Token has expired."}


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Basic abc", "Bearer not.a.jwt"])
async def test_malformed_authorization_header_is_401(client: httpx.AsyncClient, header: str):
    response = await client.get(ME, headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json() == {"ok": False, "error": "Invalid token."}


async def test_token_of_deleted_member_is_401(
    app: Any, client: httpx.AsyncClient, factory: Factory
):
    member = await factory.member()
    await execute(app, "DELETE FROM common.guild_members WHERE id = :id", id=member.id)
    response = await client.get(ME, headers=member.headers)
    assert response.status_code == 401
    assert response.json()["error"] == "Invalid token."


async def test_demotion_ends_old_sessions_and_new_ones_see_the_new_rank(
    app: Any, client: httpx.AsyncClient, factory: Factory
):
    async def officer_only() -> dict[str, bool]:
        return {"ok": True}

    app.add_api_route(
        "/api/v1/test-officer-only", officer_only, dependencies=[Depends(require_rank())]
    )
    officer = await factory.officer(username="demoted")
    assert (
        await client.get("/api/v1/test-officer-only", headers=officer.headers)
    ).status_code == 200
    await execute(
        app,
        "UPDATE common.guild_members SET rank_id = :r WHERE id = :id",
        r=await factory.rank_id(2),
        id=officer.id,
    )
    # a rank change signs the member out everywhere: the old token is refused
    old = await client.get("/api/v1/test-officer-only", headers=officer.headers)
    assert old.status_code == 401
    login = await client.post(
        "/api/v1/auth/login",
        json={"discord_username": "demoted", "password": officer.password},
    )
    fresh = {"Authorization": f"Bearer {login.json()['data']['token']}"}
    refused = await client.get("/api/v1/test-officer-only", headers=fresh)
    assert refused.status_code == 403
    assert refused.json() == {"ok": False, "error": "Requires rank level 4 or higher."}
    me = await client.get(ME, headers=fresh)
    assert me.json()["data"]["rank"]["level"] == 2


# -------------------------------------------------------------------------------- throttle
async def test_login_throttle_per_username_gives_429_with_retry_after(
    client: httpx.AsyncClient, factory: Factory
):
    await factory.member(username="hammered")
    bad = {"discord_username": "hammered", "password": "wrong-password"}
    for _ in range(5):
        assert (await client.post(LOGIN, json=bad)).status_code == 401
    good = {"discord_username": "Hammered", "password": DEFAULT_PASSWORD}
    throttled = await client.post(LOGIN, json=good)
    assert throttled.status_code == 429
    assert throttled.json() == {"ok": False, "error": "Too many attempts. Try again in 15 minutes."}
    assert 0 < int(throttled.headers["Retry-After"]) <= 900
    clock.advance(timedelta(minutes=15, seconds=1))
    assert (await client.post(LOGIN, json=good)).status_code == 200


async def test_successful_login_clears_the_username_counter(
    client: httpx.AsyncClient, factory: Factory
):
    await factory.member(username="forgetful")
    bad = {"discord_username": "forgetful", "password": "wrong-password"}
    good = {"discord_username": "forgetful", "password": DEFAULT_PASSWORD}
    for _ in range(4):
        assert (await client.post(LOGIN, json=bad)).status_code == 401
    assert (await client.post(LOGIN, json=good)).status_code == 200
    for _ in range(4):
        assert (await client.post(LOGIN, json=bad)).status_code == 401
    assert (await client.post(LOGIN, json=good)).status_code == 200


async def test_login_throttle_per_ip_after_twenty_failures(
    client: httpx.AsyncClient, factory: Factory
):
    await factory.member(username="innocent")
    spray = {"X-Forwarded-For": "198.51.100.7"}
    results = await asyncio.gather(
        *[
            client.post(
                LOGIN,
                json={"discord_username": f"guess{i}", "password": "pw-guess!"},
                headers=spray,
            )
            for i in range(20)
        ]
    )
    assert all(r.status_code == 401 for r in results)
    good = {"discord_username": "innocent", "password": DEFAULT_PASSWORD}
    throttled = await client.post(LOGIN, json=good, headers=spray)
    assert throttled.status_code == 429
    assert "Retry-After" in throttled.headers
    elsewhere = await client.post(LOGIN, json=good, headers={"X-Forwarded-For": "198.51.100.8"})
    assert elsewhere.status_code == 200


async def test_forwarded_for_is_ignored_from_untrusted_peers(
    database_url: str, tmp_path: Any, factory: Factory
) -> None:
    from tests.conftest import make_settings

    from patt.app import create_app

    untrusting = create_app(
        make_settings(tmp_path, trusted_proxies="10.9.9.9"), database_url=database_url
    )
    transport = httpx.ASGITransport(app=untrusting, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        for i in range(20):
            response = await http.post(
                LOGIN,
                json={"discord_username": f"guess{i}", "password": "pw-guess!"},
                headers={"X-Forwarded-For": f"192.0.2.{i}"},  # spoofed, must not spread the count
            )
            assert response.status_code == 401
        throttled = await http.post(
            LOGIN,
            json={"discord_username": "fresh", "password": "pw-guess!"},
            headers={"X-Forwarded-For": "192.0.2.200"},
        )
        assert throttled.status_code == 429
    await untrusting.state.engine.dispose()


# ------------------------------------------------------------ no lockout, bounded stores
async def test_wrong_passwords_from_elsewhere_never_lock_a_member_out(
    client: httpx.AsyncClient, factory: Factory
):
    victim = await factory.member(username="publicname")
    wrong = {"discord_username": "publicname", "password": "not-the-password-1"}
    for i in range(30):  # an attacker rotating addresses, five tries each
        response = await client.post(
            LOGIN, json=wrong, headers={"X-Forwarded-For": f"203.0.113.{i // 5 + 1}"}
        )
        assert response.status_code == 401
    right = {"discord_username": "publicname", "password": victim.password}
    fresh = await client.post(LOGIN, json=right, headers={"X-Forwarded-For": "198.51.100.50"})
    assert fresh.status_code == 200
    # while the attacker's own address is held for that username
    again = await client.post(LOGIN, json=wrong, headers={"X-Forwarded-For": "203.0.113.1"})
    assert again.status_code == 429
