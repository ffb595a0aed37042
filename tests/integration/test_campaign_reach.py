"""Campaigns in Discord: reminder DMs to eligible non-voters 24 h and 1 h before the close, and
announcements (voting open, turnout milestones, result), each sent once — across repeated and
concurrent passes and a second app — with failures recorded and shown to officers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from tests.conftest import Factory, MemberHandle, count_rows
from tests.integration.test_campaigns_api import (
    ADMIN,
    PUBLIC,
    T0,
    headers_for,
    ids,
    make_campaign,
    picks,
)
from tests.integration.test_vote_pages import CSRF, campaign_form, login

from patt.app import create_app
from patt.campaigns import announcer, reminders
from sv_common import clock
from sv_common.discord.fake import FakeDiscordService
from sv_common.discord.interface import DiscordMemberInfo, DiscordUnavailable, DMStatus
from sv_common.discord.null import NullDiscordService

CHANNEL = "300000000000000001"
HOURS = 48  # campaigns here close at T0 + 48 h


def snowflake(n: int) -> str:
    return f"1000000000000{n:05d}"


@pytest.fixture(autouse=True)
def frozen_clock(app: Any) -> Iterator[None]:
    clock.set_now(T0)
    yield


@pytest.fixture
def fake(app: Any) -> FakeDiscordService:
    service = FakeDiscordService(members=[], roles=[])
    app.state.discord = service
    return service


class Guild:
    """An officer plus members made for a test, each with a Discord account in the fake."""

    def __init__(self, app: Any, factory: Factory, fake: FakeDiscordService) -> None:
        self.app, self.factory, self.fake = app, factory, fake
        self.count = 0

    async def add(self, *, level: int = 2, discord: bool = True, **kw: Any) -> MemberHandle:
        self.count += 1
        discord_id = snowflake(self.count) if discord else None
        handle = await self.factory.member(level=level, discord_id=discord_id, **kw)
        if discord_id:
            self.fake.set_members(
                [*self.fake.members, DiscordMemberInfo(id=discord_id, username=f"u{self.count}")]
            )
        return handle


async def live_campaign(
    app: Any, client: httpx.AsyncClient, officer: MemberHandle, **options: Any
) -> dict[str, Any]:
    values = {"duration_hours": HOURS, "early_close_if_all_voted": False}
    values.update(options)
    return await make_campaign(client, headers_for(app, officer), activate=True, **values)


async def vote(
    app: Any, client: httpx.AsyncClient, campaign: dict[str, Any], voter: MemberHandle, first: int
) -> None:
    order = ids(campaign)[first:] + ids(campaign)[:first]
    response = await client.post(
        f"{PUBLIC}/{campaign['id']}/vote",
        json=picks(order[: campaign["picks_per_voter"]]),
        headers=headers_for(app, voter),
    )
    assert response.status_code == 201, response.text


def dm_targets(fake: FakeDiscordService) -> list[str]:
    return sorted(user_id for user_id, _, _ in fake.sent_dms)


async def remind(app: Any) -> dict[int, dict[str, int]]:
    return await reminders.run_reminder_pass(
        app.state.sessionmaker, app.state.discord, app.state.settings
    )


async def announce(app: Any) -> dict[int, dict[str, str]]:
    return await announcer.run_announcement_pass(
        app.state.sessionmaker, app.state.discord, app.state.settings
    )


async def log_rows(db: Any) -> list[tuple[str, str, str | None]]:
    rows = await db.execute(
        text(
            "SELECT event_type, status, discord_message_id FROM patt.contest_agent_log ORDER BY id"
        )
    )
    return [tuple(row) for row in rows.all()]


# ------------------------------------------------------------------------------ reminders
async def test_reminders_go_once_to_eligible_non_voters_at_24h_and_1h(
    app: Any, client: httpx.AsyncClient, factory: Factory, fake: FakeDiscordService, db: Any
) -> None:
    guild = Guild(app, factory, fake)
    officer = await guild.add(level=4, discord=False)
    voter = await guild.add()
    waiting = await guild.add(display_name="Brañix")
    no_discord = await guild.add(discord=False)
    await guild.add(level=1)  # rank too low to vote
    await guild.add(registered=False)  # not registered: cannot vote
    campaign = await live_campaign(app, client, officer, title="Banner *Vote*")
    await vote(app, client, campaign, voter, 0)

    clock.set_now(T0 + timedelta(hours=20))  # 28 h before the close: too early
    assert await remind(app) == {}
    clock.set_now(T0 + timedelta(hours=25))  # 23 h before the close
    assert await remind(app) == {campaign["id"]: {"sent": 1, "no_discord": 2}}
    assert dm_targets(fake) == [snowflake(3)]
    user_id, content, _ = fake.sent_dms[0]
    assert "Hi Brañix!" in content and "Banner \\*Vote\\*" in content
    assert f"http://guild.test/vote/{campaign['id']}" in content
    assert f"<t:{int((T0 + timedelta(hours=HOURS)).timestamp())}:R>" in content
    assert await remind(app) == {}  # the next tick sends nothing again
    clock.set_now(T0 + timedelta(hours=47, minutes=30))
    assert await remind(app) == {campaign["id"]: {"sent": 1, "no_discord": 2}}
    assert await remind(app) == {}
    assert dm_targets(fake) == [snowflake(3), snowflake(3)]
    rows = await db.execute(
        text("SELECT member_id, kind, status FROM patt.campaign_reminders ORDER BY kind, member_id")
    )
    assert sorted(tuple(r) for r in rows.all()) == sorted(
        [
            (officer.id, "1h", "no_discord"),
            (waiting.id, "1h", "sent"),
            (no_discord.id, "1h", "no_discord"),
            (officer.id, "24h", "no_discord"),
            (waiting.id, "24h", "sent"),
            (no_discord.id, "24h", "no_discord"),
        ]
    )
    clock.set_now(T0 + timedelta(hours=HOURS, seconds=1))  # closed: nothing more
    assert await remind(app) == {}


async def test_short_campaign_gets_no_24h_reminder(
    app: Any, client: httpx.AsyncClient, factory: Factory, fake: FakeDiscordService
) -> None:
    guild = Guild(app, factory, fake)
    officer = await guild.add(level=4)
    await live_campaign(app, client, officer, duration_hours=12)
    clock.set_now(T0 + timedelta(hours=2))
    assert await remind(app) == {}
    clock.set_now(T0 + timedelta(hours=11, minutes=5))
    assert (await remind(app)) and dm_targets(fake) == [snowflake(1)]


async def test_two_concurrent_passes_and_a_second_app_send_one_dm_each(
    app: Any, client: httpx.AsyncClient, factory: Factory, fake: FakeDiscordService, db: Any
) -> None:
    guild = Guild(app, factory, fake)
    officer = await guild.add(level=4)
    for _ in range(12):
        await guild.add()
    campaign = await live_campaign(app, client, officer)
    other = create_app(app.state.settings, database_url=app.state.database_url)
    other.state.discord = fake  # the same Discord server seen from a second process
    try:
        clock.set_now(T0 + timedelta(hours=30))
        outcomes = await asyncio.gather(remind(app), remind(app), remind(other), remind(other))
    finally:
        await other.state.engine.dispose()
        await other.state.state_engine.dispose()
    sent = sum(o.get(campaign["id"], {}).get("sent", 0) for o in outcomes)
    assert sent == 13
    assert dm_targets(fake) == sorted(snowflake(n) for n in range(1, 14))
    assert await count_rows(db, "patt.campaign_reminders", "status = 'sent'") == 13


async def test_reminders_follow_the_activation_snapshot(
    app: Any, client: httpx.AsyncClient, factory: Factory, fake: FakeDiscordService
) -> None:
    guild = Guild(app, factory, fake)
    officer = await guild.add(level=4)
    await live_campaign(app, client, officer, eligibility_snapshot=True)
    await guild.add()  # registered after voting opened: not in the snapshot
    clock.set_now(T0 + timedelta(hours=30))
    assert (await remind(app)) and dm_targets(fake) == [snowflake(1)]


async def test_dm_failure_is_recorded_and_shown_to_officers(
    app: Any, client: httpx.AsyncClient, factory: Factory, fake: FakeDiscordService
) -> None:
    guild = Guild(app, factory, fake)
    officer = await guild.add(level=4)
    await guild.add(display_name="Shy Tauren")
    await guild.add(display_name="Unlinked Gnome", discord=False)
    fake.dms_closed.add(snowflake(2))  # shy is the second member made
    campaign = await live_campaign(app, client, officer)
    clock.set_now(T0 + timedelta(hours=30))
    assert await remind(app) == {campaign["id"]: {"sent": 1, "dms_closed": 1, "no_discord": 1}}

    response = await client.get(
        f"{ADMIN}/{campaign['id']}/discord", headers=headers_for(app, officer)
    )
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["reminders"]["24h"]["sent"] == 1
    assert data["reminders"]["24h"]["dms_closed"] == 1
    assert [(m["display_name"], m["status"]) for m in data["dm_failures"]] == [
        ("Shy Tauren", "dms_closed")
    ]
    assert "blocks DMs" in data["dm_failures"][0]["message"]
    assert [m["display_name"] for m in data["no_discord"]] == ["Unlinked Gnome"]

    login(app, client, officer)
    page = (await client.get(f"/admin/campaigns/{campaign['id']}/edit")).text
    assert 'id="discord-card"' in page and 'id="discord-dm-failures"' in page
    assert "Shy Tauren" in page and "blocks DMs" in page and "Unlinked Gnome" in page
    assert "1 sent · 1 failed · 1 without Discord" in page


async def test_nothing_is_sent_when_turned_off_for_the_campaign(
    app: Any, client: httpx.AsyncClient, factory: Factory, fake: FakeDiscordService, db: Any
) -> None:
    guild = Guild(app, factory, fake)
    officer = await guild.add(level=4)
    await live_campaign(app, client, officer, announce_in_discord=False, discord_channel_id=CHANNEL)
    clock.set_now(T0 + timedelta(hours=30))
    assert await remind(app) == {} and await announce(app) == {}
    assert fake.sent_dms == [] and fake.posts == []
    assert await count_rows(db, "patt.campaign_reminders") == 0
    assert await count_rows(db, "patt.contest_agent_log") == 0


async def test_nothing_is_sent_or_recorded_without_discord(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    officer = await factory.officer(discord_id=snowflake(1))
    await live_campaign(app, client, officer, discord_channel_id=CHANNEL)
    clock.set_now(T0 + timedelta(hours=30))
    assert isinstance(app.state.discord, NullDiscordService)
    assert await remind(app) == {} and await announce(app) == {}
    assert await count_rows(db, "patt.campaign_reminders") == 0
    assert await count_rows(db, "patt.contest_agent_log") == 0


# -------------------------------------------------------------------------- announcements
async def test_launch_is_posted_once_across_restarts_and_concurrent_passes(
    app: Any, client: httpx.AsyncClient, factory: Factory, fake: FakeDiscordService, db: Any
) -> None:
    officer = await factory.officer()
    campaign = await live_campaign(app, client, officer, discord_channel_id=CHANNEL)
    other = create_app(app.state.settings, database_url=app.state.database_url)
    other.state.discord = fake
    try:
        await asyncio.gather(announce(app), announce(app), announce(other), announce(other))
        await announce(other)  # "after a restart": the log row remembers the post
    finally:
        await other.state.engine.dispose()
        await other.state.state_engine.dispose()
    assert len(fake.posts) == 1
    channel, content, _ = fake.posts[0]
    assert channel == CHANNEL
    assert "Voting is open: Guild Art Vote" in content
    assert f"<t:{int((T0 + timedelta(hours=HOURS)).timestamp())}:F>" in content
    assert f"http://guild.test/vote/{campaign['id']}" in content
    [(event, status, message_id)] = await log_rows(db)
    assert (event, status) == ("launch", "posted") and message_id and message_id.isdigit()


async def test_default_channel_from_settings_and_no_channel_means_nothing(
    app: Any, client: httpx.AsyncClient, factory: Factory, fake: FakeDiscordService, db: Any
) -> None:
    officer = await factory.officer()
    await live_campaign(app, client, officer)
    assert await announce(app) == {} and fake.posts == []
    assert await count_rows(db, "patt.contest_agent_log") == 0
    app.state.settings = app.state.settings.model_copy(
        update={"discord_channel_announcement": CHANNEL}
    )
    await announce(app)
    assert [post[0] for post in fake.posts] == [CHANNEL]


async def test_milestones_at_50_and_75_percent(
    app: Any, client: httpx.AsyncClient, factory: Factory, fake: FakeDiscordService, db: Any
) -> None:
    officer = await factory.officer()
    voters = [await factory.member() for _ in range(3)]  # 4 eligible with the officer
    campaign = await live_campaign(app, client, officer, discord_channel_id=CHANNEL)
    await announce(app)
    await vote(app, client, campaign, voters[0], 0)
    await vote(app, client, campaign, voters[1], 1)
    assert await announce(app) == {
        campaign["id"]: {"milestone_50": "posted", "milestone_25": "skipped"}
    }
    assert "50% of eligible members have voted (2 of 4)" in (fake.posts[-1][1] or "")
    assert await announce(app) == {}
    await vote(app, client, campaign, voters[2], 2)
    assert await announce(app) == {campaign["id"]: {"milestone_75": "posted"}}
    assert [row[:2] for row in await log_rows(db)] == [
        ("launch", "posted"),
        ("milestone_50", "posted"),
        ("milestone_25", "skipped"),
        ("milestone_75", "posted"),
    ]
    assert len(fake.posts) == 3


async def test_closed_post_names_the_winner_once(
    app: Any, client: httpx.AsyncClient, factory: Factory, fake: FakeDiscordService, db: Any
) -> None:
    officer = await factory.officer()
    voters = [await factory.member() for _ in range(2)]
    campaign = await live_campaign(app, client, officer, discord_channel_id=CHANNEL)
    for voter in voters:
        await vote(app, client, campaign, voter, 0)  # both rank Dragon first
    closed = await client.post(f"{ADMIN}/{campaign['id']}/close", headers=headers_for(app, officer))
    assert closed.status_code == 200
    await announce(app)
    await announce(app)
    final = fake.posts[-1][1] or ""
    assert "has closed. Winner: **Dragon**!" in final
    assert f"Results: http://guild.test/vote/{campaign['id']}" in final
    assert sum(1 for row in await log_rows(db) if row[0] == "results") == 1
    # a day later a restarted process does not post old results again (nor anything else)
    clock.set_now(T0 + timedelta(days=3))
    assert await announce(app) == {}


async def test_no_quorum_close_posts_no_result(
    app: Any, client: httpx.AsyncClient, factory: Factory, fake: FakeDiscordService
) -> None:
    officer = await factory.officer()
    voter = await factory.member()
    await factory.member()
    campaign = await live_campaign(
        app, client, officer, discord_channel_id=CHANNEL, quorum_percent=80
    )
    await vote(app, client, campaign, voter, 0)
    await client.post(f"{ADMIN}/{campaign['id']}/close", headers=headers_for(app, officer))
    await announce(app)
    final = fake.posts[-1][1] or ""
    assert "**no result**" in final and "80% quorum" in final and "Winner" not in final


async def test_failed_post_is_recorded_and_not_retried(
    app: Any, client: httpx.AsyncClient, factory: Factory, fake: FakeDiscordService, db: Any
) -> None:
    officer = await factory.officer()
    campaign = await live_campaign(app, client, officer, discord_channel_id=CHANNEL)
    fake.fail_posts_with = 50001
    assert await announce(app) == {campaign["id"]: {"launch": "failed"}}
    fake.fail_posts_with = None
    assert await announce(app) == {}
    assert fake.posts == []
    response = await client.get(
        f"{ADMIN}/{campaign['id']}/discord", headers=headers_for(app, officer)
    )
    post = response.json()["data"]["announcements"][0]
    assert (post["event_type"], post["status"]) == ("launch", "failed")
    assert "Missing Access" in post["error"]


async def test_the_app_loop_posts_when_a_campaign_opens(
    app: Any, client: httpx.AsyncClient, factory: Factory, fake: FakeDiscordService
) -> None:
    app.state.settings = app.state.settings.model_copy(
        update={"campaign_checker_enabled": True, "campaign_check_interval_seconds": 3600}
    )
    loop = app.state.campaign_reach
    await loop.start(app)
    try:
        officer = await factory.officer()
        await live_campaign(app, client, officer, discord_channel_id=CHANNEL)
        for _ in range(100):  # the activation event wakes the loop; no hour-long wait
            if fake.posts:
                break
            await asyncio.sleep(0.05)
    finally:
        await loop.stop(app)
    assert len(fake.posts) == 1 and "Voting is open" in (fake.posts[0][1] or "")


async def test_unreachable_discord_releases_the_claims_for_the_next_pass(
    app: Any,
    client: httpx.AsyncClient,
    factory: Factory,
    fake: FakeDiscordService,
    db: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    guild = Guild(app, factory, fake)
    officer = await guild.add(level=4)
    await guild.add()
    await guild.add(discord=False)
    campaign = await live_campaign(app, client, officer, discord_channel_id=CHANNEL)
    clock.set_now(T0 + timedelta(hours=30))

    async def reconnecting(*args: Any, **kwargs: Any) -> Any:
        raise DiscordUnavailable()

    async def no_dm(*args: Any, **kwargs: Any) -> DMStatus:
        return DMStatus.BOT_UNAVAILABLE

    monkeypatch.setattr(fake, "post", reconnecting)
    monkeypatch.setattr(fake, "send_dm", no_dm)
    await announce(app)
    await remind(app)
    assert await count_rows(db, "patt.contest_agent_log") == 0
    assert await count_rows(db, "patt.campaign_reminders", "status <> 'no_discord'") == 0
    monkeypatch.undo()
    assert (await announce(app))[campaign["id"]]["launch"] == "posted"
    assert await remind(app) == {campaign["id"]: {"sent": 2}}
    assert dm_targets(fake) == [snowflake(1), snowflake(2)]


# ---------------------------------------------------------------------------- admin inputs
@pytest.mark.parametrize("value", ["yes", 1, None])
async def test_bad_announce_value_is_422_and_changes_nothing(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any, value: Any
) -> None:
    headers = headers_for(app, await factory.officer())
    campaign = await make_campaign(client, headers)
    assert campaign["announce_in_discord"] is True
    response = await client.patch(
        f"{ADMIN}/{campaign['id']}", json={"announce_in_discord": value}, headers=headers
    )
    assert response.status_code == 422
    assert response.json()["ok"] is False
    assert await db.scalar(text("SELECT announce_in_discord FROM patt.campaigns")) is True
    created = await client.post(
        ADMIN,
        json={
            "title": "X",
            "min_rank_to_vote": 2,
            "start_at": T0.isoformat(),
            "duration_hours": 5,
            "announce_in_discord": value,
        },
        headers=headers,
    )
    assert created.status_code == 422
    assert await count_rows(db, "patt.campaigns") == 1


async def test_announce_can_be_turned_off_in_the_api_and_the_form(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    officer = await factory.officer()
    headers = headers_for(app, officer)
    campaign = await make_campaign(client, headers)
    response = await client.patch(
        f"{ADMIN}/{campaign['id']}", json={"announce_in_discord": False}, headers=headers
    )
    assert response.status_code == 200 and response.json()["data"]["announce_in_discord"] is False
    login(app, client, officer)
    form = (await client.get("/admin/campaigns/new")).text
    assert 'name="announce_in_discord" value="on" checked' in form
    created = await client.post("/admin/campaigns/new", data=campaign_form())
    assert created.status_code == 302
    ticked = await client.post("/admin/campaigns/new", data=campaign_form(announce_in_discord="on"))
    assert ticked.status_code == 302
    rows = await db.execute(text("SELECT announce_in_discord FROM patt.campaigns ORDER BY id"))
    assert [row[0] for row in rows.all()] == [False, False, True]


async def test_a_live_campaign_can_be_silenced_but_nothing_else_changes(
    app: Any, client: httpx.AsyncClient, factory: Factory, fake: FakeDiscordService, db: Any
) -> None:
    guild = Guild(app, factory, fake)
    officer = await guild.add(level=4)
    headers = headers_for(app, officer)
    campaign = await live_campaign(app, client, officer, discord_channel_id=CHANNEL)
    url = f"{ADMIN}/{campaign['id']}"
    mixed = await client.patch(
        url, json={"announce_in_discord": False, "title": "New"}, headers=headers
    )
    assert mixed.status_code == 409
    assert (
        await client.patch(url, json={"announce_in_discord": "off"}, headers=headers)
    ).status_code == 422
    response = await client.patch(url, json={"announce_in_discord": False}, headers=headers)
    assert response.status_code == 200 and response.json()["data"]["announce_in_discord"] is False
    assert response.json()["data"]["title"] == "Guild Art Vote"
    clock.set_now(T0 + timedelta(hours=30))
    assert await announce(app) == {} and await remind(app) == {}

    login(app, client, officer)
    page = (await client.get(f"/admin/campaigns/{campaign['id']}/edit")).text
    assert 'id="discord-switch"' in page and 'id="discord-off"' in page
    switch = f"/admin/campaigns/{campaign['id']}/discord"
    refused = await client.post(switch, data={"announce_in_discord": "on"})  # no CSRF token
    assert refused.status_code == 403
    turned_on = await client.post(switch, data={"csrf_token": CSRF, "announce_in_discord": "on"})
    assert turned_on.status_code == 302
    assert await db.scalar(text("SELECT announce_in_discord FROM patt.campaigns")) is True
    assert await remind(app) == {campaign["id"]: {"sent": 1}}
    assert (await announce(app))[campaign["id"]]["launch"] == "posted"
    client.cookies.clear()
    member = await guild.add()
    login(app, client, member)
    assert (await client.post(switch, data={"csrf_token": CSRF})).status_code == 403


async def test_discord_report_needs_an_officer(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    headers = headers_for(app, await factory.officer())
    campaign = await make_campaign(client, headers)
    url = f"{ADMIN}/{campaign['id']}/discord"
    assert (await client.get(url)).status_code == 401
    member = await factory.member()
    assert (await client.get(url, headers=headers_for(app, member))).status_code == 403
    assert (await client.get(f"{ADMIN}/999999/discord", headers=headers)).status_code == 404
    assert (await client.get(f"{ADMIN}/abc/discord", headers=headers)).status_code == 422
    data = (await client.get(url, headers=headers)).json()["data"]
    assert data["discord_configured"] is False and data["announcements"] == []
    assert data["reminders"]["24h"]["sent"] == 0
