"""After the soak: is every acknowledged write in the database, exactly once?

Each write kind has a marker (see `soak_traffic`). For writes that add a row (ballot, sign-up,
quote, new member) an acknowledged marker must be found exactly once, and no marker at all may
be found twice. For writes that overwrite a member's value (availability notes, officer notes)
the stored value must be the member's last acknowledged marker, or the marker of a later attempt
that got no answer (it may have committed before the answer was lost); the seven availability
rows of a member must stay seven. Ballots must hold exactly the picks that were sent, and no
ballot may exist that the soak never sent.

Sync runs are read from the sync log to show that the fakes' outage was seen (failed runs) and
that syncs succeed again afterwards.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bench.soak_traffic import WRITE_KINDS, Attempt
from sv_common.db.models import (
    Ballot,
    Character,
    GuildMember,
    MemberAvailability,
    MitoQuote,
    SyncLog,
    Vote,
)


@dataclass
class KindCheck:
    """Verification figures of one write kind."""

    attempted: int = 0
    acknowledged: int = 0
    verified: int = 0
    lost: int = 0
    duplicated: int = 0
    unacknowledged_present: int = 0
    unacknowledged_absent: int = 0
    problems: list[str] = field(default_factory=list)

    def problem(self, text: str) -> None:
        if len(self.problems) < 10:
            self.problems.append(text)


@dataclass
class Verification:
    """Per-kind checks and totals."""

    kinds: dict[str, KindCheck]

    @property
    def lost(self) -> int:
        return sum(k.lost for k in self.kinds.values())

    @property
    def duplicated(self) -> int:
        return sum(k.duplicated for k in self.kinds.values())

    @property
    def acknowledged(self) -> int:
        return sum(k.acknowledged for k in self.kinds.values())

    @property
    def verified(self) -> int:
        return sum(k.verified for k in self.kinds.values())


def _by_kind(attempts: list[Attempt]) -> dict[str, list[Attempt]]:
    grouped: dict[str, list[Attempt]] = defaultdict(list)
    for attempt in attempts:
        if attempt.kind in WRITE_KINDS and attempt.marker is not None:
            grouped[attempt.kind].append(attempt)
    return grouped


def _count_unacknowledged(check: KindCheck, attempt: Attempt, found: bool) -> None:
    if found:
        check.unacknowledged_present += 1
    else:
        check.unacknowledged_absent += 1


def _appended(check: KindCheck, attempts: list[Attempt], counts: dict[str, int], key: str) -> None:
    """Rows added once per marker: acknowledged → exactly one, any attempt → at most one."""
    for attempt in attempts:
        assert attempt.marker is not None
        marker = attempt.marker[key]
        found = counts.get(marker, 0)
        check.attempted += 1
        if found > 1:
            check.duplicated += 1
            check.problem(f"{marker!r} stored {found} times")
        if attempt.acknowledged:
            check.acknowledged += 1
            if found == 0:
                check.lost += 1
                check.problem(f"{marker!r} acknowledged ({attempt.status}) but not stored")
            elif found == 1:
                check.verified += 1
        else:
            _count_unacknowledged(check, attempt, found > 0)


def _overwritten(
    check: KindCheck, attempts: list[Attempt], stored: dict[int, str | None], what: str
) -> None:
    """Last-write-wins values, one sequential writer per member."""
    per_member: dict[int, list[Attempt]] = defaultdict(list)
    for attempt in attempts:
        assert attempt.marker is not None
        per_member[int(attempt.marker["member_id"])].append(attempt)
    for member_id, tries in per_member.items():
        tries.sort(key=lambda a: a.seq)
        value = stored.get(member_id)
        acknowledged = [a for a in tries if a.acknowledged]
        check.attempted += len(tries)
        check.acknowledged += len(acknowledged)
        for attempt in tries:
            if not attempt.acknowledged:
                assert attempt.marker is not None
                _count_unacknowledged(check, attempt, attempt.marker["notes"] == value)
        if not acknowledged:
            continue
        last = acknowledged[-1]
        allowed = {str(last.marker["notes"])} if last.marker else set()
        allowed |= {
            str(a.marker["notes"])
            for a in tries
            if a.seq > last.seq and not a.acknowledged and a.marker is not None
        }
        if value in allowed:
            check.verified += len(acknowledged)  # earlier ones were overwritten, as sent
        else:
            check.lost += 1
            check.problem(
                f"member {member_id}: {what} is {value!r}, last acknowledged {last.marker}"
            )


async def verify(session: AsyncSession, attempts: list[Attempt]) -> Verification:
    """Check every write marker against the database."""
    grouped = _by_kind(attempts)
    kinds = {kind: KindCheck() for kind in WRITE_KINDS}

    # --- ballots: one per (campaign, member), with exactly the picks that were sent
    ballots: dict[tuple[int, int], list[int]] = defaultdict(list)
    for ballot_id, campaign_id, member_id in (
        await session.execute(select(Ballot.id, Ballot.campaign_id, Ballot.member_id))
    ).all():
        ballots[(int(campaign_id), int(member_id))].append(int(ballot_id))
    picks: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for ballot_id, entry_id, rank in (
        await session.execute(select(Vote.ballot_id, Vote.entry_id, Vote.rank))
    ).all():
        picks[int(ballot_id)].append((int(rank), int(entry_id)))
    check = kinds["vote"]
    sent_pairs: set[tuple[int, int]] = set()
    for attempt in grouped["vote"]:
        assert attempt.marker is not None
        pair = (int(attempt.marker["campaign_id"]), int(attempt.marker["member_id"]))
        sent_pairs.add(pair)
        found = ballots.get(pair, [])
        check.attempted += 1
        if len(found) > 1:
            check.duplicated += 1
            check.problem(f"ballot {pair} stored {len(found)} times")
        if len(found) == 1:
            stored = [entry for _, entry in sorted(picks[found[0]])]
            if stored != attempt.marker["picks"]:
                check.duplicated += 1 if len(stored) > len(attempt.marker["picks"]) else 0
                check.lost += 1 if attempt.acknowledged else 0
                check.problem(f"ballot {pair}: picks {stored}, sent {attempt.marker['picks']}")
                continue
        if attempt.acknowledged:
            check.acknowledged += 1
            if not found:
                check.lost += 1
                check.problem(f"ballot {pair} acknowledged but not stored")
            elif len(found) == 1:
                check.verified += 1
        else:
            _count_unacknowledged(check, attempt, bool(found))
    phantom = [pair for pair in ballots if pair not in sent_pairs]
    if phantom:
        check.duplicated += len(phantom)
        check.problem(f"{len(phantom)} ballots nobody sent, e.g. {phantom[:3]}")

    # --- availability notes (seven rows per member, last acknowledged notes)
    rows = (
        await session.execute(
            select(
                MemberAvailability.member_id,
                func.count(),
                func.min(MemberAvailability.notes),
                func.max(MemberAvailability.notes),
            ).group_by(MemberAvailability.member_id)
        )
    ).all()
    notes: dict[int, str | None] = {}
    for member_id, count, lowest, highest in rows:
        notes[int(member_id)] = lowest if lowest == highest else f"{lowest!r} / {highest!r}"
        if count != 7:
            kinds["availability"].duplicated += 1
            kinds["availability"].problem(f"member {member_id} has {count} availability rows")
    _overwritten(kinds["availability"], grouped["availability"], notes, "availability notes")

    # --- officer notes
    member_notes = {
        int(member_id): value
        for member_id, value in (await session.execute(select(GuildMember.id, GuildMember.notes)))
    }
    _overwritten(kinds["member_notes"], grouped["member_notes"], member_notes, "officer notes")

    # --- rows added once: sign-ups (member + character + notes), quotes, new members
    usernames = Counter(
        str(name).lower()
        for name in (await session.scalars(select(GuildMember.discord_username))).all()
        if name
    )
    characters = Counter(
        str(name).lower() for name in (await session.scalars(select(Character.name))).all()
    )
    signup_notes = {
        str(name).lower(): value
        for name, value in (
            await session.execute(
                select(GuildMember.discord_username, func.max(MemberAvailability.notes))
                .join(MemberAvailability, MemberAvailability.member_id == GuildMember.id)
                .where(GuildMember.discord_username.like("soak\\_signup\\_%"))
                .group_by(GuildMember.discord_username)
            )
        ).all()
    }
    check = kinds["signup"]
    for attempt in grouped["signup"]:
        assert attempt.marker is not None
        discord = str(attempt.marker["discord"]).lower()
        character = str(attempt.marker["character"]).lower()
        members, chars = usernames.get(discord, 0), characters.get(character, 0)
        check.attempted += 1
        if members > 1 or chars > 1:
            check.duplicated += 1
            check.problem(f"sign-up {discord}: {members} members, {chars} characters")
        complete = (
            members == 1 and chars == 1 and signup_notes.get(discord) == attempt.marker["notes"]
        )
        if attempt.acknowledged:
            check.acknowledged += 1
            if complete:
                check.verified += 1
            else:
                check.lost += 1
                check.problem(
                    f"sign-up {discord} acknowledged: {members} members, {chars} characters, "
                    f"notes {signup_notes.get(discord)!r}"
                )
        else:
            _count_unacknowledged(check, attempt, members > 0 or chars > 0)

    quotes = Counter((await session.scalars(select(MitoQuote.quote))).all())
    _appended(kinds["quote"], grouped["quote"], quotes, "quote")
    _appended(kinds["new_member"], grouped["new_member"], usernames, "username")
    return Verification(kinds)


@dataclass
class SyncRun:
    """One sync log row."""

    source: str
    status: str
    started_at: datetime
    completed_at: datetime | None
    triggered_by: str | None
    error: str | None


async def sync_runs(session: AsyncSession) -> list[SyncRun]:
    """Every Blizzard and Discord sync in the log, oldest first."""
    rows = await session.execute(
        select(
            SyncLog.source,
            SyncLog.status,
            SyncLog.started_at,
            SyncLog.completed_at,
            SyncLog.triggered_by,
            SyncLog.error_message,
        )
        .where(SyncLog.source.in_(("blizzard_api", "discord_bot")))
        .order_by(SyncLog.started_at)
    )
    return [SyncRun(*row) for row in rows.all()]


def summarise_syncs(
    runs: list[SyncRun], started: datetime, fault_start: datetime, fault_end: datetime
) -> dict[str, Any]:
    """Per source: runs started while the fakes were failing and how they ended, runs that
    finished after the fakes came back, and every run (seconds since the soak started)."""
    summary: dict[str, Any] = {}
    for source, label in (("blizzard_api", "blizzard"), ("discord_bot", "discord")):
        mine = [r for r in runs if r.source == source]
        during = [r for r in mine if fault_start <= r.started_at < fault_end]
        # runs that finished after the fakes came back (one may have ridden the outage out)
        after = [r for r in mine if r.completed_at is not None and r.completed_at >= fault_end]
        summary[label] = {
            "runs": len(mine),
            "failed_during_fault": sum(1 for r in during if r.status == "error"),
            "succeeded_during_fault": sum(1 for r in during if r.status == "success"),
            "succeeded_after": sum(1 for r in after if r.status == "success"),
            "failed_after": sum(1 for r in after if r.status == "error"),
            "errors": sorted({(r.error or "")[:120] for r in during if r.status == "error"})[:3],
            "log": [
                {
                    "at": round((r.started_at - started).total_seconds(), 1),
                    "took": round((r.completed_at - r.started_at).total_seconds(), 1)
                    if r.completed_at
                    else None,
                    "status": r.status,
                    "by": r.triggered_by,
                    "error": (r.error or "")[:120] or None,
                }
                for r in mine
            ],
        }
    return summary
