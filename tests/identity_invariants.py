"""Scan of the identity invariants that the application (not the schema) must keep:

- every link row agrees with its entity's `member_id`;
- every linked character and Discord account has exactly one link row;
- no character or account belongs to two members (one member per link target);
- a member has at most one main character.

`check_identity_invariants` is an autouse fixture: import it into a test module and the scan
runs after every test of that module.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_CHECKS = {
    "link row disagrees with its entity": """
        SELECT l.id FROM guild_identity.identity_links l
          LEFT JOIN common.characters c ON c.id = l.character_id
          LEFT JOIN guild_identity.discord_members d ON d.id = l.discord_member_id
         WHERE (l.character_id IS NOT NULL AND c.member_id IS DISTINCT FROM l.member_id)
            OR (l.discord_member_id IS NOT NULL AND d.member_id IS DISTINCT FROM l.member_id)
            OR ((l.character_id IS NULL) = (l.discord_member_id IS NULL))
    """,
    "linked character without exactly one link row": """
        SELECT c.id FROM common.characters c
         WHERE c.member_id IS NOT NULL
           AND (SELECT count(*) FROM guild_identity.identity_links l
                 WHERE l.character_id = c.id) <> 1
    """,
    "linked account without exactly one link row": """
        SELECT d.id FROM guild_identity.discord_members d
         WHERE d.member_id IS NOT NULL
           AND (SELECT count(*) FROM guild_identity.identity_links l
                 WHERE l.discord_member_id = d.id) <> 1
    """,
    "character claimed by two members": """
        SELECT character_id FROM guild_identity.identity_links
         WHERE character_id IS NOT NULL GROUP BY character_id HAVING count(*) > 1
    """,
    "account claimed by two members": """
        SELECT discord_member_id FROM guild_identity.identity_links
         WHERE discord_member_id IS NOT NULL GROUP BY discord_member_id HAVING count(*) > 1
    """,
    "member with two mains": """
        SELECT member_id FROM common.characters
         WHERE member_id IS NOT NULL AND main_alt = 'main'
         GROUP BY member_id HAVING count(*) > 1
    """,
}


async def identity_violations(session: AsyncSession) -> dict[str, list[Any]]:
    """Every broken invariant with the offending ids (empty when all hold)."""
    found: dict[str, list[Any]] = {}
    for name, query in _CHECKS.items():
        rows = [row[0] for row in (await session.execute(text(query))).all()]
        if rows:
            found[name] = rows
    return found


async def assert_identity_invariants(app: Any) -> None:
    """Fail with the list of violations when any invariant is broken."""
    async with app.state.sessionmaker() as session:
        violations = await identity_violations(session)
    assert not violations, f"identity invariants broken: {violations}"


@pytest.fixture(autouse=True)
async def check_identity_invariants(app: Any) -> AsyncIterator[None]:
    """Run the invariant scan after the test."""
    yield
    await assert_identity_invariants(app)
