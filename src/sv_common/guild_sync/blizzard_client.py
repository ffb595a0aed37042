"""Blizzard Web API client for the roster sync: OAuth client-credentials token, the guild roster,
character profiles and `fetch_guild`, which gathers the whole guild within a deadline.

Going fast without tripping Blizzard's limits (100 requests/s, 36,000/h per client): every
request holds a slot of a concurrency semaphore, then waits at the shared `RequestLimiter`
(`blizzard_limits`) and is sent at once. Retries take a fresh slot each, so they count against
the limits like first attempts. Network I/O never happens inside a database transaction: the
caller fetches first, then writes.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx

from sv_common import clock as wall_clock
from sv_common.guild_sync.blizzard_limits import Clock, RequestLimiter, Sleep
from sv_common.guild_sync.blizzard_models import (
    DEFAULT_RANK_NAMES,
    GuildSnapshot,
    MalformedRoster,
    Profile,
    ProfileStatus,
    Roster,
    RosterEntry,
    SnapshotCharacter,
    merge_character,
    parse_profile,
    parse_roster,
)

log = logging.getLogger(__name__)

TIMEOUT = httpx.Timeout(connect=5.0, read=20.0, write=10.0, pool=60.0)
TOKEN_SAFETY_MARGIN = 300.0  # refresh this long before Blizzard says the token expires
ASSUMED_TOKEN_LIFETIME = 3600.0  # used when a token response omits `expires_in`
SERVER_ERROR_ATTEMPTS = 4  # 5xx, timeouts, connection errors, unreadable 2xx bodies
THROTTLED_ATTEMPTS = 5  # 429
RETRIED_STATUSES = frozenset({500, 502, 503, 504})
MAX_BACKOFF = 30.0
MAX_RETRY_AFTER = 120.0
# After the token endpoint rejected the credentials, further calls fail at once for this long
# instead of hammering the endpoint once per pending profile request.
AUTH_FAILURE_MEMORY = 60.0
CREDENTIALS_HINT = "check BLIZZARD_CLIENT_ID and BLIZZARD_CLIENT_SECRET"


@dataclass(frozen=True, slots=True)
class BlizzardConfig:
    """Everything the client needs, as plain values (built from the settings by the caller)."""

    client_id: str = ""
    client_secret: str = ""
    region: str = "us"
    locale: str = "en_US"
    api_base_url: str = ""  # empty: https://{region}.api.blizzard.com
    oauth_url: str = "https://oauth.battle.net/token"
    guild_realm_slug: str = "senjin"
    guild_name_slug: str = "pull-all-the-things"
    home_realm_name: str = "Sen'jin"
    game_rank_names: tuple[str, ...] = DEFAULT_RANK_NAMES
    max_concurrency: int = 16
    rate_per_second: int = 90
    hourly_budget: int = 35000
    burst: int | None = None  # token-bucket capacity; None: a tenth of a second's worth

    def __post_init__(self) -> None:
        for name in ("max_concurrency", "rate_per_second", "hourly_budget"):
            if getattr(self, name) < 1:
                raise ValueError(f"BlizzardConfig.{name} must be at least 1")
        if self.burst is not None and not 1 <= self.burst <= self.rate_per_second:
            raise ValueError("BlizzardConfig.burst must be between 1 and rate_per_second")

    @property
    def burst_size(self) -> int:
        """Requests that may leave back to back after a pause (see `blizzard_limits`)."""
        return self.burst if self.burst is not None else max(1, self.rate_per_second // 10)

    @property
    def configured(self) -> bool:
        """True when both OAuth credentials are set (otherwise the Blizzard sync is disabled)."""
        return bool(self.client_id.strip() and self.client_secret.strip())

    @property
    def base_url(self) -> str:
        """API root without a trailing slash."""
        return (self.api_base_url or f"https://{self.region}.api.blizzard.com").rstrip("/")

    @property
    def namespace(self) -> str:
        """The profile namespace; the guild roster lives under /data/ but belongs to it too."""
        return f"profile-{self.region}"


class BlizzardError(Exception):
    """A Blizzard request failed for good (after any retries)."""

    def __init__(self, status: int | None, path: str, message: str | None = None) -> None:
        self.status = status
        self.path = path
        self.message = message or (
            f"Blizzard API error {status} for {path}" if status else f"Blizzard API failed: {path}"
        )
        super().__init__(self.message)


class BlizzardAuthError(BlizzardError):
    """The OAuth credentials are missing or were rejected."""

    def __init__(self, message: str, *, status: int | None = None, path: str = "token") -> None:
        super().__init__(status, path, message)


def encode_path_segment(text: str) -> str:
    """A name or slug as it must appear in a profile URL: NFC, `str.lower()`, every UTF-8 byte
    outside the unreserved set percent-encoded (Zoëlle → zo%C3%ABlle)."""
    return quote(unicodedata.normalize("NFC", text).lower(), safe="")


def profile_path(realm_slug: str, name: str) -> str:
    """Path of a character profile."""
    return f"/profile/wow/character/{encode_path_segment(realm_slug)}/{encode_path_segment(name)}"


def roster_path(realm_slug: str, guild_slug: str) -> str:
    """Path of a guild roster."""
    return f"/data/wow/guild/{encode_path_segment(realm_slug)}/{encode_path_segment(guild_slug)}/roster"


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or HTTP date), capped at 120 s."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = (moment - wall_clock.now()).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


class BlizzardClient:
    """Async client for the endpoints the sync uses; one instance per process (limits are per
    instance). Construction does no network I/O; the token is fetched on the first call."""

    def __init__(
        self,
        config: BlizzardConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.config = config
        self._clock = clock
        self.clock = clock  # callers compute `fetch_guild` deadlines on this clock
        self._sleep = sleep
        self._rng = rng
        # Room above the semaphore for token calls, so they never wait for an API connection.
        connections = config.max_concurrency + 2
        self._http = httpx.AsyncClient(
            transport=transport,
            timeout=TIMEOUT,
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
            headers={"Accept": "application/json", "User-Agent": "patt-guild-sync"},
            follow_redirects=False,
        )
        self._semaphore = asyncio.Semaphore(config.max_concurrency)
        self.limiter = RequestLimiter(
            rate_per_second=config.rate_per_second,
            hourly_budget=config.hourly_budget,
            burst=config.burst_size,
            clock=clock,
            sleep=sleep,
        )
        self._token: str | None = None
        self._token_valid_until = float("-inf")
        self._token_lock = asyncio.Lock()
        self._auth_failed_at: float | None = None
        self._auth_failure: BlizzardAuthError | None = None
        self.request_count = 0  # API attempts, retries included
        self.token_request_count = 0
        self.in_flight = 0
        self.max_in_flight = 0

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._http.aclose()

    async def __aenter__(self) -> BlizzardClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------------------ token
    def _valid_token(self) -> str | None:
        if self._token is not None and self._clock() < self._token_valid_until:
            return self._token
        return None

    async def _bearer_token(self) -> str:
        """The cached token, or a new one; concurrent callers share a single token request."""
        token = self._valid_token()
        if token is not None:
            return token
        async with self._token_lock:
            token = self._valid_token()  # another caller may have refreshed while we waited
            if token is not None:
                return token
            return await self._fetch_token()

    def _drop_token(self, rejected: str) -> None:
        """Forget the token a 401 answered, unless a newer one already replaced it."""
        if self._token == rejected:
            self._token = None
            self._token_valid_until = float("-inf")

    async def _fetch_token(self) -> str:
        if not self.config.configured:
            raise BlizzardAuthError(
                "Blizzard sync is not configured: set BLIZZARD_CLIENT_ID and BLIZZARD_CLIENT_SECRET"
            )
        if (
            self._auth_failure is not None
            and self._auth_failed_at is not None
            and self._clock() - self._auth_failed_at < AUTH_FAILURE_MEMORY
        ):
            raise self._auth_failure
        failures = 0
        while True:
            requested_at = self._clock()
            self.token_request_count += 1
            problem: str
            try:
                response = await self._http.post(
                    self.config.oauth_url,
                    data={"grant_type": "client_credentials"},
                    auth=(self.config.client_id, self.config.client_secret),
                )
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                problem = f"{type(exc).__name__}"
            else:
                if response.status_code in (400, 401):
                    error = BlizzardAuthError(
                        f"Blizzard rejected the client credentials ({response.status_code}); "
                        f"{CREDENTIALS_HINT}",
                        status=response.status_code,
                    )
                    self._auth_failed_at, self._auth_failure = self._clock(), error
                    raise error
                if response.is_success:
                    accepted = self._accept_token(response, requested_at)
                    if accepted is not None:
                        return accepted
                    problem = "unreadable token response"
                elif response.status_code in RETRIED_STATUSES:
                    problem = f"status {response.status_code}"
                else:
                    raise BlizzardError(
                        response.status_code,
                        "token",
                        f"token request failed ({response.status_code})",
                    )
            failures += 1
            if failures >= SERVER_ERROR_ATTEMPTS:
                raise BlizzardError(None, "token", f"token request failed: {problem}")
            log.warning("Blizzard token request failed (%s); retrying", problem)
            await self._sleep(self._backoff(failures))

    def _accept_token(self, response: httpx.Response, requested_at: float) -> str | None:
        try:
            body = response.json()
        except ValueError:
            return None
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token.strip():
            return None
        lifetime = body.get("expires_in")
        if isinstance(lifetime, bool) or not isinstance(lifetime, int | float) or lifetime <= 0:
            log.warning("Blizzard token response without a usable expires_in; assuming 1 hour")
            lifetime = ASSUMED_TOKEN_LIFETIME
        self._token = token
        # Counted from when we asked, so network delay never stretches the token's life.
        self._token_valid_until = requested_at + float(lifetime) - TOKEN_SAFETY_MARGIN
        self._auth_failure = None
        return token

    # ---------------------------------------------------------------------------- requests
    def _backoff(self, failures: int) -> float:
        """Full-jitter exponential backoff after the n-th failure: random(0, min(30, 2^(n-1)))."""
        return self._rng() * min(MAX_BACKOFF, 2.0 ** (failures - 1))

    async def _send(self, url: str, token: str) -> httpx.Response:
        """One attempt: a concurrency slot, then a rate slot, then the request at once."""
        async with self._semaphore:
            await self.limiter.acquire()
            self.request_count += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                return await self._http.get(
                    url,
                    params={"namespace": self.config.namespace, "locale": self.config.locale},
                    headers={"Authorization": f"Bearer {token}"},
                )
            finally:
                self.in_flight -= 1

    async def get_json(self, path: str) -> dict[str, Any] | None:
        """GET an API path with retries; the JSON object, or None for a 404."""
        url = self.config.base_url + path
        server_failures = 0
        throttled = 0
        reauthorised = False
        while True:
            token = await self._bearer_token()
            problem: str
            try:
                response = await self._send(url, token)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                problem = type(exc).__name__
            else:
                status = response.status_code
                if status == 404:
                    return None
                if status == 401:
                    if reauthorised:
                        raise BlizzardAuthError("credentials rejected", status=401, path=path)
                    reauthorised = True
                    self._drop_token(token)
                    continue
                if status == 429:
                    throttled += 1
                    if throttled >= THROTTLED_ATTEMPTS:
                        raise BlizzardError(
                            429, path, f"still rate limited after {throttled} attempts: {path}"
                        )
                    wait = parse_retry_after(response.headers.get("Retry-After"))
                    if wait is None:
                        wait = self._backoff(throttled)
                    # Every worker waits, not just this one: the limit is per client.
                    self.limiter.pause_until(self._clock() + wait)
                    log.info("Blizzard 429 on %s; all requests paused for %.2f s", path, wait)
                    continue
                if response.is_success:
                    body = _json_object(response)
                    if body is not None:
                        return body
                    problem = "unreadable JSON body"
                elif status in RETRIED_STATUSES:
                    problem = f"status {status}"
                else:
                    raise BlizzardError(status, path)
            server_failures += 1
            if server_failures >= SERVER_ERROR_ATTEMPTS:
                raise BlizzardError(None, path, f"Blizzard request failed ({problem}): {path}")
            await self._sleep(self._backoff(server_failures))

    async def get_roster(self) -> Roster:
        """The guild roster; raises `BlizzardError` when it is missing or unusable."""
        realm, guild = self.config.guild_realm_slug, self.config.guild_name_slug
        path = roster_path(realm, guild)
        data = await self.get_json(path)
        if data is None:
            raise BlizzardError(404, path, f"guild not found: {realm}/{guild}")
        try:
            return parse_roster(data)
        except MalformedRoster as exc:
            raise BlizzardError(None, path, str(exc)) from exc

    async def get_profile(self, realm_slug: str, name: str) -> Profile | None:
        """A character profile, or None when Blizzard does not know the character (404)."""
        data = await self.get_json(profile_path(realm_slug, name))
        return None if data is None else parse_profile(data)

    # ------------------------------------------------------------------------- whole guild
    async def _cancel_at(self, deadline: float, tasks: Sequence[asyncio.Future[Any]]) -> None:
        await self._sleep(max(0.0, deadline - self._clock()))
        for task in tasks:
            task.cancel()

    async def _until_deadline(
        self, deadline: float, work: Sequence[Awaitable[Any]]
    ) -> tuple[list[Any], bool]:
        """Run `work` concurrently; whatever is unfinished at `deadline` is cancelled.
        Returns each result or exception, and whether the deadline cut anything short."""
        tasks = [asyncio.ensure_future(item) for item in work]
        watchdog = asyncio.ensure_future(self._cancel_at(deadline, tasks))
        try:
            results = await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            watchdog.cancel()
            for task in tasks:
                task.cancel()
        cut_short = any(isinstance(result, asyncio.CancelledError) for result in results)
        return list(results), cut_short

    async def fetch_guild(self, deadline: float) -> GuildSnapshot:
        """Roster plus every member's profile, finished or cut off by `deadline` (a time on the
        client's clock, e.g. `time.monotonic() + 1200`). Raises `BlizzardError` when the roster
        cannot be had (failed, 404, empty, or not in time)."""
        started = self._clock()
        requests_before = self.request_count
        (roster_result,), late = await self._until_deadline(deadline, [self.get_roster()])
        if late:
            raise BlizzardError(None, "roster", "sync deadline reached before the roster arrived")
        if isinstance(roster_result, BaseException):
            raise roster_result
        roster: Roster = roster_result
        if not roster.entries:
            raise BlizzardError(None, "roster", "empty roster")
        entries, duplicates = _unique_entries(roster.entries)
        results, deadline_hit = await self._until_deadline(
            deadline, [self.get_profile(entry.realm_slug, entry.name) for entry in entries]
        )
        characters: list[SnapshotCharacter] = []
        counts = {status: 0 for status in ProfileStatus}
        failures: dict[str, int] = {}
        for entry, result in zip(entries, results, strict=True):
            if isinstance(result, BaseException):
                status = ProfileStatus.FAILED
                kind = "deadline" if isinstance(result, asyncio.CancelledError) else str(result)
                failures[kind] = failures.get(kind, 0) + 1
                if not isinstance(result, BlizzardError | asyncio.CancelledError):
                    log.error(
                        "profile of %s-%s failed unexpectedly",
                        entry.name,
                        entry.realm_slug,
                        exc_info=result,
                    )
                profile = None
            else:
                profile = result
                status = ProfileStatus.MISSING if profile is None else ProfileStatus.OK
            counts[status] += 1
            characters.append(
                merge_character(
                    entry,
                    profile,
                    status,
                    rank_names=self.config.game_rank_names,
                    home_realm_slug=self.config.guild_realm_slug,
                    home_realm_name=self.config.home_realm_name,
                )
            )
        for kind, number in sorted(failures.items(), key=lambda item: -item[1])[:5]:
            log.warning("Blizzard sync: %s profile(s) failed: %s", number, kind)
        return GuildSnapshot(
            guild_name=roster.guild_name,
            characters=tuple(characters),
            profiles_ok=counts[ProfileStatus.OK],
            profiles_missing=counts[ProfileStatus.MISSING],
            profiles_failed=counts[ProfileStatus.FAILED],
            requests=self.request_count - requests_before,
            seconds=self._clock() - started,
            deadline_hit=deadline_hit,
            duplicates=duplicates,
            skipped_entries=roster.skipped,
            unidentified_ids=roster.unidentified_ids,
        )


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    """The body as a JSON object, or None when it is not one (treated like a server error)."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _unique_entries(entries: Sequence[RosterEntry]) -> tuple[list[RosterEntry], int]:
    """First entry per character (same name and realm, or same id); the rest counted."""
    seen_keys: set[tuple[str, str]] = set()
    seen_ids: set[int] = set()
    unique: list[RosterEntry] = []
    for entry in entries:
        key = (entry.name.lower(), entry.realm_slug)
        if key in seen_keys or entry.blizzard_id in seen_ids:
            log.warning(
                "Blizzard roster lists %s-%s twice; keeping the first", entry.name, entry.realm_slug
            )
            continue
        seen_keys.add(key)
        seen_ids.add(entry.blizzard_id)
        unique.append(entry)
    return unique, len(entries) - len(unique)


__all__ = [
    "BlizzardAuthError",
    "BlizzardClient",
    "BlizzardConfig",
    "BlizzardError",
    "GuildSnapshot",
    "Profile",
    "ProfileStatus",
    "Roster",
    "RosterEntry",
    "SnapshotCharacter",
    "encode_path_segment",
    "parse_retry_after",
    "profile_path",
    "roster_path",
]
