"""The identity engine at 5,000 characters × 5,000 Discord accounts (first run, nothing linked):
generous time bounds for shared CI machines (the goals — 3 s and 2 s — are measured by
`python -m bench.identity`), and the matching quality against the labelled ground truth."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from sqlalchemy import text
from tests.fakes.synthetic_guild import evaluate, generate_guild, load_guild
from tests.identity_invariants import assert_identity_invariants

from sv_common import clock
from sv_common.identity.integrity.checker import run_integrity_check
from sv_common.identity.matching.engine import run_matching

log = logging.getLogger(__name__)
BOUND_SECONDS = 10.0


@pytest.mark.perf
async def test_identity_engine_at_five_thousand(app: Any) -> None:
    guild = generate_guild(5000, 5000)
    sessions = app.state.sessionmaker
    async with sessions() as session, session.begin():
        await load_guild(session, guild, now=clock.now())
        await session.execute(
            text("ANALYZE common.characters, common.guild_members, guild_identity.discord_members")
        )

    started = time.perf_counter()
    async with sessions() as session, session.begin():
        matching = await run_matching(session)
    matching_seconds = time.perf_counter() - started

    async with sessions() as session, session.begin():
        again = await run_matching(session)
    assert again.members_created == again.accounts_linked == again.suggestions == 0
    assert again.exact + again.guild_note + again.officer_note + again.token + again.fuzzy == 0

    started = time.perf_counter()
    async with sessions() as session, session.begin():
        integrity = await run_integrity_check(session)
    integrity_seconds = time.perf_counter() - started

    async with sessions() as session:
        quality = await evaluate(session, guild)
    log.warning(
        "identity perf: matching %.2f s %s; integrity %.2f s %s; precision %.4f recall %.4f "
        "alts %s/%s",
        matching_seconds,
        matching.as_dict(),
        integrity_seconds,
        integrity.as_dict(),
        quality.precision,
        quality.recall,
        quality.alts_grouped,
        quality.alts,
    )
    assert matching_seconds < BOUND_SECONDS
    assert integrity_seconds < BOUND_SECONDS
    assert quality.precision >= 0.995
    assert quality.recall >= 0.95
    assert quality.alts_grouped == quality.alts > 0
    assert matching.members_created > 2000 and integrity.total_new > 0
    await assert_identity_invariants(app)
