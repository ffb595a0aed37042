"""The Discord interface every platform module talks to (70 §2): value types, errors, protocol.

Nothing outside `sv_common/discord/bot.py` imports discord.py; role sync, member sync, the
reporter, the invite endpoint and the scheduler only see the types below.
Snowflakes are decimal strings everywhere.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal, Protocol, runtime_checkable

ServiceState = Literal["disabled", "connecting", "ready", "error"]
MemberEventKind = Literal["join", "remove", "update", "user_update"]


@dataclass(frozen=True)
class DiscordRole:
    """A server role (never `@everyone`)."""

    id: str
    name: str
    position: int = 0


@dataclass(frozen=True)
class DiscordMemberInfo:
    """A member of the guild's Discord server as the platform sees it."""

    id: str
    username: str
    global_name: str | None = None
    nick: str | None = None
    roles: tuple[DiscordRole, ...] = ()
    joined_at: datetime | None = None
    bot: bool = False

    @property
    def display_name(self) -> str:
        """Server nickname, else account-wide display name, else the username."""
        return self.nick or self.global_name or self.username


@dataclass(frozen=True)
class EmbedField:
    """One name/value field of an embed."""

    name: str
    value: str
    inline: bool = False


@dataclass(frozen=True)
class Embed:
    """A rich embed (title, description, colour, fields, footer, timestamp)."""

    title: str
    description: str = ""
    colour: int = 0
    fields: list[EmbedField] = field(default_factory=list)
    footer: str | None = None
    timestamp: datetime | None = None


@dataclass(frozen=True)
class MemberEvent:
    """A gateway member event converted for listeners (`member` is the state after the event)."""

    kind: MemberEventKind
    member: DiscordMemberInfo
    before: DiscordMemberInfo | None = None


class DMStatus(StrEnum):
    """Outcome of a direct message."""

    SENT = "sent"
    DMS_CLOSED = "dms_closed"
    UNKNOWN_USER = "unknown_user"
    BOT_UNAVAILABLE = "bot_unavailable"
    FAILED = "failed"


class DiscordError(Exception):
    """Base class of Discord integration errors."""


class DiscordUnavailable(DiscordError):
    """Discord is not configured, not ready, or the gateway is down."""

    def __init__(self, message: str = "Discord is not connected.") -> None:
        super().__init__(message)
        self.message = message


class DiscordSendError(DiscordError):
    """A send failed (missing channel, missing permission, HTTP error)."""

    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(message or f"Discord refused the message (code {code}).")
        self.code = code
        self.message = message or f"Discord refused the message (code {code})."


Listener = Callable[[MemberEvent], Awaitable[None]]


@runtime_checkable
class DiscordService(Protocol):
    """What the platform may ask of Discord (70 §2.2)."""

    state: ServiceState

    @property
    def available(self) -> bool:
        """True when `state == "ready"`."""
        ...

    async def wait_ready(self, timeout: float = 30) -> bool:  # noqa: ASYNC109 - 70 §2.2 signature
        """Wait until ready (or give up after `timeout` seconds)."""
        ...

    async def list_members(self) -> list[DiscordMemberInfo]:
        """The whole server incl. bots; raises DiscordUnavailable."""
        ...

    async def get_member(self, user_id: str) -> DiscordMemberInfo | None:
        """One server member, or None."""
        ...

    async def list_roles(self) -> list[DiscordRole]:
        """The server's roles (without @everyone); raises DiscordUnavailable."""
        ...

    async def send_dm(self, user_id: str, content: str, embed: Embed | None = None) -> DMStatus:
        """Send a direct message; never raises."""
        ...

    async def post(
        self, channel_id: str, content: str | None = None, embeds: Sequence[Embed] = ()
    ) -> str:
        """Post to a channel with mentions disabled; returns the message id."""
        ...

    def subscribe(self, listener: Listener) -> None:
        """Receive every member event."""
        ...
