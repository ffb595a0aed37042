"""Weekly availability and the raid-roster read model of the guild tools (60 §3, §9.4, §9.5).

Owns: the field rules for availability input (days, auto-signup, reminders, notes), writing a
member's seven rows, and the read model behind `GET /roster-data`, the roster view and
`GET /availability`: `roster_json()` has PostgreSQL build both JSON arrays in one statement
whatever the guild's size (no per-row Python work).

Shared helpers other features may use: `load_roster` (Python data), `roster_json` (JSON text),
`availability_entry`, `officer_extras`, `save_availability`, `clean_week_fields`.

Choices where the spec is silent:
- `null` for `availability`, `autoSignup`, `wantsReminders` or `notes` counts as absent (the
  stored value is kept), like a missing key.
- Notes are trimmed; control characters other than newline are removed before the 1000
  character limit is checked.
- `POST /availability` with another member's name answers 403 to non-officers whether or not
  the name exists (no probing of who is on the roster); officers get 404 for unknown names and
  403 for members at or above their own rank (decision 5).
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import false, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from patt.core.caches import ProcessCaches, fingerprint_sql
from sv_common import clock
from sv_common.db.models import GuildMember, GuildRank, MemberAvailability
from sv_common.errors import Forbidden, Invalid, NotFound
from sv_common.identity import classes
from sv_common.identity.names import normalise_discord_name

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
def discord_name_problem(username: str) -> bool:
    """True when a stored username fails the 60 §9.3 format (raid admin "Invalid Format")."""
    return normalise_discord_name(username) is None


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _match_key_sql(column: str) -> str:
    """SQL twin of classes' input matching: lower-case without spaces, '-' and '_'."""
    return f"lower(translate({column}, ' -_', ''))"


def _python_key(text_value: str) -> str:
    return "".join(ch for ch in text_value.lower() if ch not in " -_")


_CLASS_VALUES = ", ".join(
    f"({_literal(_python_key(name))}, {_literal(name)})" for name in classes.CLASSES
)
_SPEC_VALUES = ", ".join(
    f"({_literal(spec.class_name)}, {_literal(_python_key(spec.spec_name))}, "
    f"{_literal(classes.legacy_role_label(spec.role) or 'Ranged')})"
    for spec in classes.SPECS
)
_DAY_FIELDS = ", ".join(
    f"{_literal(day)}, coalesce(bool_or(a.available) FILTER (WHERE a.day_of_week = "
    f"{_literal(day)}), false)"
    for day in DAYS
)

# The roster read model as JSON text built by PostgreSQL in one statement (two arrays), so a
# request does no per-row Python work: 300 members and 900 characters stay a few milliseconds.
# Order: Discord name (case-insensitive, code-point order), then Main first, then name.
ROSTER_JSON_SQL = f"""
WITH roster AS (
    SELECT m.id, coalesce(m.discord_username, '') AS discord
    FROM common.guild_members m
    WHERE CAST(:member_id AS integer) IS NULL AND m.on_raid_roster
          AND m.discord_username IS NOT NULL
       OR m.id = CAST(:member_id AS integer)
),
weeks AS (
    SELECT r.id, r.discord, json_build_object(
        'discord', r.discord, {_DAY_FIELDS},
        'notes', coalesce(max(a.notes), ''),
        'autoSignup', coalesce(bool_or(a.auto_signup), false),
        'wantsReminders', coalesce(bool_or(a.wants_reminders), false),
        'updated', to_char(max(a.updated_at) AT TIME ZONE 'UTC',
                           'YYYY-MM-DD"T"HH24:MI:SS"+00:00"')
    ) AS entry
    FROM roster r JOIN common.member_availability a ON a.member_id = r.id
    GROUP BY r.id, r.discord
),
class_names(key, name) AS (VALUES {_CLASS_VALUES}),
spec_roles(class_name, key, label) AS (VALUES {_SPEC_VALUES}),
chars AS (
    SELECT r.discord, c.name, c.main_alt, json_build_object(
        'discord', r.discord,
        'character', c.name,
        'class', k.name,
        'spec', coalesce(c.spec, ''),
        'role', CASE c.role WHEN 'tank' THEN 'Tank' WHEN 'healer' THEN 'Healer'
                            WHEN 'melee_dps' THEN 'Melee' WHEN 'ranged_dps' THEN 'Ranged'
                            ELSE coalesce(s.label, 'Ranged') END,
        'mainAlt', CASE WHEN c.main_alt = 'main' THEN 'Main' ELSE 'Alt' END
    ) AS entry
    FROM roster r
    JOIN common.characters c ON c.member_id = r.id AND c.removed_at IS NULL
    JOIN class_names k ON k.key = {_match_key_sql("c.class")}
    LEFT JOIN spec_roles s ON s.class_name = k.name AND s.key = {_match_key_sql("c.spec")}
    WHERE CAST(:with_characters AS boolean)
)
SELECT
    (SELECT coalesce(json_agg(entry ORDER BY lower(discord) COLLATE "C", id), '[]')
     FROM weeks)::text AS availability,
    (SELECT coalesce(json_agg(entry ORDER BY lower(discord) COLLATE "C", main_alt <> 'main',
                              lower(name) COLLATE "C"), '[]')
     FROM chars)::text AS characters
"""


@dataclass
class RosterJSON:
    """The two arrays of `roster-data` as ready JSON text."""

    availability: str
    characters: str


async def roster_json(
    session: AsyncSession | AsyncConnection,
    *,
    member_id: int | None = None,
    with_characters: bool = True,
) -> RosterJSON:
    """Availability entries and characters of the raid roster (one statement) as JSON text;
    `member_id` reads one member whoever they are (no characters)."""
    row = (
        await session.execute(
            text(ROSTER_JSON_SQL),
            {
                "member_id": member_id,
                "with_characters": with_characters and member_id is None,
            },
        )
    ).one()
    return RosterJSON(row.availability, row.characters)


# Changes to any of the three tables change this value (see patt.core.caches).
ROSTER_FINGERPRINT_SQL = fingerprint_sql(
    ["common.guild_members", "common.characters", "common.member_availability"]
)


class RosterCache:
    """The last roster JSON of this process, reused while the tables' fingerprint is unchanged.

    The fingerprint is read before the roster, so a cached roster is never older than the state
    its fingerprint describes; at worst a concurrent write causes one extra rebuild.
    """

    def __init__(self) -> None:
        self._fingerprint: str | None = None
        self._roster: RosterJSON | None = None
        self._extras: dict[str, Any] | None = None

    async def _refresh(self, session: AsyncSession | AsyncConnection) -> str:
        fingerprint = str(await session.scalar(text(ROSTER_FINGERPRINT_SQL)))
        if fingerprint != self._fingerprint:
            self._roster = None
            self._extras = None
            self._fingerprint = fingerprint
        return fingerprint

    async def roster(self, session: AsyncSession | AsyncConnection) -> RosterJSON:
        """`roster_json(session)`, from the cache when nothing changed."""
        fingerprint = await self._refresh(session)
        roster = self._roster
        if roster is None:
            roster = await roster_json(session)
            if fingerprint == self._fingerprint:
                self._roster = roster
        return roster

    async def officer_extras(self, session: AsyncSession | AsyncConnection) -> dict[str, Any]:
        """`officer_extras(...)` for the current roster, from the cache when nothing changed."""
        fingerprint = self._fingerprint or await self._refresh(session)
        extras = self._extras
        if extras is None:
            extras = officer_extras(await roster_members(session))
            if fingerprint == self._fingerprint:
                self._extras = extras
        return extras


def roster_cache(caches: ProcessCaches) -> RosterCache:
    """The app's roster cache."""
    return caches.slot("raid_roster", RosterCache)


@dataclass
class Roster:
    """The raid roster as Python data (for callers that need objects, not JSON)."""

    availability: list[dict[str, Any]] = field(default_factory=list)
    characters: list[dict[str, Any]] = field(default_factory=list)
    discord_ids: dict[str, str | None] = field(default_factory=dict)  # every roster member


async def roster_members(session: AsyncSession | AsyncConnection) -> list[tuple[str, str | None]]:
    """(discord_username, discord_id) of raid-roster members, in roster order."""
    rows = await session.execute(
        select(GuildMember.id, GuildMember.discord_username, GuildMember.discord_id).where(
            GuildMember.on_raid_roster.is_(True), GuildMember.discord_username.is_not(None)
        )
    )
    ordered = sorted(rows, key=lambda r: (r.discord_username.lower(), r.id))
    return [(r.discord_username, r.discord_id) for r in ordered]


def officer_extras(members: list[tuple[str, str | None]]) -> dict[str, Any]:
    """`discordIds` and `validationIssues` of `roster-data` (Officer+ only)."""
    issues: list[dict[str, Any]] = []
    for name, discord_id in members:
        if discord_name_problem(name):
            issues.append(
                {"name": name, "status": "Invalid Format", "hasId": discord_id is not None}
            )
        elif not discord_id:
            issues.append({"name": name, "status": "Pending ID", "hasId": False})
    return {
        "discordIds": {name: discord_id for name, discord_id in members if discord_id},
        "validationIssues": issues,
    }


async def load_roster(session: AsyncSession) -> Roster:
    """The raid roster as Python data (same content and order as `roster-data`)."""
    data = await roster_json(session)
    members = await roster_members(session)
    return Roster(
        availability=json.loads(data.availability),
        characters=json.loads(data.characters),
        discord_ids=dict(members),
    )


async def availability_entry(session: AsyncSession, member_id: int) -> dict[str, Any] | None:
    """One member's availability entry (as in `roster-data`), None when they have no rows."""
    entries = json.loads((await roster_json(session, member_id=member_id)).availability)
    return entries[0] if entries else None


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
                level = await session.scalar(
                    select(GuildRank.level).where(GuildRank.id == found.rank_id)
                )
                if (level or 0) >= actor.rank.level:
                    raise Forbidden(
                        "You cannot change a member whose rank is at or above your own."
                    )
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
