"""Public guild data under /api/v1/guild (30 §5): the rank list and the roster with mains.

The roster is one SQL query whatever the guild's size: members joined to their rank and, through
a LATERAL subquery, to their main character. Should a member have several non-removed mains
(imported data can), the one with the lowest id is shown.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import func, select, true

from patt.deps import DB
from sv_common.db.models import Character, GuildMember, GuildRank
from sv_common.identity import ranks as rank_service

router = APIRouter(prefix="/api/v1/guild", tags=["guild"])


@router.get("/ranks")
async def public_ranks(db: DB) -> JSONResponse:
    """Ranks ordered by level: id, name, level, description."""
    data = [
        {"id": r.id, "name": r.name, "level": r.level, "description": r.description}
        for r in await rank_service.list_ranks(db)
    ]
    return JSONResponse({"ok": True, "data": data})


def roster_query() -> Any:
    """Every member with rank name and main character (one statement)."""
    main = (
        select(
            Character.name,
            func.coalesce(Character.realm_name, Character.realm_slug).label("realm"),
            Character.character_class.label("class_name"),
            Character.spec,
            Character.role,
            Character.armory_url,
        )
        .where(
            Character.member_id == GuildMember.id,
            Character.main_alt == "main",
            Character.removed_at.is_(None),
        )
        .order_by(Character.id)
        .limit(1)
        .lateral("main")
    )
    return (
        select(
            GuildMember.display_name,
            GuildRank.name.label("rank"),
            main.c.name,
            main.c.realm,
            main.c.class_name,
            main.c.spec,
            main.c.role,
            main.c.armory_url,
        )
        .join(GuildRank, GuildRank.id == GuildMember.rank_id)
        .outerjoin(main, true())
        .order_by(func.lower(GuildMember.display_name), GuildMember.id)
    )


@router.get("/roster")
async def public_roster(db: DB) -> JSONResponse:
    """All members by display name with their main character (or null)."""
    members = []
    for row in (await db.execute(roster_query())).all():
        main = None
        if row.name is not None:
            main = {
                "name": row.name,
                "realm": row.realm,
                "class": row.class_name,
                "spec": row.spec,
                "role": row.role,
                "armory_url": row.armory_url,
            }
        members.append({"display_name": row.display_name, "rank": row.rank, "main_character": main})
    return JSONResponse({"ok": True, "data": {"members": members}})
