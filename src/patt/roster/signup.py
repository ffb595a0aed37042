"""The public roster sign-up (60 §4, §9.3): validate a submission, then in one transaction find
or create the member, create/claim/update the character, keep one main, write the week.

Choices where the spec is silent:
- Field rules are checked by `validate_submission` (not a Pydantic model) so that every problem
  is reported at once in the sheet-style `fields` object the form highlights.
- An empty `spec` counts as absent. When `spec` is absent for an existing character of the same
  class, the stored spec is kept.
- A missing `mainAlt` keeps an existing main as main; otherwise it is Main when the member has
  no other main yet.
- Officers act for registered members and move other members' characters only below their own
  rank (decision 5); what anyone may do (unregistered names, orphans) needs no officer check.
- Identity links: anonymous sign-ups (or a member filing for someone else) → `roster_form`,
  medium, unconfirmed; the member's own character → `roster_form`, high, confirmed by them; an
  officer filing for another member → `manual`, high, confirmed by the officer. An officer who
  moves a character away from another member also records a link rejection for the old owner
  (like the admin API), so the identity engine does not move it back.
- A character marked removed (left the guild) is restored to the roster by a sign-up.
- The character keeps its stored spelling (Blizzard's) when it already exists.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from patt.roster.availability import WeekFields, clean_week_fields, save_availability
from sv_common import clock
from sv_common.db.models import Character, GuildMember, GuildRank, IdentityLink, LinkRejection
from sv_common.errors import Conflict, Forbidden, Invalid
from sv_common.identity import classes, realms
from sv_common.identity.characters import demote_other_mains
from sv_common.identity.names import normalise_character_name, normalise_discord_name

log = logging.getLogger(__name__)

FIX_FIELDS = "Please fix the highlighted fields."
REGISTERED_NAME = "This Discord name belongs to a registered member — log in to update it."
CLAIMED = "That character is already claimed by another member."
SPEC_MAX = 30


class SubmissionInvalid(Invalid):
    """422 with the sheet-style `fields` object (field → problem)."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__(
            FIX_FIELDS, details=[{"field": key, "message": value} for key, value in fields.items()]
        )
        self.fields = fields


@dataclass
class Submission:
    """A validated roster-submit body."""

    discord_name: str
    character_name: str
    class_name: str
    spec: str | None
    role: str | None  # None = derive from class + spec
    main_alt: str | None  # None = decide from the member's characters
    week: WeekFields


def _text(raw: dict[str, Any], key: str, errors: dict[str, str]) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        errors[key] = "must be text"
        return None
    return value.strip()


def validate_submission(raw: dict[str, Any]) -> Submission:
    """Check every field of 60 §9.3; raises SubmissionInvalid listing all problems."""
    errors: dict[str, str] = {}
    discord_text = _text(raw, "discordName", errors)
    discord_name = None
    if not discord_text and "discordName" not in errors:
        errors["discordName"] = "required — your Discord username"
    elif discord_text:
        discord_name = normalise_discord_name(discord_text)
        if discord_name is None:
            errors["discordName"] = "use your Discord username, not your display name"

    character_text = _text(raw, "characterName", errors)
    character_name = None
    if not character_text and "characterName" not in errors:
        errors["characterName"] = "required"
    elif character_text:
        character_name = normalise_character_name(character_text)
        if character_name is None:
            errors["characterName"] = "2–12 letters, no spaces, digits or punctuation"

    class_text = _text(raw, "class", errors)
    class_name = classes.match_class(class_text) if class_text else None
    if class_name is None and "class" not in errors:
        errors["class"] = "required" if not class_text else "not a WoW class"

    spec_text = _text(raw, "spec", errors)
    spec = None
    if spec_text:
        if len(spec_text) > SPEC_MAX:
            errors["spec"] = f"must be at most {SPEC_MAX} characters"
        elif class_name is not None:
            spec = classes.match_spec(class_name, spec_text)
            if spec is None:
                errors["spec"] = f"not a {class_name} spec"

    role_text = _text(raw, "role", errors)
    role = None
    if role_text and role_text.lower() != "dps":
        role = classes.parse_role(role_text)
        if role is None:
            errors["role"] = "choose Tank, Healer, Melee or Ranged"

    main_alt_text = _text(raw, "mainAlt", errors)
    main_alt = None
    if main_alt_text:
        main_alt = main_alt_text.lower()
        if main_alt not in ("main", "alt"):
            errors["mainAlt"] = "choose Main or Alt"

    week = clean_week_fields(raw, errors)
    if errors:
        raise SubmissionInvalid(errors)
    assert discord_name and character_name and class_name
    return Submission(discord_name, character_name, class_name, spec, role, main_alt, week)


@dataclass
class SignupResult:
    """What the submission created."""

    member_id: int
    character_id: int
    member_created: bool
    character_created: bool


async def check_rank_guard(session: AsyncSession, actor: GuildMember, target_id: int) -> None:
    """Decision 5: an officer may not change a member whose rank is at or above their own."""
    if target_id == actor.id:
        return
    levels = dict(
        (
            await session.execute(
                select(GuildMember.id, GuildRank.level)
                .join(GuildRank, GuildRank.id == GuildMember.rank_id)
                .where(GuildMember.id.in_([actor.id, target_id]))
            )
        ).all()
    )
    if levels.get(target_id, 0) >= levels.get(actor.id, 0):
        raise Forbidden("You cannot change a member whose rank is at or above your own.")


async def _lowest_rank_id(session: AsyncSession) -> int:
    rank_id = await session.scalar(select(GuildRank.id).order_by(GuildRank.level).limit(1))
    if rank_id is None:
        raise Conflict("Guild ranks are not set up yet.")
    return int(rank_id)


async def _find_or_create_member(
    session: AsyncSession, name: str, viewer: GuildMember | None, officer: bool
) -> tuple[GuildMember, bool]:
    member = await session.scalar(
        select(GuildMember).where(func.lower(GuildMember.discord_username) == func.lower(name))
    )
    if member is not None:
        own = viewer is not None and viewer.id == member.id
        if member.user_id is not None and not own:
            if not officer or viewer is None:
                raise Forbidden(REGISTERED_NAME)
            await check_rank_guard(session, viewer, member.id)
        return member, False
    member = GuildMember(
        discord_username=name,
        display_name=name,
        rank_id=await _lowest_rank_id(session),
        rank_source="manual",
        on_raid_roster=True,
    )
    session.add(member)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:  # a concurrent sign-up created the same name first
        raise Conflict("That Discord name was just registered; please submit again.") from exc
    return member, True


def _link_fields(member: GuildMember, viewer: GuildMember | None, officer: bool) -> dict[str, Any]:
    if viewer is not None and viewer.id == member.id:
        return {
            "source": "roster_form",
            "confidence": "high",
            "confirmed": True,
            "confirmed_by": viewer.display_name,
            "confirmed_at": clock.now(),
            "created_by": viewer.id,
        }
    if viewer is not None and officer:
        return {
            "source": "manual",
            "confidence": "high",
            "confirmed": True,
            "confirmed_by": viewer.display_name,
            "confirmed_at": clock.now(),
            "created_by": viewer.id,
        }
    return {
        "source": "roster_form",
        "confidence": "medium",
        "confirmed": False,
        "created_by": viewer.id if viewer is not None else None,
    }


async def submit(
    session: AsyncSession,
    *,
    submission: Submission,
    viewer: GuildMember | None,
    officer: bool,
    home_realm_name: str,
    home_realm_slug: str,
    region: str = "us",
) -> SignupResult:
    """Apply a validated submission (60 §9.3 steps 2–5) in the caller's transaction."""
    member, member_created = await _find_or_create_member(
        session, submission.discord_name, viewer, officer
    )
    character = await session.scalar(
        select(Character).where(
            func.lower(Character.name) == func.lower(submission.character_name),
            Character.realm_slug == home_realm_slug,
        )
    )
    previous_owner = character.member_id if character is not None else None
    if previous_owner is not None and previous_owner != member.id:
        if not officer or viewer is None:
            raise Conflict(CLAIMED)
        await check_rank_guard(session, viewer, previous_owner)
    if (
        character is not None
        and character.blizzard_last_sync is not None
        and character.character_class
        and character.character_class != submission.class_name
    ):
        raise Conflict(f"Class does not match the armory ({character.character_class}).")

    spec = submission.spec
    if (
        spec is None
        and character is not None
        and character.character_class == submission.class_name
    ):
        spec = character.spec
    role = submission.role or classes.role_for(submission.class_name, spec) or classes.RANGED_DPS
    main_alt = submission.main_alt
    if main_alt is None:
        if (
            character is not None
            and character.member_id == member.id
            and character.main_alt == "main"
        ):
            main_alt = "main"
        else:
            other_main = await session.scalar(
                select(Character.id)
                .where(
                    Character.member_id == member.id,
                    Character.main_alt == "main",
                    Character.id != (character.id if character is not None else -1),
                )
                .limit(1)
            )
            main_alt = "alt" if other_main is not None else "main"

    character_created = character is None
    if character is None:
        character = Character(
            name=submission.character_name,
            realm_slug=home_realm_slug,
            realm_name=home_realm_name,
            origin="roster_form",
            armory_url=realms.armory_url(submission.character_name, home_realm_slug, region=region),
        )
        session.add(character)
    character.character_class = submission.class_name
    character.spec = spec
    character.role = role
    character.main_alt = main_alt
    character.member_id = member.id
    character.removed_at = None
    character.updated_at = clock.now()
    if not character.armory_url:
        character.armory_url = realms.armory_url(character.name, home_realm_slug, region=region)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:  # a concurrent sign-up created the character first
        raise Conflict(
            "That character was just added by someone else; please submit again."
        ) from exc

    if previous_owner != member.id:
        await session.execute(delete(IdentityLink).where(IdentityLink.character_id == character.id))
        if previous_owner is not None:
            session.add(
                LinkRejection(
                    character_id=character.id,
                    member_id=previous_owner,
                    rejected_by=viewer.display_name if viewer is not None else "roster form",
                )
            )
        session.add(
            IdentityLink(
                member_id=member.id,
                character_id=character.id,
                **_link_fields(member, viewer, officer),
            )
        )
    else:
        has_link = await session.scalar(
            select(IdentityLink.id).where(IdentityLink.character_id == character.id)
        )
        if has_link is None:
            session.add(
                IdentityLink(
                    member_id=member.id,
                    character_id=character.id,
                    **_link_fields(member, viewer, officer),
                )
            )
    if main_alt == "main":
        await demote_other_mains(session, member.id, character.id)
    await save_availability(session, member_id=member.id, week=submission.week)
    await session.flush()
    log.info(
        "roster sign-up: member %s (created %s), character %s (created %s), anonymous %s",
        member.id,
        member_created,
        character.id,
        character_created,
        viewer is None,
    )
    return SignupResult(member.id, character.id, member_created, character_created)
