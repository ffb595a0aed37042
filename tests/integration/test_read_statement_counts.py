"""The signed-in and guild read paths cost a fixed number of SQL statements whatever the guild's
size: the token becomes a Principal in one statement, and pages read their data in one more.

Each test counts the statements one request sends (a `before_cursor_execute` listener on the
app's engine), then grows the guild tenfold and counts again: the numbers must not change.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event, insert, text
from tests.conftest import Factory, MemberHandle

from sv_common import clock
from sv_common.auth import passwords
from sv_common.db.models import (
    DAYS_OF_WEEK,
    Campaign,
    CampaignEntry,
    Character,
    GuildMember,
    MemberAvailability,
    MitoQuote,
    User,
)

LETTERS = "abcdefghijklmnopqrstuvwxyz"


def letters(number: int) -> str:
    """`number` spelled with four letters (character names hold no digits)."""
    text_value = ""
    for _ in range(4):
        number, digit = divmod(number, 26)
        text_value = LETTERS[digit] + text_value
    return text_value


class Guild:
    """Grows the guild: registered members with three characters and a week each, live
    campaigns with entries, Mito quotes."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.members = 0
        self.campaigns = 0

    async def grow(self, *, members: int, campaigns: int) -> None:
        now = clock.now()
        password_hash = passwords.hash_password("grow-password-1")
        async with self.app.state.sessionmaker() as session, session.begin():
            rank_ids = list(await session.scalars(text("SELECT id FROM common.guild_ranks")))
            user_ids = list(
                await session.scalars(
                    insert(User).returning(User.id, sort_by_parameter_order=True),
                    [{"password_hash": password_hash, "is_active": True}] * members,
                )
            )
            start = self.members
            member_ids = list(
                await session.scalars(
                    insert(GuildMember).returning(GuildMember.id, sort_by_parameter_order=True),
                    [
                        {
                            "discord_username": f"grown{start + n}",
                            "display_name": f"Grown {start + n}",
                            "rank_id": rank_ids[n % len(rank_ids)],
                            "on_raid_roster": True,
                            "user_id": user_ids[n],
                            "registered_at": now,
                        }
                        for n in range(members)
                    ],
                )
            )
            await session.execute(
                insert(Character),
                [
                    {
                        "member_id": member_id,
                        "name": "Gro" + letters((start + n) * 3 + k),
                        "realm_slug": "senjin",
                        "character_class": "Mage",
                        "spec": "Frost",
                        "role": "ranged_dps",
                        "main_alt": "main" if k == 0 else "alt",
                    }
                    for n, member_id in enumerate(member_ids)
                    for k in range(3)
                ],
            )
            await session.execute(
                insert(MemberAvailability),
                [
                    {"member_id": member_id, "day_of_week": day, "available": True, "notes": ""}
                    for member_id in member_ids
                    for day in DAYS_OF_WEEK
                ],
            )
            for n in range(campaigns):
                campaign = Campaign(
                    title=f"Vote {self.campaigns + n}",
                    description="Pick one",
                    min_rank_to_vote=1,
                    min_rank_to_view=None,
                    start_at=now - timedelta(hours=1),
                    duration_hours=48 + n,
                    status="live",
                )
                session.add(campaign)
                await session.flush()
                session.add_all(
                    CampaignEntry(campaign_id=campaign.id, name=f"Entry {k}", sort_order=k)
                    for k in range(3)
                )
            session.add(MitoQuote(quote=f"Quote {self.members}"))
        self.members += members
        self.campaigns += campaigns


@pytest.fixture
async def statements(app: Any) -> AsyncIterator[list[str]]:
    """Every SQL statement the app's engine sends while the test runs."""
    sent: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    event.listen(app.state.engine.sync_engine, "before_cursor_execute", record)
    yield sent
    event.remove(app.state.engine.sync_engine, "before_cursor_execute", record)


Request = Callable[[httpx.AsyncClient, MemberHandle], Awaitable[httpx.Response]]


async def counted(
    client: httpx.AsyncClient, sent: list[str], request: Request, member: MemberHandle
) -> tuple[int, int]:
    """Statements of the first request after a change, then of a repeat of it."""
    counts = []
    for _ in range(2):
        sent.clear()
        response = await request(client, member)
        assert response.status_code == 200, response.text
        counts.append(len(sent))
    return counts[0], counts[1]


def bearer(path: str) -> Request:
    return lambda client, member: client.get(path, headers=member.headers)


def cookie(path: str) -> Request:
    return lambda client, member: client.get(path, headers={"Cookie": f"patt_token={member.token}"})


def anonymous(path: str) -> Request:
    return lambda client, member: client.get(path)


# (request, statements of the first request after a change, of a repeat) — see each comment
CASES = {
    # token → principal with the caller's characters beside it
    "me": (bearer("/api/v1/auth/me"), 1, 1),
    # one statement: campaigns, results and the quote
    "landing anonymous": (anonymous("/"), 1, 1),
    # the landing columns ride along with the cookie's lookup (the Vote link comes from
    # Active Votes)
    "landing signed in": (cookie("/"), 1, 1),
    # table fingerprint, then the document when it changed
    "public roster": (anonymous("/api/v1/guild/roster"), 2, 1),
    # a shell page: nothing to read
    "roster view": (anonymous("/roster-view"), 0, 0),
    # the principal and the navigation's Vote link, in one statement
    "roster view signed in": (cookie("/roster-view"), 1, 1),
    # fingerprint, then the roster when it changed
    "roster data": (anonymous("/api/v1/guild/roster-data"), 2, 1),
    # principal, fingerprint, roster when changed
    "roster data signed in": (bearer("/api/v1/guild/roster-data"), 3, 2),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_statement_count_does_not_grow_with_the_guild(
    app: Any, client: httpx.AsyncClient, factory: Factory, statements: list[str], case: str
) -> None:
    request, first, repeat = CASES[case]
    guild = Guild(app)
    member = await factory.member(level=2)
    await request(client, member)  # records last_seen_at (once per 15 minutes)
    await guild.grow(members=20, campaigns=1)
    small = await counted(client, statements, request, member)
    await guild.grow(members=180, campaigns=9)
    large = await counted(client, statements, request, member)
    assert small == large == (first, repeat)


async def test_signed_in_reads_write_nothing(
    app: Any, client: httpx.AsyncClient, factory: Factory, statements: list[str]
) -> None:
    member = await factory.member(level=2)
    await client.get("/api/v1/auth/me", headers=member.headers)  # the last-seen mark
    statements.clear()
    for request in (
        bearer("/api/v1/auth/me"),
        cookie("/"),
        cookie("/roster-view"),
        bearer("/api/v1/guild/roster-data"),
    ):
        assert (await request(client, member)).status_code == 200
    writes = [s for s in statements if not s.lstrip().upper().startswith(("SELECT", "WITH"))]
    assert writes == []
