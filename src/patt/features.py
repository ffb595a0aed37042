"""Where each feature plugs into the app: routers, page routes and lifespan hooks.

Order matters twice: startup hooks run in the order their `install` calls appear below, and
requests are matched against routes in registration order — so the JSON API comes first, most
used endpoints earliest, and the pages after it.
"""

from __future__ import annotations

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    """Register every feature's routers and hooks."""
    from patt.accounts import api as auth_api
    from patt.accounts import pages as auth_pages
    from patt.accounts import setup_pages
    from patt.campaigns import admin_api as campaigns_admin_api
    from patt.campaigns import admin_pages as admin_campaign_pages
    from patt.campaigns import api as campaigns_api
    from patt.campaigns import checker as campaign_checker
    from patt.campaigns import pages as vote_pages
    from patt.campaigns import reach as campaign_reach
    from patt.core import startup
    from patt.discord import pages as admin_discord_pages
    from patt.discord import runtime as discord_runtime
    from patt.guild_sync import api as guild_sync_api
    from patt.guild_sync import pages as guild_sync_pages
    from patt.guild_sync import scheduler as guild_sync_scheduler
    from patt.health import api as health
    from patt.identity import api as identity_api
    from patt.identity import pages as identity_pages
    from patt.landing import pages as public_pages
    from patt.members import admin_api
    from patt.members import api as guild_api
    from patt.members import pages as admin_roster_pages
    from patt.mito import api as mito_api
    from patt.mito import pages as mito_pages
    from patt.raid import api as raid_admin_api
    from patt.raid import pages as raid_admin_pages
    from patt.roster import api as guild_tools_api
    from patt.roster import pages as guild_tools_pages

    # ---- lifespan hooks and app state (startup order: seed, setup token, campaign checker,
    # Discord service and scheduled sync)
    startup.install(app)
    campaign_checker.install(app)  # status checker hooks and the navigation's Vote link
    discord_runtime.install(app)  # app.state.discord (null at once, configured at startup)
    guild_sync_scheduler.install(app)  # app.state.guild_sync, the scheduler and its leader
    campaign_reach.install(app)  # campaign announcements and reminder DMs in Discord

    # Routers are tried in the order they are included, route by route, and trying one costs
    # about a microsecond, so the most visited paths come first: the health check, the landing
    # page, the campaign API and the vote page. No two routes share a path, so the order never
    # changes which route answers (tests/integration/test_route_order.py checks it).
    app.include_router(health.router)
    app.include_router(public_pages.router)  # landing
    app.include_router(campaigns_api.router)  # public + vote (30 §7–8)
    app.include_router(vote_pages.router)

    # ---- JSON API (30, 60 §9, 70, 85 §11)
    app.include_router(auth_api.router)  # register / login / me (30 §3)
    app.include_router(guild_api.router)  # public ranks and roster (30 §5)
    guild_tools_api.install(app)  # roster-data / roster-submit / availability (60 §9.1–9.5)
    app.include_router(admin_api.router)  # ranks, members, characters, invites (30 §4)
    app.include_router(campaigns_admin_api.router)  # campaign admin (30 §6)
    raid_admin_api.install(app)  # raid admin + app.state.raid_helper (60 §9.6–9.7)
    app.include_router(mito_api.router)  # Mito's Corner (60 §9.8)
    app.include_router(guild_sync_api.router)  # sync and report triggers (70, 85 §11)
    app.include_router(identity_api.router)  # people, links, orphans, issues (85 §11)

    # ---- pages (50, 60 §1)
    app.include_router(guild_tools_pages.router)  # /roster, /roster-view, config, old URLs
    app.include_router(auth_pages.router)  # login, register, logout
    app.include_router(setup_pages.router)  # first-run Guild Leader
    app.include_router(admin_roster_pages.router)  # /admin, roster, ranks
    app.include_router(admin_campaign_pages.router)
    app.include_router(raid_admin_pages.router)  # /raid-admin
    app.include_router(mito_pages.router)  # /mitos-corner
    app.include_router(admin_discord_pages.router)
    app.include_router(guild_sync_pages.router)  # /admin/sync
    app.include_router(identity_pages.router)  # /admin/identity: people, orphans, queue, issues
