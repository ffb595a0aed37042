"""Guild-tool JSON endpoints of the roster pages (60 §9.1–§9.5): `roster-data`, `roster-submit`
(the sheet-style `{"success": …}` envelope) and `availability` (platform envelope).

Thin routes; the rules live in `patt.roster.signup` and `patt.roster.availability`.

Choices where the spec is silent:
- On the two public endpoints a stale or invalid login cookie counts as anonymous (a visitor
  whose session expired can still sign up); an invalid bearer token is still 401.
- Every `roster-submit` request that passes the CSRF check counts against the hourly limit,
  whether or not it succeeds; officers are exempt. The 429 body also carries `retryAfter`.
- `POST`, `PUT`, `PATCH` and `DELETE` on `roster-data` all answer 405 "Not supported".
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute

from patt.core.envelope import NO_STORE, Envelope, raw_ok, sheet_error_body
from patt.core.netutil import client_ip
from patt.core.schemas import read_json_object
from patt.deps import (
    DB,
    CurrentMember,
    ReadDB,
    bearer_token,
    get_optional_member,
    get_optional_principal,
    public_write_csrf,
)
from patt.roster import availability
from patt.roster import signup as roster_signup
from patt.roster.schemas import (
    AvailabilityUpdated,
    RosterData,
    SheetError,
    SubmitResult,
    WeekEntry,
)
from sv_common.auth.sessions import Principal
from sv_common.db.models import GuildMember
from sv_common.errors import DomainError, TooManyRequests, Unauthorized


def sheet_error(exc: DomainError) -> JSONResponse:
    """`{"success": false, "error", "fields"?}` with the error's status and headers."""
    body = sheet_error_body(
        exc.message,
        fields=getattr(exc, "fields", None),
        retry_after=exc.retry_after if isinstance(exc, TooManyRequests) else None,
    )
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


class SheetStyleError(Exception):
    """A domain error on a sheet-style route, re-raised so the request still rolls back."""

    def __init__(self, error: DomainError) -> None:
        super().__init__(error.message)
        self.error = error


class SheetStyleRoute(APIRoute):
    """Routes whose domain errors (from dependencies too) answer in the sheet-style envelope.

    The error is re-raised as SheetStyleError rather than answered here, so it still passes
    through the request's DB session, which rolls back: a failed request writes nothing.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def sheet_style_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except DomainError as exc:
                raise SheetStyleError(exc) from exc

        return sheet_style_handler


async def _sheet_style_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SheetStyleError)
    return sheet_error(exc.error)


sheet_router = APIRouter(prefix="/api/v1/guild", tags=["guild-tools"], route_class=SheetStyleRoute)
router = APIRouter(prefix="/api/v1/guild", tags=["guild-tools"])


async def public_viewer(request: Request, db: DB) -> GuildMember | None:
    """The logged-in member, or None; a bad cookie is treated as no login (bad bearer → 401)."""
    try:
        return await get_optional_member(request, db)
    except Unauthorized:
        if bearer_token(request) is not None:
            raise
        return None


async def public_principal(request: Request, connection: ReadDB) -> Principal | None:
    """`public_viewer` for read-only routes: the principal, or None for a bad cookie."""
    try:
        return await get_optional_principal(request, connection)
    except Unauthorized:
        if bearer_token(request) is not None:
            raise
        return None


def is_officer(request: Request, member: GuildMember | Principal | None) -> bool:
    """Officer+ by the member's current rank level."""
    return member is not None and member.rank.level >= request.app.state.settings.admin_rank_level


async def json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object; 400 when it is empty, malformed or not an object."""
    return read_json_object(await request.body())


async def check_submit_rate(request: Request) -> None:
    """30 sign-ups per client IP per hour (20 §8); 429 with Retry-After when exceeded."""
    throttle = request.app.state.throttles["roster_submit_ip"]
    wait = await throttle.take(client_ip(request))  # checked and counted in one step
    if wait:
        minutes = max(1, (wait + 59) // 60)
        raise TooManyRequests(
            f"Too many roster submissions from your connection. Try again in {minutes} minutes.",
            retry_after=wait,
        )


# ----------------------------------------------------------------------- sheet-style
@sheet_router.get("/roster-data", response_model=RosterData)
async def roster_data(request: Request, connection: ReadDB) -> Response:
    """The raid roster: availability, characters; Discord IDs and issues for officers only.
    Read on one connection: the viewer (when signed in), the tables' fingerprint, and the
    roster only when it changed."""
    viewer = await public_principal(request, connection)
    cache = availability.roster_cache(request.app.state.caches)
    roster = await cache.roster(connection)
    if is_officer(request, viewer):
        extras = await cache.officer_extras(connection)
    else:
        extras = {"discordIds": {}, "validationIssues": []}
    # The arrays arrive as JSON text from PostgreSQL and are spliced in unparsed.
    body = (
        f'{{"success": true, "availability": {roster.availability}, '
        f'"characters": {roster.characters}, "discordIds": {json.dumps(extras["discordIds"])}, '
        f'"validationIssues": {json.dumps(extras["validationIssues"])}}}'
    )
    return Response(body, media_type="application/json", headers=NO_STORE)


async def roster_data_write() -> JSONResponse:
    """Old clients wrote to the sheet here; the platform does not accept it."""
    return JSONResponse({"success": False, "error": "Not supported"}, status_code=405)


for _method in ("POST", "PUT", "PATCH", "DELETE"):  # one route each: distinct operation ids
    sheet_router.add_api_route(
        "/roster-data",
        roster_data_write,
        methods=[_method],
        response_model=SheetError,
        operation_id=f"roster_data_write_{_method.lower()}",
    )


@sheet_router.post(
    "/roster-submit",
    dependencies=[Depends(public_write_csrf)],
    response_model=SubmitResult,
    responses={400: {"model": SheetError}, 422: {"model": SheetError}, 429: {"model": SheetError}},
)
async def roster_submit(request: Request, db: DB) -> JSONResponse:
    """Join or update the raid roster: member, one character, the week (one transaction)."""
    viewer = await public_viewer(request, db)
    officer = is_officer(request, viewer)
    if not officer:
        await check_submit_rate(request)
    submission = roster_signup.validate_submission(await json_object(request))
    settings = request.app.state.settings
    result = await roster_signup.submit(
        db,
        submission=submission,
        viewer=viewer,
        officer=officer,
        home_realm_name=settings.patt_guild_realm_name,
        home_realm_slug=settings.patt_guild_realm_slug,
        region=settings.blizzard_region,
    )
    return JSONResponse(
        {
            "success": True,
            "message": "Roster entry saved.",
            "created": {"member": result.member_created, "character": result.character_created},
        }
    )


# -------------------------------------------------------------------- platform-style
@router.get("/availability", response_model=Envelope[list[WeekEntry]])
async def list_availability(request: Request, db: DB) -> Response:
    """Every raid-roster member's week, in roster order."""
    roster = await availability.roster_cache(request.app.state.caches).roster(db)
    return raw_ok(roster.availability)


@router.post("/availability", response_model=AvailabilityUpdated)
async def update_availability(request: Request, member: CurrentMember, db: DB) -> JSONResponse:
    """A member updates their own week (officers: anyone's) without touching characters."""
    entry = await availability.update_member_availability(
        db,
        actor=member,
        officer=is_officer(request, member),
        raw=await json_object(request),
    )
    return JSONResponse({"ok": True, "message": "Availability updated.", "data": entry})


def install(app: FastAPI) -> None:
    """Register the guild-tool API routers, the sheet-style error answer and the roster cache."""
    app.add_exception_handler(SheetStyleError, _sheet_style_error)
    app.include_router(sheet_router)
    app.include_router(router)
