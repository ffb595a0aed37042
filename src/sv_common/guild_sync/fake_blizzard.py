"""A fake Blizzard Web API for tests, demo mode, local trials and benchmarks.

The same `FakeBlizzard` object serves two ways:
- as an `httpx.MockTransport` handler (`fake.transport()`), driven by an injectable clock and
  sleep so tests can run rate limits in virtual time;
- as a real HTTP server (`FakeBlizzardServer`, uvicorn in a background thread, or
  `python -m sv_common.guild_sync.fake_blizzard`), so the real client can be pointed at it with
  `BLIZZARD_API_BASE_URL` / `BLIZZARD_OAUTH_URL`.

It checks requests the way the real API does, so client bugs show up: the token must be a live
Bearer token from its own OAuth endpoint (client credentials via HTTP Basic), the `namespace`
and `locale` query parameters must be right, names in profile paths must be lower-case and
percent-encoded, and (optionally) more than 100 requests in a second get a 429. Responses use
Blizzard's JSON shapes, unused keys included (the data lives in `fake_blizzard_guild`). Test knobs: scripted replies per path
(`fake.script(path, 429, 200)`), a failing or shrunken roster, random 429s, latency, and
counters (`requests`, `token_requests`, `sent_at`, `max_in_flight`).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import random
import re
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qs, quote, unquote_to_bytes

import httpx

from sv_common.guild_sync.fake_blizzard_guild import (
    FakeGuild,
    fixture_profiles,
    fixture_roster,
    generate_guild,
    profile_document,
    roster_document,
    roster_member,
)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
ASGIReceive = Callable[[], Awaitable[MutableMapping[str, Any]]]
ASGISend = Callable[[MutableMapping[str, Any]], Awaitable[None]]

STATS_PATH = "/_fake/stats"  # the fake's own counters; not part of Blizzard's API


def _error(status: int, detail: str) -> dict[str, Any]:
    return {"code": status, "type": f"BLZWEBAPI{status:08d}", "detail": detail}


# ------------------------------------------------------------------------------- the fake API
class RosterMode(StrEnum):
    """How the fake answers the roster request."""

    OK = "ok"
    NOT_FOUND = "404"
    SERVER_ERROR = "500"
    EMPTY = "empty"  # 200 with an empty members list
    SHRUNK = "shrunk"  # 200 with only the first `shrink_to` members
    NO_MEMBERS = "no_members"  # 200 without a members key


@dataclass(frozen=True)
class Reply:
    """A scripted answer. Status 200 without a body means "answer normally"."""

    status: int
    retry_after: str | None = None
    body: bytes | None = None


@dataclass
class _Answer:
    status: int
    payload: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None

    def encoded(self) -> bytes:
        if self.raw is not None:
            return self.raw
        return json.dumps(self.payload, ensure_ascii=False).encode("utf-8")


_HEX_ESCAPE = re.compile(r"%[0-9a-fA-F]{2}")


def _decode_segment(raw: str) -> str | None:
    """A percent-encoded path segment as text, or None when it is not valid UTF-8."""
    try:
        return unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return None


def _strictly_encoded(raw: str, decoded: str) -> bool:
    """True when `raw` percent-encodes every byte outside the unreserved set (as Blizzard's own
    links do): an apostrophe or accent sent as-is is a client bug."""
    canonical = _HEX_ESCAPE.sub(lambda match: match.group(0).upper(), raw)
    return canonical == quote(decoded, safe="")


def max_in_window(times: Iterable[float], window: float = 1.0) -> int:
    """Largest number of `times` inside any half-open window [t, t + window)."""
    ordered = sorted(times)
    best = 0
    start = 0
    for end, moment in enumerate(ordered):
        while ordered[start] <= moment - window:
            start += 1
        best = max(best, end - start + 1)
    return best


class FakeBlizzard:
    """Fake Blizzard OAuth + Web API (roster and profiles). Call it with an `httpx.Request`
    (MockTransport handler) or mount `asgi` in an ASGI server."""

    def __init__(
        self,
        *,
        roster: dict[str, Any] | None = None,
        profiles: Mapping[tuple[str, str], dict[str, Any]] | None = None,
        client_id: str = "fake-client-id",
        client_secret: str = "fake-client-secret",
        region: str = "us",
        locale: str = "en_US",
        guild_realm_slug: str = "senjin",
        guild_name_slug: str = "pull-all-the-things",
        token_expires_in: int = 86399,
        latency: float = 0.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        limit_per_second: int | None = None,
        random_429_rate: float = 0.0,
        random_retry_after: int = 1,
        roster_mode: RosterMode | str = RosterMode.OK,
        shrink_to: int = 3,
        seed: int = 0,
    ) -> None:
        self.roster = roster if roster is not None else fixture_roster()
        self.profiles: dict[tuple[str, str], dict[str, Any]] = dict(
            profiles if profiles is not None else (fixture_profiles() if roster is None else {})
        )
        self.client_id = client_id
        self.client_secret = client_secret
        self.namespace = f"profile-{region}"
        self.locale = locale
        self.guild_realm_slug = guild_realm_slug
        self.guild_name_slug = guild_name_slug
        self.token_expires_in = token_expires_in
        self.latency = latency
        self.clock = clock
        self.sleep = sleep
        self.limit_per_second = limit_per_second
        self.random_429_rate = random_429_rate
        self.random_retry_after = random_retry_after
        self.roster_mode = RosterMode(roster_mode)
        self.shrink_to = shrink_to
        self._rng = random.Random(seed)
        self.scripts: dict[str, deque[Reply]] = {}
        self.tokens: dict[str, float] = {}  # token → expiry on `clock`
        # Counters for assertions and benchmark reports.
        self.requests = 0  # API requests (token calls are counted separately)
        self.token_requests = 0
        self.sent_at: list[float] = []
        self.paths: list[str] = []  # raw (still percent-encoded) API paths, in arrival order
        self.statuses: list[int] = []
        self.throttled = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._recent: deque[float] = deque()

    # ----------------------------------------------------------------------------- knobs
    def script(self, path: str, *replies: int | Reply) -> None:
        """Answer the next requests for `path` (raw path, e.g. '/token' or a roster path) with
        these statuses in order, then normally again."""
        queue = self.scripts.setdefault(path, deque())
        queue.extend(reply if isinstance(reply, Reply) else Reply(reply) for reply in replies)

    def expire_tokens(self) -> None:
        """Invalidate every issued token (the next API call gets a 401)."""
        self.tokens.clear()

    def transport(self) -> httpx.MockTransport:
        """An httpx transport answering from this fake."""
        return httpx.MockTransport(self)

    # -------------------------------------------------------------------------- handlers
    async def __call__(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        raw_path = request.url.raw_path.split(b"?", 1)[0].decode("ascii")
        query = parse_qs(request.url.query.decode("ascii"), keep_blank_values=True)
        headers = {key.lower(): value for key, value in request.headers.items()}
        answer = await self.respond(request.method, raw_path, query, headers, body)
        return httpx.Response(
            answer.status,
            headers={"Content-Type": "application/json;charset=UTF-8", **answer.headers},
            content=answer.encoded(),
        )

    async def asgi(
        self, scope: MutableMapping[str, Any], receive: ASGIReceive, send: ASGISend
    ) -> None:
        """ASGI entry point for uvicorn."""
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        raw = scope.get("raw_path") or quote(scope["path"]).encode("ascii")
        raw_path = raw.split(b"?", 1)[0].decode("ascii", errors="replace")
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        answer = await self.respond(scope["method"], raw_path, query, headers, body)
        payload = answer.encoded()
        response_headers = [
            (b"content-type", b"application/json;charset=UTF-8"),
            (b"content-length", str(len(payload)).encode()),
        ] + [(k.lower().encode(), v.encode()) for k, v in answer.headers.items()]
        await send(
            {"type": "http.response.start", "status": answer.status, "headers": response_headers}
        )
        await send({"type": "http.response.body", "body": payload})

    def stats(self) -> dict[str, Any]:
        """Counters for benchmarks and black-box tests (served at `/_fake/stats`)."""
        return {
            "requests": self.requests,
            "token_requests": self.token_requests,
            "throttled": self.throttled,
            "max_per_second": max_in_window(self.sent_at, 1.0),
            "max_in_flight": self.max_in_flight,
            "first_request_at": self.sent_at[0] if self.sent_at else None,
            "last_request_at": self.sent_at[-1] if self.sent_at else None,
        }

    async def respond(
        self,
        method: str,
        raw_path: str,
        query: Mapping[str, list[str]],
        headers: Mapping[str, str],
        body: bytes,
    ) -> _Answer:
        """The fake's answer to one request (after its latency)."""
        if raw_path == STATS_PATH:
            return _Answer(200, self.stats())
        is_token = raw_path.rstrip("/").endswith("/token") or raw_path == "/oauth/token"
        now = self.clock()
        if is_token:
            self.token_requests += 1
        else:
            self.requests += 1
            self.sent_at.append(now)
            self.paths.append(raw_path)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.latency > 0:
                await self.sleep(self.latency)
            answer = self._scripted(raw_path)
            if answer is None:
                if is_token:
                    answer = self._token(method, headers, body)
                else:
                    answer = self._api(method, raw_path, query, headers, now)
        finally:
            self.in_flight -= 1
        if not is_token:
            self.statuses.append(answer.status)
        return answer

    def _scripted(self, raw_path: str) -> _Answer | None:
        queue = self.scripts.get(raw_path)
        if not queue:
            return None
        reply = queue.popleft()
        if reply.status == 200 and reply.body is None:
            return None
        headers = {"Retry-After": reply.retry_after} if reply.retry_after is not None else {}
        if reply.body is not None:
            return _Answer(reply.status, headers=headers, raw=reply.body)
        return _Answer(reply.status, _error(reply.status, "scripted"), headers)

    def _token(self, method: str, headers: Mapping[str, str], body: bytes) -> _Answer:
        if method != "POST":
            return _Answer(405, {"error": "method_not_allowed"})
        if not self._basic_auth_ok(headers.get("authorization", "")):
            return _Answer(401, {"error": "invalid_client", "error_description": "Invalid client"})
        form = parse_qs(body.decode("utf-8", errors="replace"))
        if form.get("grant_type") != ["client_credentials"]:
            return _Answer(400, {"error": "unsupported_grant_type"})
        token = f"fake-token-{self.token_requests}-{self._rng.getrandbits(32):08x}"
        self.tokens[token] = self.clock() + self.token_expires_in
        return _Answer(
            200,
            {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": self.token_expires_in,
                "sub": self.client_id,
            },
        )

    def _basic_auth_ok(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return False
        client_id, _, secret = decoded.partition(":")
        return client_id == self.client_id and secret == self.client_secret

    def _api(
        self,
        method: str,
        raw_path: str,
        query: Mapping[str, list[str]],
        headers: Mapping[str, str],
        now: float,
    ) -> _Answer:
        if method != "GET":
            return _Answer(405, _error(405, "Method Not Allowed"))
        if "access_token" in query:
            return _Answer(400, _error(400, "send the token in the Authorization header"))
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or self.tokens.get(token, float("-inf")) <= self.clock():
            return _Answer(401, _error(401, "Unauthorized"))
        if self._over_limit(now) or (
            self.random_429_rate > 0 and self._rng.random() < self.random_429_rate
        ):
            self.throttled += 1
            return _Answer(
                429, _error(429, "Too Many Requests"), {"Retry-After": str(self.random_retry_after)}
            )
        if query.get("namespace") != [self.namespace]:
            return _Answer(404, _error(404, "Not Found"))
        if query.get("locale") != [self.locale]:
            return _Answer(400, _error(400, "missing or unexpected locale"))
        segments = raw_path.split("/")
        if (
            len(segments) == 7
            and segments[1:4] == ["data", "wow", "guild"]
            and segments[6] == "roster"
        ):
            return self._roster(segments[4], segments[5])
        if len(segments) == 6 and segments[1:4] == ["profile", "wow", "character"]:
            return self._profile(segments[4], segments[5])
        return _Answer(404, _error(404, "Not Found"))

    def _over_limit(self, now: float) -> bool:
        if self.limit_per_second is None:
            return False
        while self._recent and self._recent[0] <= now - 1.0:
            self._recent.popleft()
        self._recent.append(now)
        return len(self._recent) > self.limit_per_second

    def _roster(self, realm: str, guild: str) -> _Answer:
        if (realm, guild) != (self.guild_realm_slug, self.guild_name_slug):
            return _Answer(404, _error(404, "Not Found"))
        mode = self.roster_mode
        if mode is RosterMode.NOT_FOUND:
            return _Answer(404, _error(404, "Not Found"))
        if mode is RosterMode.SERVER_ERROR:
            return _Answer(500, _error(500, "Internal Server Error"))
        document = dict(self.roster)
        members = list(self.roster.get("members") or [])
        if mode is RosterMode.EMPTY:
            document["members"] = []
        elif mode is RosterMode.SHRUNK:
            document["members"] = members[: self.shrink_to]
        elif mode is RosterMode.NO_MEMBERS:
            document.pop("members", None)
        return _Answer(200, document)

    def _profile(self, raw_realm: str, raw_name: str) -> _Answer:
        realm = _decode_segment(raw_realm)
        name = _decode_segment(raw_name)
        # Blizzard only knows lower-case names; an unencoded or upper-case name is a 404.
        if (
            realm is None
            or name is None
            or realm != realm.lower()
            or name != name.lower()
            or not _strictly_encoded(raw_name, name)
        ):
            return _Answer(404, _error(404, "Not Found"))
        profile = self.profiles.get((realm, name))
        if profile is None:
            return _Answer(404, _error(404, "Not Found"))
        return _Answer(200, profile)


# ------------------------------------------------------------------------------ as a server
class FakeBlizzardServer:
    """Runs a `FakeBlizzard` under uvicorn in a background thread (`with` or start/stop)."""

    def __init__(self, fake: FakeBlizzard, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.fake = fake
        self.host = host
        self.port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL, usable as BLIZZARD_API_BASE_URL."""
        return f"http://{self.host}:{self.port}"

    @property
    def oauth_url(self) -> str:
        """Token endpoint, usable as BLIZZARD_OAUTH_URL."""
        return f"{self.url}/token"

    def start(self, timeout: float = 10.0) -> FakeBlizzardServer:
        """Start serving; returns once the port is listening."""
        import uvicorn

        config = uvicorn.Config(
            self.fake.asgi,
            host=self.host,
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            interface="asgi3",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="fake-blizzard", daemon=True)
        self._thread.start()
        give_up = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > give_up or not self._thread.is_alive():
                raise RuntimeError("fake Blizzard server did not start")
            time.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> FakeBlizzardServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """`python -m sv_common.guild_sync.fake_blizzard`: serve a generated guild over HTTP."""
    parser = argparse.ArgumentParser(
        prog="python -m sv_common.guild_sync.fake_blizzard",
        description="Serve a fake Blizzard API (OAuth token, guild roster, character profiles) "
        "with a generated guild, for demo mode, local trials and benchmarks.",
    )
    parser.add_argument("--members", type=int, default=1000, help="guild size (default 1000)")
    parser.add_argument(
        "--latency-ms", type=float, default=50.0, help="delay per request (default 50)"
    )
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    parser.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    parser.add_argument(
        "--not-found", type=float, default=0.02, help="fraction of profiles answering 404 (0.02)"
    )
    parser.add_argument("--random-429", type=float, default=0.0, help="fraction of random 429s")
    parser.add_argument(
        "--roster-mode", choices=[mode.value for mode in RosterMode], default=RosterMode.OK.value
    )
    parser.add_argument("--client-id", default="fake-client-id")
    parser.add_argument("--client-secret", default="fake-client-secret")
    args = parser.parse_args(argv)
    if args.members < 1:
        parser.error("--members must be at least 1")
    guild = generate_guild(args.members, seed=args.seed, not_found_fraction=args.not_found)
    fake = FakeBlizzard(
        roster=guild.roster,
        profiles=guild.profiles,
        client_id=args.client_id,
        client_secret=args.client_secret,
        latency=args.latency_ms / 1000,
        limit_per_second=100,
        random_429_rate=args.random_429,
        roster_mode=args.roster_mode,
    )
    base = f"http://{args.host}:{args.port}"
    print(f"Fake Blizzard: {args.members} members, {guild.missing_profiles} without a profile")
    print(f"  BLIZZARD_API_BASE_URL={base}")
    print(f"  BLIZZARD_OAUTH_URL={base}/token")
    print(f"  BLIZZARD_CLIENT_ID={args.client_id}")
    print(f"  BLIZZARD_CLIENT_SECRET={args.client_secret}", flush=True)
    import uvicorn

    uvicorn.run(
        fake.asgi,
        host=args.host,
        port=args.port,
        log_level="warning",
        lifespan="off",
        interface="asgi3",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = [
    "STATS_PATH",
    "FakeBlizzard",
    "FakeBlizzardServer",
    "FakeGuild",
    "Reply",
    "RosterMode",
    "fixture_profiles",
    "fixture_roster",
    "generate_guild",
    "max_in_window",
    "profile_document",
    "roster_document",
    "roster_member",
]
