"""Writing the characters of a plan (step 3): upserted on (lower(name), realm slug), linked to
their member, one main per member.

Existing characters are only written when a value really changes, so a second run leaves every
row (and its `updated_at`) as it was; a character another member owns is never moved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from sv_common.db.models import Character, IdentityLink
from sv_common.guild_sync.sheet_import.plan import ImportPlan, PlannedCharacter
from sv_common.guild_sync.sheet_import.rules import Flag
from sv_common.guild_sync.sheet_import.summary import ImportOptions, ImportSummary
from sv_common.guild_sync.sheet_import.write_people import MemberRow, link_row
from sv_common.identity import realms

# The columns step 3 may change on a stored character; every UPDATE row carries all of them.
_UPDATED_CHARACTER_FIELDS = (
    "main_alt",
    "member_id",
    "character_class",
    "spec",
    "role",
    "armory_url",
)


def realm_slug_or_home(realm_name: str, options: ImportOptions) -> str:
    """Slug of a realm named in the sheet (the home slug when it has no letters or digits)."""
    return realms.realm_slug(realm_name) or options.home_realm_slug


def plan_flag(summary: ImportSummary, code: str, item: PlannedCharacter, message: str) -> None:
    """Add a characters-tab flag raised while writing."""
    summary.flags.append(Flag(code, "characters", item.row, item.name, message))


@dataclass
class _CharacterWrites:
    """What step 3 writes, gathered row by row, then sent as a few bulk statements."""

    inserts: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)
    stale_links: list[int] = field(default_factory=list)
    main_member_ids: set[int] = field(default_factory=set)
    main_character_ids: set[int] = field(default_factory=set)
    new_mains: list[tuple[str, str]] = field(default_factory=list)  # (lower name, realm slug)


async def _existing_characters(
    session: AsyncSession, names: list[str]
) -> tuple[dict[str, list[Character]], set[int | None]]:
    """Stored characters with those (lower-case) names, by name, and the ids already linked."""
    existing_rows = list(
        (
            await session.execute(select(Character).where(func.lower(Character.name).in_(names)))
        ).scalars()
    )
    by_name: dict[str, list[Character]] = {}
    for character in existing_rows:
        by_name.setdefault(character.name.lower(), []).append(character)
    linked_ids = (
        set(
            (
                await session.scalars(
                    select(IdentityLink.character_id).where(
                        IdentityLink.character_id.in_([c.id for c in existing_rows])
                    )
                )
            ).all()
        )
        if existing_rows
        else set()
    )
    return by_name, linked_ids


def _realm_for(
    item: PlannedCharacter, same_name: list[Character], options: ImportOptions
) -> tuple[str, str]:
    """(realm name, slug): the sheet's realm, else that of the one stored namesake, else home."""
    if item.realm_name:
        return item.realm_name, realm_slug_or_home(item.realm_name, options)
    if len(same_name) == 1:
        return same_name[0].realm_name or options.home_realm_name, same_name[0].realm_slug
    return options.home_realm_name, options.home_realm_slug


def _queue_new_character(
    item: PlannedCharacter,
    member_id: int,
    realm: tuple[str, str],
    options: ImportOptions,
    writes: _CharacterWrites,
) -> None:
    """An INSERT row for a character the database does not know yet."""
    realm_name, slug = realm
    writes.inserts.append(
        {
            "member_id": member_id,
            "name": item.name,
            "realm_slug": slug,
            "realm_name": realm_name,
            "character_class": item.class_name,
            "spec": item.spec,
            "role": item.role,
            "main_alt": item.main_alt,
            "armory_url": realms.armory_url(item.name, slug, region=options.region),
            "origin": "sheet_import",
        }
    )
    if item.main_alt == "main":
        writes.main_member_ids.add(member_id)
        writes.new_mains.append((item.name.lower(), slug))


def _queue_existing_character(
    item: PlannedCharacter,
    current: Character,
    member_id: int,
    linked_ids: set[int | None],
    options: ImportOptions,
    summary: ImportSummary,
    writes: _CharacterWrites,
) -> None:
    """An UPDATE row (only when something changes) and a link for a stored character."""
    if current.member_id is not None and current.member_id != member_id:
        summary.characters_skipped += 1
        plan_flag(
            summary,
            "character_owned_by_other_member",
            item,
            f"{current.name} belongs to another member — not moved",
        )
        return
    changes: dict[str, Any] = {"main_alt": item.main_alt, "member_id": member_id}
    armory_class = current.blizzard_last_sync is not None and current.character_class
    if armory_class and current.character_class != item.class_name:
        plan_flag(
            summary,
            "class_mismatch",
            item,
            f"{current.name} is a {current.character_class} on the armory, not "
            f"{item.class_name} — class, spec and role kept",
        )
    else:
        changes.update(character_class=item.class_name, spec=item.spec, role=item.role)
    if not current.armory_url:
        changes["armory_url"] = realms.armory_url(
            current.name, current.realm_slug, region=options.region
        )
    if any(getattr(current, key) != value for key, value in changes.items()):
        # Same keys in every row, so the bulk UPDATE runs as one executemany.
        row = {key: getattr(current, key) for key in _UPDATED_CHARACTER_FIELDS}
        row.update(changes, id=current.id, updated_at=options.now)
        writes.updates.append(row)
    if current.member_id is None or current.id not in linked_ids:
        if current.id in linked_ids:
            writes.stale_links.append(current.id)  # an orphan should have none; replace it
        writes.links.append(link_row(member_id, character_id=current.id, now=options.now))
    summary.characters_updated += 1
    if item.main_alt == "main":
        writes.main_member_ids.add(member_id)
        writes.main_character_ids.add(current.id)


async def _send_character_writes(
    session: AsyncSession, writes: _CharacterWrites, options: ImportOptions, summary: ImportSummary
) -> None:
    """The gathered character writes as bulk statements; then one main per member."""
    if writes.stale_links:
        await session.execute(
            delete(IdentityLink).where(IdentityLink.character_id.in_(writes.stale_links))
        )
    if writes.updates:
        await session.execute(update(Character), writes.updates)
    if writes.inserts:
        created = await session.execute(
            pg_insert(Character).returning(
                Character.id, Character.member_id, Character.name, Character.realm_slug
            ),
            writes.inserts,
        )
        new_main_keys = set(writes.new_mains)
        for char_id, owner_id, name, slug in created:
            assert owner_id is not None  # every imported character has its member
            writes.links.append(link_row(owner_id, character_id=char_id, now=options.now))
            if (name.lower(), slug) in new_main_keys:
                writes.main_character_ids.add(char_id)
        summary.characters_created = len(writes.inserts)
    if writes.links:
        await session.execute(pg_insert(IdentityLink), writes.links)
    if writes.main_member_ids:
        # The sheet's main wins: any other main these members had becomes an alt.
        await session.execute(
            update(Character)
            .where(
                Character.member_id.in_(sorted(writes.main_member_ids)),
                Character.main_alt == "main",
                Character.id.not_in(sorted(writes.main_character_ids)),
            )
            .values(main_alt="alt", updated_at=options.now)
        )


async def write_characters(
    session: AsyncSession,
    plan: ImportPlan,
    members: dict[str, MemberRow],
    options: ImportOptions,
    summary: ImportSummary,
) -> None:
    """Step 3: upsert characters on (lower(name), realm_slug), link them, keep one main."""
    planned = [c for c in plan.characters if c.member_key in members]
    summary.characters_skipped = plan.characters_skipped
    summary.characters_found = len(planned)
    if not planned:
        return
    by_name, linked_ids = await _existing_characters(
        session, sorted({c.name.lower() for c in planned})
    )
    writes = _CharacterWrites()
    for item in planned:
        member_id = members[item.member_key].id
        same_name = by_name.get(item.name.lower(), [])
        realm = _realm_for(item, same_name, options)
        current = next((c for c in same_name if c.realm_slug == realm[1]), None)
        if current is None:
            _queue_new_character(item, member_id, realm, options, writes)
        else:
            _queue_existing_character(
                item, current, member_id, linked_ids, options, summary, writes
            )
    await _send_character_writes(session, writes, options, summary)
