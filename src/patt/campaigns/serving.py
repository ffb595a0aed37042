"""Serving campaign reads fast: the campaign list, the results endpoint (live standings and final
results) and the public page of a closed campaign, kept per process as finished response bytes.

Every cached answer is validated against the database on each use by ONE cheap statement that
reads what the answer was built from, so any write by any process (another worker, the CLI, raw
SQL) is seen by the very next request everywhere, and no invalidation messages are needed:

- the campaign list: a fingerprint of the campaigns and entries tables (row count and sum of row
  versions, `core.caches.fingerprint_sql`) and, in the same statement, whether an automatic
  transition is due (then it is applied first, as before);
- one campaign: its row version (`xmin`: every update of the row, e.g. a status change or the
  audit snapshot, gives a new one), its entries (row versions plus the associated members'
  display names, which results show), its ballot set while live (ballot count and newest ballot
  id: ballots are insert-only and a changed vote takes a new id) and its stored final results
  once closed. The cost depends on the number of entries, never on the number of ballots cast
  after close; a live campaign pays one index scan of its ballots.

A closed campaign's page shows only what was stored at close (final results, the turnout of the
audit snapshot, `closed_turnout`), so its version needs nothing about members or ranks.

A request costs ONE statement in all while its answer is cached: for a signed-in caller the
campaign's columns ride on the token lookup (`read_with_viewer`: a LEFT JOIN LATERAL after the
principal's tables), and the statement runs on a pooled connection in autocommit mode without
the pool's checkout check, retried once on a fresh connection if the pooled one had died
(`sv_common.db.engine.read_retrying`). The routes take no request-wide session: one is opened
only to rebuild an answer.

The version is read before an answer is built, so a cached answer is never older than the state
its version describes; a write racing a rebuild costs at most one extra rebuild. Visibility rules
run on every request from the freshly read row, never from the cache: the cache only holds what
an allowed viewer sees, and who may see it is decided anew each time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Row, TextClause, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from patt.campaigns import audit, checker, results, rules, service
from patt.campaigns.schemas import CampaignRead
from patt.core.caches import ProcessCaches, fingerprint_sql
from patt.core.envelope import NO_STORE, ok
from patt.core.render import FLASH_COOKIE, csrf_token_for, finish_page_response
from patt.deps import authenticate_lookup
from sv_common import clock
from sv_common.auth.sessions import Principal
from sv_common.db.engine import read_retrying
from sv_common.db.models import Ballot, Campaign
from sv_common.errors import Forbidden, NotFound, Unauthorized

NOT_FOUND = "Campaign not found"
CLOSED_STATUSES = ("closed", "archived")
# Campaigns kept per cache; beyond it the cache starts over (campaigns are few, this only
# bounds memory should ids be probed).
CACHE_SIZE = 64

# What the visibility rules need, whether the viewer has a ballot, and the campaign's version
# (see the module docstring), as a select over `c` with `{voted}` filled in. CASE evaluates its
# sub-selects only for the statuses that need them, so a closed campaign never scans its ballots.
STATE_SELECT = """
SELECT c.status AS cs_status, c.min_rank_to_view AS cs_min_rank, c.created_at AS cs_created_at,
       c.xmin::text AS cs_row_version,
       CASE WHEN c.status NOT IN ('closed', 'archived') THEN (
           SELECT count(*) || ':' || coalesce(max(b.id), 0)
           FROM patt.ballots b WHERE b.campaign_id = c.id
       ) END AS cs_ballot_set,
       (
           SELECT count(*) || ':' || coalesce(sum(e.xmin::text::bigint), 0) || ':'
                  || md5(coalesce(string_agg(m.display_name, '/' ORDER BY e.id), ''))
           FROM patt.campaign_entries e
           LEFT JOIN common.guild_members m ON m.id = e.associated_member_id
           WHERE e.campaign_id = c.id
       ) AS cs_entry_set,
       CASE WHEN c.status IN ('closed', 'archived') THEN (
           SELECT count(*) || ':' || coalesce(sum(r.xmin::text::bigint), 0)
           FROM patt.campaign_results r WHERE r.campaign_id = c.id
       ) END AS cs_stored_set,
       {voted} AS cs_voted
FROM patt.campaigns c
WHERE c.id = :campaign_id
"""
STATE_NAMES = (
    "cs_status",
    "cs_min_rank",
    "cs_created_at",
    "cs_row_version",
    "cs_ballot_set",
    "cs_entry_set",
    "cs_stored_set",
    "cs_voted",
)
# An anonymous visitor: the state alone.
ANONYMOUS_STATE = text(STATE_SELECT.format(voted="false"))
# A signed-in viewer: the state rides on the token lookup (`authenticate_lookup`), so the
# request costs one statement in all; the LEFT JOIN keeps the viewer's row when the campaign
# does not exist (then every state column is NULL).
VIEWER_STATE_JOIN = (
    "LEFT JOIN LATERAL ("
    + STATE_SELECT.format(
        voted="EXISTS (SELECT 1 FROM patt.ballots b"
        " WHERE b.campaign_id = c.id AND b.member_id = m.id)"
    )
    + ") cs ON true"
)
VIEWER_STATE_COLUMNS = ", ".join(f"cs.{name}" for name in STATE_NAMES)

# The campaign list's version plus "is an automatic transition due" (the rule of
# `checker.reconcile_due`), as select-list columns.
LIST_STATE_COLUMNS = (
    "("
    + fingerprint_sql(["patt.campaigns", "patt.campaign_entries"])
    + """) AS list_fingerprint,
    EXISTS (
        SELECT 1 FROM patt.campaigns c
        WHERE (c.status = 'draft' AND c.start_at <= :now
               AND c.start_at + make_interval(hours => c.duration_hours) > :now)
           OR (c.status = 'live'
               AND c.start_at + make_interval(hours => c.duration_hours) <= :now)
    ) AS list_due"""
)
ANONYMOUS_LIST_STATE = text("SELECT " + LIST_STATE_COLUMNS)


@dataclass(frozen=True)
class CampaignState:
    """One campaign as the read paths need it, read in one statement."""

    id: int
    status: str
    min_rank_to_view: int | None
    voted: bool
    version: tuple[Any, ...]

    @property
    def closed(self) -> bool:
        """Closed or archived: results are final."""
        return self.status in CLOSED_STATUSES


def state_of(campaign_id: int, fields: Mapping[Any, Any] | None) -> CampaignState | None:
    """The state from the `cs_*` columns of either statement (None: no such campaign)."""
    if fields is None or fields["cs_status"] is None:
        return None
    return CampaignState(
        id=campaign_id,
        status=fields["cs_status"],
        min_rank_to_view=fields["cs_min_rank"],
        voted=bool(fields["cs_voted"]),
        version=(
            fields["cs_status"],
            fields["cs_created_at"],  # tells a recreated campaign with a reused id apart
            fields["cs_row_version"],
            fields["cs_ballot_set"],
            fields["cs_entry_set"],
            fields["cs_stored_set"],
        ),
    )


async def read_with_viewer(
    request: Request, *, columns: str, joins: str, anonymous: TextClause, params: dict[str, Any]
) -> tuple[Principal | None, Mapping[Any, Any] | None]:
    """Who is asking (bad credentials: 401, as everywhere) and the route's own state,
    in ONE statement on a pooled connection of its own (`read_retrying`): the state's
    `columns` and `joins` ride on the token lookup, or `anonymous` runs alone when no
    credentials were sent."""

    async def read(
        connection: AsyncConnection,
    ) -> tuple[Principal | None, Mapping[Any, Any] | None]:
        lookup = await authenticate_lookup(
            request, connection, extra_columns=columns, extra_joins=joins, params=params
        )
        if lookup is not None:
            return lookup.principal, lookup.extras
        row = (await connection.execute(anonymous, params)).one_or_none()
        return None, (row._mapping if row is not None else None)

    viewer, fields = await read_retrying(request.app.state.engine, read)
    request.state.member = viewer
    return viewer, fields


async def anonymous_state(request: Request, campaign_id: int) -> CampaignState | None:
    """The campaign's state for an anonymous visitor, in one statement."""

    async def read(connection: AsyncConnection) -> Row[Any] | None:
        return (
            await connection.execute(ANONYMOUS_STATE, {"campaign_id": campaign_id})
        ).one_or_none()

    row = await read_retrying(request.app.state.engine, read)
    return state_of(campaign_id, row._mapping if row is not None else None)


def can_view(state: CampaignState, viewer: rules.Viewer | None) -> bool:
    """The view rule of `rules.can_view`, applied to the freshly read row."""
    level = rules.viewer_level(viewer)
    return state.min_rank_to_view is None or level >= state.min_rank_to_view


class VersionedCache:
    """Bytes per campaign id, each valid for one campaign version only."""

    def __init__(self) -> None:
        self._items: dict[Any, tuple[tuple[Any, ...], bytes]] = {}

    def get(self, key: Any, version: tuple[Any, ...]) -> bytes | None:
        """The bytes stored for `key` at exactly this version, else None."""
        item = self._items.get(key)
        return item[1] if item is not None and item[0] == version else None

    def put(self, key: Any, version: tuple[Any, ...], body: bytes) -> None:
        """Keep `body` for `key` at `version` (replacing any older one)."""
        if len(self._items) >= CACHE_SIZE and key not in self._items:
            self._items.clear()
        self._items[key] = (version, body)


def _cache(request: Request, name: str) -> VersionedCache:
    caches: ProcessCaches = request.app.state.caches
    return caches.slot(f"campaign_serving_{name}", VersionedCache)


def _json(body: bytes) -> Response:
    return Response(body, media_type="application/json", headers=NO_STORE)


# ---------------------------------------------------------------------------------- results
async def results_response(request: Request, campaign_id: int) -> Response:
    """`GET /api/v1/campaigns/{id}/results`: final results with the close-time `audit` beside
    `data`, or live standings for members who voted (`audit` null). 404 / 401 / 403 exactly as
    the rules say, checked on every request before the cache is consulted. The caller and the
    campaign's state are read in one statement; the database is read again only to rebuild."""
    viewer, fields = await read_with_viewer(
        request,
        columns=VIEWER_STATE_COLUMNS,
        joins=VIEWER_STATE_JOIN,
        anonymous=ANONYMOUS_STATE,
        params={"campaign_id": campaign_id},
    )
    state = state_of(campaign_id, fields)
    if state is None:
        raise NotFound(NOT_FOUND)
    if not can_view(state, viewer):
        if viewer is None:
            raise Unauthorized("Login required to view this campaign")
        raise Forbidden("Insufficient rank to view this campaign")
    if not state.closed:
        if viewer is None or state.status == "draft":
            raise Forbidden("Results not yet available")
        if not state.voted:
            raise Forbidden("Vote to see live standings")
    cache = _cache(request, "results")
    body = cache.get(campaign_id, state.version)
    if body is None:
        async with request.app.state.sessionmaker() as session:
            campaign = await service.get_campaign(
                session, campaign_id, message=NOT_FOUND, with_entries=False
            )
            rows = await results.get_results(session, campaign)
            body = bytes(ok(rows, beside={"audit": audit.audit_of(campaign)}).body)
            await session.commit()  # results computed at close may have been stored just now
        # (a closed campaign whose final results were only now stored gets a new version from
        # that write, so the next request rebuilds once more and then the answer stays put)
        cache.put(campaign_id, state.version, body)
    return _json(body)


# ---------------------------------------------------------------------------- campaign list
@dataclass(frozen=True)
class _ListedCampaign:
    status: str
    min_rank_to_view: int | None
    with_entries: bytes
    without_entries: bytes


@dataclass
class _ListCache:
    fingerprint: str | None = None
    campaigns: list[_ListedCampaign] | None = None


def _list_state(fields: Mapping[Any, Any] | None) -> tuple[str, bool]:
    if fields is None:  # an aggregate answers one row; kept for the type checker
        raise RuntimeError("campaign list state returned no row")
    return str(fields["list_fingerprint"]), bool(fields["list_due"])


async def _listed(session: AsyncSession) -> list[_ListedCampaign]:
    listed = []
    for campaign in await service.list_campaigns(session):
        with_entries = CampaignRead.of(campaign)
        without_entries = with_entries.model_copy(update={"entries": []})
        listed.append(
            _ListedCampaign(
                status=campaign.status,
                min_rank_to_view=campaign.min_rank_to_view,
                with_entries=with_entries.model_dump_json(by_alias=True).encode(),
                without_entries=without_entries.model_dump_json(by_alias=True).encode(),
            )
        )
    return listed


async def campaign_list_response(request: Request, *, status: str | None) -> Response:
    """`GET /api/v1/campaigns`: the campaigns the viewer can view (archived only when asked
    for by status), drafts without entries for non-officers. Applies due automatic transitions
    first, like `checker.reconcile_due`. The caller and the list's version are read in one
    statement; the database is read again only when a transition is due or to rebuild."""
    now = clock.now()

    async def read() -> tuple[Principal | None, Mapping[Any, Any] | None]:
        return await read_with_viewer(
            request,
            columns=LIST_STATE_COLUMNS,
            joins="",
            anonymous=ANONYMOUS_LIST_STATE,
            params={"now": now},
        )

    viewer, fields = await read()
    fingerprint, due = _list_state(fields)
    if due:
        await checker.reconcile_due(request.app.state.sessionmaker, now=now)
        viewer, fields = await read()
        fingerprint, _ = _list_state(fields)
    caches: ProcessCaches = request.app.state.caches
    cache: _ListCache = caches.slot("campaign_serving_list", _ListCache)
    campaigns = cache.campaigns
    if campaigns is None or cache.fingerprint != fingerprint:
        async with request.app.state.sessionmaker() as session:
            campaigns = await _listed(session)
        cache.fingerprint, cache.campaigns = fingerprint, campaigns
    level = rules.viewer_level(viewer)
    officer = level >= request.app.state.settings.admin_rank_level
    parts = [
        c.with_entries if officer or c.status != "draft" else c.without_entries
        for c in campaigns
        if (c.status == status if status is not None else c.status != "archived")
        and (c.min_rank_to_view is None or level >= c.min_rank_to_view)
    ]
    return _json(b'{"ok":true,"data":[' + b",".join(parts) + b"]}")


# ------------------------------------------------------------------------- closed vote page
PageBuilder = Callable[[], Awaitable[Response]]


async def public_closed_page(
    request: Request, campaign_id: int, build: PageBuilder
) -> Response | None:
    """The page of a closed campaign as an anonymous visitor without a pending flash sees it:
    served from bytes rendered once per campaign version. None when the request is not such a
    visit (signed in, flash pending, campaign not closed or not public) — the caller renders
    the page as usual."""
    if FLASH_COOKIE in request.cookies:
        return None
    state = await anonymous_state(request, campaign_id)
    if state is None or not state.closed or state.min_rank_to_view is not None:
        return None
    version = state.version
    cache = _cache(request, "closed_page")
    body = cache.get(campaign_id, version)
    if body is None:
        response = await build()
        if response.status_code != 200:
            return response
        body = bytes(response.body)
        cache.put(campaign_id, version, body)
    csrf_token_for(request)  # a new visitor gets the CSRF cookie, as every page hands out
    return finish_page_response(request, HTMLResponse(body))


async def closed_turnout(session: AsyncSession, campaign: Campaign) -> dict[str, Any] | None:
    """Turnout of a closed campaign as the page shows it, from what was stored at close: the
    close-time snapshot, or for a campaign closed before snapshots existed the ballots alone
    (`total_eligible` None: who was eligible then was not recorded). None while not closed."""
    if campaign.status not in CLOSED_STATUSES:
        return None
    if campaign.ballot_digest is None:
        ballots = await session.scalar(
            select(func.count(Ballot.id)).where(Ballot.campaign_id == campaign.id)
        )
        return {"total_voted": int(ballots or 0), "total_eligible": None, "percent_voted": None}
    eligible = campaign.eligible_count_at_close or 0
    voted = campaign.ballot_count_at_close or 0
    return {
        "total_voted": voted,
        "total_eligible": eligible,
        "percent_voted": round(100 * min(voted, eligible) / eligible, 1) if eligible else 0.0,
    }
