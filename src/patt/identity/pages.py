"""Officers' identity pages (decision 2; 85 §11): who is who — people with their characters and
Discord accounts and why each is linked, orphans with suggested matches, the confirmation
queue of automatic links, and the audit issues.

The pages read through `sv_common.identity.views` (the same data as `/api/identity/*`) and
write through the same services as the API (`links`, `issues`), each action in its own
transaction via `patt.core.forms`: Officer+ (anonymous → login, lower ranks → 403 page), CSRF
checked, POST → 302 → GET with a flash. A refusal of the service (unknown id, already linked,
already resolved …) is an error flash on the page the form came from, never an error page.
A change of links asks for a pipeline run after the commit, as the API does, so the issues it
settles close on their own.

Choices where the spec is silent:
- Every form carries `back`, the page (with its search, filter and page number) to return to;
  only identity pages are accepted there, anything else falls back to the form's own page.
- Members are picked by typing: "Name #id" from the suggestion list, a bare id, or an exact
  display name / Discord username — one text box instead of a select per row.
- Issues are listed newest first by the service; each page of them is shown critical first.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, or_
from sqlalchemy.ext.asyncio import AsyncSession

from patt.core.fields import IdPath, int_or_none
from patt.core.forms import Work, gated_form, in_transaction, write_and_redirect
from patt.core.render import (
    FormError,
    current_path,
    redirect_with_flash,
    render,
    require_page_rank,
    sentence,
)
from patt.deps import PageMember
from patt.guild_sync.pages import ISSUE_TITLES
from sv_common.db.models import GuildMember
from sv_common.errors import DomainError, NotFound
from sv_common.identity import links, views
from sv_common.identity import members as member_service
from sv_common.identity.integrity import issues as issue_service

router = APIRouter(include_in_schema=False)

PEOPLE_URL = "/admin/identity"
ORPHANS_URL = "/admin/identity/orphans"
QUEUE_URL = "/admin/identity/queue"
ISSUES_URL = "/admin/identity/issues"
PEOPLE_PER_PAGE = 25
QUEUE_PER_PAGE = 50
ISSUES_PER_PAGE = 50
PAGE_MAX = 100_000
BACK_MAX = 500
NOTE_MAX = issue_service.NOTE_MAX
MEMBER_REF = re.compile(r"#\s*([0-9]{1,10})\s*$")
# The services speak in short lower-case phrases; officers get a hint on what to do next.
LINK_HINTS = {
    "already linked to another member": (
        "It is already linked to another member. Tick “move” to move it."
    ),
    "linked to different members": (
        "The character and the account belong to two different members. Move one of them to "
        "the other member first."
    ),
}


# ------------------------------------------------------------------------------ helpers
def _page_number(raw: str | None) -> int:
    number = int_or_none(raw or "")
    return min(max(number or 1, 1), PAGE_MAX)


def _paging(total: int, page: int, per_page: int, url: Callable[[int], str]) -> dict[str, Any]:
    """What the pager macro shows: this page, the number of pages and the neighbours."""
    pages = max(1, math.ceil(total / per_page))
    return {
        "page": page,
        "pages": pages,
        "total": total,
        "prev_url": url(page - 1) if page > 1 else None,
        "next_url": url(page + 1) if page < pages else None,
    }


def _url(path: str, page: int, **params: str | None) -> str:
    """`path?query` with empty parameters and page 1 left out."""
    kept: dict[str, Any] = {key: value for key, value in params.items() if value}
    if page > 1:
        kept["page"] = page
    return f"{path}?{urlencode(kept)}" if kept else path


def _back(form: dict[str, str], default: str) -> str:
    """The identity page (with its query) the form came from; anything else → `default`."""
    raw = form.get("back", "")
    if (
        raw.startswith(PEOPLE_URL)
        and not raw.startswith("//")
        and "\\" not in raw
        and len(raw) <= BACK_MAX
        and raw.isprintable()
    ):
        return raw
    return default


def _id_field(form: dict[str, str], name: str, label: str) -> int | None:
    raw = form.get(name, "").strip()
    if not raw:
        return None
    value = int_or_none(raw)
    if value is None or value < 1:
        raise FormError(f"{label}: choose one from the list.")
    return value


async def _member_ref(session: AsyncSession, raw: str) -> int | None:
    """The member typed into a member box: "Name #id", a bare id, or an exact display name or
    Discord username (case-insensitive). None when the box is empty."""
    text = raw.strip()
    if not text:
        return None
    found = MEMBER_REF.search(text)
    if found or text.isdigit():
        member_id = int_or_none(found.group(1) if found else text)
        if member_id is None or member_id < 1:
            raise FormError(f"No member '{text}'.")
        return int((await member_service.get_member(session, member_id)).id)
    lowered = text.lower()
    matches = (
        await session.scalars(
            member_service.member_query().where(
                or_(
                    func.lower(GuildMember.display_name) == lowered,
                    func.lower(GuildMember.discord_username) == lowered,
                )
            )
        )
    ).all()
    if not matches:
        raise FormError(f"No member named '{text}'. Pick one from the list.")
    if len(matches) > 1:
        raise FormError(f"Several members are named '{text}'. Pick one from the list.")
    return int(matches[0].id)


async def _member_choices(session: AsyncSession) -> list[dict[str, Any]]:
    """Every member for the member boxes' suggestion list: "Name #id"."""
    members = (
        await session.scalars(
            member_service.member_query().order_by(
                func.lower(GuildMember.display_name), GuildMember.id
            )
        )
    ).all()
    return [
        {"id": m.id, "label": f"{m.display_name} #{m.id}", "name": m.display_name} for m in members
    ]


def _link_wording(message: str) -> str:
    return LINK_HINTS.get(message, sentence(message))


async def _change_links(
    request: Request, back: str, work: Work[str], *, wording: Callable[[str], str] = sentence
) -> RedirectResponse:
    """Like `write_and_redirect`, then — once the change is committed — ask for a pipeline
    run, as the API does after a link change."""
    try:
        message = await in_transaction(request, work)
    except (DomainError, FormError) as exc:
        return redirect_with_flash(request, back, "error", wording(exc.message))
    request.app.state.guild_sync.pipeline.request("manual link change")
    return redirect_with_flash(request, back, "success", message)


def _entity_name(link: dict[str, Any]) -> str:
    if link["character_id"] is not None:
        return str(link["character_name"])
    return f"Discord account {link['discord_display_name']}"


async def _link_or_404(session: AsyncSession, link_id: int) -> dict[str, Any]:
    found = await views.link_dicts(session, [link_id])
    if not found:
        raise NotFound("link not found")
    return found[0]


# -------------------------------------------------------------------------------- people
@router.get("/admin/identity")
async def people_page(request: Request, member: PageMember) -> Response:
    """Members with their characters and Discord accounts, searchable, with link actions."""
    actor = require_page_rank(request, member)
    params = request.query_params
    q = params.get("q", "").strip()[: views.QUERY_MAX]
    include_removed = params.get("removed") == "1"
    page = _page_number(params.get("page"))

    async def load(session: AsyncSession) -> dict[str, Any]:
        return await views.list_persons(
            session,
            q=q or None,
            include_removed=include_removed,
            limit=PEOPLE_PER_PAGE,
            offset=(page - 1) * PEOPLE_PER_PAGE,
        )

    data = await in_transaction(request, load)
    context = {
        "persons": data["persons"],
        "q": q,
        "include_removed": include_removed,
        "pages": _paging(
            data["total"],
            page,
            PEOPLE_PER_PAGE,
            lambda n: _url(PEOPLE_URL, n, q=q, removed="1" if include_removed else None),
        ),
        "back": current_path(request),
        "active_nav": "admin",
    }
    return await render(request, "admin/identity_people.html", context, member=actor)


# ------------------------------------------------------------------------------- orphans
@router.get("/admin/identity/orphans")
async def orphans_page(request: Request, member: PageMember) -> Response:
    """Unlinked in-guild characters with suggestions, and Discord accounts without one."""
    actor = require_page_rank(request, member)

    async def load(session: AsyncSession) -> dict[str, Any]:
        return {
            "characters": (await views.list_wow_orphans(session))["characters"],
            "accounts": (await views.list_discord_orphans(session))["accounts"],
            "members": await _member_choices(session),
        }

    data = await in_transaction(request, load)
    data["member_names"] = {m["id"]: m["name"] for m in data["members"]}
    data["back"] = ORPHANS_URL
    data["active_nav"] = "admin"
    return await render(request, "admin/identity_orphans.html", data, member=actor)


# --------------------------------------------------------------------------------- queue
@router.get("/admin/identity/queue")
async def queue_page(request: Request, member: PageMember) -> Response:
    """Automatic links nobody confirmed yet: confirm, reject or move each."""
    actor = require_page_rank(request, member)
    page = _page_number(request.query_params.get("page"))

    async def load(session: AsyncSession) -> dict[str, Any]:
        found = await views.list_links(
            session,
            confirmed=False,
            limit=QUEUE_PER_PAGE,
            offset=(page - 1) * QUEUE_PER_PAGE,
        )
        return {**found, "members": await _member_choices(session)}

    data = await in_transaction(request, load)
    context = {
        "links": data["links"],
        "members": data["members"],
        "pages": _paging(data["total"], page, QUEUE_PER_PAGE, lambda n: _url(QUEUE_URL, n)),
        "back": current_path(request),
        "active_nav": "admin",
    }
    return await render(request, "admin/identity_queue.html", context, member=actor)


# -------------------------------------------------------------------------------- issues
@router.get("/admin/identity/issues")
async def issues_page(request: Request, member: PageMember) -> Response:
    """Audit issues, open ones by default, filterable by type; resolve, ignore, re-open."""
    actor = require_page_rank(request, member)
    params = request.query_params
    issue_type = params.get("type", "")
    if issue_type not in ISSUE_TITLES:
        issue_type = ""
    show_resolved = params.get("resolved") == "1"
    page = _page_number(params.get("page"))

    async def load(session: AsyncSession) -> dict[str, Any]:
        return await views.list_issues(
            session,
            issue_type=issue_type or None,
            status="all" if show_resolved else "open",
            limit=ISSUES_PER_PAGE,
            offset=(page - 1) * ISSUES_PER_PAGE,
            most_important_first=True,
        )

    data = await in_transaction(request, load)
    context = {
        "issues": data["issues"],
        "issue_type": issue_type,
        "issue_types": list(ISSUE_TITLES.items()),
        "issue_titles": ISSUE_TITLES,
        "show_resolved": show_resolved,
        "note_max": NOTE_MAX,
        "pages": _paging(
            data["total"],
            page,
            ISSUES_PER_PAGE,
            lambda n: _url(ISSUES_URL, n, type=issue_type, resolved="1" if show_resolved else None),
        ),
        "back": current_path(request),
        "active_nav": "admin",
    }
    return await render(request, "admin/identity_issues.html", context, member=actor)


# ------------------------------------------------------------------------- link actions
@router.post("/admin/identity/link")
async def link_action(request: Request, member: PageMember) -> Response:
    """Link two of character, Discord account and member by hand (orphans page forms)."""
    actor, form = await gated_form(request, member)
    back = _back(form, ORPHANS_URL)

    async def work(session: AsyncSession) -> str:
        character_id = _id_field(form, "character_id", "Character")
        account_id = _id_field(form, "discord_member_id", "Discord account")
        member_id = await _member_ref(session, form.get("member", ""))
        if sum(v is not None for v in (character_id, account_id, member_id)) != 2:
            raise FormError("Choose two of: a character, a Discord account, a member.")
        result = await links.link_manually(
            session,
            officer=actor,
            character_id=character_id,
            discord_member_id=account_id,
            member_id=member_id,
            move=form.get("move") == "1",
        )
        names = " and ".join(_entity_name(link) for link in result["links"])
        owner = result["links"][0]["member_display_name"] if result["links"] else "the member"
        created = " (new member created)" if result["created_member"] else ""
        return f"Linked {names} to {owner}{created}."

    return await _change_links(request, back, work, wording=_link_wording)


@router.post("/admin/identity/links/{link_id}/confirm")
async def confirm_action(request: Request, link_id: IdPath, member: PageMember) -> Response:
    """Confirm an automatic link."""
    actor, form = await gated_form(request, member)

    async def work(session: AsyncSession) -> str:
        link = await links.confirm_link(session, link_id=link_id, officer=actor)
        return f"Confirmed: {_entity_name(link)} belongs to {link['member_display_name']}."

    return await write_and_redirect(request, _back(form, QUEUE_URL), work, wording=sentence)


@router.post("/admin/identity/links/{link_id}/unlink")
async def unlink_action(request: Request, link_id: IdPath, member: PageMember) -> Response:
    """Remove a link (also "reject" in the queue); matching never re-creates that pair."""
    actor, form = await gated_form(request, member)

    async def work(session: AsyncSession) -> str:
        link = await _link_or_404(session, link_id)
        await links.remove_link(session, link_id=link_id, officer=actor)
        return f"Unlinked {_entity_name(link)} from {link['member_display_name']}."

    return await _change_links(request, _back(form, PEOPLE_URL), work)


@router.post("/admin/identity/links/{link_id}/relink")
async def relink_action(request: Request, link_id: IdPath, member: PageMember) -> Response:
    """Move a link's character or account to another member (confirmed, source manual)."""
    actor, form = await gated_form(request, member)

    async def work(session: AsyncSession) -> str:
        link = await _link_or_404(session, link_id)
        target = await _member_ref(session, form.get("member", ""))
        if target is None:
            raise FormError("Type the member to move it to.")
        result = await links.link_manually(
            session,
            officer=actor,
            character_id=link["character_id"],
            discord_member_id=link["discord_member_id"],
            member_id=target,
            move=True,
        )
        owner = result["links"][0]["member_display_name"]
        return f"Moved {_entity_name(link)} to {owner}."

    return await _change_links(request, _back(form, QUEUE_URL), work, wording=_link_wording)


# ------------------------------------------------------------------------ issue actions
@router.post("/admin/identity/issues/{issue_id}/resolve")
async def resolve_action(request: Request, issue_id: IdPath, member: PageMember) -> Response:
    """Resolve an open issue with an optional note; "Ignore" also keeps it from coming back."""
    actor, form = await gated_form(request, member)
    ignore = form.get("ignore") == "1"

    async def work(session: AsyncSession) -> str:
        note = form.get("note", "").strip() or None
        await issue_service.resolve_issue(
            session, issue_id=issue_id, officer_name=actor.display_name, note=note, ignore=ignore
        )
        if ignore:
            return "Issue ignored: it will not be opened again until you re-open it."
        return "Issue resolved. If the problem is still there, the next check opens it again."

    return await write_and_redirect(request, _back(form, ISSUES_URL), work, wording=sentence)


@router.post("/admin/identity/issues/{issue_id}/reopen")
async def reopen_action(request: Request, issue_id: IdPath, member: PageMember) -> Response:
    """Lift an ignore: the next integrity check looks at the problem again."""
    _, form = await gated_form(request, member)

    async def work(session: AsyncSession) -> str:
        await issue_service.reopen_issue(session, issue_id=issue_id)
        return "Issue re-opened: the next check looks at it again."

    return await write_and_redirect(request, _back(form, ISSUES_URL), work, wording=sentence)
