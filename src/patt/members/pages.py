"""Admin roster and ranks pages (50 §6.3, decisions 1, 2, 22): members, Discord IDs, ranks,
characters and invites, all through the same services as the JSON API.

Every route is Officer+ (anonymous → login redirect, lower ranks → 403 page); every POST then
checks the CSRF token (403 page) and answers POST → 302 → GET with a flash message. Writes run
in one transaction that is rolled back when the service refuses.

Choices where the spec is silent:
- The Add Member form re-renders the roster with status 400, the entered values and the error
  bar (50 §1 form rule); row actions (update, invite, characters, ranks) flash their errors.
- Characters are edited inside the expandable character row, which every editable member has
  (so a member without characters can get their first one).
- Empty Discord username / Discord ID on a row update clear the value; an empty display name is
  an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from patt.accounts import invites
from patt.core.fields import INT32_MAX, IdPath
from patt.core.forms import gated_form, in_transaction, write_and_redirect
from patt.core.render import (
    FormError,
    redirect_with_flash,
    render,
    require_page_rank,
    sentence,
)
from patt.core.schemas import first_error
from patt.deps import PageMember
from patt.members import service as roster_writes
from patt.members.schemas import (
    CharacterCreate,
    CharacterUpdate,
    MemberCreate,
    MemberUpdate,
    RankCreate,
    RankUpdate,
    changes_of,
)
from sv_common.db.models import Character, GuildMember
from sv_common.errors import DomainError
from sv_common.identity import characters as character_service
from sv_common.identity import classes
from sv_common.identity import members as member_service
from sv_common.identity import ranks as rank_service

router = APIRouter(include_in_schema=False)

ROSTER_URL = "/admin/roster"
RANKS_URL = "/admin/ranks"
PathId = IdPath  # anything else → 404 page
LABELS = {
    "discord_username": "Discord username",
    "discord_id": "Discord ID",
    "display_name": "Display name",
    "rank_id": "Rank",
    "name": "Name",
    "realm": "Realm",
    "wow_class": "Class",
    "spec": "Spec",
    "role": "Role",
    "main_alt": "Main/alt",
    "level": "Level",
    "description": "Description",
    "discord_role_id": "Discord role ID",
}
ROLE_CHOICES = (
    ("", "Auto (from spec)"),
    ("tank", "Tank"),
    ("healer", "Healer"),
    ("melee_dps", "Melee DPS"),
    ("ranged_dps", "Ranged DPS"),
)


# ------------------------------------------------------------------------------ helpers
def _int_field(form: dict[str, str], name: str) -> int | None:
    raw = form.get(name, "").strip()
    if not raw:
        return None
    if not raw.isascii() or not raw.isdigit() or int(raw) > INT32_MAX:
        raise FormError(f"{LABELS.get(name, name)}: enter a whole number.")
    return int(raw)


def _model(model: type[BaseModel], data: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise FormError(first_error(exc, LABELS)) from exc


# --------------------------------------------------------------------------- the roster
@dataclass
class RosterRow:
    """One member row of the roster table."""

    member: GuildMember
    can_edit: bool
    can_edit_rank: bool
    invite_allowed: bool
    invite_hint: str
    invite_username: str
    status_label: str
    status_kind: str
    status_expires: str | None
    characters: list[Character] = field(default_factory=list)
    filter_text: str = ""


def _utc(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") + " UTC"


async def _roster_context(session: AsyncSession, actor: GuildMember) -> dict[str, Any]:
    members = await member_service.list_members(session)
    ranks = await rank_service.list_ranks(session)
    top_level = max((rank.level for rank in ranks), default=0)
    assignable = member_service.assignable_levels(actor, [r.level for r in ranks], top_level)
    accounts = await invites.linked_accounts(session)
    latest = await invites.latest_invites(session)
    usernames = {m.discord_username.lower(): m.id for m in members if m.discord_username}
    rows: list[RosterRow] = []
    for member in members:
        account = invites.pick_account(member, accounts.get(member.id, []))
        owner = None
        if not member.discord_username and account is not None and account.username:
            owner = usernames.get(account.username.lower())
        block = invites.invite_block(
            actor=actor, member=member, top_level=top_level, account=account, username_owner=owner
        )
        invite = latest.get(member.id)
        label, kind = invites.invite_status(member, invite)
        characters = sorted(member.characters, key=lambda c: (c.main_alt != "main", c.name.lower()))
        can_edit = member_service.can_edit(actor, member)
        rows.append(
            RosterRow(
                member=member,
                can_edit=can_edit,
                can_edit_rank=can_edit and member.id != actor.id,
                invite_allowed=block is None,
                invite_hint=block.hint if block is not None else "",
                invite_username=member.discord_username
                or (account.username if account is not None else ""),
                status_label=label,
                status_kind=kind,
                status_expires=_utc(invite.expires_at)
                if label == "Invite sent" and invite
                else None,
                characters=characters,
                filter_text=" ".join(
                    [member.display_name, member.discord_username or ""]
                    + [c.name for c in characters]
                ).lower(),
            )
        )
    return {
        "rows": rows,
        "ranks": ranks,
        "assignable_levels": assignable,
        "default_rank_id": min(
            (r for r in ranks if r.level in assignable), key=lambda r: r.level, default=None
        ),
        "classes": classes.CLASSES,
        "spec_names": sorted({spec.spec_name for spec in classes.SPECS}),
        "role_choices": ROLE_CHOICES,
        "active_nav": "admin",
    }


async def _render_roster(
    request: Request,
    actor: GuildMember,
    *,
    status_code: int = 200,
    error: str | None = None,
    add_values: dict[str, str] | None = None,
) -> Response:
    context = await in_transaction(request, lambda s: _roster_context(s, actor))
    context["add_values"] = add_values or {}
    context["realm_default"] = request.app.state.settings.patt_guild_realm_name
    if error:
        context["flash"] = {"kind": "error", "text": error}
    return await render(
        request, "admin/roster.html", context, member=actor, status_code=status_code
    )


@router.get("/admin")
async def admin_home(request: Request, member: PageMember) -> Response:
    """The admin area starts at the campaign list."""
    require_page_rank(request, member)
    return RedirectResponse("/admin/campaigns", status_code=302)


@router.get("/admin/roster")
async def roster_page(request: Request, member: PageMember) -> Response:
    """Roster management: members, Discord IDs, ranks, invites, characters."""
    actor = require_page_rank(request, member)
    return await _render_roster(request, actor)


@router.post("/admin/roster/add")
async def roster_add(request: Request, member: PageMember) -> Response:
    """Add a member; errors re-render the page (400) with the entered values."""
    actor, form = await gated_form(request, member)
    values = {
        key: form.get(key, "").strip()
        for key in ("discord_username", "discord_id", "display_name", "rank_id")
    }
    try:
        body = _model(
            MemberCreate,
            {
                "discord_username": values["discord_username"] or None,
                "discord_id": values["discord_id"] or None,
                "display_name": values["display_name"] or None,
                "rank_id": _int_field(values, "rank_id"),
            },
        )
        if not body.discord_username:
            raise FormError("Discord username is required.")

        async def work(session: AsyncSession) -> GuildMember:
            return await roster_writes.create_member(session, actor=actor, body=body)

        await in_transaction(request, work)
    except (DomainError, FormError) as exc:
        return await _render_roster(
            request, actor, status_code=400, error=sentence(exc.message), add_values=values
        )
    return redirect_with_flash(request, ROSTER_URL, "success", "Member added.")


@router.post("/admin/roster/{member_id}/update")
async def roster_update(request: Request, member_id: PathId, member: PageMember) -> Response:
    """Update any subset of discord_id, display_name, discord_username, rank_id."""
    actor, form = await gated_form(request, member)

    async def work(session: AsyncSession) -> str:
        data: dict[str, Any] = {}
        for key in ("discord_id", "discord_username"):
            if key in form:
                data[key] = form[key].strip() or None
        if "display_name" in form:
            if not form["display_name"].strip():
                raise FormError("Display name cannot be empty.")
            data["display_name"] = form["display_name"]
        if "rank_id" in form:
            rank_id = _int_field(form, "rank_id")
            if rank_id is None:
                raise FormError("Choose a rank.")
            data["rank_id"] = rank_id
        if not data:
            raise FormError("Nothing to update.")
        body = _model(MemberUpdate, data)
        await member_service.update_member(
            session, actor=actor, member_id=member_id, changes=changes_of(body)
        )
        return "Member updated."

    return await write_and_redirect(request, ROSTER_URL, work, wording=sentence)


@router.post("/admin/roster/{member_id}/invite")
async def roster_invite(request: Request, member_id: PathId, member: PageMember) -> Response:
    """Generate an invite code and DM it (same service as the API, 70 §7)."""
    actor, _ = await gated_form(request, member)
    state = request.app.state

    try:
        result = await roster_writes.send_invite(app_state=state, actor=actor, member_id=member_id)
    except DomainError as exc:
        return redirect_with_flash(request, ROSTER_URL, "error", sentence(exc.message))
    # the registration link is always shown so the officer can hand it over by hand
    link = f"Registration link: {result['register_url']}"
    if result["dm_sent"]:
        text = f"Invite code {result['code']} created and sent via Discord. {link}"
        return redirect_with_flash(request, ROSTER_URL, "success", text)
    text = f"Invite code {result['code']} created. {result['dm_message']} {link}"
    return redirect_with_flash(request, ROSTER_URL, "warning", text)


# ------------------------------------------------------------------------ characters
def _character_data(form: dict[str, str], *, partial: bool) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key in ("name", "realm", "wow_class", "main_alt"):
        if key in form or not partial:
            value = form.get(key, "").strip()
            if partial and not value:
                raise FormError(f"{LABELS[key]} cannot be empty.")
            if value:
                data[key] = value
    for key in ("spec", "role"):
        if key in form:
            data[key] = form[key].strip() or None
    return data


@router.post("/admin/roster/{member_id}/characters")
async def character_add(request: Request, member_id: PathId, member: PageMember) -> Response:
    """Add (or claim) a character for a member."""
    actor, form = await gated_form(request, member)
    region = request.app.state.settings.blizzard_region

    async def work(session: AsyncSession) -> str:
        body = _model(CharacterCreate, _character_data(form, partial=False))
        character = await roster_writes.add_character(
            session, actor=actor, member_id=member_id, body=body, region=region
        )
        return f"Character {character.name} added."

    return await write_and_redirect(request, ROSTER_URL, work, wording=sentence)


@router.post("/admin/roster/characters/{character_id}/update")
async def character_update(request: Request, character_id: PathId, member: PageMember) -> Response:
    """Edit a character's name, realm, class, spec, role or main/alt."""
    actor, form = await gated_form(request, member)
    region = request.app.state.settings.blizzard_region

    async def work(session: AsyncSession) -> str:
        data = _character_data(form, partial=True)
        if not data:
            raise FormError("Nothing to update.")
        body = _model(CharacterUpdate, data)
        character = await character_service.update_character(
            session, actor=actor, character_id=character_id, changes=changes_of(body), region=region
        )
        return f"Character {character.name} updated."

    return await write_and_redirect(request, ROSTER_URL, work, wording=sentence)


@router.post("/admin/roster/characters/{character_id}/delete")
async def character_delete(request: Request, character_id: PathId, member: PageMember) -> Response:
    """Delete a character."""
    actor, _ = await gated_form(request, member)

    async def work(session: AsyncSession) -> str:
        character = await character_service.get_character(session, character_id)
        name = character.name
        await character_service.delete_character(session, character_id, actor=actor)
        return f"Character {name} deleted."

    return await write_and_redirect(request, ROSTER_URL, work, wording=sentence)


# ------------------------------------------------------------------------------ ranks
async def _is_top(session: AsyncSession, actor: GuildMember) -> bool:
    return actor.rank.level >= await rank_service.top_level(session)


@router.get("/admin/ranks")
async def ranks_page(request: Request, member: PageMember) -> Response:
    """Ranks: every officer reads; the top rank edits, creates and deletes."""
    actor = require_page_rank(request, member)

    async def load(session: AsyncSession) -> dict[str, Any]:
        ranks = await rank_service.list_ranks(session)
        counts = await rank_service.member_counts(session)
        return {
            "ranks": ranks,
            "member_counts": counts,
            "can_manage": await _is_top(session, actor),
            "active_nav": "admin",
        }

    context = await in_transaction(request, load)
    return await render(request, "admin/ranks.html", context, member=actor)


def _rank_data(form: dict[str, str], *, partial: bool) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if "name" in form or not partial:
        data["name"] = form.get("name", "").strip()
    if "level" in form or not partial:
        level = _int_field(form, "level")
        if level is None:
            raise FormError("Level is required.")
        data["level"] = level
    for key in ("description", "discord_role_id"):
        if key in form:
            data[key] = form[key].strip() or None
    return data


@router.post("/admin/ranks/add")
async def rank_add(request: Request, member: PageMember) -> Response:
    """Create a rank (top rank only)."""
    actor, form = await gated_form(request, member)

    async def work(session: AsyncSession) -> str:
        await rank_service.check_top_rank(session, actor)
        body = _model(RankCreate, _rank_data(form, partial=False))
        rank = await roster_writes.create_rank(session, actor=actor, body=body)
        return f"Rank {rank.name} created."

    return await write_and_redirect(request, RANKS_URL, work, wording=sentence)


@router.post("/admin/ranks/{rank_id}/update")
async def rank_update(request: Request, rank_id: PathId, member: PageMember) -> Response:
    """Rename, re-level, describe or map a rank (top rank only)."""
    actor, form = await gated_form(request, member)

    async def work(session: AsyncSession) -> str:
        await rank_service.check_top_rank(session, actor)
        data = _rank_data(form, partial=True)
        if not data:
            raise FormError("Nothing to update.")
        body = _model(RankUpdate, data)
        rank = await rank_service.update_rank(session, rank_id, changes_of(body))
        await rank_service.check_keeps_top_rank(session, actor.rank_id)
        return f"Rank {rank.name} updated."

    return await write_and_redirect(request, RANKS_URL, work, wording=sentence)


@router.post("/admin/ranks/{rank_id}/delete")
async def rank_delete(request: Request, rank_id: PathId, member: PageMember) -> Response:
    """Delete an unused rank (top rank only)."""
    actor, _ = await gated_form(request, member)

    async def work(session: AsyncSession) -> str:
        await rank_service.check_top_rank(session, actor)
        rank = await rank_service.get_rank(session, rank_id)
        name = rank.name
        await rank_service.delete_rank(session, rank_id)
        return f"Rank {name} deleted."

    return await write_and_redirect(request, RANKS_URL, work, wording=sentence)
