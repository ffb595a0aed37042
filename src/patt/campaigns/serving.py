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

The version is read before an answer is built, so a cached answer is never older than the state
its version describes; a write racing a rebuild costs at most one extra rebuild. Visibility rules
run on every request from the freshly read row, never from the cache: the cache only holds what
an allowed viewer sees, and who may see it is decided anew each time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Row, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from patt.campaigns import audit, checker, results, rules, service
from patt.campaigns.schemas import CampaignRead
from patt.core.caches import caches_of, fingerprint_sql
from patt.core.envelope import NO_STORE, ok
from patt.core.render import FLASH_COOKIE, csrf_token_for, finish_page_response
from sv_common import clock
from sv_common.db.models import Ballot, Campaign
from sv_common.errors import Forbidden, NotFound, Unauthorized

NOT_FOUND = "Campaign not found"
CLOSED_STATUSES = ("closed", "archived")
# Campaigns kept per cache; beyond it the cache starts over (campaigns are few, this only
# bounds memory should ids be probed).
CACHE_SIZE = 64

# One statement per campaign request: what the visibility rules need, whether the viewer has a
# ballot, and the campaign's version (see the module docstring). CASE evaluates its sub-selects
# only for the statuses that need them, so a closed campaign never scans its ballots.
STATE_SQL = """
SELECT c.status, c.min_rank_to_view, c.created_at, c.xmin::text AS row_version,
       CASE WHEN c.status NOT IN ('closed', 'archived') THEN (
           SELECT count(*) || ':' || coalesce(max(b.id), 0)
           FROM patt.ballots b WHERE b.campaign_id = c.id
       ) END AS ballot_set,
       (
           SELECT count(*) || ':' || coalesce(sum(e.xmin::text::bigint), 0) || ':'
                  || md5(coalesce(string_agg(m.display_name, '/' ORDER BY e.id), ''))
           FROM patt.campaign_entries e
           LEFT JOIN common.guild_members m ON m.id = e.associated_member_id
           WHERE e.campaign_id = c.id
       ) AS entry_set,
       CASE WHEN c.status IN ('closed', 'archived') THEN (
           SELECT count(*) || ':' || coalesce(sum(r.xmin::text::bigint), 0)
           FROM patt.campaign_results r WHERE r.campaign_id = c.id
       ) END AS stored_set,
       CASE WHEN CAST(:member_id AS integer) IS NULL THEN false ELSE EXISTS (
           SELECT 1 FROM patt.ballots b
           WHERE b.campaign_id = c.id AND b.member_id = CAST(:member_id AS integer)
       ) END AS voted
FROM patt.campaigns c
WHERE c.id = :campaign_id
"""

# The campaign list's version plus "is an automatic transition due" (the rule of
# `checker.reconcile_due`), in one statement.
LIST_STATE_SQL = (
    "SELECT ("
    + fingerprint_sql(["patt.campaigns", "patt.campaign_entries"])
    + """) AS fingerprint,
    EXISTS (
        SELECT 1 FROM patt.campaigns c
        WHERE (c.status = 'draft' AND c.start_at <= :now
               AND c.start_at + make_interval(hours => c.duration_hours) > :now)
           OR (c.status = 'live'
               AND c.start_at + make_interval(hours => c.duration_hours) <= :now)
    ) AS due
"""
)


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


async def fetch_row(
    session: AsyncSession, sql: str, params: dict[str, Any], *, alone: bool
) -> Row[Any] | None:
    """One row of a read-only statement. `alone`: the session has not been used yet, so the
    statement runs on a pooled connection in autocommit mode (no BEGIN / COMMIT round trips);
    otherwise in the session's transaction, on the connection it already holds."""
    bind = session.bind
    if alone and isinstance(bind, AsyncEngine):
        async with bind.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            return (await autocommit.execute(text(sql), params)).one_or_none()
    return (await session.execute(text(sql), params)).one_or_none()


async def campaign_state(
    session: AsyncSession, campaign_id: int, *, member_id: int | None = None, alone: bool = False
) -> CampaignState | None:
    """The campaign's status, view rank, the member's ballot and its version (None: no such
    campaign); `alone` as in `fetch_row`."""
    row = await fetch_row(
        session, STATE_SQL, {"campaign_id": campaign_id, "member_id": member_id}, alone=alone
    )
    if row is None:
        return None
    return CampaignState(
        id=campaign_id,
        status=row.status,
        min_rank_to_view=row.min_rank_to_view,
        voted=bool(row.voted),
        version=(
            row.status,
            row.created_at,  # tells a recreated campaign with a reused id apart
            row.row_version,
            row.ballot_set,
            row.entry_set,
            row.stored_set,
        ),
    )


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


def _cache(session: AsyncSession, name: str) -> VersionedCache:
    return caches_of(session).slot(f"campaign_serving_{name}", VersionedCache)


def _json(body: bytes) -> Response:
    return Response(body, media_type="application/json", headers=NO_STORE)


# ---------------------------------------------------------------------------------- results
async def results_response(
    session: AsyncSession, campaign_id: int, viewer: rules.Viewer | None
) -> Response:
    """`GET /api/v1/campaigns/{id}/results`: final results with the close-time `audit` beside
    `data`, or live standings for members who voted (`audit` null). 404 / 401 / 403 exactly as
    the rules say, checked on every request before the cache is consulted."""
    # the viewer was read on its own connection, so the session is usually still unused
    state = await campaign_state(
        session,
        campaign_id,
        member_id=viewer.id if viewer is not None else None,
        alone=not session.in_transaction(),
    )
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
    cache = _cache(session, "results")
    body = cache.get(campaign_id, state.version)
    if body is None:
        campaign = await service.get_campaign(
            session, campaign_id, message=NOT_FOUND, with_entries=False
        )
        rows = await results.get_results(session, campaign)
        body = bytes(ok(rows, beside={"audit": audit.audit_of(campaign)}).body)
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


async def _list_state(session: AsyncSession, now: datetime, *, alone: bool) -> tuple[str, bool]:
    row = await fetch_row(session, LIST_STATE_SQL, {"now": now}, alone=alone)
    if row is None:  # an aggregate answers one row; kept for the type checker
        raise RuntimeError("campaign list state returned no row")
    return str(row.fingerprint), bool(row.due)


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


async def campaign_list_response(
    request: Request,
    session: AsyncSession,
    *,
    viewer: rules.Viewer | None,
    officer: bool,
    status: str | None,
) -> Response:
    """`GET /api/v1/campaigns`: the campaigns the viewer can view (archived only when asked
    for by status), drafts without entries for non-officers. Applies due automatic transitions
    first, like `checker.reconcile_due`."""
    now = clock.now()
    alone = not session.in_transaction()  # as in `results_response`
    fingerprint, due = await _list_state(session, now, alone=alone)
    if due:
        await checker.reconcile_due(request.app.state.sessionmaker, now=now)
        fingerprint, _ = await _list_state(session, now, alone=alone)
    cache: _ListCache = caches_of(session).slot("campaign_serving_list", _ListCache)
    campaigns = cache.campaigns
    if campaigns is None or cache.fingerprint != fingerprint:
        campaigns = await _listed(session)
        cache.fingerprint, cache.campaigns = fingerprint, campaigns
    level = rules.viewer_level(viewer)
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
    async with request.app.state.sessionmaker() as session:
        state = await campaign_state(session, campaign_id, alone=True)
        if state is None or not state.closed or state.min_rank_to_view is not None:
            return None
        version = state.version
        cache = _cache(session, "closed_page")
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
