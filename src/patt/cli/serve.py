"""`patt serve`: migrations, ranks, the one-time setup link, then the web app under uvicorn."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Any

from patt.cli.common import database_url, note, run_async, seed, upgrade_database
from patt.config import Settings, check_production, get_settings
from patt.core.startup import SETUP_TOKEN_ARMED_ENV


def _new_setup_token(url: str, settings: Settings) -> str | None:
    """In setup mode, a new one-time token stored in the database (every worker and host reads
    it from there); None when a Guild Leader exists."""
    from sv_common.auth import setup_token
    from sv_common.identity import accounts

    async def work(session: Any) -> str | None:
        if not await accounts.in_setup_mode(session, settings.admin_rank_level):
            return None
        return await setup_token.create(session)

    token = run_async(url, work)
    return str(token) if token else None


def _with_overrides(args: argparse.Namespace, settings: Settings) -> Settings:
    overrides: dict[str, Any] = {}
    if args.host:
        overrides["app_host"] = args.host
    if args.port:
        overrides["app_port"] = args.port
    if args.demo:
        overrides["demo_mode"] = True
    if (
        overrides.keys() & {"app_host", "app_port"}
        and "public_base_url" not in settings.model_fields_set
    ):
        # links should point at where this server actually listens when PUBLIC_BASE_URL is not set
        host = overrides.get("app_host", settings.app_host)
        shown = "localhost" if host in ("127.0.0.1", "0.0.0.0", "::") else host
        overrides["public_base_url"] = (
            f"http://{shown}:{overrides.get('app_port', settings.app_port)}"
        )
    return settings.model_copy(update=overrides)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Prepare the database, print where to go, then run uvicorn."""
    import uvicorn

    from patt.core.logutil import uvicorn_log_config

    settings = _with_overrides(args, settings)
    check_production(settings)
    url = database_url(settings)
    upgrade_database(url)
    inserted = run_async(url, seed)
    if inserted:
        note(f"Seeded {inserted} default ranks.")
    if args.demo:
        from patt.demo import loader as demo

        demo.prepare_demo_environment(settings)
        summary = demo.load_demo_if_empty(url, settings)
        if summary:
            print(summary)
    # Hand the resolved settings to the app (and to every worker) through the environment.
    os.environ["DATABASE_URL"] = url
    os.environ["APP_HOST"] = settings.app_host
    os.environ["APP_PORT"] = str(settings.app_port)
    os.environ["PUBLIC_BASE_URL"] = settings.public_base_url
    if args.demo:
        os.environ["DEMO_MODE"] = "true"
    print(f"PATT Guild Platform running at http://{settings.app_host}:{settings.app_port}")
    print(f"Public URL (links in DMs): {settings.base_url}")
    token = _new_setup_token(url, settings)
    os.environ[SETUP_TOKEN_ARMED_ENV] = "1"  # the workers keep this link instead of making one
    if token:
        print("No Guild Leader yet. Open this one-time link to create the first account:")
        print(f"  {settings.base_url}/setup?token={token}")
        print("  (or run: patt create-admin)")
    sys.stdout.flush()
    get_settings.cache_clear()
    try:
        uvicorn.run(
            "patt.app:create_app",
            factory=True,
            host=settings.app_host,
            port=settings.app_port,
            workers=args.workers,
            proxy_headers=True,
            forwarded_allow_ips=settings.trusted_proxies,
            log_level=settings.log_level,
            log_config=uvicorn_log_config(settings.log_format, settings.log_level),
            access_log=False,  # the app writes its own access log (patt.access, with request ids)
        )
    except (KeyboardInterrupt, SystemExit) as stop:
        # uvicorn shuts down gracefully on Ctrl-C / SIGTERM, then re-raises the signal: a
        # requested stop is a clean exit (the caller then stops the embedded database).
        if isinstance(stop, SystemExit) and stop.code not in (None, 0, 128 + signal.SIGTERM):
            raise
    note("Stopped.")
    return 0


def register(sub: Any) -> None:
    """Add `serve` to the parser."""
    serve = sub.add_parser(
        "serve",
        help="apply migrations, seed ranks and run the web app",
        description="Apply migrations, seed ranks, then run the web app. Prints the URL "
        "and, while no Guild Leader exists, a one-time /setup link. Ctrl-C or SIGTERM stops "
        "it gracefully, and with it the embedded PostgreSQL it started (unless another patt "
        "process still uses it).",
    )
    serve.add_argument("--host", help="listen address (default APP_HOST, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default APP_PORT, 8100)")
    serve.add_argument(
        "--demo",
        action="store_true",
        help="load the demo guild when the database is empty and use bundled fakes for Discord",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes (default 1); they share throttles, the setup link and the "
        "scheduler through the database",
    )
    serve.set_defaults(handler=cmd_serve)
