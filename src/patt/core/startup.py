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


async def setup_token_on_startup(app: FastAPI) -> None:
    """In setup mode without a token from `patt serve`, create one and print the setup link."""
    import hashlib
    import os
    import secrets

    from sv_common.identity.accounts import in_setup_mode

    settings = app.state.settings
    env_hash = os.environ.get("PATT_SETUP_TOKEN_HASH")
    if env_hash:
        app.state.setup_token_hash = env_hash
        return
    async with transaction(app.state.sessionmaker) as session:
        setup_mode = await in_setup_mode(session, settings.admin_rank_level)
    if setup_mode and settings.app_env != "testing":
        token = secrets.token_urlsafe(32)
        app.state.setup_token_hash = hashlib.sha256(token.encode()).hexdigest()
        print(
            f"No Guild Leader yet. One-time setup link: {settings.base_url}/setup?token={token}",
            flush=True,
        )


def install(app: FastAPI) -> None:
    """Register the startup hooks of the base platform."""
    app.state.startup_hooks.append(seed_on_startup)
    app.state.startup_hooks.append(setup_token_on_startup)
