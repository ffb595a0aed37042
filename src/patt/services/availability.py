"""Weekly availability and the raid-roster read model of the guild tools (60 §3, §9.4, §9.5).

Owns: the field rules for availability input (days, auto-signup, reminders, notes), writing a
member's seven rows, and `load_roster()` — the data behind `GET /roster-data`, the roster view
and `GET /availability`, read with two queries whatever the guild's size.

Shared helpers other features may use: `load_roster`, `availability_entry`, `legacy_role`,
`save_availability`, `clean_week_fields`.

Choices where the spec is silent:
- `null` for `availability`, `autoSignup`, `wantsReminders` or `notes` counts as absent (the
  stored value is kept), like a missing key.
- Notes are trimmed; control characters other than newline are removed before the 1000
  character limit is checked.
- `POST /availability` with another member's name answers 403 to non-officers whether or not
  the name exists (no probing of who is on the roster); officers get 404 for unknown names.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, false, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from sv_common import clock
from sv_common.db.models import Character, GuildMember, MemberAvailability
from sv_common.errors import Forbidden, Invalid, NotFound
from sv_common.guild_sync.sheet_import import normalise_discord_name
from sv_common.identity import classes

DAYS = classes.DAYS
NOTES_MAX = 1000


# ----------------------------------------------------------------------- input rules
@dataclass
class WeekFields:
    """Availability input after validation; None = absent (keep the stored value)."""

    days: dict[str, bool] | None = None
    auto_signup: bool | None = None
    wants_reminders: bool | None = None
    notes: str | None = None


def clean_notes(value: str) -> str:
    """Trim and drop control characters other than newline (\\r\\n becomes \\n)."""
    value = value.replace("\r\n", "\n")
    kept = (ch for ch in value if ch == "\n" or unicodedata.category(ch) != "Cc")
    return "".join(kept).strip()


def clean_week_fields(raw: dict[str, Any], errors: dict[str, str]) -> WeekFields:
    """Read `availability`, `autoSignup`, `wantsReminders`, `notes`; problems go into `errors`."""
    week = WeekFields()
    days = raw.get("availability")
    if days is not None:
        if not isinstance(days, dict):
            errors["availability"] = "must be an object of day → true/false"
        else:
            bad = [day for day in DAYS if day in days and not isinstance(days[day], bool)]
            if bad:
                errors["availability"] = f"{bad[0]} must be true or false"
            else:
                week.days = {day: bool(days.get(day, False)) for day in DAYS}
    for key, attribute in (("autoSignup", "auto_signup"), ("wantsReminders", "wants_reminders")):
        value = raw.get(key)
        if value is None:
            continue
        if not isinstance(value, bool):
            errors[key] = "must be true or false"
        else:
            setattr(week, attribute, value)
    notes = raw.get("notes")
    if notes is not None:
        if not isinstance(notes, str):
            errors["notes"] = "must be text"
        else:
            cleaned = clean_notes(notes)
            if len(cleaned) > NOTES_MAX:
                errors["notes"] = f"must be at most {NOTES_MAX} characters"
            else:
                week.notes = cleaned
    return week


# --------------------------------------------------------------------------- writes
async def save_availability(
    session: AsyncSession, *, member_id: int, week: WeekFields, now: datetime | None = None
) -> None:
    """Write the member's seven rows (absent fields keep stored values) and put them on the
    raid roster; one upsert, in the caller's transaction."""
    stored = {
        row.day_of_week: row
        for row in (
            await session.scalars(
                select(MemberAvailability).where(MemberAvailability.member_id == member_id)
            )
        ).all()
    }
    first = next(iter(stored.values()), None)
    notes = week.notes if week.notes is not None else (first.notes or "" if first else "")
    auto_signup = (
        week.auto_signup if week.auto_signup is not None else bool(first and first.auto_signup)
    )
    wants_reminders = (
        week.wants_reminders
        if week.wants_reminders is not None
        else bool(first and first.wants_reminders)
    )
    stamp = now or clock.now()
    rows = [
        {
            "member_id": member_id,
            "day_of_week": day,
            "available": (
                week.days[day]
                if week.days is not None
                else bool(stored[day].available if day in stored else False)
            ),
            "notes": notes,
            "auto_signup": auto_signup,
            "wants_reminders": wants_reminders,
            "updated_at": stamp,
        }
        for day in DAYS
    ]
    statement = pg_insert(MemberAvailability).values(rows)
    await session.execute(
        statement.on_conflict_do_update(
            constraint="uq_member_day",
            set_={
                "available": statement.excluded.available,
                "notes": statement.excluded.notes,
                "auto_signup": statement.excluded.auto_signup,
                "wants_reminders": statement.excluded.wants_reminders,
                "updated_at": statement.excluded.updated_at,
            },
        )
    )
    await session.execute(
        update(GuildMember)
        .where(GuildMember.id == member_id, GuildMember.on_raid_roster.is_(false()))
        .values(on_raid_roster=True, updated_at=stamp)
    )


# ---------------------------------------------------------------------------- reads
def iso_seconds(value: datetime | None) -> str | None:
    """ISO-8601 UTC with offset and whole seconds (`2025-01-11T19:40:00+00:00`)."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(microsecond=0).isoformat()


def legacy_role(role: str | None, class_name: str | None, spec: str | None) -> str:
    """Tool label of a character's role: stored role, else derived from class+spec, else Ranged."""
    label = classes.legacy_role_label(role) or classes.legacy_role_label(
        classes.role_for(class_name, spec)
    )
    return label or "Ranged"


def discord_name_problem(username: str) -> bool:
    """True when a stored username fails the 60 §9.3 format (raid admin "Invalid Format")."""
    return normalise_discord_name(username) is None


@dataclass
class RosterMember:
    """A member on the raid roster (on_raid_roster and a Discord username)."""

    id: int
    discord: str
    discord_id: str | None
    availability: dict[str, Any] | None


@dataclass
class Roster:
    """Everything the guild-tool pages read, in roster order."""

    members: list[RosterMember] = field(default_factory=list)
    characters: list[dict[str, Any]] = field(default_factory=list)

    @property
    def availability(self) -> list[dict[str, Any]]:
        """Availability entries (members with rows), sorted by Discord name."""
        return [m.availability for m in self.members if m.availability is not None]

    def discord_ids(self) -> dict[str, str]:
        """`{discord_username: snowflake}` for members with an ID (Officer+ only)."""
        return {m.discord: m.discord_id for m in self.members if m.discord_id}

    def validation_issues(self) -> list[dict[str, Any]]:
        """Members whose name fails the format, or who have no Discord ID (Officer+ only)."""
        issues = []
        for member in self.members:
            if discord_name_problem(member.discord):
                issues.append(
                    {
                        "name": member.discord,
                        "status": "Invalid Format",
                        "hasId": member.discord_id is not None,
                    }
                )
            elif not member.discord_id:
                issues.append({"name": member.discord, "status": "Pending ID", "hasId": False})
        return issues


def _on_roster() -> Any:
    return and_(GuildMember.on_raid_roster.is_(True), GuildMember.discord_username.is_not(None))


def _day_column(day: str) -> Any:
    return func.bool_or(MemberAvailability.available).filter(MemberAvailability.day_of_week == day)


async def load_roster(
    session: AsyncSession, *, member_id: int | None = None, with_characters: bool = True
) -> Roster:
    """The raid roster (two queries); `member_id` limits it to one member (no characters)."""
    member_rows = select(
        GuildMember.id,
        GuildMember.discord_username,
        GuildMember.discord_id,
        func.count(MemberAvailability.id).label("day_rows"),
        func.max(MemberAvailability.notes).label("notes"),
        func.bool_or(MemberAvailability.auto_signup).label("auto_signup"),
        func.bool_or(MemberAvailability.wants_reminders).label("wants_reminders"),
        func.max(MemberAvailability.updated_at).label("updated"),
        *(_day_column(day).label(day) for day in DAYS),
    ).outerjoin(MemberAvailability, MemberAvailability.member_id == GuildMember.id)
    if member_id is not None:
        member_rows = member_rows.where(GuildMember.id == member_id)
    else:
        member_rows = member_rows.where(_on_roster())
    member_rows = member_rows.group_by(GuildMember.id)
    roster = Roster()
    for row in await session.execute(member_rows):
        discord = row.discord_username or ""
        entry = None
        if row.day_rows:
            entry = {"discord": discord}
            for day in DAYS:
                entry[day] = bool(getattr(row, day))
            entry["notes"] = row.notes or ""
            entry["autoSignup"] = bool(row.auto_signup)
            entry["wantsReminders"] = bool(row.wants_reminders)
            entry["updated"] = iso_seconds(row.updated)
        roster.members.append(RosterMember(row.id, discord, row.discord_id, entry))
    roster.members.sort(key=lambda m: (m.discord.lower(), m.id))
    if member_id is not None or not with_characters:
        return roster

    character_rows = (
        select(
            GuildMember.discord_username,
            Character.name,
            Character.character_class,
            Character.spec,
            Character.role,
            Character.main_alt,
        )
        .join(GuildMember, GuildMember.id == Character.member_id)
        .where(_on_roster(), Character.removed_at.is_(None), Character.character_class.is_not(None))
    )
    characters = []
    for row in await session.execute(character_rows):
        class_name = classes.match_class(row.character_class)
        if class_name is None:
            continue
        main = row.main_alt == "main"
        characters.append(
            {
                "discord": row.discord_username,
                "character": row.name,
                "class": class_name,
                "spec": row.spec or "",
                "role": legacy_role(row.role, class_name, row.spec),
                "mainAlt": "Main" if main else "Alt",
            }
        )
    characters.sort(
        key=lambda c: (c["discord"].lower(), c["mainAlt"] != "Main", c["character"].lower())
    )
    roster.characters = characters
    return roster


async def availability_entry(session: AsyncSession, member_id: int) -> dict[str, Any] | None:
    """One member's availability entry (as in `roster-data`), None when they have no rows."""
    roster = await load_roster(session, member_id=member_id)
    return roster.members[0].availability if roster.members else None


async def update_member_availability(
    session: AsyncSession,
    *,
    actor: GuildMember,
    officer: bool,
    raw: dict[str, Any],
) -> dict[str, Any]:
    """`POST /availability`: the caller's own week, or anyone's for officers (60 §9.5)."""
    errors: dict[str, str] = {}
    target = actor
    name = raw.get("discordName")
    if name is not None:
        if not isinstance(name, str) or not name.strip():
            errors["discordName"] = "must be a Discord username"
        else:
            wanted = (normalise_discord_name(name) or name.strip()).lower()
            own = (actor.discord_username or "").lower()
            if wanted != own:
                if not officer:
                    raise Forbidden("Only officers can update another member's availability.")
                found = await session.scalar(
                    select(GuildMember).where(func.lower(GuildMember.discord_username) == wanted)
                )
                if found is None:
                    raise NotFound(f"Member '{name.strip()}' not found")
                target = found
    week = clean_week_fields(raw, errors)
    if errors:
        first, problem = next(iter(errors.items()))
        raise Invalid(
            f"Invalid value for '{first}': {problem}",
            details=[{"field": key, "message": value} for key, value in errors.items()],
        )
    await save_availability(session, member_id=target.id, week=week)
    entry = await availability_entry(session, target.id)
    assert entry is not None  # seven rows were just written
    return entry
