"""`DiscordBotService`: the real Discord connection on discord.py 2.x (70 §2.3, §3).

The only module that imports `discord`. The bot registers no commands, reads no messages and
tracks no presence: default intents plus Server Members. `start()` runs the client until it is
closed and never raises — a bad token, a missing privileged intent or a network failure only
set `state="error"` (with one clear log line), so the web app keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC
from typing import Any

import discord

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

SETUP_GUIDE = "docs/DISCORD-BOT-SETUP.md step 3"
NO_MENTIONS = discord.AllowedMentions.none()
DM_CLOSED_CODE = 50007


def make_intents() -> discord.Intents:
    """Default intents plus Server Members; message content and presences stay off."""
    intents = discord.Intents.default()
    intents.members = True
    intents.presences = False
    intents.message_content = False
    return intents


def role_info(role: Any) -> DiscordRole:
    """A discord.py role as a `DiscordRole`."""
    return DiscordRole(id=str(role.id), name=str(role.name), position=int(role.position))


def member_info(member: Any) -> DiscordMemberInfo:
    """A discord.py Member (or User) as a `DiscordMemberInfo` (never with @everyone)."""
    roles = tuple(
        role_info(role)
        for role in getattr(member, "roles", ())
        if not getattr(role, "is_default", lambda: False)()
    )
    joined = getattr(member, "joined_at", None)
    if joined is not None and joined.tzinfo is None:
        joined = joined.replace(tzinfo=UTC)
    return DiscordMemberInfo(
        id=str(member.id),
        username=str(member.name),
        global_name=getattr(member, "global_name", None),
        nick=getattr(member, "nick", None),
        roles=roles,
        joined_at=joined,
        bot=bool(getattr(member, "bot", False)),
    )


def to_discord_embed(embed: Embed) -> discord.Embed:
    """A platform `Embed` as a discord.py embed."""
    result = discord.Embed(
        title=embed.title,
        description=embed.description or None,
        colour=embed.colour,
        timestamp=embed.timestamp,
    )
    for item in embed.fields:
        result.add_field(name=item.name, value=item.value, inline=item.inline)
    if embed.footer:
        result.set_footer(text=embed.footer)
    return result


class _Client(discord.Client):
    """discord.py client forwarding gateway events to the service."""

    def __init__(self, service: DiscordBotService) -> None:
        super().__init__(intents=make_intents(), allowed_mentions=NO_MENTIONS)
        self.service = service

    async def on_ready(self) -> None:
        await self.service.handle_ready()

    async def on_disconnect(self) -> None:
        if self.service.state == "ready":
            self.service.state = "connecting"

    async def on_resumed(self) -> None:
        if self.service.guild() is not None:
            self.service.state = "ready"

    async def on_member_join(self, member: discord.Member) -> None:
        await self.service.handle_member_join(member)

    async def on_raw_member_remove(self, payload: discord.RawMemberRemoveEvent) -> None:
        await self.service.handle_raw_member_remove(payload)

    async def on_member_update(self, before: discord.Member, after: discord.Member) -> None:
        await self.service.handle_member_update(before, after)

    async def on_user_update(self, before: discord.User, after: discord.User) -> None:
        await self.service.handle_user_update(before, after)


class DiscordBotService:
    """`DiscordService` on a discord.py client."""

    is_file_fake = False

    def __init__(self, token: str, guild_id: str) -> None:
        self.token = token
        self.guild_id = guild_id
        self.state: ServiceState = "connecting"
        self.client = _Client(self)
        self._listeners: list[Listener] = []
        self._channels: dict[str, Any] = {}
        self._ready = asyncio.Event()

    # ------------------------------------------------------------------ lifecycle
    @property
    def available(self) -> bool:
        """True when connected and the guild's server was found."""
        return self.state == "ready"

    async def start(self) -> None:
        """Log in and run the gateway until closed; failures end in `state="error"`, never raise."""
        self.state = "connecting"
        try:
            await self.client.start(self.token)
        except discord.LoginFailure:
            log.error("Discord login failed: invalid DISCORD_BOT_TOKEN")
            self.state = "error"
        except discord.PrivilegedIntentsRequired:
            log.error(
                "Discord: privileged intents required — enable the Server Members Intent "
                "for the bot in the Developer Portal (%s)",
                SETUP_GUIDE,
            )
            self.state = "error"
        except asyncio.CancelledError:
            self.state = "error" if self.state != "ready" else "connecting"
            raise
        except Exception as exc:  # network, Discord outage …: keep the app running
            log.error("Discord connection failed: %s", type(exc).__name__)
            self.state = "error"
        else:
            if self.state != "error":
                self.state = "connecting"

    async def close(self) -> None:
        """Close the client (the caller bounds this with a timeout)."""
        await self.client.close()

    async def wait_ready(self, timeout: float = 30) -> bool:  # noqa: ASYNC109 - 70 §2.2 signature
        """Wait until ready, at most `timeout` seconds; returns early once the state is `error`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.available and self.state != "error":
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self._ready.wait(), min(remaining, 0.5))
            except TimeoutError:
                pass
        return self.available

    def guild(self) -> discord.Guild | None:
        """The guild's server from the gateway cache."""
        if not is_snowflake(self.guild_id):
            return None
        return self.client.get_guild(int(self.guild_id))

    async def handle_ready(self) -> None:
        """on_ready: find the configured server or report that the bot is not in it."""
        if self.guild() is None:
            log.error(
                "Discord: the bot is not a member of server DISCORD_GUILD_ID=%s; invite it "
                "(docs/DISCORD-BOT-SETUP.md step 4)",
                self.guild_id,
            )
            self.state = "error"
            return
        self.state = "ready"
        self._ready.set()
        user = self.client.user
        log.info("Discord connected as %s (id %s)", user, user.id if user else "?")

    def _require_guild(self) -> discord.Guild:
        guild = self.guild() if self.available else None
        if guild is None:
            raise DiscordUnavailable()
        return guild

    # ------------------------------------------------------------------ reads
    async def list_members(self) -> list[DiscordMemberInfo]:
        """Whole server incl. bots: the cache when fully chunked, else the REST listing."""
        guild = self._require_guild()
        try:
            if guild.chunked:
                members = list(guild.members)
            else:
                members = [m async for m in guild.fetch_members(limit=None)]
        except discord.HTTPException as exc:
            raise DiscordUnavailable(f"Discord member listing failed ({exc.status}).") from exc
        return [member_info(m) for m in members]

    async def get_member(self, user_id: str) -> DiscordMemberInfo | None:
        """One server member, or None (unknown or not in the server)."""
        guild = self._require_guild()
        if not is_snowflake(user_id):
            return None
        member = guild.get_member(int(user_id))
        if member is None:
            try:
                member = await guild.fetch_member(int(user_id))
            except (discord.NotFound, discord.Forbidden):
                return None
            except discord.HTTPException as exc:
                raise DiscordUnavailable(f"Discord member lookup failed ({exc.status}).") from exc
        return member_info(member)

    async def list_roles(self) -> list[DiscordRole]:
        """The server's roles without @everyone, highest first."""
        guild = self._require_guild()
        roles = [role_info(r) for r in guild.roles if not r.is_default()]
        return sorted(roles, key=lambda r: r.position, reverse=True)

    # ------------------------------------------------------------------ writes
    async def send_dm(self, user_id: str, content: str, embed: Embed | None = None) -> DMStatus:
        """DM a user; every failure maps to a DMStatus (content is never logged)."""
        if not self.available or self.client.is_closed():
            return DMStatus.BOT_UNAVAILABLE
        try:
            limits.check_message(content, [embed] if embed else [])
        except ValueError as exc:
            log.warning("DM to %s not sent: %s", user_id, exc)
            return DMStatus.FAILED
        if not is_snowflake(user_id):
            return DMStatus.UNKNOWN_USER
        try:
            user = await self.client.fetch_user(int(user_id))
            await user.send(
                content,
                embeds=[to_discord_embed(embed)] if embed else [],
                allowed_mentions=NO_MENTIONS,
            )
        except discord.NotFound:
            return DMStatus.UNKNOWN_USER
        except discord.Forbidden:
            return DMStatus.DMS_CLOSED
        except discord.HTTPException as exc:
            if exc.code == DM_CLOSED_CODE:
                return DMStatus.DMS_CLOSED
            log.warning("DM to %s failed: HTTP %s (code %s)", user_id, exc.status, exc.code)
            return DMStatus.FAILED
        except Exception:
            log.exception("DM to %s failed", user_id)
            return DMStatus.FAILED
        return DMStatus.SENT

    async def post(
        self, channel_id: str, content: str | None = None, embeds: Sequence[Embed] = ()
    ) -> str:
        """Post to a channel with every mention disabled; returns the message id."""
        limits.check_message(content, embeds)
        if not self.available:
            raise DiscordUnavailable()
        if not is_snowflake(channel_id):
            raise DiscordSendError(404, f"Unknown channel {channel_id!r}.")
        try:
            channel = self._channels.get(channel_id)
            if channel is None:
                fetched = await self.client.fetch_channel(int(channel_id))
                if not isinstance(fetched, discord.abc.Messageable):
                    raise DiscordSendError(400, "The audit channel is not a text channel.")
                channel = fetched
                self._channels[channel_id] = channel
            message = await channel.send(
                content,
                embeds=[to_discord_embed(e) for e in embeds],
                allowed_mentions=NO_MENTIONS,
            )
        except discord.NotFound as exc:
            self._channels.pop(channel_id, None)
            raise DiscordSendError(exc.code or 404, "Unknown channel.") from exc
        except discord.Forbidden as exc:
            raise DiscordSendError(
                exc.code or 403, "Missing Access or Missing Permissions."
            ) from exc
        except discord.HTTPException as exc:
            raise DiscordSendError(exc.code or exc.status, f"Discord HTTP {exc.status}.") from exc
        return str(message.id)

    # ------------------------------------------------------------------ events
    def subscribe(self, listener: Listener) -> None:
        """Receive member events of the guild's server."""
        self._listeners.append(listener)

    def _ours(self, guild_id: int | None) -> bool:
        return guild_id is not None and str(guild_id) == self.guild_id

    async def _fan_out(self, event: MemberEvent) -> None:
        for listener in list(self._listeners):
            try:
                await listener(event)
            except Exception:  # a listener never breaks the gateway
                log.exception(
                    "Discord %s event listener failed (user %s)", event.kind, event.member.id
                )

    async def handle_member_join(self, member: Any) -> None:
        """on_member_join."""
        if self._ours(getattr(member.guild, "id", None)):
            await self._fan_out(MemberEvent(kind="join", member=member_info(member)))

    async def handle_raw_member_remove(self, payload: Any) -> None:
        """on_raw_member_remove (works for uncached members)."""
        if self._ours(payload.guild_id):
            await self._fan_out(MemberEvent(kind="remove", member=member_info(payload.user)))

    async def handle_member_update(self, before: Any, after: Any) -> None:
        """on_member_update (nickname, roles)."""
        if self._ours(getattr(after.guild, "id", None)):
            await self._fan_out(
                MemberEvent(kind="update", member=member_info(after), before=member_info(before))
            )

    async def handle_user_update(self, before: Any, after: Any) -> None:
        """on_user_update (username, global name) for users of our server only."""
        guild = self.guild()
        if guild is None:
            return
        member = guild.get_member(after.id)
        if member is None:
            return
        await self._fan_out(
            MemberEvent(kind="user_update", member=member_info(member), before=member_info(before))
        )
