"""last_seen_at: recorded by authenticated requests, at most once per 15 minutes (20 §2 step 5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import text
from tests.conftest import Factory

from sv_common import clock


async def last_seen(app: Any, member_id: int) -> Any:
    async with app.state.sessionmaker() as session:
        return await session.scalar(
            text("SELECT last_seen_at FROM common.guild_members WHERE id = :id"), {"id": member_id}
        )


async def test_last_seen_is_written_at_most_every_15_minutes(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    member = await factory.member(level=2)
    start = datetime(2026, 3, 1, 18, 0, tzinfo=UTC)
    clock.set_now(start)
    assert await last_seen(app, member.id) is None
    assert (await client.get("/api/v1/auth/me", headers=member.headers)).status_code == 200
    assert await last_seen(app, member.id) == start

    clock.set_now(start + timedelta(minutes=10))
    assert (await client.get("/api/v1/auth/me", headers=member.headers)).status_code == 200
    assert await last_seen(app, member.id) == start  # within 15 minutes: no write

    later = start + timedelta(minutes=16)
    clock.set_now(later)
    assert (await client.get("/api/v1/auth/me", headers=member.headers)).status_code == 200
    assert await last_seen(app, member.id) == later


async def test_inactive_account_is_not_marked_seen(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    member = await factory.member(level=2)
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(
            text("UPDATE common.users SET is_active = false WHERE id = :id"), {"id": member.user_id}
        )
    response = await client.get("/api/v1/auth/me", headers=member.headers)
    assert response.status_code == 401
    assert await last_seen(app, member.id) is None
