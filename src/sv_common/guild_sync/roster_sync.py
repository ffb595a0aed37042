"""Writes a fetched guild snapshot into `common.characters`: finds each character's row, applies
the Blizzard-owned fields, marks leavers removed (with a safety rule against wiping the guild),
merges rename duplicates and opens `rank_change` issues.

Set-based: two reads (the database's own lower-casing of the snapshot names, then every row the
snapshot can touch), matching in Python with dictionary indexes, then a fixed handful of bulk
statements over arrays — never a query per character. It runs inside the caller's transaction;
the caller holds the `roster_write` advisory lock and commits.

Who owns what: Blizzard owns name, realm, id, rank, level, class, active spec, item level and
last login. Players and officers own spec and role (filled here only while empty), member link,
main/alt and notes; those are never overwritten. Columns the sync only fills while empty are
written with `COALESCE(current, new)` in SQL, so an officer's edit that lands between our read
and our write is not lost either.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from sv_common import clock
from sv_common.db.enums import CharacterOrigin, IssueType, Severity, SyncStatus
from sv_common.guild_sync.blizzard_models import GuildSnapshot, ProfileStatus, SnapshotCharacter
from sv_common.guild_sync.sync_log import SyncRun
from sv_common.identity import classes, realms

log = logging.getLogger(__name__)

DEFAULT_MIN_ROSTER_RATIO = 0.5
# Below this many tracked characters the shrink rule does not apply (tiny guilds change a lot).
SHRINK_RULE_MIN_TRACKED = 10
SPEC_MAX = 30  # common.characters.spec is varchar(30)
# Temporary name for a row being renamed, so swapped or chained renames never collide with the
# unique (lower(name), realm_slug) index mid-write. WoW names cannot contain '~'.
RENAMING_PREFIX = "~renaming-"


@dataclass
class RosterWriteResult:
    """What one roster write did; `fill()` copies it onto a `sync_log` run."""

    status: SyncStatus
    error_message: str | None = None
    found: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    rejoined: int = 0
    merged: int = 0
    skipped: int = 0
    rank_changes: int = 0
    removals_skipped: bool = False
    snapshot_details: dict[str, Any] = field(default_factory=dict)

    @property
    def details(self) -> dict[str, Any]:
        """Extra counts for `sync_log.details`."""
        return {
            "unchanged": self.unchanged,
            "rejoined": self.rejoined,
            "merged_duplicates": self.merged,
            "skipped": self.skipped,
            "rank_changes": self.rank_changes,
            "removals_skipped": self.removals_skipped,
            **self.snapshot_details,
        }

    def fill(self, run: SyncRun) -> None:
        """Copy status, counts and message onto a sync_log run."""
        run.status = self.status
        run.error_message = self.error_message
        run.found, run.new, run.updated, run.removed = (
            self.found,
            self.new,
            self.updated,
            self.removed,
        )
        run.details.update(self.details)


def rank_change_hash(character_id: int, old_rank: int, new_rank: int) -> str:
    """Identity of a rank_change issue: the same change of the same character is one issue."""
    return hashlib.sha256(f"rank_change:{character_id}:{old_rank}:{new_rank}".encode()).hexdigest()


def spec_from_active(class_name: str | None, active_spec: str | None) -> str | None:
    """The spec to store for a Blizzard-reported active spec (canonical spelling when known)."""
    if active_spec is None:
        return None
    canonical = classes.match_spec(class_name, active_spec)
    if canonical is not None:
        return canonical
    return active_spec if len(active_spec) <= SPEC_MAX else None


# ------------------------------------------------------------------------------------ reads
_LOWER_NAMES = text(
    "SELECT lower(n) FROM unnest(CAST(:names AS text[])) WITH ORDINALITY AS u(n, i) ORDER BY i"
)

_LOAD_ROWS = text(
    """
    SELECT c.id, c.member_id, c.name, lower(c.name) AS name_key, c.realm_slug, c.realm_name,
           c.class AS class_name, c.spec, c.role, c.main_alt, c.armory_url, c.blizzard_id, c.level,
           c.item_level, c.active_spec, c.game_rank, c.game_rank_name, c.last_login_at,
           c.blizzard_last_sync, c.removed_at, c.guild_note, c.officer_note,
           c.addon_last_seen, c.addon_last_sync
    FROM common.characters AS c
    WHERE c.blizzard_id = ANY(CAST(:ids AS bigint[]))
       OR (lower(c.name), c.realm_slug) IN (
            SELECT k, s FROM unnest(CAST(:keys AS text[]), CAST(:slugs AS text[])) AS u(k, s))
       OR (c.removed_at IS NULL AND c.blizzard_last_sync IS NOT NULL)
    """
)


async def _db_lower(session: AsyncSession, names: list[str]) -> list[str]:
    """Names lower-cased by PostgreSQL itself, so keys agree with the unique index on
    lower(name) even where Python's `str.lower()` differs (e.g. 'İ')."""
    result = await session.execute(_LOWER_NAMES, {"names": names})
    return [str(value) for (value,) in result.all()]


# ------------------------------------------------------------------------------------ plan
@dataclass
class _Plan:
    updates: list[dict[str, Any]] = field(default_factory=list)
    touched_ids: list[int] = field(default_factory=list)  # unchanged: only the sync time moves
    renamed_ids: list[int] = field(default_factory=list)
    inserts: list[dict[str, Any]] = field(default_factory=list)
    duplicate_ids: list[int] = field(default_factory=list)
    link_moves: list[tuple[int, int]] = field(default_factory=list)  # (duplicate id, kept id)
    removal_ids: list[int] = field(default_factory=list)
    issues: list[dict[str, Any]] = field(default_factory=list)


def _merge_duplicate(
    values: dict[str, Any], row: Row[Any], duplicate: Row[Any], plan: _Plan
) -> None:
    """Give the renamed row what the duplicate knew and it did not (notes, addon data, link)."""
    for column in ("guild_note", "officer_note", "addon_last_seen", "addon_last_sync"):
        if getattr(row, column) is None:
            values[column] = getattr(duplicate, column)
    if row.member_id is None and duplicate.member_id is not None:
        values["member_id"] = duplicate.member_id
        # The duplicate may have been the member's main; the link and that choice move together.
        values["main_alt"] = duplicate.main_alt
        plan.link_moves.append((duplicate.id, row.id))
    plan.duplicate_ids.append(duplicate.id)


def _updated_values(
    character: SnapshotCharacter,
    row: Row[Any],
    *,
    name: str,
    realm_slug: str,
    region: str,
) -> dict[str, Any]:
    """The row's Blizzard-owned columns after this sync (others are carried over unchanged)."""
    profile_ok = character.profile_status is ProfileStatus.OK
    class_name = character.class_name if character.class_name is not None else row.class_name
    active_spec = character.active_spec if profile_ok else row.active_spec
    spec = row.spec if row.spec is not None else spec_from_active(class_name, active_spec)
    moved = name != row.name or realm_slug != row.realm_slug
    rank_known = character.game_rank is not None
    return {
        "id": row.id,
        "name": name,
        "realm_slug": realm_slug,
        "realm_name": character.realm_name if character.realm_name is not None else row.realm_name,
        "class": class_name,
        "level": character.level if character.level is not None else row.level,
        "blizzard_id": character.blizzard_id,
        # An unreadable rank is a gap in Blizzard's answer, not a demotion: keep the old one.
        "game_rank": character.game_rank if rank_known else row.game_rank,
        "game_rank_name": character.game_rank_name if rank_known else row.game_rank_name,
        "active_spec": active_spec,
        "item_level": character.item_level if profile_ok else row.item_level,
        "last_login_at": character.last_login_at if profile_ok else row.last_login_at,
        "spec": spec,
        "role": row.role if row.role is not None else classes.role_for(class_name, spec),
        "armory_url": (
            realms.armory_url(name, realm_slug, region=region)
            if moved or row.armory_url is None
            else row.armory_url
        ),
        "member_id": row.member_id,
        "main_alt": row.main_alt,
        "guild_note": row.guild_note,
        "officer_note": row.officer_note,
        "addon_last_seen": row.addon_last_seen,
        "addon_last_sync": row.addon_last_sync,
    }


_COMPARED = (
    "name", "realm_slug", "realm_name", "class", "level", "blizzard_id", "game_rank",
    "game_rank_name", "active_spec", "item_level", "last_login_at", "spec", "role", "armory_url",
    "member_id", "main_alt", "guild_note", "officer_note", "addon_last_seen", "addon_last_sync",
)  # fmt: skip


def _current(row: Row[Any], column: str) -> Any:
    return row.class_name if column == "class" else getattr(row, column)


def _insert_values(character: SnapshotCharacter, *, region: str, now: datetime) -> dict[str, Any]:
    spec = spec_from_active(character.class_name, character.active_spec)
    return {
        "name": character.name,
        "realm_slug": character.realm_slug,
        "realm_name": character.realm_name,
        "class": character.class_name,
        "level": character.level,
        "blizzard_id": character.blizzard_id,
        "game_rank": character.game_rank,
        "game_rank_name": character.game_rank_name,
        "active_spec": character.active_spec,
        "item_level": character.item_level,
        "last_login_at": character.last_login_at,
        "spec": spec,
        "role": classes.role_for(character.class_name, spec),
        "armory_url": realms.armory_url(character.name, character.realm_slug, region=region),
        "first_seen": now,
    }


def _rank_issue(row: Row[Any], values: dict[str, Any]) -> dict[str, Any]:
    old_rank, new_rank = int(row.game_rank), int(values["game_rank"])
    old_name = row.game_rank_name or f"Rank {old_rank}"
    new_name = values["game_rank_name"] or f"Rank {new_rank}"
    return {
        "character_id": row.id,
        "member_id": values["member_id"],
        "summary": f"'{values['name']}' changed rank in game: {old_name} → {new_name}",
        "details": json.dumps(
            {
                "character_id": row.id,
                "name": values["name"],
                "realm": values["realm_slug"],
                "old_rank": old_rank,
                "old_rank_name": old_name,
                "new_rank": new_rank,
                "new_rank_name": new_name,
            },
            ensure_ascii=False,
        ),
        "issue_hash": rank_change_hash(row.id, old_rank, new_rank),
    }


# ---------------------------------------------------------------------------------- writes
_MOVE_LINKS = text(
    """
    UPDATE guild_identity.identity_links AS l SET character_id = u.kept
    FROM unnest(CAST(:duplicates AS integer[]), CAST(:kept AS integer[])) AS u(duplicate, kept)
    WHERE l.character_id = u.duplicate
    """
)
_DROP_LINKS = text(
    "DELETE FROM guild_identity.identity_links WHERE character_id = ANY(CAST(:ids AS integer[]))"
)
_DELETE_ROWS = text("DELETE FROM common.characters WHERE id = ANY(CAST(:ids AS integer[]))")
_PARK_RENAMED = text(
    "UPDATE common.characters SET name = :prefix || id WHERE id = ANY(CAST(:ids AS integer[]))"
)
_UPDATE_ROWS = text(
    """
    UPDATE common.characters AS c SET
        name = u.name, realm_slug = u.realm_slug, realm_name = u.realm_name, class = u.class,
        level = u.level, blizzard_id = u.blizzard_id, game_rank = u.game_rank,
        game_rank_name = u.game_rank_name, active_spec = u.active_spec,
        item_level = u.item_level, last_login_at = u.last_login_at,
        spec = COALESCE(c.spec, u.spec), role = COALESCE(c.role, u.role),
        armory_url = u.armory_url,
        main_alt = CASE WHEN c.member_id IS NULL AND u.member_id IS NOT NULL
                        THEN u.main_alt ELSE c.main_alt END,
        member_id = COALESCE(c.member_id, u.member_id),
        guild_note = COALESCE(c.guild_note, u.guild_note),
        officer_note = COALESCE(c.officer_note, u.officer_note),
        addon_last_seen = COALESCE(c.addon_last_seen, u.addon_last_seen),
        addon_last_sync = COALESCE(c.addon_last_sync, u.addon_last_sync),
        blizzard_last_sync = :now, removed_at = NULL
    FROM unnest(
        CAST(:id AS integer[]), CAST(:name AS text[]), CAST(:realm_slug AS text[]),
        CAST(:realm_name AS text[]), CAST(:class AS text[]), CAST(:level AS integer[]),
        CAST(:blizzard_id AS bigint[]), CAST(:game_rank AS integer[]),
        CAST(:game_rank_name AS text[]), CAST(:active_spec AS text[]),
        CAST(:item_level AS integer[]), CAST(:last_login_at AS timestamptz[]),
        CAST(:spec AS text[]), CAST(:role AS text[]), CAST(:armory_url AS text[]),
        CAST(:member_id AS integer[]), CAST(:main_alt AS text[]), CAST(:guild_note AS text[]),
        CAST(:officer_note AS text[]), CAST(:addon_last_seen AS timestamptz[]),
        CAST(:addon_last_sync AS timestamptz[])
    ) AS u(id, name, realm_slug, realm_name, class, level, blizzard_id, game_rank,
           game_rank_name, active_spec, item_level, last_login_at, spec, role, armory_url,
           member_id, main_alt, guild_note, officer_note, addon_last_seen, addon_last_sync)
    WHERE c.id = u.id
    """
)
_UPDATE_COLUMNS = (
    "id", "name", "realm_slug", "realm_name", "class", "level", "blizzard_id", "game_rank",
    "game_rank_name", "active_spec", "item_level", "last_login_at", "spec", "role", "armory_url",
    "member_id", "main_alt", "guild_note", "officer_note", "addon_last_seen", "addon_last_sync",
)  # fmt: skip
_TOUCH_ROWS = text(
    "UPDATE common.characters SET blizzard_last_sync = :now WHERE id = ANY(CAST(:ids AS integer[]))"
)
_REMOVE_ROWS = text(
    "UPDATE common.characters SET removed_at = :now "
    "WHERE id = ANY(CAST(:ids AS integer[])) AND removed_at IS NULL"
)
# The conflict target is the name + realm key only: a table with a deferrable constraint (one
# main per member) cannot use an untargeted ON CONFLICT, and Blizzard ids need no arbiter —
# they were matched before the insert, and only this writer, under the roster lock, sets them.
_INSERT_ROWS = text(
    """
    INSERT INTO common.characters (
        name, realm_slug, realm_name, class, level, blizzard_id, game_rank, game_rank_name,
        active_spec, item_level, last_login_at, spec, role, armory_url, first_seen,
        origin, blizzard_last_sync)
    SELECT u.*, :origin, :now
    FROM unnest(
        CAST(:name AS text[]), CAST(:realm_slug AS text[]), CAST(:realm_name AS text[]),
        CAST(:class AS text[]), CAST(:level AS integer[]), CAST(:blizzard_id AS bigint[]),
        CAST(:game_rank AS integer[]), CAST(:game_rank_name AS text[]),
        CAST(:active_spec AS text[]), CAST(:item_level AS integer[]),
        CAST(:last_login_at AS timestamptz[]), CAST(:spec AS text[]), CAST(:role AS text[]),
        CAST(:armory_url AS text[]), CAST(:first_seen AS timestamptz[])
    ) AS u
    ON CONFLICT ((lower(name)), realm_slug) DO NOTHING
    RETURNING id
    """
)
_INSERT_COLUMNS = (
    "name", "realm_slug", "realm_name", "class", "level", "blizzard_id", "game_rank",
    "game_rank_name", "active_spec", "item_level", "last_login_at", "spec", "role", "armory_url",
    "first_seen",
)  # fmt: skip
# One open issue per hash (partial unique index uq_audit_open_issue): refresh it if open, else
# open a new one — unless an officer ignored this exact change, which silences it for good.
_UPSERT_RANK_ISSUES = text(
    """
    INSERT INTO guild_identity.audit_issues (
        issue_type, severity, character_id, member_id, summary, details, issue_hash,
        first_detected, last_detected)
    SELECT :issue_type, :severity, u.character_id, u.member_id, u.summary,
           CAST(u.details AS jsonb), u.issue_hash, :now, :now
    FROM unnest(
        CAST(:character_id AS integer[]), CAST(:member_id AS integer[]),
        CAST(:summary AS text[]), CAST(:details AS text[]), CAST(:issue_hash AS text[])
    ) AS u(character_id, member_id, summary, details, issue_hash)
    WHERE NOT EXISTS (
        SELECT 1 FROM guild_identity.audit_issues AS a
        WHERE a.issue_hash = u.issue_hash AND a.ignored)
    ON CONFLICT (issue_hash) WHERE resolved_at IS NULL DO UPDATE SET
        last_detected = EXCLUDED.last_detected, summary = EXCLUDED.summary,
        details = EXCLUDED.details, severity = EXCLUDED.severity
    RETURNING (xmax = 0) AS inserted
    """
)


def _columns(rows: list[dict[str, Any]], names: tuple[str, ...]) -> dict[str, list[Any]]:
    """Row dicts → one array per column, as the unnest() statements take them."""
    return {name: [row[name] for row in rows] for name in names}


async def _write(session: AsyncSession, plan: _Plan, now: datetime) -> tuple[int, int]:
    """Run the plan's statements in an order that never trips a unique index; returns
    (rows inserted, rank issues newly opened)."""
    if plan.link_moves:
        kept_ids = [kept for _, kept in plan.link_moves]
        await session.execute(_DROP_LINKS, {"ids": kept_ids})  # an unlinked row has no link row
        await session.execute(
            _MOVE_LINKS,
            {"duplicates": [dup for dup, _ in plan.link_moves], "kept": kept_ids},
        )
    if plan.duplicate_ids:
        await session.execute(_DELETE_ROWS, {"ids": plan.duplicate_ids})
    if plan.renamed_ids:
        await session.execute(_PARK_RENAMED, {"ids": plan.renamed_ids, "prefix": RENAMING_PREFIX})
    if plan.updates:
        await session.execute(_UPDATE_ROWS, {**_columns(plan.updates, _UPDATE_COLUMNS), "now": now})
    if plan.touched_ids:
        await session.execute(_TOUCH_ROWS, {"ids": plan.touched_ids, "now": now})
    if plan.removal_ids:
        await session.execute(_REMOVE_ROWS, {"ids": plan.removal_ids, "now": now})
    inserted = 0
    if plan.inserts:
        result = await session.execute(
            _INSERT_ROWS,
            {
                **_columns(plan.inserts, _INSERT_COLUMNS),
                "origin": CharacterOrigin.BLIZZARD_SYNC.value,
                "now": now,
            },
        )
        inserted = len(result.all())
    opened = 0
    if plan.issues:
        result = await session.execute(
            _UPSERT_RANK_ISSUES,
            {
                **_columns(
                    plan.issues, ("character_id", "member_id", "summary", "details", "issue_hash")
                ),
                "issue_type": IssueType.RANK_CHANGE.value,
                "severity": Severity.INFO.value,
                "now": now,
            },
        )
        opened = sum(1 for (was_inserted,) in result.all() if was_inserted)
    return inserted, opened


# ---------------------------------------------------------------------------- matching
def _match_rows(
    characters: list[SnapshotCharacter], keys: list[tuple[str, str]], rows: list[Row[Any]]
) -> list[Row[Any] | None]:
    """Each snapshot character's existing row, or None for a new character."""
    by_id = {row.blizzard_id: row for row in rows if row.blizzard_id is not None}
    by_key = {(row.name_key, row.realm_slug): row for row in rows}
    # Stable Blizzard ids first, so a renamed character keeps its row (and its member link)…
    matches: list[Row[Any] | None] = [by_id.get(c.blizzard_id) for c in characters]
    claimed = {row.id for row in matches if row is not None}
    # …then name + realm for rows the sync has not identified yet (manual, sheet, addon rows).
    for index, character in enumerate(characters):
        if matches[index] is not None:
            continue
        row = by_key.get(keys[index])
        if row is not None and row.id not in claimed:
            if row.blizzard_id is not None:
                log.info(
                    "Blizzard id of %s-%s changed from %s to %s",
                    character.name, character.realm_slug, row.blizzard_id, character.blizzard_id,
                )  # fmt: skip
            matches[index] = row
            claimed.add(row.id)
    return matches


@dataclass
class _Planner:
    """Turns matched snapshot characters into the statements' rows, counting as it goes."""

    result: RosterWriteResult
    by_key: dict[tuple[str, str], Row[Any]]
    claimed: set[int]
    region: str
    home_realm_slug: str | None
    home_realm_name: str | None
    now: datetime
    plan: _Plan = field(default_factory=_Plan)
    deleted: set[int] = field(default_factory=set)

    def new(self, character: SnapshotCharacter) -> None:
        self.plan.inserts.append(
            _insert_values(self._with_home_realm(character), region=self.region, now=self.now)
        )

    def existing(self, character: SnapshotCharacter, key: tuple[str, str], row: Row[Any]) -> None:
        name, realm_slug = character.name, character.realm_slug
        duplicate = None
        if key != (row.name_key, row.realm_slug):  # renamed or transferred
            other = self.by_key.get(key)
            if other is not None and other.id not in self.claimed and other.id not in self.deleted:
                if other.blizzard_id is None:
                    duplicate = other
                else:
                    log.warning(
                        "Rename of %s-%s to %s-%s skipped: another character (Blizzard id %s) "
                        "has that name",
                        row.name, row.realm_slug, name, realm_slug, other.blizzard_id,
                    )  # fmt: skip
                    self.result.skipped += 1
                    name, realm_slug = row.name, row.realm_slug
            if (name, realm_slug) != (row.name, row.realm_slug):
                self.plan.renamed_ids.append(row.id)
        values = _updated_values(
            self._with_home_realm(character),
            row, name=name, realm_slug=realm_slug, region=self.region,
        )  # fmt: skip
        if duplicate is not None:
            _merge_duplicate(values, row, duplicate, self.plan)
            self.deleted.add(duplicate.id)
            self.result.merged += 1
        rejoined = row.removed_at is not None
        if rejoined or any(values[c] != _current(row, c) for c in _COMPARED):
            self.plan.updates.append(values)
            self.result.updated += 1
            self.result.rejoined += rejoined
        else:
            self.plan.touched_ids.append(row.id)
            self.result.unchanged += 1
        # A rank change is news only for a member the sync already tracked (not a rejoin).
        was_tracked = row.removed_at is None and row.blizzard_last_sync is not None
        if (
            was_tracked
            and row.game_rank is not None
            and values["game_rank"] is not None
            and values["game_rank"] != row.game_rank
        ):
            self.plan.issues.append(_rank_issue(row, values))

    def _with_home_realm(self, character: SnapshotCharacter) -> SnapshotCharacter:
        """Name the home realm when Blizzard did not (roster entries never name realms)."""
        if (
            character.realm_name is None
            and self.home_realm_name
            and character.realm_slug == self.home_realm_slug
        ):
            return replace(character, realm_name=self.home_realm_name)
        return character


def _snapshot_details(snapshot: GuildSnapshot) -> dict[str, Any]:
    return {
        "guild_name": snapshot.guild_name,
        "profiles_ok": snapshot.profiles_ok,
        "profiles_missing": snapshot.profiles_missing,
        "profiles_failed": snapshot.profiles_failed,
        "requests": snapshot.requests,
        "fetch_seconds": round(snapshot.seconds, 3),
        "deadline_hit": snapshot.deadline_hit,
        "roster_duplicates": snapshot.duplicates,
        "roster_entries_skipped": snapshot.skipped_entries,
    }


# ------------------------------------------------------------------------------ entry point
async def apply_roster_snapshot(
    session: AsyncSession,
    snapshot: GuildSnapshot,
    *,
    region: str = "us",
    home_realm_slug: str | None = None,
    home_realm_name: str | None = None,
    min_roster_ratio: float = DEFAULT_MIN_ROSTER_RATIO,
    force_removals: bool = False,
    now: datetime | None = None,
) -> RosterWriteResult:
    """Write `snapshot` into common.characters in the caller's transaction (caller commits)."""
    now = now or clock.now()
    characters = list(snapshot.characters)
    if not characters:
        return RosterWriteResult(
            SyncStatus.ERROR, "empty roster", snapshot_details=_snapshot_details(snapshot)
        )
    result = RosterWriteResult(
        SyncStatus.SUCCESS, found=len(characters), snapshot_details=_snapshot_details(snapshot)
    )
    lowered = await _db_lower(session, [c.name for c in characters])
    keys = list(zip(lowered, [c.realm_slug for c in characters], strict=True))
    rows = list(
        (
            await session.execute(
                _LOAD_ROWS,
                {
                    "ids": [c.blizzard_id for c in characters],
                    "keys": lowered,
                    "slugs": [slug for _, slug in keys],
                },
            )
        ).all()
    )
    matches = _match_rows(characters, keys, rows)
    planner = _Planner(
        result=result,
        by_key={(row.name_key, row.realm_slug): row for row in rows},
        claimed={row.id for row in matches if row is not None},
        region=region,
        home_realm_slug=home_realm_slug,
        home_realm_name=home_realm_name,
        now=now,
    )
    for character, key, row in zip(characters, keys, matches, strict=True):
        if row is None:
            planner.new(character)
        else:
            planner.existing(character, key, row)
    plan = planner.plan

    # Leavers: only rows the sync itself tracks, and never the whole guild by accident.
    tracked = [r for r in rows if r.removed_at is None and r.blizzard_last_sync is not None]
    problems: list[str] = []
    if (
        len(tracked) >= SHRINK_RULE_MIN_TRACKED
        and result.found < len(tracked) * min_roster_ratio
        and not force_removals
    ):
        result.removals_skipped = True
        problems.append(f"roster shrank from {len(tracked)} to {result.found}; removals skipped")
    else:
        plan.removal_ids = [
            r.id
            for r in tracked
            if r.id not in planner.claimed
            and r.id not in planner.deleted
            and r.blizzard_id not in snapshot.unidentified_ids
        ]

    result.new, result.rank_changes = await _write(session, plan, now)
    result.skipped += len(plan.inserts) - result.new  # lost a race with another writer
    result.removed = len(plan.removal_ids)
    if snapshot.deadline_hit:
        problems.append("sync deadline reached before every profile was fetched")
    if snapshot.profiles_failed:
        problems.append(f"{snapshot.profiles_failed} profile request(s) failed")
    if problems:
        result.status = SyncStatus.PARTIAL
        result.error_message = "; ".join(problems)
    return result
