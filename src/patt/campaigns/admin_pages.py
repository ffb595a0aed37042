"""Admin campaign pages (50 §6.1–6.2): list, create, edit, entries, activate / close / archive.

Every route is Officer+ (anonymous → login redirect, lower ranks → 403 page); every POST then
checks the CSRF token (403 page) and calls the same services as the JSON API, in one
transaction that is rolled back when the service refuses.

Choices where the spec is silent:
- Settings, Add Entry and Edit Entry validation errors re-render the page with status 400, the
  entered values (NUL characters dropped) and an error bar (the failed inline entry form stays
  open); state errors (not draft, unknown entry) and action errors redirect back with an error
  flash — the draft check comes first, so a bad form posted to a live campaign gets it too.
- A NUL character in any field is refused with "<Label>: must not contain NUL characters.".
- Moving an entry flashes "Entry moved."; moves at the top or bottom change nothing.
- The `type` select is shown disabled on the edit form (the type cannot change).
- For an approval campaign the counting-method select is disabled with a note (approval
  campaigns are counted by approvals); whatever it posts is ignored.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from patt.campaigns import checker as campaign_checker
from patt.campaigns import counting
from patt.campaigns import results as campaign_results
from patt.campaigns import rules as campaign_rules
from patt.campaigns import service as campaign_service
from patt.campaigns.lookup import campaign_or_404
from patt.campaigns.schemas import INT32_MAX, CampaignCreate, EntryCreate, EntryUpdate
from patt.core.fields import IdPath
from patt.core.forms import gated_form, write_and_redirect
from patt.core.render import (
    FormError,
    redirect_with_flash,
    render,
    require_page_rank,
    sentence,
)
from patt.deps import PageMember
from sv_common import clock
from sv_common.db.engine import transaction
from sv_common.db.enums import CampaignType
from sv_common.db.models import Campaign, GuildMember
from sv_common.errors import DomainError, Invalid
from sv_common.identity import ranks as rank_service

router = APIRouter(include_in_schema=False)
PathId = IdPath
LIST_URL = "/admin/campaigns"
DATETIME_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S")
LABELS = {
    "title": "Title",
    "description": "Description",
    "type": "Type",
    "counting_method": "Counting method",
    "picks_per_voter": "Picks per voter",
    "min_rank_to_vote": "Minimum rank to vote",
    "min_rank_to_view": "Minimum rank to view",
    "start_at": "Start",
    "duration_hours": "Duration",
    "discord_channel_id": "Discord channel ID",
    "early_close_if_all_voted": "Early close",
    "quorum_percent": "Quorum",
    "eligibility_snapshot": "Eligibility snapshot",
    "allow_vote_change": "Vote changes",
    "name": "Name",
    "image_url": "Image URL",
    "associated_member_id": "Associated member",
    "sort_order": "Sort order",
}
DURATION_PRESETS = ((24, "24h"), (48, "48h"), (168, "1 week"), (336, "2 weeks"))
CAMPAIGN_FORM_FIELDS = (
    "title",
    "description",
    "type",
    "counting_method",
    "picks_per_voter",
    "min_rank_to_vote",
    "min_rank_to_view",
    "start_at",
    "duration_hours",
    "discord_channel_id",
    "early_close_if_all_voted",
    "quorum_percent",
    "eligibility_snapshot",
    "allow_vote_change",
)
# The settings form's checkboxes (absent from a submitted form when unticked).
CHECKBOXES = ("early_close_if_all_voted", "eligibility_snapshot", "allow_vote_change")
ENTRY_FORM_FIELDS = ("name", "description", "image_url", "associated_member_id", "sort_order")


def _edit_url(campaign_id: int) -> str:
    return f"/admin/campaigns/{campaign_id}/edit"


def short_time(value: datetime | None) -> str:
    """ "2026-03-01 18:00" (admin tables)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if value else ""


def _validation_message(exc: ValidationError) -> str:
    error = exc.errors()[0]
    field = str(error["loc"][0]) if error.get("loc") else ""
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    return sentence(f"{LABELS.get(field, field or 'Form')}: {message}")


def _form_error_message(exc: FormError | ValidationError | Invalid) -> str:
    """The sentence shown above a form that was refused."""
    return _validation_message(exc) if isinstance(exc, ValidationError) else sentence(exc.message)


async def _officer(request: Request, member: GuildMember | None) -> GuildMember:
    return require_page_rank(request, member)


NUL_FORM_MESSAGE = "{label}: must not contain NUL characters."


def _reject_nul(form: dict[str, str], names: tuple[str, ...]) -> None:
    """FormError naming the first of `names` whose value contains a NUL character."""
    for name in names:
        if "\x00" in form.get(name, ""):
            raise FormError(NUL_FORM_MESSAGE.format(label=LABELS.get(name, name)))


def _without_nul(value: Any) -> Any:
    return value.replace("\x00", "") if isinstance(value, str) else value


def _int(form: dict[str, str], name: str, *, required: bool = False) -> int | None:
    raw = form.get(name, "").strip()
    if not raw:
        if required:
            raise FormError(f"{LABELS[name]} is required.")
        return None
    if not raw.isascii() or not raw.lstrip("-").isdigit() or abs(int(raw)) > INT32_MAX:
        raise FormError(f"{LABELS[name]}: enter a whole number.")
    return int(raw)


def parse_start(raw: str) -> datetime:
    """A datetime-local value taken as UTC; anything else is a FormError (never "now")."""
    text = raw.strip()
    for pattern in DATETIME_FORMATS:
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise FormError("Start: enter a valid date and time (UTC), e.g. 2026-03-01T18:00.")


def campaign_fields(form: dict[str, str]) -> dict[str, Any]:
    """The settings form as validated campaign fields (FormError / ValidationError)."""
    _reject_nul(form, CAMPAIGN_FORM_FIELDS)
    kind = form.get("type", "ranked_choice") or "ranked_choice"
    method = form.get("counting_method", "weighted") or "weighted"
    data: dict[str, Any] = {
        "title": form.get("title", ""),
        "description": form.get("description", ""),
        "type": kind,
        # the method of an approval campaign follows from its type (the select is not used)
        "counting_method": counting.APPROVAL if kind == CampaignType.APPROVAL else method,
        "picks_per_voter": _int(form, "picks_per_voter", required=True),
        "min_rank_to_vote": _int(form, "min_rank_to_vote", required=True),
        "min_rank_to_view": _int(form, "min_rank_to_view"),
        "start_at": parse_start(form.get("start_at", "")),
        "duration_hours": _int(form, "duration_hours", required=True),
        "early_close_if_all_voted": _ticked(form, "early_close_if_all_voted"),
        "discord_channel_id": form.get("discord_channel_id", ""),
        "quorum_percent": _int(form, "quorum_percent"),
        "eligibility_snapshot": _ticked(form, "eligibility_snapshot"),
        "allow_vote_change": _ticked(form, "allow_vote_change"),
    }
    return CampaignCreate(**data).model_dump()


def _ticked(form: dict[str, str], name: str) -> bool:
    return form.get(name) in ("on", "true", "1")


def _entry_fields(form: dict[str, str], model: type[BaseModel]) -> dict[str, Any]:
    _reject_nul(form, ENTRY_FORM_FIELDS)
    data: dict[str, Any] = {
        "name": form.get("name", ""),
        "description": form.get("description", ""),
        "image_url": form.get("image_url", ""),
        "associated_member_id": _int(form, "associated_member_id"),
        "sort_order": _int(form, "sort_order"),
    }
    if model is EntryUpdate and data["sort_order"] is None:
        data.pop("sort_order")
    return model(**data).model_dump(exclude_unset=model is EntryUpdate)


def form_values(campaign: Campaign | None = None) -> dict[str, Any]:
    """Settings form values: the campaign's, or the new-campaign defaults (50 §6.2)."""
    if campaign is None:
        start = (clock.now() + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
        return {
            "title": "",
            "description": "",
            "type": "ranked_choice",
            "counting_method": "weighted",
            "picks_per_voter": "3",
            "min_rank_to_vote": "",
            "min_rank_to_view": "",
            "start_at": start.strftime("%Y-%m-%dT%H:%M"),
            "duration_hours": "168",
            "discord_channel_id": "",
            "early_close_if_all_voted": True,
            "quorum_percent": "",
            "eligibility_snapshot": False,
            "allow_vote_change": False,
        }
    return {
        "title": campaign.title,
        "description": campaign.description or "",
        "type": campaign.type,
        "counting_method": campaign.counting_method,
        "picks_per_voter": str(campaign.picks_per_voter),
        "min_rank_to_vote": str(campaign.min_rank_to_vote),
        "min_rank_to_view": ""
        if campaign.min_rank_to_view is None
        else str(campaign.min_rank_to_view),
        "start_at": campaign.start_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M"),
        "duration_hours": str(campaign.duration_hours),
        "discord_channel_id": campaign.discord_channel_id or "",
        "early_close_if_all_voted": campaign.early_close_if_all_voted,
        "quorum_percent": "" if campaign.quorum_percent is None else str(campaign.quorum_percent),
        "eligibility_snapshot": campaign.eligibility_snapshot,
        "allow_vote_change": campaign.allow_vote_change,
    }


def _submitted_values(form: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {
        key: _without_nul(form.get(key, "")) for key in form_values() if key not in CHECKBOXES
    }
    for name in CHECKBOXES:
        values[name] = _ticked(form, name)
    return values


async def _ranks(db: AsyncSession) -> list[Any]:
    return await rank_service.list_ranks(db)


def _common(ranks: list[Any]) -> dict[str, Any]:
    return {
        "ranks": ranks,
        "rank_names": {rank.level: rank.name for rank in ranks},
        "methods": [(key, counting.METHOD_LABELS[key]) for key in counting.METHODS],
        "presets": DURATION_PRESETS,
        "active_nav": "admin",
    }


# ---------------------------------------------------------------------------------- list
@router.get("/admin/campaigns")
async def campaign_list(request: Request, member: PageMember) -> Response:
    """All campaigns: live, draft, closed, archived; newest start first within a status."""
    officer = await _officer(request, member)
    factory = request.app.state.sessionmaker
    await campaign_checker.reconcile_due(factory)
    async with transaction(factory) as db:
        campaigns = await campaign_service.list_campaigns(db)
        votes = await campaign_service.ballot_counts(db, [c.id for c in campaigns])
    rows = [
        {
            "campaign": c,
            "summary": (c.description or "")[:60] + ("…" if len(c.description or "") > 60 else ""),
            "start": short_time(c.start_at),
            "entries": len(c.entries),
            "votes": votes[c.id],
        }
        for c in campaigns
    ]
    return await render(
        request, "admin/campaigns.html", {"rows": rows, "active_nav": "admin"}, member=officer
    )


# ----------------------------------------------------------------------------------- new
async def _render_new(
    request: Request, officer: GuildMember, values: dict[str, Any], error: str | None, status: int
) -> Response:
    async with transaction(request.app.state.sessionmaker) as db:
        ranks = await _ranks(db)
    context = {**_common(ranks), "campaign": None, "values": values, "settings_error": error}
    return await render(
        request, "admin/campaign_edit.html", context, member=officer, status_code=status
    )


@router.get("/admin/campaigns/new")
async def new_campaign_form(request: Request, member: PageMember) -> Response:
    """Empty create form with the defaults (3 picks, 1 week, early close on)."""
    officer = await _officer(request, member)
    return await _render_new(request, officer, form_values(), None, 200)


@router.post("/admin/campaigns/new")
async def new_campaign_submit(request: Request, member: PageMember) -> Response:
    """Create a draft; invalid input re-renders the form with status 400 and the values."""
    member, form = await gated_form(request, member)
    try:
        fields = campaign_fields(form)
        async with transaction(request.app.state.sessionmaker) as db:
            campaign = await campaign_service.create_campaign(db, actor=member, fields=fields)
    except FormError as exc:
        return await _render_new(request, member, _submitted_values(form), exc.message, 400)
    except ValidationError as exc:
        return await _render_new(
            request, member, _submitted_values(form), _validation_message(exc), 400
        )
    except DomainError as exc:
        return await _render_new(
            request, member, _submitted_values(form), sentence(exc.message), 400
        )
    return redirect_with_flash(request, _edit_url(campaign.id), "success", "Campaign created.")


# ---------------------------------------------------------------------------------- edit
async def _entry_rows(db: AsyncSession, campaign: Campaign) -> list[dict[str, Any]]:
    names = dict(
        (
            await db.execute(
                select(GuildMember.id, GuildMember.display_name).where(
                    GuildMember.id.in_(
                        [e.associated_member_id for e in campaign.entries if e.associated_member_id]
                    )
                )
            )
        ).all()
    )
    return [
        {
            "entry": e,
            "member_name": names.get(e.associated_member_id) if e.associated_member_id else None,
            "image_short": (e.image_url or "")[:60] + ("…" if len(e.image_url or "") > 60 else ""),
        }
        for e in campaign.entries
    ]


async def _render_edit(
    request: Request,
    officer: GuildMember,
    campaign_id: int,
    *,
    status: int = 200,
    values: dict[str, Any] | None = None,
    settings_error: str | None = None,
    add_values: dict[str, Any] | None = None,
    add_error: str | None = None,
    edit_entry_id: int | None = None,
    edit_values: dict[str, Any] | None = None,
    edit_error: str | None = None,
) -> Response:
    factory = request.app.state.sessionmaker
    await campaign_checker.reconcile(factory, campaign_id)
    async with transaction(factory) as db:
        campaign = await campaign_or_404(db, campaign_id)
        ranks = await _ranks(db)
        entries = await _entry_rows(db, campaign)
        stats = await campaign_results.get_vote_stats(db, campaign)
        members = list(
            (
                await db.execute(
                    select(GuildMember.id, GuildMember.display_name).order_by(
                        func.lower(GuildMember.display_name), GuildMember.id
                    )
                )
            ).all()
        )
    entry_count = len(campaign.entries)
    context = {
        **_common(ranks),
        "campaign": campaign,
        "is_draft": campaign.status == "draft",
        "values": values or form_values(campaign),
        "settings_error": settings_error,
        "entries": entries,
        "members": members,
        "stats": stats,
        "too_few": campaign.status == "draft" and entry_count < campaign.picks_per_voter,
        "blocked": campaign_rules.blocked_reason(campaign, entry_count),
        "start_text": short_time(campaign.start_at),
        "end_text": short_time(campaign_rules.end_at(campaign)),
        "closed_text": short_time(campaign.closed_at),
        "method_label": counting.METHOD_LABELS.get(campaign.counting_method, ""),
        "add_values": add_values or {},
        "add_error": add_error,
        "edit_entry_id": edit_entry_id,
        "edit_values": edit_values or {},
        "edit_error": edit_error,
    }
    return await render(
        request, "admin/campaign_edit.html", context, member=officer, status_code=status
    )


@router.get("/admin/campaigns/{campaign_id}/edit")
async def edit_campaign_form(request: Request, campaign_id: PathId, member: PageMember) -> Response:
    """Settings (or the locked summary), actions, entries and Add Entry."""
    officer = await _officer(request, member)
    return await _render_edit(request, officer, campaign_id)


async def _campaign_exists(request: Request, campaign_id: int) -> Campaign:
    factory = request.app.state.sessionmaker
    await campaign_checker.reconcile(factory, campaign_id)
    async with transaction(factory) as db:
        return await campaign_or_404(db, campaign_id)


@router.post("/admin/campaigns/{campaign_id}/edit")
async def edit_campaign_submit(
    request: Request, campaign_id: PathId, member: PageMember
) -> Response:
    """Save the settings of a draft."""
    member, form = await gated_form(request, member)
    campaign = await _campaign_exists(request, campaign_id)
    here = _edit_url(campaign_id)
    if campaign.status != "draft":
        return redirect_with_flash(request, here, "error", campaign_service.NOT_DRAFT_EDIT)
    try:
        fields = campaign_fields({**form, "type": campaign.type})
        fields.pop("type", None)
        async with transaction(request.app.state.sessionmaker) as db:
            await campaign_service.update_campaign(db, campaign_id=campaign_id, changes=fields)
    except (FormError, ValidationError, Invalid) as exc:
        message = _form_error_message(exc)
        values = {**_submitted_values(form), "type": campaign.type}
        return await _render_edit(
            request, member, campaign_id, status=400, values=values, settings_error=message
        )
    except DomainError as exc:
        return redirect_with_flash(request, here, "error", exc.message)
    return redirect_with_flash(request, here, "success", "Campaign updated.")


# ------------------------------------------------------------------------------- entries
def _entry_form_values(form: dict[str, str]) -> dict[str, Any]:
    return {k: _without_nul(form.get(k, "")) for k in ENTRY_FORM_FIELDS}


@router.post("/admin/campaigns/{campaign_id}/entries")
async def add_entry(request: Request, campaign_id: PathId, member: PageMember) -> Response:
    """Add an entry (draft only: checked before the fields, so any form gets that error)."""
    member, form = await gated_form(request, member)
    campaign = await _campaign_exists(request, campaign_id)
    here = _edit_url(campaign_id)
    if campaign.status != "draft":
        return redirect_with_flash(request, here, "error", campaign_service.NOT_DRAFT_ENTRIES)
    try:
        fields = _entry_fields(form, EntryCreate)
        async with transaction(request.app.state.sessionmaker) as db:
            await campaign_service.add_entry(db, campaign_id=campaign_id, fields=fields)
    except (FormError, ValidationError, Invalid) as exc:
        return await _render_edit(
            request,
            member,
            campaign_id,
            status=400,
            add_values=_entry_form_values(form),
            add_error=_form_error_message(exc),
        )
    except DomainError as exc:
        return redirect_with_flash(request, here, "error", exc.message)
    return redirect_with_flash(request, here, "success", "Entry added.")


@router.post("/admin/campaigns/{campaign_id}/entries/{entry_id}/edit")
async def edit_entry(
    request: Request, campaign_id: PathId, entry_id: PathId, member: PageMember
) -> Response:
    """Save an entry's fields (draft only: checked before the fields)."""
    member, form = await gated_form(request, member)
    campaign = await _campaign_exists(request, campaign_id)
    here = _edit_url(campaign_id)
    if campaign.status != "draft":
        return redirect_with_flash(request, here, "error", campaign_service.NOT_DRAFT_ENTRY_CHANGE)
    try:
        fields = _entry_fields(form, EntryUpdate)
        async with transaction(request.app.state.sessionmaker) as db:
            await campaign_service.update_entry(
                db, entry_id=entry_id, changes=fields, campaign_id=campaign_id
            )
    except (FormError, ValidationError, Invalid) as exc:
        return await _render_edit(
            request,
            member,
            campaign_id,
            status=400,
            edit_entry_id=entry_id,
            edit_values=_entry_form_values(form),
            edit_error=_form_error_message(exc),
        )
    except DomainError as exc:
        return redirect_with_flash(request, here, "error", exc.message)
    return redirect_with_flash(request, here, "success", "Entry updated.")


@router.post("/admin/campaigns/{campaign_id}/entries/{entry_id}/move")
async def move_entry(
    request: Request, campaign_id: PathId, entry_id: PathId, member: PageMember
) -> Response:
    """Move an entry up or down (`direction` = up | down)."""
    _, form = await gated_form(request, member)
    await _campaign_exists(request, campaign_id)

    async def work(db: AsyncSession) -> str:
        await campaign_service.move_entry(
            db, campaign_id=campaign_id, entry_id=entry_id, direction=form.get("direction", "")
        )
        return "Entry moved."

    return await write_and_redirect(request, _edit_url(campaign_id), work)


@router.post("/admin/campaigns/{campaign_id}/entries/{entry_id}/delete")
async def delete_entry(
    request: Request, campaign_id: PathId, entry_id: PathId, member: PageMember
) -> Response:
    """Remove an entry (draft only)."""
    await gated_form(request, member)
    await _campaign_exists(request, campaign_id)

    async def work(db: AsyncSession) -> str:
        await campaign_service.delete_entry(db, campaign_id=campaign_id, entry_id=entry_id)
        return "Entry removed."

    return await write_and_redirect(request, _edit_url(campaign_id), work)


# ------------------------------------------------------------------------------- actions
async def _action(
    request: Request, campaign_id: int, member: GuildMember | None, action: str
) -> Response:
    await gated_form(request, member)
    await _campaign_exists(request, campaign_id)
    transition, done = {
        "activate": (campaign_service.activate, "Campaign is now live!"),
        "close": (campaign_service.close, "Campaign closed. Results calculated."),
        "archive": (campaign_service.archive, "Campaign archived."),
    }[action]

    async def work(db: AsyncSession) -> str:
        await transition(db, campaign_id=campaign_id)
        return done

    return await write_and_redirect(request, _edit_url(campaign_id), work)


@router.post("/admin/campaigns/{campaign_id}/activate")
async def activate(request: Request, campaign_id: PathId, member: PageMember) -> Response:
    """draft → live now."""
    return await _action(request, campaign_id, member, "activate")


@router.post("/admin/campaigns/{campaign_id}/close")
async def close(request: Request, campaign_id: PathId, member: PageMember) -> Response:
    """live → closed, results calculated."""
    return await _action(request, campaign_id, member, "close")


@router.post("/admin/campaigns/{campaign_id}/archive")
async def archive(request: Request, campaign_id: PathId, member: PageMember) -> Response:
    """closed → archived."""
    return await _action(request, campaign_id, member, "archive")
