"""sv_common.auth building blocks: passwords, JWT, invite-code format, throttle, CSRF; and the
request helpers of patt.core.netutil (safe `next`, client IP behind trusted proxies)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import string
import threading
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import jwt as pyjwt
import pytest
from starlette.requests import Request

from patt.core.netutil import client_ip, is_trusted_proxy, safe_next_path
from sv_common import clock
from sv_common.auth import passwords
from sv_common.auth.csrf import new_csrf_token, tokens_match
from sv_common.auth.invite_codes import ALPHABET, invite_problem, new_code, normalise_code
from sv_common.auth.jwt import TokenExpired, TokenInvalid, create_access_token, decode_access_token
from sv_common.errors import Invalid

SECRET = "unit-secret-0123456789abcdef0123456789abcdef"


@pytest.fixture(autouse=True)
def real_clock() -> Any:
    clock.reset()
    yield
    clock.reset()


# -------------------------------------------------------------------------------- passwords
def test_hashes_are_salted_and_verify() -> None:
    first = passwords.hash_password("hunter2-hunter2", rounds=4)
    second = passwords.hash_password("hunter2-hunter2", rounds=4)
    assert first != second
    assert "hunter2" not in first
    assert passwords.verify_password("hunter2-hunter2", first)
    assert passwords.verify_password("hunter2-hunter2", second)


def test_default_cost_is_12() -> None:
    # the suite lowers the cost for speed (tests/conftest.py); production keeps the default
    previous = passwords._rounds
    passwords.set_rounds(passwords.BCRYPT_ROUNDS)
    try:
        assert passwords.hash_password("abcdefgh").startswith("$2b$12$")
    finally:
        passwords.set_rounds(previous)


@pytest.mark.parametrize(
    ("plain", "stored"),
    [
        ("wrong-password", None),
        ("", None),
        ("hunter2-hunter2", "not-a-bcrypt-hash"),
        ("hunter2-hunter2", ""),
        ("hunter2-hunter2", "$2b$12$short"),
    ],
)
def test_verify_returns_false_never_raises(plain: str, stored: str | None) -> None:
    good = passwords.hash_password("hunter2-hunter2", rounds=4)
    assert passwords.verify_password(plain, stored if stored is not None else good) is False


def test_verify_rejects_overlong_input_without_raising() -> None:
    stored = passwords.hash_password("x" * 72, rounds=4)
    assert passwords.verify_password("x" * 73, stored) is False


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("", "Password must be at least 8 characters."),
        ("1234567", "Password must be at least 8 characters."),
        ("x" * 73, "Password is too long."),
        ("é" * 37, "Password is too long."),  # 37 characters, 74 bytes
    ],
)
def test_password_rules_reject(password: str, message: str) -> None:
    with pytest.raises(Invalid) as caught:
        passwords.check_password_rules(password)
    assert caught.value.message == message


@pytest.mark.parametrize("password", ["12345678", "x" * 72, "é" * 36, "pass word with spaces"])
def test_password_rules_accept(password: str) -> None:
    passwords.check_password_rules(password)


async def test_async_helpers_run_in_the_pool() -> None:
    stored = await passwords.hash_password_async("async-password", rounds=4)
    assert await passwords.verify_password_async("async-password", stored)
    assert not await passwords.verify_password_async("other-password", stored)
    assert not await passwords.verify_password_async("async-password", None)  # dummy hash path


async def test_event_loop_stays_free_while_hashing() -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    await passwords.hash_password_async("blocking-would-show", rounds=12)
    task.cancel()
    assert ticks >= 5


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="thread priorities are a Unix feature")
async def test_hashing_threads_run_at_a_lower_priority() -> None:
    # the event loop's thread keeps its priority; the pool's threads give way to it
    def priority() -> tuple[int, int]:
        return threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    loop_thread, loop_priority = priority()
    pool_thread, pool_priority = await asyncio.get_running_loop().run_in_executor(
        passwords._pool, priority
    )
    assert pool_thread != loop_thread
    assert pool_priority == min(19, loop_priority + passwords.BCRYPT_NICENESS)
    assert os.getpriority(os.PRIO_PROCESS, loop_thread) == loop_priority


# -------------------------------------------------------------------------------------- jwt
def _token(**overrides: Any) -> str:
    now = int(clock.now().timestamp())
    payload: dict[str, Any] = {
        "user_id": 1,
        "member_id": 2,
        "rank_level": 3,
        "iat": now,
        "exp": now + 600,
    }
    payload.update(overrides)
    payload = {k: v for k, v in payload.items() if v is not None}
    return pyjwt.encode(payload, SECRET, algorithm="HS256")


def test_round_trip_carries_the_claims() -> None:
    token = create_access_token(SECRET, user_id=7, member_id=9, rank_level=4, expires_minutes=30)
    claims = decode_access_token(SECRET, token)
    assert (claims["user_id"], claims["member_id"], claims["rank_level"]) == (7, 9, 4)
    assert claims["exp"] - claims["iat"] == 30 * 60


def test_wrong_secret_is_invalid() -> None:
    token = create_access_token(SECRET, user_id=1, member_id=1, rank_level=1, expires_minutes=5)
    with pytest.raises(TokenInvalid):
        decode_access_token(SECRET + "x", token)


def test_alg_none_is_invalid() -> None:
    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    now = int(clock.now().timestamp())
    claims = {"user_id": 1, "member_id": 1, "rank_level": 5, "iat": now, "exp": now + 60}
    with pytest.raises(TokenInvalid):
        decode_access_token(SECRET, f"{b64({'alg': 'none'})}.{b64(claims)}.")


def test_other_hmac_algorithm_is_invalid() -> None:
    now = int(clock.now().timestamp())
    claims = {"user_id": 1, "member_id": 1, "rank_level": 5, "iat": now, "exp": now + 60}
    long_secret = SECRET * 2  # HS512 wants a 64-byte key
    token = pyjwt.encode(claims, long_secret, algorithm="HS512")
    with pytest.raises(TokenInvalid):
        decode_access_token(long_secret, token)


@pytest.mark.parametrize("missing", ["user_id", "member_id", "rank_level", "iat", "exp"])
def test_missing_claims_are_invalid(missing: str) -> None:
    with pytest.raises(TokenInvalid):
        decode_access_token(SECRET, _token(**{missing: None}))


@pytest.mark.parametrize("bad", [{"member_id": "2"}, {"user_id": True}, {"rank_level": 1.5}])
def test_wrongly_typed_claims_are_invalid(bad: dict[str, Any]) -> None:
    with pytest.raises(TokenInvalid):
        decode_access_token(SECRET, _token(**bad))


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "🙂.🙂.🙂"])
def test_malformed_tokens_are_invalid(garbage: str) -> None:
    with pytest.raises(TokenInvalid):
        decode_access_token(SECRET, garbage)


def test_expiry_follows_the_injectable_clock() -> None:
    token = create_access_token(SECRET, user_id=1, member_id=1, rank_level=1, expires_minutes=10)
    clock.advance(timedelta(minutes=9, seconds=59))
    decode_access_token(SECRET, token)
    clock.advance(timedelta(seconds=1))
    with pytest.raises(TokenExpired) as caught:
        decode_access_token(SECRET, token)
    assert caught.value.message == "Token has expired."


def test_a_remembered_token_is_still_checked() -> None:
    # verified signatures are remembered; the secret, the claims and expiry still count
    token = create_access_token(SECRET, user_id=1, member_id=7, rank_level=1, expires_minutes=10)
    claims = decode_access_token(SECRET, token)
    claims["member_id"] = 99
    assert decode_access_token(SECRET, token)["member_id"] == 7
    with pytest.raises(TokenInvalid):
        decode_access_token(SECRET + "-rotated", token)
    clock.advance(timedelta(minutes=10))
    with pytest.raises(TokenExpired):
        decode_access_token(SECRET, token)


def test_token_minted_under_a_future_clock_is_accepted() -> None:
    clock.set_now(datetime.now(UTC) + timedelta(days=30))
    token = create_access_token(SECRET, user_id=1, member_id=1, rank_level=1, expires_minutes=10)
    assert decode_access_token(SECRET, token)["member_id"] == 1


# ----------------------------------------------------------------------------- invite codes
def test_new_codes_use_the_unambiguous_alphabet() -> None:
    assert set(ALPHABET) == set(string.ascii_uppercase + string.digits) - set("0O1IL")
    codes = {new_code() for _ in range(500)}
    assert len(codes) == 500
    for code in codes:
        assert len(code) == 8
        assert set(code) <= set(ALPHABET)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("abcd-2345", "ABCD2345"),
        ("  AbCd 2345 ", "ABCD2345"),
        ("AB-CD 23-45", "ABCD2345"),
        ("ABCD2345", "ABCD2345"),
        ("", ""),
    ],
)
def test_normalise_code(typed: str, expected: str) -> None:
    assert normalise_code(typed) == expected


def test_invite_problem_messages_in_rule_order() -> None:
    now = clock.now()
    fresh = SimpleNamespace(used_at=None, revoked_at=None, expires_at=now + timedelta(hours=1))
    assert invite_problem(None) == "Invalid invite code."
    assert invite_problem(fresh) is None  # type: ignore[arg-type]
    used = SimpleNamespace(used_at=now, revoked_at=now, expires_at=now - timedelta(hours=1))
    assert invite_problem(used) == "This invite code has already been used."  # type: ignore[arg-type]
    revoked = SimpleNamespace(used_at=None, revoked_at=now, expires_at=now - timedelta(hours=1))
    assert invite_problem(revoked) == "This invite code is no longer valid."  # type: ignore[arg-type]
    expired = SimpleNamespace(used_at=None, revoked_at=None, expires_at=now)
    assert invite_problem(expired) == "This invite code has expired."  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------- csrf
def test_csrf_tokens_are_random_and_url_safe() -> None:
    first, second = new_csrf_token(), new_csrf_token()
    assert first != second
    assert len(first) >= 43
    assert set(first) <= set(string.ascii_letters + string.digits + "-_")


@pytest.mark.parametrize(
    ("cookie", "submitted", "ok"),
    [
        ("abc", "abc", True),
        ("abc", "abd", False),
        ("abc", "", False),
        ("", "", False),
        (None, "abc", False),
        ("abc", None, False),
        ("abc", "abc ", False),
    ],
)
def test_csrf_tokens_match(cookie: str | None, submitted: str | None, ok: bool) -> None:
    assert tokens_match(cookie, submitted) is ok


# -------------------------------------------------------------------------------- netutil
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/vote/3", "/vote/3"),
        ("/admin/roster?tab=1", "/admin/roster?tab=1"),
        (None, "/"),
        ("", "/"),
        ("//evil.example", "/"),
        ("///evil.example", "/"),
        ("https://evil.example/", "/"),
        ("javascript:alert(1)", "/"),
        ("/\\evil.example", "/"),
        ("\\\\evil.example", "/"),
        ("/\t/evil.example", "/"),
        ("/\n/evil.example", "/"),
        ("vote/3", "/"),
        ("/" + "a" * 3000, "/"),
    ],
)
def test_safe_next_path(raw: str | None, expected: str) -> None:
    assert safe_next_path(raw) == expected


def _request(peer: str, forwarded: str | None, trusted: str) -> Request:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded is not None else []
    settings = SimpleNamespace(trusted_proxy_list=[p.strip() for p in trusted.split(",") if p])
    app = SimpleNamespace(state=SimpleNamespace(settings=settings))
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "headers": headers,
        "client": (peer, 5555),
        "app": app,
    }
    return Request(scope)


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "expected"),
    [
        ("203.0.113.5", None, "127.0.0.1", "203.0.113.5"),
        ("203.0.113.5", "1.2.3.4", "127.0.0.1", "203.0.113.5"),  # untrusted peer: header ignored
        ("127.0.0.1", "1.2.3.4", "127.0.0.1", "1.2.3.4"),
        ("127.0.0.1", "6.6.6.6, 1.2.3.4", "127.0.0.1", "1.2.3.4"),  # rightmost untrusted hop
        ("10.0.0.2", "1.2.3.4, 10.0.0.1", "10.0.0.0/8", "1.2.3.4"),  # CIDR, chained proxies
        ("127.0.0.1", None, "127.0.0.1", "127.0.0.1"),
        ("127.0.0.1", "", "127.0.0.1", "127.0.0.1"),
        ("::1", "2001:db8::7", "::1", "2001:db8::7"),
    ],
)
def test_client_ip(peer: str, forwarded: str | None, trusted: str, expected: str) -> None:
    assert client_ip(_request(peer, forwarded, trusted)) == expected


def test_bad_trusted_proxy_entries_trust_nothing() -> None:
    assert is_trusted_proxy("127.0.0.1", ["not-an-ip"]) is False
    assert is_trusted_proxy("garbage", ["127.0.0.1"]) is False
