"""Audit reports from the database (70 §8): selection, marking delivered issues, skips."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sv_common import clock
from sv_common.db.models import AuditIssue
from sv_common.discord.fake import FakeDiscordService
from sv_common.discord.interface import DiscordSendError, Embed
from sv_common.discord.role_sync import issue_hash
from sv_common.guild_sync.reporter import deliver_issue_report, send_issue_report

CHANNEL = "300000000000000001"
TYPES = (
    "orphan_wow",
    "orphan_discord",
    "role_mismatch",
    "no_guild_role",
    "stale_character",
    "rank_change",
    "auto_link_suggestion",
)


async def add_issues(db: AsyncSession, count: int, **overrides: Any) -> list[int]:
    rows = []
    base = clock.now() - timedelta(hours=1)
    for n in range(count):
        values: dict[str, Any] = {
            "issue_type": TYPES[n % len(TYPES)],
            "severity": ("critical", "warning", "info")[n % 3],
            "summary": f"Character 'Hero{n}' is not linked to any member " + "·" * 150,
            "issue_hash": issue_hash("test", n, overrides.get("tag", "")),
            "first_detected": base + timedelta(seconds=n),
        }
        values.update({k: v for k, v in overrides.items() if k != "tag"})
        rows.append(AuditIssue(**values))
    db.add_all(rows)
    await db.commit()
    return [r.id for r in rows]


async def report(
    app: Any, service: Any, *, full: bool = False, channel: str | None = CHANNEL
) -> Any:
    async with app.state.sessionmaker() as session, session.begin():
        return await deliver_issue_report(session, service, channel, full=full, guild_name="PATT")


async def notified(db: AsyncSession) -> dict[int, bool]:
    db.expire_all()
    rows = (await db.scalars(select(AuditIssue))).all()
    return {r.id: r.notified_at is not None for r in rows}


async def test_new_issues_are_posted_once_and_marked(app: Any, db: AsyncSession) -> None:
    ids = await add_issues(db, 3)
    service = FakeDiscordService()
    result = await report(app, service)
    assert result.reported == 3 and result.error is None
    assert len(service.posts) == 1
    channel, content, embeds = service.posts[0]
    assert channel == CHANNEL and content is None
    assert embeds[0].title == "🔍 Guild Identity Audit"
    assert embeds[0].description.startswith("**3 new issues**")
    assert all((await notified(db)).values()) and set(await notified(db)) == set(ids)
    again = await report(app, service)  # nothing new: nothing posted
    assert again.reported == 0 and len(service.posts) == 1


async def test_full_report_includes_notified_issues_and_keeps_their_time(
    app: Any, db: AsyncSession
) -> None:
    earlier = clock.now() - timedelta(days=2)
    [old] = await add_issues(db, 1, notified_at=earlier, tag="old")
    await add_issues(db, 2, tag="new")
    service = FakeDiscordService()
    assert (await report(app, service)).reported == 2
    result = await report(app, service, full=True)
    assert result.reported == 3
    assert service.posts[-1][2][0].description.startswith("**3 open issues**")
    db.expire_all()
    assert (await db.get(AuditIssue, old)).notified_at == earlier  # type: ignore[union-attr]


async def test_resolved_issues_are_never_reported(app: Any, db: AsyncSession) -> None:
    await add_issues(db, 2, resolved_at=clock.now())
    service = FakeDiscordService()
    assert await send_issue_report(db, service, CHANNEL, full=True) == 0
    assert service.posts == []


async def test_skipped_without_channel_or_when_unavailable(app: Any, db: AsyncSession) -> None:
    await add_issues(db, 2)
    service = FakeDiscordService()
    assert (await report(app, service, channel=None)).reported == 0
    service.set_available(False)
    assert (await report(app, service)).reported == 0
    assert service.posts == [] and not any((await notified(db)).values())


class FailingSecondPost(FakeDiscordService):
    """Delivers the first message, then refuses like a channel that lost its permission."""

    async def post(
        self, channel_id: str, content: str | None = None, embeds: Sequence[Embed] = ()
    ) -> str:
        if len(self.posts) >= 1:
            raise DiscordSendError(50013, "Missing Permissions")
        return await super().post(channel_id, content, embeds)


async def test_only_delivered_issues_are_marked_when_a_send_fails(
    app: Any, db: AsyncSession
) -> None:
    await add_issues(db, 70)  # long summaries: the 7 type groups need several messages
    service = FailingSecondPost()
    result = await report(app, service)
    assert result.error == "Missing Permissions"
    assert len(service.posts) == 1
    delivered_ids = result.reported
    assert 0 < delivered_ids < 70
    marks = await notified(db)
    assert sum(marks.values()) == delivered_ids
    # the first message's groups are exactly the marked issues
    titles = [e.title for e in service.posts[0][2][1:]]
    marked_types = {
        i.issue_type
        for i in (
            await db.scalars(select(AuditIssue).where(AuditIssue.notified_at.is_not(None)))
        ).all()
    }
    assert len(marked_types) == len(titles)
    retry = FakeDiscordService()
    rest = await report(app, retry)
    assert rest.reported == 70 - delivered_ids
    assert all((await notified(db)).values())


async def test_five_hundred_issues_are_all_delivered_within_limits(
    app: Any, db: AsyncSession
) -> None:
    await add_issues(db, 500)
    service = FakeDiscordService()  # the fake raises ValueError on any limit violation
    result = await report(app, service)
    assert result.reported == 500 and result.error is None
    assert len(service.posts) >= 2
    embeds = [e for _, _, message in service.posts for e in message]
    assert len(embeds) == 1 + len(TYPES)
    groups = embeds[1:]
    assert groups[0].colour == 0xFF0000  # critical first
    assert all("…and" in e.description or "…truncated" in e.description for e in groups)
    assert all((await notified(db)).values())
