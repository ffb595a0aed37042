"""The soak's traffic: virtual users sending a mix of page views, sign-ins, ballots, raid
sign-ups, availability updates and officer edits, plus officer sync triggers and a health probe.

Every request is recorded in the `Ledger` (kind, when it was sent, status or transport error,
latency). Every write carries a marker that appears nowhere else (quote text, a new member's
name, a character name, a notes text, one ballot per member and campaign), so `soak_verify` can
check afterwards that each acknowledged write (2xx) is in the database exactly once.

Writes that overwrite (a member's availability notes, a member's officer notes) are sent by one
virtual user per member, one after the other, so the last acknowledged marker is the one that
must be stored (unless a later attempt that got no answer landed after it).
"""

from __future__ import annotations

import asyncio
import contextlib
import http.cookiejar
import itertools
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from bench.database import BENCH_PASSWORD, SeededMember, letters
from bench.runner import Bench

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# Weights of the mix a virtual user draws from (sign-in is rate-limited on top: bcrypt is slow).
MIX = {
    "browse": 50,
    "vote": 14,
    "availability": 10,
    "signup": 6,
    "quote": 5,
    "new_member": 4,
    "member_notes": 5,
    "signin": 6,
}
WRITE_KINDS = ("vote", "availability", "signup", "quote", "new_member", "member_notes")
SIGNIN_INTERVAL = 1.5  # seconds between sign-ins across all users (bcrypt cost 12)
PICKS = 3


@dataclass
class Attempt:
    """One request and what came back."""

    kind: str
    sent: float  # seconds since the soak started
    latency_ms: float
    status: int | None  # None when no HTTP answer arrived
    error: str | None = None  # the transport error's class name
    marker: dict[str, Any] | None = None  # what a write should leave in the database
    seq: int = 0  # order of sending among attempts of the same marker key

    @property
    def outcome(self) -> str:
        """The status code, or the transport error."""
        return str(self.status) if self.status is not None else (self.error or "no answer")

    @property
    def acknowledged(self) -> bool:
        """A 2xx answer."""
        return self.status is not None and 200 <= self.status < 300

    @property
    def failed(self) -> bool:
        """A 5xx answer or no answer at all."""
        return self.status is None or self.status >= 500


@dataclass
class Ledger:
    """Every attempt and the soak's timeline (seconds since start)."""

    started: float = field(default_factory=time.monotonic)
    wall_started: datetime = field(default_factory=lambda: datetime.now(UTC))
    attempts: list[Attempt] = field(default_factory=list)
    events: list[tuple[float, str]] = field(default_factory=list)
    _seq: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def now(self) -> float:
        return time.monotonic() - self.started

    def event(self, name: str) -> float:
        """Record a timeline event; returns its time."""
        moment = self.now()
        self.events.append((moment, name))
        return moment

    def when(self, name: str) -> float | None:
        """Time of the first event called `name`."""
        return next((t for t, n in self.events if n == name), None)

    async def send(
        self,
        kind: str,
        request: Callable[[], Awaitable[httpx.Response]],
        marker: dict[str, Any] | None = None,
    ) -> httpx.Response | None:
        """Send one request and record it; transport errors are recorded, not raised."""
        sent = self.now()
        begin = time.perf_counter()
        seq = next(self._seq)
        try:
            response = await request()
        except httpx.HTTPError as exc:
            latency = (time.perf_counter() - begin) * 1000
            self.attempts.append(
                Attempt(kind, sent, latency, None, type(exc).__name__, marker, seq)
            )
            return None
        latency = (time.perf_counter() - begin) * 1000
        self.attempts.append(Attempt(kind, sent, latency, response.status_code, None, marker, seq))
        return response


@dataclass
class Guild:
    """What the seeding produced and the traffic acts on."""

    leader: SeededMember
    members: list[SeededMember]  # registered raiders: sign-in, availability, officer notes
    voters: list[SeededMember]
    campaigns: list[tuple[int, list[int]]]  # (campaign id, entry ids)


def no_cookies() -> httpx.Cookies:
    """A cookie jar that keeps nothing: every request says who it is by itself."""
    return httpx.Cookies(
        http.cookiejar.CookieJar(policy=http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    )


def bearer(member: SeededMember) -> dict[str, str]:
    """Authorization header of a member (a token signed with the soak server's secret)."""
    assert member.user_id is not None
    return {"Authorization": f"Bearer {Bench.token(member.id, member.user_id, member.level)}"}


class Traffic:
    """Virtual users, the officer sync trigger and the health probe, until `stop` is set."""

    def __init__(self, url: str, guild: Guild, ledger: Ledger, *, users: int, seed: int = 1):
        self.url = url
        self.guild = guild
        self.ledger = ledger
        self.users = users
        self.rng = random.Random(seed)
        self.leader_headers = bearer(guild.leader)
        self.member_headers = {m.id: bearer(m) for m in guild.members}
        self.voter_headers = {v.id: bearer(v) for v in guild.voters}
        # every (campaign, voter) pair once: a ballot is a write with a natural unique marker
        self._ballots = iter(
            [(c, e, v) for c, e in guild.campaigns for v in guild.voters] if guild.campaigns else []
        )
        # voters with an acknowledged ballot, per campaign: they may read live standings
        self._voted: dict[int, list[SeededMember]] = {c: [] for c, _ in guild.campaigns}
        self._numbers = itertools.count(1)
        self._last_signin = 0.0
        self._signin_turn = itertools.cycle(guild.members)

    def _next(self) -> int:
        return next(self._numbers)

    def _forwarded(self, number: int) -> dict[str, str]:
        """A client address of its own (the app trusts the loopback proxy's X-Forwarded-For),
        so per-address limits apply per virtual person, as behind the production proxy."""
        return {
            "X-Forwarded-For": f"10.{(number >> 16) & 255}.{(number >> 8) & 255}.{number & 255}"
        }

    async def run(self, stop: asyncio.Event, *, sync_every: float) -> None:
        """All loops until `stop` is set; waits for requests in flight."""
        limits = httpx.Limits(max_connections=self.users + 4, max_keepalive_connections=self.users)
        async with httpx.AsyncClient(
            base_url=self.url, limits=limits, timeout=httpx.Timeout(15.0), cookies=no_cookies()
        ) as client:
            loops = [self._user(client, index, stop) for index in range(self.users)]
            loops.append(self._sync_trigger(client, stop, sync_every))
            loops.append(self._health_probe(client, stop))
            await asyncio.gather(*loops)

    # ----------------------------------------------------------------------------- loops
    async def _user(self, client: httpx.AsyncClient, index: int, stop: asyncio.Event) -> None:
        rng = random.Random(index * 7919 + 1)
        own = self.guild.members[index :: self.users]  # members whose overwrites this user sends
        kinds = list(MIX)
        weights = [MIX[k] for k in kinds]
        while not stop.is_set():
            kind = rng.choices(kinds, weights)[0]
            if kind == "signin" and self.ledger.now() - self._last_signin < SIGNIN_INTERVAL:
                kind = "browse"
            await getattr(self, f"_{kind}")(client, rng, own)
            await asyncio.sleep(rng.uniform(0.0, 0.04))

    async def _sync_trigger(
        self, client: httpx.AsyncClient, stop: asyncio.Event, every: float
    ) -> None:
        """An officer asks for a Blizzard and a Discord sync every `every` seconds."""
        while not stop.is_set():
            for source in ("blizzard", "discord"):
                await self.ledger.send(
                    f"sync_{source}",
                    lambda s=source: client.post(  # type: ignore[misc]
                        f"/api/guild-sync/{s}/trigger", headers=self.leader_headers
                    ),
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)

    async def _health_probe(self, client: httpx.AsyncClient, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.ledger.send("health", lambda: client.get("/api/health"))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.25)

    # ---------------------------------------------------------------------- operations
    async def _browse(
        self, client: httpx.AsyncClient, rng: random.Random, own: list[SeededMember]
    ) -> None:
        campaign = self.guild.campaigns[rng.randrange(len(self.guild.campaigns))][0]
        member = rng.choice(self.guild.members)
        voted = self._voted[campaign]
        results = (  # live standings are shown to members who voted (403 otherwise)
            (f"/api/v1/campaigns/{campaign}/results", self.voter_headers[rng.choice(voted).id])
            if voted
            else (f"/api/v1/campaigns/{campaign}", {})
        )
        path, headers = rng.choice(
            [
                ("/", {}),
                ("/roster-view", {}),
                ("/api/v1/guild/roster", {}),
                ("/api/v1/guild/roster-data", {}),
                ("/api/v1/guild/availability", {}),
                ("/api/v1/campaigns", {}),
                results,
                (f"/vote/{campaign}", {}),
                ("/api/v1/guild/mito", {}),
                ("/api/v1/auth/me", self.member_headers[member.id]),
            ]
        )
        await self.ledger.send("browse", lambda: client.get(path, headers=headers))

    async def _signin(
        self, client: httpx.AsyncClient, rng: random.Random, own: list[SeededMember]
    ) -> None:
        self._last_signin = self.ledger.now()
        member = next(self._signin_turn)
        body = {"discord_username": member.username, "password": BENCH_PASSWORD}
        headers = self._forwarded(member.id)
        response = await self.ledger.send(
            "signin", lambda: client.post("/api/v1/auth/login", json=body, headers=headers)
        )
        if response is not None and response.status_code == 200:
            token = response.json()["data"]["token"]
            await self.ledger.send(
                "browse",
                lambda: client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}),
            )

    async def _vote(
        self, client: httpx.AsyncClient, rng: random.Random, own: list[SeededMember]
    ) -> None:
        pair = next(self._ballots, None)
        if pair is None:  # every voter has voted in every campaign
            await self._browse(client, rng, own)
            return
        campaign, entries, voter = pair
        picks = rng.sample(entries, PICKS)
        body = {"picks": [{"entry_id": e, "rank": r} for r, e in enumerate(picks, 1)]}
        marker = {"campaign_id": campaign, "member_id": voter.id, "picks": picks}
        headers = self.voter_headers[voter.id]
        response = await self.ledger.send(
            "vote",
            lambda: client.post(f"/api/v1/campaigns/{campaign}/vote", json=body, headers=headers),
            marker,
        )
        if response is not None and response.status_code == 201:
            self._voted[campaign].append(voter)

    async def _availability(
        self, client: httpx.AsyncClient, rng: random.Random, own: list[SeededMember]
    ) -> None:
        member = rng.choice(own)
        notes = f"soak availability {self._next()} {rng.getrandbits(32):08x}"
        body = {
            "availability": {day: rng.random() < 0.6 for day in DAYS},
            "autoSignup": rng.random() < 0.3,
            "notes": notes,
        }
        headers = self.member_headers[member.id]
        await self.ledger.send(
            "availability",
            lambda: client.post("/api/v1/guild/availability", json=body, headers=headers),
            {"member_id": member.id, "notes": notes},
        )

    async def _signup(
        self, client: httpx.AsyncClient, rng: random.Random, own: list[SeededMember]
    ) -> None:
        number = self._next()
        discord = f"soak_signup_{number:06d}"
        character = ("Sgn" + letters(number, 5)).title()
        notes = f"soak sign-up {number} {rng.getrandbits(32):08x}"
        body = {
            "discordName": discord,
            "characterName": character,
            "class": "Mage",
            "spec": "Frost",
            "mainAlt": "Main",
            "availability": {day: rng.random() < 0.5 for day in DAYS},
            "notes": notes,
        }
        csrf = f"soak-csrf-{number}-{rng.getrandbits(64):016x}"
        headers = {
            "Cookie": f"patt_csrf={csrf}",
            "X-CSRF-Token": csrf,
            **self._forwarded(1_000_000 + number),
        }
        await self.ledger.send(
            "signup",
            lambda: client.post("/api/v1/guild/roster-submit", json=body, headers=headers),
            {"discord": discord, "character": character, "notes": notes},
        )

    async def _quote(
        self, client: httpx.AsyncClient, rng: random.Random, own: list[SeededMember]
    ) -> None:
        text = f"Soak quote {self._next()} {rng.getrandbits(48):012x}"
        await self.ledger.send(
            "quote",
            lambda: client.post(
                "/api/v1/guild/mito/quotes", json={"quote": text}, headers=self.leader_headers
            ),
            {"quote": text},
        )

    async def _new_member(
        self, client: httpx.AsyncClient, rng: random.Random, own: list[SeededMember]
    ) -> None:
        number = self._next()
        username = f"soak_new_{number:06d}"
        body = {"discord_username": username, "display_name": f"Soak New {number}"}
        await self.ledger.send(
            "new_member",
            lambda: client.post("/api/v1/admin/members", json=body, headers=self.leader_headers),
            {"username": username},
        )

    async def _member_notes(
        self, client: httpx.AsyncClient, rng: random.Random, own: list[SeededMember]
    ) -> None:
        member = rng.choice(own)
        notes = f"soak officer note {self._next()} {rng.getrandbits(32):08x}"
        await self.ledger.send(
            "member_notes",
            lambda: client.patch(
                f"/api/v1/admin/members/{member.id}",
                json={"notes": notes},
                headers=self.leader_headers,
            ),
            {"member_id": member.id, "notes": notes},
        )
