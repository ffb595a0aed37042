"""`patt db upgrade|current` and `patt seed`."""

from __future__ import annotations

import argparse
from typing import Any

from patt.cli.common import database_url, run_async, seed, upgrade_database
from patt.config import Settings


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    """Apply every migration."""
    upgrade_database(database_url(settings))
    return 0


def cmd_db_current(args: argparse.Namespace, settings: Settings) -> int:
    """Print the current and head revisions."""
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
    """Insert the default ranks when the table is empty."""
    url = database_url(settings)
    upgrade_database(url)
    inserted = run_async(url, seed)
    print(
        f"Seeded {inserted} default ranks."
        if inserted
        else "Ranks already present; nothing changed."
    )
    return 0


def register(sub: Any) -> None:
    """Add `db` and `seed` to the parser."""
    db = sub.add_parser("db", help="database migrations", description="Database migrations.")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION")
    up = db_sub.add_parser(
        "upgrade", help="apply all migrations", description="Apply all migrations."
    )
    db.set_defaults(help_parser=db)
    up.set_defaults(handler=cmd_db_upgrade)
    cur = db_sub.add_parser(
        "current", help="show the current revision", description="Show the current revision."
    )
    cur.set_defaults(handler=cmd_db_current)

    seed_parser = sub.add_parser(
        "seed",
        help="insert the default ranks when none exist",
        description="Insert the default ranks from data/seed/ranks.json when the table is empty.",
    )
    seed_parser.set_defaults(handler=cmd_seed)
