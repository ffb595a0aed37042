"""Identity API — `/api/identity/*`, Officer+ (401 anonymous, 403 lower ranks, CSRF for cookie
callers): people with their characters and accounts, orphans, mismatches, issues and links, and
the officer's link / confirm / unlink / resolve / reopen actions.

Every action writes through the same services as the officers' pages, in the request's one
transaction; the officer's name recorded on a link or issue comes from the session, never from
the body. A change of links requests the pipeline after the commit, so the issues it settles
are re-evaluated.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Query, Request
from fastapi.responses import Response

from patt.core.envelope import Envelope, ok
from patt.core.fields import IdPath
from patt.deps import DB, Officer
from patt.identity.schemas import (
    ConfirmBody,
    DiscordOrphans,
    IssueRead,
    IssuesPage,
    IssueStatus,
    LinkBody,
    LinkRead,
    LinkResult,
    LinksPage,
    Mismatches,
    PersonsPage,
    Removed,
    ResolveBody,
    WowOrphans,
)
from sv_common.db.enums import IssueType, LinkSource
from sv_common.identity import links, views
from sv_common.identity.integrity import issues

router = APIRouter(prefix="/api/identity", tags=["identity"])

QText = Annotated[str | None, Query(max_length=100)]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


def _rematch_later(request: Request, background: BackgroundTasks) -> None:
    """After the commit, ask for a pipeline run (issues settled by the change close)."""
    pipeline = request.app.state.guild_sync.pipeline

    # An async task runs on the event loop; a plain function would run in a worker thread,
    # where `request()` cannot start the pipeline task (no running loop there).
    async def request_pipeline() -> None:
        pipeline.request("manual link change")

    background.add_task(request_pipeline)


@router.get("/persons", response_model=Envelope[PersonsPage])
async def persons(
    member: Officer,
    db: DB,
    q: QText = None,
    include_removed: bool = False,
    limit: Limit = 200,
    offset: Offset = 0,
) -> Response:
    """Members with characters, accounts and why each is linked (searchable)."""
    data = await views.list_persons(
        db, q=q or None, include_removed=include_removed, limit=limit, offset=offset
    )
    return ok(data)


@router.get("/orphans/wow", response_model=Envelope[WowOrphans])
async def wow_orphans(member: Officer, db: DB) -> Response:
    """Unlinked in-guild characters with suggested matches."""
    return ok(await views.list_wow_orphans(db))


@router.get("/orphans/discord", response_model=Envelope[DiscordOrphans])
async def discord_orphans(member: Officer, db: DB) -> Response:
    """Discord accounts with a guild role but no character in the guild."""
    return ok(await views.list_discord_orphans(db))


@router.get("/mismatches", response_model=Envelope[Mismatches])
async def mismatches(member: Officer, db: DB) -> Response:
    """Open rank mismatches between the game and Discord, critical first."""
    return ok(await views.list_mismatches(db))


@router.get("/issues", response_model=Envelope[IssuesPage])
async def list_issues(
    member: Officer,
    db: DB,
    type: Annotated[IssueType | None, Query()] = None,
    status: Annotated[IssueStatus, Query()] = "open",
    limit: Limit = 100,
    offset: Offset = 0,
) -> Response:
    """Audit issues, newest first."""
    return ok(
        await views.list_issues(db, issue_type=type, status=status, limit=limit, offset=offset)
    )


@router.get("/links", response_model=Envelope[LinksPage])
async def list_links(
    member: Officer,
    db: DB,
    confirmed: bool | None = None,
    source: Annotated[LinkSource | None, Query()] = None,
    member_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    limit: Limit = 200,
    offset: Offset = 0,
) -> Response:
    """Links, e.g. the review queue (`confirmed=false`)."""
    return ok(
        await views.list_links(
            db,
            confirmed=confirmed,
            source=source,
            member_id=member_id,
            limit=limit,
            offset=offset,
        )
    )


@router.post("/link", response_model=Envelope[LinkResult])
async def link(
    request: Request, body: LinkBody, officer: Officer, db: DB, background: BackgroundTasks
) -> Response:
    """Link a character and/or an account to a member by hand."""
    result = await links.link_manually(
        db,
        officer=officer,
        character_id=body.character_id,
        discord_member_id=body.discord_member_id,
        member_id=body.member_id,
        move=body.move,
    )
    _rematch_later(request, background)
    return ok(result)


@router.post("/confirm", response_model=Envelope[LinkRead])
async def confirm(body: ConfirmBody, officer: Officer, db: DB) -> Response:
    """Confirm an automatic link."""
    return ok(await links.confirm_link(db, link_id=body.link_id, officer=officer))


@router.delete("/link/{link_id}", response_model=Envelope[Removed])
async def unlink(
    request: Request, link_id: IdPath, officer: Officer, db: DB, background: BackgroundTasks
) -> Response:
    """Remove a link; the pair is remembered as rejected and never re-created."""
    result = await links.remove_link(db, link_id=link_id, officer=officer)
    _rematch_later(request, background)
    return ok(result)


@router.post("/issues/{issue_id}/resolve", response_model=Envelope[IssueRead])
async def resolve(
    issue_id: IdPath, officer: Officer, db: DB, body: ResolveBody | None = None
) -> Response:
    """Resolve an issue with a note; `ignore` keeps it from coming back."""
    body = body or ResolveBody()
    return ok(
        await issues.resolve_issue(
            db,
            issue_id=issue_id,
            officer_name=officer.display_name,
            note=body.note,
            ignore=body.ignore,
        )
    )


@router.post("/issues/{issue_id}/reopen", response_model=Envelope[IssueRead])
async def reopen(issue_id: IdPath, officer: Officer, db: DB) -> Response:
    """Lift an ignore: the next check re-evaluates the problem."""
    return ok(await issues.reopen_issue(db, issue_id=issue_id))
