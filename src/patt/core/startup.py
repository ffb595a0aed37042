"""Startup work in the lifespan: migrations check, rank seeding, setup token in setup mode."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from sv_common.db.engine import transaction
from sv_common.db.seed import seed_ranks

log = logging.getLogger(__name__)


async def seed_on_startup(app: FastAPI) -> None:
    """Insert the default ranks when the table is empty."""
    async with transaction(app.state.sessionmaker) as session:
        inserted = await seed_ranks(session)
    if inserted:
        log.info("seeded %s default ranks", inserted)


# `patt serve` stores the token before its workers start and sets this, so its workers do not
# replace the link it printed.
SETUP_TOKEN_ARMED_ENV = "PATT_SETUP_TOKEN_ARMED"


async def setup_token_on_startup(app: FastAPI) -> None:
    """In setup mode without a token from `patt serve`, store a new one and print the link."""
    import os

    from sv_common.auth import setup_token
    from sv_common.identity.accounts import in_setup_mode

    settings = app.state.settings
    if os.environ.get(SETUP_TOKEN_ARMED_ENV) or settings.app_env == "testing":
        return
    async with transaction(app.state.sessionmaker) as session:
        if not await in_setup_mode(session, settings.admin_rank_level):
            return
        token = await setup_token.create(session)
    print(
        f"No Guild Leader yet. One-time setup link: {settings.base_url}/setup?token={token}",
        flush=True,
    )


def install(app: FastAPI) -> None:
    """Register the startup hooks of the base platform."""
    app.state.startup_hooks.append(seed_on_startup)
    app.state.startup_hooks.append(setup_token_on_startup)
