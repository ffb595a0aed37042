"""Public guild data under /api/v1/guild (30 §5): the rank list and the roster with mains.

The roster is one SQL query whatever the guild's size: members joined to their rank and to their
main character (one DISTINCT ON pass over the characters, so the plan stays linear even before
the table has statistics), aggregated into the response JSON by PostgreSQL. The document is cached per process and
rebuilt whenever the members, characters or ranks tables change (patt.core.caches). Should a member have several non-removed mains
(imported data can), the one with the lowest id is shown.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from patt.core.caches import FingerprintCache
from patt.core.envelope import Envelope, ok
from patt.deps import DB
from patt.members.schemas import PublicRank, PublicRoster
from sv_common.identity import ranks as rank_service

router = APIRouter(prefix="/api/v1/guild", tags=["guild"])


@router.get("/ranks", response_model=Envelope[list[PublicRank]])
async def public_ranks(db: DB) -> Response:
    """Ranks ordered by level: id, name, level, description."""
    ranks = await rank_service.list_ranks(db)
    return ok([PublicRank.model_validate(r) for r in ranks], headers=None)


# The whole response document is built by PostgreSQL in one statement: no per-member queries and
# no Python-side row handling, so the endpoint costs about as much as the health check.
ROSTER_SQL = """
SELECT json_build_object('ok', true, 'data', json_build_object('members', coalesce(json_agg(
         json_build_object(
           'display_name', m.display_name,
           'rank', r.name,
           'main_character', CASE WHEN c.name IS NULL THEN NULL ELSE json_build_object(
             'name', c.name, 'realm', c.realm, 'class', c.class, 'spec', c.spec,
             'role', c.role, 'armory_url', c.armory_url) END)
         ORDER BY lower(m.display_name), m.id), '[]'::json)))::text
FROM common.guild_members m
JOIN common.guild_ranks r ON r.id = m.rank_id
LEFT JOIN (
  SELECT DISTINCT ON (ch.member_id) ch.member_id, ch.name,
         coalesce(ch.realm_name, ch.realm_slug) AS realm, ch.class, ch.spec, ch.role, ch.armory_url
  FROM common.characters ch
  WHERE ch.member_id IS NOT NULL AND ch.main_alt = 'main' AND ch.removed_at IS NULL
  ORDER BY ch.member_id, ch.id
) c ON c.member_id = m.id
"""


ROSTER_TABLES = ["common.guild_members", "common.characters", "common.guild_ranks"]


async def _build_roster(connection: Any) -> str:
    return str((await connection.exec_driver_sql(ROSTER_SQL)).scalar_one())


@router.get("/roster", response_model=Envelope[PublicRoster])
async def public_roster(request: Request) -> Response:
    """All members by display name with their main character (or null)."""
    cache = request.app.state.caches.slot("public_roster", lambda: FingerprintCache(ROSTER_TABLES))
    async with request.app.state.engine.connect() as connection:
        document = await cache.get(connection, _build_roster)
    return Response(content=document, media_type="application/json")
