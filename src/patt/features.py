"""Where each feature plugs into the app: routers, page routes and lifespan hooks.

One `install_*` call per feature keeps `app.py` free of feature knowledge; the order of
startup hooks is the order of the calls below.
"""

from __future__ import annotations

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    """Register every feature's routers and hooks."""
    from patt.api import health
    from patt.services import startup

    startup.install(app)
    app.include_router(health.router)

    # accounts: auth API, landing, login/register/logout, first-admin setup
    from patt.api import auth as auth_api
    from patt.pages import auth as auth_pages
    from patt.pages import public as public_pages
    from patt.pages import setup as setup_pages

    app.include_router(auth_api.router)
    app.include_router(public_pages.router)
    app.include_router(auth_pages.router)
    app.include_router(setup_pages.router)

    # guild tools: raid admin dashboard (Raid-Helper) and Mito's Corner (60 §6, §7, §9.6–9.8)
    from patt.api import mito as mito_api
    from patt.api import raid_admin as raid_admin_api
    from patt.pages import raid_admin as raid_admin_pages

    raid_admin_api.install(app)  # also sets app.state.raid_helper
    app.include_router(mito_api.router)
    app.include_router(raid_admin_pages.router)

    # roster administration: admin ranks/members/characters/invites API, public guild
    # ranks/roster, admin roster and ranks pages (30 §4–5, 50 §6.3, decisions 1, 2)
    from patt.api import admin as admin_api
    from patt.api import guild as guild_api
    from patt.pages import admin_roster as admin_roster_pages

    app.include_router(admin_api.router)
    app.include_router(guild_api.router)
    app.include_router(admin_roster_pages.router)

    # voting campaigns: admin + public/vote API, vote page, admin campaign pages, status
    # checker hooks and the navigation's Vote link (30 §6–8, 40, 50 §5, §6.1–6.2)
    from patt.api import campaigns as campaigns_api
    from patt.api import campaigns_admin as campaigns_admin_api
    from patt.pages import admin_campaigns as admin_campaign_pages
    from patt.pages import vote as vote_pages
    from patt.services import campaign_service

    campaign_service.install(app)
    app.include_router(campaigns_admin_api.router)
    app.include_router(campaigns_api.router)
    app.include_router(vote_pages.router)
    app.include_router(admin_campaign_pages.router)

    # Discord: service on app.state.discord (null at once, configured one at startup), bot
    # lifecycle and scheduled member sync, sync/report triggers, admin Discord page (70)
    from patt.api import guild_sync as guild_sync_api
    from patt.pages import admin_discord as admin_discord_pages
    from patt.services import discord_runtime

    discord_runtime.install(app)
    app.include_router(guild_sync_api.router)
    app.include_router(admin_discord_pages.router)

    # guild tools: roster sign-up, roster view, /patt-config.json, old .html URLs, and the
    # roster-data / roster-submit / availability API (60 §1–§5, §8, §9.1–9.5)
    from patt.api import guild_tools as guild_tools_api
    from patt.pages import guild_tools as guild_tools_pages

    guild_tools_api.install(app)
    app.include_router(guild_tools_pages.router)
