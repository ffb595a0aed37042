"""Default ranks from `seed_data/ranks.json` (shipped in the package), inserted only when `common.guild_ranks` is empty."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from sv_common.db.models import GuildRank

SEED_FILE = Path(__file__).resolve().parent / "seed_data" / "ranks.json"


def load_seed_ranks(path: Path = SEED_FILE) -> list[dict[str, Any]]:
    """Read and validate the seed file: a list of {name, level, description}."""
    rows = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(rows, list) or not rows:
        raise ValueError(f"{path}: expected a non-empty JSON list")
    for row in rows:
        if (
            not isinstance(row, dict)
            or not isinstance(row.get("name"), str)
            or not isinstance(row.get("level"), int)
            or row["level"] < 1
        ):
            raise ValueError(f"{path}: each rank needs a name and a level >= 1")
    return rows


async def seed_ranks(session: AsyncSession, path: Path = SEED_FILE) -> int:
    """Insert the default ranks when none exist; returns how many were inserted (0 = untouched).

    Takes a table lock so two processes starting together cannot both seed.
    """
    await session.execute(text("LOCK TABLE common.guild_ranks IN SHARE ROW EXCLUSIVE MODE"))
    existing = await session.scalar(select(func.count()).select_from(GuildRank))
    if existing:
        return 0
    rows = load_seed_ranks(path)
    session.add_all(
        GuildRank(name=r["name"], level=r["level"], description=r.get("description")) for r in rows
    )
    await session.flush()
    return len(rows)
