"""`FakeDiscordService`: an in-memory Discord server for tests, demo mode and local trials (70 §2.5–2.6).

It behaves like the real bot at the interface level: the same errors, DM outcomes and message
limits. Two ways to build it:

- in memory: `FakeDiscordService(members=[...], roles=[...])` or `from_fixture(dict)` (tests);
- file-backed: `from_file(path, outbox=...)` (`DISCORD_BACKEND=fake`). The JSON file is re-read
  on every `list_members()` call, i.e. on every full sync, so an operator or a black-box test can
  edit it and trigger a sync. A file that cannot be read or parsed makes that sync fail with the
  file's problem named (`DiscordUnavailable`, nothing is written; the problem is also kept in
  `file_error`); the next sync after the file is fixed works again. Like a real bot whose member
  fetch failed, the fake stays `ready` with its last good data meanwhile, so DMs and posts keep
  working; only a fake that never read its file successfully is in state `error` (unavailable:
  DMs answer `bot_unavailable`). Every delivered DM and post is appended to the outbox as one
  JSON line: `{"kind": "dm"|"post", "to", "content", "embeds", "at"}`.

`@everyone` (a role named exactly so) may appear in a fixture's `roles` and in members' role
lists; it is skipped in both places, as the real bot never reports it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sv_common import clock
from sv_common.discord import limits
from sv_common.discord.interface import (
    DiscordMemberInfo,
    DiscordRole,
    DiscordSendError,
    DiscordUnavailable,
    DMStatus,
    Embed,
    Listener,
    MemberEvent,
    ServiceState,
)
from sv_common.identity.realms import is_snowflake

log = logging.getLogger(__name__)


EVERYONE = "@everyone"


class FakeFixtureError(ValueError):
    """The fake's fixture (dict or file) is malformed; the message says where."""


# ----------------------------------------------------------------------------- fixture parsing
def _snowflake(value: Any, where: str) -> str:
    if not is_snowflake(value):
        raise FakeFixtureError(f"{where}: {value!r} is not a snowflake (a string of 17-20 digits)")
    return str(value)


def _optional_text(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise FakeFixtureError(f"{where} must be a string or null")
    return value or None


def _parse_time(value: Any, where: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise FakeFixtureError(f"{where} must be an ISO 8601 string or null")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise FakeFixtureError(f"{where}: {value!r} is not an ISO 8601 time") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_roles(raw: Any) -> list[DiscordRole]:
    """Roles of a fixture (`@everyone` is dropped, as the real bot never reports it)."""
    if not isinstance(raw, list):
        raise FakeFixtureError("'roles' must be a list")
    roles: list[DiscordRole] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        where = f"roles[{index}]"
        if not isinstance(item, dict):
            raise FakeFixtureError(f"{where} must be an object")
        role_id = _snowflake(item.get("id"), f"{where}.id")
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            raise FakeFixtureError(f"{where}.name must be a non-empty string")
        position = item.get("position", 0)
        if not isinstance(position, int) or isinstance(position, bool):
            raise FakeFixtureError(f"{where}.position must be an integer")
        if role_id in seen:
            raise FakeFixtureError(f"{where}: duplicate role id {role_id}")
        seen.add(role_id)
        if name == EVERYONE:
            continue
        roles.append(DiscordRole(id=role_id, name=name, position=position))
    return roles


def everyone_role_ids(raw: Any) -> set[str]:
    """Ids of the fixture roles named `@everyone` (skipped by `parse_roles` and `parse_members`)."""
    if not isinstance(raw, list):
        return set()
    return {
        str(item.get("id"))
        for item in raw
        if isinstance(item, dict) and item.get("name") == EVERYONE and is_snowflake(item.get("id"))
    }


def parse_members(
    raw: Any, roles: Sequence[DiscordRole], *, everyone: Collection[str] = ()
) -> list[DiscordMemberInfo]:
    """Members of a fixture; their `roles` are ids of the fixture's roles.

    Ids in `everyone` (the `@everyone` role, see `everyone_role_ids`) are accepted and dropped.
    """
    if not isinstance(raw, list):
        raise FakeFixtureError("'members' must be a list")
    by_id = {role.id: role for role in roles}
    skipped = set(everyone)
    members: list[DiscordMemberInfo] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        where = f"members[{index}]"
        if not isinstance(item, dict):
            raise FakeFixtureError(f"{where} must be an object")
        user_id = _snowflake(item.get("id"), f"{where}.id")
        if user_id in seen:
            raise FakeFixtureError(f"{where}: duplicate member id {user_id}")
        seen.add(user_id)
        username = item.get("username")
        if not isinstance(username, str) or not username.strip():
            raise FakeFixtureError(f"{where}.username must be a non-empty string")
        role_ids = item.get("roles", [])
        if not isinstance(role_ids, list):
            raise FakeFixtureError(f"{where}.roles must be a list of role ids")
        member_roles: list[DiscordRole] = []
        for role_index, role_id in enumerate(role_ids):
            role_id = _snowflake(role_id, f"{where}.roles[{role_index}]")
            if role_id in skipped:
                continue
            if role_id not in by_id:
                raise FakeFixtureError(f"{where}.roles[{role_index}]: unknown role id {role_id}")
            member_roles.append(by_id[role_id])
        bot = item.get("bot", False)
        if not isinstance(bot, bool):
            raise FakeFixtureError(f"{where}.bot must be true or false")
        members.append(
            DiscordMemberInfo(
                id=user_id,
                username=username.strip(),
                global_name=_optional_text(item.get("global_name"), f"{where}.global_name"),
                nick=_optional_text(item.get("nick"), f"{where}.nick"),
                roles=tuple(member_roles),
                joined_at=_parse_time(item.get("joined_at"), f"{where}.joined_at"),
                bot=bot,
            )
        )
    return members


def parse_fixture(data: Any) -> tuple[list[DiscordRole], list[DiscordMemberInfo], set[str]]:
    """Validate a whole fixture: (roles, members, dms_closed); FakeFixtureError on any problem."""
    if not isinstance(data, dict):
        raise FakeFixtureError("the fixture must be a JSON object with 'roles' and 'members'")
    raw_roles = data.get("roles", [])
    roles = parse_roles(raw_roles)
    members = parse_members(data.get("members", []), roles, everyone=everyone_role_ids(raw_roles))
    closed_raw = data.get("dms_closed", [])
    if not isinstance(closed_raw, list):
        raise FakeFixtureError("'dms_closed' must be a list of user ids")
    closed = {_snowflake(v, f"dms_closed[{i}]") for i, v in enumerate(closed_raw)}
    return roles, members, closed


def load_fixture_file(
    path: str | Path,
) -> tuple[list[DiscordRole], list[DiscordMemberInfo], set[str]]:
    """Read and validate a fixture file; FakeFixtureError names the file and the problem.

    Messages name the file, not its path: they reach officers (sync log, pages), who have no
    business with the server's directories; the full path is logged for the operator.
    """
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        log.error("cannot read Discord fake file %s: %s", source, exc)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "unreadable"
        raise FakeFixtureError(f"cannot read Discord fake file {source.name}: {reason}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        log.error("Discord fake file %s is not valid JSON", source)
        raise FakeFixtureError(
            f"Discord fake file {source.name} is not valid JSON (line {exc.lineno}: {exc.msg})"
        ) from exc
    try:
        return parse_fixture(data)
    except FakeFixtureError as exc:
        log.error("Discord fake file %s: %s", source, exc)
        raise FakeFixtureError(f"Discord fake file {source.name}: {exc}") from exc


def embed_to_dict(embed: Embed) -> dict[str, Any]:
    """JSON form of an embed (outbox lines)."""
    return {
        "title": embed.title,
        "description": embed.description,
        "colour": embed.colour,
        "fields": [{"name": f.name, "value": f.value, "inline": f.inline} for f in embed.fields],
        "footer": embed.footer,
        "timestamp": embed.timestamp.isoformat() if embed.timestamp else None,
    }


# -------------------------------------------------------------------------------- the fake
class FakeDiscordService:
    """In-memory Discord server implementing `DiscordService`."""

    def __init__(
        self,
        members: Sequence[DiscordMemberInfo] = (),
        roles: Sequence[DiscordRole] = (),
        available: bool = True,
        *,
        dms_closed: set[str] | None = None,
        outbox: str | Path | None = None,
        source_file: str | Path | None = None,
    ) -> None:
        self._members: dict[str, DiscordMemberInfo] = {m.id: m for m in members}
        self._roles: list[DiscordRole] = list(roles)
        self.state: ServiceState = "ready" if available else "disabled"
        self.dms_closed: set[str] = set(dms_closed or ())
        self.sent_dms: list[tuple[str, str, Embed | None]] = []
        self.dm_attempts: list[tuple[str, DMStatus]] = []
        self.posts: list[tuple[str, str | None, list[Embed]]] = []
        self.fail_posts_with: int | None = None
        self.fail_members_with: Exception | None = None
        self.outbox: Path | None = Path(outbox) if outbox else None
        self.source_file: Path | None = Path(source_file) if source_file else None
        self.is_file_fake = self.source_file is not None
        self.file_error: str | None = None  # the file's problem at the last read, if any
        self._file_read_ok = False  # a good read happened: keep serving that data on errors
        self._listeners: list[Listener] = []
        self._next_message = 300000000000000000

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_fixture(cls, data: Any, *, available: bool = True) -> FakeDiscordService:
        """Build from a fixture dict (70 §2.5 shape); FakeFixtureError when malformed."""
        roles, members, closed = parse_fixture(data)
        return cls(members=members, roles=roles, available=available, dms_closed=closed)

    @classmethod
    def from_file(cls, path: str | Path, *, outbox: str | Path | None = None) -> FakeDiscordService:
        """The file-backed fake of `DISCORD_BACKEND=fake`; a bad file leaves it in state `error`."""
        fake = cls(available=True, outbox=outbox, source_file=path)
        try:
            fake.reload()
        except FakeFixtureError as exc:
            log.error("%s", exc)
            fake.file_error = str(exc)
            fake.state = "error"
        return fake

    def reload(self) -> None:
        """Re-read the source file; on error the current data stays and the error is raised."""
        if self.source_file is None:
            return
        roles, members, closed = load_fixture_file(self.source_file)
        self._roles = roles
        self._members = {m.id: m for m in members}
        self.dms_closed = closed
        self._file_read_ok = True

    # ------------------------------------------------------------------ state
    @property
    def available(self) -> bool:
        """True when ready."""
        return self.state == "ready"

    def set_available(self, value: bool) -> None:
        """Toggle availability (tests)."""
        self.state = "ready" if value else "disabled"

    async def wait_ready(self, timeout: float = 30) -> bool:  # noqa: ASYNC109 - 70 §2.2 signature
        """Returns at once: the fake is ready or it is not."""
        return self.available

    def _require_available(self) -> None:
        if not self.available:
            raise DiscordUnavailable()

    # ------------------------------------------------------------------ reads
    @property
    def members(self) -> list[DiscordMemberInfo]:
        """Current members (tests may inspect)."""
        return list(self._members.values())

    def set_members(self, members: Sequence[DiscordMemberInfo]) -> None:
        """Replace the whole member list without events (tests)."""
        self._members = {m.id: m for m in members}

    async def list_members(self) -> list[DiscordMemberInfo]:
        """All members incl. bots; a file-backed fake re-reads its file first.

        A bad file raises DiscordUnavailable naming the problem. The fake stays `ready` with
        its last good data when it had one (DMs and posts keep working), else it is `error`.
        """
        if self.source_file is not None and self.state in ("ready", "error"):
            try:
                self.reload()
            except FakeFixtureError as exc:
                self.file_error = str(exc)
                if not self._file_read_ok:
                    self.state = "error"
                raise DiscordUnavailable(str(exc)) from exc
            self.file_error = None
            self.state = "ready"
        self._require_available()
        if self.fail_members_with is not None:
            raise self.fail_members_with
        return list(self._members.values())

    async def get_member(self, user_id: str) -> DiscordMemberInfo | None:
        """One member or None."""
        self._require_available()
        return self._members.get(user_id)

    async def list_roles(self) -> list[DiscordRole]:
        """Server roles, highest position first."""
        self._require_available()
        return sorted(self._roles, key=lambda r: r.position, reverse=True)

    # ------------------------------------------------------------------ writes
    def _append_outbox(
        self, kind: str, to: str, content: str | None, embeds: Sequence[Embed]
    ) -> None:
        if self.outbox is None:
            return
        line = {
            "kind": kind,
            "to": to,
            "content": content,
            "embeds": [embed_to_dict(e) for e in embeds],
            "at": clock.now().isoformat(),
        }
        self.outbox.parent.mkdir(parents=True, exist_ok=True)
        with self.outbox.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(line, ensure_ascii=False) + "\n")

    async def send_dm(self, user_id: str, content: str, embed: Embed | None = None) -> DMStatus:
        """Deliver a DM like the real bot would; never raises."""
        status = self._dm_status(user_id, content, embed)
        self.dm_attempts.append((user_id, status))
        if status is DMStatus.SENT:
            self.sent_dms.append((user_id, content, embed))
            self._append_outbox("dm", user_id, content, [embed] if embed else [])
        return status

    def _dm_status(self, user_id: str, content: str, embed: Embed | None) -> DMStatus:
        if not self.available:
            return DMStatus.BOT_UNAVAILABLE
        try:
            limits.check_message(content, [embed] if embed else [])
        except ValueError:
            log.warning("DM to %s refused: message breaks Discord limits", user_id)
            return DMStatus.FAILED
        if user_id in self.dms_closed:
            return DMStatus.DMS_CLOSED
        if user_id not in self._members:
            return DMStatus.UNKNOWN_USER
        return DMStatus.SENT

    async def post(
        self, channel_id: str, content: str | None = None, embeds: Sequence[Embed] = ()
    ) -> str:
        """Record a channel message (limits checked first, like the real one)."""
        limits.check_message(content, embeds)
        self._require_available()
        if self.fail_posts_with is not None:
            raise DiscordSendError(self.fail_posts_with, "Missing Access")
        self.posts.append((channel_id, content, list(embeds)))
        self._append_outbox("post", channel_id, content, embeds)
        self._next_message += 1
        return str(self._next_message)

    # ------------------------------------------------------------------ events
    def subscribe(self, listener: Listener) -> None:
        """Register a member-event listener."""
        self._listeners.append(listener)

    async def _emit(self, event: MemberEvent) -> None:
        for listener in list(self._listeners):
            await listener(event)

    async def emit_join(self, member: DiscordMemberInfo) -> None:
        """A member joined the server."""
        self._members[member.id] = member
        await self._emit(MemberEvent(kind="join", member=member))

    async def emit_remove(self, user_id: str) -> None:
        """A member left (or was kicked); unknown ids still produce an event, as on Discord."""
        member = self._members.pop(user_id, None) or DiscordMemberInfo(id=user_id, username="")
        await self._emit(MemberEvent(kind="remove", member=member))

    async def emit_update(self, before: DiscordMemberInfo, after: DiscordMemberInfo) -> None:
        """Nickname or roles changed."""
        self._members[after.id] = after
        await self._emit(MemberEvent(kind="update", member=after, before=before))

    async def emit_user_update(self, before: DiscordMemberInfo, after: DiscordMemberInfo) -> None:
        """Username or global name changed (server-specific fields are kept)."""
        current = self._members.get(after.id)
        if current is not None:
            after = replace(current, username=after.username, global_name=after.global_name)
            self._members[after.id] = after
        await self._emit(MemberEvent(kind="user_update", member=after, before=before))
