"""The `patt` console script: serve, db, seed, create-admin, demo, import-sheets, sync.

Exit codes: 0 success, 1 user error (message on stderr, no traceback), 2 bad usage; the sync
commands add 3 already running, 4 not configured, 5 partial (80 §9.3).
Every command reads the same settings; with no DATABASE_URL it starts the embedded database.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import hashlib
import logging
import os
import secrets
import sys
from collections.abc import Callable
from typing import Any

from patt.config import ConfigError, Settings, check_production, get_settings
from sv_common.errors import DomainError

SETUP_TOKEN_ENV = "PATT_SETUP_TOKEN_HASH"


class UserError(Exception):
    """A problem the operator can fix; printed without a traceback, exit code 1."""

    exit_code = 1


class NotConfigured(UserError):
    """A sync step whose service is not configured or not connected (exit code 4, 80 §9.3)."""

    exit_code = 4


def database_url(settings: Settings) -> str:
    """The configured URL, or the embedded server's (started when needed)."""
    if settings.database_url:
        return settings.database_url
    from sv_common.db.embedded import start_embedded

    print(f"Using the embedded PostgreSQL in {settings.patt_data_dir.resolve()}", file=sys.stderr)
    return start_embedded(settings.patt_data_dir)


def upgrade_database(url: str) -> None:
    """Apply migrations, reporting progress."""
    from sv_common.db import migrate

    print("Applying database migrations…", file=sys.stderr)
    migrate.upgrade(url)
    print(f"Database at revision {migrate.current_revision(url)}", file=sys.stderr)


async def _with_session(url: str, work: Callable[[Any], Any]) -> Any:
    from sv_common.db.engine import make_engine, make_sessionmaker, transaction

    engine = make_engine(url, pool_size=2, max_overflow=0)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            return await work(session)
    finally:
        await engine.dispose()


def run_async(url: str, work: Callable[[Any], Any]) -> Any:
    """Run `work(session)` in one transaction against the database."""
    return asyncio.run(_with_session(url, work))


async def _seed(session: Any) -> int:
    from sv_common.db.seed import seed_ranks

    return await seed_ranks(session)


# ---------------------------------------------------------------------------- commands
def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    upgrade_database(database_url(settings))
    return 0


def cmd_db_current(args: argparse.Namespace, settings: Settings) -> int:
    from sv_common.db import migrate

    url = database_url(settings)
    current = migrate.current_revision(url)
    head = migrate.head_revision()
    print(
        f"current: {current or '(none)'}  head: {head}"
        + ("" if current == head else "  (upgrade needed)")
    )
    return 0


def cmd_seed(args: argparse.Namespace, settings: Settings) -> int:
    url = database_url(settings)
    upgrade_database(url)
    inserted = run_async(url, _seed)
    print(
        f"Seeded {inserted} default ranks."
        if inserted
        else "Ranks already present; nothing changed."
    )
    return 0


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
        if not password:
            raise UserError("No password on standard input.")
        return password
    first = getpass.getpass("Password: ")
    second = getpass.getpass("Repeat password: ")
    if first != second:
        raise UserError("Passwords do not match.")
    return first


def cmd_create_admin(args: argparse.Namespace, settings: Settings) -> int:
    from sv_common.identity import accounts

    username = args.discord_username or input("Discord username: ").strip()
    if not username:
        raise UserError("A Discord username is required.")
    display_name = args.display_name or (
        None if args.discord_username else input("Display name [same]: ").strip() or None
    )
    password = _read_password(args)
    url = database_url(settings)
    upgrade_database(url)
    run_async(url, _seed)

    async def work(session: Any) -> Any:
        return await accounts.create_guild_leader(
            session,
            discord_username=username,
            password=password,
            display_name=display_name,
            reset_password=args.reset_password,
        )

    member = run_async(url, work)
    verb = "Password reset for" if args.reset_password else "Created Guild Leader"
    print(f"{verb} {member.display_name} (@{member.discord_username}).")
    print(f"Log in at {settings.base_url}/login")
    return 0


def _in_setup_mode(url: str, settings: Settings) -> bool:
    from sv_common.identity import accounts

    async def work(session: Any) -> bool:
        return await accounts.in_setup_mode(session, settings.admin_rank_level)

    return bool(run_async(url, work))


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from patt.logutil import uvicorn_log_config

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
    settings = settings.model_copy(update=overrides)
    check_production(settings)
    url = database_url(settings)
    upgrade_database(url)
    inserted = run_async(url, _seed)
    if inserted:
        print(f"Seeded {inserted} default ranks.", file=sys.stderr)
    if args.demo:
        from patt.services import demo

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
    if _in_setup_mode(url, settings):
        token = secrets.token_urlsafe(32)
        os.environ[SETUP_TOKEN_ENV] = hashlib.sha256(token.encode()).hexdigest()
        print("No Guild Leader yet. Open this one-time link to create the first account:")
        print(f"  {settings.base_url}/setup?token={token}")
        print("  (or run: patt create-admin)")
    sys.stdout.flush()
    get_settings.cache_clear()
    uvicorn.run(
        "patt.app:create_app",
        factory=True,
        host=settings.app_host,
        port=settings.app_port,
        workers=args.workers,
        proxy_headers=True,
        forwarded_allow_ips=settings.trusted_proxies,
        log_level="info",
        log_config=uvicorn_log_config(),
    )
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from patt.services import demo

    url = database_url(settings)
    upgrade_database(url)
    run_async(url, _seed)
    summary = demo.load_demo(url, settings)
    print(summary)
    return 0


# ------------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    """The argument parser (every command has --help)."""
    parser = argparse.ArgumentParser(
        prog="patt",
        description="PATT guild platform: run the site and manage its database. "
        "With no DATABASE_URL every command uses (and starts) the embedded PostgreSQL in PATT_DATA_DIR.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser(
        "serve",
        help="apply migrations, seed ranks and run the web app",
        description="Apply migrations, seed ranks, then run the web app. Prints the URL "
        "and, while no Guild Leader exists, a one-time /setup link.",
    )
    serve.add_argument("--host", help="listen address (default APP_HOST, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default APP_PORT, 8100)")
    serve.add_argument(
        "--demo",
        action="store_true",
        help="load the demo guild when the database is empty and use bundled fakes for Discord",
    )
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    serve.set_defaults(handler=cmd_serve)

    db = sub.add_parser("db", help="database migrations", description="Database migrations.")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION")
    up = db_sub.add_parser(
        "upgrade", help="apply all migrations", description="Apply all migrations."
    )
    up.set_defaults(handler=cmd_db_upgrade)
    cur = db_sub.add_parser(
        "current", help="show the current revision", description="Show the current revision."
    )
    cur.set_defaults(handler=cmd_db_current)

    seed = sub.add_parser(
        "seed",
        help="insert the default ranks when none exist",
        description="Insert the default ranks from data/seed/ranks.json when the table is empty.",
    )
    seed.set_defaults(handler=cmd_seed)

    admin = sub.add_parser(
        "create-admin",
        help="create (or reset) the Guild Leader account",
        description="Create the Guild Leader account, or reset its password. "
        "Prompts for missing values.",
    )
    admin.add_argument("--discord-username", help="login name (the member's Discord username)")
    admin.add_argument("--display-name", help="name shown on the site (default: the username)")
    admin.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    admin.add_argument(
        "--reset-password",
        action="store_true",
        help="replace the password of an existing account and reactivate it",
    )
    admin.set_defaults(handler=cmd_create_admin)

    demo = sub.add_parser(
        "demo",
        help="load the demo guild (idempotent)",
        description="Load the demo guild: members of every rank, characters, availability, "
        "quotes, campaigns and one account per rank (passwords printed). Refuses to run "
        "on a database holding non-demo data.",
    )
    demo.set_defaults(handler=cmd_demo)

    from patt import cli_extra

    cli_extra.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `patt` script."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return int(handler(args, get_settings()) or 0)
    except (UserError, ConfigError, DomainError) as exc:
        print(f"error: {getattr(exc, 'message', None) or exc}", file=sys.stderr)
        return getattr(exc, "exit_code", 1) if isinstance(exc, UserError) else 1
    except KeyboardInterrupt:
        return 1


if __name__ == "__main__":
    sys.exit(main())
