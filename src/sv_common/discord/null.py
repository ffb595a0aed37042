"""`NullDiscordService`: Discord switched off (no token). Reads raise, DMs report unavailable."""

from __future__ import annotations

from collections.abc import Sequence

from sv_common.discord.interface import (
    DiscordMemberInfo,
    DiscordRole,
    DiscordUnavailable,
    DMStatus,
    Embed,
    Listener,
    ServiceState,
)


class NullDiscordService:
    """The disabled implementation (70 §2.4); every app starts with one."""

    is_file_fake = False

    def __init__(self, state: ServiceState = "disabled") -> None:
        self.state: ServiceState = state

    @property
    def available(self) -> bool:
        """Never available."""
        return False

    async def wait_ready(self, timeout: float = 30) -> bool:  # noqa: ASYNC109 - 70 §2.2 signature
        """Never becomes ready."""
        return False

    async def list_members(self) -> list[DiscordMemberInfo]:
        """Raises DiscordUnavailable."""
        raise DiscordUnavailable("Discord is not configured.")

    async def get_member(self, user_id: str) -> DiscordMemberInfo | None:
        """Raises DiscordUnavailable."""
        raise DiscordUnavailable("Discord is not configured.")

    async def list_roles(self) -> list[DiscordRole]:
        """Raises DiscordUnavailable."""
        raise DiscordUnavailable("Discord is not configured.")

    async def send_dm(self, user_id: str, content: str, embed: Embed | None = None) -> DMStatus:
        """Always `bot_unavailable`."""
        return DMStatus.BOT_UNAVAILABLE

    async def post(
        self, channel_id: str, content: str | None = None, embeds: Sequence[Embed] = ()
    ) -> str:
        """Raises DiscordUnavailable."""
        raise DiscordUnavailable("Discord is not configured.")

    def subscribe(self, listener: Listener) -> None:
        """No events ever arrive."""
