"""The Discord interface's fakes and helpers: FakeDiscordService (in memory and file-backed),
NullDiscordService, message limits, and the invite DM texts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sv_common.discord import limits
from sv_common.discord.dm import dm_outcome_message, escape_markdown, invite_dm_text
from sv_common.discord.fake import FakeDiscordService, FakeFixtureError, parse_fixture
from sv_common.discord.interface import (
    DiscordMemberInfo,
    DiscordRole,
    DiscordSendError,
    DiscordService,
    DiscordUnavailable,
    DMStatus,
    Embed,
    EmbedField,
    MemberEvent,
)
from sv_common.discord.null import NullDiscordService

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def fixture() -> dict[str, Any]:
    return json.loads((FIXTURES / "discord_basic.json").read_text())


def fake() -> FakeDiscordService:
    return FakeDiscordService.from_fixture(fixture())


# ------------------------------------------------------------------------------ fixtures
async def test_fixture_builds_members_with_their_roles() -> None:
    service = fake()
    members = {m.username: m for m in await service.list_members()}
    assert set(members) == {"stonehoof", "branix", "quietguest", "raidhelper"}
    assert members["raidhelper"].bot is True
    assert [r.name for r in members["branix"].roles] == ["Member", "Server Booster"]
    assert members["stonehoof"].display_name == "Stonehoof (Aldrameth)"
    assert members["branix"].display_name == "Brañix"
    assert members["stonehoof"].joined_at == datetime(2021, 3, 4, 18, 22, tzinfo=UTC)
    roles = await service.list_roles()
    assert roles[0].name == "GM" and roles[-1].name == "Server Booster"


def test_every_service_implements_the_protocol() -> None:
    assert isinstance(fake(), DiscordService)
    assert isinstance(NullDiscordService(), DiscordService)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(roles="nope"), "'roles' must be a list"),
        (lambda d: d.update(members={"a": 1}), "'members' must be a list"),
        (lambda d: d["members"][0].update(id=100000000000000001), "not a snowflake"),
        (lambda d: d["members"][0].update(id="12345"), "not a snowflake"),
        (lambda d: d["members"][0].update(id="10000000000000000x"), "not a snowflake"),
        (
            lambda d: d["members"][0].update(id="１００００００００００００００００１"),
            "not a snowflake",
        ),
        (lambda d: d["roles"][0].update(id=" 200000000000000001"), "not a snowflake"),
        (lambda d: d["members"][0].update(roles=["200000000000000077"]), "unknown role id"),
        (lambda d: d["members"][0].update(roles="200000000000000001"), "must be a list"),
        (lambda d: d["members"][0].update(username=""), "username"),
        (lambda d: d["members"][0].pop("username"), "username"),
        (lambda d: d["members"][0].update(joined_at="yesterday"), "not an ISO 8601 time"),
        (lambda d: d["members"][0].update(bot="no"), "bot must be true or false"),
        (lambda d: d["members"][1].update(id="100000000000000001"), "duplicate member id"),
        (lambda d: d["roles"][1].update(id="200000000000000001"), "duplicate role id"),
        (lambda d: d["roles"][0].update(name="  "), "name must be a non-empty string"),
        (lambda d: d.update(dms_closed=["abc"]), "not a snowflake"),
    ],
)
def test_malformed_fixtures_are_refused_with_a_clear_message(change: Any, message: str) -> None:
    data = fixture()
    change(data)
    with pytest.raises(FakeFixtureError, match=message):
        parse_fixture(data)


def test_fixture_must_be_an_object() -> None:
    with pytest.raises(FakeFixtureError, match="JSON object"):
        parse_fixture([1, 2])


# ----------------------------------------------------------------------------- DMs
async def test_dm_outcomes() -> None:
    service = fake()
    assert await service.send_dm("100000000000000002", "hello") is DMStatus.SENT
    assert await service.send_dm("100000000000000003", "hello") is DMStatus.DMS_CLOSED
    assert await service.send_dm("100000000000000555", "hello") is DMStatus.UNKNOWN_USER
    assert await service.send_dm("100000000000000002", "x" * 2001) is DMStatus.FAILED
    service.set_available(False)
    assert await service.send_dm("100000000000000002", "hello") is DMStatus.BOT_UNAVAILABLE
    assert service.sent_dms == [("100000000000000002", "hello", None)]


async def test_null_service_is_disabled_and_never_raises_on_dms() -> None:
    service = NullDiscordService()
    assert service.state == "disabled" and service.available is False
    assert await service.wait_ready(0.01) is False
    assert await service.send_dm("100000000000000002", "hi") is DMStatus.BOT_UNAVAILABLE
    for call in (service.list_members(), service.list_roles(), service.get_member("1" * 18)):
        with pytest.raises(DiscordUnavailable):
            await call
    with pytest.raises(DiscordUnavailable):
        await service.post("300000000000000001", "hi")
    service.subscribe(lambda event: None)  # type: ignore[arg-type,return-value]


# ----------------------------------------------------------------------------- posts
async def test_posts_are_recorded_and_failures_raise_send_errors() -> None:
    service = fake()
    message_id = await service.post("300000000000000001", "hello", [Embed(title="t")])
    assert message_id.isdigit()
    assert service.posts == [("300000000000000001", "hello", [Embed(title="t")])]
    service.fail_posts_with = 50013
    with pytest.raises(DiscordSendError) as raised:
        await service.post("300000000000000001", "again")
    assert raised.value.code == 50013
    service.fail_posts_with = None
    service.set_available(False)
    assert service.state == "disabled"
    with pytest.raises(DiscordUnavailable):
        await service.post("300000000000000001", "again")
    assert len(service.posts) == 1


@pytest.mark.parametrize(
    ("content", "embeds", "problem"),
    [
        ("x" * 2001, [], "content longer than 2000"),
        (None, [Embed(title="t" * 257)], "title longer than 256"),
        (None, [Embed(title="t", description="d" * 4097)], "description longer than 4096"),
        (None, [Embed(title="t", footer="f" * 2049)], "footer longer than 2048"),
        (None, [Embed(title="t", fields=[EmbedField("n", "v")] * 26)], "more than 25"),
        (None, [Embed(title=str(i)) for i in range(11)], "more than 10 embeds"),
        (None, [Embed(title="t", description="d" * 4000)] * 2, "6000 characters"),
        (None, [], "needs content or at least one embed"),
    ],
)
async def test_the_fake_enforces_discord_limits(
    content: str | None, embeds: list[Embed], problem: str
) -> None:
    service = fake()
    with pytest.raises(ValueError, match=problem):
        await service.post("300000000000000001", content, embeds)
    assert service.posts == []


def test_limits_accept_a_message_exactly_at_the_limits() -> None:
    embeds = [Embed(title="t" * 256, description="d" * 2744)] * 2  # 6,000 characters
    limits.check_message("c" * 2000, embeds)


# ---------------------------------------------------------------------------- events
async def test_emitted_events_reach_listeners_and_change_the_member_list() -> None:
    service = fake()
    seen: list[MemberEvent] = []

    async def listener(event: MemberEvent) -> None:
        seen.append(event)

    service.subscribe(listener)
    newcomer = DiscordMemberInfo(id="100000000000000010", username="newbie")
    await service.emit_join(newcomer)
    renamed = DiscordMemberInfo(id="100000000000000010", username="newbie", nick="Newbie!")
    await service.emit_update(newcomer, renamed)
    await service.emit_user_update(renamed, DiscordMemberInfo(id=renamed.id, username="newb2"))
    await service.emit_remove("100000000000000010")
    assert [e.kind for e in seen] == ["join", "update", "user_update", "remove"]
    assert seen[2].member.username == "newb2" and seen[2].member.nick == "Newbie!"
    assert await service.get_member("100000000000000010") is None


# ------------------------------------------------------------------- file-backed fake
def write(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)


async def test_file_fake_rereads_its_file_and_writes_an_outbox(tmp_path: Path) -> None:
    source, outbox = tmp_path / "discord.json", tmp_path / "out" / "outbox.jsonl"
    write(source, fixture())
    service = FakeDiscordService.from_file(source, outbox=outbox)
    assert service.is_file_fake and service.state == "ready"
    assert len(await service.list_members()) == 4
    data = fixture()
    data["members"].append({"id": "100000000000000004", "username": "late"})
    write(source, data)
    assert len(await service.list_members()) == 5
    assert await service.send_dm("100000000000000004", "welcome") is DMStatus.SENT
    assert await service.send_dm("100000000000000003", "closed") is DMStatus.DMS_CLOSED
    await service.post("300000000000000001", None, [Embed(title="Report", colour=5)])
    lines = [json.loads(line) for line in outbox.read_text().splitlines()]
    assert [(x["kind"], x["to"]) for x in lines] == [
        ("dm", "100000000000000004"),
        ("post", "300000000000000001"),
    ]
    assert lines[0]["content"] == "welcome"
    assert lines[1]["embeds"][0]["title"] == "Report" and lines[1]["embeds"][0]["colour"] == 5
    assert datetime.fromisoformat(lines[0]["at"]).tzinfo is not None


@pytest.mark.parametrize(
    "content",
    ["{not json", "", '{"members": [{"id": 5, "username": "x"}]}', '["a"]', "\xff\xfe"],
)
async def test_broken_file_fails_the_sync_but_keeps_the_last_good_data_for_dms(
    tmp_path: Path, content: str
) -> None:
    source = tmp_path / "discord.json"
    write(source, fixture())
    service = FakeDiscordService.from_file(source)
    write(source, content)
    with pytest.raises(DiscordUnavailable, match="Discord fake file"):
        await service.list_members()
    # like a real bot whose member fetch failed: still connected, DMs use the last good list
    assert service.state == "ready" and service.available is True
    assert service.file_error is not None and "Discord fake file" in service.file_error
    assert await service.send_dm("100000000000000002", "invite") is DMStatus.SENT
    assert await service.send_dm("100000000000000003", "invite") is DMStatus.DMS_CLOSED
    await service.post("300000000000000001", None, [Embed(title="Report")])
    write(source, fixture())  # fixed: the next sync works again
    assert len(await service.list_members()) == 4
    assert service.state == "ready" and service.file_error is None


async def test_missing_file_at_startup_leaves_the_fake_in_error(tmp_path: Path) -> None:
    source = tmp_path / "missing.json"
    service = FakeDiscordService.from_file(source)
    assert service.state == "error" and service.file_error is not None
    with pytest.raises(DiscordUnavailable, match="cannot read"):
        await service.list_members()
    # never a good read: nothing to DM from, so DMs report the bot unavailable
    assert service.state == "error"
    assert await service.send_dm("100000000000000002", "invite") is DMStatus.BOT_UNAVAILABLE
    write(source, fixture())
    assert len(await service.list_members()) == 4
    assert service.state == "ready"
    assert await service.send_dm("100000000000000002", "invite") is DMStatus.SENT


async def test_everyone_role_in_a_fixture_is_skipped_for_roles_and_members(
    tmp_path: Path,
) -> None:
    data = fixture()
    everyone = "400000000000000001"  # on Discord, the @everyone role id is the server id
    data["roles"].insert(0, {"id": everyone, "name": "@everyone", "position": 0})
    for member in data["members"]:
        member["roles"] = [everyone, *member.get("roles", [])]
    roles, members, _ = parse_fixture(data)
    assert all(role.name != "@everyone" for role in roles)
    by_name = {m.username: m for m in members}
    assert [r.name for r in by_name["branix"].roles] == ["Member", "Server Booster"]
    assert by_name["quietguest"].roles == ()
    source = tmp_path / "discord.json"
    write(source, data)
    service = FakeDiscordService.from_file(source)
    assert service.state == "ready"
    assert len(await service.list_members()) == 4
    assert all(r.name != "@everyone" for r in await service.list_roles())


# ------------------------------------------------------------------------------- DM text
def invite_text(**overrides: Any) -> str:
    values: dict[str, Any] = {
        "display_name": "Brañix",
        "guild_name": "Pull All The Things",
        "code": "K7PM3QXA",
        "register_url": "https://guild.example.org/register?code=K7PM3QXA",
        "expires_at": datetime(2026, 3, 1, 18, 0, tzinfo=UTC),
        "expires_hours": 72,
    }
    values.update(overrides)
    return invite_dm_text(**values)


def test_invite_dm_contains_every_required_element() -> None:
    text = invite_text()
    epoch = int(datetime(2026, 3, 1, 18, 0, tzinfo=UTC).timestamp())
    assert text.startswith("Hi Brañix")
    assert "An officer of Pull All The Things" in text
    assert "**K7PM3QXA**" in text
    assert "https://guild.example.org/register?code=K7PM3QXA" in text
    assert f"<t:{epoch}:R>" in text and "72 hours" in text and "works once" in text
    assert "any officer" in text
    assert len(text) < 2000


def test_invite_dm_escapes_markdown_in_names_and_stays_short() -> None:
    text = invite_text(display_name="*bold*_x_ " + "y" * 500, guild_name="~Guild~ |x|")
    assert "\\*bold\\*\\_x\\_" in text and "\\~Guild\\~ \\|x\\|" in text
    assert len(text) < 2000
    assert "1 hour)" in invite_text(expires_hours=1)


def test_invite_dm_with_an_empty_name_still_greets() -> None:
    assert invite_text(display_name="  ").startswith("Hi there!")


def test_invite_dm_refuses_text_beyond_discords_limit() -> None:
    with pytest.raises(ValueError):
        invite_text(register_url="https://x.example/" + "a" * 2000)


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (DMStatus.SENT, "Delivered."),
        ("dms_closed", "The user blocks DMs from server members (or blocked the bot)."),
        ("unknown_user", "The snowflake does not exist; fix the member's Discord ID."),
        ("bot_unavailable", "Discord is disabled or not connected."),
        ("failed", "Other error (logged)."),
        ("something-else", "Other error (logged)."),
    ],
)
def test_dm_outcome_messages(status: Any, message: str) -> None:
    assert dm_outcome_message(status) == message


def test_markdown_escaper_covers_discord_formatting() -> None:
    assert escape_markdown("a*b_c~d`e|f>g\\") == "a\\*b\\_c\\~d\\`e\\|f\\>g\\\\"


def test_role_value_types_are_frozen() -> None:
    role = DiscordRole(id="1" * 18, name="x")
    with pytest.raises(AttributeError):
        role.name = "y"  # type: ignore[misc]
    assert DiscordMemberInfo(id="1" * 18, username="u", global_name="G").display_name == "G"
