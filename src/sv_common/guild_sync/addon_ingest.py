"""In-game addon uploads: the payload's validation models, matching each uploaded row to a
character, and the bulk write of notes and addon data (plus new rows for unknown characters).

Matching uses comparison keys, never raw text: the name key folds case, accents and punctuation
(`Zoëlle` = `zoelle`), the realm key keeps only letters and digits, so the addon's
`BleedingHollow` finds characters on `bleeding-hollow`. A row without a realm matches by name
only among characters in the guild, and only when exactly one has that name. The addon owns
notes and its own timestamps; it fills class, level and rank only where nothing is known yet,
and it never touches guild membership (`removed_at` belongs to the Blizzard sync).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from sv_common import clock
from sv_common.db import locks
from sv_common.db.enums import CharacterOrigin, SyncSource
from sv_common.errors import Invalid, Unavailable
from sv_common.guild_sync import sync_log
from sv_common.identity import classes, realms
from sv_common.identity.names import key as name_key

MAX_CHARACTERS = 10_000
NAME_MAX = 50  # common.characters.name
NOTE_MAX = 500
REALM_TEXT_MAX = 100
RANK_NAME_MAX = 50
LEVEL_MAX = 200
RANK_MAX = 255
LATEST_EXPORT = 32_503_680_000  # year 3000: anything later is not a timestamp
# An export stamped further ahead than this is a broken clock, not a future upload.
FUTURE_TOLERANCE = timedelta(days=1)
LOCK_WAIT_SECONDS = 30.0


# ------------------------------------------------------------------------------ validation
def _no_booleans(value: Any) -> Any:
    """JSON `true` is not a number, even though Python would happily treat it as 1."""
    if isinstance(value, bool):
        raise ValueError("must be a number, not true/false")
    return value


def _storable_text(value: Any) -> Any:
    """PostgreSQL text holds neither NUL characters nor lone surrogates (JSON `\\ud800`): such a
    string is a 422 here, not a database error after the upload was already logged."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("must be valid Unicode text") from None
    return value


class AddonCharacter(BaseModel):
    """One guild-roster row exported by the addon (unknown keys ignored)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    # Checked while ingesting: a row with a blank or over-long name is skipped, not a 422.
    name: str | None = None
    realm: str | None = Field(default=None, max_length=REALM_TEXT_MAX)
    class_name: str | None = Field(default=None, alias="class", max_length=50)
    class_file: str | None = Field(default=None, max_length=50)
    level: int | None = Field(default=None, ge=0, le=LEVEL_MAX)
    rank: int | None = Field(default=None, ge=0, le=RANK_MAX)
    rank_name: str | None = Field(default=None, max_length=RANK_NAME_MAX)
    guild_note: str | None = Field(default=None, max_length=NOTE_MAX)
    officer_note: str | None = Field(default=None, max_length=NOTE_MAX)

    _numbers = field_validator("level", "rank", mode="before")(_no_booleans)
    _texts = field_validator("*", mode="before")(_storable_text)


class AddonUpload(BaseModel):
    """The upload body (unknown keys ignored)."""

    model_config = ConfigDict(extra="ignore")

    addon_version: str | None = Field(default=None, max_length=50)
    uploaded_by: str | None = Field(default=None, max_length=100)
    export_time: float | None = Field(default=None, ge=0, le=LATEST_EXPORT)
    guild_name: str | None = Field(default=None, max_length=200)
    # Exports from before the flag existed could always see officer notes.
    can_view_officer_note: bool = True
    characters: list[AddonCharacter] = Field(default_factory=list, max_length=MAX_CHARACTERS)

    _export_time = field_validator("export_time", mode="before")(_no_booleans)
    _texts = field_validator("*", mode="before")(_storable_text)

    @field_validator("can_view_officer_note", mode="before")
    @classmethod
    def _missing_flag_means_visible(cls, value: Any) -> Any:
        return True if value is None else value


def first_error(error: ValidationError) -> str:
    """The first validation problem as one sentence: `characters.3.level: Input should be …`."""
    problem = error.errors()[0]
    where = ".".join(str(part) for part in problem["loc"])
    message = str(problem["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def parse_upload(data: Any) -> AddonUpload:
    """Validate a decoded JSON body; raises `Invalid` (422) with the first problem."""
    if not isinstance(data, Mapping):
        raise Invalid("upload must be a JSON object")
    try:
        return AddonUpload.model_validate(data)
    except ValidationError as exc:
        raise Invalid(first_error(exc)) from exc


def check_upload(upload: AddonUpload, *, guild_name: str) -> None:
    """Rule-level checks that reject the whole upload (422)."""
    if not upload.characters:
        raise Invalid("no characters in upload")
    if upload.guild_name is not None and upload.guild_name.strip().casefold() != (
        guild_name.strip().casefold()
    ):
        raise Invalid("upload is for another guild")


# ------------------------------------------------------------------------------- matching
@dataclass
class _Known:
    """Every existing character, indexed for matching, and the realms they name."""

    by_name: dict[str, list[Any]] = field(default_factory=dict)
    slug_by_realm_key: dict[str, str] = field(default_factory=dict)
    realm_name_by_slug: dict[str, str] = field(default_factory=dict)

    def add_realm(self, slug: str, realm_name: str | None) -> None:
        self.slug_by_realm_key.setdefault(realms.realm_key(slug), slug)
        if realm_name:
            self.slug_by_realm_key.setdefault(realms.realm_key(realm_name), slug)
            self.realm_name_by_slug.setdefault(slug, realm_name)


_LOAD_CHARACTERS = text(
    "SELECT id, name, realm_slug, realm_name, removed_at FROM common.characters ORDER BY id"
)


async def _load_known(session: AsyncSession, home_slug: str, home_name: str) -> _Known:
    known = _Known()
    known.add_realm(home_slug, home_name)
    for row in (await session.execute(_LOAD_CHARACTERS)).all():
        known.by_name.setdefault(name_key(row.name), []).append(row)
        known.add_realm(row.realm_slug, row.realm_name)
    return known


def _realm_matches(row: Any, wanted_key: str) -> bool:
    return realms.realm_key(row.realm_slug) == wanted_key or (
        row.realm_name is not None and realms.realm_key(row.realm_name) == wanted_key
    )


# ---------------------------------------------------------------------------------- result
@dataclass
class AddonIngestResult:
    """Counts of one upload (received = updated + new + not_found + ambiguous + skipped)."""

    received: int
    updated: int = 0
    new: int = 0
    not_found: int = 0
    ambiguous: int = 0
    skipped: int = 0
    export_time: datetime | None = None
    addon_version: str | None = None
    uploaded_by: str | None = None
    sync_log_id: int | None = None

    def as_response(self) -> dict[str, Any]:
        """The `data` of the upload endpoint's answer."""
        return {
            "received": self.received,
            "updated": self.updated,
            "new": self.new,
            "not_found": self.not_found,
            "ambiguous": self.ambiguous,
            "skipped": self.skipped,
            "sync_log_id": self.sync_log_id,
            "export_time": self.export_time.isoformat() if self.export_time else None,
        }

    @property
    def details(self) -> dict[str, Any]:
        """Extra values for `sync_log.details` (the status endpoint reads them back)."""
        return {
            "not_found": self.not_found,
            "ambiguous": self.ambiguous,
            "skipped": self.skipped,
            "addon_version": self.addon_version,
            "uploaded_by": self.uploaded_by,
            "export_time": self.export_time.isoformat() if self.export_time else None,
        }


# ---------------------------------------------------------------------------------- writes
_UPDATE_MATCHED = text(
    """
    UPDATE common.characters AS c SET
        guild_note = CASE WHEN u.set_guild_note THEN u.guild_note ELSE c.guild_note END,
        officer_note = CASE WHEN u.set_officer_note THEN u.officer_note ELSE c.officer_note END,
        addon_last_seen = :export_time, addon_last_sync = :now,
        class = COALESCE(c.class, u.class), level = COALESCE(c.level, u.level),
        game_rank = COALESCE(c.game_rank, u.game_rank),
        game_rank_name = COALESCE(c.game_rank_name, u.game_rank_name)
    FROM unnest(
        CAST(:id AS integer[]), CAST(:set_guild_note AS boolean[]), CAST(:guild_note AS text[]),
        CAST(:set_officer_note AS boolean[]), CAST(:officer_note AS text[]),
        CAST(:class AS text[]), CAST(:level AS integer[]), CAST(:game_rank AS integer[]),
        CAST(:game_rank_name AS text[])
    ) AS u(id, set_guild_note, guild_note, set_officer_note, officer_note, class, level,
           game_rank, game_rank_name)
    WHERE c.id = u.id
    """
)
_UPDATE_COLUMNS = (
    "id", "set_guild_note", "guild_note", "set_officer_note", "officer_note", "class", "level",
    "game_rank", "game_rank_name",
)  # fmt: skip
# Targeted at the name + realm key (an untargeted ON CONFLICT is refused on a table with a
# deferrable constraint); addon rows carry no Blizzard id, so no other key can clash.
_INSERT_NEW = text(
    """
    INSERT INTO common.characters (
        name, realm_slug, realm_name, class, level, game_rank, game_rank_name, guild_note,
        officer_note, armory_url, origin, addon_last_seen, addon_last_sync, first_seen)
    SELECT u.*, :origin, :export_time, :now, :now
    FROM unnest(
        CAST(:name AS text[]), CAST(:realm_slug AS text[]), CAST(:realm_name AS text[]),
        CAST(:class AS text[]), CAST(:level AS integer[]), CAST(:game_rank AS integer[]),
        CAST(:game_rank_name AS text[]), CAST(:guild_note AS text[]),
        CAST(:officer_note AS text[]), CAST(:armory_url AS text[])
    ) AS u
    ON CONFLICT ((lower(name)), realm_slug) DO NOTHING
    RETURNING id
    """
)
_INSERT_COLUMNS = (
    "name", "realm_slug", "realm_name", "class", "level", "game_rank", "game_rank_name",
    "guild_note", "officer_note", "armory_url",
)  # fmt: skip


def _note(value: str | None) -> tuple[bool, str | None]:
    """(write it?, stored value): absent leaves the note alone, "" clears it."""
    if value is None:
        return False, None
    stripped = value.strip()
    return True, stripped or None


def _class_of(row: AddonCharacter) -> str | None:
    return classes.class_token_to_name(row.class_file) or classes.match_class(row.class_name)


def _rank_name(row: AddonCharacter) -> str | None:
    return (row.rank_name or "").strip() or None


def _export_moment(upload: AddonUpload, now: datetime) -> datetime:
    if upload.export_time is None:
        return now
    moment = datetime.fromtimestamp(upload.export_time, tz=UTC)
    if moment > now + FUTURE_TOLERANCE:
        raise Invalid("export_time is in the future")
    return moment


async def ingest_addon_upload(
    session: AsyncSession,
    payload: AddonUpload | Mapping[str, Any],
    *,
    guild_name: str,
    home_realm_slug: str,
    home_realm_name: str,
    creates_characters: bool,
    now: datetime | None = None,
    region: str = "us",
) -> AddonIngestResult:
    """Apply an addon upload in the caller's transaction (the caller holds the roster_write
    lock and commits). Raises `Invalid` for an unusable upload before writing anything."""
    upload = payload if isinstance(payload, AddonUpload) else parse_upload(payload)
    check_upload(upload, guild_name=guild_name)
    now = now or clock.now()
    export_time = _export_moment(upload, now)
    result = AddonIngestResult(
        received=len(upload.characters),
        export_time=export_time,
        addon_version=upload.addon_version,
        uploaded_by=upload.uploaded_by,
    )
    known = await _load_known(session, home_realm_slug, home_realm_name)
    officer_visible = upload.can_view_officer_note

    updates: list[dict[str, Any]] = []
    inserts: list[dict[str, Any]] = []
    matched_ids: set[int] = set()
    created_keys: set[tuple[str, str]] = set()
    for row in upload.characters:
        name = unicodedata.normalize("NFC", row.name or "").strip()
        key = name_key(name)
        if not 1 <= len(name) <= NAME_MAX or not key:
            result.skipped += 1
            continue
        realm_text = (row.realm or "").strip()
        realm_key = realms.realm_key(realm_text)
        same_name = known.by_name.get(key, [])
        if realm_key:
            candidates = [c for c in same_name if _realm_matches(c, realm_key)]
        else:
            # Never match by name alone across realms; within the guild only when unique.
            candidates = [c for c in same_name if c.removed_at is None]
            if len(candidates) != 1:
                result.ambiguous += 1
                continue
        if len(candidates) > 1:
            result.ambiguous += 1
            continue
        set_guild, guild_note = _note(row.guild_note)
        set_officer, officer_note = _note(row.officer_note) if officer_visible else (False, None)
        if candidates:
            character_id = candidates[0].id
            if character_id in matched_ids:  # the same character twice in one upload
                result.skipped += 1
                continue
            matched_ids.add(character_id)
            updates.append(
                {
                    "id": character_id,
                    "set_guild_note": set_guild,
                    "guild_note": guild_note,
                    "set_officer_note": set_officer,
                    "officer_note": officer_note,
                    "class": _class_of(row),
                    "level": row.level or None,  # level 0 means "unknown" in the game's API
                    "game_rank": row.rank,
                    "game_rank_name": _rank_name(row),
                }
            )
            continue
        if not creates_characters:
            result.not_found += 1
            continue
        slug = known.slug_by_realm_key.get(realm_key) or realms.split_camel_realm(realm_text)
        if not slug or len(slug) > 50 or (name.casefold(), slug) in created_keys:
            result.skipped += 1
            continue
        created_keys.add((name.casefold(), slug))
        inserts.append(
            {
                "name": name,
                "realm_slug": slug,
                "realm_name": known.realm_name_by_slug.get(slug) or _display_realm(realm_text),
                "class": _class_of(row),
                "level": row.level or None,
                "game_rank": row.rank,
                "game_rank_name": _rank_name(row),
                "guild_note": guild_note,
                "officer_note": officer_note,
                "armory_url": realms.armory_url(name, slug, region=region),
            }
        )

    if updates:
        await session.execute(
            _UPDATE_MATCHED,
            {
                **{column: [u[column] for u in updates] for column in _UPDATE_COLUMNS},
                "export_time": export_time,
                "now": now,
            },
        )
    result.updated = len(updates)
    if inserts:
        created = await session.execute(
            _INSERT_NEW,
            {
                **{column: [i[column] for i in inserts] for column in _INSERT_COLUMNS},
                "origin": CharacterOrigin.ADDON.value,
                "export_time": export_time,
                "now": now,
            },
        )
        result.new = len(created.all())
        result.skipped += len(inserts) - result.new  # lost a race with another writer
    return result


def _display_realm(realm_text: str) -> str | None:
    """The addon's realm text as a display name, when it looks like one ("Aerie Peak"); the
    addon's usual squashed form ("AeriePeak") is not."""
    if any(ch in realm_text for ch in " '’-") and len(realm_text) <= REALM_TEXT_MAX:
        return realm_text
    return None


# ------------------------------------------------------------------------------------ flow
async def run_addon_upload(
    sessionmaker: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    payload: AddonUpload | Mapping[str, Any],
    *,
    guild_name: str,
    home_realm_slug: str,
    home_realm_name: str,
    creates_characters: bool,
    triggered_by: str = "companion",
    region: str = "us",
) -> AddonIngestResult:
    """Validate, take the roster_write lock (≤ 30 s, else 503 `busy, retry later`), write in one
    transaction and log a `sync_log` row. The caller then requests the pipeline."""
    upload = payload if isinstance(payload, AddonUpload) else parse_upload(payload)
    check_upload(upload, guild_name=guild_name)
    _export_moment(upload, clock.now())  # refuse a future export before logging anything
    held = await locks.acquire_waiting(engine, locks.ROSTER_WRITE, LOCK_WAIT_SECONDS)
    if held is None:
        raise Unavailable("busy, retry later")
    try:
        async with sync_log.sync_run(
            sessionmaker, source=SyncSource.ADDON_UPLOAD, triggered_by=triggered_by
        ) as run:
            async with sessionmaker() as session, session.begin():
                result = await ingest_addon_upload(
                    session,
                    upload,
                    guild_name=guild_name,
                    home_realm_slug=home_realm_slug,
                    home_realm_name=home_realm_name,
                    creates_characters=creates_characters,
                    region=region,
                )
            run.found, run.new, run.updated = result.received, result.new, result.updated
            run.details.update(result.details)
            result.sync_log_id = run.log_id
    finally:
        await held.release()
    return result


async def last_upload_status(session: AsyncSession) -> dict[str, Any]:
    """The status endpoint's `data`: the newest upload's time, export time, status, size and
    addon version (all None before the first upload)."""
    row = await sync_log.last_run(session, SyncSource.ADDON_UPLOAD)
    if row is None:
        return dict.fromkeys(
            ("last_upload", "last_export_time", "status", "received", "addon_version")
        )
    details = row.details or {}
    finished = row.completed_at or row.started_at
    return {
        "last_upload": finished.isoformat() if finished else None,
        "last_export_time": details.get("export_time"),
        "status": row.status,
        "received": row.characters_found,
        "addon_version": details.get("addon_version"),
    }


__all__ = [
    "AddonCharacter",
    "AddonIngestResult",
    "AddonUpload",
    "check_upload",
    "ingest_addon_upload",
    "last_upload_status",
    "name_key",
    "parse_upload",
    "run_addon_upload",
]
