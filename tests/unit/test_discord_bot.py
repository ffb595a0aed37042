"""The discord.py bot service without a network: event bridge, DM error mapping, posting with
mentions disabled, and start-up failures that must only set `state="error"`."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import discord
import pytest

from sv_common.discord.bot import DiscordBotService, make_intents, member_info
from sv_common.discord.interface import (
    DiscordSendError,
    DiscordUnavailable,
    DMStatus,
    Embed,
    MemberEvent,
)

GUILD = "400000000000000001"
OTHER_GUILD = "400000000000000002"


def http_error(
    kind: type[discord.HTTPException], status: int, code: int = 0
) -> discord.HTTPException:
    response = SimpleNamespace(status=status, reason="x")
    return kind(response, {"code": code, "message": "nope"})  # type: ignore[arg-type]


def role(role_id: int, name: str, position: int = 1, default: bool = False) -> Any:
    return SimpleNamespace(id=role_id, name=name, position=position, is_default=lambda: default)


def member(user_id: int = 100000000000000002, guild: str = GUILD, **kw: Any) -> Any:
    values = {
        "id": user_id,
        "name": "branix",
        "global_name": "Brañix",
        "nick": None,
        "roles": [role(int(GUILD), "@everyone", 0, True), role(200000000000000004, "Member", 7)],
        "joined_at": datetime(2023, 11, 2, tzinfo=UTC),
        "bot": False,
        "guild": SimpleNamespace(id=int(guild)),
    }
    values.update(kw)
    return SimpleNamespace(**values)


@pytest.fixture
async def bot() -> Any:
    service = DiscordBotService("token", GUILD)
    yield service
    await service.client.close()


def test_intents_are_default_plus_members_only() -> None:
    intents = make_intents()
    assert intents.members is True
    assert intents.presences is False and intents.message_content is False
    assert intents.guilds is True


def test_member_conversion_drops_everyone_and_keeps_strings() -> None:
    info = member_info(member())
    assert info.id == "100000000000000002"
    assert [r.name for r in info.roles] == ["Member"] and info.roles[0].id == "200000000000000004"
    assert info.display_name == "Brañix"


async def test_events_of_our_server_reach_listeners_others_are_ignored(bot: Any) -> None:
    seen: list[MemberEvent] = []

    async def listener(event: MemberEvent) -> None:
        seen.append(event)

    bot.subscribe(listener)
    await bot.handle_member_join(member())
    await bot.handle_member_join(member(guild=OTHER_GUILD))
    await bot.handle_member_update(member(), member(nick="Brañix the Bold"))
    await bot.handle_member_update(member(guild=OTHER_GUILD), member(guild=OTHER_GUILD))
    await bot.handle_raw_member_remove(SimpleNamespace(guild_id=int(GUILD), user=member()))
    await bot.handle_raw_member_remove(SimpleNamespace(guild_id=int(OTHER_GUILD), user=member()))
    assert [e.kind for e in seen] == ["join", "update", "remove"]
    assert seen[1].member.nick == "Brañix the Bold" and seen[1].before is not None


async def test_a_failing_listener_is_logged_and_does_not_propagate(
    bot: Any, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []

    async def broken(event: MemberEvent) -> None:
        raise RuntimeError("boom")

    async def fine(event: MemberEvent) -> None:
        calls.append(event.kind)

    bot.subscribe(broken)
    bot.subscribe(fine)
    with caplog.at_level(logging.ERROR):
        await bot.handle_member_join(member())
    assert calls == ["join"]
    assert "listener failed" in caplog.text


async def test_not_ready_means_unavailable(bot: Any) -> None:
    assert bot.state == "connecting" and not bot.available
    assert await bot.send_dm("100000000000000002", "hi") is DMStatus.BOT_UNAVAILABLE
    with pytest.raises(DiscordUnavailable):
        await bot.list_members()
    with pytest.raises(DiscordUnavailable):
        await bot.post("300000000000000001", "hi")


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (http_error(discord.Forbidden, 403, 50007), DMStatus.DMS_CLOSED),
        (http_error(discord.HTTPException, 400, 50007), DMStatus.DMS_CLOSED),
        (http_error(discord.NotFound, 404, 10013), DMStatus.UNKNOWN_USER),
        (http_error(discord.HTTPException, 500), DMStatus.FAILED),
        (RuntimeError("socket closed"), DMStatus.FAILED),
    ],
)
async def test_dm_errors_map_to_statuses(
    bot: Any,
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
    status: DMStatus,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bot.state = "ready"

    async def send(*args: Any, **kwargs: Any) -> None:
        raise error

    async def fetch_user(user_id: int) -> Any:
        return SimpleNamespace(send=send)

    monkeypatch.setattr(bot.client, "fetch_user", fetch_user)
    with caplog.at_level(logging.DEBUG):
        assert await bot.send_dm("100000000000000002", "secret code ABCD2345") is status
    assert "ABCD2345" not in caplog.text  # content is never logged


async def test_dm_to_a_non_numeric_id_is_unknown_user(bot: Any) -> None:
    bot.state = "ready"
    assert await bot.send_dm("not-a-snowflake", "hi") is DMStatus.UNKNOWN_USER


async def test_successful_dm_disables_mentions(bot: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    bot.state = "ready"
    sent: dict[str, Any] = {}

    async def send(content: str, **kwargs: Any) -> None:
        sent.update(kwargs, content=content)

    async def fetch_user(user_id: int) -> Any:
        assert user_id == 100000000000000002
        return SimpleNamespace(send=send)

    monkeypatch.setattr(bot.client, "fetch_user", fetch_user)
    assert await bot.send_dm("100000000000000002", "hi @everyone") is DMStatus.SENT
    mentions = sent["allowed_mentions"]
    assert mentions.everyone is False and mentions.users is False and mentions.roles is False


async def test_post_sends_embeds_without_mentions_and_maps_errors(
    bot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot.state = "ready"
    sent: dict[str, Any] = {}

    class Channel(discord.abc.Messageable):
        async def _get_channel(self) -> Any:  # pragma: no cover - not used
            return self

        async def send(self, content: Any = None, **kwargs: Any) -> Any:  # type: ignore[override]
            sent.update(kwargs, content=content)
            return SimpleNamespace(id=555000000000000001)

    async def fetch_channel(channel_id: int) -> Any:
        return Channel()

    monkeypatch.setattr(bot.client, "fetch_channel", fetch_channel)
    message_id = await bot.post("300000000000000001", None, [Embed(title="Audit", colour=1)])
    assert message_id == "555000000000000001"
    assert sent["embeds"][0].title == "Audit"
    assert sent["allowed_mentions"].everyone is False

    async def refuse(channel_id: int) -> Any:
        raise http_error(discord.Forbidden, 403, 50001)

    monkeypatch.setattr(bot.client, "fetch_channel", refuse)
    with pytest.raises(DiscordSendError) as raised:
        await bot.post("300000000000000002", "hi")
    assert raised.value.code == 50001
    with pytest.raises(ValueError):
        await bot.post("300000000000000001", "x" * 2001)


@pytest.mark.parametrize(
    ("error", "logged"),
    [
        (discord.LoginFailure("Improper token has been passed."), "invalid DISCORD_BOT_TOKEN"),
        (discord.PrivilegedIntentsRequired(None), "privileged intents required"),
        (OSError("Cannot connect to host discord.com"), "Discord connection failed"),
    ],
)
async def test_start_failures_set_error_state_and_log_one_clear_line(
    bot: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    error: Exception,
    logged: str,
) -> None:
    async def fail(*args: Any, **kwargs: Any) -> None:
        raise error

    monkeypatch.setattr(bot.client, "start", fail)
    with caplog.at_level(logging.ERROR):
        await bot.start()  # never raises
    assert bot.state == "error"
    assert logged in caplog.text


async def test_ready_without_the_configured_server_is_an_error(
    bot: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        await bot.handle_ready()
    assert bot.state == "error"
    assert "not a member of server" in caplog.text


async def test_wait_ready_gives_up_early_on_error_and_succeeds_when_ready(bot: Any) -> None:
    bot.state = "error"
    assert await bot.wait_ready(30) is False  # no 30 s wait for a failed login
    bot.state = "connecting"
    assert await bot.wait_ready(0.05) is False
    bot.state = "ready"
    assert await bot.wait_ready(0.05) is True
