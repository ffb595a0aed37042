"""Characters (the only character table): add/claim, update, delete, main/alt rule.

Admin writes pass the acting officer as `actor`: decision 5 then refuses (403) a write on a
character whose member ranks at or above the actor (the actor's own characters are fine).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from sv_common import clock
from sv_common.db.models import (
    AuditIssue,
    Character,
    DiscordMember,
    GuildMember,
    IdentityLink,
    LinkRejection,
)
from sv_common.errors import Conflict, Invalid, NotFound
from sv_common.identity import classes, realms
from sv_common.identity import members as member_service

REGION = "us"


REALM_SLUG_MAX = 50  # common.characters.realm_slug varchar(50)
REALM_NAME_MAX = 100  # common.characters.realm_name varchar(100)


def clean_character_fields(
    *,
    name: str,
    realm: str,
    wow_class: str | None,
    spec: str | None,
    role: str | None,
    region: str = REGION,
) -> dict[str, Any]:
    """Validate and canonicalise name, realm, class, spec and role; raises Invalid."""
    if not realms.is_valid_character_name(name):
        raise Invalid(f"Invalid character name '{name}'.")
    slug = realms.realm_slug(realm)
    if not slug:
        raise Invalid(f"Invalid realm '{realm}'.")
    if len(slug) > REALM_SLUG_MAX or len(realm) > REALM_NAME_MAX:
        raise Invalid("Realm name is too long.")
    class_name = classes.match_class(wow_class) if wow_class else None
    if wow_class and class_name is None:
        raise Invalid(f"Unknown class '{wow_class}'.")
    spec_name = None
    if spec:
        spec_name = classes.match_spec(class_name, spec)
        if spec_name is None:
            raise Invalid(f"Spec '{spec}' does not belong to {class_name or 'that class'}.")
    explicit_role = None
    if role:
        explicit_role = classes.parse_role(role)
        if explicit_role is None:
            raise Invalid(f"Invalid role '{role}'")
    return {
        "name": name,
        "realm_name": realm,
        "realm_slug": slug,
        "character_class": class_name,
        "spec": spec_name,
        "role": classes.role_for(class_name, spec_name, explicit_role),
        "armory_url": realms.armory_url(name, slug, region=region),
    }


async def get_character(session: AsyncSession, character_id: int) -> Character:
    """One character; NotFound when missing."""
    character = await session.get(Character, character_id)
    if character is None:
        raise NotFound(f"Character {character_id} not found")
    return character


async def list_member_characters(
    session: AsyncSession, member_id: int, *, include_removed: bool = True
) -> list[Character]:
    """A member's characters: mains first, then by name."""
    query = select(Character).where(Character.member_id == member_id)
    if not include_removed:
        query = query.where(Character.removed_at.is_(None))
    query = query.order_by((Character.main_alt == "main").desc(), func.lower(Character.name))
    return list((await session.scalars(query)).all())


async def find_character(session: AsyncSession, name: str, realm_slug: str) -> Character | None:
    """The character with this case-insensitive name on this realm."""
    return (
        await session.execute(
            select(Character).where(
                func.lower(Character.name) == func.lower(name), Character.realm_slug == realm_slug
            )
        )
    ).scalar_one_or_none()


async def demote_other_mains(session: AsyncSession, member_id: int, keep_id: int) -> None:
    """At most one main per member: the member's other mains become alts."""
    await session.execute(
        update(Character)
        .where(
            Character.member_id == member_id, Character.id != keep_id, Character.main_alt == "main"
        )
        .values(main_alt="alt")
    )


async def check_member_editable(
    session: AsyncSession, actor: GuildMember | None, member_id: int | None
) -> None:
    """Decision 5 for character writes: 403 when the owning member ranks at or above the actor."""
    if actor is None or member_id is None:
        return
    target = await member_service.get_member(session, member_id)
    member_service.check_can_edit(actor, target, changes_rank=False)


async def member_has_other_main(session: AsyncSession, member_id: int, character_id: int) -> bool:
    """True when the member already has a main other than this character."""
    found = await session.scalar(
        select(Character.id)
        .where(
            Character.member_id == member_id,
            Character.id != character_id,
            Character.main_alt == "main",
        )
        .limit(1)
    )
    return found is not None


async def _reject_link(
    session: AsyncSession, *, character_id: int, member_id: int, rejected_by: str
) -> None:
    """Record (character, member) and (character, each account of the member) rejections (85 §8.4)."""
    session.add(
        LinkRejection(character_id=character_id, member_id=member_id, rejected_by=rejected_by)
    )
    account_ids = (
        await session.scalars(select(DiscordMember.id).where(DiscordMember.member_id == member_id))
    ).all()
    for account_id in account_ids:
        session.add(
            LinkRejection(
                character_id=character_id, discord_member_id=account_id, rejected_by=rejected_by
            )
        )


async def _link(
    session: AsyncSession,
    *,
    member_id: int,
    character_id: int,
    source: str,
    confidence: str,
    confirmed: bool,
    confirmed_by: str | None,
    actor_id: int | None,
) -> None:
    await session.execute(delete(IdentityLink).where(IdentityLink.character_id == character_id))
    if source == "manual":
        # Linking by hand lifts earlier rejections of this pairing (85 §8.4).
        account_ids = select(DiscordMember.id).where(DiscordMember.member_id == member_id)
        await session.execute(
            delete(LinkRejection).where(
                LinkRejection.character_id == character_id,
                (LinkRejection.member_id == member_id)
                | LinkRejection.discord_member_id.in_(account_ids),
            )
        )
        # …and settles the open "not linked" findings about the character (85 §11.7).
        await session.execute(
            update(AuditIssue)
            .where(
                AuditIssue.character_id == character_id,
                AuditIssue.resolved_at.is_(None),
                AuditIssue.issue_type.in_(("orphan_wow", "auto_link_suggestion")),
            )
            .values(
                resolved_at=clock.now(),
                resolved_by=confirmed_by,
                resolution_note="linked manually",
            )
        )
    session.add(
        IdentityLink(
            member_id=member_id,
            character_id=character_id,
            source=source,
            confidence=confidence,
            confirmed=confirmed,
            confirmed_by=confirmed_by,
            confirmed_at=clock.now() if confirmed else None,
            created_by=actor_id,
        )
    )


async def _flush_character(session: AsyncSession, name: str, realm: str) -> None:
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"Character '{name}' on '{realm}' already exists") from exc


async def add_character(
    session: AsyncSession,
    *,
    actor: GuildMember | None,
    member_id: int,
    name: str,
    realm: str,
    wow_class: str,
    spec: str | None = None,
    role: str | None = None,
    main_alt: str = "main",
    origin: str = "manual",
    link_source: str = "manual",
    region: str = REGION,
) -> Character:
    """Add (or claim an unlinked) character for a member, with an identity link (30 §4)."""
    member = await session.get(GuildMember, member_id)
    if member is None:
        raise NotFound("member not found")
    await check_member_editable(session, actor, member_id)
    if main_alt not in ("main", "alt"):
        raise Invalid(f"Invalid main_alt '{main_alt}'. Must be 'main' or 'alt'")
    if not wow_class:
        raise Invalid("wow_class is required.")
    fields = clean_character_fields(
        name=name, realm=realm, wow_class=wow_class, spec=spec, role=role, region=region
    )
    existing = await find_character(session, name, fields["realm_slug"])
    if existing is not None and existing.member_id is not None:
        raise Conflict(f"Character '{name}' on '{realm}' already exists")
    character = existing or Character(origin=origin)
    for key, value in fields.items():
        setattr(character, key, value)
    character.member_id = member_id
    character.main_alt = main_alt
    character.removed_at = None if existing is None else character.removed_at
    if existing is None:
        session.add(character)
    await _flush_character(session, name, realm)
    confirmed_by = actor.display_name if actor is not None else "system"
    await _link(
        session,
        member_id=member_id,
        character_id=character.id,
        source=link_source,
        confidence="high",
        confirmed=True,
        confirmed_by=confirmed_by,
        actor_id=actor.id if actor is not None else None,
    )
    if main_alt == "main":
        await demote_other_mains(session, member_id, character.id)
    await session.flush()
    await session.refresh(character)
    return character


async def update_character(
    session: AsyncSession,
    *,
    actor: GuildMember | None,
    character_id: int,
    changes: dict[str, Any],
    region: str = REGION,
) -> Character:
    """Edit fields, or link / move / unlink with `member_id` (identity links kept in step)."""
    character = await get_character(session, character_id)
    await check_member_editable(session, actor, character.member_id)
    moving = "member_id" in changes and changes["member_id"] != character.member_id
    if moving and changes["member_id"] is not None:
        if await session.get(GuildMember, changes["member_id"]) is None:
            raise Invalid(f"Unknown member_id {changes['member_id']}.")
        await check_member_editable(session, actor, changes["member_id"])
    name = changes.get("name") or character.name
    realm = changes.get("realm") or character.realm_name or character.realm_slug
    if any(k in changes for k in ("name", "realm", "wow_class", "spec", "role")):
        wow_class = changes["wow_class"] if "wow_class" in changes else character.character_class
        spec = changes["spec"] if "spec" in changes else character.spec
        role = changes["role"] if "role" in changes else None
        if "wow_class" in changes and "spec" not in changes and character.spec:
            spec = (
                character.spec
                if classes.match_spec(classes.match_class(wow_class or ""), character.spec)
                else None
            )
        fields = clean_character_fields(
            name=name, realm=realm, wow_class=wow_class, spec=spec, role=role, region=region
        )
        if (
            role is None
            and "role" not in changes
            and character.role
            and not ("wow_class" in changes or "spec" in changes)
        ):
            fields["role"] = character.role
        for key, value in fields.items():
            setattr(character, key, value)
    if "main_alt" in changes:
        if changes["main_alt"] not in ("main", "alt"):
            raise Invalid(f"Invalid main_alt '{changes['main_alt']}'. Must be 'main' or 'alt'")
        character.main_alt = changes["main_alt"]
    if moving:
        new_member_id = changes["member_id"]
        old_member_id = character.member_id
        await session.execute(delete(IdentityLink).where(IdentityLink.character_id == character.id))
        if old_member_id is not None:
            await _reject_link(
                session,
                character_id=character.id,
                member_id=old_member_id,
                rejected_by=actor.display_name if actor is not None else "system",
            )
        # A moved main becomes an alt when the new member already has a main (85 §11.7),
        # unless this very request asks for it to be the main.
        if (
            new_member_id is not None
            and character.main_alt == "main"
            and changes.get("main_alt") != "main"
            and await member_has_other_main(session, new_member_id, character.id)
        ):
            character.main_alt = "alt"
        character.member_id = new_member_id
        await _flush_character(session, name, realm)
        if new_member_id is not None:
            await _link(
                session,
                member_id=new_member_id,
                character_id=character.id,
                source="manual",
                confidence="high",
                confirmed=True,
                confirmed_by=actor.display_name if actor is not None else "system",
                actor_id=actor.id if actor is not None else None,
            )
    await _flush_character(session, name, realm)
    if character.member_id is not None and character.main_alt == "main":
        await demote_other_mains(session, character.member_id, character.id)
    await session.flush()
    await session.refresh(character)
    return character


async def delete_character(
    session: AsyncSession, character_id: int, *, actor: GuildMember | None = None
) -> None:
    """Delete a character (its identity link and rejections go with it, ON DELETE CASCADE)."""
    character = await get_character(session, character_id)
    await check_member_editable(session, actor, character.member_id)
    await session.delete(character)
    await session.flush()
